"""Chapter 3.3.2 (LoRA), costs: FLOPs counted correctly and inference latency measured.

The source chapter claims LoRA cuts the FLOPs of a matrix multiplication N-fold. The figures
here show what is true: the forward pass costs slightly *more* (``r(d+k)`` extra per token and
layer) until the update is merged; training saves the weight gradient of W0 (about a third of a
step); merged inference costs exactly the base model -- and the latency measurement agrees.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..budget.flops import FlopsReport
from ..i18n import t
from .common import arch_name, figure, final_runs, finite, measured_note, name, note, value_labels
from .style import MUTED, color

# The three parts of a step's FLOPs: greys for the passes every method pays, yellow for the weight
# gradient LoRA avoids -- colours no memory part and no method uses.
FLOP_PARTS = {"forward": "#bdbdbd", "backward_input": "#737373", "backward_weight": "#f0e442"}
# the benchmark's inference variants -> the method whose colour they take (None: the base model)
# methods of the LoRA family whose update could fold into W0 but whose runs measured no merged latency
# get a word of explanation (QLoRA: merging into a 4-bit base would mean re-quantising it)
MERGE_EXPECTED = ("qlora",)
BENCH_COLORS = {"base": None, "lora_unmerged": "lora", "lora_merged": "lora", "adapter_houlsby": "adapter_houlsby",
                "prefix_folded": "prefix_tuning", "ia3_merged": "ia3"}


def _scale(v: float) -> tuple[float, str]:
    for unit, size in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if v >= size:
            return size, unit
    return 1.0, "FLOPs"


def flops_bars(report: FlopsReport) -> Figure:
    """Left: one training step of full fine-tuning vs LoRA, stacked forward / input gradients /
    weight gradients. Right: one inference forward pass: base, LoRA unmerged, LoRA merged.
    Per token over the block linears (``peft_lab.budget.flops.model_flops``)."""
    size, unit = _scale(report.full.step)
    fig, (ax1, ax2) = figure(ncols=2, width=12.5, height=5.0)
    x = np.arange(2)
    bottom = np.zeros(2)
    for part, part_color in FLOP_PARTS.items():
        values = np.array([getattr(report.full, part), getattr(report.lora, part)]) / size
        ax1.bar(x, values, 0.55, bottom=bottom, color=part_color, label=t(f"flops_{part}"), edgecolor="#333333",
                linewidth=0.6)
        bottom += values
    for xi, total in zip(x, bottom):
        ax1.annotate(f"{100 * total / bottom[0]:.1f}%", (xi, total), xytext=(0, 3), textcoords="offset points",
                     ha="center")
    ax1.set_xticks(x, [t("full"), t("lora_r", r=report.r)])
    ax1.set_ylim(0, bottom.max() * 1.18)
    ax1.set_ylabel(t("flops_axis", unit=unit))
    ax1.set_title(t("flops_train_title"))
    handles, labels = ax1.get_legend_handles_labels()
    ax1.legend(handles[::-1], labels[::-1], frameon=False, loc="upper right")   # top part first, as stacked

    size2, unit2 = _scale(report.inference_base)
    values = np.array([report.inference_base, report.inference_unmerged, report.inference_merged]) / size2
    bars = ax2.bar(np.arange(3), values, 0.55, color=[MUTED, color("lora"), color("lora")])
    bars[1].set_hatch("//")
    bars[1].set_facecolor("white")
    bars[1].set_edgecolor(color("lora"))
    value_labels(ax2, bars, [t("reference")] + [_relative(v / values[0]) for v in values[1:]])
    ax2.set_xticks(np.arange(3), [t("base_model"), t("unmerged"), t("merged")])
    ax2.set_ylim(0, values.max() * 1.18)
    ax2.set_ylabel(t("flops_axis", unit=unit2))
    ax2.set_title(t("flops_infer_title"))
    for ax in (ax1, ax2):
        ax.grid(axis="x", visible=False)
    fig.suptitle(t("flops_title", arch=arch_name(report.arch), ratio=f"{report.step_ratio:.2f}"))
    note(fig, "computed", t("note_flops"))
    return fig


def _relative(ratio: float) -> str:
    """1.0 -> "= 基座" (exactly the base cost); 1.0123 -> "+1.23%"."""
    return t("same_as_base") if ratio == 1.0 else f"{100 * (ratio - 1):+.2f}%"


def latency_bars(data: dict) -> Figure:
    """Inference latency, measured. ``data`` is a ``peft_lab.bench.run`` report (its "inference"
    section: median ms with IQR per variant, ratio to the base model) or a results dict whose runs
    measured ``latency_ms`` / ``latency_merged_ms`` (full fine-tuning's is the base model's)."""
    if "inference" in data:
        return _bench_latency(data)
    return _results_latency(data)


def _bench_latency(report: dict) -> Figure:
    rows = report["inference"]["rows"]
    variants = list(rows)
    fig, ax = figure(width=max(7.0, 1.5 * len(variants) + 2), height=4.8)
    med = np.array([rows[v]["median_ms"] for v in variants])
    err = np.array([[med[i] - rows[v]["iqr_ms"][0], rows[v]["iqr_ms"][1] - med[i]] for i, v in enumerate(variants)]).T
    colors = [MUTED if BENCH_COLORS.get(v) is None else color(BENCH_COLORS[v]) for v in variants]
    bars = ax.bar(np.arange(len(variants)), med, 0.6, yerr=err, capsize=4, color=colors)
    for bar, v in zip(bars, variants):
        if v.endswith("unmerged"):
            bar.set_hatch("//")
            bar.set_facecolor("white")
            bar.set_edgecolor(color(BENCH_COLORS[v]))
    value_labels(ax, bars, [f"×{rows[v]['ratio']:.2f}" for v in variants], ends=med + err[1])
    ax.set_xticks(np.arange(len(variants)), [t(f"bench_{v}") for v in variants])
    ax.set_ylim(0, (med + err[1]).max() * 1.2)
    ax.set_ylabel(t("latency"))
    s = report.get("meta", {}).get("settings", {})
    ax.set_title(t("latency_bench_title", batch=s.get("batch", "?"), tokens=s.get("tokens_per_example", "?")))
    ax.grid(axis="x", visible=False)
    note(fig, "measured", t("note_bench", rounds=s.get("rounds", "?")))
    return fig


def _results_latency(results: dict) -> Figure:
    """Per method: the median latency over seeds as a bar (hatched: as trained; solid: merged) and
    each seed's measurement as a dot. These runs were timed one after another on a shared machine,
    so the footer states the spread between seeds and points to the interleaved benchmark."""
    by_label: dict[str, dict[str, list[float]]] = {}
    for run in final_runs(results):
        m = run.get("metrics") or {}
        entry = by_label.setdefault(run["label"], {"unmerged": [], "merged": []})
        if finite(m.get("latency_ms")):
            entry["unmerged"].append(m["latency_ms"])
        if finite(m.get("latency_merged_ms")):
            entry["merged"].append(m["latency_merged_ms"])
    by_label = {k: v for k, v in by_label.items() if v["unmerged"]}
    if not by_label:
        raise ValueError("no run in these results measured latency (quick runs use measure=False); "
                         "load the committed results or pass a peft_lab.bench report")
    labels = list(by_label)
    fig, ax = figure(width=10, height=min(7.5, 0.34 * len(labels) + 2.2))
    h = 0.4
    legend_done: set[str] = set()
    for i, label in enumerate(labels):
        kinds = [k for k in ("unmerged", "merged") if by_label[label][k]]
        offsets = [-h / 2, h / 2] if len(kinds) == 2 else [0.0]
        for offset, kind in zip(offsets, kinds):
            values = by_label[label][kind]
            bar = ax.barh(i + offset, np.median(values), h, color=color(label),
                          label=None if kind in legend_done else t(f"latency_{kind}"))[0]
            ax.plot(values, np.full(len(values), i + offset), "o", markersize=3.5, color="#222222", zorder=3,
                    label=None if "seeds" in legend_done else t("latency_seed_dots"))
            legend_done |= {kind, "seeds"}
            if kind == "unmerged":
                bar.set_hatch("//")
                bar.set_facecolor("white")
                bar.set_edgecolor(color(label))
    if "full" in by_label:
        ax.axvline(np.median(by_label["full"]["unmerged"]), color="#555555", linestyle=":", linewidth=1.2,
                   label=t("base_model_latency"))
    ax.set_yticks(np.arange(len(labels)), [name(l) for l in labels])
    ax.invert_yaxis()
    ax.set_xlabel(t("latency"))
    ax.set_title(t("latency_results_title"))
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10)
    ax.grid(axis="y", visible=False)
    spread = max((max(v) / min(v), label) for label, e in by_label.items() for v in e.values() if len(v) > 1
                 and min(v) > 0) if any(len(v) > 1 for e in by_label.values() for v in e.values()) else None
    extra = t("latency_noise", ratio=f"{spread[0]:.2f}", name=name(spread[1])) if spread else ""
    unmergeable = [name(l) for l in labels if l in MERGE_EXPECTED and not by_label[l]["merged"]]
    if unmergeable:
        extra += t("latency_not_merged", names=t("seq_sep").join(unmergeable))
    measured_note(fig, results, extra=extra)
    return fig
