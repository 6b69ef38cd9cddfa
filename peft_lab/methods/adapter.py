"""Bottleneck adapters: Houlsby et al. (2019), Pfeiffer et al. (2021), parallel (He et al., 2022).

Where the vectors go: into **small new layers inside every block**. An adapter maps the width
d down to a bottleneck m << d and back up, with a nonlinearity and a residual:

    adapter(h) = h + W_up · f(W_down · h + b_down) + b_up       W_down: m x d,  W_up: d x m

which costs 2dm + d + m parameters. ``W_up`` starts at zero, so each adapter starts as the
identity and training begins from the pretrained model. Placements:
- Houlsby: after the attention output (``o_proj``) and after the FFN (``down_proj``): 2 per layer.
- Pfeiffer: after the FFN only: 1 per layer, about as good at half the cost.
- parallel: beside the whole FFN, ``mlp(x) + scale · up(f(down(x)))`` (He et al., 2022).
Unlike LoRA, an adapter is nonlinear, so it cannot be merged into W0: inference pays for it.
(Houlsby et al. also train the LayerNorms; here only the adapters train, so counts stay exact.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..budget.arch import Architecture, Linear, Match, select
from .base import (Display, PeftConfig, PeftLayer, check_choice, check_positive, check_positive_int,
                   check_targets, find_targets, inject)

PLACEMENTS = {  # placement -> default target_modules
    "houlsby": ("o_proj", "down_proj"),
    "pfeiffer": ("down_proj",),
    "parallel": ("mlp",),
}
# The same defaults by role, for the calculator's architectures (whatever their modules are called);
# a parallel adapter sits beside every layer's FFN block.
PLACEMENT_ROLES = {"houlsby": ("o", "down"), "pfeiffer": ("down",), "parallel": ()}
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


@dataclass
class AdapterConfig(PeftConfig):
    """Bottleneck adapters: ``h + W_up · f(W_down · h)`` after (or beside) the targeted modules.

    Attributes
    ----------
    bottleneck : int
        m, the adapter's inner width: W_down is m x d and W_up is d x m, so each adapter adds
        2dm + d + m parameters. Allowed: an integer with 1 <= m < d of every targeted module.
        Default: 32.
    placement : str
        Where the adapters sit: "houlsby" after the attention output and after the FFN (2 per
        layer), "pfeiffer" after the FFN only (1 per layer), "parallel" beside the whole FFN
        (He et al., 2022). Allowed: "houlsby", "pfeiffer" or "parallel". Default: "houlsby".
    activation : str
        f, the bottleneck's nonlinearity (without it the adapter would be a linear map).
        Allowed: "relu", "gelu" or "silu". Default: "relu".
    scale : float
        s, the weight of a parallel adapter's branch: ``FFN(x) + s · W_up f(W_down x)``.
        Allowed: a number > 0 with placement="parallel"; 1.0 with the other placements.
        Default: 1.0.
    target_modules : tuple of str or str or None
        The modules to put adapters on; None takes the placement's defaults (PLACEMENTS), which
        fit TinyTransformer and HF-style names. Read as in ``LoRAConfig``: a tuple of names,
        one regular expression over the whole module name, or "all-linear". Allowed: None, a
        non-empty tuple of names, a regular expression or "all-linear". Default: None.
    """

    bottleneck: int = 32            # m: the adapter's inner width; the chapter's advice is d/16 ... d/4
    placement: str = "houlsby"      # where the adapters sit (see PLACEMENTS)
    activation: str = "relu"        # f, the bottleneck's nonlinearity (without it the adapter would be linear)
    scale: float = 1.0              # parallel only: weight of the adapter branch beside the FFN
    target_modules: tuple | str | None = None   # None = the placement's defaults; override for other models

    method = "adapter"

    def __post_init__(self):
        check_positive_int("bottleneck", self.bottleneck)
        check_choice("placement", self.placement, PLACEMENTS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_positive("scale", self.scale)
        if self.placement != "parallel" and self.scale != 1.0:
            raise ValueError(f"scale={self.scale!r} only applies to placement='parallel'; "
                             f"with placement={self.placement!r} leave it at 1.0")
        if self.target_modules is not None:
            self.target_modules = check_targets("target_modules", self.target_modules)

    labels: ClassVar[dict[str, Display]] = {
        "adapter": Display("#e69f00", "适配器（Adapter）", "Adapter"),
        "adapter_houlsby": Display("#e69f00", "适配器（Houlsby）", "Adapter (Houlsby)"),
        "adapter_pfeiffer": Display("#d55e00", "适配器（Pfeiffer）", "Adapter (Pfeiffer)"),
        "adapter_parallel": Display("#f0b45a", "并行适配器", "Parallel adapter"),
    }

    @property
    def targets(self) -> tuple | str:
        return PLACEMENTS[self.placement] if self.target_modules is None else self.target_modules

    @classmethod
    def example(cls, arch: Architecture, r: int = 8, bottleneck: int = 64, num_virtual_tokens: int = 20) -> "AdapterConfig":
        return cls(bottleneck=bottleneck)

    def apply(self, model: nn.Module) -> None:
        # the sequential placements sit after linear layers; a parallel adapter sits beside a whole block
        block = self.placement == "parallel" and self.targets != "all-linear"
        names = find_targets(model, self.targets, kind=nn.Module if block else nn.Linear)
        nested = [(a, b) for a in names for b in names if b.startswith(a + ".")]
        if nested:
            raise ValueError(f"target_modules={self.targets!r} selects {nested[0][1]!r} inside "
                             f"{nested[0][0]!r}: an adapter would wrap another; select one of them")
        inject(model, names, lambda module, name: make_layer(module, name, self))

    def trainable_parameters(self, arch: Architecture, num_labels=None, folded=False) -> tuple[int, int]:
        """W_down (m x d) + b_down (m) + W_up (d x m) + b_up (d) per adapter."""
        m = check_positive_int("bottleneck", self.bottleneck, owner=self.method)
        total = 0
        for site, d in self.sites(arch):
            check_bottleneck(m, d, site.linear.name)
            total += site.count * adapter_parameters(d, m)
        return total, 0

    def plan_activations(self, arch: Architecture, plan) -> None:
        for site, _ in self.sites(arch):
            plan.adapters.setdefault((site.stack, site.linear.name), []).append((set(site.layers), self.bottleneck))
        plan.adapter_act = self.activation

    def sites(self, arch: Architecture) -> list[tuple[Match, int]]:
        """(site, width d) of every adapter on ``arch``: after the attention output and/or the FFN
        (by role) by default, or where ``target_modules`` says (a parallel adapter may name the FFN block)."""
        if self.target_modules is None:
            if self.placement == "parallel":   # one beside every FFN block, of the residual width d_model
                return ffn_blocks(arch, None)
            roles = PLACEMENT_ROLES[self.placement]
            return [(Match(i, lin, tuple(range(st.n_layers))), lin.out_features)
                    for i, st in enumerate(arch.stacks) for lin in st.linears if lin.role in roles]
        targets = self.target_modules
        if self.placement == "parallel" and targets != "all-linear":
            blocks = ffn_blocks(arch, (targets,) if isinstance(targets, str) else tuple(targets))
            if blocks:
                return blocks
        found = [(m, m.linear.out_features) for m in select(arch, targets)]
        if self.placement == "parallel":
            for m, _ in found:
                check_square(m.linear.in_features, m.linear.out_features, m.linear.name)
        return found


def ffn_blocks(arch: Architecture, names) -> list[tuple[Match, int]]:
    """The FFN block of every layer (all, or those whose block name is in ``names``) as d -> d sites."""
    return [(Match(i, Linear(st.ffn_block, arch.d_model, arch.d_model), tuple(range(st.n_layers))), arch.d_model)
            for i, st in enumerate(arch.stacks)
            if names is None or any(st.ffn_block == name or st.ffn_block.endswith("." + name) for name in names)]


def adapter_parameters(d: int, m: int) -> int:
    """One adapter of width d and bottleneck m: W_down (m x d) + b_down (m) + W_up (d x m) + b_up (d)."""
    return 2 * d * m + d + m


def check_bottleneck(m: int, d: int, name: str) -> None:
    if m >= d:
        raise ValueError(f"bottleneck={m} must be smaller than the width d={d} of {name!r} "
                         f"(allowed: 1 ... {d - 1}); a bottleneck as wide as the layer saves nothing")


def check_square(k: int, d: int, name: str) -> None:
    if k != d:
        raise ValueError(f"a parallel adapter needs a d -> d target; {name!r} maps {k} -> {d}")


class Bottleneck(nn.Module):
    """``W_up · f(W_down · h)``: d -> m -> d, zero at init (W_up = 0, b_up = 0)."""

    def __init__(self, d: int, m: int, activation: str):
        super().__init__()
        self.down = nn.Linear(d, m)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(m, d)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(h)))


class SequentialAdapter(PeftLayer):
    """Houlsby / Pfeiffer: ``h = base(x); h + bottleneck(h)``, after the wrapped module."""

    def __init__(self, base: nn.Module, d: int, m: int, activation: str):
        super().__init__(base)
        self.adapter = Bottleneck(d, m, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)
        return h + self.adapter(h)


class ParallelAdapter(PeftLayer):
    """``base(x) + scale · bottleneck(x)``, beside the wrapped module (which must map d to d)."""

    def __init__(self, base: nn.Module, d: int, m: int, activation: str, scale: float):
        super().__init__(base)
        self.adapter = Bottleneck(d, m, activation)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.adapter(x)


def features(module: nn.Module, name: str) -> tuple[int, int]:
    """(in, out) width of a linear layer, or of a block from its first and last linear layer."""
    linears = [module] if isinstance(module, nn.Linear) else \
        [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"adapter target {name!r} ({type(module).__name__}) contains no nn.Linear, so "
                         f"its width is unknown; target linear layers or blocks built from them")
    return linears[0].in_features, linears[-1].out_features


def make_layer(module: nn.Module, name: str, config: AdapterConfig) -> PeftLayer:
    k, d = features(module, name)
    m = config.bottleneck
    if config.placement == "parallel":
        check_square(k, d, name)
    check_bottleneck(m, d, name)
    if config.placement == "parallel":
        layer = ParallelAdapter(module, d, m, config.activation, config.scale)
    else:
        layer = SequentialAdapter(module, d, m, config.activation)
    weight = next(module.parameters(), None)
    return layer if weight is None else layer.to(weight.device)
