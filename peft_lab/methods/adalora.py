"""AdaLoRA: the rank budget moves to the layers that need it (Zhang et al., 2023, ICLR).

LoRA gives every layer the same rank r. AdaLoRA writes each update in SVD form,
``ΔW = scaling * P Λ Q`` (P: d x r, Λ: r singular values, Q: r x k), keeps P and Q close to
orthogonal with a regulariser ``||PᵀP - I||² + ||QQᵀ - I||²``, and scores every triplet
(P[:, i], λ_i, Q[i, :]) by the sensitivity |θ ∇θ| of its entries, smoothed over steps (β1) and
weighted by its uncertainty (β2). A cubic schedule shrinks the total rank from init_r per layer
to target_r per layer; at each masking step the least important singular values, over all
layers together, are set to zero. Layers that matter keep more rank: ``rank_pattern(model)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture, select
from .base import (Display, PeftConfig, PeftLayer, TrainingHook, check_non_negative, check_positive_int,
                   check_probability, find_targets, inject, peft_layers)
from .lora import LINEAR_KINDS, LoRALinear, check_common_fields, check_rank, low_rank_parameters, scaling


@dataclass
class AdaLoRAConfig(PeftConfig):
    """AdaLoRA: ``ΔW = (alpha / init_r) · P Λ Q`` with a rank budget that moves between layers.

    Attributes
    ----------
    init_r : int
        Rank r every layer starts with: P is d x r, Λ has r singular values, Q is r x k. The
        total, init_r x layers, is the paper's initial budget b(0).
        Allowed: an integer >= target_r, at most min(d, k) of every targeted layer. Default: 12.
    target_r : int
        Average rank per layer left at the end: target_r x layers is the final budget b(T).
        Allowed: an integer with 1 <= target_r <= init_r. Default: 4.
    alpha : float
        α: ΔW is scaled by α/init_r, fixed while singular values are masked.
        Allowed: a number > 0. Default: 16.
    dropout : float
        Dropout probability on the input x of the low-rank path only.
        Allowed: 0 <= dropout < 1. Default: 0.0.
    target_modules : tuple of str or str
        Which linear layers get an update, read as in ``LoRAConfig``: a tuple of names, one
        regular expression over the whole module name, or "all-linear". The budget can only
        move between the layers chosen here, hence many. Allowed: a non-empty tuple of names,
        a regular expression or "all-linear". Default: "all-linear".
    tinit : float
        The paper's t_i as a fraction of the training steps: the budget stays at b(0) while
        the importance scores warm up. Allowed: 0 <= tinit < 1, tinit + tfinal < 1.
        Default: 0.1.
    tfinal : float
        The paper's t_f as a fraction of the training steps: the last steps train at the
        final budget b(T) with the rank pattern fixed. Allowed: 0 <= tfinal < 1,
        tinit + tfinal < 1. Default: 0.3.
    deltaT : int
        ΔT, steps between two maskings while the budget shrinks (the paper uses 10-100 on
        long runs). Allowed: an integer >= 1. Default: 1.
    beta1 : float
        β1, smoothing of the sensitivity |θ ∇θ| (an exponential moving average).
        Allowed: 0 <= beta1 < 1. Default: 0.85.
    beta2 : float
        β2, smoothing of the sensitivity's uncertainty |I - Ī|.
        Allowed: 0 <= beta2 < 1. Default: 0.85.
    orth_reg_weight : float
        γ, weight of the regulariser ||PᵀP - I||² + ||QQᵀ - I||² that keeps P and Q near
        orthogonal (averaged over layers, so one γ suits 4 or 400 adapted layers).
        Allowed: a number >= 0 (0 switches it off). Default: 0.5.
    """

    init_r: int = 12                   # rank every layer starts with (the budget's upper end)
    target_r: int = 4                  # average rank per layer left at the end
    alpha: float = 16                  # scaling = alpha / init_r, fixed while ranks are masked
    dropout: float = 0.0               # dropout on the input of the low-rank path only
    target_modules: tuple | str = "all-linear"  # many layers: budget moves only between layers that have one
    tinit: float = 0.1                 # fraction of steps at the full budget (importance warms up)
    tfinal: float = 0.3                # fraction of steps at the final budget (masks fixed)
    deltaT: int = 1                    # steps between masking (the paper uses 10-100 on long runs)
    beta1: float = 0.85                # EMA of the sensitivity |θ ∇θ|
    beta2: float = 0.85                # EMA of its uncertainty |I - Ī|
    orth_reg_weight: float = 0.5       # γ, weight of the orthogonality regulariser (averaged over
    # layers, so the same γ suits a model with 4 or 400 adapted layers)

    method = "adalora"

    def __post_init__(self):
        check_positive_int("init_r", self.init_r)
        check_positive_int("target_r", self.target_r)
        if self.target_r > self.init_r:
            raise ValueError(f"target_r={self.target_r} must be <= init_r={self.init_r}: the budget only shrinks")
        check_common_fields(self)
        check_probability("tinit", self.tinit)
        check_probability("tfinal", self.tfinal)
        if self.tinit + self.tfinal >= 1:
            raise ValueError(f"tinit={self.tinit!r} and tfinal={self.tfinal!r} add up to {self.tinit + self.tfinal:g}; "
                             f"the sum must be < 1 (fractions of the training steps), or no steps are left "
                             f"for the budget to shrink")
        check_positive_int("deltaT", self.deltaT)
        check_probability("beta1", self.beta1)
        check_probability("beta2", self.beta2)
        check_non_negative("orth_reg_weight", self.orth_reg_weight)

    labels: ClassVar[dict[str, Display]] = {"adalora": Display("#3f51b5", "AdaLoRA", "AdaLoRA")}

    def apply(self, model: nn.Module) -> None:
        names = find_targets(model, self.target_modules, kind=LINEAR_KINDS)
        inject(model, names, lambda module, name: AdaLoRALinear(module, self.init_r, self.alpha, self.dropout))

    def training_hooks(self, model: nn.Module) -> list[TrainingHook]:
        return [RankAllocator(self)]

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """P (d x r) + Λ (r) + Q (r x k) per target at r = init_r. HF PEFT also lists a constant
        ``ranknum`` scalar per layer as trainable (one more per target); it is not learned, not counted."""
        return low_rank_parameters(arch, self.target_modules, "init_r", self.init_r, self.method,
                                   per_target=lambda d, k: self.init_r * (d + k + 1)), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.adapt_linears(select(arch, self.target_modules), ("adalora", self.init_r))
        plan.lora_dropout = self.dropout


class AdaLoRALinear(PeftLayer):
    """``base(x) + scaling * P diag(Λ) Q x``; ``mask`` records which singular values are kept.

    Only ΔW differs from LoRA's layer: the forward pass, the effective weight and merging are
    ``LoRALinear``'s, borrowed below (an AdaLoRA layer has no A and B, so it is not a LoRALinear)."""

    linear_update = True
    forward, weight, bias, merge, unmerge = (LoRALinear.forward, LoRALinear.weight, LoRALinear.bias,
                                             LoRALinear.merge, LoRALinear.unmerge)

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0):
        super().__init__(base)
        self.in_features, self.out_features = base.in_features, base.out_features  # k, d
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        k, d = self.in_features, self.out_features
        check_rank("init_r", r, d, k)
        self.r, self.alpha, self.scaling = r, alpha, scaling(alpha, r)  # α / init_r, fixed while masking
        self.P = nn.Parameter(torch.randn(d, r, device=self.device) * 0.02)  # left singular vectors
        self.Lambda = nn.Parameter(torch.zeros(r, device=self.device))       # Λ = 0: ΔW = 0 at the start
        self.Q = nn.Parameter(torch.randn(r, k, device=self.device) * 0.02)  # right singular vectors
        self.register_buffer("mask", torch.ones(r, dtype=torch.bool, device=self.device))  # saved with the adapter

    @property
    def rank(self) -> int:
        return int(self.mask.sum())

    def delta_weight(self) -> torch.Tensor:
        return self.scaling * (self.P * self.Lambda) @ self.Q  # (d, r) * (r,) @ (r, k) -> (d, k)

    def lora_output(self, x: torch.Tensor) -> torch.Tensor:
        return (self.dropout(x) @ self.Q.T * self.Lambda) @ self.P.T * self.scaling  # (..., r) -> (..., d)

    def orthogonality(self) -> torch.Tensor:
        eye = torch.eye(self.r, device=self.P.device)
        return ((self.P.T @ self.P - eye) ** 2).sum() + ((self.Q @ self.Q.T - eye) ** 2).sum()

    def extra_repr(self) -> str:
        return f"init_r={self.r}, rank={self.rank}, alpha={self.alpha}, scaling={self.scaling:g}, merged={self.merged}"


def adalora_layers(model: nn.Module) -> list[tuple[str, AdaLoRALinear]]:
    return [(n, m) for n, m in peft_layers(model) if isinstance(m, AdaLoRALinear)]


def rank_pattern(model: nn.Module) -> dict[str, int]:
    """Which layer kept how many singular values: {module name: rank}."""
    return {name: layer.rank for name, layer in adalora_layers(model)}


def budget(step: int, total_steps: int, config: AdaLoRAConfig, n_layers: int) -> int:
    """Total rank allowed after ``step``: cubic decrease from init_r·n to target_r·n (paper, eq. 12)."""
    b0, bT = config.init_r * n_layers, config.target_r * n_layers
    t_init, t_final = round(config.tinit * total_steps), round(config.tfinal * total_steps)
    if step < t_init:
        return b0
    if step >= total_steps - t_final:
        return bT
    progress = (step - t_init) / (total_steps - t_final - t_init)  # in [0, 1)
    return int(bT + (b0 - bT) * (1 - progress) ** 3)


class Sensitivity:
    """Smoothed importance of every entry of one parameter: s = Ī * Ū (paper, eqs. 8-10)."""

    def __init__(self, p: torch.Tensor):
        self.I_bar = torch.zeros_like(p)  # EMA of |θ ∇θ|
        self.U_bar = torch.zeros_like(p)  # EMA of |I - Ī|

    def update(self, p: torch.Tensor, beta1: float, beta2: float) -> None:
        importance = (p * p.grad).abs() if p.grad is not None else torch.zeros_like(p)  # I = |θ ∇θ|
        self.I_bar.mul_(beta1).add_((1 - beta1) * importance)
        self.U_bar.mul_(beta2).add_((1 - beta2) * (importance - self.I_bar).abs())

    def score(self) -> torch.Tensor:
        return self.I_bar * self.U_bar


class RankAllocator(TrainingHook):
    """Adds the orthogonality loss; after every optimizer step, updates the importance scores and
    zeroes the least important singular values so the kept total follows ``budget``."""

    def __init__(self, config: AdaLoRAConfig):
        self.config = config

    def on_train_begin(self, model: nn.Module, total_steps: int) -> None:
        self.layers = adalora_layers(model)
        if not self.layers:
            raise ValueError("this model has no AdaLoRA layers: apply pl.AdaLoRAConfig(...) first")
        c, self.total_steps = self.config, total_steps
        if total_steps - round(c.tinit * total_steps) - round(c.tfinal * total_steps) < 1:
            raise ValueError(f"{total_steps} steps leave no step for the budget to shrink with "
                             f"tinit={c.tinit}, tfinal={c.tfinal}; train longer or lower them")
        self.t_init = round(c.tinit * total_steps)
        self.t_final_start = total_steps - round(c.tfinal * total_steps)
        self.fixed = False
        self.scores = {name: [Sensitivity(p) for p in (layer.P, layer.Lambda, layer.Q)]
                       for name, layer in self.layers}

    def extra_loss(self, model: nn.Module, step: int) -> torch.Tensor | None:
        if not self.config.orth_reg_weight:
            return None
        reg = torch.stack([layer.orthogonality() for _, layer in self.layers]).mean()
        return self.config.orth_reg_weight * reg

    def triplet_scores(self, name: str) -> torch.Tensor:
        """S_i = s(λ_i) + mean_j s(P_ji) + mean_j s(Q_ij), one score per singular value, (r,)."""
        s_P, s_Lambda, s_Q = (s.score() for s in self.scores[name])
        return s_Lambda + s_P.mean(dim=0) + s_Q.mean(dim=1)

    @torch.no_grad()
    def after_step(self, model: nn.Module, step: int) -> None:
        # The values after the step times the gradients that made it (as the reference code does):
        # a pruned λ_i is 0 in the forward pass yet has a gradient, so it can earn its way back.
        final = step >= self.t_final_start
        if not final:
            for name, layer in self.layers:
                for s, p in zip(self.scores[name], (layer.P, layer.Lambda, layer.Q)):
                    s.update(p, self.config.beta1, self.config.beta2)
        if step >= self.t_init and not self.fixed and (final or (step - self.t_init) % self.config.deltaT == 0):
            self.mask_to(budget(step, self.total_steps, self.config, len(self.layers)))
            self.fixed = final  # from the final phase on, the rank pattern no longer changes
        for _, layer in self.layers:
            layer.Lambda.mul_(layer.mask)  # T(Λ): a masked singular value is zero

    def mask_to(self, total: int) -> None:
        """Keep the ``total`` most important triplets over all layers, mask the others."""
        scores = torch.cat([self.triplet_scores(name) for name, _ in self.layers])
        keep = torch.zeros_like(scores, dtype=torch.bool)
        keep[torch.topk(scores, total).indices] = True
        for (_, layer), kept in zip(self.layers, keep.split([layer.r for _, layer in self.layers])):
            layer.mask.copy_(kept)
