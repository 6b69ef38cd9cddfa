"""Prompt tuning (Lester et al., 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning").

Where the vectors go: **only into the input**. L trainable vectors ``P_e`` (L x d) are prepended
to the token embeddings, as if the text began with L "soft" words that have no characters;
every layer then processes them like real tokens. Nothing inside the layers changes, so the
cost is L·d parameters. (This is what the source chapter calls "prefix tuning"; prefix tuning
puts vectors inside *every* layer's attention, see ``prefix_tuning.py``.)

The vectors start random (at the scale of the token embeddings) or, better for small models,
as the embeddings of a task description such as "这条评论的情感是" repeated to length L.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture
from ..model import VirtualTokens
from .base import Display, check_positive_int
from .soft_prompt import SoftPromptConfig, prompt_copies


@dataclass
class PromptTuningConfig(SoftPromptConfig):
    """Prompt tuning: L trainable vectors P_e (L x d) prepended to the input embeddings.

    Attributes
    ----------
    num_virtual_tokens : int
        L, the number of soft-prompt vectors (the paper's prompt length); they add L·d
        parameters and take L places of the context window. Allowed: an integer >= 1, less
        than the model's max_len. Default: 20.
    init_text : str or None
        Start P_e from the embeddings of these characters, repeated or cut to L (the paper
        finds initialising from real words better than random, most of all for small
        models; it needs the model's vocabulary, set by ``pl.load_pretrained``); None starts
        from random vectors at the embeddings' scale.
        Allowed: None or a non-empty string. Default: None.
    """

    num_virtual_tokens: int = 20   # L: more vectors = more capacity, but less room for the text
    init_text: str | None = None   # start from these characters' embeddings (repeated/truncated to L)

    method = "prompt_tuning"

    def __post_init__(self):
        check_positive_int("num_virtual_tokens", self.num_virtual_tokens)
        if self.init_text is not None and (not isinstance(self.init_text, str) or not self.init_text.strip()):
            raise ValueError(f"init_text={self.init_text!r} must be None (random init) or a non-empty string")

    labels: ClassVar[dict[str, Display]] = {
        "prompt_tuning": Display("#00795a", "提示微调（Prompt Tuning）", "Prompt tuning")}

    def prompt_module(self, model: nn.Module) -> nn.Module:
        return PromptEmbedding(initial_prompt(model, self))

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """L·d (x 2 on an encoder-decoder LM: one prompt per stack, as HF PEFT)."""
        return prompt_copies(arch, num_labels) * self.virtual_tokens(arch) * arch.d_model, 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.prompt = self.num_virtual_tokens


class PromptEmbedding(nn.Module):
    """L trainable input vectors: ``forward()`` returns them as virtual tokens, (1, L, d)."""

    def __init__(self, prompt: torch.Tensor):
        super().__init__()
        self.prompt = nn.Parameter(prompt.detach().clone())   # P_e, (L, d)

    def forward(self) -> VirtualTokens:
        return VirtualTokens(embeds=self.prompt[None])

    def extra_repr(self) -> str:
        L, d = self.prompt.shape
        return f"L={L}, d={d}"


def initial_prompt(model: nn.Module, config: PromptTuningConfig) -> torch.Tensor:
    """(L, d) start values: a text's token embeddings, or random vectors of the same scale."""
    embed = getattr(model, "embed_tokens", None)
    if not isinstance(embed, nn.Embedding):
        raise ValueError(f"prompt tuning initialises from the model's token embedding "
                         f"`embed_tokens`; {type(model).__name__} has none")
    L = config.num_virtual_tokens
    W = embed.weight.detach()
    if config.init_text is None:
        # random, but as large as real token embeddings so the first layer sees familiar inputs
        return torch.randn(L, W.shape[1], dtype=W.dtype, device=W.device) * W.std()
    vocab = getattr(model, "vocab", None)
    if vocab is None:
        raise ValueError(f"init_text={config.init_text!r} needs the model's character vocabulary "
                         f"(model.vocab, set by pl.load_pretrained); use init_text=None for random init")
    ids = vocab.encode(config.init_text, bos=False)
    ids = (ids * (L // len(ids) + 1))[:L]   # repeat, then truncate, to exactly L tokens
    return W[torch.tensor(ids, device=W.device)].clone()
