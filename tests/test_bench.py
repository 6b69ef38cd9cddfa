"""The benchmark's report: every method and variant measured, ratios to a reference measured in
the same run. Structure only -- no timing assertions (a shared CI machine times anything)."""
import json
import math

import pytest
import torch

from peft_lab import bench
from peft_lab.experiments.sweeps import method_table


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    from peft_lab import ModelConfig, TinyTransformer

    def make():  # bottleneck 32 needs d_model > 32
        return TinyTransformer(ModelConfig(vocab_size=50, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_len=64,
                                           dropout=0.0, head="cls", num_labels=2, causal=False))
    ids = torch.randint(5, 50, (4, 12))
    batch = (ids, torch.ones_like(ids), torch.tensor([0, 1, 0, 1]))
    return bench.run(make=make, batch=batch, settings=bench.Settings(batch=4, max_len=12, rounds=3, warmup=1))


def committed_report():
    from peft_lab.experiments.api import results_dir
    path = results_dir() / "bench.json"
    if not path.exists():
        pytest.skip("no committed results/bench.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(params=["fresh", "committed"])
def any_report(request, report):
    """The report measured here, and the one committed by ``python -m peft_lab.bench --json``."""
    return report if request.param == "fresh" else committed_report()


def test_every_method_and_variant_is_measured_against_its_reference(any_report):
    report = any_report
    assert list(report["training_step"]["rows"]) == [m.label for m in method_table()]
    assert report["training_step"]["reference"] == "full"
    assert list(report["inference"]["rows"]) == list(bench.INFERENCE_VARIANTS)
    assert report["inference"]["reference"] == "base"
    for section in ("hf_training_step", "hf_inference"):
        assert set(report[section]["rows"]) == {"peft_lab", "hf_peft"} and report[section]["reference"] == "hf_peft"


def test_each_row_has_its_median_spread_and_ratio(any_report):
    report = any_report
    for section in ("training_step", "inference", "hf_training_step", "hf_inference"):
        ref = report[section]["reference"]
        assert report[section]["rows"][ref]["ratio"] == 1.0   # the reference against itself, round by round
        for row in report[section]["rows"].values():
            q1, q3 = row["iqr_ms"]
            assert q1 <= row["median_ms"] <= q3 and row["ratio_iqr"][0] <= row["ratio"] <= row["ratio_iqr"][1]
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0


def test_the_report_is_json_and_prints(report, tmp_path):
    assert json.loads(json.dumps(report)) == report
    assert report["meta"]["settings"]["rounds"] == 3 and report["meta"]["machine"]["cores"]
    text = bench.format_report(report)
    assert "relative to full fine-tuning" in text and "hf_peft" in text


def test_interleaving_rotates_the_order_and_times_every_call():
    calls = []
    times = bench.interleaved({k: (lambda k=k: calls.append(k)) for k in "abc"}, rounds=3, warmup=1)
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")
    assert all(len(t) == 3 for t in times.values())


def test_an_existing_report_is_not_overwritten_without_asking(tmp_path, capsys):
    path = tmp_path / "bench.json"
    path.write_text("keep me", encoding="utf-8")
    assert bench.main(["--quick", "--json", str(path)]) == 2
    assert path.read_text(encoding="utf-8") == "keep me" and "--overwrite" in capsys.readouterr().err


def test_fit_overhead_reports_the_median_of_each_part_for_every_mode(monkeypatch):
    """Structure only: a stand-in fit whose seconds are known (no timing assertions)."""
    calls = []

    def fake(steps, **kwargs):
        calls.append(kwargs)
        training = 1.0 + len(calls)  # 2, 3, 4, ... seconds
        return {"total": training + 10, "training": training, "fixed": 10.0}
    monkeypatch.setattr(bench, "timed_fit", fake)
    report = bench.fit_overhead(repeats=3, steps=20)
    assert calls[0] == {} and len(calls) == 1 + 3 * len(bench.FIT_MODES)  # the first fit, then the rounds
    assert set(report["rows"]) == set(bench.FIT_MODES) and report["meta"]["steps"] == 20
    for row in report["rows"].values():
        assert row["fixed"] == {"median": 10.0, "min": 10.0, "max": 10.0}
        assert row["training"]["min"] <= row["training"]["median"] <= row["training"]["max"]
    text = bench.format_fit_overhead(report)
    assert all(name in text for name in bench.FIT_MODES) and "fixed cost" in text
