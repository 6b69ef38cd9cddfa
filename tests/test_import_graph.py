"""Dependencies inside the package point one way: no module of peft_lab imports, directly or
through others, a module that imports it back, counting deferred imports inside functions too
(``lora`` importing ``dora`` inside ``make_layer`` while ``dora`` imports ``lora`` is a cycle
a reader still has to untangle). And every module imports on its own in a fresh interpreter."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import peft_lab

ROOT = pathlib.Path(peft_lab.__file__).parent


def package_modules() -> dict[str, tuple[pathlib.Path, bool]]:
    """Dotted module name -> (its file, whether it is a package's __init__)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def imported_modules(name: str, is_package: bool, node: ast.AST, modules) -> list[str]:
    """The peft_lab modules one import statement names (``from .x import y`` names ``x.y`` when
    that is a module, else ``x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == ROOT.name]
    if node.level:  # relative: climb from this module's package
        package = name.split(".") if is_package else name.split(".")[:-1]
        target = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != ROOT.name:
        return []
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target for alias in node.names]


def import_graph(deferred: bool = True) -> dict[str, list[str]]:
    """Module -> the peft_lab modules it imports anywhere in its file (``deferred=False``: only the
    statements at the top level of the module, which run when it is imported)."""
    modules = package_modules()
    graph = {}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nodes = ast.walk(tree) if deferred else tree.body
        targets = {t for node in nodes if isinstance(node, (ast.Import, ast.ImportFrom))
                   for t in imported_modules(name, is_package, node, modules)}
        graph[name] = sorted(targets - {name})
    return graph


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle_and_accepts_a_chain():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None


def test_graph_sees_relative_and_deferred_imports():
    graph = import_graph()
    assert "peft_lab.methods.lora" in graph["peft_lab.methods.dora"]        # from .lora import ...
    assert "peft_lab.methods.lora" in graph["peft_lab.methods"]             # from .lora import LoRAConfig
    assert "peft_lab.plots.ch2_lora" in graph["peft_lab.widgets"]           # imported inside a function


def test_no_import_cycle_among_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle among peft_lab modules: " + " -> ".join(cycle)


# What a figure may read from the experiments: pure functions over result dicts (and the ΔW
# math behind them), never what runs, schedules or stores experiments (runner, spec, sweeps, api ...).
RESULTS_API = {"peft_lab.experiments.analysis", "peft_lab.experiments.paired", "peft_lab.experiments.spectra"}


def test_plots_read_results_only_through_the_results_api():
    graph = import_graph()
    used = {(name, t) for name, targets in graph.items() if name.startswith("peft_lab.plots")
            for t in targets if t.startswith("peft_lab.experiments")}
    assert used, "no plot reads results any more: update RESULTS_API"
    internals = sorted((name, t) for name, t in used if t not in RESULTS_API)
    assert not internals, f"plots importing experiment internals: {internals}"
    for module in RESULTS_API:   # and the results API itself runs nothing
        assert not [t for t in graph[module] if t.startswith("peft_lab.experiments") and t not in RESULTS_API], module


def test_widgets_take_configs_from_the_methods_not_from_a_plot():
    """Figures are drawn lazily inside the interactive widgets; the plain views and
    ``method_config`` need no plot module."""
    top_level = import_graph(deferred=False)["peft_lab.widgets"]
    assert "peft_lab.methods" in top_level
    assert [t for t in top_level if t.startswith("peft_lab.plots")] == []


def test_every_module_imports_in_a_fresh_interpreter():
    names = [n for n in package_modules() if not n.endswith("__main__")]  # __main__ runs a command
    code = ("import importlib, traceback\nfailed = []\n"
            f"for name in {names!r}:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception:\n        failed.append(name + ': ' + traceback.format_exc(limit=-1))\n"
            "print('\\n'.join(failed))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=ROOT.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", "modules that fail to import:\n" + done.stdout
