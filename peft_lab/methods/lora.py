"""LoRA: Low-Rank Adaptation (Hu et al., 2021), with the rsLoRA scaling (Kalajdzievski, 2023).

A frozen linear layer ``h = W0 x`` (W0 is d x k) becomes

    h = W0 x + scaling * B A x,     A: r x k (random),  B: d x r (zeros),  scaling = alpha / r

so the update ``ΔW = scaling * B A`` has rank <= r, costs r (d + k) parameters instead of d k,
and is exactly zero at the start (B = 0): training begins from the pretrained model.
rsLoRA uses ``scaling = alpha / sqrt(r)``, which keeps the update's size stable as r grows.
After training, ``merge`` adds ΔW into W0, so inference costs exactly what the base model costs.
``LoRALinear`` is the whole layer; DoRA, DyLoRA and QLoRA (LoRA over a 4-bit base) build on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture, select
from .base import (Display, PeftConfig, PeftLayer, check_bool, check_positive, check_positive_int,
                   check_probability, check_targets, find_targets, inject)
from .nf4 import NF4Linear

LINEAR_KINDS = (nn.Linear, NF4Linear)  # what the LoRA family wraps: float linears or 4-bit ones


def scaling(alpha: float, r: int, use_rslora: bool = False) -> float:
    """The factor in front of B A: α/r (LoRA), or α/√r (rsLoRA)."""
    return alpha / (math.sqrt(r) if use_rslora else r)


@dataclass
class LoRAConfig(PeftConfig):
    """LoRA on the targeted linear layers: ``h = W0 x + (alpha / r) · B A x`` (Hu et al., 2021).

    Attributes
    ----------
    r : int
        Rank r of the update ΔW = (α/r)·B A, with A: r x k and B: d x r. Each adapted layer
        adds r·(d + k) parameters; a larger r can express more but costs more.
        Allowed: an integer >= 1, at most min(d, k) of every targeted layer. Default: 8.
    alpha : float
        α, the numerator of the scaling α/r that multiplies B A. The paper sets α once and
        keeps it while trying other r, so the learning rate need not be re-tuned.
        Allowed: a number > 0. Default: 16.
    dropout : float
        Dropout probability on the input x of the low-rank path only (W0 x is untouched).
        Allowed: 0 <= dropout < 1. Default: 0.0.
    target_modules : tuple of str or str
        Which linear layers W0 get an update (the paper adapts the attention's W_q and W_v).
        A tuple of names selects every module whose full name equals a name or ends with
        ``"." + name``: ``("q_proj", "v_proj")``. A single string is a regular expression
        that must match the whole module name (``re.fullmatch``, as in HF PEFT):
        ``r".*\\.q_proj"`` works, ``"q_proj"`` matches nothing. ``"all-linear"`` is every
        linear layer except the task head. Allowed: a non-empty tuple of names, a regular
        expression or "all-linear". Default: ("q_proj", "v_proj").
    use_rslora : bool
        rsLoRA (Kalajdzievski, 2023): scaling α/√r instead of α/r, which keeps the update
        stable as r grows. Allowed: True or False. Default: False.
    use_dora : bool
        DoRA (Liu et al., 2024): learn the magnitude m of W0 + ΔW (one value per output
        feature) apart from its direction; adds d parameters per layer.
        Allowed: True or False. Default: False.
    """

    r: int = 8                                   # rank of the update; r << min(d, k)
    alpha: float = 16                            # update scale numerator: scaling = alpha / r
    dropout: float = 0.0                         # dropout on the input of the low-rank path only
    target_modules: tuple = ("q_proj", "v_proj")  # the paper's default: queries and values
    use_rslora: bool = False                     # scaling = alpha / sqrt(r) instead of alpha / r
    use_dora: bool = False                       # DoRA: learn magnitude and direction separately

    method = "lora"

    def __post_init__(self):
        check_positive_int("r", self.r)
        check_common_fields(self)
        check_bool("use_rslora", self.use_rslora)
        check_bool("use_dora", self.use_dora)

    labels: ClassVar[dict[str, Display]] = {
        "lora": Display("#0072b2", "LoRA", "LoRA"),
        "lora_qv": Display("#4a4ad0", "LoRA（仅 q、v）", "LoRA (q, v only)"),
        "rslora": Display("#17becf", "rsLoRA", "rsLoRA"),
        "dora": Display("#08306b", "DoRA", "DoRA"),
        "loraplus": Display("#56b4e9", "LoRA+", "LoRA+"),   # LoRA trained with loraplus_optimizer
    }

    @property
    def scaling(self) -> float:
        return scaling(self.alpha, self.r, self.use_rslora)

    @classmethod
    def example(cls, arch: Architecture, r: int = 8, bottleneck: int = 64, num_virtual_tokens: int = 20) -> "LoRAConfig":
        """r and α = 2r on the attention's q and v (or the fused qkv), found by role, so it works for
        GPT-2's ``c_attn`` as for LLaMA's ``q_proj``."""
        targets = tuple(dict.fromkeys(l.name for s in arch.stacks for l in s.linears if l.role in ("q", "v", "qkv")))
        return cls(r=r, alpha=2 * r, target_modules=targets)

    def apply(self, model: nn.Module) -> None:
        names = find_targets(model, self.target_modules, kind=LINEAR_KINDS)
        inject(model, names, lambda module, name: make_layer(module, self))

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """A (r x k) + B (d x r) per target, + the magnitude m (d) with DoRA."""
        return low_rank_parameters(arch, self.target_modules, "r", self.r, self.method,
                                   per_target=lambda d, k: self.r * (d + k) + (d if self.use_dora else 0)), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.adapt_linears(select(arch, self.target_modules), ("dora" if self.use_dora else "lora", self.r))
        plan.lora_dropout = self.dropout


def low_rank_parameters(arch: Architecture, target_modules, rank_name: str, r, method: str, per_target) -> int:
    """Σ over the targeted linears of ``per_target(d, k)``, after checking the rank r against each
    (a rank above min(d, k) cannot be reached by d x k matrices; the layers refuse it too)."""
    check_positive_int(rank_name, r, owner=method)
    total = 0
    for m in select(arch, target_modules):
        d, k = m.linear.out_features, m.linear.in_features
        check_rank(rank_name, r, d, k, where=f"{m.linear.name} in {arch.name}")
        total += m.count * per_target(d, k)
    return total


def check_common_fields(config) -> None:
    """alpha, dropout and target_modules mean the same in every LoRA variant's config."""
    check_positive("alpha", config.alpha)
    check_probability("dropout", config.dropout)
    config.target_modules = check_targets("target_modules", config.target_modules)


def check_rank(name: str, r: int, d: int, k: int, where: str = "the layer") -> None:
    """A rank above min(d, k) cannot be reached by a d x k update: refused by the layers and the calculator."""
    if r > min(d, k):
        raise ValueError(f"{name}={r} exceeds the rank limit min(d={d}, k={k})={min(d, k)} of {where}; "
                         f"allowed: 1 ... {min(d, k)}")


class LoRALinear(PeftLayer):
    """``h = W0 x + (α/r) · B A x`` around a linear layer W0 (d x k), ``ΔW = (α/r) · B A``.

    A (r x k) starts random and B (d x r) at zero, so ΔW = 0 and the layer starts as W0.
    ``merge`` adds ΔW into W0 (inference then costs the base model's), ``unmerge`` takes it out.
    """

    linear_update = True   # ΔW x is linear in x, so it can be merged into W0

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0,
                 use_rslora: bool = False):
        super().__init__(base)
        self.in_features, self.out_features = base.in_features, base.out_features  # k, d
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        k, d = self.in_features, self.out_features
        check_rank("r", r, d, k)
        self.r, self.alpha, self.use_rslora = r, alpha, use_rslora
        self.A = nn.Parameter(torch.empty(r, k, dtype=torch.float32, device=self.device))
        self.B = nn.Parameter(torch.zeros(d, r, dtype=torch.float32, device=self.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # like nn.Linear's own init, as in the paper's code

    @property
    def scaling(self) -> float:
        return scaling(self.alpha, self.r, self.use_rslora)

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, A): the two factors of ΔW. DyLoRA overrides this to use only the first b ranks."""
        return self.B, self.A

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling * B A, shape (d, k) like W0."""
        B, A = self.factors()
        return self.scaling * (B @ A)

    def lora_output(self, x: torch.Tensor) -> torch.Tensor:
        """ΔW x without forming the d x k matrix: (..., k) -> (..., r) -> (..., d)."""
        B, A = self.factors()
        return (self.dropout(x) @ A.T @ B.T) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)                       # W0 x (+ bias)
        if self.merged:
            return out                           # ΔW is inside W0 already
        return out + self.lora_output(x).to(out.dtype)

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight W0 + ΔW, (d, k): the wrapper still looks like a linear layer to
        code that reads weights instead of calling the module (nn.TransformerEncoderLayer's
        inference fast path does)."""
        return self.base.weight if self.merged else self.base.weight + self.delta_weight()

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    @torch.no_grad()
    def merge(self) -> None:
        """W0 <- W0 + ΔW."""
        self.check_merge(merging=True)
        self.base.weight += self.delta_weight().to(self.base.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W0 <- W0 - ΔW (up to float rounding)."""
        self.check_merge(merging=False)
        self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}, merged={self.merged}"


# The layer each variant of ``LoRAConfig`` builds. dora.py adds "dora" here itself (DoRALinear
# builds on LoRALinear), so the dependency points one way: dora imports lora, never the reverse.
LAYERS: dict[str, type[LoRALinear]] = {"lora": LoRALinear}


def make_layer(base: nn.Module, config: LoRAConfig) -> LoRALinear:
    variant = "dora" if config.use_dora else "lora"
    if variant not in LAYERS:
        raise ValueError(f"use_dora={config.use_dora!r} needs the {variant!r} layer, which registers itself when "
                         f"peft_lab.methods.{variant} is imported; registered layers: {sorted(LAYERS)}")
    return LAYERS[variant](base, config.r, config.alpha, config.dropout, config.use_rslora)


