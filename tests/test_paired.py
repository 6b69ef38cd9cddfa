"""Paired comparisons: every final run keeps its per-example test outcomes compactly, they
aggregate to exactly the metrics ``evaluate`` reports, and the paired tests give the answers
that can be worked out by hand on constructed cases."""
import json
import math

import numpy as np
import pytest
import torch

from peft_lab.experiments import paired
from peft_lab.experiments.paired import decode_outcomes, encode_outcomes
from peft_lab.tasks import IGNORE, SEG_COUNTS, Encoded, get_task
from test_evaluation import ragged


# ----------------------------------------------------------------------------- outcomes per example

def test_sentiment_outcomes_are_per_review_correctness_and_aggregate_to_evaluate(make_model):
    model = make_model(head="cls", causal=False)
    encoded, _ = ragged(41, 50, seed=5)
    task = get_task("sentiment")
    outcomes = task.outcomes(model, encoded, batch_size=8)
    assert outcomes.dtype == torch.bool and outcomes.shape == (41,)
    assert torch.equal(outcomes, task.predict(model, encoded) == encoded.labels)   # split order
    assert task.outcome_metrics(outcomes)["accuracy"] == task.evaluate(model, encoded)["accuracy"]


def test_segmentation_counts_aggregate_to_evaluate_exactly_and_subsets_to_their_own_metrics(make_model):
    model = make_model(head="token", num_labels=4, causal=False)
    encoded, _ = ragged(30, 50, seed=6, token_labels=4)
    task = get_task("segmentation")
    counts = task.outcomes(model, encoded, batch_size=8)
    assert counts.shape == (30, len(SEG_COUNTS))
    assert task.outcome_metrics(counts) == task.evaluate(model, encoded)
    rows = torch.tensor([0, 3, 4, 17])
    subset = Encoded(encoded.input_ids[rows], encoded.attention_mask[rows], encoded.labels[rows])
    assert task.outcome_metrics(counts[rows]) == task.evaluate(model, subset)


def test_segmentation_counts_of_a_sentence_worked_by_hand():
    B, M, E, S = range(4)
    gold = torch.tensor([[IGNORE, B, E, S, B, M, E]])   # words: [0,1] [2] [3,5]
    pred = torch.tensor([[IGNORE, B, E, B, E, S, S]])   # words: [0,1] [2,3] [4] [5]
    from peft_lab.tasks import segmentation_counts
    # correct chars: positions 0 and 1 (B, E): 2 of 6; one word right of 4 predicted, 3 gold
    assert segmentation_counts(pred, gold).tolist() == [[2, 6, 1, 4, 3]]


def test_lm_has_no_outcomes(make_model):
    with pytest.raises(ValueError, match="loss"):
        get_task("lm").outcomes(make_model(head="lm"), ragged(3, 50, seed=1)[0])


# ----------------------------------------------------------------------------- storage

def test_bits_round_trip_and_a_sentiment_run_stays_under_a_kilobyte():
    for n in (0, 1, 7, 8, 9, 1737):
        bits = np.random.default_rng(n).random(n) < 0.8
        stored = encode_outcomes(bits)
        assert stored["format"] == "bits-base64" and stored["n"] == n
        assert np.array_equal(decode_outcomes(json.loads(json.dumps(stored))), bits)
    assert len(json.dumps(encode_outcomes(np.ones(1737, dtype=bool)))) < 1024


@pytest.mark.parametrize("top", [0, 255, 256, 70000])
def test_counts_round_trip_in_the_smallest_unsigned_type(top):
    counts = np.random.default_rng(top).integers(0, top + 1, (13, len(SEG_COUNTS)))
    counts[0, 0] = top
    stored = json.loads(json.dumps(encode_outcomes(counts)))
    assert np.array_equal(decode_outcomes(stored), counts)
    types = ["uint8", "uint16", "uint32"]
    smaller = types[:types.index(stored["dtype"])]
    assert np.iinfo(stored["dtype"]).max >= top and all(np.iinfo(d).max < top for d in smaller)


def test_encoding_refuses_what_it_cannot_store():
    with pytest.raises(ValueError, match="neither"):
        encode_outcomes(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="negative"):
        encode_outcomes(-np.ones((2, len(SEG_COUNTS)), dtype=int))
    stored = encode_outcomes(np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match="version"):
        decode_outcomes({**stored, "version": 99})
    with pytest.raises(ValueError, match="format"):
        decode_outcomes({**stored, "format": "png"})


def test_a_trained_run_stores_its_test_outcomes_and_they_give_its_test_metrics():
    from peft_lab.experiments.execute import execute
    from peft_lab.experiments.runner import Spec
    spec = Spec(label="lora", method="lora", config={"r": 2}, lr=1e-3, steps=2, train_size=64, eval_size=90,
                measure=False)
    out = execute(spec)
    outcomes = decode_outcomes(out["details"]["test_outcomes"])
    assert outcomes.shape == (90,)
    assert get_task("sentiment").outcome_metrics(outcomes)["accuracy"] == out["metrics"]["test_accuracy"]


# ----------------------------------------------------------------------------- paired tests

def bits(n_right, n=200):
    out = np.zeros(n, dtype=bool)
    out[:n_right] = True
    return out


def test_identical_outcomes_differ_by_nothing():
    a = np.random.default_rng(0).random((3, 300)) < 0.7
    assert paired.mcnemar(a[0], a[0]) == {"a_only": 0, "b_only": 0, "p": 1.0}
    boot = paired.paired_bootstrap(a[0], a[0], n_resamples=300)
    assert (boot["difference"], boot["low"], boot["high"], boot["p"]) == (0.0, 0.0, 0.0, 1.0)
    seeds = paired.paired_bootstrap(a, a, n_resamples=300)   # each side draws its own seeds: spread, no shift
    assert seeds["difference"] == 0 and seeds["low"] < 0 < seeds["high"] and seeds["p"] > 0.5


def test_a_right_wherever_b_is_and_on_thirty_more():
    rng = np.random.default_rng(1)
    b = rng.random(1000) < 0.6
    a = b.copy()
    a[np.flatnonzero(~b)[:30]] = True
    expected = 2 * math.comb(30, 0) / 2 ** 30   # all 30 discordant reviews go a's way
    got = paired.mcnemar(a, b)
    assert (got["a_only"], got["b_only"]) == (30, 0) and got["p"] == expected
    assert paired.mcnemar(b, a)["p"] == expected   # symmetric
    boot = paired.paired_bootstrap(a, b, n_resamples=1000)
    assert boot["difference"] == pytest.approx(30 / 1000) and 0 < boot["low"] <= boot["high"]
    assert boot["p"] == pytest.approx(2 / 1001)   # no resample reverses the order: the smallest p


def test_mcnemar_matches_the_binomial_tail_on_mixed_discordance():
    a, b = np.zeros(50, bool), np.zeros(50, bool)
    a[:12], b[12:17] = True, True                  # a alone right on 12, b alone on 5
    tail = sum(math.comb(17, k) for k in range(6)) / 2 ** 17
    assert paired.mcnemar(a, b) == {"a_only": 12, "b_only": 5, "p": 2 * tail}


def test_word_f1_difference_is_recomputed_from_summed_counts():
    # columns: correct chars, chars, words right, predicted, gold; two sentences
    a = np.array([[10, 10, 4, 4, 4], [6, 8, 2, 4, 3]])   # tp 6, pred 8, gold 7 -> F1 = 12/15
    b = np.array([[8, 10, 2, 5, 4], [6, 8, 2, 4, 3]])    # tp 4, pred 9, gold 7 -> F1 = 8/16
    boot = paired.paired_bootstrap(a, b, metric="f1", n_resamples=500)
    assert boot["mean_a"] == pytest.approx(12 / 15) and boot["mean_b"] == pytest.approx(8 / 16)
    assert boot["difference"] == pytest.approx(12 / 15 - 8 / 16)
    chars = paired.paired_bootstrap(a, b, metric="accuracy", n_resamples=500)
    assert chars["difference"] == pytest.approx(16 / 18 - 14 / 18)
    # b's second sentence equals a's: every resample keeps a ahead or level, never behind
    assert boot["low"] >= 0


def test_the_bootstrap_resamples_seeds_too():
    """Three seeds that disagree widely give a wider interval than one seed repeated."""
    rng = np.random.default_rng(2)
    b = rng.random(800) < 0.7
    steady = np.stack([b | (rng.random(800) < 0.1)] * 3)
    noisy = np.stack([b | (rng.random(800) < q) for q in (0.0, 0.1, 0.3)])
    width = {k: (lambda r: r["high"] - r["low"])(paired.paired_bootstrap(x, b, n_resamples=800))
             for k, x in (("steady", steady), ("noisy", noisy))}
    assert width["noisy"] > width["steady"]


def test_the_same_seed_gives_the_same_answer():
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 400)) < 0.7
    assert paired.paired_bootstrap(a, b, seed=5) == paired.paired_bootstrap(a, b, seed=5)


def results_of(outcomes_by_method):
    return {"meta": {}, "runs": [{"label": label, "stage": "final", "seed": s, "status": "ok",
                                  "details": {"test_outcomes": encode_outcomes(x)}}
                                 for label, xs in outcomes_by_method.items() for s, x in enumerate(xs)]
            + [{"label": "lr-search-only", "stage": "lr_search", "seed": 0, "details": {}}]}


def test_pairwise_matrix_is_antisymmetric_and_sorted_by_mean():
    rng = np.random.default_rng(4)
    base = rng.random(600) < 0.6
    better = base | (rng.random(600) < 0.3)
    same = base.copy()
    results = results_of({"base": [base, base], "better": [better], "same": [same, same, same]})
    m = paired.pairwise_matrix(results, n_resamples=500)
    assert m["labels"][0] == "better" and set(m["labels"]) == {"base", "better", "same"}
    assert np.allclose(m["difference"], -m["difference"].T) and np.array_equal(m["p"], m["p"].T)
    assert np.allclose(m["low"], -m["high"].T)
    i, j = m["labels"].index("base"), m["labels"].index("same")
    assert m["difference"][i, j] == 0 and m["p"][i, j] == 1
    assert m["mean"][0] == pytest.approx(better.mean())
    assert paired.tiers(m) == {"better": 1, "base": 2, "same": 2}
    holm = paired.pairwise_matrix(results, n_resamples=500, correction="holm")
    assert np.all(holm["p"] >= m["p"] - 1e-12)
    later = paired.holm_corrected(m)        # correcting afterwards gives the same matrix
    assert later["correction"] == "holm" and np.array_equal(later["p"], holm["p"])
    assert np.array_equal(later["difference"], m["difference"]) and m["correction"] is None
    with pytest.raises(ValueError, match="already corrected"):
        paired.holm_corrected(holm)


def test_holm_adjusts_step_down():
    assert paired.holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])


def test_tiers_group_a_chain_of_indistinguishable_methods_from_each_tier_head():
    p = np.array([[1, .5, .01, .01], [.5, 1, .2, .01], [.01, .2, 1, .3], [.01, .01, .3, 1]])
    m = {"labels": ["A", "B", "C", "D"], "p": p}
    assert paired.tiers(m) == {"A": 1, "B": 1, "C": 2, "D": 2}   # C is within noise of B but not of A
    with pytest.raises(ValueError, match="alpha"):
        paired.tiers(m, alpha=1.5)


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="same test examples"):
        paired.mcnemar(bits(3, 10), bits(3, 11))
    with pytest.raises(ValueError, match="same"):
        paired.paired_bootstrap(bits(3, 10), bits(3, 11))
    good = results_of({"a": [bits(3)], "b": [bits(5)]})
    with pytest.raises(ValueError, match="'zzz'.*labels there"):
        paired.pairwise_matrix(good, labels=["a", "zzz"])
    missing = results_of({"a": [bits(3)]})
    missing["runs"].append({"label": "old", "stage": "final", "seed": 0, "details": {}})
    with pytest.raises(ValueError, match="'old'.*re-run the sweep"):
        paired.pairwise_matrix(missing)
    with pytest.raises(ValueError, match="different test sets"):
        paired.pairwise_matrix(results_of({"a": [bits(3, 10)], "b": [bits(3, 12)]}))
    with pytest.raises(ValueError, match="metric"):
        paired.pairwise_matrix(good, metric="f1")
    with pytest.raises(ValueError, match="correction"):
        paired.pairwise_matrix(good, correction="bonferroni")


def test_dylora_keeps_the_test_outcomes_of_every_rank_it_is_evaluated_at():
    from peft_lab.experiments.execute import execute
    from peft_lab.experiments.runner import Spec
    spec = Spec(label="dylora", method="dylora", config={"r": 4}, lr=1e-3, steps=2, train_size=64, eval_size=50,
                measure=False, extra={"eval_ranks": [1, 4]})
    by_rank = execute(spec)["details"]["by_rank"]
    for b in ("1", "4"):
        outcomes = decode_outcomes(by_rank[b]["test_outcomes"])
        assert outcomes.shape == (50,)
        assert get_task("sentiment").outcome_metrics(outcomes)["accuracy"] == by_rank[b]["test_accuracy"]
