"""03_adapter: what a bottleneck adapter adds to the forward pass, counted by the FLOPs calculator.

    from peft_lab.lessons import adapter as lesson
    lesson.forward_flops_share("tiny", m=32)   # Houlsby's extra forward FLOPs vs the textbook's 2m/d
"""
from __future__ import annotations

from .. import budget
from ..methods.lora import LoRAConfig
from ..checks import check_positive_int


def forward_flops_share(arch="tiny", m: int = 32, adapters_per_layer: int = 2) -> dict:
    """Forward FLOPs per token that bottleneck adapters of width ``m`` add (``W_down``: m x d and
    ``W_up``: d x m, ``adapters_per_layer`` per block -- 2 for Houlsby, 1 for Pfeiffer), as a share of
    the blocks' linear layers (``budget.model_flops``'s base forward); the nonlinearity and residual
    add are left out. Returned beside the textbook's estimate ``2m/d``:
    ``{"d", "m", "textbook", "per_adapter", "share"}``."""
    for name, value in (("m", m), ("adapters_per_layer", adapters_per_layer)):
        check_positive_int(name, value)
    arch = budget.get(arch)
    d = arch.d_model
    per_adapter = budget.linear_flops(m, d).forward + budget.linear_flops(d, m).forward   # down, then up
    base = budget.model_flops(arch, LoRAConfig(r=1)).inference_base    # the base forward; r plays no part in it
    return {"d": d, "m": m, "textbook": 2 * m / d, "per_adapter": per_adapter,
            "share": adapters_per_layer * arch.n_layers * per_adapter / base}
