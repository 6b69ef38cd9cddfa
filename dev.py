#!/usr/bin/env python3
"""Set everything up and run the suite, from a clean clone, with nothing but Python 3.10+.

    python3 dev.py lab     # create .venv, install peft_lab, health check, open JupyterLab on notebooks/
    python3 dev.py test    # create .venv, install peft_lab with the dev extra, run every test
    python3 dev.py browser-test   # the same setup, then only the widgets-in-a-real-browser test
    python3 dev.py slides  # execute the notebooks, write offline reveal.js decks to out/slides/
    python3 dev.py book    # execute the notebooks, write the offline HTML book to out/book/html/

Both steps are idempotent: an existing .venv is reused, torch is installed once, and pip runs
again only when pyproject.toml has changed since the last install. Arguments after `lab` go to
JupyterLab (`python3 dev.py lab --no-browser --port 8899`), after `test` and `browser-test` to pytest.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
INSTALLED = VENV / "peft_lab-installed.json"   # what pip installed last, and for which pyproject.toml
SPEED_MEASURED = VENV / "peft_lab-speed-measured"  # the health check has timed a training run here

TORCH_VERSION = "2.13.0"  # the pin in pyproject.toml (tests/test_dev_setup.py keeps the two equal)
# PyTorch's CPU wheel index. On Linux, PyPI's torch wheel is the CUDA build, which pulls several
# GB of CUDA and cuDNN packages; this index has the same version without them. PyPI's macOS and
# Windows wheels are CPU builds already, so those keep pip's default index.
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT = 5  # seconds: one try, so a machine that sees only a package mirror falls back at once

# JupyterLab settings every session in .venv starts from (the environment's overrides.json), so a
# class is asked no question it does not need: whether to subscribe to Jupyter's news feed ("false" is
# the schema's "Never"), and which kernel to start when a second notebook opens beside a running one.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
                 "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True}}

# The browser test (tests/test_browser.py) drives the system's Chromium with Playwright; without a
# CJK font Chromium draws the widgets' Chinese labels as empty boxes.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_TEST = "tests/test_browser.py"


def run(*cmd) -> int:
    """Run a command in the repository, echoing it and its wall time; return its exit status."""
    print("+", " ".join(map(str, cmd)), flush=True)
    t0 = time.perf_counter()
    code = subprocess.run([str(c) for c in cmd], cwd=ROOT).returncode
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return code


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if ``url`` answers within ``timeout`` seconds (one try), else why not."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except Exception as e:  # noqa: BLE001 - any failure (DNS, refused, timeout, TLS) means "not usable"
        return f"{type(e).__name__}: {e}"


def torch_indexes(platform: str) -> list[str | None]:
    """Where to look for torch, in order of preference; None is pip's default index."""
    return [CPU_INDEX, None] if platform.startswith("linux") else [None]


def install_torch(platform: str, pip: Callable[[Sequence[str]], int],
                  probe: Callable[[str], str | None] = reachable) -> str:
    """Install torch==TORCH_VERSION with ``pip(args) -> exit status``; return where it came from.

    On Linux the CPU index is probed first (``probe(url)`` returns None when it answers, else
    the reason); when it cannot be reached, or pip fails with it, pip's default index is used.
    The probe is the quick part (one try, ``PROBE_TIMEOUT``); once the index has answered, pip
    keeps its usual retries, so a slow download is not abandoned for the CUDA build.
    """
    for index in torch_indexes(platform):
        if index is None:
            args = ["install", f"torch=={TORCH_VERSION}"]
        else:
            t0 = time.perf_counter()
            why = probe(index + "/torch/")
            if why is not None:
                print(f"PyTorch's CPU index {index} cannot be reached ({why}; probe took "
                      f"{time.perf_counter() - t0:.1f} s): using pip's default index instead", flush=True)
                continue
            # only torch from this index: its dependencies come with the rest, from pip's default index
            args = ["install", f"torch=={TORCH_VERSION}", "--no-deps", "--index-url", index]
        if pip(args) == 0:
            source = index or "pip's default index"
            print(f"torch {TORCH_VERSION} installed from {source}", flush=True)
            return source
        if index is not None:
            print(f"pip could not install torch from {index}: trying pip's default index", flush=True)
    raise SystemExit(f"torch=={TORCH_VERSION} could not be installed (see pip's messages above)")


def venv_version(package: str) -> str | None:
    """The version of ``package`` installed in .venv, or None."""
    code = f"import importlib.metadata as m\ntry: print(m.version({package!r}))\nexcept m.PackageNotFoundError: pass"
    out = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True).stdout.strip()
    return out or None


def _install_stamp(extra: str) -> dict:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return {"pyproject_sha256": digest, "extra": extra}


def _installed_stamps() -> list[dict]:
    try:
        return json.loads(INSTALLED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def already_installed(stamp: dict, stamps: list[dict]) -> bool:
    """Whether ``stamps`` cover ``stamp``: the same pyproject.toml, and the same extra or (for the
    base install) any extra, since every extra installs the base dependencies too."""
    return any(s.get("pyproject_sha256") == stamp["pyproject_sha256"]
               and (s.get("extra") == stamp["extra"] or not stamp["extra"]) for s in stamps)


def write_lab_overrides(venv_dir: Path | None = None, overrides: dict = LAB_OVERRIDES) -> Path:
    """Merge ``overrides`` into the JupyterLab overrides.json of ``venv_dir`` (default .venv); settings
    left there by hand are kept. Return its path."""
    path = (venv_dir or VENV) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    for plugin, settings in overrides.items():
        current.setdefault(plugin, {}).update(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return path


def find_chromium(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The Chromium the browser test drives: $PEFT_LAB_CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    chosen = os.environ.get("PEFT_LAB_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    return next((path for path in map(which, CHROMIUM_NAMES) if path), None)


def cjk_fonts(which: Callable[[str], str | None] = shutil.which) -> list[str] | None:
    """The families fontconfig has for Chinese (what Chromium on Linux draws Chinese with), or None
    when fontconfig's ``fc-list`` is not there. (peft_lab's health check asks the same question;
    this file runs before peft_lab is installed, so it cannot import that one.)"""
    if which("fc-list") is None:
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def browser_test_missing(python: Path | str, platform: str = sys.platform) -> list[str]:
    """What the browser test needs and ``python``'s environment or this system lacks, each with
    how to install it; empty when it can run."""
    missing = []
    if find_chromium() is None:
        missing.append("Chromium (the browser the test drives; Playwright's own browser download is not used): "
                       "`sudo apt-get install chromium fonts-noto-cjk` on Debian/Ubuntu, or set "
                       "PEFT_LAB_CHROMIUM to a Chromium or Chrome executable")
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('playwright') is None)"
    if subprocess.run([str(python), "-c", code]).returncode != 0:
        missing.append("the Python package playwright: `python3 dev.py test` installs it with the dev extra "
                       "(or `pip install -e .[dev]`; never `playwright install`, the system's Chromium is used)")
    if platform.startswith("linux") and not cjk_fonts():
        missing.append("a CJK font (without it Chromium draws the widgets' Chinese labels as empty boxes): "
                       "`sudo apt-get install fonts-noto-cjk` on Debian/Ubuntu")
    return missing


def setup(extra: str = "") -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"peft_lab needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    t0 = time.perf_counter()
    stamp = _install_stamp(extra)
    if PYTHON.exists() and already_installed(stamp, _installed_stamps()):
        print(f"{VENV.name}: packages already installed for this pyproject.toml "
              f"(delete {VENV.name} to reinstall from scratch)", flush=True)
        write_lab_overrides()
        return
    if not PYTHON.exists():
        print(f"creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)

    def pip(args: Sequence[str]) -> int:
        return run(PYTHON, "-m", "pip", "--disable-pip-version-check", *args)

    torch = venv_version("torch")
    if torch is None or torch.split("+")[0] != TORCH_VERSION:
        print("First install: pip now downloads and installs PyTorch, JupyterLab and their dependencies "
              "into .venv. This takes a few minutes (PyTorch is a large download and unpacks into "
              "thousands of files); pip's progress follows. Later runs skip this step.", flush=True)
        install_torch(sys.platform, pip)
    else:
        print(f"torch {torch} is already installed in {VENV.name}", flush=True)
    # torch is in place, so this only adds the rest (and installs peft_lab itself in editable mode)
    if pip(["install", "-e", f".{extra}"]) != 0:
        raise SystemExit("pip could not install the dependencies (see its messages above)")
    current = [s for s in _installed_stamps() if s.get("pyproject_sha256") == stamp["pyproject_sha256"]]
    INSTALLED.write_text(json.dumps([*current, stamp]), encoding="utf-8")
    write_lab_overrides()
    print(f"{VENV.name} is ready ({time.perf_counter() - t0:.0f} s)", flush=True)


def health_check() -> None:
    """``python -m peft_lab``; the timing step (a real training run) only until it has passed once."""
    speed = [] if SPEED_MEASURED.exists() else ["--speed"]
    code = run(PYTHON, "-m", "peft_lab", *speed)
    if code != 0:
        raise SystemExit("the health check found a problem (listed above); fix it and run `python3 dev.py lab` again")
    if speed:
        SPEED_MEASURED.touch()


def browser_test(pytest_args: Sequence[str] = ()) -> int:
    """Run only the browser test; say what to install instead when it cannot run here."""
    missing = browser_test_missing(PYTHON)
    if missing:
        print("The browser test cannot run on this machine yet. Missing:")
        for item in missing:
            print(f"  - {item}")
        return 1
    env = {**os.environ, "PEFT_LAB_REQUIRE_BROWSER": "1"}   # from here on, a skip would be a failure
    return subprocess.run([str(PYTHON), "-m", "pytest", BROWSER_TEST, *pytest_args],
                          cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "lab":
        setup()
        health_check()
        os.execv(str(PYTHON), [str(PYTHON), "-m", "jupyter", "lab", str(ROOT / "notebooks"), *argv[1:]])
    if command == "test":
        setup("[dev]")
        return subprocess.run([str(PYTHON), "-m", "pytest", *argv[1:]], cwd=ROOT).returncode
    if command == "browser-test":
        setup("[dev]")
        return browser_test(argv[1:])
    if command in ("slides", "book"):   # the classroom builds (peft_lab/classroom); arguments go to them
        setup("[classroom]")
        return subprocess.run([str(PYTHON), "-m", "peft_lab.classroom", command, *argv[1:]], cwd=ROOT).returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
