"""The shipped pretrained checkpoint: load it offline, with no unpickling.

``weights/tiny-zh.safetensors`` holds the tensors; ``weights/tiny-zh.json`` holds the model
config, the character vocabulary and the card (data, steps, seed, losses, wall time) written by
``python -m peft_lab.pretrain``, which reproduces the checkpoint.
"""
from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

from safetensors.torch import load_file

from .data import Vocab
from .model import HEADS, ModelConfig, TinyTransformer

CHECKPOINT = "tiny-zh"


def weights_dir() -> Path:
    return Path(str(importlib.resources.files("peft_lab").joinpath("weights")))


def checkpoint_paths(name: str = CHECKPOINT, directory: Path | None = None) -> tuple[Path, Path]:
    d = Path(directory) if directory is not None else weights_dir()
    return d / f"{name}.safetensors", d / f"{name}.json"


def read_card(name: str = CHECKPOINT, directory: Path | None = None) -> dict:
    """The checkpoint's metadata: ``{"model": ..., "vocab": ..., "card": ...}``."""
    _, meta = checkpoint_paths(name, directory)
    if not meta.exists():
        raise FileNotFoundError(f"no pretrained checkpoint at {meta}; create it with: python -m peft_lab.pretrain")
    return json.loads(meta.read_text(encoding="utf-8"))


def load_pretrained(head: str = "cls", num_labels: int = 2, *, dropout: float | None = None,
                    causal: bool | None = None, name: str = CHECKPOINT,
                    directory: Path | None = None, attention_dropout: float | None = None) -> TinyTransformer:
    """The pretrained TinyTransformer with a fresh task head (``"cls"``, ``"token"``) or its LM head.

    The new head is randomly initialised from torch's global RNG: call ``pl.set_seed`` first
    for a repeatable run. ``causal`` defaults to the attention the checkpoint recommends for
    the head (the one it was pretrained with). ``dropout`` (residual and embedding) and
    ``attention_dropout`` (on the attention probabilities) override the card's values; None
    keeps the card's (a card without ``attention_dropout``: the same as its ``dropout``).
    """
    if head not in HEADS:
        raise ValueError(f"head={head!r} is not one of {HEADS}")
    if head != "lm" and (not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2):
        raise ValueError(f"num_labels={num_labels!r} must be an integer >= 2 for head={head!r}")
    weights, _ = checkpoint_paths(name, directory)
    meta = read_card(name, directory)
    overrides = {k: v for k, v in (("dropout", dropout), ("attention_dropout", attention_dropout)) if v is not None}
    cfg = ModelConfig(**{**meta["model"], **overrides})
    model = TinyTransformer(cfg)
    model.load_state_dict(load_file(str(weights)), strict=True)
    model.vocab = Vocab.from_dict(meta["vocab"])
    attention = meta.get("attention", {})
    if causal is None:
        causal = attention.get(head, cfg.causal)
    if head != "lm":
        model.replace_head(head, num_labels, causal=causal)
    else:
        model.config.causal = causal
    return model.train()
