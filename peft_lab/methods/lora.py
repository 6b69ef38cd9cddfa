"""LoRA: Low-Rank Adaptation (Hu et al., 2021), with the rsLoRA scaling (Kalajdzievski, 2023).

A frozen linear layer ``h = W0 x`` (W0 is d x k) becomes

    h = W0 x + scaling * B A x,     A: r x k (random),  B: d x r (zeros),  scaling = alpha / r

so the update ``ΔW = scaling * B A`` has rank <= r, costs r (d + k) parameters instead of d k,
and is exactly zero at the start (B = 0): training begins from the pretrained model.
rsLoRA uses ``scaling = alpha / sqrt(r)``, which keeps the update's size stable as r grows.
After training, ``merge`` adds ΔW into W0, so inference costs exactly what the base model costs.
``LowRankLinear`` is what every LoRA variant shares (DoRA, DyLoRA, AdaLoRA, QLoRA's 4-bit base).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import (PeftConfig, PeftLayer, check_bool, check_positive, check_positive_int,
                   check_probability, check_targets, find_targets, freeze_all_but, head_is_new,
                   peft_layers, wrap_targets)
from .nf4 import NF4Linear

LINEAR_KINDS = (nn.Linear, NF4Linear)  # what the LoRA family wraps: float linears or 4-bit ones


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

    @property
    def scaling(self) -> float:
        return self.alpha / (math.sqrt(self.r) if self.use_rslora else self.r)


def check_common_fields(config) -> None:
    """alpha, dropout and target_modules mean the same in every LoRA variant's config."""
    check_positive("alpha", config.alpha)
    check_probability("dropout", config.dropout)
    config.target_modules = check_targets("target_modules", config.target_modules)


def check_rank(name: str, r: int, base: nn.Module) -> None:
    d, k = base.out_features, base.in_features
    if r > min(d, k):
        raise ValueError(f"{name}={r} exceeds the layer's rank limit min(d={d}, k={k})={min(d, k)}")


class LowRankLinear(PeftLayer):
    """``h = W0 x + ΔW x`` around a linear layer; ``merge`` folds ΔW into W0 and ``unmerge`` takes
    it out again. Subclasses say what ΔW is: ``delta_weight()`` (d x k) and ``lora_output(x)``
    (ΔW applied to x without forming the d x k matrix)."""

    def __init__(self, base: nn.Module, dropout: float = 0.0):
        super().__init__(base)
        self.in_features, self.out_features = base.in_features, base.out_features  # k, d
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    @property
    def device(self) -> torch.device:
        return next(itertools.chain(self.base.parameters(), self.base.buffers())).device

    @property
    def mergeable(self) -> bool:
        # A 4-bit base cannot absorb ΔW: rounding W0 + ΔW back to 16 levels per block erases most
        # of a fine-tuning update, whose entries are far smaller than one NF4 step. So merging
        # is refused (QLoRA: dequantize the base first, see qlora.dequantize).
        return not isinstance(self.base, NF4Linear)

    @property
    def unmergeable_reason(self) -> str:
        return (f"{type(self).__name__} over a 4-bit NF4Linear base (rounding W0 + ΔW back to 4 bits "
                f"would erase ΔW; turn the base into float first with pl.methods.qlora.dequantize(model))")

    def base_weight(self) -> torch.Tensor:
        """W0, (d, k); a 4-bit base is dequantised on the fly."""
        return self.base.dequantize() if isinstance(self.base, NF4Linear) else self.base.weight

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight W0 + ΔW, (d, k): the wrapper still looks like a linear layer to
        code that reads weights instead of calling the module (nn.TransformerEncoderLayer's
        inference fast path does)."""
        return self.base_weight() if self.merged else self.base_weight() + self.delta_weight()

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def delta_weight(self) -> torch.Tensor:
        raise NotImplementedError

    def lora_output(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + self.lora_output(x).to(out.dtype)

    def check_merge(self, merging: bool) -> None:
        if not self.mergeable:
            raise ValueError(f"{self.unmergeable_reason} cannot be merged into the base weights")
        if self.merged == merging:
            raise ValueError(f"this {type(self).__name__} is {'already' if merging else 'not'} merged")

    @torch.no_grad()
    def merge(self) -> None:
        self.check_merge(merging=True)
        self.base.weight += self.delta_weight().to(self.base.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        self.check_merge(merging=False)
        self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
        self.merged = False


class LoRALinear(LowRankLinear):
    """``base(x) + scaling * B(A(dropout(x)))`` around any linear-like module."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0,
                 use_rslora: bool = False):
        super().__init__(base, dropout)
        check_rank("r", r, base)
        k, d = self.in_features, self.out_features
        self.r, self.alpha, self.use_rslora = r, alpha, use_rslora
        self.A = nn.Parameter(torch.empty(r, k, dtype=torch.float32, device=self.device))
        self.B = nn.Parameter(torch.zeros(d, r, dtype=torch.float32, device=self.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # like nn.Linear's own init, as in the paper's code

    @property
    def scaling(self) -> float:
        return self.alpha / (math.sqrt(self.r) if self.use_rslora else self.r)

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, A): the two factors of ΔW. DyLoRA overrides this to use only the first b ranks."""
        return self.B, self.A

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling * B A, shape (d, k) like W0."""
        B, A = self.factors()
        return self.scaling * (B @ A)

    def lora_output(self, x: torch.Tensor) -> torch.Tensor:
        B, A = self.factors()
        return (self.dropout(x) @ A.T @ B.T) * self.scaling  # (..., k) -> (..., r) -> (..., d)

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


def inject(model: nn.Module, config, make) -> None:
    """The LoRA family's shared step: wrap the targets, train only what was added (+ head)."""
    names = find_targets(model, config.target_modules, kind=LINEAR_KINDS)
    wrap_targets(model, names, lambda module, name: make(module, config))
    added = [p for _, layer in peft_layers(model) for p in layer.added_parameters()]
    freeze_all_but(model, added, train_head=head_is_new(model))


def apply(model: nn.Module, config: LoRAConfig) -> None:
    inject(model, config, make_layer)
