"""What the four soft-prompt methods share: the model's soft-prompt slot.

A soft-prompt method adds no wrapper around a layer. It fills one slot, ``model.soft_prompt``,
with a module whose ``forward()`` returns ``VirtualTokens``: vectors the model prepends to the
input embeddings (prompt tuning, P-Tuning) or key/value vectors it prepends inside every
attention layer (prefix tuning, P-Tuning v2). ``TinyTransformer`` provides the slot; it keeps
the real tokens at positions 0..T-1 and lets every query see the virtual tokens, so padding
behaves as without the prompt.

Two methods train their vectors through a reparameterisation (P-Tuning's prompt encoder, prefix
tuning's MLP) that only helps optimisation: ``fold(model)`` replaces it by the vectors it
produces, which gives identical outputs with fewer parameters.
"""
from __future__ import annotations

from torch import nn

from .base import freeze_all_but, head_is_new, replace_module


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
    """P virtual tokens share the context window with the text, so P must leave room for it."""
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


def remove(model: nn.Module) -> None:
    """Empty the slot: the model computes exactly what it did before the method was applied."""
    replace_module(model, "soft_prompt", None)


def fold(model: nn.Module) -> nn.Module:
    """Replace a training-only reparameterisation by the vectors it produces; outputs do not change.

    Works for P-Tuning (the prompt encoder goes, L x d vectors stay) and prefix tuning with
    ``projection=True`` (the MLP goes, L x 2 x n_layers x d key/value vectors stay).
    """
    module = getattr(model, "soft_prompt", None)
    if module is None:
        raise ValueError("nothing to fold: this model has no soft-prompt method applied")
    if not hasattr(module, "fold"):
        raise ValueError(f"nothing to fold: {type(module).__name__} has no reparameterisation (only "
                         f"P-Tuning's prompt encoder and prefix tuning's MLP can be folded, and only once)")
    replace_module(model, "soft_prompt", module.fold())  # the folded vectors stay trainable
    return model
