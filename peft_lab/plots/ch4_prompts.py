"""Chapter 3.3.4 (soft prompts): where each design puts its trainable vectors, how many there are,
and what the length L does (measured).

The source chapter draws "Prefix + 输入序列 → 拼接 → layers" and calls it prefix tuning; that is
prompt tuning. ``where_vectors_go`` draws the four designs side by side: prompt tuning (vectors
prepended to the input embeddings), P-Tuning (the same, produced by a prompt encoder that is
folded away after training), prefix tuning (key/value vectors in *every* layer, produced by an
MLP that is folded away after training) and P-Tuning v2 (per-layer key/values, trained directly).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import budget
from ..i18n import t
from ..methods import SOFT_PROMPT_DESIGNS as DESIGNS, soft_prompt_configs as design_configs
from .common import arch_name, arrow, box, diagram_axes, figure, human_count, note
from .sweeps import log2_axis, mark_setting, sweep_figure
from .style import FROZEN, color

def _panel(ax, design: str, n_layers: int) -> None:
    """The frozen stack on the right, the design's trainable vectors (coloured) on the left."""
    diagram_axes(ax)
    c = color(design)
    x0, w = 0.42, 0.54
    box(ax, x0, 0.02, w, 0.07, t("text_tokens"), face="white")
    box(ax, x0, 0.14, w, 0.08, t("embedding_frozen"), face=FROZEN)
    shown = [1, 2, n_layers] if n_layers > 3 else list(range(1, n_layers + 1))
    ys = np.linspace(0.3, 0.72, len(shown))
    for i, (layer, y) in enumerate(zip(shown, ys)):
        box(ax, x0, y, w, 0.09, t("layer_n", n=layer), face=FROZEN)
        if i and shown[i] - shown[i - 1] > 1:
            ax.text(x0 + w / 2 + 0.04, y - 0.035, "⋮", ha="center", va="center", fontsize=14)
    box(ax, x0, 0.86, w, 0.08, t("head_box"), face="white")
    cx = x0 + w / 2
    stops = [(0.09, 0.14), (0.22, ys[0])] + [(a + 0.09, b) for a, b in zip(ys, ys[1:])] + [(ys[-1] + 0.09, 0.86)]
    for y0, y1 in stops:   # the data flow, bottom to top
        arrow(ax, (cx, y0), (cx, y1))
    if design in ("prompt_tuning", "p_tuning"):
        box(ax, 0.06, 0.14, 0.3, 0.08, t("virtual_tokens"), face=c, text_color="white")
        arrow(ax, (0.36, 0.18), (x0, 0.18), arrow_color=c)
        if design == "p_tuning":
            box(ax, 0.06, 0.01, 0.3, 0.08, t("prompt_encoder"), face="white", edge=c, linestyle="--")
            arrow(ax, (0.21, 0.09), (0.21, 0.14), arrow_color=c)
            ax.text(0.21, 0.24, t("folded_after"), ha="center", va="bottom", fontsize=11, color=c)
        return
    for y in ys:
        box(ax, 0.2, y + 0.01, 0.16, 0.07, "K, V", face=c, text_color="white", fontsize=10)
        arrow(ax, (0.36, y + 0.045), (x0, y + 0.045), arrow_color=c)
    if design == "prefix_tuning":
        box(ax, 0.02, 0.4, 0.13, 0.2, "MLP", face="white", edge=c, linestyle="--")
        for y in ys:
            arrow(ax, (0.15, 0.5), (0.2, y + 0.045), arrow_color=c)
        ax.text(0.085, 0.38, t("folded_after_mlp"), ha="center", va="top", fontsize=11, color=c)


def where_vectors_go(arch="tiny", num_virtual_tokens: int = 16, encoder_hidden_size: int = 128) -> Figure:
    """The four soft-prompt designs side by side (2 × 2): where the trainable vectors enter a
    frozen model, and how many parameters each trains and keeps on ``arch`` (``budget.count``)."""
    arch = budget.get(arch)
    configs = design_configs(num_virtual_tokens, encoder_hidden_size)
    fig, axes = figure(ncols=2, nrows=2, width=12, height=10.5)
    for ax, design in zip(axes.ravel(), DESIGNS):
        _panel(ax, design, arch.n_layers)
        trained = budget.count(arch, configs[design])
        kept = budget.count(arch, configs[design], folded=True)
        counts = t("counts_trained", n=human_count(trained))
        if kept != trained:
            counts += t("counts_kept", n=human_count(kept))
        ax.set_title(t("design_title", name=t(design), where=t("where_" + design),
                       formula=t("formula_" + design), counts=counts), fontsize=12)
    note(fig, "computed", t("note_prompt_counts", arch=arch_name(arch), L=num_virtual_tokens, h=encoder_hidden_size))
    return fig


def prefix_length_sweep(results: dict, mark: int | None = None, mark_label: str | None = None) -> Figure:
    """Test accuracy (left) and trainable parameters (right) against the number of virtual tokens
    L, per design (``prefix_length`` sweep: prefix tuning in every layer vs prompt tuning at the
    input). Only measured lengths carry markers; a design measured at fewer lengths is dotted
    across the gaps. ``mark``: a length L to show on the measured curves (e.g. a slider's value);
    ``mark_label``: other words for it than "当前 L = …" (see ``sweeps.mark_setting``)."""
    fig, (ax1, ax2) = sweep_figure(results, "config.num_virtual_tokens", "prefix_length",
                                   titles=("length_accuracy_title", "length_params_title"))
    counts = [y for line in ax2.get_lines() for y in line.get_ydata() if y > 0]
    if counts and max(counts) / min(counts) > 10:   # prefix vs prompt tuning: orders of magnitude apart
        ax2.set_yscale("log")
        ax2.yaxis.set_major_formatter(lambda v, _: human_count(v))
        ax2.set_ylabel(t("trainable_params_log"))
    if mark is not None:   # once the scales are final, so its label finds a clear corner
        for ax in (ax1, ax2):
            mark_setting(ax, mark, "L", mark_label)
    return fig


def param_counts(L_values=(1, 2, 4, 8, 16, 32, 64), arch="tiny", encoder_hidden_size: int = 128) -> Figure:
    """Trainable parameters against L on ``arch`` (``budget.count``): what inference keeps (solid:
    L·d for prompt tuning and folded P-Tuning; L·2·n_layers·d_kv for P-Tuning v2 and folded prefix
    tuning) and what the reparameterised designs train (dashed, with their encoder / MLP)."""
    arch = budget.get(arch)
    L_values = sorted(L_values)
    counts = {d: {"trained": [], "kept": []} for d in DESIGNS}
    for L in L_values:
        for design, config in design_configs(L, encoder_hidden_size).items():
            counts[design]["trained"].append(budget.count(arch, config))
            counts[design]["kept"].append(budget.count(arch, config, folded=True))
    fig, ax = figure(width=8.5, height=5.2)
    lines = [("prompt_tuning", "kept", "-", "o", t("kept_prompt")),
             ("p_tuning_v2", "kept", "-", "s", t("kept_prefix")),
             ("p_tuning", "trained", "--", "^", t("trained_p_tuning", h=encoder_hidden_size)),
             ("prefix_tuning", "trained", "--", "v", t("trained_prefix", h=encoder_hidden_size))]
    for design, kind, style, marker, label in lines:
        ax.plot(L_values, counts[design][kind], linestyle=style, marker=marker, linewidth=2, color=color(design),
                label=label)
    log2_axis(ax, L_values)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(lambda v, _: human_count(v))
    ax.set_xlabel(t("log_axis", label=t("prefix_length")))
    ax.set_ylabel(t("params_log"))   # solid: kept at inference; dashed: trained (the legend says which)
    ax.set_title(t("prompt_counts_title", arch=arch_name(arch), n=arch.n_layers, d=arch.d_model))
    ax.legend(frameon=False, fontsize=10)
    note(fig, "computed", t("note_budget_count_only"))
    return fig
