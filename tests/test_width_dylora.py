"""Two measurements for notebook 02: LoRA's step time relative to full fine-tuning as the model
widens (``python -m peft_lab.bench --widths``), and DyLoRA trained once and evaluated at every
rank beside separately trained LoRAs (``python -m peft_lab.experiments dylora_ranks``).
Structure and properties only -- no timing assertions (a shared CI machine times anything)."""
import json
import math

import pytest

from peft_lab import bench
from peft_lab.budget.flops import model_flops
from peft_lab.budget.presets import tiny_from
from peft_lab.experiments import api
from peft_lab.experiments.sweeps import method

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
