"""FLOPs of LoRA, counted honestly: what it adds, what it saves, and what merging gives back.

The source chapter claims LoRA makes the matrix multiplications "N times cheaper". It does not:
LoRA still computes ``W0 x``. Per token and per adapted linear layer (W0: d x k, one
multiply-add = 2 FLOPs):

                        full fine-tuning      LoRA (unmerged)               frozen, not adapted
    forward             2dk                   2dk + 2r(d + k) + 2d          2dk
    backward, input     2dk   (W0ᵀ dy)        2dk + 2r(d + k)               2dk
    backward, weights   2dk   (dy xᵀ)         2r(d + k)   (dB and dA only)  0

(LoRA's ``+ 2d``: scaling the low-rank output and adding it.) So a training step of full
fine-tuning costs 6dk, LoRA's 4dk + 6r(d + k): the saving is the weight gradient of W0, about a
third of the step, not a factor of d/r. The forward pass costs slightly *more* until the
update is merged (``W = W0 + s·BA``); merged inference costs exactly the base model's 2dk.

``model_flops`` sums this over every linear layer inside the blocks of an ``Architecture``. It
leaves out the attention scores (QKᵀ and the weighted sum of V), the embeddings and the head:
they cost the same under every method. Input gradients are counted through every layer (exact
except for the layers before the first trainable one, which need none).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..checks import check_positive_int
from .arch import Architecture, select
from .presets import get


@dataclass(frozen=True)
class Flops:
    """FLOPs per token of one training step, by part."""
    forward: int
    backward_input: int     # gradients w.r.t. the inputs, to reach earlier layers
    backward_weight: int    # gradients of the trainable weights

    @property
    def backward(self) -> int:
        return self.backward_input + self.backward_weight

    @property
    def step(self) -> int:
        return self.forward + self.backward

    def __add__(self, other: Flops) -> Flops:
        return Flops(self.forward + other.forward, self.backward_input + other.backward_input,
                     self.backward_weight + other.backward_weight)


ZERO = Flops(0, 0, 0)


def linear_flops(d: int, k: int, r: int | None = None, trainable: bool = True) -> Flops:
    """One linear layer W0 (d x k) per token: full fine-tuning (``r=None, trainable=True``),
    frozen (``trainable=False``) or LoRA of rank ``r`` on a frozen W0."""
    for name, value in (("d", d), ("k", k)) + ((("r", r),) if r is not None else ()):
        check_positive_int(name, value)
    base = 2 * d * k
    if r is None:
        return Flops(base, base, base if trainable else 0)
    low_rank = 2 * r * (d + k)                       # A x (2rk) and B (A x) (2dr)
    return Flops(base + low_rank + 2 * d, base + low_rank, low_rank)


@dataclass(frozen=True)
class FlopsReport:
    """Per token, summed over the linear layers of the blocks."""
    arch: str
    r: int
    full: Flops                 # full fine-tuning: every weight trains
    lora: Flops                 # LoRA on the targets, everything else frozen
    inference_base: int         # forward of the base model (= full.forward)
    inference_unmerged: int     # forward with the LoRA path computed separately (= lora.forward)
    inference_merged: int       # forward after W = W0 + s·BA: the base model's cost

    @property
    def step_ratio(self) -> float:
        """LoRA's training step relative to full fine-tuning's (≈ 2/3 when r ≪ d)."""
        return self.lora.step / self.full.step

    @property
    def forward_overhead(self) -> float:
        """Extra forward FLOPs of unmerged LoRA relative to the base model."""
        return self.inference_unmerged / self.inference_base - 1


def model_flops(arch, config) -> FlopsReport:
    """FLOPs per token of full fine-tuning vs LoRA (``config.r``, ``config.target_modules``) on ``arch``."""
    arch: Architecture = get(arch)
    r = check_positive_int("r", config.r)
    targets = {(m.stack, m.linear.name): set(m.layers) for m in select(arch, config.target_modules)}
    full = lora = ZERO
    for i, stack in enumerate(arch.stacks):
        for lin in stack.linears:
            d, k = lin.out_features, lin.in_features
            adapted = len(targets.get((i, lin.name), ()))
            full += _times(linear_flops(d, k), stack.n_layers)
            lora += _times(linear_flops(d, k, r), adapted)
            lora += _times(linear_flops(d, k, trainable=False), stack.n_layers - adapted)
    return FlopsReport(arch.name, r, full, lora, full.forward, lora.forward, full.forward)


def _times(f: Flops, n: int) -> Flops:
    return Flops(n * f.forward, n * f.backward_input, n * f.backward_weight)
