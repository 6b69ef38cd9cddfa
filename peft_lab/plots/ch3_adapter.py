"""Chapter 3.3.3 (adapters): where Houlsby, Pfeiffer and parallel adapters sit in a pre-LN block,
and what the bottleneck width m and the placement do (measured).

The diagram follows ``peft_lab.model.Block`` and ``peft_lab.methods.adapter``: a sequential
adapter wraps ``o_proj`` / ``down_proj`` (inside the residual branch, before the addition); a
parallel one sits beside the whole FFN and reads the same normalised input.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import budget
from ..i18n import t
from ..methods.adapter import AdapterConfig
from matplotlib.patches import Circle

from ..experiments.analysis import summarize
from .common import (arch_name, arrow, box, diagram_axes, figure, final_runs, human_count, measured_note,
                     metric_bars, note, percent)
from .sweeps import sweep_figure
from .style import FROZEN, color

PLACEMENTS = ("houlsby", "pfeiffer", "parallel")
W, H = 0.44, 0.062   # box size on the 0..1 canvas


def _placement_counts(arch, placement: str, m: int) -> tuple[int, int]:
    """(adapters per layer, trainable parameters) of one placement on ``arch``, from the budget."""
    arch = budget.get(arch)
    total = budget.count(arch, AdapterConfig(bottleneck=m, placement=placement))
    per_adapter = 2 * arch.d_model * m + arch.d_model + m
    return total // per_adapter // arch.n_layers, total


def _block(ax, placement: str, m: int) -> None:
    """One pre-LN block, bottom (input) to top (output), with the adapters of ``placement``."""
    diagram_axes(ax)
    cx, left = 0.5, 0.5 - W / 2
    adapter = dict(face=color(f"adapter_{placement}"), text_color="#1a1a1a")
    ys = {"in": 0.02, "ln1": 0.12, "attn": 0.22, "a1": 0.32, "add1": 0.43, "ln2": 0.51, "ffn": 0.61,
          "a2": 0.71, "add2": 0.84, "out": 0.93}
    box(ax, left, ys["in"], W, H, "x", face="white")
    box(ax, left, ys["ln1"], W, H, "LayerNorm", face=FROZEN)
    box(ax, left, ys["attn"], W, H, t("attention_o"), face=FROZEN)
    flow = ["in", "ln1", "attn"]
    if placement == "houlsby":
        box(ax, left, ys["a1"], W, H, t("adapter_box", m=m), **adapter)
        flow.append("a1")
    flow += ["add1", "ln2"]
    box(ax, left, ys["ln2"], W, H, "LayerNorm", face=FROZEN)
    if placement == "parallel":
        box(ax, 0.04, ys["ffn"], 0.42, H, t("ffn_box"), face=FROZEN)
        box(ax, 0.54, ys["ffn"], 0.42, H, t("adapter_box", m=m) + " ×s", **adapter)
        for x in (0.25, 0.75):
            arrow(ax, (cx, ys["ln2"] + H), (x, ys["ffn"]))
            arrow(ax, (x, ys["ffn"] + H), (cx, ys["add2"] - 0.015))
        flow_top = ["add2", "out"]
    else:
        box(ax, left, ys["ffn"], W, H, t("ffn_box"), face=FROZEN)
        flow += ["ffn"]
        if placement in ("houlsby", "pfeiffer"):
            box(ax, left, ys["a2"], W, H, t("adapter_box", m=m), **adapter)
            flow.append("a2")
        flow_top = ["add2", "out"]
    for key in ("add1", "add2"):
        ax.add_patch(_circle(cx, ys[key] + 0.015))
        ax.text(cx, ys[key] + 0.015, "+", ha="center", va="center", fontsize=14)
    box(ax, left, ys["out"], W, H, t("block_out"), face="white")
    chain = flow + flow_top if placement != "parallel" else flow
    for a, b in zip(chain, chain[1:]):
        start = ys[a] + (0.031 if a.startswith("add") else H)   # leave a "+" circle at its top
        arrow(ax, (cx, start), (cx, ys[b] - (0.001 if b.startswith("add") else 0)))
    if placement == "parallel":
        arrow(ax, (cx, ys["add2"] + 0.031), (cx, ys["out"]))
    # residual connections on the left
    for start, end in (("in", "add1"), ("add1", "add2")):
        y0 = ys[start] + (H / 2 if start == "in" else 0.015)
        y1 = ys[end] + 0.015
        ax.plot([left if start == "in" else cx - 0.015, 0.015, 0.015, cx - 0.015], [y0, y0, y1, y1],
                color="#777777", linewidth=1.1, linestyle="--")


def _circle(x, y) -> Circle:
    return Circle((x, y), 0.016, facecolor="white", edgecolor="#333333", linewidth=1.2, zorder=3)


def adapter_diagram(placement: str | None = None, arch="tiny", bottleneck: int = 32) -> Figure:
    """Where the adapters of each placement sit in a pre-LN transformer block (one panel per
    placement; ``None``: all three), with adapters per layer and trainable parameters on ``arch``
    (``budget.count``) in each title. Frozen parts are grey."""
    placements = PLACEMENTS if placement is None else (placement,)
    for p in placements:
        if p not in PLACEMENTS:
            raise ValueError(f"placement={p!r} is not one of {PLACEMENTS}")
    fig, axes = figure(ncols=len(placements), width=5.0 * len(placements), height=7.4)
    axes = np.atleast_1d(axes)
    shown = arch_name(arch)
    for ax, p in zip(axes, placements):
        _block(ax, p, bottleneck)
        per_layer, total = _placement_counts(arch, p, bottleneck)
        ax.set_title(f"{t('adapter_' + p)}\n" + t("adapter_counts", n=per_layer, params=human_count(total),
                                                    arch=shown), fontsize=12)
    note(fig, "computed", t("note_adapter_counts"))
    return fig


def bottleneck_sweep(results: dict, d_model: int | None = None, mark: int | None = None,
                     mark_label: str | None = None) -> Figure:
    """Test accuracy (left) and trainable parameters (right) against the bottleneck width m,
    mean ± std over seeds (``adapter_bottleneck`` sweep); ``d_model`` shades the chapter's
    advice m ∈ [d/16, d/4]; ``mark``: a width m to show on the measured curves (a slider's value);
    ``mark_label``: other words for it, e.g. "数据支持的最小 m = {value}" (see ``sweeps.mark_setting``)."""
    fig, axes = sweep_figure(results, "config.bottleneck", "bottleneck",
                             titles=("bottleneck_accuracy_title", "bottleneck_params_title"), mark=mark, mark_symbol="m",
                             mark_label=mark_label)
    if d_model:
        for ax in axes:
            ax.axvspan(d_model / 16, d_model / 4, color="#999999", alpha=0.15, label=t("advice_band"))
        axes[0].legend(frameon=False, fontsize=10)
    return fig


def placement_comparison(results: dict, labels=tuple(f"adapter_{p}" for p in PLACEMENTS)) -> Figure:
    """Houlsby vs Pfeiffer vs parallel, measured: test accuracy, trainable parameters and inference
    latency (seconds per training step when latency was not measured), mean ± std over seeds."""
    fig, axes = figure(ncols=3, width=15, height=4.8)
    drawn = metric_bars(axes[0], results, labels, "test_accuracy", fmt=lambda v: f"{100 * v:.1f}%")
    if not drawn:
        raise ValueError(f"no finished run of {list(labels)} in these results")
    metric_bars(axes[1], results, labels, "trainable_params", fmt=human_count)
    has_latency = any((r.get("metrics") or {}).get("latency_ms") is not None for r in final_runs(results))
    metric = "latency_ms" if has_latency else "sec_per_step"
    # one format per panel: tens of milliseconds to one decimal, fractions of a second to three
    metric_bars(axes[2], results, labels, metric, fmt=lambda v: f"{v:.1f} ms" if has_latency else f"{v:.3f} s")
    axes[0].set_ylim(0, 1.12)   # bars start at zero: a cut axis would exaggerate differences
    axes[0].yaxis.set_major_formatter(percent)
    for ax in axes[1:]:
        ax.set_ylim(top=ax.get_ylim()[1] * 1.1)   # room for the value labels above the error bars
    for ax in axes:
        ax.tick_params(axis="x", labelsize=10)
    fig.suptitle(t("placement_title"))
    seeds = [row["runs"] for row in summarize(results, by="label", metrics=["test_accuracy"]) if row["label"] in labels]
    measured_note(fig, results, max(seeds))
    return fig
