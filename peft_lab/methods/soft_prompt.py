"""What the four soft-prompt methods share: the model's soft-prompt slot and one install path.

A soft-prompt method adds no wrapper around a layer. It fills one slot, ``model.soft_prompt``,
with a module whose ``forward()`` returns ``VirtualTokens``: vectors the model prepends to the
input embeddings (prompt tuning, P-Tuning) or key/value vectors it prepends inside every
attention layer (prefix tuning, P-Tuning v2). ``TinyTransformer`` provides the slot; it keeps
the real tokens at positions 0..T-1 and lets every query see the virtual tokens, so padding
behaves as without the prompt. Every soft-prompt config is a ``SoftPromptConfig``: it only says
which module goes into the slot (``prompt_module``); checking and installing are written once here.

Two methods train their vectors through a reparameterisation (P-Tuning's prompt encoder, prefix
tuning's MLP) that only helps optimisation: ``fold(model)`` replaces it by the vectors it
produces, which gives identical outputs with fewer parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..budget.arch import Architecture
from ..budget.params import virtual_tokens
from .base import PeftConfig, freeze_all_but, head_is_new, replace_module


@dataclass
class SoftPromptConfig(PeftConfig):
    """The protocol of the soft-prompt methods: ``L = num_virtual_tokens`` vectors in the slot."""

    @classmethod
    def example(cls, arch: Architecture, r: int = 8, bottleneck: int = 64, num_virtual_tokens: int = 20) -> "SoftPromptConfig":
        return cls(num_virtual_tokens=num_virtual_tokens)

    def prompt_module(self, model: nn.Module) -> nn.Module:
        """The module this method puts in the slot (built after the checks, so a refused model
        draws no random numbers)."""
        raise NotImplementedError(f"{type(self).__name__} must define prompt_module(model)")

    def apply(self, model: nn.Module) -> None:
        require_slot(model, self.labels[self.method].en)
        check_fits(model, self.num_virtual_tokens)
        install(model, self.prompt_module(model))

    def remove(self, model: nn.Module) -> None:
        """Empty the slot: the model computes exactly what it did before the method was applied."""
        replace_module(model, "soft_prompt", None)

    def virtual_tokens(self, arch: Architecture) -> int:
        """L, checked against the architecture's context (L < max_len)."""
        return virtual_tokens(arch, self)


def prompt_copies(arch: Architecture, num_labels) -> int:
    """HF PEFT's num_transformer_submodules: 2 for an encoder-decoder LM (one prompt per stack)."""
    return 2 if arch.encoder_decoder and num_labels is None else 1


def require_slot(model: nn.Module, method: str) -> None:
    """A soft-prompt method needs a model that reads ``model.soft_prompt`` in its forward pass."""
    if not hasattr(model, "soft_prompt") or not callable(getattr(model, "virtual_tokens", None)):
        raise ValueError(f"{method} needs the soft-prompt slot that TinyTransformer provides "
                         f"(a `soft_prompt` attribute read by `virtual_tokens()` in the forward pass); "
                         f"{type(model).__name__} has none. Use a LoRA-family method, adapters or IA3 "
                         f"on other models")
    if model.soft_prompt is not None:
        raise ValueError(f"the soft-prompt slot already holds {type(model.soft_prompt).__name__}: "
                         f"call pl.remove(model) first or start from a fresh model")


def check_fits(model: nn.Module, num_virtual_tokens: int) -> None:
    """L virtual tokens share the context window with the text, so L must leave room for it."""
    max_len = getattr(getattr(model, "config", None), "max_len", None)
    if max_len is not None and num_virtual_tokens >= max_len:
        raise ValueError(f"num_virtual_tokens={num_virtual_tokens} leaves no room for real tokens: the "
                         f"model's context is max_len={max_len} tokens, virtual ones included; "
                         f"use num_virtual_tokens < {max_len}")


def model_shape(model: nn.Module) -> tuple[int, int]:
    """(d_model, n_layers) of a model with the slot."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "d_model") or not hasattr(cfg, "n_layers"):
        raise ValueError(f"{type(model).__name__} has no config.d_model / config.n_layers: the soft-prompt "
                         f"methods need them to size the virtual tokens")
    return cfg.d_model, cfg.n_layers


def install(model: nn.Module, module: nn.Module) -> None:
    """Put ``module`` in the slot; only its parameters (and a new task head) train."""
    weight = next(model.parameters(), None)
    replace_module(model, "soft_prompt", module if weight is None else module.to(weight.device))
    freeze_all_but(model, module.parameters(), train_head=head_is_new(model))


class Reparameterisation(nn.Module):
    """A slot module that produces its vectors through a network only training needs (P-Tuning's
    prompt encoder, prefix tuning's MLP); ``fold()`` returns the plain vectors it produces."""

    def fold(self) -> nn.Module:
        raise NotImplementedError


def fold(model: nn.Module) -> nn.Module:
    """Replace a training-only reparameterisation by the vectors it produces; outputs do not change.

    Works for P-Tuning (the prompt encoder goes, L x d vectors stay) and prefix tuning with
    ``projection=True`` (the MLP goes, L x 2 x n_layers x d key/value vectors stay).
    """
    module = getattr(model, "soft_prompt", None)
    if module is None:
        raise ValueError("nothing to fold: this model has no soft-prompt method applied")
    if not isinstance(module, Reparameterisation):
        raise ValueError(f"nothing to fold: {type(module).__name__} has no reparameterisation (only "
                         f"P-Tuning's prompt encoder and prefix tuning's MLP can be folded, and only once)")
    replace_module(model, "soft_prompt", module.fold())  # the folded vectors stay trainable
    return model
