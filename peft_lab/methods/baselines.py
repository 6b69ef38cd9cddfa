"""The two reference points of every PEFT comparison: train everything, or only the head."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..budget.arch import Architecture
from .base import Display, PeftConfig, freeze_all_but, head_names


@dataclass
class FullFineTuningConfig(PeftConfig):
    """Every weight trains: the quality ceiling, and the memory/storage cost PEFT avoids."""
    method = "full"
    labels: ClassVar[dict[str, Display]] = {"full": Display("#4d4d4d", "全参数微调", "Full fine-tuning")}

    def apply(self, model: nn.Module) -> None:
        for p in model.parameters():
            p.requires_grad_(True)

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        return 0, arch.total_params(num_labels)   # every parameter, the classifier included

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.train_weights = plan.train_biases = True


@dataclass
class HeadOnlyConfig(PeftConfig):
    """Linear probe: the pretrained body is frozen and only the task head trains."""
    method = "head_only"
    labels: ClassVar[dict[str, Display]] = {"head_only": Display("#a6a6a6", "仅训练分类头", "Head only")}

    def apply(self, model: nn.Module) -> None:
        if not head_names(model):
            raise ValueError(f"{type(model).__name__} has no task head to train; set "
                             f"model.peft_head_modules = ('name_of_head',)")
        freeze_all_but(model, [], train_head=True)

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        if num_labels is not None:
            return 0, 0   # the new classifier, counted beside every method
        if arch.lm_head is None:
            raise ValueError(f"head_only: {arch.name} has no output head; pass num_labels=... for a classifier")
        return 0, arch.lm_head.params
