"""Chapter 3.3.2 (LoRA variants): each variant's defining property, drawn from what it did.

* AdaLoRA: the rank budget moves between layers -- a heat map of the rank each matrix kept.
* DyLoRA: trained once, usable at every rank -- accuracy against the rank it is evaluated at.
* QLoRA: NF4's 16 levels are quantiles of a normal distribution, so on normally distributed
  weights its codes are used far more evenly than those of an even 4-bit grid (not exactly
  equally: each block is divided by its own absmax, which squeezes the values inwards).
"""
from __future__ import annotations

import re

import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure

from ..i18n import t
from ..methods.nf4 import nf4_levels
from .common import accuracy_axis, figure, final_runs, measured_note, note, set_title
from .labels import readable
from .sweeps import log2_axis, mark_setting, sweep_figure
from .style import MUTED, color

NF4_COLOR = color("dora")   # NF4 in one dark blue everywhere (QLoRA's own light blue is too faint for thin stems)
LAYER_NAME = re.compile(r"(?:.*\.)?layers\.(\d+)\.(.+)")


def _run_with_pattern(data) -> dict | None:
    """The first final run of a results dict that recorded a rank_pattern (None: ``data`` is a pattern)."""
    if "runs" not in data:
        return None
    for run in final_runs(data):
        if (run.get("details") or {}).get("rank_pattern"):
            return run
    raise ValueError("no AdaLoRA run with a rank_pattern in these results")


def adalora_ranks(rank_pattern, init_r: int | None = None) -> Figure:
    """Heat map of the rank AdaLoRA kept per layer (rows) and module (columns), annotated.

    ``rank_pattern``: ``peft_lab.methods.adalora.rank_pattern(model)`` ({module name: rank}) or a
    results dict holding an AdaLoRA run; ``init_r``: the rank every matrix started with.
    """
    run = _run_with_pattern(rank_pattern)
    pattern = dict(rank_pattern) if run is None else run["details"]["rank_pattern"]
    if init_r is None and run is not None:
        init_r = (run.get("config") or {}).get("init_r")
    if not pattern:
        raise ValueError("the rank pattern is empty")
    cells: dict[tuple[str, str], int] = {}
    for full, rank in pattern.items():
        m = LAYER_NAME.fullmatch(full)
        row, col = (m.group(1), m.group(2).split(".")[-1]) if m else ("-", full)
        cells[(row, col)] = rank
    rows = sorted({r for r, _ in cells}, key=lambda r: (not r.isdigit(), int(r) if r.isdigit() else r))
    cols = list(dict.fromkeys(c for _, c in cells))
    grid = np.array([[cells.get((r, c), np.nan) for c in cols] for r in rows], dtype=float)
    fig, ax = figure(width=1.6 * len(cols) + 3.5, height=0.55 * len(rows) + 2.2)
    sns.heatmap(grid, ax=ax, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=init_r or np.nanmax(grid),
                cbar_kws={"label": t("kept_rank")}, linewidths=0.5, linecolor="white")
    ax.set_xticklabels(cols, rotation=0)
    ax.set_yticklabels([t("layer_n", n=int(r) + 1) if r.isdigit() else r for r in rows], rotation=0)   # 1-based
    ax.grid(False)
    total = int(np.nansum(grid))
    start = t("adalora_start", init=init_r * len(pattern), n=len(pattern), r=init_r) if init_r else ""
    set_title(ax, t("adalora_title", total=total, start=start))
    if run is not None:
        measured_note(fig, rank_pattern, runs=[run], extra=t("clause_sep") + t("note_adalora"))
    else:
        note(fig, "measured", t("note_adalora"))
    return fig


def dylora_curve(acc_by_rank: dict, reference: dict | None = None, reference_label: str = "lora_truncated",
                 metric: str = "test_accuracy", source: str | None = None, spread: dict | None = None,
                 reference_spread: dict | None = None) -> Figure:
    """Accuracy of one DyLoRA model evaluated at each rank b (``set_rank(model, b)``), optionally
    beside a ``reference`` {rank: accuracy} (e.g. a plain LoRA model cut to rank b, or
    ``reference_label="lora"``: LoRA trained separately at each rank). The accuracy axis spans at
    least 8 points, ticks on whole percents, so seed noise does not pass for a trend. ``spread``
    / ``reference_spread``: {rank: std} drawn as error bars. ``source``: one line saying where
    the numbers come from (e.g. the run's recipe), written in the footer."""
    if not acc_by_rank:
        raise ValueError("acc_by_rank is empty: evaluate the model at a few ranks first")
    for field, given in (("spread", spread), ("reference_spread", reference_spread)):
        if given is not None and not isinstance(given, dict):
            raise TypeError(f"{field}={given!r} must be a dict {{rank: std}} or None")
    fig, ax = figure(width=7.5, height=4.8)
    style = dict(linewidth=2, capsize=4, markersize=6)
    ranks = sorted(acc_by_rank)
    ax.errorbar(ranks, [acc_by_rank[b] for b in ranks], yerr=_spread(spread, ranks), marker="o",
                color=readable(color("dylora")), label=t("dylora_once_legend"), **style)
    if reference:
        ref = sorted(reference)
        ax.errorbar(ref, [reference[b] for b in ref], yerr=_spread(reference_spread, ref), marker="s",
                    linestyle="--", color=color("lora"), label=t("lora_separate" if reference_label == "lora"
                                                                 else reference_label), **style)
    log2_axis(ax, ranks + sorted(reference or {}))
    ax.set_xlabel(t("log_axis", label=t("eval_rank")))
    ax.set_ylabel(t(metric))
    if "accuracy" in metric or "f1" in metric:
        accuracy_axis(ax)
    ax.set_title(t("dylora_title"))
    ax.legend(frameon=False)
    note(fig, "measured", source or t("note_given_values"))
    return fig


def _spread(stds: dict | None, ranks: list) -> list[float] | None:
    """Error-bar half-heights at ``ranks`` (0 where a rank has none), None without any."""
    return None if not stds else [float(stds.get(b) or 0.0) for b in ranks]


def _normalised_blocks(weights: torch.Tensor | None, block_size: int) -> np.ndarray:
    """Values divided by their block's absmax, as NF4 sees them (Gaussian blocks if no weights)."""
    if weights is None:
        weights = torch.randn(4096 * block_size, generator=torch.Generator().manual_seed(0))
    flat = weights.detach().float().reshape(-1)
    flat = flat[: flat.numel() // block_size * block_size].view(-1, block_size)
    return (flat / flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)).reshape(-1).numpy()


def _code_usage(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Share of the values rounded to each level (nearest-level rounding)."""
    codes = np.searchsorted((levels[1:] + levels[:-1]) / 2, values)
    return np.bincount(codes, minlength=len(levels)) / len(values)


def nf4_levels_plot(weights: torch.Tensor | None = None, block_size: int = 64) -> Figure:
    """Left: the 16 NF4 levels over the distribution of block-normalised weights (a real weight
    tensor if given, else Gaussian samples), the even int4 grid below for contrast. Right: how
    often each of the 16 codes is used, NF4 vs the even grid (NF4's use is flatter)."""
    levels = nf4_levels().double().numpy()
    uniform = np.linspace(-1, 1, 16)
    values = _normalised_blocks(weights, block_size)
    fig, (ax1, ax2) = figure(ncols=2, width=13, height=4.8)
    ax1.hist(values, bins=120, density=True, color=MUTED, alpha=0.45,
             label=t("weights_given") if weights is not None else t("gaussian_blocks", b=block_size))
    top = ax1.get_ylim()[1]
    ax1.vlines(levels, 0, top * 1.02, color=NF4_COLOR, linewidth=2, label=t("nf4_levels"))
    ax1.plot(levels, np.full(16, top * 1.02), "o", color=NF4_COLOR, markersize=5)
    ax1.plot(uniform, np.full(16, -0.05 * top), "|", color="#333333", markersize=12, label=t("int4_levels"))
    ax1.set_ylim(-0.1 * top, top * 1.45)   # room for the legend above the histogram
    ax1.set_xlabel(t("normalised_value"))
    ax1.set_ylabel(t("density"))
    ax1.set_title(t("nf4_title"))
    ax1.legend(frameon=False, loc="upper left", fontsize=10, ncol=2)
    x = np.arange(16)
    ax2.bar(x - 0.2, 100 * _code_usage(values, levels), 0.4, color=NF4_COLOR, label="NF4")
    ax2.bar(x + 0.2, 100 * _code_usage(values, uniform), 0.4, color=MUTED, label=t("int4_even"))
    ax2.axhline(100 / 16, color="#333333", linestyle=":", linewidth=1, label=t("equal_use"))
    ax2.set_xticks(x, [str(i) for i in x], fontsize=11)
    ax2.set_xlabel(t("code"))
    ax2.set_ylabel(t("code_share"))
    ax2.set_title(t("code_use_title"))
    ax2.legend(frameon=False)
    ax2.grid(axis="x", visible=False)
    note(fig, "computed", t("note_nf4", b=block_size))
    return fig


def loraplus_ratio(results: dict, mark: float | None = None, mark_label: str | None = None) -> Figure:
    """LoRA+ at every learning-rate ratio λ = η_B / η_A of the ``loraplus_ratio`` sweep (λ = 1 is
    plain LoRA at the same base rate): test accuracy and seconds per step, mean ± std over seeds.
    ``mark``: a ratio to show on the measured curves (e.g. the method table's λ); ``mark_label``:
    other words for it than "当前 λ = …" (see ``sweeps.mark_setting``)."""
    fig, (ax1, ax2) = sweep_figure(results, "optimizer.ratio", "loraplus_ratio", ("test_accuracy", "sec_per_step"),
                                   ("loraplus_ratio_accuracy_title", "loraplus_ratio_speed_title"))
    ax2.set_ylim(bottom=0)
    if mark is not None:
        for ax in (ax1, ax2):
            mark_setting(ax, mark, "λ", mark_label)
    return fig
