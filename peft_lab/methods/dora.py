"""DoRA: Weight-Decomposed Low-Rank Adaptation (Liu et al., 2024).

DoRA splits a weight into a magnitude and a direction and lets LoRA move only the direction:

    W' = m * (W0 + scaling * B A) / ||W0 + scaling * B A||,     norms taken per output feature

``m`` (d values, trainable) starts as the per-output-feature norms of W0, so W' = W0 at the start.
The paper finds full fine-tuning changes magnitude and direction in a way LoRA alone cannot
mimic, and DoRA closes much of that gap for d extra parameters per layer. As the paper suggests
(section 4.3), the norm is treated as a constant in the backward pass, which saves memory.
W' is a plain matrix again, so DoRA merges into W0 like LoRA does. Enable it with
``LoRAConfig(use_dora=True)``.
"""
from __future__ import annotations

import torch
from torch import nn

from .lora import LAYERS, LoRALinear


class DoRALinear(LoRALinear):
    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0,
                 use_rslora: bool = False):
        super().__init__(base, r, alpha, dropout, use_rslora)
        with torch.no_grad():
            self.m = nn.Parameter(self.base.weight.float().norm(dim=1))  # (d,) one per output feature
        self.merge_scale = None  # m / ||W0 + ΔW|| at merge time, which unmerge needs to undo it

    def magnitude_scale(self) -> torch.Tensor:
        """m / ||W0 + ΔW||, (d,): how much each output row of the new direction is stretched."""
        with torch.no_grad():  # a constant for backprop, as the paper suggests
            norm = (self.base.weight + self.delta_weight()).norm(dim=1)  # (d,)
        return self.m / norm

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight W' = m * (W0 + ΔW) / ||W0 + ΔW||, (d, k)."""
        if self.merged:
            return self.base.weight
        return self.magnitude_scale()[:, None] * (self.base.weight + self.delta_weight())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        bias = self.base.bias
        base_out = out if bias is None else out - bias  # W0 x
        g = self.magnitude_scale()
        # bias + g * (W0 x + ΔW x) = W' x + bias, written as a correction to the base output
        return out + (g - 1) * base_out + g * self.lora_output(x).to(out.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        self.check_merge(merging=True)
        g = self.magnitude_scale()
        self.base.weight.copy_(g[:, None] * (self.base.weight + self.delta_weight()))  # W'
        self.merge_scale, self.merged = g, True

    @torch.no_grad()
    def unmerge(self) -> None:
        self.check_merge(merging=False)
        self.base.weight.copy_(self.base.weight / self.merge_scale[:, None] - self.delta_weight())  # W0
        self.merge_scale, self.merged = None, False

    def extra_repr(self) -> str:
        return super().extra_repr() + f", magnitude={tuple(self.m.shape)}"


LAYERS["dora"] = DoRALinear  # what LoRAConfig(use_dora=True) builds
