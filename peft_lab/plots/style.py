"""Figure style shared by every chapter: a CJK font that ships with the install, one palette.

The source chapter sets ``font.sans-serif = ['SimHei', 'Arial Unicode MS']``; neither exists on
a stock Linux machine, so its Chinese labels render as boxes. Here the OFL-licensed Noto Sans
CJK SC that the PyPI package ``mplfonts`` ships is registered with matplotlib (falling back to
any system CJK font), so figures speak Chinese on any machine.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

import matplotlib as mpl
from matplotlib import font_manager

BUNDLED_FONT = ("mplfonts", "fonts/NotoSansCJKsc-Regular.otf")
SYSTEM_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                       "PingFang SC", "Microsoft YaHei", "SimHei")
_registered: dict[str, str | None] = {}

# One colour per method, the same in every figure of the suite (colour-blind-safe Tableau/Okabe-Ito mix).
PALETTE = {
    "full": "#4d4d4d", "head_only": "#a6a6a6", "bitfit": "#8c6d31",
    "lora": "#0072b2", "lora_qv": "#7fb8da", "rslora": "#56b4e9", "dora": "#005a8c", "loraplus": "#3b8ede",
    "dylora": "#6baed6", "adalora": "#08519c", "qlora": "#9ecae1",
    "adapter": "#e69f00", "adapter_houlsby": "#e69f00", "adapter_pfeiffer": "#d55e00",
    "adapter_parallel": "#f0b45a",
    "prompt_tuning": "#009e73", "p_tuning": "#2ca25f", "prefix_tuning": "#cc79a7", "p_tuning_v2": "#a0457e",
    "ia3": "#7b3294", "scratch": "#bdbdbd", "pretrained": "#0072b2", "tfidf": "#999999",
    # the scaling rules of the LoRA rank sweep (variants of one method: shades of LoRA's blue)
    "alpha=16": "#0072b2", "alpha=2r": "#003f63", "rslora_rule": "#56b4e9",
}
# Method families, for figures that would be unreadable with all 19 methods in one panel (small multiples).
FAMILIES = {
    "family_baselines": ("full", "head_only", "bitfit", "ia3", "tfidf"),
    "family_lora": ("lora", "lora_qv", "rslora", "dora", "loraplus", "dylora", "adalora", "qlora"),
    "family_adapter": ("adapter", "adapter_houlsby", "adapter_pfeiffer", "adapter_parallel"),
    "family_prompt": ("prompt_tuning", "p_tuning", "prefix_tuning", "p_tuning_v2"),
}
# The four parts of training memory, the same in every memory figure.
PART_COLORS = {"weights": "#7f7f7f", "gradients": "#e69f00", "optimizer_state": "#d55e00",
               "activations": "#56b4e9"}
# Series that are not methods (failure modes, ΔW vs random, ...): Okabe-Ito, in order.
SERIES_COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
FROZEN = "#d9d9d9"      # frozen weights in diagrams
MUTED = "#8c8c8c"       # references: random matrices, uniform grids, guide bands


def color(method: str) -> str:
    """The suite-wide colour of a method label (dark grey for an unknown label)."""
    return PALETTE.get(method, "#333333")


def family(method: str) -> str:
    """The language-table key of a method's family ("family_lora", ...; "family_other" if none)."""
    return next((f for f, members in FAMILIES.items() if method in members), "family_other")


def series_color(i: int) -> str:
    """The i-th colour for series that are not methods."""
    return SERIES_COLORS[i % len(SERIES_COLORS)]


def font_path() -> Path | None:
    """The bundled CJK font file, if the ``mplfonts`` package is installed."""
    try:
        path = importlib.resources.files(BUNDLED_FONT[0]).joinpath(BUNDLED_FONT[1])
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def register_cjk_font() -> str | None:
    """Make matplotlib draw Chinese: register the bundled font, else use a system CJK font.

    Returns the family name in use, or None when no CJK font could be found.
    """
    if "family" in _registered:
        return _registered["family"]
    family = None
    path = font_path()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        family = font_manager.FontProperties(fname=str(path)).get_name()
    else:
        available = {f.name for f in font_manager.fontManager.ttflist}
        family = next((f for f in SYSTEM_CJK_FAMILIES if f in available), None)
    if family is not None:
        mpl.rcParams["font.sans-serif"] = [family, "DejaVu Sans"]
        # named families, not the generic "sans-serif": only then does matplotlib fall back glyph
        # by glyph to DejaVu Sans for what the CJK font lacks (subscripts such as σ₁, "⋮")
        mpl.rcParams["font.family"] = [family, "DejaVu Sans"]
        mpl.rcParams["axes.unicode_minus"] = False
    _registered["family"] = family
    return family


def apply_style() -> None:
    """Readable when projected: larger text, light grid, no top/right spines."""
    mpl.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 150, "font.size": 12, "axes.titlesize": 14,
        "axes.labelsize": 12, "legend.fontsize": 11, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "figure.autolayout": False,
    })
