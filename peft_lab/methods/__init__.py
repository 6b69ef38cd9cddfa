"""Every PEFT method, one module each, behind one registry and one ``apply``.

A method module defines a config ``@dataclass`` (a ``PeftConfig`` with a unique ``method``
name) and ``apply(model, config)``, which uses the shared mechanism in ``base.py``.
Optionally it defines ``hooks(model, config)`` -> training hooks (see ``base.TrainingHook``)
and ``remove(model)`` for methods that do not only wrap modules.
"""
from __future__ import annotations

import sys
from types import ModuleType

from torch import nn

from .base import PeftConfig, PeftLayer, peft_layers, replace_module
from .baselines import FullFineTuningConfig, HeadOnlyConfig
from .adapter import AdapterConfig
from .bitfit import BitFitConfig
from .ia3 import IA3Config
from .prefix_tuning import PrefixTuningConfig
from .prompt_tuning import PromptTuningConfig
from .ptuning import PTuningConfig
from .ptuning_v2 import PTuningV2Config
from .lora import LoRAConfig
from . import dora  # noqa: F401  (registers DoRALinear as the layer of LoRAConfig(use_dora=True))
from .dylora import DyLoRAConfig
from .adalora import AdaLoRAConfig
from .qlora import QLoRAConfig

# The method registry: name -> config class. The class's own module holds ``apply``.
REGISTRY: dict[str, type[PeftConfig]] = {
    "full": FullFineTuningConfig,
    "head_only": HeadOnlyConfig,
    "bitfit": BitFitConfig,
    "adapter": AdapterConfig,
    "prompt_tuning": PromptTuningConfig,
    "p_tuning": PTuningConfig,
    "prefix_tuning": PrefixTuningConfig,
    "p_tuning_v2": PTuningV2Config,
    "ia3": IA3Config,
    "lora": LoRAConfig,
    "dylora": DyLoRAConfig,
    "adalora": AdaLoRAConfig,
    "qlora": QLoRAConfig,
}


# The four soft-prompt designs, from the input layer only to every layer's keys and values.
SOFT_PROMPT_DESIGNS = ("prompt_tuning", "p_tuning", "prefix_tuning", "p_tuning_v2")


def soft_prompt_configs(L: int, encoder_hidden_size: int = 128) -> dict[str, PeftConfig]:
    """The four soft-prompt designs' configs at ``L`` virtual tokens, the reparameterised ones
    (P-Tuning, prefix tuning) with a prompt encoder of width ``encoder_hidden_size``."""
    return {"prompt_tuning": PromptTuningConfig(num_virtual_tokens=L),
            "p_tuning": PTuningConfig(num_virtual_tokens=L, encoder_hidden_size=encoder_hidden_size),
            "prefix_tuning": PrefixTuningConfig(num_virtual_tokens=L, encoder_hidden_size=encoder_hidden_size),
            "p_tuning_v2": PTuningV2Config(num_virtual_tokens=L)}


def method_module(config_or_name) -> ModuleType:
    """The module implementing a method, from its config or its registry name."""
    name = config_or_name if isinstance(config_or_name, str) else getattr(config_or_name, "method", None)
    if name not in REGISTRY:
        raise ValueError(f"unknown PEFT method {name!r}; known methods: {sorted(REGISTRY)}")
    return sys.modules[REGISTRY[name].__module__]


def config_from_dict(method: str, d: dict) -> PeftConfig:
    method_module(method)
    return REGISTRY[method].from_dict(d)


def apply(model: nn.Module, config: PeftConfig) -> nn.Module:
    """Apply a PEFT method to ``model`` in place and return it (only the method and head train)."""
    if not isinstance(config, PeftConfig):
        raise TypeError(f"config must be a PEFT config such as LoRAConfig(...), got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    existing = getattr(model, "peft_config", None)
    if existing is not None or peft_layers(model):
        name = existing.method if existing is not None else "a PEFT method"
        raise ValueError(f"this model already has {name} applied; call pl.remove(model) first "
                         f"or start from a fresh model")
    method_module(config).apply(model, config)
    model.peft_config = config
    return model


def remove(model: nn.Module) -> nn.Module:
    """Undo ``apply``: put back the original modules (the same objects) and unfreeze them."""
    config = getattr(model, "peft_config", None)
    if config is None:
        raise ValueError("this model has no PEFT method applied")
    module = method_module(config)
    if hasattr(module, "remove"):
        module.remove(model)
    for name, layer in reversed(peft_layers(model)):  # innermost last, outer wrappers first
        if getattr(layer, "merged", False):
            layer.unmerge()
        replace_module(model, name, layer.base)
    for p in model.parameters():
        p.requires_grad_(True)
    model.peft_config = None
    return model


def _mergeable_layers(model: nn.Module, action: str) -> list[PeftLayer]:
    layers = [m for _, m in peft_layers(model)]
    if not layers:
        raise ValueError(f"nothing to {action}: this model has no layers added by a PEFT method")
    unmergeable = sorted({getattr(m, "unmergeable_reason", type(m).__name__) for m in layers if not m.mergeable})
    if unmergeable:
        method = getattr(getattr(model, "peft_config", None), "method", "?")
        raise ValueError(f"{method}: {', '.join(unmergeable)} cannot be merged into the base weights "
                         f"(only LoRA-family layers on float weights and IA3 can)")
    return layers


def merge(model: nn.Module) -> nn.Module:
    """Fold every mergeable update into its base weight: inference then costs exactly the base model."""
    for layer in _mergeable_layers(model, "merge"):
        layer.merge()
    return model


def unmerge(model: nn.Module) -> nn.Module:
    """Subtract what ``merge`` added, restoring W0 (up to float rounding)."""
    for layer in _mergeable_layers(model, "unmerge"):
        layer.unmerge()
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters. Quantised base weights count as the weights they encode."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    total += sum(getattr(m, "quantized_numel", 0) for m in model.modules())
    return trainable, total


def training_hooks(model: nn.Module) -> list:
    """The training hooks the applied method asks for (AdaLoRA's budget, DyLoRA's rank sampling)."""
    config = getattr(model, "peft_config", None)
    module = method_module(config) if config is not None else None
    return list(module.hooks(model, config)) if hasattr(module, "hooks") else []
