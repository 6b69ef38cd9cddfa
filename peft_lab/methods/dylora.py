"""DyLoRA: one training run, every rank up to r usable (Valipour et al., 2023).

LoRA's rank has to be chosen before training, and a model trained at r = 8 does not work when
cut to r = 2. DyLoRA trains the factors so that any prefix of them is a good update: at every
step it samples a rank b in [min_r, r] and uses only the first b rows of A and columns of B,

    h = W0 x + (alpha / b) * B[:, :b] A[:b, :] x,

so the leading components learn to carry the most useful directions (like nested dropout).
After training, ``set_rank(model, b)`` evaluates the same weights at rank b, without retraining.
The paper also offers a "frozen" mode that updates only the b-th row/column; here all first b do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture, select
from .base import Display, PeftConfig, TrainingHook, check_positive_int, find_targets, inject
from .lora import LINEAR_KINDS, LoRALinear, check_common_fields, low_rank_parameters, scaling


@dataclass
class DyLoRAConfig(PeftConfig):
    """DyLoRA: LoRA trained so that every rank b in [min_r, r] works (Valipour et al., 2023).

    Attributes
    ----------
    r : int
        The largest rank (the paper's r_max): A is r x k and B is d x r, as in LoRA, and
        ``set_rank(model, b)`` later uses only their first b components.
        Allowed: an integer >= min_r, at most min(d, k) of every targeted layer. Default: 8.
    alpha : float
        α: the update at the active rank b is scaled by α/b, as in the paper.
        Allowed: a number > 0. Default: 16.
    dropout : float
        Dropout probability on the input x of the low-rank path only.
        Allowed: 0 <= dropout < 1. Default: 0.0.
    target_modules : tuple of str or str
        Which linear layers get an update, read as in ``LoRAConfig``: a tuple of names (full
        names or their last parts), one regular expression over the whole module name, or
        "all-linear". Allowed: a non-empty tuple of names, a regular expression or
        "all-linear". Default: ("q_proj", "v_proj").
    min_r : int
        The smallest rank sampled in training (the paper's r_min); each step draws b
        uniformly from [min_r, r]. Allowed: an integer with 1 <= min_r <= r. Default: 1.
    """

    r: int = 8                                   # the largest rank; every b in [min_r, r] is trained
    alpha: float = 16                            # scaling = alpha / b for the active rank b (paper)
    dropout: float = 0.0                         # dropout on the input of the low-rank path only
    target_modules: tuple = ("q_proj", "v_proj")  # as for LoRA
    min_r: int = 1                               # the smallest rank sampled in training

    method = "dylora"

    def __post_init__(self):
        check_positive_int("r", self.r)
        check_positive_int("min_r", self.min_r)
        if self.min_r > self.r:
            raise ValueError(f"min_r={self.min_r} must be <= r={self.r}: ranks are sampled from [min_r, r]")
        check_common_fields(self)

    labels: ClassVar[dict[str, Display]] = {"dylora": Display("#80cdc1", "DyLoRA", "DyLoRA")}

    def apply(self, model: nn.Module) -> None:
        names = find_targets(model, self.target_modules, kind=LINEAR_KINDS)
        inject(model, names, lambda module, name: DyLoRALinear(module, self.r, self.alpha, self.dropout))

    def training_hooks(self, model: nn.Module) -> list[TrainingHook]:
        return [RankSampler(self)]

    def adapter_state(self, model: nn.Module) -> dict:
        return {"rank": get_rank(model)}  # a model saved at a truncated rank loads at that rank

    def restore_state(self, model: nn.Module, state: dict) -> None:
        if "rank" in state:
            set_rank(model, state["rank"])

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """A (r x k) + B (d x r) per target at the largest rank r, as LoRA."""
        return low_rank_parameters(arch, self.target_modules, "r", self.r, self.method,
                                   per_target=lambda d, k: self.r * (d + k)), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.adapt_linears(select(arch, self.target_modules), ("lora", self.r))
        plan.lora_dropout = self.dropout


class DyLoRALinear(LoRALinear):
    """A LoRA layer that uses only its first ``rank`` components (``rank`` = r unless set)."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0):
        super().__init__(base, r, alpha, dropout)
        self.rank = r  # the active rank b

    @property
    def scaling(self) -> float:
        return scaling(self.alpha, self.rank)  # α/b at the active rank b

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.rank
        return self.B[:, :b], self.A[:b, :]  # (d, b), (b, k): the first b components

    def extra_repr(self) -> str:
        return f"r={self.r}, rank={self.rank}, alpha={self.alpha}, scaling={self.scaling:g}, merged={self.merged}"


def dylora_layers(model: nn.Module) -> list[DyLoRALinear]:
    layers = [m for m in model.modules() if isinstance(m, DyLoRALinear)]
    if not layers:
        raise ValueError("this model has no DyLoRA layers: apply pl.DyLoRAConfig(...) first")
    return layers


def set_rank(model: nn.Module, b: int) -> nn.Module:
    """Evaluate (or train) every DyLoRA layer at rank b: the first b components of A and B."""
    layers = dylora_layers(model)
    r = min(layer.r for layer in layers)
    if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= r:
        raise ValueError(f"rank b={b!r} must be an integer in [1, r={r}]")
    if any(layer.merged for layer in layers):
        raise ValueError("set_rank on a merged model would change ΔW under the merged weights: unmerge first")
    for layer in layers:
        layer.rank = b
    return model


def get_rank(model: nn.Module) -> int:
    return dylora_layers(model)[0].rank


class RankSampler(TrainingHook):
    """Draw the rank b of the next step uniformly from [min_r, r]; back to full rank at the end."""

    def __init__(self, config: DyLoRAConfig):
        self.config = config

    def _sample(self, model: nn.Module) -> None:
        b = int(torch.randint(self.config.min_r, self.config.r + 1, ()))  # global RNG: fit seeds it
        set_rank(model, b)

    def on_train_begin(self, model: nn.Module, total_steps: int) -> None:
        self._sample(model)

    def after_step(self, model: nn.Module, step: int) -> None:
        self._sample(model)

    def on_train_end(self, model: nn.Module) -> None:
        set_rank(model, self.config.r)
