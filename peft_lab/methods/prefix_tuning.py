"""Prefix tuning (Li & Liang, 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation").

Where the vectors go: **inside every layer's attention**, not into the input. Layer i gets L
trainable key vectors and L value vectors ``P_k^i, P_v^i`` (each L x d) prepended to the keys
and values the layer computes from the text, so every real token can attend to them at every
depth. Stored as a tensor of L·2·n_layers·d values.

Training those values directly is unstable, so the paper reparameterises them through an MLP:
``P = MLP(P')`` with ``P'`` (L x d) -> Linear(d, h) -> Tanh -> Linear(h, 2·n_layers·d), exactly
HF PEFT's ``prefix_projection=True``. The MLP is only needed while training: ``fold(model)``
replaces it by the prefix it produces (identical outputs; the count drops to L·2·n_layers·d).
With ``projection=False`` the prefix trains directly: that is P-Tuning v2 (``ptuning_v2.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..model import VirtualTokens
from . import soft_prompt
from .base import PeftConfig, check_bool, check_positive_int


@dataclass
class PrefixTuningConfig(PeftConfig):
    """Prefix tuning: L key and L value vectors prepended inside every attention layer.

    Attributes
    ----------
    num_virtual_tokens : int
        L, the prefix length: each layer gets L keys and L values, L·2·n_layers·d values in
        all (the paper uses 10-200). Allowed: an integer >= 1, less than the model's max_len.
        Default: 20.
    encoder_hidden_size : int
        h, the width of the reparameterisation P = MLP(P'), Linear(d, h) -> Tanh ->
        Linear(h, 2·n_layers·d); only used while training, ``pl.fold`` removes it.
        Allowed: an integer >= 1. Default: 128.
    projection : bool
        Train the prefix through the MLP, as the paper does; False trains P directly (that is
        P-Tuning v2). Allowed: True or False. Default: True.
    """

    num_virtual_tokens: int = 20     # L key/value pairs per layer; the paper uses 10-200
    encoder_hidden_size: int = 128   # h: width of the reparameterisation MLP (training only)
    projection: bool = True          # train through the MLP (the paper); False = train P directly

    method = "prefix_tuning"

    def __post_init__(self):
        check_positive_int("num_virtual_tokens", self.num_virtual_tokens)
        check_positive_int("encoder_hidden_size", self.encoder_hidden_size)
        check_bool("projection", self.projection)


def as_virtual_tokens(P: torch.Tensor) -> VirtualTokens:
    """(n_layers, 2, L, d) -> one (key, value) pair per layer, each (1, L, d)."""
    return VirtualTokens(prefix=[(layer[0][None], layer[1][None]) for layer in P])


class PrefixKV(nn.Module):
    """The prefix itself: L keys and L values per layer, trained directly (or folded from the MLP)."""

    def __init__(self, P: torch.Tensor):
        super().__init__()
        self.P = nn.Parameter(P.detach().clone())   # (n_layers, 2 [key, value], L, d)

    def forward(self) -> VirtualTokens:
        return as_virtual_tokens(self.P)

    def extra_repr(self) -> str:
        n_layers, _, L, d = self.P.shape
        return f"L={L}, n_layers={n_layers}, d={d}"


class PrefixEncoder(nn.Module):
    """``P = MLP(P')``: L input vectors -> Linear(d, h) -> Tanh -> Linear(h, 2·n_layers·d)."""

    def __init__(self, L: int, d: int, n_layers: int, h: int):
        super().__init__()
        self.n_layers = n_layers
        self.inputs = nn.Parameter(torch.randn(L, d))   # P', (L, d)
        self.mlp = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, 2 * n_layers * d))

    def prefix(self) -> torch.Tensor:
        L, d = self.inputs.shape
        P = self.mlp(self.inputs)                               # (L, 2·n_layers·d)
        return P.view(L, self.n_layers, 2, d).permute(1, 2, 0, 3)  # (n_layers, 2, L, d)

    def forward(self) -> VirtualTokens:
        return as_virtual_tokens(self.prefix())

    def fold(self) -> PrefixKV:
        """The prefix this MLP produces, as plain parameters: the MLP is not needed at inference."""
        return PrefixKV(self.prefix().detach())


def install(model: nn.Module, L: int, method: str, encoder_hidden_size: int | None = None) -> None:
    """Fill the slot with L key/value pairs per layer, through an MLP of width h if one is given.

    Shared with P-Tuning v2, which is this with no MLP.
    """
    soft_prompt.require_slot(model, method)
    soft_prompt.check_fits(model, L)
    d, n_layers = soft_prompt.model_shape(model)
    if encoder_hidden_size is not None:
        module = PrefixEncoder(L, d, n_layers, encoder_hidden_size)
    else:
        module = PrefixKV(torch.randn(n_layers, 2, L, d))   # N(0, 1), as HF PEFT's prefix embedding
    soft_prompt.install(model, module)


def apply(model: nn.Module, config: PrefixTuningConfig) -> None:
    install(model, config.num_virtual_tokens, "prefix tuning",
            config.encoder_hidden_size if config.projection else None)


fold = soft_prompt.fold
remove = soft_prompt.remove


def adapter_state(model: nn.Module) -> dict:
    """Saved with the adapter: whether the MLP was folded (then only the prefix is stored)."""
    return {"folded": model.peft_config.projection and not isinstance(model.soft_prompt, PrefixEncoder)}


def restore_state(model: nn.Module, state: dict) -> None:
    if state.get("folded"):
        fold(model)
