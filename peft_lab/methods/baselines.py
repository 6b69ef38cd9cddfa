"""The two reference points of every PEFT comparison: train everything, or only the head."""
from __future__ import annotations

from dataclasses import dataclass

from .base import PeftConfig, freeze_all_but, head_names


@dataclass
class FullFineTuningConfig(PeftConfig):
    """Every weight trains: the quality ceiling, and the memory/storage cost PEFT avoids."""
    method = "full"


@dataclass
class HeadOnlyConfig(PeftConfig):
    """Linear probe: the pretrained body is frozen and only the task head trains."""
    method = "head_only"


def apply(model, config) -> None:
    if isinstance(config, FullFineTuningConfig):
        for p in model.parameters():
            p.requires_grad_(True)
        return
    if not head_names(model):
        raise ValueError(f"{type(model).__name__} has no task head to train; set "
                         f"model.peft_head_modules = ('name_of_head',)")
    freeze_all_but(model, [], train_head=True)
