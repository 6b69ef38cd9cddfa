"""LoRA: Low-Rank Adaptation (Hu et al., 2021), with the rsLoRA scaling (Kalajdzievski, 2023).

A frozen linear layer ``h = W0 x`` (W0 is d x k) becomes

    h = W0 x + scaling * B A x,     A: r x k (random),  B: d x r (zeros),  scaling = alpha / r

so the update ``ΔW = scaling * B A`` has rank <= r, costs r (d + k) parameters instead of d k,
and is exactly zero at the start (B = 0): training begins from the pretrained model.
rsLoRA uses ``scaling = alpha / sqrt(r)``, which keeps the update's size stable as r grows.
After training, ``merge`` adds ΔW into W0, so inference costs exactly what the base model costs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import (PeftConfig, PeftLayer, check_positive, check_positive_int, check_probability,
                   find_targets, freeze_all_but, head_is_new, normalize_targets, peft_layers,
                   wrap_targets)


@dataclass
class LoRAConfig(PeftConfig):
    r: int = 8                                   # rank of the update; r << min(d, k)
    alpha: float = 16                            # update scale numerator: scaling = alpha / r
    dropout: float = 0.0                         # dropout on the input of the low-rank path only
    target_modules: tuple = ("q_proj", "v_proj")  # the paper's default: queries and values
    use_rslora: bool = False                     # scaling = alpha / sqrt(r) instead of alpha / r
    use_dora: bool = False                       # DoRA: learn magnitude and direction separately

    method = "lora"

    def __post_init__(self):
        check_positive_int("r", self.r)
        check_positive("alpha", self.alpha)
        check_probability("dropout", self.dropout)
        self.target_modules = normalize_targets("target_modules", self.target_modules)

    @property
    def scaling(self) -> float:
        return self.alpha / (math.sqrt(self.r) if self.use_rslora else self.r)


class LoRALinear(PeftLayer):
    """``base(x) + scaling * B(A(dropout(x)))`` around any linear-like module with a weight."""

    mergeable = True

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0,
                 use_rslora: bool = False):
        super().__init__(base)
        k, d = base.in_features, base.out_features
        if r > min(d, k):
            raise ValueError(f"r={r} exceeds the layer's rank limit min(d={d}, k={k})={min(d, k)}")
        self.r, self.alpha = r, alpha
        self.scaling = alpha / (math.sqrt(r) if use_rslora else r)
        weight = self.base_weight()
        self.A = nn.Parameter(torch.empty(r, k, dtype=torch.float32, device=weight.device))
        self.B = nn.Parameter(torch.zeros(d, r, dtype=torch.float32, device=weight.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # like nn.Linear's own init, as in the paper's code
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def base_weight(self) -> torch.Tensor:
        return self.base.weight

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling * B A, shape (d, k) like W0."""
        return self.scaling * (self.B @ self.A)

    def lora_output(self, x: torch.Tensor) -> torch.Tensor:
        return (self.dropout(x) @ self.A.T @ self.B.T) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + self.lora_output(x).to(out.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            raise ValueError("this LoRA layer is already merged")
        self.base.weight += self.delta_weight().to(self.base.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if not self.merged:
            raise ValueError("this LoRA layer is not merged")
        self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}, merged={self.merged}"


def make_layer(base: nn.Module, config: LoRAConfig) -> LoRALinear:
    if config.use_dora:
        from .dora import DoRALinear  # imported where used: DoRA builds on this module
        cls = DoRALinear
    else:
        cls = LoRALinear
    return cls(base, config.r, config.alpha, config.dropout, config.use_rslora)


def inject(model: nn.Module, config, make) -> None:
    """The LoRA family's shared step: wrap the targets, train only what was added (+ head)."""
    names = find_targets(model, config.target_modules)
    wrap_targets(model, names, lambda module, name: make(module, config))
    added = [p for _, layer in peft_layers(model) for p in layer.added_parameters()]
    freeze_all_but(model, added, train_head=head_is_new(model))


def apply(model: nn.Module, config: LoRAConfig) -> None:
    inject(model, config, make_layer)
