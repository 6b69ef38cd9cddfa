"""04_prefix_tuning's verdicts follow the data: built on constructed sweeps, never on the committed numbers."""
import pytest

from peft_lab.lessons import prompts

N = 1000   # test examples behind each constructed accuracy


def sweep(design_accs: dict) -> dict:
    """A prefix-length sweep: {design: {L: [acc per seed]}} as final runs."""
    runs = [{"label": design, "seed": seed, "stage": "final", "status": "ok",
             "config": {"num_virtual_tokens": L}, "metrics": {"test_accuracy": acc}}
            for design, by_length in design_accs.items() for L, accs in by_length.items()
            for seed, acc in enumerate(accs)]
    return {"meta": {}, "runs": runs}


def methods(label_accs: dict) -> dict:
    runs = [{"label": label, "seed": seed, "stage": "final", "status": "ok", "config": {},
             "metrics": {"test_accuracy": acc}} for label, accs in label_accs.items() for seed, acc in enumerate(accs)]
    return {"meta": {}, "runs": runs}


def test_a_flat_length_curve_has_nothing_beyond_noise():
    e = prompts.length_effect(sweep({"prefix_tuning": {1: [0.72, 0.73], 8: [0.73, 0.72], 64: [0.725, 0.735]}}),
                              "prefix_tuning", N)
    assert e["lengths"] == [1, 8, 64] and e["beyond_noise"] == [] and e["seeds"] == 2
    assert e["low"] <= e["high"] and e["best"] == 64


def test_a_length_far_below_the_best_is_named_and_only_for_its_own_design():
    data = sweep({"prefix_tuning": {1: [0.60, 0.61], 8: [0.80, 0.81], 64: [0.80, 0.80]},
                  "prompt_tuning": {1: [0.80, 0.80], 8: [0.80, 0.81]}})
    e = prompts.length_effect(data, "prefix_tuning", N)
    assert e["best"] == 8 and e["beyond_noise"] == [1]
    assert e["low"] == pytest.approx(0.605) and e["high"] == pytest.approx(0.805)
    assert prompts.length_effect(data, "prompt_tuning", N)["beyond_noise"] == []


def test_length_effect_names_a_design_without_runs():
    with pytest.raises(ValueError, match="design='p_tuning'"):
        prompts.length_effect(sweep({"prefix_tuning": {1: [0.7]}}), "p_tuning", N)


def steer(shares: dict, generations: int) -> dict:
    """results/steering.json's shape: {prefix: [positive share per seed]}, the share at the top level."""
    runs = [{"prefix": p, "seed": seed, "positive_share": s, "generations": generations}
            for p, ss in shares.items() for seed, s in enumerate(ss)]
    return {"meta": {"recipe": {"generations": generations}}, "runs": runs}


def test_steering_verdict_flips_when_the_gap_crosses_the_noise():
    far = prompts.steering_comparisons(steer({"positive": [0.70, 0.72], "negative": [0.30, 0.32], "all": [0.5, 0.5]}, 128))
    assert set(far) == set(prompts.STEERING_PAIRS)
    assert prompts.steered_apart(far[("positive", "negative")])
    near = prompts.steering_comparisons(steer({"positive": [0.51, 0.52], "negative": [0.50, 0.49], "all": [0.5, 0.5]}, 128))
    assert not prompts.steered_apart(near[("positive", "negative")])


def test_steering_noise_shrinks_with_more_generations():
    shares = {"positive": [0.6, 0.6], "negative": [0.5, 0.5], "all": [0.5, 0.5]}
    few, many = (prompts.steering_comparisons(steer(shares, n))[("positive", "negative")] for n in (16, 4096))
    assert many["threshold"] < few["threshold"] and few["within_noise"] and not many["within_noise"]


def test_steered_apart_needs_a_positive_difference():
    assert not prompts.steered_apart({"difference": -0.3, "within_noise": False})
    assert prompts.steered_apart({"difference": 0.3, "within_noise": False})


def test_designs_vs_references_ties_only_designs_near_the_probe():
    accs = {"prompt_tuning": [0.70, 0.71], "p_tuning": [0.705, 0.70], "prefix_tuning": [0.85, 0.86],
            "p_tuning_v2": [0.71, 0.70], "head_only": [0.70, 0.71], "full": [0.90, 0.91]}
    v = prompts.designs_vs_references(methods(accs), N)
    assert set(v["vs_probe"]) == set(prompts.DESIGNS)
    assert "prefix_tuning" not in v["tie"] and {"prompt_tuning", "p_tuning", "p_tuning_v2"} <= set(v["tie"])
    assert v["vs_full"]["a"] == "prefix_tuning" and not v["vs_full"]["within_noise"]
    assert v["spread"] == pytest.approx(0.855 - 0.7025)


def test_designs_vs_references_names_a_missing_design():
    with pytest.raises(ValueError, match="'p_tuning_v2'"):
        prompts.designs_vs_references(methods({"prompt_tuning": [0.7], "head_only": [0.7], "full": [0.9]}), N,
                                      designs=("prompt_tuning", "p_tuning_v2"))
