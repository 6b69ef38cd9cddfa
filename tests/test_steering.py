"""The steering experiment on a tiny budget: what a prefix trains on, that only the prefix trains and is
folded, that generation and judging are repeatable, and that a cut run resumes without redoing work."""
import json

import pytest

import peft_lab as pl
from peft_lab import data
from peft_lab.experiments import steering
from peft_lab.methods.prefix_tuning import PrefixKV


@pytest.fixture(scope="module")
def judge():
    return steering.Judge(train_size=600, C_grid=(3.0,))


def test_a_prefix_trains_on_reviews_of_its_sentiment_only():
    labels = dict(data.load_sentiment()["train"])
    positive, negative = steering.reviews("positive"), steering.reviews("negative")
    assert positive and negative
    assert {labels[t] for t in positive} == {1} and {labels[t] for t in negative} == {0}
    assert len(steering.reviews("all")) == len(positive) + len(negative)


@pytest.mark.parametrize("bad", ["none", "happy"])
def test_a_prefix_that_trains_on_nothing_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=f"prefix={bad!r}"):
        steering.reviews(bad)


def test_training_moves_only_the_prefix_and_folds_its_mlp():
    base = pl.load_pretrained(head="lm")
    model, curve = steering.train_prefix("negative", num_virtual_tokens=4, steps=3, batch_size=4, seed=0)
    assert len(curve) == 3
    assert isinstance(model.soft_prompt, PrefixKV)            # the MLP is gone
    assert model.soft_prompt.P.shape == (base.config.n_layers, 2, 4, base.config.d_model)
    for (name, p), (_, q) in zip(base.named_parameters(), [(n, p) for n, p in model.named_parameters()
                                                            if not n.startswith("soft_prompt")]):
        assert p.equal(q), f"{name} changed: the language model must stay frozen"


def test_no_prefix_is_the_pretrained_model():
    model, curve = steering.train_prefix("none")
    assert model.soft_prompt is None and curve == []


def test_generation_is_repeatable_for_a_seed_and_varies_across_seeds():
    model, _ = steering.train_prefix("none")
    a = steering.generate(model, n=3, new_tokens=8, seed=1)
    assert a == steering.generate(model, n=3, new_tokens=8, seed=1)
    assert len(a) == 3 and all(isinstance(s, str) for s in a)
    assert a != steering.generate(model, n=3, new_tokens=8, seed=2)


def test_the_judge_tells_real_positive_from_real_negative_reviews(judge):
    test = data.load_sentiment()["test"]
    positive = [t for t, y in test if y == 1][:200]
    negative = [t for t, y in test if y == 0][:200]
    assert steering.positive_share(judge, positive) > steering.positive_share(judge, negative)
    assert judge.test_accuracy > 0.5
    with pytest.raises(ValueError, match="texts"):
        steering.positive_share(judge, [])


def test_the_run_records_every_prefix_and_seed_and_resumes(tmp_path, judge, monkeypatch):
    out = tmp_path / "steering.json"
    kwargs = dict(seeds=(0,), prefixes=("none", "positive"), steps=2, generations=4, new_tokens=6, judge=judge,
                  progress=False)
    first = steering.run(out, **kwargs)
    stored = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["prefix"], r["seed"]) for r in stored["runs"]] == [("none", 0), ("positive", 0)]
    assert stored["meta"]["recipe"]["steps"] == 2 and "versions" in stored["meta"] and stored["meta"]["date"]
    assert set(steering.summary(first)) == {"none", "positive"}

    def fail(*args, **kw):
        raise AssertionError("a finished run was trained again")
    monkeypatch.setattr(steering, "run_one", fail)
    again = steering.run(out, **kwargs)
    assert again["runs"] == stored["runs"]


def test_load_reads_what_run_wrote_and_names_the_command_when_missing(tmp_path, judge):
    with pytest.raises(FileNotFoundError, match="python -m peft_lab.experiments.steering"):
        steering.load(tmp_path)
    written = steering.run(tmp_path / "steering.json", seeds=(1,), prefixes=("none",), generations=3, new_tokens=5,
                           judge=judge, progress=False)
    assert steering.load(tmp_path) == json.loads(json.dumps(written))
