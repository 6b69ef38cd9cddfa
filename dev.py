#!/usr/bin/env python3
"""Set everything up and run the suite, from a clean clone, with nothing but Python 3.10+.

    python3 dev.py lab     # create .venv, install peft_lab, open JupyterLab on notebooks/
    python3 dev.py test    # create .venv, install peft_lab with the dev extra, run every test

Both steps are idempotent: an existing .venv is reused and only missing packages are installed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def run(*cmd) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def setup(extra: str = "") -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"peft_lab needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    # torch is pinned to the CPU build (see pyproject.toml); pip takes it from a local wheel when there is one
    run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", f".{extra}")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "lab":
        setup()
        run(PYTHON, "-m", "peft_lab")  # health check: versions, checkpoint, corpora, font, speed
        os.execv(str(PYTHON), [str(PYTHON), "-m", "jupyter", "lab", str(ROOT / "notebooks"), *argv[1:]])
    if command == "test":
        setup("[dev]")
        return subprocess.run([str(PYTHON), "-m", "pytest", *argv[1:]], cwd=ROOT).returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
