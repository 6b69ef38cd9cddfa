"""A RunResult speaks the current language, says "not measured" rather than 0, and names its recipe."""
import pytest

import peft_lab as pl
from peft_lab.i18n import TEXT
from peft_lab.measured_memory import MemoryBreakdown


@pytest.fixture(autouse=True)
def _chinese_afterwards():
    yield
    pl.set_language("zh")


def made(measured=True, metrics=None, **recipe):
    """A result built by hand (no training), every recipe field distinct, so each can be found."""
    recipe = dict(batch_size=24, max_len=96, train_size=1234, eval_size=321) | recipe
    return pl.RunResult("lora", {"r": 8}, "sentiment", 7, 45, 0.0031,
                        {"val_accuracy": 0.8125, "val_f1": 0.8, "test_accuracy": 0.75, "test_f1": 0.7}
                        if metrics is None else metrics, 1_234, 56_789, 0.0123, 0.6,
                        latency_ms=2.5 if measured else None, latency_merged_ms=2.25 if measured else None,
                        memory=MemoryBreakdown(3 * 2**20, 2**20, 2 * 2**20, 5 * 2**20) if measured else
                        MemoryBreakdown(weights=3 * 2**20), measured=measured, **recipe)




@pytest.mark.parametrize("language", ["zh", "en"])
def test_prints_in_the_current_language(language):
    pl.set_language(language)
    text = str(made())
    other = "en" if language == "zh" else "zh"
    for key in ("rr_val", "rr_test", "rr_trainable", "rr_sec_per_step", "rr_memory", "rr_latency"):
        assert TEXT[key][language] in text
        assert TEXT[key][other] not in text, key
    assert TEXT["lora"][language] in text


def test_chinese_is_the_default():
    assert str(made()) == str(made())  # deterministic
    text = str(made())
    pl.set_language("en")
    assert str(made()) != text and TEXT["rr_val"]["zh"] in text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_names_the_recipe_it_ran(language):
    pl.set_language(language)
    result = made()
    first_line = str(result).splitlines()[0]
    for value in (f"{result.steps}", f"{result.batch_size}", f"{result.max_len}", f"{result.lr:g}",
                  f"{result.seed}", f"{result.train_size:,}"):
        assert value in first_line, value
    assert TEXT["rr_task_sentiment"][language] in first_line


@pytest.mark.parametrize("language", ["zh", "en"])
def test_what_was_not_measured_says_so_instead_of_zero(language):
    pl.set_language(language)
    not_measured = TEXT["rr_not_measured"][language]
    assert not_measured not in str(made())
    lines = str(made(measured=False, metrics={"val_accuracy": 0.8125, "val_f1": 0.8})).splitlines()
    missing = [line for line in lines if not_measured in line]
    # test accuracy, test F1, memory, latency
    assert len(missing) == 4
    assert all(line.endswith(not_measured) for line in missing) and "MiB" not in "\n".join(lines)
    for key in ("rr_memory", "rr_latency"):
        assert any(TEXT[key][language] in line for line in missing)
    assert sum(TEXT["rr_test"][language] in line for line in missing) == 2


def test_fit_records_its_recipe_and_what_it_did_not_measure():
    pl.set_seed(0)
    model = pl.apply(pl.load_pretrained(head="cls", num_labels=2), pl.LoRAConfig(r=4))
    kw = dict(steps=3, lr=3e-3, batch_size=8, max_len=32, train_size=40, eval_size=24, seed=5)
    r = pl.fit(model, "sentiment", progress=False, measure=False, evaluate_test=False, **kw)
    assert (r.steps, r.lr, r.batch_size, r.max_len, r.train_size, r.eval_size, r.seed) == \
        tuple(kw[k] for k in ("steps", "lr", "batch_size", "max_len", "train_size", "eval_size", "seed"))
    assert not r.measured and r.latency_ms is None and "test_accuracy" not in r.metrics
    assert str(r).count(TEXT["rr_not_measured"]["zh"]) == 4
