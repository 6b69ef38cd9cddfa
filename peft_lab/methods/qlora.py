"""QLoRA: LoRA on top of a 4-bit base model (Dettmers et al., 2023).

The frozen base is most of the memory, so QLoRA stores it in 4 bits: every linear layer of the
blocks (not the embeddings, norms or task head) becomes an ``NF4Linear`` (see ``nf4.py``:
NormalFloat levels, block-wise absmax, double quantisation), dequantised on the fly in each
forward pass. LoRA adapters in full precision are then trained on top, exactly as in ``lora.py``
(the paper puts them on every linear layer, which it finds necessary to match 16-bit tuning).
Gradients still flow through the dequantised W0 to the adapters; W0 itself never changes.

Merging: a 4-bit W0 cannot absorb ΔW, because rounding W0 + ΔW to 16 levels per block would
erase most of a fine-tuning update, whose entries are far below one NF4 step. So ``pl.merge``
refuses with a clear error rather than silently losing the adapter. To deploy a merged model,
``dequantize(model)`` turns the base back into float linears (float memory again), after which
``pl.merge`` is exact. ``pl.remove`` unwraps the adapters and leaves the 4-bit base in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture
from .base import Display, check_choice, find_targets, replace_module
from .lora import LINEAR_KINDS, LoRAConfig
from .nf4 import BLOCK_SIZES, NF4Linear


@dataclass
class QLoRAConfig(LoRAConfig):
    """QLoRA: the linear layers of the blocks stored in 4-bit NF4, LoRA in full precision on top.

    Attributes
    ----------
    r : int
        Rank r of each LoRA update ΔW = (α/r)·B A, as in ``LoRAConfig``.
        Allowed: an integer >= 1, at most min(d, k) of every targeted layer. Default: 8.
    alpha : float
        α, the numerator of the scaling α/r. Allowed: a number > 0. Default: 16.
    dropout : float
        Dropout probability on the input x of the low-rank path only.
        Allowed: 0 <= dropout < 1. Default: 0.0.
    target_modules : tuple of str or str
        Which linear layers get a LoRA update, read as in ``LoRAConfig``: a tuple of names,
        one regular expression over the whole module name, or "all-linear". Every linear
        layer but the head is quantised whatever this says; the paper adapts them all.
        Allowed: a non-empty tuple of names, a regular expression or "all-linear".
        Default: "all-linear".
    use_rslora : bool
        rsLoRA scaling α/√r instead of α/r. Allowed: True or False. Default: False.
    use_dora : bool
        DoRA on top of the 4-bit base (magnitude and direction learned apart).
        Allowed: True or False. Default: False.
    block_size : int
        Weights that share one absmax constant (the paper's block size 64); the constants
        cost 32/block_size extra bits per weight. Allowed: a power of two from 32 to 4096
        (nf4.BLOCK_SIZES). Default: 64.
    double_quant : bool
        Double quantisation: store the absmax constants in 8 bits as well (the paper: about
        0.37 bits per weight saved at block size 64). Allowed: True or False. Default: True.
    double_quant_block_size : int
        Absmax constants that share one fp32 second-level constant (the paper's 256).
        Allowed: a power of two from 32 to 4096 (nf4.BLOCK_SIZES). Default: 256.
    """

    target_modules: tuple | str = "all-linear"  # the paper: adapters on every linear layer
    block_size: int = 64               # weights per absmax constant: 32/64 = 0.5 extra bits per weight
    double_quant: bool = True          # store the absmax constants in 8 bits too (≈ 0.37 bits saved)
    double_quant_block_size: int = 256  # absmax constants per fp32 second-level constant

    method = "qlora"
    quantizes_base = True

    def __post_init__(self):
        super().__post_init__()
        check_choice("block_size", self.block_size, BLOCK_SIZES)
        check_choice("double_quant", self.double_quant, (True, False))
        check_choice("double_quant_block_size", self.double_quant_block_size, BLOCK_SIZES)

    labels: ClassVar[dict[str, Display]] = {"qlora": Display("#9ecae1", "QLoRA", "QLoRA")}

    @classmethod
    def example(cls, arch: Architecture, r: int = 8, bottleneck: int = 64, num_virtual_tokens: int = 20) -> "QLoRAConfig":
        return cls(r=r, alpha=2 * r)   # on every linear layer, as the paper

    def apply(self, model: nn.Module) -> None:
        find_targets(model, self.target_modules, kind=LINEAR_KINDS)  # a bad target fails before any change
        quantize_base(model, self)
        super().apply(model)   # LoRA's layers, over the 4-bit linears

    def plan_activations(self, arch: Architecture, plan) -> None:
        super().plan_activations(arch, plan)
        plan.quantized = True   # 4-bit frozen linear weights


def quantize_base(model: nn.Module, config: QLoRAConfig) -> None:
    """Replace every ``nn.Linear`` except the head by an ``NF4Linear`` (already 4-bit ones stay)."""
    names = find_targets(model, "all-linear", kind=LINEAR_KINDS,
                         field="QLoRA's 4-bit base (every linear layer but the head)")
    for name in names:
        module = model.get_submodule(name)
        if isinstance(module, nn.Linear):
            replace_module(model, name, NF4Linear.from_linear(
                module, block_size=config.block_size, double_quant=config.double_quant,
                double_quant_block_size=config.double_quant_block_size))


@torch.no_grad()
def dequantize(model: nn.Module) -> nn.Module:
    """Turn every ``NF4Linear`` into an fp32 ``nn.Linear`` holding the dequantised W0 (frozen)."""
    for name, module in [(n, m) for n, m in model.named_modules() if isinstance(m, NF4Linear)]:
        linear = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None,
                           device=module.codes.device)
        linear.weight.copy_(module.dequantize())
        if module.bias is not None:
            linear.bias.copy_(module.bias)
        linear.requires_grad_(False)
        replace_module(model, name, linear)
    return model
