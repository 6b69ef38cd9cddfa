"""P-Tuning (Liu et al., 2021, "GPT Understands, Too").

Where the vectors go: **into the input**, like prompt tuning: L virtual tokens prepended to the
token embeddings. What differs is how they are trained. They are not free parameters but the
output of a small *prompt encoder* applied to L pseudo-token inputs ``[P_0 … P_L-1]``:

    h_0..h_L-1 = MLP(LSTM(P_0..P_L-1))        (or MLP alone)

which couples the vectors and makes optimisation steadier. The encoder is only needed while
training: ``fold(model)`` replaces it by the L x d vectors it produces (identical outputs; the
count drops to L·d). The paper also interleaves prompts with the input around anchor tokens;
here, as in HF PEFT, they are simply prepended, and the encoder mirrors HF's ``PromptEncoder``
so that parameter counts agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture
from ..model import VirtualTokens
from .base import Display, check_choice, check_positive_int
from .prompt_tuning import PromptEmbedding
from .soft_prompt import Reparameterisation, SoftPromptConfig, fold, model_shape, prompt_copies

ENCODERS = ("mlp", "lstm")


@dataclass
class PTuningConfig(SoftPromptConfig):
    """P-Tuning: L virtual input tokens produced by a prompt encoder, ``MLP(LSTM(P_0..P_L-1))``.

    Attributes
    ----------
    num_virtual_tokens : int
        L, the number of virtual tokens prepended to the input (L·d parameters once the
        encoder is folded away). Allowed: an integer >= 1, less than the model's max_len.
        Default: 20.
    encoder_hidden_size : int
        h, the prompt encoder's width; the encoder trains, then ``pl.fold`` replaces it by
        the L vectors it produces. Allowed: an integer >= 1. Default: 128.
    encoder : str
        The prompt encoder: "mlp" (HF PEFT's recommended default) or "lstm" (the paper's
        two-layer bidirectional LSTM followed by an MLP). Allowed: "mlp" or "lstm".
        Default: "mlp".
    """

    num_virtual_tokens: int = 20     # L virtual tokens prepended to the input
    encoder_hidden_size: int = 128   # h: width of the prompt encoder (training only; folded away after)
    encoder: str = "mlp"             # "mlp" (HF's recommended default) or "lstm" (the paper's: 2-layer BiLSTM + MLP)

    method = "p_tuning"

    def __post_init__(self):
        check_positive_int("num_virtual_tokens", self.num_virtual_tokens)
        check_positive_int("encoder_hidden_size", self.encoder_hidden_size)
        check_choice("encoder", self.encoder, ENCODERS)

    labels: ClassVar[dict[str, Display]] = {"p_tuning": Display("#66c2a4", "P-Tuning", "P-Tuning")}
    foldable = True   # pl.fold replaces the encoder by the L vectors it produces

    def prompt_module(self, model: nn.Module) -> nn.Module:
        d, _ = model_shape(model)
        return PromptEncoder(self.num_virtual_tokens, d, self.encoder_hidden_size, self.encoder)

    def adapter_state(self, model: nn.Module) -> dict:
        """Saved with the adapter: whether the encoder was folded (then only L x d vectors are stored)."""
        return {"folded": not isinstance(model.soft_prompt, PromptEncoder)}

    def restore_state(self, model: nn.Module, state: dict) -> None:
        if state.get("folded"):
            fold(model)

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """L·d (per stack, as prompt tuning), + the prompt encoder while it is not folded."""
        prompt = prompt_copies(arch, num_labels) * self.virtual_tokens(arch) * arch.d_model
        if folded:
            return prompt, 0
        h = check_positive_int("encoder_hidden_size", self.encoder_hidden_size, owner=self.method)
        return prompt + prompt_encoder_parameters(arch.d_model, h, self.encoder), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.prompt = self.num_virtual_tokens
        if self.encoder == "mlp":
            plan.reparam_tokens = 2 * self.num_virtual_tokens * self.encoder_hidden_size


def prompt_encoder_parameters(d: int, h: int, encoder: str) -> int:
    """``PromptEncoder``'s count (HF PEFT's too): MLP d-h-h-d, or a 2-layer BiLSTM(d, h) + MLP 2h-2h-d."""
    if encoder == "mlp":
        return (d * h + h) + (h * h + h) + (h * d + d)
    check_choice("encoder", encoder, ENCODERS, owner="p_tuning")
    # per direction and layer: 4h x input + 4h x h + two 4h biases; the second layer reads 2h
    lstm = 2 * (4 * h * d + 4 * h * h + 8 * h) + 2 * (4 * h * 2 * h + 4 * h * h + 8 * h)
    return lstm + (2 * h * 2 * h + 2 * h) + (2 * h * d + d)


class PromptEncoder(Reparameterisation):
    """Pseudo-token inputs (L x d) -> [BiLSTM] -> MLP -> L virtual tokens (L x d)."""

    def __init__(self, L: int, d: int, h: int, encoder: str = "mlp"):
        super().__init__()
        self.pseudo = nn.Parameter(torch.randn(L, d))   # the inputs [P_0..P_L-1], (L, d)
        if encoder == "lstm":
            self.lstm = nn.LSTM(d, h, num_layers=2, bidirectional=True, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(2 * h, 2 * h), nn.ReLU(), nn.Linear(2 * h, d))
        else:
            self.lstm = None
            self.mlp = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, d))

    def vectors(self) -> torch.Tensor:
        x = self.pseudo[None]                 # (1, L, d)
        if self.lstm is not None:
            x = self.lstm(x)[0]               # (1, L, 2h): both directions see every pseudo token
        return self.mlp(x)                    # (1, L, d)

    def forward(self) -> VirtualTokens:
        return VirtualTokens(embeds=self.vectors())

    def fold(self) -> PromptEmbedding:
        """The vectors this encoder produces, as plain prompt-tuning parameters."""
        with torch.enable_grad():   # the LSTM's no-grad kernel rounds differently (~1e-8): use the training path
            return PromptEmbedding(self.vectors()[0].detach())
