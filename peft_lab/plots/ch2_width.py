"""Chapter 3.3.2 (LoRA), costs: when does LoRA's training step get faster than full fine-tuning?

The FLOP count (``peft_lab.budget.flops``) says a LoRA step costs about 0.7-0.8 of a full
fine-tuning step at every width; measured on the 1.3 M-parameter model it is about as slow.
``width_ratio`` draws the measured ratio (``python -m peft_lab.bench --widths``, median and
IQR of interleaved per-round ratios) against the model's width beside the FLOP model's ratio,
and shades the widths from which on LoRA is measurably faster (``crossover``).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..i18n import t
from .common import figure, human_count, note
from .sweeps import log2_axis
from .style import MUTED, color

def crossover(report: dict) -> int | None:
    """The smallest measured width from which on LoRA is measurably faster: the upper quartile of
    the per-round ratios lies below 1 at that width and at every wider one. None when even the
    widest does not (a median below 1 whose IQR reaches 1 is within the noise of the machine)."""
    points = sorted((p["d_model"], p["ratio_iqr"][1]) for p in report["widths"])
    found = None
    for d, upper in reversed(points):
        if upper >= 1:
            break
        found = d
    return found


def width_ratio(report: dict, with_times: bool = False, source: str = "results/lora_width.json") -> Figure:
    """Measured LoRA/full step-time ratio (median, IQR bars) per width beside the FLOP model's
    ratio, a line at 1 (as fast as full FT) and the crossover; ``with_times`` adds a panel of
    both methods' median step times. ``report`` is what ``peft_lab.bench.width_run`` returns."""
    points = sorted(report.get("widths", []), key=lambda p: p["d_model"])
    if not points:
        raise ValueError("the report holds no widths: run python -m peft_lab.bench --widths first")
    label = report["meta"]["method"]["label"]
    d = np.array([p["d_model"] for p in points])
    ratio = np.array([p["ratio"] for p in points])
    iqr = np.array([[r - p["ratio_iqr"][0], p["ratio_iqr"][1] - r] for p, r in zip(points, ratio)]).T
    fig, axes = figure(ncols=2 if with_times else 1, width=15.0 if with_times else 8.5, height=5.2)
    ax = axes[0] if with_times else axes
    ax.axhline(1.0, color="#333333", linestyle=":", linewidth=1.2, label=t("parity"))
    ax.plot(d, [p["flops_ratio"] for p in points], linestyle="--", marker="s", color=MUTED, linewidth=2,
            label=t("flops_ratio"))
    ax.errorbar(d, ratio, yerr=iqr, marker="o", capsize=5, linewidth=2, markersize=7, color=color(label),
                label=t("measured_ratio"))
    for x, y in zip(d, ratio):
        ax.annotate(f"×{y:.2f}", (x, y), xytext=(8, 6), textcoords="offset points", fontsize=10, color=color(label))
    cross = crossover(report)
    if cross is not None:
        ax.axvspan(cross / 1.15, d[-1] * 1.3, color=color(label), alpha=0.07, linewidth=0)
        ax.text(0.02, 0.03, t("crossover", d=cross), transform=ax.transAxes, fontsize=10, color=color(label),
                va="bottom")
    else:
        ax.text(0.02, 0.02, t("no_crossover"), transform=ax.transAxes, fontsize=10, va="bottom")
    log2_axis(ax, list(d))
    ax.set_xticklabels([f"{x}\n({human_count(p['total_params'])})" for x, p in zip(d, points)], fontsize=9.5)
    low = min(min(p["flops_ratio"] for p in points), min(p["ratio_iqr"][0] for p in points))
    high = max(1.0, max(p["ratio_iqr"][1] for p in points))
    ax.set_ylim(min(0.5, low - 0.05), high + 0.12)
    ax.set_xlabel(t("log_axis", label=t("width_axis")))
    ax.set_ylabel(t("ratio_axis"))
    ax.set_title(t("width_title"))
    ax.legend(frameon=False, loc="upper right")
    if with_times:
        ax2 = axes[1]
        for name in ("full", label):
            ax2.plot(d, [p["step"]["rows"][name]["median_ms"] for p in points], marker="o", linewidth=2,
                     color=color(name), label=t(name))
        log2_axis(ax2, list(d))
        ax2.set_yscale("log")
        ax2.set_xlabel(t("log_axis", label=t("width_axis_plain")))
        ax2.set_ylabel(t("log_axis", label=t("times_axis")))
        ax2.set_title(t("times_title"))
        ax2.legend(frameon=False)
    meta, first = report["meta"], points[0]
    s = meta["settings"]
    note(fig, "measured", t("note_width", source=source, command=meta.get("command", "peft_lab.bench"),
                             layers=first["n_layers"], heads=first["n_heads"], batch=s["batch"],
                             tokens=max(p["tokens_per_example"] for p in points), rounds=s["rounds"],
                             threads=meta.get("machine", {}).get("torch_threads", "?"),
                             date=str(meta.get("date", "?"))[:10]))
    return fig
