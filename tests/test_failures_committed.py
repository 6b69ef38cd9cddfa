"""The failures sweep: each troubleshooting failure at the full recipe beside its healthy
counterpart, the deliberate mistakes made by the run itself, and failures.from_results reading them."""
import pytest
import torch

from peft_lab import failures
from peft_lab.experiments import sweeps
from peft_lab.experiments.execute import break_on_purpose, build_model
from peft_lab.experiments.runner import pending, run_specs
from peft_lab.methods import count_parameters
from peft_lab.methods.lora import LoRALinear


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    return sweeps.get_sweep("failures").build(sweeps.Context(False, tmp_path_factory.mktemp("no_results")))


def by_mode(specs, label):
    return {(s.variant, s.seed): s for s in specs if s.label == label}


def test_every_failure_sits_beside_its_healthy_counterpart_at_the_full_recipe(specs):
    lora, prefix = sweeps.method("lora"), sweeps.method("prefix_tuning")
    modes = {s.variant for s in specs}
    assert modes == {"fail_healthy", *failures.COMMITTED_MODES}
    assert sorted((s.label, s.variant, s.seed) for s in specs) == sorted(
        [("lora", m, seed) for m in ("fail_healthy", "fail_lr_high", "fail_few_steps", "fail_b_nonzero",
                                     "fail_not_frozen") for seed in sweeps.FEW_SEEDS]
        + [("prefix_tuning", m, seed) for m in ("fail_healthy", "fail_prefix_direct") for seed in sweeps.FEW_SEEDS])
    assert len(pending(specs, {})) == len(specs)   # every failing run differs from its healthy one
    runs = by_mode(specs, "lora")
    for seed in sweeps.FEW_SEEDS:
        ok = runs["fail_healthy", seed]
        assert (ok.config, ok.lr, ok.steps, ok.extra) == (lora.config.to_dict(), lora.default_lr, sweeps.STEPS, {})
        assert runs["fail_lr_high", seed].lr == pytest.approx(sweeps.FAILURE_LR_FACTOR * ok.lr)
        assert runs["fail_few_steps", seed].steps == sweeps.FAILURE_STEPS < sweeps.STEPS
        assert runs["fail_b_nonzero", seed].extra == {"failure": "fail_b_nonzero", "std": sweeps.FAILURE_B_STD}
        assert runs["fail_not_frozen", seed].extra == {"failure": "fail_not_frozen"}
        for mode in failures.COMMITTED_MODES[:4]:   # everything else as the healthy run
            changed = {k for k, v in vars(runs[mode, seed]).items() if v != vars(ok)[k]}
            assert changed <= {"lr", "steps", "extra", "variant"} and len(changed) == 2, mode
    prefix_runs = by_mode(specs, "prefix_tuning")
    direct, mlp = prefix_runs["fail_prefix_direct", 0], prefix_runs["fail_healthy", 0]
    assert mlp.config == prefix.config.to_dict() and direct.config == {**mlp.config, "projection": False}
    assert direct.lr == mlp.lr == prefix.default_lr


def test_the_runs_make_the_mistakes_themselves(specs):
    runs = by_mode(specs, "lora")
    healthy = build_model(runs["fail_healthy", 0])
    assert all(torch.count_nonzero(m.B) == 0 for m in healthy.modules() if isinstance(m, LoRALinear))
    random_B = build_model(runs["fail_b_nonzero", 0])
    Bs = [m.B for m in random_B.modules() if isinstance(m, LoRALinear)]
    assert Bs and all(torch.count_nonzero(B) == B.numel() for B in Bs)
    assert torch.cat([B.detach().flatten() for B in Bs]).std().item() == pytest.approx(sweeps.FAILURE_B_STD, rel=0.1)
    trainable, total = count_parameters(build_model(runs["fail_not_frozen", 0]))
    assert trainable == total > count_parameters(healthy)[0]
    with pytest.raises(ValueError, match="extra\\['failure'\\]='typo'.*fail_b_nonzero"):
        break_on_purpose(healthy, {"failure": "typo"})


def fake_execute(spec):
    """Accuracies that make each failure visible; the lr-too-high run diverges at seed 1."""
    if spec.variant == "fail_lr_high" and spec.seed == 1:
        return {"status": "diverged", "metrics": {}, "details": {"loss_curve": [[5, 9.0]]}}
    acc = 0.85 if spec.variant == "fail_healthy" else 0.6
    return {"status": "ok", "metrics": {"val_accuracy": acc, "test_accuracy": acc - 0.01, "trainable_params": 10,
                                        "adapter_bytes": 100},
            "details": {"initial_loss": 0.7, "loss_curve": [[spec.steps, 0.7 - acc / 2]]}}


def test_from_results_reads_a_committed_failure_beside_its_healthy_runs(specs):
    results = {"meta": {}, "runs": run_specs(specs, fake_execute, progress=False)}
    high = failures.from_results(results, "fail_lr_high")
    assert high.mode == "fail_lr_high" and high.run is None and high.symptom["label"] == "lora"
    failing, healthy = high.symptom["failing"], high.symptom["healthy"]
    assert [r["seed"] for r in failing["runs"]] == list(sweeps.FEW_SEEDS)
    assert [r["status"] for r in failing["runs"]] == ["ok", "diverged"]
    assert failing["val_accuracy"] == pytest.approx(0.6)               # the mean of the finished runs
    assert healthy["val_accuracy"] == pytest.approx(0.85) and len(healthy["runs"]) == len(sweeps.FEW_SEEDS)
    assert failing["runs"][0]["lr"] == pytest.approx(sweeps.FAILURE_LR_FACTOR * healthy["runs"][0]["lr"])
    direct = failures.from_results(results, "fail_prefix_direct")
    assert direct.symptom["label"] == "prefix_tuning"
    assert all(r["lr"] == sweeps.method("prefix_tuning").default_lr for r in direct.symptom["healthy"]["runs"])
    few = failures.from_results(results, "fail_few_steps").symptom
    assert few["failing"]["runs"][0]["steps"] == sweeps.FAILURE_STEPS and few["healthy"]["runs"][0]["loss_last"]
    with pytest.raises(ValueError, match="mode='fail_rank_small' is not a committed failure"):
        failures.from_results(results, "fail_rank_small")
    with pytest.raises(ValueError, match="mode='fail_not_frozen' has no runs.*variants present"):
        failures.from_results({"runs": [r for r in results["runs"] if r["variant"] != "fail_not_frozen"]},
                              "fail_not_frozen")
