"""A run that did not learn says so in plain words, with its likely cause; a run that learned is quiet."""
import warnings

import pytest

import peft_lab as pl
from peft_lab import diagnose
from peft_lab.i18n import TEXT


@pytest.fixture(autouse=True)
def _english():
    pl.set_language("en")
    yield
    pl.set_language("zh")


def lead(key):
    """The fixed opening words of a message in the language table (before its first field)."""
    return TEXT[key]["en"].split("{")[0]


def curve(losses):
    return [{"step": i, "loss": x} for i, x in enumerate(losses)]


def lora_model():
    pl.set_seed(0)
    return pl.apply(pl.load_pretrained(head="cls", num_labels=2), pl.LoRAConfig(r=4))


def test_chance_needs_enough_targets_and_a_margin_of_noise_or_two_points():
    assert diagnose.at_chance(0.5, 0.5, 1000) and diagnose.at_chance(0.3, 0.5, 1000)  # below chance counts
    assert not diagnose.at_chance(0.5, 0.5, diagnose.MIN_TARGETS - 1)                 # too few to tell
    big, small = 100_000, 400  # two standard errors: 0.003 and 0.05 at p = 0.5
    assert diagnose.at_chance(0.502, 0.5, big) and not diagnose.at_chance(0.505, 0.5, big)
    assert diagnose.at_chance(0.5 + diagnose.NEAR, 0.5, small)
    assert not diagnose.at_chance(0.5 + diagnose.NEAR + 0.001, 0.5, small)  # within noise, but learned something


@pytest.mark.parametrize("losses,steps,moved,cause,not_cause", [
    ([0.7, 0.9, 3.0, 5.0], 300, True, "cause_lr_high", "cause_few_steps"),   # rising: more steps won't help
    ([0.7, 0.7, 0.7, 0.7], 300, False, "cause_nothing_trained", "cause_lr_low"),
    ([0.7, 0.7, 0.69, 0.69], 300, True, "cause_lr_low", "cause_few_steps"),
    ([0.7, 0.5, 0.4, 0.3], 300, True, "cause_few_steps", "cause_lr_low"),     # learned, just not enough
    ([0.7, 0.6, 0.5, 0.45], 10, True, "cause_few_steps", "cause_lr_high"),
])
def test_the_likely_cause_is_read_off_the_loss_curve(losses, steps, moved, cause, not_cause):
    text = diagnose.likely_causes(curve(losses), steps, 1e-3, moved)
    assert lead(cause) in text and lead(not_cause) not in text


def test_a_rising_loss_warns_even_when_accuracy_is_fine():
    with pytest.warns(pl.TrainingWarning, match="lr=0.0002"):
        diagnose.warn_if_failed(curve([0.7, 0.8, 1.2, 1.3, 1.4, 1.5]), 2e-3, 300, 0.9, 0.5, 1000, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.TrainingWarning)
        diagnose.warn_if_failed(curve([0.7, 0.8, 0.9, 1.0]), 2e-3, 300, 0.9, 0.5, 1000, True)  # < 1.5x: noise
        one_bad_batch = curve([0.7, 0.5, 0.4, 0.3, 0.3, 0.3, 1.2])  # the end is a mean, not one noisy batch
        diagnose.warn_if_failed(one_bad_batch, 2e-3, 300, 0.9, 0.5, 1000, True)


def test_lr_10_warns_that_the_learning_rate_is_too_high():
    with pytest.warns(pl.TrainingWarning) as caught:
        pl.fit(lora_model(), "sentiment", lr=10.0, steps=20, batch_size=8, max_len=32, train_size=64,
               eval_size=300, progress=False, measure=False, evaluate_test=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, pl.TrainingWarning)]
    assert any(m.startswith(lead("warn_loss_rose")) and "lr=10" in m for m in messages)
    chance = [m for m in messages if m.startswith(lead("warn_chance"))]
    assert chance and lead("cause_lr_high") in chance[0]


def test_a_run_that_learns_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.TrainingWarning)
        r = pl.fit(lora_model(), "sentiment", lr=5e-3, steps=20, batch_size=16, max_len=64, train_size=640,
                   eval_size=200, progress=False, measure=False, evaluate_test=False)
    assert r.history[-1]["loss"] < r.history[0]["loss"]


def test_base_weights_made_trainable_after_apply_warn_before_the_first_step():
    model = lora_model()
    assert diagnose.unfrozen_base(model) == []
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    model.layers[0].mlp.requires_grad_(True)            # one block's MLP unfrozen by hand
    unfrozen = diagnose.unfrozen_base(model)
    assert [name for name, _ in unfrozen] == [n for n in frozen if n.startswith("layers.0.mlp.")] != []
    model.requires_grad_(True)                          # the notebook's "forgot to freeze" loop
    assert [name for name, _ in diagnose.unfrozen_base(model)] == frozen
    assert sum(size for _, size in diagnose.unfrozen_base(model)) == sum(
        p.numel() for name, p in model.named_parameters() if name in frozen)
    with pytest.warns(pl.TrainingWarning) as caught:
        pl.fit(model, "sentiment", lr=1e-4, steps=1, batch_size=4, max_len=16, train_size=8, eval_size=8,
               progress=False, measure=False)
    [said] = [str(w.message) for w in caught if str(w.message).startswith(lead("warn_base_unfrozen"))]
    assert f"{len(frozen)} base tensors" in said and "LoRA" in said


def test_no_unfrozen_warning_for_full_fine_tuning_a_frozen_base_or_a_removed_method():
    full = pl.apply(pl.load_pretrained(head="cls", num_labels=2), pl.FullFineTuningConfig())
    assert diagnose.unfrozen_base(full) == []           # full fine-tuning froze nothing
    model = lora_model()
    pl.remove(model)                                    # the model is a plain model again, all trainable
    assert diagnose.unfrozen_base(model) == [] and model.peft_frozen is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.TrainingWarning)
        diagnose.warn_if_base_unfrozen(full)
        diagnose.warn_if_base_unfrozen(model)
        diagnose.warn_if_base_unfrozen(lora_model())
