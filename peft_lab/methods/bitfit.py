"""BitFit (Ben Zaken et al., 2022, "BitFit: Simple Parameter-efficient Fine-tuning for
Transformer-based Masked Language-models").

Where the vectors go: **nowhere new**. Nothing is added; every weight matrix stays frozen and
only the existing bias vectors train -- of the linear layers and of the LayerNorms -- plus the
task head. On a transformer that is about 0.1 % of the parameters (for the tiny model, a little
more), and the method works on any ``nn.Module`` whose layers expose a ``bias``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..budget.arch import Architecture
from .base import Display, PeftConfig, freeze_all_but, head_is_new


@dataclass
class BitFitConfig(PeftConfig):
    """No options: the biases are the method."""

    method = "bitfit"
    labels: ClassVar[dict[str, Display]] = {"bitfit": Display("#8c6d31", "BitFit", "BitFit")}

    def apply(self, model: nn.Module) -> None:
        trainable = biases(model)
        if not trainable:
            raise ValueError(f"BitFit found no bias to train in {type(model).__name__} "
                             f"(its layers were built with bias=False)")
        freeze_all_but(model, trainable, train_head=head_is_new(model))

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """Every bias of the body (none on bias-free LLaMA), and the LM head's if it has one."""
        head = arch.lm_head if num_labels is None else None
        return 0, arch.bias_params + (head.out_features if head is not None and head.bias else 0)

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.train_biases = True


def biases(model: nn.Module) -> list[nn.Parameter]:
    """Every bias vector: the ``bias`` of each layer that has one (linear, LayerNorm, conv ...)
    and the packed query/key/value bias of ``nn.MultiheadAttention``."""
    found = [m.bias for m in model.modules() if isinstance(getattr(m, "bias", None), nn.Parameter)]
    found += [m.in_proj_bias for m in model.modules()
              if isinstance(m, nn.MultiheadAttention) and m.in_proj_bias is not None]
    return list({id(p): p for p in found}.values())   # a shared bias counts once
