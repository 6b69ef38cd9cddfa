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
import numpy as np
from matplotlib import font_manager
from matplotlib.colors import to_rgb

from ..methods import LABELS

BUNDLED_FONT = ("mplfonts", "fonts/NotoSansCJKsc-Regular.otf")
SYSTEM_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                       "PingFang SC", "Microsoft YaHei", "SimHei")
_registered: dict[str, str | None] = {}

# One colour per method, the same in every figure of the suite (colour-blind-safe Tableau/Okabe-Ito mix).
# Each method declares its labels' colours itself (``labels`` of its config, gathered in
# ``methods.LABELS``); the series below are not methods. Methods of one family share a hue but differ
# clearly in lightness or shade: every two methods that appear together (a family, the learning-rate
# panels, the rank rules) are at least MIN_DELTA_E apart in CIE Lab, every two distinct methods at least
# half that (tests/test_plots.py checks both).
PALETTE = {
    **{label: shown.colour for label, shown in LABELS.items()},
    "scratch": "#d4d4d4", "pretrained": "#0072b2", "tfidf": "#000000",
    # the scaling rules of the LoRA rank sweep: α fixed is plain LoRA, the rsLoRA rule is rsLoRA;
    # α = 2r gets a hue of its own (a second dark blue was indistinguishable on a projector)
    "alpha=16": "#0072b2", "alpha=2r": "#b2182b", "rslora_rule": "#17becf",
}
# Labels that name the same thing and so share a colour on purpose.
SAME_COLOR = (("adapter", "adapter_houlsby"), ("lora", "alpha=16"), ("lora", "pretrained"),
              ("alpha=16", "pretrained"), ("rslora", "rslora_rule"))
MIN_DELTA_E = 20.0
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


def lab(c) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of a matplotlib colour: distances in it track how different colours look."""
    rgb = np.array(to_rgb(c))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def delta_e(c1, c2) -> float:
    """CIE76 colour difference: about 2.3 is just noticeable side by side on paper; thin lines on
    a washed-out projector need far more (see MIN_DELTA_E)."""
    return float(np.linalg.norm(np.subtract(lab(c1), lab(c2))))


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
        # matplotlib takes the first of equally good matches: a system copy of the same family (Debian's
        # fonts-noto-cjk, a .ttc whose first face is the Japanese one) would otherwise win and change the
        # figures' look from machine to machine. The bundled file goes first (addfont has just emptied
        # the lookup cache, and nothing has looked a font up since).
        font_manager.fontManager.ttflist.sort(key=lambda entry: entry.fname != str(path))
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
