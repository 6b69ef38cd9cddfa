"""The one injection mechanism every method shares.

1. find the target modules by name (exact, suffix, regular expression or "all-linear");
2. wrap each target: the wrapper keeps the original module as ``wrapper.base`` and adds to it;
3. freeze everything except what the method added (found by module type) and the task head.

Removing a method puts the very same ``base`` objects back (``remove``).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Callable, ClassVar, Iterable

import torch
from torch import nn

from ..budget.arch import normalize_targets, what_exists  # one rule for model and calculator
from ..checks import (check_bool, check_choice, check_non_negative, check_positive,  # noqa: F401
                      check_positive_int, check_probability)  # re-exported: every method checks with these


# ----------------------------------------------------------------------------- configs

@dataclass
class PeftConfig:
    """Base of every method config. ``method`` is the registry key."""

    method: ClassVar[str] = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "PeftConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}; fields: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def check_targets(name: str, value) -> tuple[str, ...] | str:
    """A sequence of module names, one string (a regular expression) or "all-linear"; returns the
    normalised value. A regular expression that does not compile is reported here, at the config."""
    value = normalize_targets(name, value)
    if value == "":
        raise ValueError(f"{name}='' must name at least one module: a tuple of names such as "
                         f"('q_proj', 'v_proj'), a regular expression or 'all-linear'")
    if isinstance(value, str) and value != "all-linear":
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"{name}={value!r}: a single string is read as a regular expression over the "
                             f"full module name, and this one does not compile ({e}); it must be a valid "
                             f"regular expression, or a tuple of names such as ('q_proj', 'v_proj')") from e
    return value


# ----------------------------------------------------------------------------- wrappers

class PeftLayer(nn.Module):
    """Base class of every module a method wraps around an existing one.

    Subclasses keep the wrapped module as ``self.base`` (frozen) and add trainable pieces.
    Type, not parameter names, is how the rest of the package finds them.
    """

    mergeable: ClassVar[bool] = False

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base

    def added_parameters(self):
        """The parameters this wrapper added (everything but the wrapped module's)."""
        inner = {id(p) for p in self.base.parameters()}
        return [p for p in self.parameters() if id(p) not in inner]

    def merge(self) -> None:
        raise ValueError(f"{type(self).__name__} cannot be merged into the base weights")

    def unmerge(self) -> None:
        raise ValueError(f"{type(self).__name__} cannot be merged into the base weights")


# ----------------------------------------------------------------------------- training hooks

class TrainingHook:
    """Method-specific training behaviour (AdaLoRA's budget, DyLoRA's rank sampling) without a
    second training loop: ``fit`` calls each method at the named moment. Override what you need."""

    def on_train_begin(self, model: nn.Module, total_steps: int) -> None: ...

    def extra_loss(self, model: nn.Module, step: int) -> torch.Tensor | None:
        return None  # e.g. AdaLoRA's orthogonality regulariser

    def after_backward(self, model: nn.Module, step: int) -> None: ...  # gradients are available here

    def after_step(self, model: nn.Module, step: int) -> None: ...

    def on_train_end(self, model: nn.Module) -> None: ...


# ----------------------------------------------------------------------------- targets

def _matches(name: str, pattern) -> bool:
    if isinstance(pattern, str):  # one string: a regular expression over the full name
        return re.fullmatch(pattern, name) is not None
    return any(name == t or name.endswith("." + t) for t in pattern)


def head_names(model: nn.Module) -> tuple[str, ...]:
    """Modules that count as the task head (trained by every method, never wrapped)."""
    return tuple(getattr(model, "peft_head_modules", ("head",) if hasattr(model, "head") else ()))


def find_targets(model: nn.Module, target_modules, kind: type | tuple = nn.Linear,
                 field: str = "target_modules") -> list[str]:
    """Names of the modules of type ``kind`` selected by ``target_modules``.

    ``target_modules`` is a sequence of names (a name matches exactly or as the last dotted
    parts, like ``"q_proj"`` for ``"layers.0.self_attn.q_proj"``), a single string taken as a
    regular expression that must match the whole name (``re.fullmatch``, as HF PEFT reads it:
    ``r".*\\.q_proj"``, not ``"q_proj"``), or ``"all-linear"`` (every linear but the head).
    """
    heads = head_names(model)
    candidates = [n for n, m in model.named_modules()
                  if n and isinstance(m, kind) and not any(n == h or n.startswith(h + ".") for h in heads)]
    if target_modules == "all-linear":
        found = candidates
    else:
        found = [n for n in candidates if _matches(n, target_modules)]
    opaque = [n for n in found if isinstance(model.get_submodule(n.rpartition(".")[0]), nn.MultiheadAttention)]
    if opaque:
        raise ValueError(f"{field}={target_modules!r} selects {opaque}, inside nn.MultiheadAttention, which "
                         f"reads its weights directly instead of calling the module: a wrapper there would "
                         f"be silently ignored. Target other linear layers (e.g. linear1, linear2)")
    if not found:
        kinds = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ValueError(f"{field}={target_modules!r} matches no {kinds} module of "
                         f"{type(model).__name__}; {what_exists(field, target_modules, candidates)}")
    return found


def replace_module(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """Put ``new`` where ``name`` was and return the module that was there."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, child)
    setattr(parent, child, new)
    return old


def wrap_targets(model: nn.Module, names: list[str], make: Callable[[nn.Module, str], nn.Module]) -> None:
    """Replace every named module with ``make(module, name)``."""
    for name in names:
        replace_module(model, name, make(model.get_submodule(name), name))


def peft_layers(model: nn.Module) -> list[tuple[str, PeftLayer]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, PeftLayer)]


def freeze_all_but(model: nn.Module, trainable: Iterable[nn.Parameter], train_head: bool = True) -> None:
    """requires_grad = False everywhere, then True for ``trainable`` and (optionally) the head."""
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    if train_head:
        for h in head_names(model):
            for p in model.get_submodule(h).parameters():
                p.requires_grad_(True)


def head_is_new(model: nn.Module) -> bool:
    """A task head (classification / tagging) is new and must train; a pretrained LM head is not."""
    cfg = getattr(model, "config", None)
    return getattr(cfg, "head", "cls") != "lm"
