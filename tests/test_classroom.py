"""Lecture mode and hosted Jupyter, checked on the committed notebooks: the slide metadata is what
the one rule gives (so an edited notebook cannot drift), every section starts a slide, and every
setup cell installs from the one repository address pyproject.toml declares."""
import copy
import json
import tomllib
from pathlib import Path

import pytest

from peft_lab.classroom import hosted, slides
from peft_lab.notebook import notebook_paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebook_paths()


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def visible_text(fragment: str) -> str:
    import html
    import re
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": text, "outputs": [], "execution_count": None}


# --- the rule, on a small notebook built here ---------------------------------------------------------

def test_headings_decide_the_slides():
    nb = {"cells": [md("# 标题\n导言"), code("import peft_lab as pl"), md("## 第一节\n正文"), code("x = 1"),
                    md("正文，没有标题"), md("### 小节"), md("```python\n# 不是标题\n```"), md("## 第二节")]}
    assert slides.slide_types(nb) == ["slide", "skip", "slide", "-", "-", "subslide", "-", "slide"]
    assert slides.sections(nb) == ["第一节", "第二节"]
    assert slides.misplaced_headings(nb) == []
    stamped = slides.stamp(copy.deepcopy(nb))
    assert slides.drift(stamped) == [] and slides.drift(nb) != []
    assert [c["metadata"]["slideshow"]["slide_type"] for c in stamped["cells"]] == slides.slide_types(nb)


def test_a_heading_inside_a_cell_is_reported():
    nb = {"cells": [md("上一节的结论。\n\n## 新的一节"), md("## 小结\n\n## 练习")]}
    assert slides.misplaced_headings(nb) == ["cell 0: ## 新的一节", "cell 1: ## 练习"]


# --- the committed notebooks -----------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_slide_metadata_is_what_the_rule_gives(path):
    nb = load(path)
    assert slides.drift(nb) == [], (f"{path.name}: slide metadata differs from peft_lab.classroom.slides "
                                    f"(run `python -m peft_lab.classroom stamp`): {slides.drift(nb)[:5]}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_section_starts_a_slide(path):
    nb = load(path)
    assert slides.misplaced_headings(nb) == [], f"{path.name}: a heading must open its own Markdown cell"
    titles = slides.sections(nb)
    for section in ("学习目标", "本节小结", "思考题", "练习"):
        assert section in titles, f"{path.name} has no '## {section}' slide"
    assert slides.slide_types(nb).count("slide") == 1 + len(titles), "the title slide, then one per ## section"


# --- hosted Jupyter ----------------------------------------------------------------------------------

def test_the_repository_address_is_declared_once_in_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
    assert hosted.repository_url() == declared


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_from_the_declared_repository(path):
    url = hosted.repository_url()
    assert hosted.installs_from(load(path)) == url, (
        f"{path.name}: the setup cell must import peft_lab through hosted.install_block({url!r}) "
        f"(run `python -m peft_lab.classroom stamp`)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_imports_nothing_before_the_install(path):
    assert hosted.imports_before_install(load(path)) == [], (
        f"{path.name}: import these after the install block, or a hosted kernel keeps their old version "
        f"loaded while pip replaces them (run `python -m peft_lab.classroom stamp`)")


def run_install_block(url: str) -> tuple[list, dict]:
    """The block as IPython runs it, with its shell commands and magics recorded instead of run."""
    from IPython.core.inputtransformer2 import TransformerManager
    calls = []

    class Shell:
        def system(self, cmd):
            calls.append(cmd)

        def run_line_magic(self, name, line):
            calls.append((name, line))

    namespace = {"get_ipython": Shell}
    try:
        exec(TransformerManager().transform_cell("\n".join(hosted.install_block(url))), namespace)
    except ModuleNotFoundError:
        namespace["failed_import"] = True
    return calls, namespace


def test_install_block_does_nothing_when_peft_lab_is_importable():
    calls, namespace = run_install_block("https://example.org/x")
    assert calls == [] and namespace["pl"].__name__ == "peft_lab"
    assert "REPOSITORY" not in namespace


def test_install_block_clones_and_installs_when_peft_lab_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "peft_lab", None)   # import peft_lab now fails
    monkeypatch.setattr(__import__("sys"), "path", list(__import__("sys").path))
    calls, namespace = run_install_block("https://example.org/fork")
    assert namespace["REPOSITORY"] == "https://example.org/fork"
    assert calls == [f"git clone --depth 1 {{REPOSITORY}} {hosted.CLONE_DIR}", ("pip", f"install -q -e {hosted.CLONE_DIR}")]
    assert "没有找到 peft_lab" in capsys.readouterr().out


def test_stamp_moves_every_notebook_to_a_new_address():
    nb = load(NOTEBOOKS[0])
    moved = hosted.stamp(copy.deepcopy(nb), "https://example.org/fork/peft-lab")
    assert hosted.installs_from(moved) == "https://example.org/fork/peft-lab"
    back = hosted.stamp(moved, hosted.repository_url())
    assert hosted.installs_from(back) == hosted.repository_url()
    assert hosted.imports_before_install(back) == []
    # a cell that imports torch before peft_lab gets the install block moved above the import
    late = {"cells": [{"cell_type": "code", "source": "%matplotlib inline\nimport torch\nimport peft_lab as pl\nx = 1"}]}
    assert hosted.imports_before_install(late) == ["import torch", "import peft_lab as pl"]
    stamped = hosted.stamp(late, "https://example.org/x")
    assert hosted.imports_before_install(stamped) == [] and hosted.installs_from(stamped) == "https://example.org/x"
    assert stamped["cells"][0]["source"].split("\n")[0] == "%matplotlib inline"
    assert stamped["cells"][0]["source"].endswith("import torch\nx = 1")
    with pytest.raises(ValueError, match="url="):
        hosted.install_block("git@example.org:x.git")


# --- widgets without a kernel ------------------------------------------------------------------------

def test_a_frozen_widget_shows_its_default_state_and_how_to_run_it():
    import ipywidgets

    from peft_lab import widgets
    from peft_lab.classroom import static_widgets
    from peft_lab.i18n import t
    box = widgets.rank_explorer(r=8, alpha=16)
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    view = {"output_type": "display_data", "metadata": {},
            "data": {static_widgets.VIEW: {"model_id": box.model_id, "version_major": 2}, "text/plain": "VBox()"}}
    nb = {"metadata": {"widgets": {static_widgets.STATE: state}},
          "cells": [code("widgets.rank_explorer()") | {"outputs": [view]}, md("正文")]}
    static_widgets.freeze(nb)
    assert "widgets" not in nb["metadata"]
    note, *figures = nb["cells"][0]["outputs"]
    page = note["data"]["text/html"]
    assert visible_text(page).startswith(t("w_static").replace("`", ""))
    for slider in box.controls.values():
        assert f"{slider.description} {slider.value}" in page
    assert box.html.value in page                              # the numbers the widget showed
    assert [f["data"]["image/png"] for f in figures] == [o["data"]["image/png"] for o in box.plot.outputs]
    assert static_widgets.VIEW not in json.dumps(nb)
