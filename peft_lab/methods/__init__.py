"""Every PEFT method, one module each, behind one registry and one ``apply``.

A method module defines its config, a ``PeftConfig`` subclass (``base.py``) that is also the
method's protocol: ``config.apply(model)``, ``config.training_hooks(model)``, the adapter state
saved with it, ``config.remove(model)``, the calculator's formula and its display labels. Adding
a method means: its module, one entry in ``REGISTRY`` below (and the import beside it), and its tests.
"""
from __future__ import annotations


from torch import nn

from .base import Display, PeftConfig, PeftLayer, TrainingHook, peft_layers, replace_module
from .baselines import FullFineTuningConfig, HeadOnlyConfig
from .adapter import AdapterConfig
from .bitfit import BitFitConfig
from .ia3 import IA3Config
from .prefix_tuning import PrefixTuningConfig
from .prompt_tuning import PromptTuningConfig
from .ptuning import PTuningConfig
from .ptuning_v2 import PTuningV2Config
from .soft_prompt import SoftPromptConfig
from .lora import LoRAConfig
from . import dora  # noqa: F401  (registers DoRALinear as the layer of LoRAConfig(use_dora=True))
from .dylora import DyLoRAConfig
from .adalora import AdaLoRAConfig
from .qlora import QLoRAConfig

# The method registry: name -> config class (the class is the method's protocol, see base.PeftConfig).
REGISTRY: dict[str, type[PeftConfig]] = {config.method: config for config in (
    FullFineTuningConfig,
    HeadOnlyConfig,
    BitFitConfig,
    AdapterConfig,
    PromptTuningConfig,
    PTuningConfig,
    PrefixTuningConfig,
    PTuningV2Config,
    IA3Config,
    LoRAConfig,
    DyLoRAConfig,
    AdaLoRAConfig,
    QLoRAConfig,
)}

# What `from peft_lab.methods import *` gives (peft_lab re-exports it): every method's config class.
__all__ = [config.__name__ for config in REGISTRY.values()]

# Colour and zh/en name of every result label, from the methods that declare them ("adapter_houlsby",
# "rslora", ... are labels of runs of a registered method); figures and widgets read them from here.
LABELS: dict[str, Display] = {label: shown for config in REGISTRY.values() for label, shown in config.labels.items()}


# The four soft-prompt designs, from the input layer only to every layer's keys and values.
SOFT_PROMPT_DESIGNS = tuple(name for name, config in REGISTRY.items() if issubclass(config, SoftPromptConfig))


def soft_prompt_configs(L: int, encoder_hidden_size: int = 128) -> dict[str, PeftConfig]:
    """The four soft-prompt designs' configs at ``L`` virtual tokens, the reparameterised ones
    (P-Tuning, prefix tuning) with a prompt encoder of width ``encoder_hidden_size``."""
    return {"prompt_tuning": PromptTuningConfig(num_virtual_tokens=L),
            "p_tuning": PTuningConfig(num_virtual_tokens=L, encoder_hidden_size=encoder_hidden_size),
            "prefix_tuning": PrefixTuningConfig(num_virtual_tokens=L, encoder_hidden_size=encoder_hidden_size),
            "p_tuning_v2": PTuningV2Config(num_virtual_tokens=L)}


def config_class(config_or_name) -> type[PeftConfig]:
    """A method's config class, from its config or its registry name."""
    name = config_or_name if isinstance(config_or_name, str) else getattr(config_or_name, "method", None)
    if name not in REGISTRY:
        raise ValueError(f"unknown PEFT method {name!r}; known methods: {sorted(REGISTRY)}")
    return REGISTRY[name]


def config_from_dict(method: str, d: dict) -> PeftConfig:
    return config_class(method).from_dict(d)


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
    config_class(config)  # an unregistered config is refused before anything changes
    config.apply(model)
    model.peft_config = config
    # what the method froze, so that pl.fit can tell when a base weight was made trainable again
    model.peft_frozen = frozenset(name for name, p in model.named_parameters() if not p.requires_grad)
    return model


def training_hooks(model: nn.Module) -> list[TrainingHook]:
    """The training hooks the applied method asks for (AdaLoRA's budget, DyLoRA's rank sampling);
    empty when no method is applied or the method has none."""
    config = getattr(model, "peft_config", None)
    return [] if config is None else list(config.training_hooks(model))


def remove(model: nn.Module) -> nn.Module:
    """Undo ``apply``: put back the original modules (the same objects) and unfreeze them."""
    config = getattr(model, "peft_config", None)
    if config is None:
        raise ValueError("this model has no PEFT method applied")
    config.remove(model)
    for name, layer in reversed(peft_layers(model)):  # innermost last, outer wrappers first
        if getattr(layer, "merged", False):
            layer.unmerge()
        replace_module(model, name, layer.base)
    for p in model.parameters():
        p.requires_grad_(True)
    model.peft_config = model.peft_frozen = None
    return model


def _mergeable_layers(model: nn.Module, action: str) -> list[PeftLayer]:
    layers = [m for _, m in peft_layers(model)]
    if not layers:
        raise ValueError(f"nothing to {action}: this model has no layers added by a PEFT method")
    unmergeable = sorted({m.unmergeable_reason for m in layers if not m.mergeable})
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
