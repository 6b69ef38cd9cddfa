"""P-Tuning v2 (Liu et al., 2022, "P-Tuning v2: Prompt Tuning Can Be Comparable to Fine-tuning
Universally Across Scales and Tasks").

Where the vectors go: **inside every layer** ("deep prompt tuning"), like prefix tuning: L key
and L value vectors prepended to each attention layer's keys and values, L·2·n_layers·d
parameters. Unlike prefix tuning there is no reparameterisation MLP: the paper found it
unnecessary (or harmful) on understanding tasks, so the prefix trains directly, from the start.
It was designed for classification and sequence labelling (a linear head on the tokens), which
is why it is shown here with the ``cls`` and ``token`` heads. The machinery is prefix tuning's,
with the projection off.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..budget.arch import Architecture
from .base import Display, check_positive_int
from .prefix_tuning import prefix_module, prefix_parameters
from .soft_prompt import SoftPromptConfig


@dataclass
class PTuningV2Config(SoftPromptConfig):
    """P-Tuning v2: deep prompt tuning, L key/value vectors per layer trained directly.

    Attributes
    ----------
    num_virtual_tokens : int
        L, the prompt length: each attention layer gets L keys and L values, L·2·n_layers·d
        parameters (the paper: under 20 for classification, about 100 for tagging).
        Allowed: an integer >= 1, less than the model's max_len. Default: 20.
    """

    num_virtual_tokens: int = 20   # L pairs per layer; the paper: < 20 for classification, ~100 for tagging

    method = "p_tuning_v2"

    def __post_init__(self):
        check_positive_int("num_virtual_tokens", self.num_virtual_tokens)

    labels: ClassVar[dict[str, Display]] = {"p_tuning_v2": Display("#7a0177", "P-Tuning v2", "P-Tuning v2")}

    def prompt_module(self, model: nn.Module) -> nn.Module:
        return prefix_module(model, self.num_virtual_tokens)   # prefix tuning's prefix, no MLP

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """L·2·n_layers·d_kv, as prefix tuning without its MLP."""
        return prefix_parameters(arch, self.virtual_tokens(arch)), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        plan.prefix = self.num_virtual_tokens
