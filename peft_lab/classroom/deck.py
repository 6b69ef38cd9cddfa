"""Static reveal.js decks of the notebooks that present offline (``python3 dev.py slides``).

Each notebook becomes ``out/slides/NAME.slides.html`` through nbconvert's SlidesExporter with the
``offline_reveal`` template; the slide structure is the notebook's own ``slideshow`` metadata (see
:mod:`.slides`), widgets show their default state (:mod:`.static_widgets`), and reveal.js and MathJax
are copied next to the decks (:mod:`.offline`), so the folder can be presented from a USB stick.
Open a deck in a browser: arrow keys move, ``s`` opens the speaker view, ``Esc`` the overview.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from ..notebook import notebook_paths
from . import offline, static_widgets
from .execute import ROOT, build_arguments, executed

OUT = ROOT / "out" / "slides"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def exporter():
    """nbconvert's SlidesExporter pointed at the vendored reveal.js and MathJax."""
    from nbconvert import SlidesExporter
    return SlidesExporter(template_name="offline_reveal", extra_template_basedirs=[str(TEMPLATES)],
                          reveal_url_prefix=offline.REVEAL, reveal_theme="white", reveal_number="c/t",
                          reveal_width="1280", reveal_height="720", language_code="zh",
                          mathjax_url=f"{offline.MATHJAX}/MathJax.js?config={offline.MATHJAX_CONFIG}")


def build(paths=None, out: Path = OUT, run: bool = True) -> list[Path]:
    """Write one deck per notebook into ``out`` (executed first unless ``run=False``); return the
    decks' paths. Raises RuntimeError if a deck would load anything from the network."""
    import nbformat
    out.mkdir(parents=True, exist_ok=True)
    offline.place(out)
    written, export = [], exporter()
    for path in paths or notebook_paths():
        nb = nbformat.from_dict(static_widgets.freeze(copy.deepcopy(executed(path, run=run))))
        page, _ = export.from_notebook_node(nb, resources={"metadata": {"name": path.stem},
                                                           "static_widget_css": static_widgets.CSS,
                                                           "mathjax_fonts": json.dumps(offline.MATHJAX_FONTS)})
        if remote := offline.remote_references(page):
            raise RuntimeError(f"{path.name}: the deck would load {remote} from the network")
        target = out / f"{path.stem}.slides.html"
        target.write_text(page, encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}", flush=True)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    args = build_arguments(argv, "dev.py slides", __doc__.split("\n\n")[0], OUT)
    decks = build(notebook_paths(args.names), args.out, run=not args.no_execute)
    print(f"{len(decks)} deck(s) in {args.out}: open one in a browser (→ next, s speaker view, Esc overview)")
    return 0
