"""Chapter 3.3.2 (LoRA): the decomposition to scale, its parameter count, why low rank is enough
(the measured spectrum of ΔW), and what the rank does to accuracy and speed (measured sweep).

Costs (FLOPs, latency) are in ``ch2_costs``; the variants (AdaLoRA, DyLoRA, QLoRA's NF4) in
``ch2_variants``.
"""
from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import torch

from .. import budget
from ..experiments import spectra
from ..experiments.analysis import energy_table
from ..i18n import t
from .common import figure, final_runs, measured_note, note, pct, value_labels
from .sweeps import mark_setting, sweep_figure
from .style import MUTED, color, series_color
from ..checks import check_positive_int

# the rank sweep's variants -> language-table key (also their palette key)
DELTA = series_color(1)   # the measured ΔW (random references are MUTED)
RANK_RULES = {"alpha=16": "alpha=16", "alpha=2r": "alpha=2r", "rslora": "rslora_rule"}


def lora_diagram(d: int = 128, k: int = 64, r: int = 8) -> Figure:
    """``W0`` (d×k, frozen) + ``B`` (d×r, zeros) · ``A`` (r×k, random), drawn to scale in the
    paper's notation (h = W0 x + (α/r) B A x), with the counts d·k vs r(d+k) in the title."""
    for field, v in (("d", d), ("k", k), ("r", r)):
        check_positive_int(field, v)
    if r > min(d, k):
        raise ValueError(f"r={r} exceeds min(d, k) = {min(d, k)}: a d×k matrix has no higher rank")
    gap = 0.3 * max(d, k)
    xB = k + gap
    xA = xB + r + gap
    content_w, content_h = xA + 1.1 * k, 1.27 * d
    height = min(6.0, max(3.8, 9.0 * content_h / content_w + 1.3))
    fig, ax = figure(width=min(11.0, (height - 1.3) * content_w / content_h + 1.0), height=height)
    ax.imshow(np.full((d, k), 0.5), extent=(0, k, 0, d), cmap="Greys", vmin=0, vmax=3, aspect="equal")
    ax.imshow(np.zeros((d, r)), extent=(xB, xB + r, 0, d), cmap="Blues", vmin=0, vmax=1, aspect="equal")
    rng = np.random.default_rng(0)   # texture only: A starts Gaussian
    yA = (d - r) / 2   # A sits level with the middle of B: the product B·A reads left to right
    ax.imshow(rng.normal(size=(r, k)), extent=(xA, xA + k, yA, yA + r), cmap="Blues", aspect="equal")
    for x0, y0, w, h in ((0, 0, k, d), (xB, 0, r, d), (xA, yA, k, r)):
        ax.add_patch(_outline(x0, y0, w, h))
    big = dict(ha="center", va="center", fontsize=30)
    ax.text(k + gap / 2, d / 2, "+", **big)
    ax.text(xB + r + gap / 2, d / 2, "×", **big)
    below = -0.06 * d
    ax.text(k / 2, below, t("lora_w0", d=d, k=k), ha="center", va="top")
    ax.text(xB + r / 2, below, t("lora_b", d=d, r=r), ha="center", va="top", color=color("lora"))
    ax.text(xA + k / 2, yA - 0.06 * d, t("lora_a", r=r, k=k), ha="center", va="top", color=color("lora"))
    ax.set_xlim(-0.05 * k, xA + k * 1.05)
    ax.set_ylim(-0.24 * d, d * 1.03)
    ax.set_axis_off()
    share = r * (d + k) / (d * k)
    ax.set_title(r"$h = W_0x + (\alpha / r)\,BAx$" + "\n" +
                 t("lora_counts", dk=f"{d * k:,}", lora=f"{r * (d + k):,}", share=pct(share)))
    note(fig, "computed", t("note_shapes"))
    return fig


def _outline(x, y, w, h) -> Rectangle:
    return Rectangle((x, y), w, h, fill=False, edgecolor="#333333", linewidth=1.2)


def rank_params(d: int = 128, k: int = 128, ranks=(1, 2, 4, 8, 16, 32, 64)) -> Figure:
    """Trainable parameters r(d+k) of one adapted d×k layer per rank, against the d·k of ΔW."""
    ranks = list(ranks)
    counts = [r * (d + k) for r in ranks]
    fig, ax = figure(width=8, height=4.8)
    bars = ax.bar([str(r) for r in ranks], counts, color=color("lora"), width=0.6)
    value_labels(ax, bars, [pct(c / (d * k)) for c in counts])
    for label in ax.texts:   # a label at the height of the dashed line stays readable on it
        label.set_bbox(dict(facecolor="white", edgecolor="none", pad=1.0))
    ax.axhline(d * k, color=MUTED, linestyle="--", linewidth=1.5, zorder=0)
    ax.annotate(t("full_delta_w", dk=f"{d * k:,}"), (-0.4, d * k), xytext=(0, 5), textcoords="offset points",
                color="#555555", fontsize=10)
    ax.set_ylim(0, max(max(counts), d * k) * 1.22)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.set_xlabel(t("rank"))
    ax.set_ylabel(t("trainable_params"))
    ax.set_title(t("rank_params_title", d=d, k=k, even=f"{d * k / (d + k):.3g}"))
    ax.grid(axis="x", visible=False)
    note(fig, "computed", t("note_rank_params"))
    return fig


def _delta_w_runs(results: dict) -> list[dict]:
    runs = [r for r in final_runs(results, {"kind": "delta_w"}) if "spectra" in (r.get("details") or {})]
    if not runs:
        raise ValueError("no delta_w run with spectra in these results: load_results('delta_w') or "
                         "run_sweep('delta_w', quick=True)")
    return runs


def spectrum(results: dict, top: int = 32, k: int = 8) -> Figure:
    """Singular values (left) and cumulative energy (right) of the real ΔW of every block matrix
    after full fine-tuning (thin lines; bold: the median), beside random matrices of the same
    shape and Frobenius norm (dashed): a random matrix spreads its energy, ΔW concentrates it."""
    spectra = _delta_w_runs(results)[0]["details"]["spectra"]
    fig, (ax1, ax2) = figure(ncols=2, width=12.5, height=4.8)
    for kind, key in (("delta", "singular_values"), ("random", "random_singular_values")):
        style = dict(color=DELTA if kind == "delta" else MUTED, linestyle="-" if kind == "delta" else "--")
        normed, energy = [], []
        for rep in spectra.values():
            s = np.asarray(rep[key], dtype=float)[:top]
            full = np.asarray(rep[key], dtype=float)
            normed.append(s / s[0])
            energy.append(np.cumsum(s ** 2) / np.sum(full ** 2))
        n = min(len(v) for v in normed)
        x = np.arange(1, n + 1)
        for ax, curves in ((ax1, normed), (ax2, energy)):
            for c in curves:
                ax.plot(x, c[:n], alpha=0.3, linewidth=1, **style)
            ax.plot(x, np.median([c[:n] for c in curves], axis=0), linewidth=2.8,
                    label=t("delta_w_measured" if kind == "delta" else "random_same_norm"), **style)
    ax2.axvline(k, color="#555555", linewidth=1, linestyle=":")
    ax2.annotate(t("k_line", k=k), (k, 0.03), xytext=(4, 0), textcoords="offset points", color="#555555")
    ax2.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax1.set_xlabel(t("sv_index"))
    ax1.set_ylabel(t("sv_normalised"))
    ax1.set_title(t("spectrum_title", n=len(spectra)))
    ax2.set_xlabel(t("top_k"))
    ax2.set_ylabel(t("energy_share"))
    ax2.set_ylim(0, 1.02)
    ax2.set_title(t("energy_title"))
    ax1.legend(frameon=False, loc="upper right")
    ax2.legend(frameon=False, loc="lower right")
    measured_note(fig, results)
    return fig


def energy_top_k(results: dict, k: int = 8) -> Figure:
    """Share of ΔW's energy in its top-k directions, one dot per matrix, grouped by module type
    (dots of one group = the layers), beside a random matrix of the same shape and norm."""
    rows = energy_table(results, k)
    if not rows:
        _delta_w_runs(results)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["matrix"].split(".")[-1], []).append(row)
    fig, ax = figure(width=max(7.0, 1.3 * len(groups) + 2.5), height=5.0)
    for i, members in enumerate(groups.values()):
        offsets = np.linspace(-0.2, 0.2, len(members)) if len(members) > 1 else np.zeros(1)
        for key, dot_color, label in ((f"top{k}", DELTA, "delta_w_measured"),
                                      (f"random_top{k}", MUTED, "random_same_norm")):
            ax.scatter(i + offsets, [m[key] for m in members], s=55, color=dot_color, zorder=3,
                       label=t(label) if i == 0 else None)
    ax.set_xticks(np.arange(len(groups)), list(groups))
    n_layers = max(len(m) for m in groups.values())
    ax.set_xlabel(t("layer_order", n=n_layers))
    ax.set_ylim(0, 1.15)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.set_ylabel(t("energy_top_k_axis", k=k))
    ax.set_title(t("energy_top_k_title", k=k))
    ax.legend(frameon=False, loc="upper left", ncol=2)
    ax.grid(axis="x", visible=False)
    measured_note(fig, results)
    return fig


def rank_sweep(results: dict, mark: int | None = None, mark_label: str | None = None) -> Figure:
    """Test accuracy (left) and seconds per training step (right) against the rank r, one line
    per scaling rule (α fixed, α = 2r, rsLoRA), mean ± std over seeds (``lora_rank`` sweep).
    Only measured ranks carry markers; a rule measured at fewer ranks is dotted across the gaps.
    ``mark``: a rank r to show on the measured curves (e.g. a slider's value); ``mark_label``:
    other words for it than "当前 r = …" (see ``sweeps.mark_setting``)."""
    fig, (ax1, ax2) = sweep_figure(results, "config.r", "rank", ("test_accuracy", "sec_per_step"),
                                 ("rank_accuracy_title", "rank_speed_title"), by="variant", order=list(RANK_RULES),
                                 names={v: t(key) for v, key in RANK_RULES.items()},
                                 colors={v: color(key) for v, key in RANK_RULES.items()})
    ax2.set_ylim(bottom=0)
    if mark is not None:   # once the limits are final, so its label finds a clear corner
        for ax in (ax1, ax2):
            mark_setting(ax, mark, "r", mark_label)
    return fig


def random_subspace_similarity(r1: int, r2: int, k: int) -> list[list[float]]:
    """φ(i, j) between two Gaussian matrices of shapes (r1, k) and (r2, k) -- what chance gives for
    subspaces of R^k (about max(i, j) / k), drawn with the seeds the ``delta_w`` sweep used."""
    return spectra.subspace_similarity(spectra.random_like(torch.ones(r1, k), 1),
                                       spectra.random_like(torch.ones(r2, k), 2), r1, r2)


def in_features(matrix: str, arch="tiny") -> int | None:
    """k of a module of ``arch`` named like ``layers.0.mlp.down_proj`` (None if it has none such)."""
    return next((lin.in_features for lin in budget.get(arch).all_linears()
                 if matrix == lin.name or matrix.endswith("." + lin.name)), None)


def subspace_similarity(results: dict, matrix: str | None = None, kind: str = "A", arch="tiny") -> Figure:
    """The LoRA paper's subspace similarity φ(i, j) (Hu et al. 2021, section 7.2) between the
    top-i directions of ``A`` trained at r = 8 and the top-j at r = 64 (``delta_w`` sweep,
    measured here), beside two random matrices of the same shapes: learned subspaces overlap
    far more than chance. ``matrix``: a module name (default: the first); ``kind``: "A" or "delta_w".
    The random reference is drawn for the shown matrix's own input width k (``arch``'s module of
    that name: 128 for the attention projections of the tiny model, 512 for ``down_proj``), as
    chance overlap shrinks with k; the stored reference (the first matrix's shape) only when
    ``arch`` has no such module."""
    runs = [r for r in final_runs(results, {"kind": "subspace"}) if (r.get("details") or {}).get("subspace")]
    if not runs:
        raise ValueError("no subspace run in these results: load_results('delta_w')")
    details = runs[0]["details"]
    matrix = matrix or next(iter(details["subspace"]))
    if matrix not in details["subspace"]:
        raise ValueError(f"matrix={matrix!r} is not in these results; allowed: {list(details['subspace'])}")
    r1, r2 = (int(k.split("=")[1]) for k in details["models"])
    k = in_features(matrix, arch)
    random, random_title = ((random_subspace_similarity(r1, r2, k), t("phi_random_shape", r1=r1, r2=r2, k=k))
                            if k is not None else (details["random"], t("phi_random")))
    fig, axes = figure(ncols=2, width=12.5, height=4.2)
    for ax, grid, title in ((axes[0], details["subspace"][matrix][kind], t("phi_learned", m=matrix)),
                            (axes[1], random, random_title)):
        sns.heatmap(np.asarray(grid), ax=ax, vmin=0, vmax=1, cmap="viridis", cbar_kws={"label": t("phi_bar")})
        ticks = [1] + list(range(max(2, r2 // 8), r2 + 1, max(1, r2 // 8)))
        ax.set_xticks(np.array(ticks) - 0.5, [str(j) for j in ticks], rotation=0)
        ax.set_yticks(np.arange(r1) + 0.5, [str(i + 1) for i in range(r1)], rotation=0)
        ax.set_xlabel(t("phi_j", r=r2))
        ax.set_ylabel(t("phi_i", r=r1))
        ax.set_title(title, fontsize=12)
        ax.grid(False)
    measured_note(fig, results, runs=runs[:1], extra=t("clause_sep") + t("phi_note"))
    return fig


__all__ = ["lora_diagram", "rank_params", "spectrum", "energy_top_k", "rank_sweep", "subspace_similarity"]
