"""The offline builds, on the committed notebooks (unexecuted: structure and assets, not outputs):
the reveal.js decks and the HTML book have every section, and load nothing from the network."""
import html
import json
import re
from pathlib import Path

import pytest

from peft_lab.classroom import offline, slides
from peft_lab.notebook import notebook_paths

pytest.importorskip("sphinx_revealjs", reason="the classroom extra is not installed")
pytest.importorskip("jupyter_server_mathjax", reason="the classroom extra is not installed")

NOTEBOOKS = notebook_paths()


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def visible(fragment: str) -> str:
    """The text of an HTML fragment, as a reader sees it (no tags, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def local_references(page: str) -> list[str]:
    return re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"'#]+)""", page)


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    from peft_lab.classroom import deck
    out = tmp_path_factory.mktemp("slides")
    return out, {p.name.removesuffix(".slides.html"): p.read_text(encoding="utf-8")
                 for p in deck.build(NOTEBOOKS, out, run=False)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_deck_has_its_sections_as_slides(decks, path):
    out, pages = decks
    page, nb = pages[path.stem], load(path)
    body = page.split('<div class="slides">', 1)[1]
    # top-level <section>s are the slides; nested ones are the ### subslides
    depth, top = 0, 0
    for tag in re.findall(r"<(/?)section\b", body):
        depth += -1 if tag else 1
        top += (not tag and depth == 1)
    assert top == slides.slide_types(nb).count("slide"), f"{path.name}: {top} slides in the deck"
    titles = [visible(h.split('<a class="anchor-link"')[0]) for h in re.findall(r"<h2\b[^>]*>(.*?)</h2>", body, re.S)]
    expected = [visible(t) for t in slides.sections(nb)]
    assert titles == expected, f"{path.name}: the deck's sections differ from the notebook's ## headings"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_deck_loads_nothing_from_the_network(decks, path):
    out, pages = decks
    page = pages[path.stem]
    assert offline.remote_references(page) == []
    refs = local_references(page)
    assert any("reveal.js" in r for r in refs) and any("MathJax.js" in r for r in refs), refs
    missing = [r for r in refs if not (out / r.split("?")[0]).exists()]
    assert missing == [], f"{path.name} refers to files that are not next to it: {missing}"


def test_the_setup_cell_is_not_on_a_slide(decks):
    _, pages = decks
    for name, page in pages.items():
        assert "import peft_lab as pl" not in page, f"{name}: the setup cell (slide_type skip) is shown"


def test_the_cdn_check_finds_what_nbconvert_would_fetch():
    """The same check on nbconvert's own default template, which uses CDNs: it must object."""
    import nbformat
    from nbconvert import SlidesExporter
    page, _ = SlidesExporter().from_notebook_node(nbformat.read(NOTEBOOKS[0], as_version=4))
    found = " ".join(offline.remote_references(page))
    assert "reveal.js" in found and "require" in found and "mathjax" in found.lower()


# --- the book ----------------------------------------------------------------------------------------

BOOK_NOTEBOOKS = notebook_paths(["02_lora"])
SMOKE = ["%matplotlib inline\nimport peft_lab as pl\nfrom peft_lab import plots, widgets",
         "fig = plots.ch2_lora.lora_diagram(d=64, k=32, r=4)",
         "widgets.rank_explorer(d=64, k=32, r=4, alpha=8)"]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """One committed notebook unexecuted (02: the decks' test covers all six), plus one small notebook
    executed for real (a figure and a widget), built the way ``dev.py book`` builds it."""
    pytest.importorskip("sphinx_book_theme", reason="the classroom extra is not installed")
    import nbformat

    from peft_lab.classroom import book, execute
    tmp = tmp_path_factory.mktemp("book")
    smoke = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 冒烟测试\n\n## 一张图和一个控件")]
                                     + [nbformat.v4.new_code_cell(c) for c in SMOKE])
    smoke.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(smoke, tmp / "99_smoke.ipynb")
    ran = execute.executed(tmp / "99_smoke.ipynb", folder=tmp / "executed")
    index = book.build(BOOK_NOTEBOOKS, tmp / "out", run=False, extra={"99_smoke": ran})
    return index.parent


def test_the_book_has_a_page_per_notebook_and_a_table_of_contents(book):
    index = (book / "index.html").read_text(encoding="utf-8")
    for path in [*BOOK_NOTEBOOKS, Path("99_smoke.ipynb")]:
        page = book / f"{path.stem}.html"
        assert page.exists(), f"no page for {path.name}"
        assert f'href="{path.stem}.html"' in index, f"the table of contents does not link {path.name}"
    for path in BOOK_NOTEBOOKS:
        title = next(t for c in load(path)["cells"] for lv, t in slides._headings(c) if lv == 1)
        assert visible(title) in visible((book / f"{path.stem}.html").read_text(encoding="utf-8"))


def test_the_book_is_searchable_in_chinese(book):
    assert (book / "search.html").exists()
    text = (book / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(text[text.index("(") + 1:text.rindex(")")])["terms"]
    assert "lora" in terms
    assert {"微调", "参数"} <= set(terms), "Chinese words are not indexed (is jieba installed?)"


def test_the_book_shows_executed_figures_and_frozen_widgets(book):
    from peft_lab.i18n import t
    page = (book / "99_smoke.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) >= 2, "the figure and the widget's figure"   # lora_diagram, rank_explorer's plot
    assert all((book / src).exists() for src in images), images
    assert visible(t("w_static")).replace("`", "") in visible(page)


def test_the_book_loads_nothing_from_the_network(book):
    pages = list(book.glob("*.html"))       # the site's pages (_static/ holds the theme's own templates)
    assert len(pages) > len(BOOK_NOTEBOOKS)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert offline.remote_references(text) == [], page.name
        missing = [r for r in local_references(text) if not (page.parent / r.split("?")[0]).exists()]
        assert missing == [], f"{page.name} refers to missing files: {missing}"
