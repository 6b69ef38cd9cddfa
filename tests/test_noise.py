"""Within-noise verdicts: the error model behaves like a standard error, and a verdict follows the data."""
import math

import pytest

from peft_lab.experiments import load_results
from peft_lab.experiments.noise import compare, n_test_examples, pairwise, sampling_error, smallest_within_noise


def runs(groups: dict, field: str = "label") -> dict:
    """A results dict with one final run per accuracy: {group: [acc, ...]}."""
    out = []
    for group, accs in groups.items():
        for seed, acc in enumerate(accs):
            run = {"label": "adapter", "seed": seed, "stage": "final", "status": "ok",
                   "config": {}, "metrics": {"test_accuracy": acc}}
            if field == "label":
                run["label"] = group
            else:
                run["config"][field.split(".")[-1]] = group
            out.append(run)
    return {"meta": {}, "runs": out}


def test_sampling_error_is_a_binomial_standard_error():
    assert sampling_error(0.0, 100) == sampling_error(1.0, 100) == 0.0
    assert sampling_error(0.3, 500) == pytest.approx(sampling_error(0.7, 500))          # symmetric in p
    assert sampling_error(0.8, 4 * 400) == pytest.approx(sampling_error(0.8, 400) / 2)  # shrinks as 1/sqrt(n)
    assert max(sampling_error(p / 100, 50) for p in range(101)) == sampling_error(0.5, 50)


@pytest.mark.parametrize("kwargs, message", [
    (dict(p=1.2, n=10), "p=1.2 must be an accuracy in \\[0, 1\\]"),
    (dict(p=0.5, n=0), "n=0 must be a positive integer"),
])
def test_sampling_error_refuses_impossible_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampling_error(**kwargs)


def test_a_difference_far_beyond_the_spread_is_real_and_a_tiny_one_is_not():
    data = runs({"a": [0.80, 0.81, 0.80], "b": [0.70, 0.71, 0.70], "c": [0.801, 0.809, 0.799]})
    far, near = compare(data, "a", "b", n_test=2000), compare(data, "a", "c", n_test=2000)
    assert not far["within_noise"] and near["within_noise"]
    assert far["difference"] > 0 and compare(data, "b", "a", n_test=2000)["difference"] == -far["difference"]
    assert far["threshold"] == pytest.approx(2 * far["se"])


def test_more_test_examples_and_more_seeds_shrink_the_standard_error():
    few = runs({"a": [0.80, 0.82], "b": [0.78, 0.80]})
    many = runs({"a": [0.80, 0.82] * 4, "b": [0.78, 0.80] * 4})
    assert compare(few, "a", "b", n_test=100_000)["se"] < compare(few, "a", "b", n_test=500)["se"]
    assert compare(many, "a", "b", n_test=500)["se"] < compare(few, "a", "b", n_test=500)["se"]
    # with no seed spread and a huge test set, nothing is left to call noise
    exact = runs({"a": [0.8], "b": [0.79]})
    assert compare(exact, "a", "b", n_test=10**9)["within_noise"] is False
    assert compare(exact, "a", "b", n_test=50)["within_noise"] is True


def test_compare_names_what_exists_when_a_group_is_missing():
    with pytest.raises(ValueError, match="no finished run with label = 'lora'.*'a'"):
        compare(runs({"a": [0.8]}), "a", "lora", n_test=100)
    with pytest.raises(ValueError, match="n_test=0"):
        compare(runs({"a": [0.8]}), "a", "a", n_test=0)


def test_pairwise_covers_every_pair_once():
    data = runs({"a": [0.8], "b": [0.7], "c": [0.6]})
    pairs = [(c["a"], c["b"]) for c in pairwise(data, ["a", "b", "c"], n_test=100)]
    assert pairs == [("a", "b"), ("a", "c"), ("b", "c")]


def test_the_cheapest_setting_within_noise_of_the_best_is_chosen():
    flat = runs({4: [0.74, 0.73], 16: [0.73, 0.74], 64: [0.745, 0.74]}, field="config.bottleneck")
    choice = smallest_within_noise(flat, "config.bottleneck", n_test=1700)
    assert choice["best"] == 64 and choice["chosen"] == 4
    steep = runs({4: [0.60, 0.61], 16: [0.70, 0.71], 64: [0.80, 0.805]}, field="config.bottleneck")
    choice = smallest_within_noise(steep, "config.bottleneck", n_test=1700)
    assert choice["best"] == choice["chosen"] == 64
    assert set(choice["comparisons"]) == {4, 16, 64}


def test_on_the_committed_results_the_verdicts_are_consistent():
    methods = load_results("methods")
    n = n_test_examples()
    assert n > 1000
    c = compare(methods, "adapter_houlsby", "adapter_pfeiffer", n_test=n)
    assert c["runs_a"] >= 2 and c["se"] >= math.sqrt(2) * sampling_error(max(c["mean_a"], c["mean_b"]), n) * 0.99
