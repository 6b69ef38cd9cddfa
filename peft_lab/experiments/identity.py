"""Short hashes that tell whether a journal line or a committed run was computed on the same
checkpoint, architecture and data as now (each the first 12 hex digits of a sha256), and the
dropout a model built from the checkpoint's card uses when a spec does not set it."""
from __future__ import annotations

import functools
import hashlib
import json


@functools.lru_cache(maxsize=1)
def checkpoint_id() -> str:
    """First 12 hex digits of the checkpoint's sha256: a new checkpoint invalidates old journal lines."""
    from ..hub import checkpoint_paths
    weights = checkpoint_paths()[0]
    if not weights.exists():
        return "none"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def model_dropouts() -> dict[str, float]:
    """``dropout`` and the attention dropout in effect of a model built from the checkpoint's card
    when a spec does not set them (the ``ModelConfig`` defaults where there is no card)."""
    from ..hub import checkpoint_paths, read_card
    from ..model import ModelConfig
    cfg = ModelConfig(**read_card()["model"]) if checkpoint_paths()[1].exists() else ModelConfig()
    return {"dropout": cfg.dropout, "attention_dropout": cfg.attention_p}


@functools.lru_cache(maxsize=1)
def architecture_id() -> str:
    """First 12 hex digits of the sha256 of what a model from random init takes from the
    checkpoint's card (shape, vocabulary, each head's attention mode): new weights of the same
    architecture leave the runs from random init valid."""
    from ..hub import checkpoint_paths, read_card
    if not checkpoint_paths()[1].exists():
        return "none"
    meta = read_card()
    shape = json.dumps({k: meta.get(k) for k in ("model", "attention", "vocab")}, sort_keys=True,
                       ensure_ascii=False)
    return hashlib.sha256(shape.encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def data_id(task: str) -> str:
    """First 12 hex digits of the sha256 of a task's splits (every text and label, in order): runs
    evaluated on other validation or test examples never count as the same computation."""
    from ..tasks import get_task
    splits = get_task(task).splits()
    text = json.dumps({name: list(items) for name, items in splits.items()}, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
