"""Every figure draws what it is given: bars, lines and cells equal the data passed in or the
budget's arithmetic, provenance is written on the figure, and nothing misses a glyph in Chinese
or English. Results are small hand-built dicts in the experiments' schema (``api.validate``)."""
import json
import math
import re
import unittest.mock
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import budget  # noqa: E402
from peft_lab.budget.flops import linear_flops, model_flops  # noqa: E402
from peft_lab.experiments import api  # noqa: E402
from peft_lab.experiments.runner import Spec  # noqa: E402
from peft_lab.experiments.spectra import energy  # noqa: E402
from peft_lab.measured_memory import MemoryBreakdown  # noqa: E402
from peft_lab.methods.nf4 import nf4_levels  # noqa: E402
from peft_lab.plots import (ch1_motivation as ch1, ch2_costs, ch2_lora as ch2, ch2_variants, ch2_width,  # noqa: E402
                            ch3_adapter as ch3, ch4_prompts as ch4, ch5_comparison as ch5, ch5_more,
                            ch6_practice as ch6)
from peft_lab.plots.common import wrap  # noqa: E402
from peft_lab.plots.style import color  # noqa: E402
from peft_lab.recommend import accuracy_tiers, metric_table, normalise, tier_score  # noqa: E402
from helpers import cjk_characters, untranslated  # noqa: E402


# ----------------------------------------------------------------------------- synthetic results

def record(label, method="lora", config=None, seed=0, stage="final", variant="", train_size=None, kind="train",
           lr=1e-3, status="ok", details=None, init="pretrained", **metrics):
    """One run record: a Spec's fields plus status, metrics (every schema field) and details."""
    spec = Spec(label=label, method=method, config=config or {}, seed=seed, lr=lr, steps=10, stage=stage,
                variant=variant, train_size=train_size, kind=kind, init=init)
    full = {f: None for f in api.METRIC_FIELDS} | {"test_accuracy": 0.8, "val_accuracy": 0.8,
                                                    "trainable_params": 1000, "total_params": 100_000,
                                                    "sec_per_step": 0.1, "adapter_bytes": 4000} | metrics
    return {**spec.describe(), "status": status, "metrics": full if status == "ok" else {}, "details": details or {}}


def results(runs, quick=False):
    out = {"meta": {f: None for f in api.META_FIELDS} | {"sweep": "test", "date": "2026-01-01", "quick": quick},
           "runs": runs}
    api.validate(out)
    return out


def memory(weights, grads, state, acts):
    return {"weights": weights, "gradients": grads, "optimizer_state": state, "activations": acts,
            "total": weights + grads + state + acts}


METHODS = ("full", "lora", "adapter_houlsby", "adapter_pfeiffer", "adapter_parallel", "prefix_tuning")


@pytest.fixture(scope="module")
def methods_results():
    """Three seeds per method; LoRA merges (merged latency), adapters cannot."""
    runs = []
    for i, label in enumerate(METHODS):
        for seed in range(3):
            runs.append(record(label, seed=seed, test_accuracy=0.70 + 0.02 * i + 0.01 * seed,
                               trainable_params=10 ** (6 - i % 4), latency_ms=5.0 + i + seed,
                               latency_merged_ms=4.0 + seed if label == "lora" else None,
                               memory=memory(4000, 100 * (i + 1), 200 * (i + 1), 3000 + seed),
                               adapter_bytes=4 * 10 ** (6 - i % 4), sec_per_step=0.1 + 0.01 * i))
    runs.append(record("adalora", method="adalora", details={"rank_pattern": {
        f"layers.{l}.self_attn.{m}": 2 * l + (m == "v_proj") for l in range(3) for m in ("q_proj", "v_proj")}}))
    runs.append(record("lora", stage="lr_search", lr=1e-2, val_accuracy=0.5))
    runs.append(record("lora", stage="lr_search", lr=1e-1, status="diverged"))
    return results(runs)


@pytest.fixture(scope="module")
def rank_results():
    return results([record("rslora" if v == "rslora" else "lora", variant=v, seed=s, config={"r": r},
                           test_accuracy=0.6 + 0.01 * r + 0.001 * s, sec_per_step=0.1 + 0.001 * r)
                    for v in ("alpha=16", "alpha=2r", "rslora") for r in (2, 8, 32) for s in (0, 1)])


@pytest.fixture(scope="module")
def delta_w_results():
    """Two matrices: a ΔW with a fast-decaying spectrum, and its flat random twin."""
    s = [10.0 / (i + 1) ** 2 for i in range(16)]
    flat = [1.0 - 0.01 * i for i in range(16)]
    rep = {"shape": [16, 16], "fro_norm": 1.0, "relative_change": 0.1, "stable_rank": 1.2,
           "singular_values": s, "energy": energy(torch.tensor(s)),
           "random_singular_values": flat, "random_energy": energy(torch.tensor(flat))}
    spectra = {"layers.0.self_attn.q_proj": rep, "layers.1.mlp.up_proj": rep}
    phi = [[round((i + 1) * (j + 1) / 32, 4) for j in range(16)] for i in range(2)]   # (r1=2, r2=16)
    subspace = {"models": {"r=2": {}, "r=16": {}}, "random": [[0.1] * 16] * 2,
                "subspace": {"layers.0.self_attn.q_proj": {"A": phi, "delta_w": phi}}}
    return results([record("full", method="full", kind="delta_w", details={"spectra": spectra}),
                    record("lora", kind="subspace", details=subspace)])


def drawn_texts(fig: Figure, layout: bool = True) -> list[matplotlib.text.Text]:
    """Draw the figure and return the text artists actually drawn (a tick label outside the view
    limits or on a hidden axis exists but is not drawn); fail on any "Glyph missing" warning.
    ``layout=False`` skips the layout passes (every text is still rendered, so a missing glyph
    still warns) to save time."""
    if not layout:
        fig.set_layout_engine("none")
    drawn, draw = [], matplotlib.text.Text.draw

    def recording(text, renderer):
        draw(text, renderer)
        if text.get_visible() and text.get_text().strip():
            drawn.append(text)

    with warnings.catch_warnings(record=True) as caught, \
            unittest.mock.patch.object(matplotlib.text.Text, "draw", recording):
        warnings.simplefilter("always")
        fig.canvas.draw()
    missing = [str(w.message) for w in caught if "Glyph" in str(w.message)]
    assert not missing, missing
    return list(dict.fromkeys(drawn))


def glyphs_ok(fig: Figure, layout: bool = True) -> Figure:
    """Draw the figure; fail on any "Glyph missing" warning (see ``drawn_texts``)."""
    drawn_texts(fig, layout)
    return fig


def outside_figure(fig: Figure, drawn: list, tolerance: float = 1.0) -> list[tuple[str, tuple]]:
    """The drawn texts whose window extent leaves the figure by more than ``tolerance`` pixels."""
    renderer = fig.canvas.get_renderer()
    out = []
    for text in drawn:
        box = text.get_window_extent(renderer)
        if box.x0 < -tolerance or box.y0 < -tolerance or box.x1 > fig.bbox.width + tolerance \
                or box.y1 > fig.bbox.height + tolerance:
            out.append((text.get_text(), tuple(round(v) for v in box.extents)))
    return out


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
    pl.set_language("zh")


def texts(fig):
    return " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


# ----------------------------------------------------------------------------- ch1

def test_model_growth_draws_the_budgets_counts_and_marks_paper_numbers():
    fig = glyphs_ok(ch1.model_growth(("gpt2", "llama-7b"), {"GPT-3": (175e9, 2020, "Brown et al. 2020")}))
    ax = fig.axes[0]
    filled, hollow = ax.collections
    assert sorted(filled.get_offsets()[:, 1]) == sorted([budget.count("gpt2"), budget.count("llama-7b")])
    assert list(hollow.get_offsets()[0]) == [2020, 175e9]                     # the paper figure, drawn hollow
    assert ax.get_lines()[1].get_ydata()[0] == budget.count("tiny")           # the course's model for scale
    frontier = ax.get_lines()[0].get_ydata()
    assert list(frontier) == sorted(frontier)                                 # "largest so far" never drops
    assert pl.i18n.t("paper_number") in texts(fig) and "Brown et al. 2020" in texts(fig)
    assert "GPT-4" not in texts(ch1.model_growth())
    assert ax.get_yscale() == "log" and pl.i18n.t("params_log") == ax.get_ylabel()


def test_memory_breakdown_stacks_the_four_parts_of_each_report():
    reports = [budget.training_memory("llama-7b", c, p, seq_len=256)
               for c, p in ((None, "mixed"), (pl.LoRAConfig(r=8), "bf16"), (pl.QLoRAConfig(r=8), "nf4"))]
    fig = glyphs_ok(ch1.memory_breakdown(reports))
    ax = fig.axes[0]
    tops = [max(b.get_y() + b.get_height() for b in ax.patches if abs(b.get_x() + b.get_width() / 2 - i) < 0.1)
            for i in range(3)]
    assert np.allclose(np.array(tops) * 2**30, [r.total for r in reports])   # GiB
    assert len(ax.patches) == 4 * 3 and "计算" in texts(fig)


def test_measured_memory_takes_run_results_and_refuses_unmeasured_runs():
    runs = [pl.RunResult("lora", {}, "sentiment", 0, 1, 1e-3, {}, 10, 100, 0.1, 1.0,
                         memory=MemoryBreakdown(2**20, 2**19, 2**20, 3 * 2**20))]
    fig = glyphs_ok(ch1.measured_memory(runs))
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights == [1, 0.5, 1, 3] and "实测" in texts(fig)   # MiB
    with pytest.raises(ValueError, match="measure=False"):
        ch1.measured_memory([record("lora")])


def test_storage_vs_tasks_draws_budget_storage():
    configs = {"full": pl.FullFineTuningConfig(), "lora": pl.LoRAConfig(r=8, target_modules=("c_attn",))}
    fig = glyphs_ok(ch1.storage_vs_tasks("gpt2", configs, max_tasks=4))
    ax1, ax2 = fig.axes
    full_line = ax1.get_lines()[0].get_ydata()
    unit = budget.storage("gpt2", configs["full"], n_tasks=4).serving / full_line[-1]
    assert np.allclose(ax1.get_lines()[1].get_ydata() * unit,
                       [budget.storage("gpt2", configs["lora"], n_tasks=n).serving for n in range(1, 5)])
    dots = ax2.collections[0].get_offsets()[:, 1]
    assert list(dots) == [budget.storage("gpt2", c).adapter for c in configs.values()]
    assert budget.human_bytes(budget.storage("gpt2", configs["lora"]).adapter) in texts(fig)


# ----------------------------------------------------------------------------- ch2

def test_lora_diagram_is_to_scale_in_paper_notation():
    fig = glyphs_ok(ch2.lora_diagram(d=96, k=32, r=4))
    w0, b, a = fig.axes[0].images
    for image, (w, h) in ((w0, (32, 96)), (b, (4, 96)), (a, (32, 4))):
        x0, x1, y0, y1 = image.get_extent()
        assert (x1 - x0, y1 - y0) == (w, h)
    assert np.all(b.get_array() == 0)                              # B starts at zero
    assert f"{96 * 32:,}" in texts(fig) and f"{4 * (96 + 32):,}" in texts(fig)
    with pytest.raises(ValueError, match="min\\(d, k\\)"):
        ch2.lora_diagram(d=96, k=32, r=33)


def test_rank_params_bars_are_r_times_d_plus_k():
    fig = glyphs_ok(ch2.rank_params(d=64, k=32, ranks=(1, 4, 16)))
    assert [b.get_height() for b in fig.axes[0].patches] == [r * 96 for r in (1, 4, 16)]
    assert fig.axes[0].get_lines()[0].get_ydata()[0] == 64 * 32


def test_spectrum_and_energy_draw_the_measured_spectra(delta_w_results):
    fig = glyphs_ok(ch2.spectrum(delta_w_results))
    energy_axis = fig.axes[1]
    median_delta, median_random = [l for l in energy_axis.get_lines() if l.get_linewidth() > 2]
    s = np.array(delta_w_results["runs"][0]["details"]["spectra"]["layers.0.self_attn.q_proj"]["singular_values"])
    assert np.allclose(median_delta.get_ydata(), np.cumsum(s ** 2) / np.sum(s ** 2))
    assert median_delta.get_ydata()[7] > median_random.get_ydata()[7]
    fig = glyphs_ok(ch2.energy_top_k(delta_w_results, k=8))
    delta, random = fig.axes[0].collections[:2]
    rep = delta_w_results["runs"][0]["details"]["spectra"]["layers.0.self_attn.q_proj"]
    assert delta.get_offsets()[0][1] == rep["energy"]["8"] and random.get_offsets()[0][1] == rep["random_energy"]["8"]
    with pytest.raises(ValueError, match="delta_w"):
        ch2.spectrum(results([record("lora")]))


def test_subspace_similarity_draws_the_measured_phi_beside_random(delta_w_results):
    fig = glyphs_ok(ch2.subspace_similarity(delta_w_results))
    learned, random = (next(c for c in ax.collections if isinstance(c, QuadMesh)) for ax in fig.axes[:2])
    phi = delta_w_results["runs"][1]["details"]["subspace"]["layers.0.self_attn.q_proj"]["A"]
    assert np.allclose(np.asarray(learned.get_array()).reshape(2, 16), phi)
    # chance overlap for the shown matrix's own input width k (q_proj of the tiny model: d_model)
    k = budget.get("tiny").d_model
    assert np.allclose(np.asarray(random.get_array()).reshape(2, 16), ch2.random_subspace_similarity(2, 16, k))
    assert "layers.0.self_attn.q_proj" in texts(fig) and "r = 16" in texts(fig) and f"2×{k}" in texts(fig)


def test_subspace_random_reference_follows_the_shape_of_the_matrix_shown(delta_w_results):
    """down_proj reads d_ff features, the attention projections d_model: the chance reference is
    drawn for each one's k, and for the first matrix's k it is what the sweep stored."""
    from peft_lab.model import ModelConfig
    tiny = ModelConfig()                                                   # the model the sweep trained
    assert ch2.in_features("layers.3.mlp.down_proj") == tiny.d_ff != tiny.d_model == ch2.in_features("layers.0.self_attn.q_proj")
    narrow, wide = (np.asarray(ch2.random_subspace_similarity(8, 64, k)) for k in (tiny.d_model, tiny.d_ff))
    assert wide[:, :8].mean() < narrow[:, :8].mean()                 # chance overlap shrinks with k (≈ max(i, j)/k)
    assert abs(wide[:, :8].mean() - np.mean([max(i, j) / tiny.d_ff for i in range(1, 9) for j in range(1, 9)])) < 0.02
    details = json.loads(json.dumps(delta_w_results["runs"][1]["details"]))
    details["subspace"]["layers.0.mlp.down_proj"] = details["subspace"]["layers.0.self_attn.q_proj"]
    res = results([delta_w_results["runs"][0], record("lora", kind="subspace", details=details)])
    fig = glyphs_ok(ch2.subspace_similarity(res, matrix="layers.0.mlp.down_proj"))
    random = next(c for c in fig.axes[1].collections if isinstance(c, QuadMesh))
    assert np.allclose(np.asarray(random.get_array()).reshape(2, 16), ch2.random_subspace_similarity(2, 16, tiny.d_ff))
    with pytest.raises(ValueError, match="matrix"):
        ch2.subspace_similarity(res, matrix="layers.9.nowhere")


def test_formulas_in_footers_stay_on_one_line():
    """wrap() never breaks inside $...$, at any width, and loses no character."""
    text = pl.i18n.t("note_measured", what="results/delta_w.json，2 次运行，每次 150 步；" + pl.i18n.t("phi_note"))
    formula = re.search(r"\$[^$]+\$", text).group()
    for width in range(30, 200, 7):
        lines = wrap(text, width).split("\n")
        assert any(formula in line for line in lines), width
        assert all(line.count("$") % 2 == 0 for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_rank_sweep_draws_one_line_per_scaling_rule_with_seed_means(rank_results):
    fig = glyphs_ok(ch2.rank_sweep(rank_results))
    acc = fig.axes[0]
    assert len(acc.containers) == 3                                        # three rules
    line = acc.containers[0].lines[0]
    assert list(line.get_xdata()) == [2, 8, 32]
    assert np.allclose(line.get_ydata(), [0.6 + 0.01 * r + 0.0005 for r in (2, 8, 32)])   # mean of seeds 0, 1
    assert "2 个随机种子" in texts(fig)
    markers = {c.lines[0].get_marker() for c in acc.containers}
    assert len(markers) == 3                                               # rules differ in shape, not only shade


def test_sweeps_draw_only_what_was_measured_dotted_across_gaps():
    """One rule measured at every rank, another at the ends only: the sparse one's points carry
    markers and the segment between them, which skips measured-elsewhere ranks, is dotted."""
    runs = [record("lora", variant="alpha=16", config={"r": r}, test_accuracy=0.7 + r / 1000) for r in (1, 2, 4, 8)]
    runs += [record("lora", variant="alpha=2r", config={"r": r}, test_accuracy=0.6) for r in (1, 8)]
    fig = glyphs_ok(ch2.rank_sweep(results(runs)))
    acc = fig.axes[0]
    assert all(c.lines[0].get_linestyle() == "None" for c in acc.containers)   # points: markers, no line
    segments = [l for l in acc.get_lines() if len(l.get_xdata()) == 2 and l.get_linestyle() != "None"
                and l.get_xdata()[0] != l.get_xdata()[1]]
    dense = [l for l in segments if set(l.get_ydata()) != {0.6}]
    sparse = [l for l in segments if set(l.get_ydata()) == {0.6}]
    assert len(dense) == 3 and all(l.get_linestyle() != ":" for l in dense)
    assert [list(l.get_xdata()) for l in sparse] == [[1, 8]] and sparse[0].get_linestyle() == ":"
    assert pl.i18n.t("gap_dotted") in texts(fig)


@pytest.mark.parametrize("build, symbol", [
    (lambda res, mark: ch2.rank_sweep(res, mark=mark), "r"),
    (lambda res, mark: ch3.bottleneck_sweep(res, mark=mark), "m"),
    (lambda res, mark: ch4.prefix_length_sweep(res, mark=mark), "L")])
def test_mark_shows_the_setting_on_the_measured_sweep(build, symbol):
    key = {"r": "r", "m": "bottleneck", "L": "num_virtual_tokens"}[symbol]
    runs = [record("lora", variant="alpha=16", config={key: x}, test_accuracy=0.7 + x / 1000, trainable_params=10 * x)
            for x in (2, 8, 32)]
    plain = build(results(runs), None)
    marked = glyphs_ok(build(results(runs), 8))
    for ax_plain, ax in zip(plain.axes, marked.axes):
        vertical = [l for l in ax.get_lines() if list(l.get_xdata()) == [8, 8]]
        assert vertical and not [l for l in ax_plain.get_lines() if list(l.get_xdata()) == [8, 8]]
        rings = [l for l in ax.get_lines() if list(l.get_xdata()) == [8] and l.get_markerfacecolor() == "none"]
        assert len(rings) == 1                                              # the measured point at 8 is ringed
    assert pl.i18n.t("mark_setting", symbol=symbol, value="8") in texts(marked)
    wide = build(results(runs), 100)                                        # outside the sweep: the axis widens
    assert wide.axes[0].get_xlim()[1] > 100
    with pytest.raises(ValueError, match="mark"):
        build(results(runs), 0)


def test_flops_count_what_lora_adds_and_saves():
    d, k, r = 64, 32, 4
    full, lora = linear_flops(d, k), linear_flops(d, k, r)
    assert full.step == 6 * d * k                                           # forward + input grad + weight grad
    assert lora.forward - full.forward == 2 * r * (d + k) + 2 * d           # more, not less, until merged
    assert lora.backward_weight == 2 * r * (d + k)                          # no gradient for W0
    report = model_flops("llama-7b", pl.LoRAConfig(r=8))
    assert report.inference_merged == report.inference_base < report.inference_unmerged
    assert 2 / 3 < report.step_ratio < 0.7                                 # saves about a third, not N-fold
    fig = glyphs_ok(ch2_costs.flops_bars(report))
    infer = fig.axes[1]
    scale = report.inference_base / infer.patches[0].get_height()
    assert np.allclose([b.get_height() * scale for b in infer.patches],
                       [report.inference_base, report.inference_unmerged, report.inference_merged])


def test_latency_bars_from_a_benchmark_report_and_from_results(methods_results):
    rows = {v: {"median_ms": 2.0 + i, "iqr_ms": [1.5 + i, 2.5 + i], "ratio": 1 + i / 2, "ratio_iqr": [1, 1]}
            for i, v in enumerate(("base", "lora_unmerged", "lora_merged"))}
    fig = glyphs_ok(ch2_costs.latency_bars({"inference": {"reference": "base", "rows": rows},
                                            "meta": {"settings": {"batch": 8, "tokens_per_example": 32, "rounds": 5}}}))
    assert [b.get_height() for b in fig.axes[0].patches] == [2.0, 3.0, 4.0]
    fig = glyphs_ok(ch2_costs.latency_bars(methods_results))
    bars = [p for p in fig.axes[0].patches if p.get_width() > 0]
    assert len(bars) == len(METHODS) + 1                                   # only LoRA has a merged bar
    assert sorted(round(b.get_width(), 6) for b in bars)[0] == 5.0         # LoRA merged: mean of 4, 5, 6
    with pytest.raises(ValueError, match="latency"):
        ch2_costs.latency_bars(results([record("lora")], quick=True))


def test_adalora_heat_map_cells_are_the_kept_ranks(methods_results):
    fig = glyphs_ok(ch2_variants.adalora_ranks(methods_results, init_r=6))
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    assert np.array_equal(np.asarray(mesh.get_array()).reshape(3, 2), [[0, 1], [2, 3], [4, 5]])
    title = pl.i18n.t("adalora_title", total=15, start=pl.i18n.t("adalora_start", n=6, r=6, init=36))
    assert squash(title) in squash(fig.axes[0].get_title())               # wrapped to the figure's width
    assert pl.i18n.t("layer_n", n=1) in texts(fig)                         # 1-based, as elsewhere


def test_dylora_curve_and_nf4_levels():
    fig = glyphs_ok(ch2_variants.dylora_curve({1: 0.7, 4: 0.8}, {1: 0.5, 4: 0.8}))
    assert [list(l.get_ydata()) for l in fig.axes[0].get_lines()] == [[0.7, 0.8], [0.5, 0.8]]
    fig = glyphs_ok(ch2_variants.dylora_curve({1: 0.67, 2: 0.75, 8: 0.765}, {1: 0.77, 8: 0.79}, reference_label="lora",
                                              spread={1: 0.02, 2: 0.01}, reference_spread={1: 0.01, 8: 0.008}))
    ax = fig.axes[0]
    dy, ref = ax.containers
    assert dy.has_yerr and ref.has_yerr
    bars = [[round(seg[1][1] - seg[0][1], 6) for seg in c.lines[2][0].get_segments()] for c in (dy, ref)]
    assert bars == [[0.04, 0.02, 0.0], [0.02, 0.016]]                # ± std, none where a rank has no spread
    ticks = [v for v in ax.get_yticks() if ax.get_ylim()[0] <= v <= ax.get_ylim()[1]]
    assert all(abs(100 * v - round(100 * v)) < 1e-6 for v in ticks)  # whole percents: no "68%" on 67.5
    assert pl.i18n.t("lora_separate") in texts(fig) and pl.i18n.t("lora_truncated") not in texts(fig)
    with pytest.raises(TypeError, match="spread"):
        ch2_variants.dylora_curve({1: 0.7}, spread=[0.1])
    fig = glyphs_ok(ch2_variants.nf4_levels_plot())
    stems = fig.axes[0].collections[0]
    assert np.allclose(sorted(seg[0][0] for seg in stems.get_segments()), nf4_levels().numpy(), atol=1e-6)
    nf4_bars, even_bars = fig.axes[1].containers
    for bars in (nf4_bars, even_bars):
        assert math.isclose(sum(b.get_height() for b in bars), 100)
    assert max(b.get_height() for b in nf4_bars) < max(b.get_height() for b in even_bars)   # NF4 is flatter


# ----------------------------------------------------------------------------- ch3, ch4

def test_adapter_diagram_places_the_adapters_and_counts_with_the_budget():
    fig = glyphs_ok(ch3.adapter_diagram(arch="tiny", bottleneck=16))
    for ax, placement, n in zip(fig.axes, ch3.PLACEMENTS, (2, 1, 1)):
        adapter_color = color(f"adapter_{placement}")
        boxes = [p for p in ax.patches if matplotlib.colors.same_color(p.get_facecolor(), adapter_color)]
        assert len(boxes) == n
        count = budget.count("tiny", pl.AdapterConfig(bottleneck=16, placement=placement))
        assert budget.human_count(count) in ax.get_title()


def test_bottleneck_sweep_and_placement_comparison_draw_the_means(methods_results):
    runs = [record("adapter_houlsby", method="adapter", config={"bottleneck": m}, seed=s,
                   test_accuracy=0.7 + m / 1000, trainable_params=m * 100) for m in (8, 32) for s in (0, 1)]
    fig = glyphs_ok(ch3.bottleneck_sweep(results(runs), d_model=128))
    assert list(fig.axes[0].containers[0].lines[0].get_ydata()) == [0.708, 0.732]
    assert list(fig.axes[1].containers[0].lines[0].get_ydata()) == [800, 3200]
    fig = glyphs_ok(ch3.placement_comparison(methods_results))
    acc = [b.get_height() for b in fig.axes[0].patches]
    assert np.allclose(acc, [0.70 + 0.02 * i + 0.01 for i in (2, 3, 4)])    # mean over seeds 0, 1, 2
    assert fig.axes[2].get_ylabel() == pl.i18n.t("latency_ms")


def test_where_vectors_go_draws_four_designs_with_budget_counts():
    fig = glyphs_ok(ch4.where_vectors_go(arch="tiny", num_virtual_tokens=8))
    assert len(fig.axes) == 4
    for ax, design, config in zip(fig.axes, ch4.DESIGNS, ch4.design_configs(8).values()):
        assert pl.i18n.t(design) in ax.get_title()
        assert budget.human_count(budget.count("tiny", config, folded=True)) in ax.get_title()
    kv = lambda ax: sum(t.get_text() == "K, V" for t in ax.texts)   # noqa: E731
    assert [kv(ax) for ax in fig.axes] == [0, 0, 3, 3]               # per-layer K/V only in prefix designs


def test_prompt_counts_and_the_length_sweep():
    fig = glyphs_ok(ch4.param_counts((1, 4, 16), arch="tiny"))
    kept_prompt, kept_prefix = fig.axes[0].get_lines()[:2]
    assert list(kept_prompt.get_ydata()) == [L * 128 for L in (1, 4, 16)]          # L·d
    assert list(kept_prefix.get_ydata()) == [L * 2 * 4 * 128 for L in (1, 4, 16)]  # L·2·n·d
    per_token = {"prefix_tuning": 2 * 4 * 128, "prompt_tuning": 128}
    runs = [record(label, method=label, config={"num_virtual_tokens": L}, test_accuracy=0.6 + L / 100,
                   trainable_params=L * per_token[label]) for label in per_token for L in (4, 16)]
    fig = glyphs_ok(ch4.prefix_length_sweep(results(runs)))
    assert len(fig.axes[0].containers) == 2
    assert fig.axes[1].get_yscale() == "log"     # prefix tuning trains orders of magnitude more than prompts


# ----------------------------------------------------------------------------- ch5, ch6

def test_heatmap_colours_are_the_shared_normalisation_and_text_the_measured_values(methods_results):
    fig = glyphs_ok(ch5.heatmap(methods_results, labels=METHODS))
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    tiers, _ = accuracy_tiers(methods_results, METHODS)   # accuracy: by tier, not stretched by min-max
    norm = normalise(metric_table(methods_results, METHODS, ch5.DEFAULT_CRITERIA), accuracy_tiers=tiers)
    expected = [[norm[l][c] for c in ch5.DEFAULT_CRITERIA] for l in METHODS]
    assert np.allclose(np.asarray(mesh.get_array()).reshape(len(METHODS), -1), expected)
    assert "71.0% ±1.0" in texts(fig) and "1 M" in texts(fig)              # full FT's mean ± spread, and params
    stretched = ch5.heatmap(methods_results, labels=METHODS, accuracy_by="minmax")
    mesh = next(c for c in stretched.axes[0].collections if isinstance(c, QuadMesh))
    plain = normalise(metric_table(methods_results, METHODS, ch5.DEFAULT_CRITERIA))
    assert np.allclose(np.asarray(mesh.get_array()).reshape(len(METHODS), -1),
                       [[plain[l][c] for c in ch5.DEFAULT_CRITERIA] for l in METHODS])
    quick = results([record("lora"), record("full", trainable_params=10 ** 6)], quick=True)
    fig = ch5.heatmap(quick)
    assert pl.i18n.t("crit_memory") not in texts(fig)                       # nobody measured memory: no column


def outcome_results():
    """Full FT right on every review LoRA gets right and on many more; LoRA and prefix tuning right on
    exactly the same reviews (two seeds each, stored as per-review outcomes)."""
    from peft_lab.experiments.paired import encode_outcomes
    rng = np.random.default_rng(0)
    base = rng.random(400) < 0.7
    runs = []
    for label in ("full", "lora", "prefix_tuning"):
        for seed in range(2):
            correct = base | (rng.random(400) < 0.5) if label == "full" else base
            runs.append(record(label, seed=seed, test_accuracy=float(correct.mean()),
                               details={"test_outcomes": encode_outcomes(correct)}))
    return results(runs)


def test_pairwise_colours_the_verdict_and_writes_the_difference():
    res = outcome_results()
    fig = glyphs_ok(ch5.pairwise(res, n_resamples=300, correction=None))
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    verdict = np.ma.filled(np.asarray(mesh.get_array(), dtype=float).reshape(3, 3), np.nan)
    assert fig.axes[0].get_yticklabels()[0].get_text().startswith(pl.i18n.t("full"))   # best first
    assert verdict[0, 1] == verdict[0, 2] == 1 and verdict[1, 0] == -1 and verdict[1, 2] == 0
    means = {r["label"]: [] for r in res["runs"]}
    for r in res["runs"]:
        means[r["label"]].append(r["metrics"]["test_accuracy"])
    gap = 100 * (np.mean(means["full"]) - np.mean(means["lora"]))
    assert f"+{gap:.1f}" in texts(fig) and "0.0" in texts(fig)
    # a matrix computed once draws the same figure, and its own settings label it
    from peft_lab.experiments import paired
    m = paired.pairwise_matrix(res, n_resamples=300, correction=None)
    again = ch5.pairwise(res, matrix=m, n_resamples=5, correction="holm")
    mesh2 = next(c for c in again.axes[0].collections if isinstance(c, QuadMesh))
    assert np.array_equal(np.asarray(mesh2.get_array()), np.asarray(mesh.get_array()), equal_nan=True)
    assert pl.i18n.t("pairwise_uncorrected") in texts(again)


def test_radar_uses_polar_axes_and_one_closed_polygon_per_method(methods_results):
    fig = glyphs_ok(ch5.radar(methods_results, ["full", "lora", "prefix_tuning"]))
    (ax,) = fig.axes
    assert ax.name == "polar"
    lines = ax.get_lines()
    assert len(lines) == 3 and all(l.get_ydata()[0] == l.get_ydata()[-1] for l in lines)
    shown = ["full", "lora", "prefix_tuning"]
    assert lines[1].get_ydata()[0] == tier_score(accuracy_tiers(methods_results, shown)[0], "lora")   # by tier
    stretched = ch5.radar(methods_results, shown, accuracy_by="minmax").axes[0].get_lines()
    assert stretched[1].get_ydata()[0] == pytest.approx((0.73 - 0.71) / (0.81 - 0.71))   # LoRA's accuracy, min-max


def test_accuracy_vs_params_places_each_method_at_its_means(methods_results):
    fig = glyphs_ok(ch5.accuracy_vs_params(methods_results, labels=METHODS))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.containers) == len(METHODS)
    x, y = ax.containers[1].lines[0].get_data()
    assert (x[0], round(y[0], 6)) == (10 ** 5, 0.73)                        # LoRA


def test_training_curves_mark_divergence_and_take_every_run_shape():
    history = [{"step": i, "loss": 1.0 - 0.1 * i} for i in range(5)]
    fig = glyphs_ok(ch6.training_curves([history, [[0, 1.0], [5, 3.0], [10, float("nan")]], [0.9, 0.8]],
                                        ["fail_healthy", "fail_lr_high", "lora"]))
    lines = [l for l in fig.axes[0].get_lines() if l.get_linestyle() == "-"]
    assert list(lines[0].get_ydata()) == [h["loss"] for h in history]
    assert list(lines[1].get_xdata()) == [0, 5]                                 # the NaN is not drawn
    assert "发散" in texts(fig) and pl.i18n.t("fail_lr_high") in texts(fig)
    assert lines[2].get_color() == color("lora")
    with pytest.raises(ValueError, match="labels"):
        ch6.training_curves([history], ["a", "b"])


def test_train_size_sweep_and_lr_search(methods_results):
    runs = [record(label, train_size=n, seed=s, test_accuracy=0.5 + n / 10_000)
            for label in ("full", "lora") for n in (100, 1000) for s in (0, 1)]
    fig = glyphs_ok(ch6.train_size_sweep(results(runs)))
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].containers) == 2
    fig = glyphs_ok(ch6.lr_search(methods_results))
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [1e-2, 1e-1] and math.isnan(line.get_ydata()[1])   # diverged: a gap


def public_plotting_functions() -> dict:
    """Every public function of the chapter modules that returns a Figure, by name: found by
    inspection, so a new plotting function is in this list without anyone adding it."""
    import inspect
    import peft_lab.plots as plots
    found = {}
    for module_name in plots.__all__:
        module = getattr(plots, module_name)
        if not inspect.ismodule(module):
            continue
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not fname.startswith("_") and \
                    inspect.signature(fn).return_annotation in (Figure, "Figure"):
                found[fname] = fn
    return found


def curve_records():
    return [record("lora", seed=s, details={"loss_curve": [[0, 1.0], [5, 0.8 - s / 10]]}) for s in range(3)]


def builders(methods_results, rank_results, delta_w_results) -> dict:
    """One or more ways to call each public plotting function, on small hand-built data."""
    sweep = results([record("adapter_houlsby", config={"bottleneck": b, "num_virtual_tokens": b}, train_size=100 * b,
                            seed=s, test_accuracy=0.7 + b / 1000 + s / 100) for b in (8, 32) for s in (0, 1)])
    run = pl.RunResult("lora", {}, "sentiment", 0, 2, 1e-3, {}, 10, 100, 0.1, 1.0, memory=MemoryBreakdown(1, 1, 1, 1),
                       history=[{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}])
    bench = {"inference": {"reference": "base", "rows": {v: {"median_ms": 2.0, "iqr_ms": [1.5, 2.5], "ratio": 1.0,
                                                             "ratio_iqr": [1, 1]} for v in ("base", "lora_merged")}},
             "meta": {"settings": {"batch": 8, "tokens_per_example": 32, "rounds": 5}}}
    return {
        "model_growth": [ch1.model_growth],
        "memory_breakdown": [lambda: ch1.memory_breakdown([budget.training_memory("llama-7b", seq_len=64)])],
        "measured_memory": [lambda: ch1.measured_memory([run]),
                            lambda: ch1.measured_memory(ch1.runs_with_memory(methods_results) * 2)],
        "storage_vs_tasks": [lambda: ch1.storage_vs_tasks("llama-7b", {"full": pl.FullFineTuningConfig(),
                                                                       "lora": pl.LoRAConfig(r=8)})],
        "lora_diagram": [ch2.lora_diagram], "rank_params": [ch2.rank_params],
        "spectrum": [lambda: ch2.spectrum(delta_w_results)], "energy_top_k": [lambda: ch2.energy_top_k(delta_w_results)],
        "subspace_similarity": [lambda: ch2.subspace_similarity(delta_w_results)],
        "rank_sweep": [lambda: ch2.rank_sweep(rank_results), lambda: ch2.rank_sweep(rank_results, mark=4)],
        "flops_bars": [lambda: ch2_costs.flops_bars(model_flops("llama-7b", pl.LoRAConfig(r=8)))],
        "latency_bars": [lambda: ch2_costs.latency_bars(methods_results), lambda: ch2_costs.latency_bars(bench)],
        "adalora_ranks": [lambda: ch2_variants.adalora_ranks(methods_results),
                          lambda: ch2_variants.adalora_ranks({"layers.0.q_proj": 2}, init_r=4)],
        "dylora_curve": [lambda: ch2_variants.dylora_curve({1: 0.5, 2: 0.6}, {1: 0.4, 2: 0.6})],
        "loraplus_ratio": [lambda: ch2_variants.loraplus_ratio(loraplus_ratio_results(), mark=4)],
        "nf4_levels_plot": [ch2_variants.nf4_levels_plot],
        "width_ratio": [lambda: ch2_width.width_ratio(json.loads(api.results_path("lora_width").read_text(encoding="utf-8"))),
                        lambda: ch2_width.width_ratio(json.loads(api.results_path("lora_width").read_text(encoding="utf-8")),
                                                      with_times=True)],
        "adapter_diagram": [ch3.adapter_diagram],
        "bottleneck_sweep": [lambda: ch3.bottleneck_sweep(sweep, 128, mark=16)],
        "placement_comparison": [lambda: ch3.placement_comparison(methods_results)],
        "where_vectors_go": [ch4.where_vectors_go],
        "prefix_length_sweep": [lambda: ch4.prefix_length_sweep(sweep, mark=16)], "param_counts": [ch4.param_counts],
        "heatmap": [lambda: ch5.heatmap(methods_results)], "radar": [lambda: ch5.radar(methods_results)],
        "accuracy_vs_params": [lambda: ch5.accuracy_vs_params(methods_results)],
        "accuracy_vs_cost": [lambda cost=cost: ch5_more.accuracy_vs_cost(methods_results, cost) for cost in ch5_more.COSTS],
        "pairwise": [lambda: ch5.pairwise(outcome_results(), n_resamples=200)],
        "training_curves": [lambda: ch6.training_curves([run], ["fail_rank_small"]),
                            lambda: ch6.training_curves(curve_records())],
        "train_size_sweep": [lambda: ch6.train_size_sweep(sweep)],
        "lr_search": [lambda: ch6.lr_search(methods_results)],
    }


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_plotting_function_renders_in_both_languages(language, methods_results, rank_results,
                                                           delta_w_results):
    """Every public plotting function (found by inspection: none can be skipped) draws without a
    missing glyph and with every drawn text inside the figure (English runs longer than Chinese);
    in English no drawn text holds a Chinese character, in Chinese none is a raw language-table
    key or an English entry that has a Chinese one."""
    build = builders(methods_results, rank_results, delta_w_results)
    public = public_plotting_functions()
    assert set(public) == set(build), f"add a builder for {set(public) - set(build)}"
    pl.set_language(language)
    for fname, calls in build.items():
        for call in calls:
            fig = call()
            drawn = drawn_texts(fig)
            assert drawn and not outside_figure(fig, drawn), (fname, outside_figure(fig, drawn))
            assert fig.get_supxlabel(), f"{fname} has no provenance footer"
            for ax in fig.axes:                               # a log axis says so in its label
                for scale, label in ((ax.get_xscale(), ax.get_xlabel()), (ax.get_yscale(), ax.get_ylabel())):
                    if scale == "log" and label:
                        assert pl.i18n.t("log_axis", label="") in label, (fname, label)
            shown = [text.get_text() for text in drawn]
            if language == "en":
                assert not any(cjk_characters(s) for s in shown), (fname, [s for s in shown if cjk_characters(s)])
            else:
                assert not any(untranslated(s) for s in shown), (fname, [s for s in shown if untranslated(s)])
            plt.close(fig)


def test_the_language_checks_catch_what_they_look_for():
    """The checks above can fail: a label outside the figure, Chinese in English, a raw key in Chinese."""
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("a title far too long for a figure three inches wide, on one line")
    assert outside_figure(fig, drawn_texts(fig))
    assert cjk_characters("Rank r（秩）") == ["（", "秩", "）"] and not cjk_characters("Rank r (α/√r)")
    assert untranslated("full") and untranslated(pl.i18n.TEXT["full"]["en"])
    assert not untranslated(pl.i18n.TEXT["full"]["zh"]) and not untranslated("LoRA")


def footer(fig) -> str:
    """The provenance line(s) without the wrapping: whitespace removed (compare with ``squash``)."""
    return squash(fig.get_supxlabel())


def squash(text: str) -> str:
    return re.sub(r"\s", "", text)


def test_figures_from_results_say_their_recipe_in_the_footer(methods_results, rank_results):
    """Steps, characters per example and seeds come from the runs drawn, so a learner whose own
    run differs can see why. ``record`` runs are 10 steps of 128 characters, seeds 0-2."""
    recipe = [squash(pl.i18n.t(key, v=v)) for key, v in (("recipe_steps", "10"), ("recipe_chars", "128"),
                                                         ("recipe_seeds", "0–2"))]
    figures = {"heatmap": ch5.heatmap(methods_results), "radar": ch5.radar(methods_results),
               "accuracy_vs_params": ch5.accuracy_vs_params(methods_results),
               "latency_bars": ch2_costs.latency_bars(methods_results),
               "placement_comparison": ch3.placement_comparison(methods_results),
               "measured_memory": ch1.measured_memory(ch1.runs_with_memory(methods_results)),
               "training_curves": ch6.training_curves(curve_records())}
    for fname, fig in figures.items():
        seeds = recipe if fname != "measured_memory" else recipe[:2]   # measured_memory: one run per method
        assert all(part in footer(fig) for part in seeds), (fname, footer(fig))
    fig = ch2.rank_sweep(rank_results)                                   # seeds 0 and 1
    assert squash(pl.i18n.t("recipe_seeds", v=pl.i18n.t("seq_sep").join(["0", "1"]))) in footer(fig)
    assert "results/test.json" in footer(fig)                            # the file the numbers come from
    long = results([record("full", seed=0) | {"steps": 1300, "max_len": 256}, record("full", seed=1)])
    assert squash(pl.i18n.t("recipe_chars", v=pl.i18n.t("seq_sep").join(["128", "256"]))) in footer(ch5.heatmap(long))


def test_training_curves_say_where_the_runs_come_from():
    run = pl.RunResult("lora", {}, "sentiment", 3, 40, 1e-3, {}, 10, 100, 0.1, 1.0,
                       history=[{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}])
    live = footer(ch6.training_curves([run]))
    assert squash(pl.i18n.t("note_live", n=1)) in live and squash(pl.i18n.t("recipe_steps", v="40")) in live
    stored = footer(ch6.training_curves([record("lora", details={"loss_curve": [[0, 1.0], [1, 0.9]]})]))
    assert squash(pl.i18n.t("note_records", n=1)) in stored and squash(pl.i18n.t("note_live", n=1)) not in stored
    given = footer(ch6.training_curves([[1.0, 0.5]]))
    assert squash(pl.i18n.t("note_given_values")) in given


def test_radar_defaults_to_a_few_methods_and_refuses_too_many(methods_results):
    fig = ch5.radar(methods_results)
    drawn = {l.get_label() for l in fig.axes[0].get_lines()}
    assert 1 < len(drawn) <= ch5.RADAR_MAX
    assert drawn == {pl.i18n.t(m) for m in ch5.RADAR_DEFAULT if m in METHODS}
    assert not any(arrow in texts(fig) for arrow in "↑↓")                # outward = better: no arrows
    with pytest.raises(ValueError, match="at most"):
        ch5.radar(methods_results, list(METHODS))


def test_both_languages_fill_the_same_fields_and_notes_wrap_to_the_figure():
    field = re.compile(r"{(\w+)}")
    for key, entry in pl.i18n.TEXT.items():
        assert set(field.findall(entry["zh"])) == set(field.findall(entry["en"])), key
    text = "计算：" + "很长的说明，" * 40 + " and some English words " * 10
    lines = wrap(text, 60).split("\n")
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")      # nothing lost
    assert all(sum(2 if ord(c) > 0x2E80 else 1 for c in line) <= 60 for line in lines)


def test_latency_from_results_shows_each_seed_and_says_the_spread_is_noise(methods_results):
    fig = ch2_costs.latency_bars(methods_results)
    ax = fig.axes[0]
    dots = [l for l in ax.get_lines() if l.get_marker() == "o"]
    assert sum(len(l.get_xdata()) for l in dots) == 3 * len(METHODS) + 3     # every seed's timing (+ LoRA merged)
    lora = next(b for b in ax.patches if b.get_width() > 0 and not b.get_hatch() and
                matplotlib.colors.same_color(b.get_facecolor(), color("lora")))
    assert lora.get_width() == 5.0                                          # merged: the median of 4, 5, 6
    # the largest spread between seeds of one setting, computed from the data: LoRA merged, 6 / 4
    assert squash(pl.i18n.t("latency_noise", ratio="1.50", name=pl.i18n.t("lora"))) in footer(fig)
    runs = [record("qlora", latency_ms=9.0), record("full", latency_ms=8.0)]
    assert squash(pl.i18n.t("latency_not_merged", names=pl.i18n.t("qlora"))) in footer(ch2_costs.latency_bars(results(runs)))


def test_lr_search_draws_one_panel_per_family_on_one_scale():
    runs = [record(label, method=label, stage="lr_search", lr=lr, init=init, val_accuracy=0.6 + lr)
            for label in ("full", "lora", "dora", "prompt_tuning") for lr in (0.01, 0.1)
            for init in (("pretrained", "scratch") if label == "full" else ("pretrained",))]
    runs += [record(label, method=label, lr=0.1, init=init) for label in ("full", "lora", "dora", "prompt_tuning")
             for init in (("pretrained", "scratch") if label == "full" else ("pretrained",))]
    fig = glyphs_ok(ch6.lr_search(results(runs)))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [pl.i18n.t(f) for f in ("family_baselines", "family_lora",
                                                                        "family_prompt")]
    assert len({ax.get_ylim() for ax in panels}) == 1                        # one y scale to compare across
    full, scratch = [l for l in panels[0].get_lines() if len(l.get_xdata()) == 2]
    assert scratch.get_label() == pl.i18n.t("init_scratch", name=pl.i18n.t("full"))
    assert scratch.get_linestyle() == "--" and full.get_linestyle() != "--"
    assert "scratch" not in texts(fig)                                        # no English key in Chinese text
    assert panels[0].yaxis.get_major_formatter()(0.75, 0) == "75%"


def test_accuracy_vs_params_names_every_point_once_without_a_legend(methods_results):
    fig = ch5.accuracy_vs_params(methods_results, labels=METHODS)
    ax = fig.axes[0]
    assert ax.get_legend() is None and not fig.legends
    names = [a.get_text() for a in ax.texts]
    assert sorted(names) == sorted(pl.i18n.t(m) for m in METHODS)
    for c, label in zip(ax.containers, METHODS):                              # one colour per method, suite-wide
        assert matplotlib.colors.same_color(c.lines[0].get_color(), color(label))


def test_heatmap_uses_a_colour_blind_safe_map(methods_results):
    mesh = next(c for c in ch5.heatmap(methods_results).axes[0].collections if isinstance(c, QuadMesh))
    assert mesh.get_cmap().name in ("viridis", "cividis", "magma", "inferno", "plasma")   # no red-green map


def test_chinese_wording_follows_the_glossary():
    """d2l-zh terms (词元, 批量), full-width brackets in Chinese text, one name for training memory;
    parentheses directly after a Latin symbol are notation (r(d+k), φ(i, j)) and stay. The selection
    guide's four questions (``guide_q_*``) quote the chapter word for word (显存受限？), as notebook 05 does."""
    for key, entry in pl.i18n.TEXT.items():
        zh = re.sub(r"\{\w+\}", "", entry["zh"])                              # format fields are not text
        assert not re.search(r"(^|[\s\u4e00-\u9fff，：；])\(", zh), (key, zh)       # a Chinese bracket is （）
        assert not re.search(r"token|batch" if key.startswith("guide_q_") else r"token|batch|显存", zh, re.I), (key, zh)
        assert "内存" not in zh or "训练内存" in zh or key.startswith("w_"), (key, zh)
    for key in ("prefix_length", "length_accuracy_title", "length_params_title"):
        assert "虚拟词元数 L" in pl.i18n.TEXT[key]["zh"]                      # one name for L


# ----------------------------------------------------------------------------- projector readability

def test_methods_that_appear_together_differ_clearly_in_colour():
    """CIE76 ΔE between the colours of every two methods of one family, of the learning-rate
    panels' usual set and of the rank rules is at least MIN_DELTA_E (20: about ten just-noticeable
    differences, what two thin lines need on a washed-out projector; the two pinks of prefix
    tuning and P-Tuning v2 were 19); any two different methods at least half that. Only labels
    declared the same thing (SAME_COLOR) may share a colour."""
    from itertools import combinations

    from peft_lab.plots.style import FAMILIES, MIN_DELTA_E, PALETTE, SAME_COLOR, delta_e
    from peft_lab.plots.ch2_lora import RANK_RULES
    assert delta_e("#ffffff", "#000000") == pytest.approx(100, abs=0.1)   # L* of white and black
    usual = [*FAMILIES.values(), tuple(RANK_RULES.values()),
             ("full", "lora", "adapter_houlsby", "prefix_tuning", "p_tuning_v2", "ia3"),   # notebook 06's lr panels
             ("lora", "loraplus", "prefix_tuning", "p_tuning_v2")]
    same = {frozenset(pair) for pair in SAME_COLOR}
    close = [(a, b, round(delta_e(PALETTE[a], PALETTE[b]), 1)) for group in usual for a, b in combinations(group, 2)
             if frozenset((a, b)) not in same and delta_e(PALETTE[a], PALETTE[b]) < MIN_DELTA_E]
    assert not close, close
    close = [(a, b) for a, b in combinations(PALETTE, 2)
             if frozenset((a, b)) not in same and delta_e(PALETTE[a], PALETTE[b]) < MIN_DELTA_E / 2]
    assert not close, close


def test_log_loss_axes_label_ticks_as_plain_numbers():
    """Losses within one decade or over several: every tick label is a plain number, never
    "6 × 10⁻¹", and a narrow range still gets more than one labelled tick."""
    for low, high in ((0.42, 0.75), (0.5, 3.2), (0.02, 4.0)):
        losses = list(np.geomspace(high, low, 30))
        fig = ch6.training_curves([losses], labels=["lora"], logy=True)
        fig.canvas.draw()
        ax = fig.axes[0]
        y0, y1 = ax.get_ylim()
        ticks = [(tick.get_loc(), tick.label1.get_text()) for tick in ax.yaxis.get_major_ticks() + ax.yaxis.get_minor_ticks()]
        shown = [(v, s) for v, s in ticks if y0 <= v <= y1 and s]
        assert len(shown) >= 2, (low, high, shown)
        assert all(re.fullmatch(r"\d+(\.\d+)?", s) and math.isclose(float(s), v, rel_tol=1e-6) for v, s in shown), shown


@pytest.mark.parametrize("build", [lambda res, **kw: ch2.rank_sweep(res, **kw),
                                   lambda res, **kw: ch4.prefix_length_sweep(res, **kw)])
def test_the_setting_label_covers_no_point_bar_or_ring(build):
    """Points at the top, the bottom and on the marked line: the label finds a clear corner."""
    runs = [record("lora" if v == "alpha=16" else "rslora", variant=v, seed=s, config={"r": x, "num_virtual_tokens": x},
                   test_accuracy=(0.79 if v == "alpha=16" else 0.70) + 0.01 * s - 0.0001 * x,
                   trainable_params=10 * x) for v in ("alpha=16", "alpha=2r") for x in (1, 2, 8, 64) for s in (0, 1)]
    fig = build(results(runs), mark=1, mark_label="数据支持的最小 {value}")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        label = next(t for t in ax.texts if t.get_text() == "数据支持的最小 1")
        box = label.get_bbox_patch().get_window_extent(renderer)
        for line in ax.get_lines():
            if line.get_marker() in (None, "None", "") or not len(line.get_xdata()):
                continue
            for xy in ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)):
                r = line.get_markersize() / 2 * fig.dpi / 72
                assert not (box.x0 - r < xy[0] < box.x1 + r and box.y0 - r < xy[1] < box.y1 + r), (label, xy)
        for container in ax.containers:
            for seg in container.lines[2][0].get_segments():
                (x0, y0), (x1, y1) = ax.transData.transform(np.asarray(seg, dtype=float))
                assert not (box.x0 < x0 < box.x1 and min(y0, y1) < box.y1 and max(y0, y1) > box.y0)
    assert pl.i18n.t("mark_setting", symbol="r", value="1") not in texts(fig)
    with pytest.raises(TypeError, match="mark_label"):
        build(results(runs), mark=1, mark_label=3)


def test_model_growth_keeps_models_of_one_year_and_size_apart():
    """LLaMA-65B and Llama 2 70B (2023, 65 B vs 69 B): two dots and two labels, none on another."""
    fig = ch1.model_growth()
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if "LLaMA-65B" in t.get_text() or "Llama 2 70B" in t.get_text()]
    assert len(labels) == 2
    a, b = (t.get_window_extent(renderer) for t in labels)
    assert not a.overlaps(b)
    dots = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    big = ax.transData.transform(dots[(dots[:, 0] > 2022.5) & (dots[:, 0] < 2023.5) & (dots[:, 1] > 5e10)])
    assert len(big) == 2 and np.linalg.norm(big[0] - big[1]) > 70 ** 0.5 * fig.dpi / 72   # more than a dot apart


def test_placement_latency_labels_share_one_format(methods_results):
    fig = ch3.placement_comparison(methods_results)
    shown = [t.get_text() for t in fig.axes[2].texts]
    decimals = {len(s.split()[0].partition(".")[2]) for s in shown}
    assert shown and len(decimals) == 1, shown


def loraplus_ratio_results():
    """LoRA+ at ratios 1, 4, 16, two seeds each: accuracy 0.70 + 0.01 ratio (+0.001 for seed 1)."""
    runs = []
    for ratio in (1, 4, 16):
        for seed in (0, 1):
            r = record("loraplus", seed=seed, test_accuracy=0.70 + 0.01 * ratio + 0.001 * seed, sec_per_step=0.1)
            runs.append(r | {"optimizer": {"name": "loraplus", "ratio": ratio}})
    return results(runs)


def test_loraplus_ratio_draws_the_seed_mean_at_every_measured_ratio():
    from peft_lab.plots import ch2_variants
    fig = glyphs_ok(ch2_variants.loraplus_ratio(loraplus_ratio_results(), mark=4))
    line = fig.axes[0].containers[0].lines[0]
    assert list(line.get_xdata()) == [1, 4, 16]
    assert np.allclose(line.get_ydata(), [0.70 + 0.01 * k + 0.0005 for k in (1, 4, 16)])
    assert fig.axes[1].get_ylim()[0] == 0 and "λ = 4" in texts(fig)
