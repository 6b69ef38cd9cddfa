"""Execute the notebooks once for the slides and the book, keeping the executed copies under out/.

An executed copy is reused while its source notebook and the package are unchanged (a hash of both
is stored in its metadata), so ``dev.py slides`` after ``dev.py book`` does not run everything twice.
Widgets' state is kept (nbclient's ``store_widget_state``): :mod:`.static_widgets` reads it.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXECUTED = ROOT / "out" / "executed"
CELL_TIMEOUT = 1800   # seconds: the longest cells train for real on a shared CPU


def fingerprint(path: Path) -> str:
    """A hash of the notebook and of peft_lab's source and results (what its outputs depend on);
    this classroom package only builds from the outputs, so it is left out."""
    h = hashlib.sha256(path.read_bytes())
    files = [*(ROOT / "peft_lab").rglob("*.py"), *(ROOT / "results").glob("*.json")]
    for source in sorted(f for f in files if "classroom" not in f.relative_to(ROOT).parts):
        h.update(source.read_bytes())
    return h.hexdigest()


def executed(path: Path, folder: Path = EXECUTED, run: bool = True):
    """The notebook at ``path`` with its outputs (a ``nbformat`` node): from ``folder`` when an
    up-to-date copy is there, else executed now (in the notebook's own folder, as nbval does) and
    saved. With ``run=False`` it is returned unexecuted (for quick builds and tests)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    if not run:
        return nb
    key, copy = fingerprint(path), folder / path.name
    if copy.exists():
        cached = nbformat.read(copy, as_version=4)
        if cached.metadata.get("peft_lab", {}).get("fingerprint") == key:
            print(f"{path.name}: executed copy is up to date ({copy})", flush=True)
            return cached
    from nbclient import NotebookClient

    from ..notebook import KERNEL_ARGUMENTS
    print(f"{path.name}: executing ...", flush=True)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", extra_arguments=KERNEL_ARGUMENTS,
                   store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name}: executed in {time.perf_counter() - t0:.0f} s", flush=True)
    nb.metadata["peft_lab"] = {"fingerprint": key}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, copy)
    return nb


def build_arguments(argv: list[str], prog: str, description: str, out: Path) -> argparse.Namespace:
    """The command line the builds share: ``[names...] [--no-execute] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("names", nargs="*", help="notebooks whose name contains one of these (default: all six)")
    parser.add_argument("--no-execute", action="store_true", help="build from the committed notebooks, without outputs")
    parser.add_argument("--out", type=Path, default=out, help=f"output folder (default {out.relative_to(ROOT)})")
    return parser.parse_args(argv)
