"""``python -m peft_lab.classroom stamp|slides|book``.

    stamp    re-apply the slide rule and the repository address to notebooks/*.ipynb (in place)
    slides   execute the notebooks and write offline reveal.js decks to out/slides/
    book     execute the notebooks and write the offline HTML book to out/book/html/
"""
from __future__ import annotations

import sys

from ..notebook import notebook_paths
from . import hosted, slides


def stamp() -> int:
    import nbformat
    url = hosted.repository_url()
    for path in notebook_paths():
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        hosted.stamp(slides.stamp(nb), url)
        new = nbformat.writes(nb) + "\n"
        if new != text:
            path.write_text(new, encoding="utf-8")
            print("stamped", path.name)
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "stamp":
        return stamp()
    if command == "slides":
        from . import deck
        return deck.main(argv[1:])
    if command == "book":
        from . import book
        return book.main(argv[1:])
    print(__doc__)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
