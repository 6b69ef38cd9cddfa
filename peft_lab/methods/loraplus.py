"""LoRA+: different learning rates for A and B (Hayou, Ghosh & Yu, 2024).

In ``ΔW = scaling * B A``, A starts random and B starts at zero, and with one learning rate for
both the update learns inefficiently when the layer is wide: the paper shows B should move
faster, and sets ``lr_B = ratio * lr_A`` (ratio around 16 for most models). Nothing about the
layers changes: LoRA+ is only an optimizer, built here as a factory that ``fit`` accepts::

    pl.fit(model, optimizer=pl.loraplus_optimizer)                      # ratio 16
    pl.fit(model, optimizer=functools.partial(pl.loraplus_optimizer, ratio=8))
"""
from __future__ import annotations

import torch
from torch import nn

from .base import check_non_negative, check_positive
from .lora import LoRALinear


def loraplus_optimizer(model: nn.Module, lr: float, ratio: float = 16,
                       weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW where every LoRA ``B`` trains at ``lr * ratio`` and everything else trainable at ``lr``.

    The ``B`` matrices are found by module type (the ``B`` of each ``LoRALinear``, DoRA's and
    DyLoRA's included), never by parameter name.
    """
    check_positive("lr", lr)
    check_positive("ratio", ratio)
    check_non_negative("weight_decay", weight_decay)
    B = [m.B for m in model.modules() if isinstance(m, LoRALinear) and m.B.requires_grad]
    if not B:
        raise ValueError("loraplus_optimizer needs trainable LoRA layers: apply pl.LoRAConfig "
                         "(or DoRA, DyLoRA, QLoRA) to the model first")
    fast = {id(p) for p in B}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in fast]
    groups = [{"params": B, "lr": lr * ratio}]
    if rest:  # A, the task head, DoRA's magnitudes: the base learning rate
        groups.insert(0, {"params": rest, "lr": lr})
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
