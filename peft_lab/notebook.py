"""What the notebooks need beyond figures: measured sentences, the package's own source, answer checks.

    from peft_lab.notebook import say, show_source, check
    say(f"全参数微调要训练 {n:,} 个参数。")        # a sentence whose number comes from code
    show_source(pl.methods.lora.LoRALinear)          # the code that runs, highlighted
    check(my_answer, expected, "LoRA 参数量")         # ✓ or ✗ with the expected value

No measured or computed number is typed into a notebook's Markdown (a test scans them); a sentence
that carries one is an f-string passed to :func:`say`, so re-running a sweep never leaves prose stale.
Paper figures are the exception: they live in :mod:`peft_lab.citations` with their source.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterable


def _display(obj) -> None:
    from IPython.display import display
    display(obj)


def _in_kernel() -> bool:
    """Whether rich output can be shown (an IPython shell or Jupyter kernel is running)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with jupyterlab
        return False
    return get_ipython() is not None


def say(text: str) -> None:
    """Render ``text`` (Markdown, usually an f-string holding measured numbers) as a paragraph in
    the notebook; outside a notebook it is printed. Returns nothing, so a cell that ends with it
    shows the sentence once."""
    if _in_kernel():
        from IPython.display import Markdown
        _display(Markdown(text))
    else:
        print(text)


def source(obj) -> str:
    """The real source of a package object (class, function or module), exactly as it runs."""
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError) as e:
        raise TypeError(f"show_source(obj={obj!r}): no Python source for this object; pass a class, "
                        f"function or module of peft_lab") from e


def show_source(obj, lines: tuple[int, int] | None = None) -> None:
    """Show the source of ``obj`` highlighted (Pygments), so the code a learner reads is the code
    that runs. ``lines=(first, last)`` (1-based, inclusive) shows only that part. Returns nothing
    (``source(obj)`` gives the text), so the cell does not echo it a second time."""
    text = source(obj)
    if lines is not None:
        first, last = lines
        all_lines = text.splitlines()
        if not (1 <= first <= last <= len(all_lines)):
            raise ValueError(f"lines={lines!r} is outside 1..{len(all_lines)} for {getattr(obj, '__name__', obj)}")
        text = "\n".join(all_lines[first - 1:last]) + "\n"
    if not _in_kernel():
        print(text)
        return
    from IPython.display import HTML
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    where = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"
    header = f"<div style='color:#666;font-size:90%'>源代码：<code>{where.strip('.')}</code></div>"
    _display(HTML(header + highlight(text, PythonLexer(), HtmlFormatter(noclasses=True, style="default"))))


def _close(answer, expected, rel: float, abs_: float) -> bool:
    if isinstance(expected, (bool, str)) or expected is None:
        return answer == expected
    if isinstance(expected, (int, float)):
        try:
            return math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=abs_)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, (list, tuple)):
        return (isinstance(answer, (list, tuple)) and len(answer) == len(expected)
                and all(_close(a, e, rel, abs_) for a, e in zip(answer, expected)))
    if isinstance(expected, dict):
        return (isinstance(answer, dict) and answer.keys() == expected.keys()
                and all(_close(answer[k], expected[k], rel, abs_) for k in expected))
    return answer == expected


def check(answer: Any, expected: Any, what: str = "", rel: float = 1e-6, abs_: float = 0.0,
          hint: str = "") -> bool:
    """Tell the learner whether ``answer`` equals ``expected`` (numbers within ``rel``/``abs_``).
    ``answer`` may be ``...`` (the exercise's placeholder): then it says the cell is still to fill in.
    Returns whether it is right."""
    label = f"{what}：" if what else ""
    if answer is ...:
        print(f"… {label}把 `...` 换成你的答案再运行这个单元。")
        return False
    ok = _close(answer, expected, rel, abs_)
    if ok:
        print(f"✓ {label}正确（{_fmt(answer)}）。")
    else:
        print(f"✗ {label}你的答案是 {_fmt(answer)}，应为 {_fmt(expected)}。" + (f"提示：{hint}" if hint else ""))
    return ok


def check_function(fn: Callable, reference: Callable, cases: Iterable[tuple], what: str = "",
                   rel: float = 1e-6) -> bool:
    """Call the learner's ``fn`` and the ``reference`` on every argument tuple in ``cases``;
    report the first case where they differ (or the error ``fn`` raised). A ``fn`` that still
    returns the placeholder ``...`` is told to fill it in."""
    label = f"{what}：" if what else ""
    cases = list(cases)
    for args in cases:
        want = reference(*args)
        try:
            got = fn(*args)
        except Exception as e:  # noqa: BLE001 - the learner's code may raise anything: report it
            print(f"✗ {label}{_call(fn, args)} 抛出了 {type(e).__name__}: {e}")
            return False
        if got is ...:   # the exercise's placeholder body ``return ...``: not an answer yet
            print(f"… {label}把 {getattr(fn, '__name__', '函数')} 里的 `...` 换成你的代码再运行这个单元。")
            return False
        if not _close(got, want, rel, 0.0):
            print(f"✗ {label}{_call(fn, args)} 返回 {_fmt(got)}，应为 {_fmt(want)}。")
            return False
    print(f"✓ {label}{len(cases)} 组输入全部正确。")
    return True


def _call(fn, args) -> str:
    return f"{getattr(fn, '__name__', 'f')}({', '.join(map(repr, args))})"


def _fmt(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return repr(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:,.6g}"


# --- Running the notebooks: ``python -m peft_lab.notebook [NAME ...]`` --------------------------------

def notebook_paths(names: Iterable[str] = ()) -> list:
    """The suite's notebooks (``notebooks/0*.ipynb``), or those whose file name contains one of ``names``."""
    from pathlib import Path
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    names = list(names)
    chosen = [p for p in paths if not names or any(n in p.name for n in names)]
    if names and not chosen:
        raise ValueError(f"no notebook matches {names}; notebooks: {[p.name for p in paths]}")
    return chosen


# ipykernel 7 logs at every start that its TCP sockets are unencrypted (they listen on localhost
# only, and messages are signed): in a benchmark's or a build's output it buried the lines that
# matter, so the kernels started here log errors only (a cell's warnings still reach its output)
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def execute_twice(path, timeout: int = 600) -> tuple[float, float]:
    """Execute every cell of the notebook at ``path`` top to bottom, then again in the same kernel
    (a learner's "Run All" twice), in a temporary working directory. Returns both wall times in seconds.
    Raises on the first cell that fails."""
    import tempfile
    import time

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", extra_arguments=KERNEL_ARGUMENTS,
                                resources={"metadata": {"path": tmp}})
        with client.setup_kernel():
            for _ in range(2):
                start = time.perf_counter()
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                times.append(time.perf_counter() - start)
    return times[0], times[1]


def main(argv: list[str] | None = None) -> int:
    """Print each notebook's execution time, first run and rerun in the same kernel (a benchmark)."""
    import argparse
    import platform

    parser = argparse.ArgumentParser(prog="python -m peft_lab.notebook", description=main.__doc__)
    parser.add_argument("names", nargs="*", help="part of a notebook's file name, e.g. 02 (default: all)")
    args = parser.parse_args(argv)
    import os
    print(f"executing notebooks on {platform.machine()} with {os.cpu_count()} cores (first run, then a rerun "
          f"in the same kernel)")
    for path in notebook_paths(args.names):
        first, again = execute_twice(path)
        print(f"  {path.name:<28} {first:6.1f} s   rerun {again:6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
