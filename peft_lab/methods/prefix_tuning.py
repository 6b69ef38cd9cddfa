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
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture
from ..model import VirtualTokens
from .base import Display, check_bool, check_positive_int
from .soft_prompt import Reparameterisation, SoftPromptConfig, fold, model_shape


@dataclass
class PrefixTuningConfig(SoftPromptConfig):
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

    labels: ClassVar[dict[str, Display]] = {
        "prefix_tuning": Display("#e78ac3", "前缀微调（Prefix Tuning）", "Prefix tuning")}

    @property
    def foldable(self) -> bool:
        return self.projection   # pl.fold replaces the MLP by the prefix it produces

    def prompt_module(self, model: nn.Module) -> nn.Module:
        return prefix_module(model, self.num_virtual_tokens, self.encoder_hidden_size if self.projection else None)

    def adapter_state(self, model: nn.Module) -> dict:
        """Saved with the adapter: whether the MLP was folded (then only the prefix is stored)."""
        return {"folded": self.projection and not isinstance(model.soft_prompt, PrefixEncoder)}

    def restore_state(self, model: nn.Module, state: dict) -> None:
        if state.get("folded"):
            fold(model)

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """L·2·n_layers·d_kv; while the MLP trains: P' (L x d_kv) -> Linear(d_kv, h) -> Linear(h, 2·n_layers·d_kv).
        d_kv is the key/value width: d_model, or n_kv_heads x head_dim under grouped-query attention."""
        L, d_kv, n = self.virtual_tokens(arch), arch.kv_dim, arch.n_layers   # HF: token_dim = n_kv_heads x head_dim
        if not self.projection or folded:
            return prefix_parameters(arch, L), 0
        h = check_positive_int("encoder_hidden_size", self.encoder_hidden_size, owner=self.method)
        return L * d_kv + (d_kv * h + h) + (h * 2 * n * d_kv + 2 * n * d_kv), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.prefix = self.num_virtual_tokens
        if self.projection:
            plan.reparam_tokens = self.num_virtual_tokens * self.encoder_hidden_size


def prefix_parameters(arch: Architecture, L: int) -> int:
    """L keys and L values of width d_kv in each of the n_layers attention layers."""
    return L * 2 * arch.n_layers * arch.kv_dim


def as_virtual_tokens(prefix: torch.Tensor) -> VirtualTokens:
    """(n_layers, 2, L, d) -> one (key, value) pair per layer, each (1, L, d)."""
    return VirtualTokens(prefix=[(layer[0][None], layer[1][None]) for layer in prefix])


class PrefixKV(nn.Module):
    """The prefix itself: L keys and L values per layer, trained directly (or folded from the MLP)."""

    def __init__(self, prefix: torch.Tensor):
        super().__init__()
        self.P = nn.Parameter(prefix.detach().clone())   # the prefix P, (n_layers, 2 [key, value], L, d)

    def forward(self) -> VirtualTokens:
        return as_virtual_tokens(self.P)

    def extra_repr(self) -> str:
        n_layers, _, L, d = self.P.shape
        return f"L={L}, n_layers={n_layers}, d={d}"


class PrefixEncoder(Reparameterisation):
    """``P = MLP(P')``: L input vectors -> Linear(d, h) -> Tanh -> Linear(h, 2·n_layers·d)."""

    def __init__(self, L: int, d: int, n_layers: int, h: int):
        super().__init__()
        self.n_layers = n_layers
        self.inputs = nn.Parameter(torch.randn(L, d))   # P', (L, d)
        self.mlp = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, 2 * n_layers * d))

    def prefix(self) -> torch.Tensor:
        L, d = self.inputs.shape
        flat = self.mlp(self.inputs)                               # (L, 2·n_layers·d)
        return flat.view(L, self.n_layers, 2, d).permute(1, 2, 0, 3)  # P: (n_layers, 2, L, d)

    def forward(self) -> VirtualTokens:
        return as_virtual_tokens(self.prefix())

    def fold(self) -> PrefixKV:
        """The prefix this MLP produces, as plain parameters: the MLP is not needed at inference."""
        return PrefixKV(self.prefix().detach())


def prefix_module(model: nn.Module, L: int, encoder_hidden_size: int | None = None) -> nn.Module:
    """L key/value pairs per layer, through an MLP of width h if one is given.

    Shared with P-Tuning v2, which is this with no MLP.
    """
    d, n_layers = model_shape(model)
    if encoder_hidden_size is not None:
        return PrefixEncoder(L, d, n_layers, encoder_hidden_size)
    return PrefixKV(torch.randn(n_layers, 2, L, d))   # N(0, 1), as HF PEFT's prefix embedding
