"""The recommendation is arithmetic on measured metrics with the reader's weights: each criterion
min-max normalised (1 = best), the score their weighted mean -- and bad weights are refused."""
import math

import pytest

from peft_lab.recommend import CRITERIA, metric_table, normalise, recommend, scores


def run(label, seed=0, stage="final", status="ok", **metrics):
    return {"label": label, "seed": seed, "stage": stage, "status": status, "metrics": metrics}


def results(*runs):
    return {"meta": {}, "runs": list(runs)}


# A: most accurate, trains most. B: fewest parameters, least accurate. C: in between on both.
ABC = results(
    run("A", test_accuracy=0.90, trainable_params=1_000_000, latency_ms=6.0, latency_merged_ms=None),
    run("A", seed=1, test_accuracy=0.92, trainable_params=1_000_000, latency_ms=6.0, latency_merged_ms=None),
    run("B", test_accuracy=0.70, trainable_params=1_000, latency_ms=9.0, latency_merged_ms=5.0),
    run("C", test_accuracy=0.81, trainable_params=31_623, latency_ms=7.0, latency_merged_ms=None),
    run("C", stage="lr_search", test_accuracy=0.10, trainable_params=31_623),   # not a final run: ignored
    run("D", status="diverged"),                                                 # no metrics: ignored
)


def test_the_table_holds_means_of_final_runs_and_deployed_latency_is_merged_where_possible():
    table = metric_table(ABC, criteria=("accuracy", "latency"))
    assert list(table) == ["A", "B", "C"]
    assert table["A"]["accuracy"] == pytest.approx(0.91)
    assert table["B"]["latency"] == 5.0 and table["A"]["latency"] == 6.0   # B merges: its merged latency counts


def test_normalisation_gives_the_best_1_the_worst_0_in_the_right_direction():
    norm = normalise(metric_table(ABC, criteria=("accuracy", "trainable_params")))
    assert norm["A"]["accuracy"] == 1.0 and norm["B"]["accuracy"] == 0.0
    assert norm["B"]["trainable_params"] == 1.0 and norm["A"]["trainable_params"] == 0.0
    assert norm["C"]["accuracy"] == pytest.approx((0.81 - 0.70) / (0.91 - 0.70))
    assert norm["C"]["trainable_params"] == pytest.approx(0.5, abs=1e-4)   # 10^4.5 is halfway on a log scale
    linear = normalise(metric_table(ABC, criteria=("trainable_params",)), log_scale=False)
    assert linear["C"]["trainable_params"] == pytest.approx(1 - (31_623 - 1_000) / (1_000_000 - 1_000))


def test_the_weights_decide_the_ranking():
    assert recommend(ABC, {"accuracy": 1})[0] == ("A", 1.0)
    assert recommend(ABC, {"trainable_params": 1})[0] == ("B", 1.0)
    ranked = dict(recommend(ABC, {"accuracy": 1, "trainable_params": 1}))
    assert ranked["C"] == pytest.approx(((0.81 - 0.70) / 0.21 + 0.5) / 2, abs=1e-4)
    assert all(0.0 <= s <= 1.0 for s in ranked.values())
    doubled = recommend(ABC, {"accuracy": 2, "trainable_params": 2})
    assert [l for l, _ in doubled] == [l for l, _ in recommend(ABC, {"accuracy": 1, "trainable_params": 1})]


def test_candidates_can_be_restricted_and_the_min_max_follows_them():
    ranked = recommend(ABC, {"accuracy": 1}, labels=["B", "C"])
    assert ranked == [("C", 1.0), ("B", 0.0)]
    with pytest.raises(ValueError, match="no finished run of \\['Z'\\]"):
        recommend(ABC, {"accuracy": 1}, labels=["Z"])


def test_an_unmeasured_criterion_is_dropped_and_a_partly_measured_one_gives_no_credit():
    quick = results(run("A", test_accuracy=0.9, memory=None), run("B", test_accuracy=0.8, memory=None))
    assert recommend(quick, {"accuracy": 1, "memory": 5}) == recommend(quick, {"accuracy": 1})
    with pytest.raises(ValueError, match="none of the weighted criteria"):
        recommend(quick, {"memory": 1})
    partly = results(run("A", test_accuracy=0.9, adapter_bytes=None), run("B", test_accuracy=0.9, adapter_bytes=10))
    assert dict(recommend(partly, {"adapter_bytes": 1})) == {"B": 1.0, "A": 0.0}


def test_ties_score_alike_and_keep_their_order():
    tied = results(run("X", test_accuracy=0.8), run("Y", test_accuracy=0.8))
    assert recommend(tied, {"accuracy": 1}) == [("X", 1.0), ("Y", 1.0)]
    assert scores({"P": {"accuracy": 0.5}, "Q": {"accuracy": 0.5}}, {"accuracy": 1}) == [("P", 0.5), ("Q", 0.5)]


@pytest.mark.parametrize("weights, message", [
    ({"speed": 1}, "unknown criteria \\['speed'\\]"),
    ({"accuracy": -1}, "weights\\['accuracy'\\]=-1 must be a number >= 0"),
    ({"accuracy": math.nan}, "must be a number >= 0"),
    ({"accuracy": 0, "memory": 0}, "at least one weight must be > 0"),
    ({"accuracy": True}, "must be a number"),
])
def test_bad_weights_are_refused_with_the_reason(weights, message):
    with pytest.raises(ValueError, match=message):
        recommend(ABC, weights)


def test_every_criterion_names_a_metric_and_a_direction():
    for name, (metric, sign, log) in CRITERIA.items():
        assert sign in (1, -1) and isinstance(metric, str) and isinstance(log, bool), name
    assert CRITERIA["accuracy"][1] == 1 and all(CRITERIA[c][1] == -1 for c in CRITERIA if c != "accuracy")


# ----------------------------------------------------------------------------- noise: tiers, not min-max

def with_outcomes(label, correct, seed=0, **metrics):
    import numpy as np
    from peft_lab.experiments.paired import encode_outcomes
    correct = np.asarray(correct, dtype=bool)
    return dict(run(label, seed=seed, test_accuracy=float(correct.mean()), **metrics),
                details={"test_outcomes": encode_outcomes(correct)})


def paired_results():
    """P and Q right on the same 900 of 1,000 reviews (tied); R right on 700 of them. Q trains fewest."""
    import numpy as np
    good, poor = np.arange(1000) < 900, np.arange(1000) < 700
    return results(with_outcomes("P", good, trainable_params=10_000), with_outcomes("Q", good, trainable_params=100),
                   with_outcomes("R", poor, trainable_params=1_000))


def test_tiers_come_from_paired_outcomes_when_every_run_stored_them():
    from peft_lab.recommend import accuracy_tiers
    tiers, source = accuracy_tiers(paired_results())
    assert source == "paired" and tiers == {"P": 1, "Q": 1, "R": 2}


def test_tiers_fall_back_to_the_noise_rule_without_outcomes():
    from peft_lab.experiments.noise import compare
    from peft_lab.recommend import accuracy_tiers
    close = results(*(dict(run(l, seed=s, test_accuracy=a + s / 1000), eval_size=1000)
                      for l, a in (("X", 0.80), ("Y", 0.802), ("Z", 0.60)) for s in range(2)))
    tiers, source = accuracy_tiers(close)
    assert source == "noise"
    assert compare(close, "X", "Y", 1000)["within_noise"] and not compare(close, "Y", "Z", 1000)["within_noise"]
    assert tiers == {"Y": 1, "X": 1, "Z": 2}


def test_methods_within_noise_score_alike_on_accuracy_and_the_report_names_them():
    from peft_lab.recommend import within_noise
    res = paired_results()
    stretched = dict(recommend(res, {"accuracy": 1}))
    assert stretched["P"] == stretched["Q"] == 1.0 and stretched["R"] == 0.0
    ranked = recommend(res, {"accuracy": 1, "trainable_params": 1}, tiers=True)
    assert ranked[0][0] == "Q"                       # tied on accuracy, so the cheaper one wins
    assert within_noise(res, ranked, top=3) == ["Q", "P"]
    assert within_noise(res, ranked, top=1) == ["Q"]


def test_tier_scores_step_evenly_from_best_to_worst():
    from peft_lab.recommend import tier_score
    tiers = {"a": 1, "b": 2, "c": 3, "d": 3}
    assert [tier_score(tiers, l) for l in "abcd"] == [1.0, 0.5, 0.0, 0.0]
    assert tier_score({"a": 1}, "a") == 1.0
    with pytest.raises(ValueError, match="'z'"):
        tier_score(tiers, "z")
