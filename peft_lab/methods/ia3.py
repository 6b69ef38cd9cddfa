"""(IA)³ -- Infused Adapter by Inhibiting and Amplifying Inner Activations (Liu et al., 2022,
"Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning").

Where the vectors go: **elementwise onto activations inside every block**. Three learned
vectors rescale the keys, the values and the FFN's hidden activations:

    k = l_k ⊙ (W_k x),   v = l_v ⊙ (W_v x),   FFN(x) = W_down (l_ff ⊙ f(W_up x))

l_k and l_v have the size of a projection's output; l_ff the size of ``down_proj``'s *input*.
All start at 1 (the model is unchanged at init), and a rescaling is linear, so it merges into
the weights: ``W_k <- diag(l_k) W_k`` (and its bias), ``W_down <- W_down diag(l_ff)``.
The count is just the sum of the vector sizes (HF PEFT's ``IA3Config`` counts the same).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture, select
from .base import Display, PeftConfig, PeftLayer, check_targets, find_targets, inject


@dataclass
class IA3Config(PeftConfig):
    """(IA)³: learned vectors l that rescale activations, ``l ⊙ (W x)`` or ``W (l ⊙ x)``.

    Attributes
    ----------
    target_modules : tuple of str or str
        The linear layers whose activations are rescaled (the paper: keys, values and the
        FFN, giving l_k, l_v and l_ff). Read as in ``LoRAConfig``: a tuple of names, one
        regular expression over the whole module name, or "all-linear". Allowed: a non-empty
        tuple of names, a regular expression or "all-linear".
        Default: ("k_proj", "v_proj", "down_proj").
    feedforward_modules : tuple of str or str
        Of the targets, those whose *input* is rescaled, ``W (l_ff ⊙ x)``, so l_ff has the
        FFN's hidden width; the others rescale their output, ``l ⊙ (W x)``. Allowed: a subset
        of target_modules (a tuple of names or a regular expression), or () to rescale only
        outputs. Default: ("down_proj",).
    """

    target_modules: tuple | str = ("k_proj", "v_proj", "down_proj")   # the paper: keys, values, FFN
    feedforward_modules: tuple | str = ("down_proj",)   # of those, the ones whose *input* is rescaled

    method = "ia3"

    def __post_init__(self):
        self.target_modules = check_targets("target_modules", self.target_modules)
        if isinstance(self.feedforward_modules, (list, tuple)) and not self.feedforward_modules:
            self.feedforward_modules = ()   # rescale outputs only
        else:
            self.feedforward_modules = check_targets("feedforward_modules", self.feedforward_modules)
        if isinstance(self.target_modules, tuple) and isinstance(self.feedforward_modules, tuple):
            stray = [f for f in self.feedforward_modules if f not in self.target_modules]
            if stray:
                raise ValueError(f"feedforward_modules={self.feedforward_modules!r} must be a subset of "
                                 f"target_modules={self.target_modules!r}; {stray} are not targets")

    labels: ClassVar[dict[str, Display]] = {"ia3": Display("#5e3c99", "IA³", "IA³")}

    def apply(self, model: nn.Module) -> None:
        names = find_targets(model, self.target_modules)
        feedforward = set()
        if self.feedforward_modules != ():
            feedforward = set(find_targets(model, self.feedforward_modules, field="feedforward_modules"))
            stray = sorted(feedforward - set(names))
            if stray:
                raise ValueError(f"feedforward_modules={self.feedforward_modules!r} selects {stray}, "
                                 f"which target_modules={self.target_modules!r} does not")
        inject(model, names, lambda module, name: IA3Linear(module, feedforward=name in feedforward))

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """One vector per target: out_features long, or in_features for a feed-forward target."""
        feedforward = self.feedforward_sites(arch)
        return sum(m.count * (m.linear.in_features if (m.stack, m.linear.name) in feedforward
                              else m.linear.out_features) for m in select(arch, self.target_modules)), 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        feedforward = self.feedforward_sites(arch)
        for m in select(arch, self.target_modules):
            side = "in" if (m.stack, m.linear.name) in feedforward else "out"
            plan.adapt_linears([m], ("ia3", side))

    def feedforward_sites(self, arch: Architecture) -> set[tuple[int, str]]:
        """(stack, linear name) of the targets whose input is rescaled."""
        if self.feedforward_modules == ():
            return set()
        return {(m.stack, m.linear.name) for m in select(arch, self.feedforward_modules, "feedforward_modules")}


class IA3Linear(PeftLayer):
    """A linear layer whose output (or, for an FFN's down-projection, input) is rescaled by ``l``."""

    linear_update = True   # a rescaling is linear: merge folds it into W

    def __init__(self, base: nn.Linear, feedforward: bool):
        super().__init__(base)
        self.feedforward = feedforward
        n = base.in_features if feedforward else base.out_features
        self.l = nn.Parameter(torch.ones(n, device=base.weight.device))   # l_k, l_v or l_ff; 1 = identity
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        if self.feedforward:
            return self.base(x * self.l)
        return self.base(x) * self.l

    @torch.no_grad()
    def _rescale(self, factor: torch.Tensor) -> None:
        if self.feedforward:   # W (l ⊙ x) = (W diag(l)) x: scale W's columns; the bias is untouched
            self.base.weight.mul_(factor[None, :])
        else:                  # l ⊙ (W x + b): scale W's rows and the bias
            self.base.weight.mul_(factor[:, None])
            if self.base.bias is not None:
                self.base.bias.mul_(factor)

    def merge(self) -> None:
        if self.merged:
            raise ValueError("this IA3 layer is already merged")
        self._rescale(self.l.detach())
        self.merged = True

    def unmerge(self) -> None:
        if not self.merged:
            raise ValueError("this IA3 layer is not merged")
        l = self.l.detach()
        if (l == 0).any():
            raise ValueError("cannot unmerge: an IA3 vector has an exact zero, so W0 was not kept")
        self._rescale(1.0 / l)
        self.merged = False

    def extra_repr(self) -> str:
        where = "input" if self.feedforward else "output"
        return f"rescales the {where} ({self.l.numel()}), merged={self.merged}"
