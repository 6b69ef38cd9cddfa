"""peft_lab.lessons.practice: the cell logic of 06_practice_guide, on constructed data."""
import math
from types import SimpleNamespace

import pytest
import torch

import peft_lab as pl
from peft_lab.experiments.noise import compare, group_stats, sampling_error
from peft_lab.lessons import practice as pr
from peft_lab.methods.lora import LoRALinear


def _results(groups: dict) -> dict:
    """Final runs: ``{label: [(test_accuracy, trainable_share), ...]}``."""
    return {"meta": {}, "runs": [{"label": label, "stage": "final", "seed": i,
                                  "metrics": {"test_accuracy": acc, "trainable_share": share}}
                                 for label, rows in groups.items() for i, (acc, share) in enumerate(rows)]}


def test_versus_adds_each_methods_trainable_share_to_compare():
    results = _results({"lora": [(0.80, 0.02), (0.82, 0.02)], "full": [(0.81, 1.0), (0.83, 1.0)]})
    got = pr.versus(results, "lora", "full", n_test=1000)
    assert {k: got[k] for k in compare(results, "lora", "full", 1000)} == compare(results, "lora", "full", 1000)
    assert got["share_a"] == pytest.approx(0.02) and got["share_b"] == pytest.approx(1.0)


def test_versus_verdict_flips_when_the_gap_outgrows_the_noise():
    near = pr.versus(_results({"a": [(0.80, 0.1)] * 2, "b": [(0.801, 1.0)] * 2}), "a", "b", n_test=1000)
    far = pr.versus(_results({"a": [(0.60, 0.1)] * 2, "b": [(0.80, 1.0)] * 2}), "a", "b", n_test=1000)
    assert near["within_noise"] and not far["within_noise"]


def test_parameter_breakdown_splits_trainable_into_method_and_head(make_model):
    model = pl.apply(make_model(), pl.LoRAConfig(r=4, alpha=8, target_modules=("q_proj", "v_proj")))
    n = pr.parameter_breakdown(model)
    lora = sum(m.A.numel() + m.B.numel() for m in model.modules() if isinstance(m, LoRALinear))
    assert n["method"] == lora                       # the calculator agrees with the instantiated factors
    assert n["trainable"] == n["method"] + n["head"]   # base frozen: only factors and head train
    assert (n["trainable"], n["total"]) == pl.count_parameters(model)


def test_parameter_breakdown_rejects_a_model_without_a_method(make_model):
    with pytest.raises(ValueError, match="peft_config"):
        pr.parameter_breakdown(make_model())


def _rep(lr, mlp_acc, direct_acc):
    return SimpleNamespace(run=f"direct@{lr}", symptom={"mlp_run": f"mlp@{lr}", "mlp": {"val_accuracy": mlp_acc},
                                                       "direct": {"val_accuracy": direct_acc}})


def test_reparam_verdict_reads_the_highest_rate_and_flips_with_the_order():
    worse = pr.reparam_verdict({1e-3: _rep(1e-3, 0.9, 0.5), 3e-3: _rep(3e-3, 0.6, 0.8)})
    assert worse["lr"] == 3e-3 and worse["mlp_worse"] and worse["gap"] == pytest.approx(0.2)
    better = pr.reparam_verdict({1e-3: _rep(1e-3, 0.5, 0.9), 3e-3: _rep(3e-3, 0.8, 0.6)})
    assert not better["mlp_worse"] and better["gap"] == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="pair"):
        pr.reparam_verdict({})


def test_prefix_runs_alternate_mlp_then_direct_per_rate():
    pair = {1e-3: _rep(1e-3, 0.9, 0.5), 3e-3: _rep(3e-3, 0.6, 0.8)}
    assert pr.prefix_runs(pair) == ["mlp@0.001", "direct@0.001", "mlp@0.003", "direct@0.003"]


def test_hf_peft_agreement_matches_outputs_and_counts_up_to_the_head_copy(make_model, batch):
    pytest.importorskip("peft")
    model = pl.apply(make_model(), pl.LoRAConfig(r=4, alpha=8, target_modules=("q_proj", "v_proj")))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.B.normal_(std=0.1)           # a trained-looking update, so agreement is not trivial
    ids, mask = batch
    before = model(ids, attention_mask=mask)
    got = pr.hf_peft_agreement(model, make_model(), ids, mask)
    assert got["gap"] < 1e-5 and got["merged_gap"] < 1e-5
    assert got["hf_trainable"] == got["trainable"]
    assert got["hf_total"] - got["total"] == got["head"]   # modules_to_save keeps a second head
    assert model(ids, attention_mask=mask).equal(before)    # merged on a copy


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_runs_from_stats_reproduce_the_requested_summary(n):
    std = 0.0 if n == 1 else 0.03
    stats = group_stats(pr.runs_from_stats({"x": (0.8, std, n)}))["x"]
    assert stats["n"] == n and stats["mean"] == pytest.approx(0.8) and stats["std"] == pytest.approx(std)


def test_runs_from_stats_rejects_bad_counts():
    with pytest.raises(ValueError, match="n=0"):
        pr.runs_from_stats({"x": (0.8, 0.0, 0)})
    with pytest.raises(ValueError, match="std"):
        pr.runs_from_stats({"x": (0.8, 0.1, 1)})


def test_within_noise_from_stats_flips_at_twice_the_standard_error():
    N, mean_b, std = 1000, 0.8, 0.02
    se = math.sqrt(2 * std**2 / 3 + sampling_error(mean_b, N) ** 2 + sampling_error(mean_b, N) ** 2)
    # mean_a's sampling error differs slightly from mean_b's: stay clear of the exact edge
    assert pr.within_noise_from_stats(mean_b - 1.9 * se, mean_b, std, std, 3, 3, N)
    assert not pr.within_noise_from_stats(mean_b - 2.1 * se, mean_b, std, std, 3, 3, N)


def _failure_run(label, variant, seed, acc, loss, params=100):
    return {"label": label, "variant": variant, "seed": seed, "stage": "final", "status": "ok", "lr": 1e-3,
            "steps": 150, "metrics": {"test_accuracy": acc, "val_accuracy": acc, "trainable_params": params},
            "details": {"initial_loss": 0.7, "loss_curve": [[149, loss]]}}


def test_committed_failures_pair_each_failure_with_its_healthy_run_and_judge_the_gap():
    runs = [_failure_run("lora", "fail_healthy", s, a, 0.4) for s, a in enumerate((0.80, 0.81))]
    runs += [_failure_run("lora", "fail_lr_high", s, a, 0.69) for s, a in enumerate((0.50, 0.52))]
    runs += [_failure_run("lora", "fail_few_steps", s, a, 0.6) for s, a in enumerate((0.80, 0.80))]
    runs += [_failure_run("prefix_tuning", "fail_healthy", s, a, 0.5) for s, a in enumerate((0.70, 0.72))]
    runs += [_failure_run("prefix_tuning", "fail_prefix_direct", s, a, 0.6) for s, a in enumerate((0.60, 0.62))]
    rows = pr.committed_failures({"runs": runs}, n_test=1000)
    by = {r["mode"]: r for r in rows}
    assert set(by) == {"fail_lr_high", "fail_few_steps", "fail_prefix_direct"}
    assert by["fail_lr_high"]["failing"] == pytest.approx(0.51) and by["fail_lr_high"]["healthy"] == pytest.approx(0.805)
    assert not by["fail_lr_high"]["compare"]["within_noise"]          # 29 points: far beyond noise
    assert by["fail_few_steps"]["compare"]["within_noise"]             # the same accuracy
    assert by["fail_prefix_direct"]["healthy"] == pytest.approx(0.71)  # its own method's healthy runs, not LoRA's
    assert by["fail_lr_high"]["loss_failing"] == pytest.approx(0.69) and by["fail_lr_high"]["loss_healthy"] == 0.4
    with pytest.raises(ValueError, match="no committed failure"):
        pr.committed_failures({"runs": runs[:2]}, n_test=1000)


def test_failures_table_has_a_row_per_failure_with_the_sweep_settings_in_its_name():
    from peft_lab.experiments.sweeps import FAILURE_LR_FACTOR
    runs = [_failure_run("lora", "fail_healthy", s, a, 0.4) for s, a in enumerate((0.80, 0.81))]
    runs += [_failure_run("lora", "fail_lr_high", s, a, 0.69) for s, a in enumerate((0.50, 0.52))]
    runs += [_failure_run("lora", "fail_not_frozen", s, 0.8, 0.4, params=12_345) for s in range(2)]
    table = pr.failures_table(pr.committed_failures({"runs": runs}, n_test=1000))
    assert len(table.splitlines()) == 4 and f"{FAILURE_LR_FACTOR} 倍" in table
    assert "12,345 / 100" in table          # the cost of an unfrozen base shows in what it trains
    assert "51.0%" in table and "80.5%" in table and "超出噪声" in table
