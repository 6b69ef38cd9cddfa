"""Two measurements for notebook 02: LoRA's step time relative to full fine-tuning as the model
widens (``python -m peft_lab.bench --widths``), and DyLoRA trained once and evaluated at every
rank beside separately trained LoRAs (``python -m peft_lab.experiments dylora_ranks``).
Structure and properties only -- no timing assertions (a shared CI machine times anything)."""
import json
import math
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from test_plots import glyphs_ok, texts  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import bench  # noqa: E402
from peft_lab.budget.flops import model_flops  # noqa: E402
from peft_lab.budget.presets import tiny_from  # noqa: E402
from peft_lab.experiments import analysis, api, sweeps  # noqa: E402
from peft_lab.experiments.runner import Spec  # noqa: E402
from peft_lab.experiments.sweeps import method  # noqa: E402
from peft_lab.plots import ch2_width  # noqa: E402

TINY = bench.Settings(batch=2, max_len=8, rounds=3, warmup=1)


# ----------------------------------------------------------------------------- A: step time vs width

def check_width_report(report: dict) -> None:
    """The schema of ``results/lora_width.json``: provenance, and per width the interleaved ratio
    with its IQR and the FLOP model's ratio for the same shapes."""
    meta = report["meta"]
    for field in ("date", "command", "settings", "versions", "machine", "method", "base_model"):
        assert meta.get(field), field
    assert meta["machine"]["torch_threads"] >= 1 and meta["versions"]["torch"]
    widths = [p["d_model"] for p in report["widths"]]
    assert widths == sorted(widths) and len(set(widths)) == len(widths)
    label = meta["method"]["label"]
    for p in report["widths"]:
        assert p["d_ff"] == 4 * p["d_model"]
        rows = p["step"]["rows"]
        assert p["step"]["reference"] == "full" and set(rows) == {"full", label}
        assert rows["full"]["ratio"] == 1.0   # the reference against itself, round by round
        assert p["ratio"] == rows[label]["ratio"] and p["ratio_iqr"] == rows[label]["ratio_iqr"]
        assert p["ratio_iqr"][0] <= p["ratio"] <= p["ratio_iqr"][1] and math.isfinite(p["ratio"])
        for row in rows.values():
            assert row["iqr_ms"][0] <= row["median_ms"] <= row["iqr_ms"][1]
        assert p["flops_ratio"] == pytest.approx(p["flops_per_token"][label] / p["flops_per_token"]["full"])
        assert 0 < p["trainable_params"][label] < p["trainable_params"]["full"] == p["total_params"]
    # the low-rank terms r(d + k) shrink against d k: the FLOP model's ratio falls as the model widens
    flops = [p["flops_ratio"] for p in report["widths"]]
    assert flops == sorted(flops, reverse=True)


@pytest.fixture(scope="module")
def width_report():
    return bench.width_run((32, 16), settings=TINY, progress=False)


def test_every_width_is_measured_against_full_fine_tuning_with_its_flop_ratio(width_report):
    check_width_report(width_report)
    assert [p["d_model"] for p in width_report["widths"]] == [16, 32]
    for p in width_report["widths"]:   # the calculator's ratio for the shapes that were timed
        model = bench.widened(p["d_model"])()
        assert p["flops_ratio"] == model_flops(tiny_from(model.config), method("lora").config).step_ratio
        assert p["total_params"] == sum(q.numel() for q in model.parameters())
    assert json.loads(json.dumps(width_report)) == width_report


def test_an_interrupted_width_sweep_resumes_from_its_journal(tmp_path, monkeypatch):
    journal = tmp_path / "w.partial.jsonl"
    first = bench.width_run((16,), settings=TINY, journal_path=journal, progress=False)

    def no_more(*args):
        raise AssertionError("a journalled width was measured again")
    monkeypatch.setattr(bench, "width_point", no_more)
    again = bench.width_run((16,), settings=TINY, journal_path=journal, progress=False)
    assert again["widths"] == first["widths"]


def test_bad_widths_are_refused_by_name():
    with pytest.raises(ValueError, match="widths"):
        bench.width_run((0, 64), settings=TINY)
    with pytest.raises(ValueError, match="n_heads"):   # 4 heads cannot split 30 dimensions
        bench.width_run((30,), settings=TINY)


def test_the_widths_command_writes_the_report_with_its_command(tmp_path):
    path = tmp_path / "lora_width.json"
    assert bench.main(["--widths", "16", "--quick", "--json", str(path)]) == 0
    report = json.loads(path.read_text(encoding="utf-8"))
    check_width_report(report)
    assert report["meta"]["command"].endswith(f"--widths 16 --quick --json {path}")
    assert not path.with_suffix(".partial.jsonl").exists()
    assert bench.main(["--widths", "16", "--quick", "--json", str(path)]) == 2   # never overwritten silently


def test_the_committed_width_report_follows_the_schema():
    path = api.results_dir() / "lora_width.json"
    if not path.exists():
        pytest.skip("no committed results/lora_width.json: python -m peft_lab.bench --widths --json ...")
    report = json.loads(path.read_text(encoding="utf-8"))
    check_width_report(report)
    assert "--widths" in report["meta"]["command"]


# ----------------------------------------------------------------------------- B: DyLoRA at every rank


def test_the_dylora_ranks_sweep_trains_dylora_once_per_seed_and_lora_at_each_rank():
    ctx = sweeps.Context(False, api.results_dir())
    specs = sweeps.get_sweep("dylora_ranks").build(ctx)
    dylora = [s for s in specs if s.label == "dylora"]
    lora = [s for s in specs if s.label == "lora"]
    r_max = method("dylora").config.r
    assert sorted(s.seed for s in dylora) == list(sweeps.SEEDS)
    assert all(s.extra == {"eval_ranks": list(range(1, r_max + 1))} for s in dylora)
    assert all(s.config == method("dylora").config.to_dict() for s in dylora)
    assert sorted((s.config["r"], s.seed) for s in lora) == sorted(
        (r, seed) for r in sweeps.LORA_BESIDE_DYLORA for seed in sweeps.SEEDS)
    for s in specs:   # one recipe, the rate chosen on validation, and each spec survives the JSON round trip
        assert (s.steps, s.batch, s.max_len, s.stage, s.kind) == (sweeps.STEPS, sweeps.BATCH, sweeps.MAX_LEN,
                                                                  "final", "train")
        assert s.lr == ctx.lr(method(s.label))
        assert {k: v for k, v in s.config.items() if k not in ("r", "min_r", "use_rslora", "use_dora")} == {
            "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
        assert Spec.from_record(json.loads(json.dumps(s.describe()))) == s
    # the separately trained LoRAs are the lora_rank sweep's computations where their seeds overlap
    rank_keys = {s.key() for s in sweeps.get_sweep("lora_rank").build(ctx)}
    overlap = [s for s in lora if s.seed in sweeps.FEW_SEEDS]
    assert overlap and all(s.key() in rank_keys for s in overlap)


@pytest.fixture(scope="module")
def quick_dylora(tmp_path_factory):
    """The live version on a tiny budget: a few steps, a few examples."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweeps, "QUICK", dict(steps=4, batch=4, max_len=16, train_size=16, eval_size=24, measure=False))
        return api.run_sweep("dylora_ranks", quick=True, progress=False)


def test_a_quick_run_evaluates_dylora_at_every_rank_and_rank_r_is_the_trained_model(quick_dylora):
    api.validate(quick_dylora)
    runs = [r for r in quick_dylora["runs"] if r["label"] == "dylora"]
    r_max = runs[0]["config"]["r"]
    for run in runs:
        by_rank = run["details"]["by_rank"]
        assert list(by_rank) == [str(b) for b in range(1, r_max + 1)]
        for scores in by_rank.values():
            assert 0 <= scores["val_accuracy"] <= 1 and 0 <= scores["test_accuracy"] <= 1
        # evaluated at its full rank, the cut model is the model fit evaluated
        for metric in ("val_accuracy", "test_accuracy"):
            assert by_rank[str(r_max)][metric] == run["metrics"][metric]
    by = analysis.dylora_by_rank(quick_dylora)
    assert list(by["dylora"]) == list(range(1, r_max + 1))
    assert sorted(by["lora"]) == sorted(r["config"]["r"] for r in quick_dylora["runs"] if r["label"] == "lora")
    assert all(s["n"] == 1 for half in by.values() for s in half.values())


def test_dylora_by_rank_gives_mean_and_spread_over_seeds_per_rank(quick_dylora):
    dylora = next(r for r in quick_dylora["runs"] if r["label"] == "dylora")
    lora = next(r for r in quick_dylora["runs"] if r["label"] == "lora")
    runs, expected = [], {}
    for seed, shift in enumerate((0.0, 0.1, 0.3)):   # three seeds, scores shifted apart
        by_rank = {b: {**s, "test_accuracy": s["test_accuracy"] * 0.5 + shift}
                   for b, s in dylora["details"]["by_rank"].items()}
        runs.append({**dylora, "seed": seed, "details": {**dylora["details"], "by_rank": by_rank}})
        runs.append({**lora, "seed": seed, "metrics": {**lora["metrics"], "test_accuracy": 0.2 + shift}})
        for b, s in by_rank.items():
            expected.setdefault(int(b), []).append(s["test_accuracy"])
    by = analysis.dylora_by_rank({"meta": quick_dylora["meta"], "runs": runs})
    for b, values in expected.items():
        assert by["dylora"][b]["mean"] == pytest.approx(statistics.fmean(values))
        assert by["dylora"][b]["std"] == pytest.approx(statistics.stdev(values)) and by["dylora"][b]["n"] == 3
    r = lora["config"]["r"]
    assert by["lora"][r]["mean"] == pytest.approx(statistics.fmean([0.2, 0.3, 0.5])) and by["lora"][r]["n"] == 3
    assert analysis.means(by["lora"]) == {r: by["lora"][r]["mean"]}
    with pytest.raises(ValueError, match="by_rank"):
        analysis.dylora_by_rank({"meta": {}, "runs": [lora]})


def test_the_committed_dylora_ranks_cover_every_rank_for_every_seed():
    path = api.results_path("dylora_ranks")
    if not path.exists():
        pytest.skip("no committed results/dylora_ranks.json: python -m peft_lab.experiments dylora_ranks")
    results = json.loads(path.read_text(encoding="utf-8"))
    api.validate(results)
    by = analysis.dylora_by_rank(results)
    r_max = method("dylora").config.r
    assert list(by["dylora"]) == list(range(1, r_max + 1))
    assert sorted(by["lora"]) == list(sweeps.LORA_BESIDE_DYLORA)
    assert {s["n"] for half in by.values() for s in half.values()} == {len(sweeps.SEEDS)}


# ----------------------------------------------------------------------------- the figure


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ratios_report(width_report, ratios):
    """The measured report with its median ratios replaced (IQR kept around them)."""
    points = [dict(p, d_model=d, ratio=r, ratio_iqr=[r - 0.05, r + 0.05]) for p, (d, r) in
              zip(width_report["widths"] * len(ratios), ratios)]
    return {"meta": width_report["meta"], "widths": points}


def test_the_crossover_is_the_first_width_from_which_the_whole_iqr_stays_below_one(width_report):
    cross = ch2_width.crossover
    assert cross(ratios_report(width_report, [(64, 1.2), (128, 1.0), (256, 0.9), (512, 0.8)])) == 256
    # 128's median is below 1 but its IQR reaches 1: within the noise, not yet faster
    assert cross(ratios_report(width_report, [(64, 1.2), (128, 0.97), (256, 0.9)])) == 256
    assert cross(ratios_report(width_report, [(64, 0.9), (128, 1.0), (256, 0.8)])) == 256   # from there on
    assert cross(ratios_report(width_report, [(64, 0.9), (128, 0.8)])) == 64
    assert cross(ratios_report(width_report, [(64, 1.2), (128, 0.98)])) is None


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_width_figure_draws_the_measured_and_flop_ratios_in_both_languages(width_report, language):
    pl.set_language(language)
    try:
        fig = glyphs_ok(ch2_width.width_ratio(width_report, with_times=True))
    finally:
        pl.set_language("zh")
    ax = fig.axes[0]
    points = width_report["widths"]
    measured = [line for line in ax.get_lines() if list(line.get_ydata()) == [p["ratio"] for p in points]]
    assert measured, "the measured medians are drawn"
    assert any(list(line.get_ydata()) == [p["flops_ratio"] for p in points] for line in ax.get_lines())
    text = texts(fig)
    assert "results/lora_width.json" in text and width_report["meta"]["command"] in text
    assert (("实测" in text) if language == "zh" else ("Measured" in text))


def test_the_committed_width_report_draws():
    path = api.results_dir() / "lora_width.json"
    if not path.exists():
        pytest.skip("no committed results/lora_width.json")
    glyphs_ok(ch2_width.width_ratio(json.loads(path.read_text(encoding="utf-8"))))
