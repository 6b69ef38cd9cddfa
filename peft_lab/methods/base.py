"""What every PEFT method is made of: one protocol (``PeftConfig``) and one injection mechanism.

The layer-wrapping methods (LoRA, DoRA, rsLoRA, DyLoRA, AdaLoRA, QLoRA, the bottleneck adapters
and IA3) share one injection mechanism, written here once:

1. ``find_targets``: the target modules, by name (exact, suffix, regular expression or "all-linear");
2. ``inject``: wrap each target (the wrapper keeps the original module as ``wrapper.base`` and adds
   to it), then freeze everything except what the wrappers added (found by type) and a new task head.

The four soft-prompt methods (prompt tuning, P-Tuning, prefix tuning, P-Tuning v2) wrap nothing:
they share one install path into the model's soft-prompt slot (``soft_prompt.SoftPromptConfig``).
BitFit, full fine-tuning and head-only add nothing and only choose what trains (``freeze_all_but``).
Removing a method puts the very same ``base`` objects back (``pl.remove``).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, fields
from typing import Callable, ClassVar, Iterable, NamedTuple

import torch
from torch import nn

from ..budget.arch import normalize_targets, what_exists  # one rule for model and calculator
from ..checks import (check_bool, check_choice, check_non_negative, check_positive,  # noqa: F401
                      check_positive_int, check_probability)  # re-exported: every method checks with these


# ----------------------------------------------------------------------------- the method protocol

class Display(NamedTuple):
    """How figures and widgets show a result label: its colour and its Chinese and English name."""
    colour: str
    zh: str
    en: str


@dataclass
class PeftConfig:
    """A method's options *and* its protocol: everything the package asks of a PEFT method.

    A method module defines one subclass: its dataclass fields are the method's options, ``method``
    is its registry name, and the methods below are what ``pl.apply``, ``pl.fit``, ``pl.save_adapter``,
    ``pl.load_adapter``, ``pl.remove`` and the calculator (``peft_lab.budget``) call. Only ``apply``
    and ``trainable_parameters`` must be written; the others default to "nothing to do".

    - ``apply(model)``: add the method to ``model`` in place and freeze what must not train.
    - ``training_hooks(model)``: the ``TrainingHook``s ``fit`` calls (AdaLoRA's budget, DyLoRA's ranks).
    - ``adapter_state(model)`` / ``restore_state(model, state)``: what ``save_adapter`` stores beside
      the tensors (JSON) and how ``load_adapter`` re-applies it (a folded prompt, a truncated rank).
    - ``remove(model)``: undo what ``apply`` did beyond wrapping layers (``pl.remove`` unwraps those).
    - ``trainable_parameters(arch, num_labels, folded)``: the calculator's exact count, by
      arithmetic on a ``budget.Architecture`` (torch is never needed), next to the code it counts.
    - ``plan_activations(arch, plan)``: what the method changes for activation memory.
    - ``labels``: the colour and zh/en display name of each result label of the method.
    - ``virtual_tokens(arch)``: the context positions the method takes from the text (soft prompts' L).
    """

    method: ClassVar[str] = ""
    labels: ClassVar[dict[str, Display]] = {}
    foldable: ClassVar[bool] = False   # a training-only reparameterisation that pl.fold removes
    quantizes_base: ClassVar[bool] = False   # stores the frozen base in 4 bits (QLoRA)

    def apply(self, model: nn.Module) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define apply(model)")

    def training_hooks(self, model: nn.Module) -> list["TrainingHook"]:
        return []

    def virtual_tokens(self, arch) -> int:
        return 0

    def adapter_state(self, model: nn.Module) -> dict:
        return {}

    def restore_state(self, model: nn.Module, state: dict) -> None:
        return None

    def remove(self, model: nn.Module) -> None:
        return None

    def trainable_parameters(self, arch, num_labels: int | None = None, folded: bool = False) -> tuple[int, int]:
        """(parameters the method adds, existing parameters it unfreezes), the classifier aside."""
        raise NotImplementedError(f"{type(self).__name__} must define trainable_parameters(arch, ...)")

    def plan_activations(self, arch, plan) -> None:
        """Fill ``plan`` (a ``budget.activations.Plan``): by default the method changes nothing there."""
        return None

    @classmethod
    def example(cls, arch, r: int = 8, bottleneck: int = 64, num_virtual_tokens: int = 20) -> "PeftConfig":
        """A sensible config of this method for ``arch`` (a ``budget.Architecture``) at these sizes,
        each method taking the ones it has (the widgets' and notebooks' comparisons); default: ``cls()``."""
        return cls()

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

    linear_update: ClassVar[bool] = False   # what the layer adds is linear in x: merge can fold it into W0

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base

    @property
    def device(self) -> torch.device:
        """Where the wrapped module lives (its parameters, or its buffers for a 4-bit base)."""
        return next(itertools.chain(self.base.parameters(), self.base.buffers())).device

    def added_parameters(self):
        """The parameters this wrapper added (everything but the wrapped module's)."""
        inner = {id(p) for p in self.base.parameters()}
        return [p for p in self.parameters() if id(p) not in inner]

    @property
    def unmergeable_reason(self) -> str | None:
        """Why ``merge`` must refuse, or None. A base that cannot absorb an update says why itself
        in ``merge_refusal`` (``NF4Linear``: rounding W0 + ΔW back to 4 bits would erase ΔW)."""
        if not self.linear_update:
            return type(self).__name__
        refusal = getattr(self.base, "merge_refusal", None)
        return None if refusal is None else f"{type(self).__name__} over {refusal}"

    @property
    def mergeable(self) -> bool:
        return self.unmergeable_reason is None

    def check_merge(self, merging: bool) -> None:
        if not self.mergeable:
            raise ValueError(f"{self.unmergeable_reason} cannot be merged into the base weights")
        if self.merged == merging:
            raise ValueError(f"this {type(self).__name__} is {'already' if merging else 'not'} merged")

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
    return any(name == target or name.endswith("." + target) for target in pattern)


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


def inject(model: nn.Module, names: list[str], make: Callable[[nn.Module, str], PeftLayer]) -> None:
    """The injection every layer-wrapping method shares: replace each named module by
    ``make(module, name)``, then train only what the wrappers added (and a new task head)."""
    wrap_targets(model, names, make)
    added = [p for _, layer in peft_layers(model) for p in layer.added_parameters()]
    freeze_all_but(model, added, train_head=head_is_new(model))


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
