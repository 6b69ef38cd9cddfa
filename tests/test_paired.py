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
