"""Serve several task adapters over ONE frozen base, switching at run time.

A deployment keeps one copy of the pretrained weights in memory and a small file per task.
``AdapterBank`` reads each adapter saved by ``pl.save_adapter`` once (its tensors stay in
memory); ``use(name)`` makes that task's adapter active by copying its tensors into the same
wrapped modules and, when the tasks need different heads (a review label vs a tag per
character), by putting that task's head in place. The base weights are never copied or touched:
every task computes with the very same tensors.

    bank = AdapterBank(pl.load_pretrained("cls"))
    bank.add("sentiment", "adapters/sentiment"); bank.add("segmentation", "adapters/seg")
    bank.use("segmentation")(ids, attention_mask=mask)   # tags per character

The adapters must come from the same method and config (the wrapped modules are shared); a merged
model cannot switch (its W0 already holds one task's update).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import io, methods
from .data import SEG_TAGS
from .methods.base import peft_layers

HEAD_FIELDS = ("head", "num_labels", "causal")   # what may differ between the tasks' models


@dataclass
class StoredAdapter:
    """One adapter as read from disk, kept in memory."""
    path: Path
    meta: dict
    config: methods.PeftConfig
    tensors: dict[str, torch.Tensor]

    @property
    def head(self) -> dict:
        return {k: self.meta["base_model"].get(k) for k in HEAD_FIELDS}

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


class AdapterBank:
    """One base model, several task adapters, one active at a time."""

    def __init__(self, base: nn.Module):
        if getattr(base, "peft_config", None) is not None:
            raise ValueError(f"the base already has {base.peft_config.method} applied: give AdapterBank a "
                             f"fresh base model (pl.load_pretrained)")
        self.model = base
        self.adapters: dict[str, StoredAdapter] = {}
        self.active: str | None = None

    def add(self, name: str, path) -> StoredAdapter:
        """Read the adapter saved in ``path`` and keep it under ``name``; the first one added
        becomes active (so the base is wrapped once, and its parameters keep their names)."""
        if name in self.adapters:
            raise ValueError(f"an adapter named {name!r} is already loaded; names: {list(self.adapters)}")
        path = Path(path)
        meta, config = io._read_config(path)
        tensors, _ = io._read_weights(path)
        if self.adapters:
            first_name, first = next(iter(self.adapters.items()))
            if config != first.config:
                raise ValueError(f"adapter {name!r} is {config.method} {config.to_dict()}, {first_name!r} is "
                                 f"{first.config.method} {first.config.to_dict()}: AdapterBank swaps tensors in "
                                 f"the same wrapped modules, so every adapter needs the same method and config")
        shape = io._shape_of(self.model)
        diff = {k: (v, shape.get(k)) for k, v in meta["base_model"].items()
                if k not in HEAD_FIELDS and v != shape.get(k)}
        if diff:
            detail = ", ".join(f"{k}: adapter {a!r} vs base {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"the adapter in {path} was saved for another base model ({detail})")
        self.adapters[name] = StoredAdapter(path, meta, config, tensors)
        if self.active is None:
            self.use(name)
        return self.adapters[name]

    def use(self, name: str) -> nn.Module:
        """Make ``name`` the active adapter and return the model (the same object every time)."""
        if name not in self.adapters:
            raise ValueError(f"no adapter named {name!r}; loaded: {list(self.adapters)}")
        stored, model = self.adapters[name], self.model
        if any(getattr(layer, "merged", False) for _, layer in peft_layers(model)):
            raise ValueError("the model is merged (W0 holds the active adapter's update): pl.unmerge it "
                             "before switching adapters")
        head = stored.head
        if {k: getattr(model.config, k) for k in HEAD_FIELDS} != head:
            model.replace_head(head["head"], head["num_labels"], causal=head["causal"])
        if getattr(model, "peft_config", None) is None:
            methods.apply(model, stored.config)
        io._load_tensors(model, stored.path, stored.meta, stored.tensors)
        self.active = name
        return model.eval()

    def base_parameters(self) -> dict[str, nn.Parameter]:
        """The shared base weights by name: every parameter no adapter brings (the same tensors,
        whichever task is active)."""
        swapped = {n for stored in self.adapters.values() for n in stored.tensors}
        return {n: p for n, p in self.model.named_parameters() if n not in swapped}


def _logits(model: nn.Module, text: str, head: str) -> torch.Tensor:
    if model.config.head != head:
        raise ValueError(f"this needs a model with head={head!r}; the active one has head={model.config.head!r}")
    if not isinstance(text, str) or not text:
        raise ValueError(f"text={text!r} must be a non-empty string")
    ids = torch.tensor([model.vocab.encode(text)])   # [BOS] + one id per character
    with torch.no_grad():
        return model.eval()(ids)[0]


def classify(model: nn.Module, text: str) -> int:
    """The label the active classification adapter gives ``text`` (sentiment: 1 positive, 0 negative)."""
    return int(_logits(model, text, "cls").argmax())


def segment(model: nn.Module, text: str) -> list[str]:
    """``text`` cut into words by the active segmentation adapter: a word ends at a character
    tagged E (end) or S (single)."""
    tags = [SEG_TAGS[i] for i in _logits(model, text, "token")[1:].argmax(-1).tolist()]   # skip [BOS]
    words, word = [], ""
    for char, tag in zip(text, tags):
        word += char
        if tag in "ES":
            words.append(word)
            word = ""
    return words + ([word] if word else [])


__all__ = ["AdapterBank", "StoredAdapter", "classify", "segment"]
