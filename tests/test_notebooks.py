"""The notebooks' conventions, checked on the committed files (nbval executes them separately):
no stored outputs, no measured number typed into Markdown, the shape every notebook shares —
and the helpers behind them (answer checks, measured sentences, cited paper figures)."""
import json
from pathlib import Path

import pytest

from peft_lab import citations, notebook
from peft_lab.notebook import check, check_function, notebook_paths, say, show_source, source

NOTEBOOKS = notebook_paths()
SECTIONS = ("学习目标", "本节小结", "思考题", "练习")
MAX_CELL_LINES = 8


def cells(path: Path, kind: str | None = None) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if kind is None or c["cell_type"] == kind]


def text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for i, cell in enumerate(cells(path, "code")):
        assert not cell.get("outputs"), f"{path.name} cell {i} has stored outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_measured_number_typed_into_markdown(path):
    for i, cell in enumerate(cells(path, "markdown")):
        typed = citations.uncited_figures(text(cell))
        assert not typed, (f"{path.name} Markdown cell {i} types {typed}: print measured numbers with "
                           f"peft_lab.notebook.say(f'...'), or cite a paper figure from peft_lab.citations")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shape_of_a_notebook(path):
    markdown = [text(c) for c in cells(path, "markdown")]
    joined = "\n".join(markdown)
    positions = [joined.find(s) for s in SECTIONS]
    assert all(p >= 0 for p in positions), f"{path.name} lacks {[s for s, p in zip(SECTIONS, positions) if p < 0]}"
    assert positions == sorted(positions), f"{path.name}: sections {SECTIONS} out of order"
    assert "<details>" in joined.split("练习")[-1], f"{path.name}: exercises need worked answers in <details>"
    code = [text(c) for c in cells(path, "code")]
    assert "%matplotlib inline" in code[0] and "import peft_lab as pl" in code[0], \
        f"{path.name}: the first code cell is the setup cell"
    assert not any("%matplotlib" in c or "import peft_lab" in c for c in code[1:]), \
        f"{path.name}: only the setup cell imports and configures"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_a_few_lines(path):
    """A cell that grows past a few lines belongs in the package (peft_lab.lessons), with a test."""
    for i, cell in enumerate(cells(path, "code")[1:], start=1):   # the setup cell holds the imports
        n = len(text(cell).splitlines())
        assert n <= MAX_CELL_LINES, f"{path.name} code cell {i} has {n} lines (at most {MAX_CELL_LINES})"


CHECK_OUTPUT = "nbval-check-output"   # nbval's cell tag; its comment form would sit in the code learners read


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_check_output_marks_only_deterministic_cells(path):
    """The nbval-check-output tag marks a deterministic cell: one that trains, times or draws must not
    carry it. nbval compares a cell's output only with a stored one, and notebooks are stored without
    outputs, so a marked cell must also assert what it prints (against an independent computation):
    that is what makes a wrong count fail CI."""
    for i, cell in enumerate(cells(path, "code")):
        src = text(cell)
        if CHECK_OUTPUT in cell.get("metadata", {}).get("tags", []):
            for word in ("fit(", "bench", "latency", "plots.", "run_sweep", "tqdm"):
                assert word not in src, f"{path.name} cell {i} checks output but calls {word}"
            assert "assert " in src, f"{path.name} cell {i} is tagged {CHECK_OUTPUT} but asserts nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_test_markers_in_the_code_learners_read(path):
    """nbval's markers go in cell tags: a `# NBVAL_...` comment is jargon on the page, in the book
    and on the slides."""
    marked = [i for i, cell in enumerate(cells(path, "code")) if "NBVAL_" in text(cell)]
    assert marked == [], f"{path.name} code cells {marked}: move the NBVAL comment to a cell tag"


def test_the_six_chapters_are_named_in_order():
    expected = ("01_motivation", "02_lora", "03_adapter", "04_prefix_tuning", "05_comparison", "06_practice_guide")
    names = [p.stem for p in NOTEBOOKS]
    assert names == [e for e in expected if e in names], names
    assert names, "no notebook found in notebooks/"


# --- the scanner and the citations ------------------------------------------------------------------

def test_scanner_flags_typed_figures_and_passes_cited_ones():
    assert citations.uncited_figures("LoRA 比全参数微调快 2.5 倍，准确率 85.4%。") == ["2.5 倍", "85.4%"]
    assert citations.uncited_figures("占用 12 GB 显存，推理 3.5 ms") == ["12 GB", "3.5 ms"]
    qlora = citations.PAPERS["qlora_65b"]
    assert citations.uncited_figures(f"常规微调需要超过 780 GB（{qlora.ref}）。") == []
    # a paper figure without its source is still a typed number
    assert citations.uncited_figures("常规微调需要超过 780 GB。") == ["780 GB"]
    # code and maths are not prose
    assert citations.uncited_figures("`print(f'{x:.1%}')` 与 $r \\ll d$，以及 $50\\%$") == []


def test_every_citation_quotes_its_own_figures():
    for key, c in citations.PAPERS.items():
        for f in c.figures:
            assert f in c.claim, f"{key}: figure {f!r} is not in its sentence"
        assert citations.uncited_figures(citations.cite(key)) == [], key


# --- the helpers a notebook calls -------------------------------------------------------------------

def test_check_tells_right_from_wrong(capsys):
    assert check(2 * 128 * 8, 2048, "LoRA 参数量")
    assert "✓" in capsys.readouterr().out
    assert not check(2000, 2048, "LoRA 参数量", hint="r(d+k)")
    out = capsys.readouterr().out
    assert "✗" in out and "2,048" in out and "r(d+k)" in out
    assert not check(..., 2048)
    assert "..." in capsys.readouterr().out
    assert check(0.1 + 0.2, 0.3) and not check(0.31, 0.3)
    assert check([1, 2.0], (1, 2)) and not check([1], (1, 2)) and not check("3", 3.5)


def test_check_function_reports_the_first_wrong_case(capsys):
    def reference(d, k, r):
        return r * (d + k)

    def learner(d, k, r):
        return 2 * d * r          # the chapter's formula: right only for square matrices

    assert check_function(reference, reference, [(8, 8, 2), (16, 4, 1)])
    assert not check_function(learner, reference, [(8, 8, 2), (16, 4, 1)])
    assert "learner(16, 4, 1)" in capsys.readouterr().out
    assert not check_function(lambda *a: 1 / 0, reference, [(1, 1, 1)])
    assert "ZeroDivisionError" in capsys.readouterr().out


@pytest.fixture
def outside_a_kernel(monkeypatch):
    """Another test may have started an IPython shell in this process: say so explicitly."""
    monkeypatch.setattr(notebook, "_in_kernel", lambda: False)


@pytest.fixture
def shown(monkeypatch):
    """Inside a kernel: collect what would be displayed."""
    objects = []
    monkeypatch.setattr(notebook, "_in_kernel", lambda: True)
    monkeypatch.setattr(notebook, "_display", objects.append)
    return objects


def test_in_a_kernel_say_renders_markdown_and_show_source_highlighted_html(shown):
    from IPython.display import HTML, Markdown

    from peft_lab.methods import lora
    say("准确率 **80%**")
    show_source(lora.LoRAConfig)
    assert isinstance(shown[0], Markdown) and shown[0].data == "准确率 **80%**"
    assert isinstance(shown[1], HTML) and "LoRAConfig" in shown[1].data and "<span" in shown[1].data
    assert "peft_lab.methods.lora.LoRAConfig" in shown[1].data       # says where the code lives


def test_show_source_is_the_code_that_runs(capsys, outside_a_kernel):
    from peft_lab.methods import lora
    assert show_source(lora.LoRAConfig) is None       # nothing returned: a cell ending with it shows it once
    shown = capsys.readouterr().out                   # outside a kernel it prints the plain text
    assert shown == source(lora.LoRAConfig) + "\n" and "class LoRAConfig" in shown
    show_source(lora.LoRAConfig, lines=(1, 2))
    part = capsys.readouterr().out
    assert part.count("\n") == 3 and part.startswith(shown.splitlines()[0])
    with pytest.raises(ValueError, match="lines="):
        show_source(lora.LoRAConfig, lines=(0, 99999))
    with pytest.raises(TypeError, match="no Python source"):
        show_source(42)


def test_say_prints_outside_a_notebook_and_returns_nothing(capsys, outside_a_kernel):
    assert say("准确率 **80%**") is None
    assert capsys.readouterr().out == "准确率 **80%**\n"


def test_execute_twice_times_both_runs_in_one_kernel_without_kernel_log_noise(tmp_path, capfd):
    """`python -m peft_lab.notebook` reruns in the same kernel (state carries over), and the kernel's
    start-up log (ipykernel 7 warns about TCP at every start) does not bury the timing lines."""
    import nbformat

    from peft_lab.notebook import execute_twice
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("runs = globals().get('runs', 0) + 1"),
                                         nbformat.v4.new_code_cell("assert runs in (1, 2)")])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    first, again = execute_twice(path)
    assert first > 0 and again > 0
    assert "IPKernelApp] WARNING" not in capfd.readouterr().err
    nb.cells.append(nbformat.v4.new_code_cell("assert runs == 1"))   # fails on the rerun: same kernel
    nbformat.write(nb, path)
    with pytest.raises(Exception, match="assert runs == 1"):
        execute_twice(path)
