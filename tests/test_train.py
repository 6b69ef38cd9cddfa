"""The one training loop: reproducible, measured, and strict about its inputs."""
import pytest
import torch

import peft_lab as pl
from peft_lab.measured_memory import tensor_bytes

QUICK = dict(steps=6, batch_size=8, max_len=32, train_size=64, eval_size=64, progress=False)


def _lora_model(seed=0):
    pl.set_seed(seed)
    return pl.apply(pl.load_pretrained(head="cls", num_labels=2), pl.LoRAConfig(r=4))


def test_same_seed_gives_the_same_numbers_twice():
    a = pl.fit(_lora_model(), "sentiment", seed=3, measure=False, **QUICK)
    b = pl.fit(_lora_model(), "sentiment", seed=3, measure=False, **QUICK)
    assert a.metrics == b.metrics
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    c = pl.fit(_lora_model(), "sentiment", seed=4, measure=False, **QUICK)
    assert [h["loss"] for h in c.history] != [h["loss"] for h in a.history]


def test_run_result_reports_what_was_measured():
    model = _lora_model()
    r = pl.fit(model, "sentiment", evaluate_test=True, **QUICK)
    trainable, total = pl.count_parameters(model)
    assert (r.trainable_params, r.total_params) == (trainable, total)
    for key in ("val_accuracy", "val_f1", "test_accuracy", "test_f1"):
        assert 0.0 <= r.metrics[key] <= 1.0
    assert r.test_accuracy == r.metrics["test_accuracy"]
    assert r.sec_per_step > 0 and r.latency_ms > 0 and r.latency_merged_ms > 0
    assert len(r.history) == QUICK["steps"] and "val_accuracy" in r.history[-1]
    # exact parts of the memory breakdown, from the tensors themselves
    params = [p for p in model.parameters() if p.requires_grad]
    assert r.memory.gradients == sum(tensor_bytes(p) for p in params)
    assert r.memory.optimizer_state == 2 * sum(tensor_bytes(p) for p in params)  # AdamW: m and v
    assert r.memory.weights == sum(tensor_bytes(p) for p in model.parameters()) + \
        sum(tensor_bytes(b) for b in model.buffers())
    assert r.memory.activations > 0
    assert r.to_dict()["memory"]["total"] == r.memory.total


def test_activations_grow_with_the_batch():
    small = pl.fit(_lora_model(), "sentiment", **{**QUICK, "batch_size": 4}).memory.activations
    large = pl.fit(_lora_model(), "sentiment", **{**QUICK, "batch_size": 16}).memory.activations
    assert large > 2 * small


def test_activations_are_measured_on_the_longest_batch_without_changing_the_run():
    """Reviews run from a few to hundreds of characters, so the first batch is no measure of the
    peak: fit meters the batch that pads to the longest length, and measuring changes nothing."""
    from peft_lab.measured_memory import SavedTensorMeter
    from peft_lab.tasks import get_task
    kw = {**QUICK, "max_len": 96, "train_size": 200}
    measured = pl.fit(_lora_model(), "sentiment", seed=1, **kw)
    plain = pl.fit(_lora_model(), "sentiment", seed=1, measure=False, **kw)
    assert [h["loss"] for h in measured.history] == [h["loss"] for h in plain.history]
    assert measured.metrics == plain.metrics

    model, task = _lora_model(), get_task("sentiment")
    train = task.encode(model.vocab, "train", kw["max_len"], kw["train_size"])
    lengths = train.attention_mask.sum(1)
    def metered(index):
        ids, mask, labels = train.batch(index)
        with SavedTensorMeter(model) as meter:
            task.loss(model(ids, attention_mask=mask), labels)
        return meter.bytes
    every_batch = [metered(torch.arange(i, i + 8)) for i in range(0, 200, 8)]
    assert measured.memory.activations >= max(every_batch)
    assert measured.memory.activations == metered(torch.argsort(lengths, descending=True)[:8])


def test_frozen_base_does_not_change_and_the_loss_falls():
    model = _lora_model()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    r = pl.fit(model, "sentiment", lr=5e-3, measure=False, **{**QUICK, "steps": 30})
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    first, last = r.history[0]["loss"], sum(h["loss"] for h in r.history[-5:]) / 5
    assert last < first


def test_hooks_are_called_at_every_step():
    calls = []

    class Recorder(pl.TrainingHook):
        def on_train_begin(self, model, total_steps):
            calls.append(("begin", total_steps))

        def extra_loss(self, model, step):
            calls.append(("loss", step))
            return torch.zeros(())

        def after_backward(self, model, step):
            assert any(p.grad is not None for p in model.parameters() if p.requires_grad)
            calls.append(("backward", step))

        def after_step(self, model, step):
            calls.append(("step", step))

        def on_train_end(self, model):
            calls.append(("end", None))

    pl.fit(_lora_model(), "sentiment", hooks=[Recorder()], measure=False, **QUICK)
    steps = QUICK["steps"]
    assert calls[0] == ("begin", steps) and calls[-1] == ("end", None)
    assert [c for c in calls if c[0] == "step"] == [("step", i) for i in range(steps)]


def test_optimizer_factory_is_used():
    built = []

    def factory(model, lr):
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
        built.append(opt)
        return opt

    r = pl.fit(_lora_model(), "sentiment", optimizer=factory, measure=True, **QUICK)
    assert len(built) == 1 and r.memory.optimizer_state == 0  # plain SGD keeps no state


def test_divergence_is_reported_not_silently_trained_through():
    with pytest.raises(FloatingPointError, match="learning rate") as caught:
        pl.fit(_lora_model(), "sentiment", lr=1e30, measure=False, **{**QUICK, "steps": 20}, clip=0)
    history = caught.value.history  # the curve up to the divergence, for the failure-mode figure
    assert history and not torch.isfinite(torch.tensor(history[-1]["loss"]))


def test_a_step_whose_loss_is_not_finite_updates_nothing():
    from peft_lab.tasks import get_task
    from peft_lab.train import default_optimizer, train_step

    class Poison(pl.TrainingHook):
        def extra_loss(self, model, step):
            return torch.tensor(float("nan"))

    model, task = _lora_model(), get_task("sentiment")
    batch = task.encode(model.vocab, "train", 32, 8).batch(torch.arange(8))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = default_optimizer(model, 1e-3)
    with pytest.raises(FloatingPointError, match="at step 0"):
        train_step(model, task, batch, opt, 0, [Poison()])
    assert all(torch.equal(p, before[n]) and p.grad is None for n, p in model.named_parameters())
    assert not opt.state  # no moment was started either


@pytest.mark.parametrize("config", [pl.LoRAConfig(r=4), pl.DyLoRAConfig(r=4)], ids=["lora", "dylora"])
def test_the_benchmark_times_the_step_fit_takes(config):
    """bench.training_step is fit's step: one step of each from the same start, on the same batch at
    the same learning rate (fit's first step runs at full rate without warmup), ends in the same weights."""
    from peft_lab import bench
    from peft_lab.tasks import get_task
    from peft_lab.train import length_bucketed_batches

    def model():
        pl.set_seed(0)
        return pl.apply(pl.load_pretrained(head="cls", num_labels=2), config)
    fitted = model()
    pl.fit(fitted, "sentiment", steps=1, lr=1e-4, warmup=0.0, seed=5, batch_size=8, max_len=32, train_size=8,
           eval_size=8, progress=False, measure=False)
    timed = model()
    train = get_task("sentiment").encode(timed.vocab, "train", 32, 8)
    first = length_bucketed_batches(train.attention_mask.sum(1), 8, torch.Generator().manual_seed(5)).pop()
    pl.set_seed(5)  # dropout draws as in fit
    bench.training_step(timed, train.batch(first))()
    for (name, a), b in zip(fitted.named_parameters(), timed.parameters()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("kwargs,match", [
    (dict(task="poetry"), "task='poetry' is not one of"),
    (dict(steps=0), "steps=0 must be a positive integer"),
    (dict(lr=-1.0), "lr=-1.0 must be a positive number"),
    (dict(batch_size=0), "batch_size=0"),
    (dict(max_len=1000), "max_len=1000 does not fit"),
    (dict(warmup=1.5), r"warmup=1.5 .* \[0, 1\)"),
    (dict(task="segmentation"), "needs head='token'"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    args = {**QUICK, **kwargs}
    task = args.pop("task", "sentiment")
    with pytest.raises(ValueError, match=match):
        pl.fit(_lora_model(), task, **args)


def test_unknown_head_is_a_clear_error():
    with pytest.raises(ValueError, match="head='qa' is not one of"):
        pl.load_pretrained(head="qa")
    with pytest.raises(ValueError, match="num_labels=1"):
        pl.load_pretrained(head="cls", num_labels=1)


def test_segmentation_trains_with_the_token_head():
    pl.set_seed(0)
    model = pl.apply(pl.load_pretrained(head="token", num_labels=4), pl.LoRAConfig(r=4))
    r = pl.fit(model, "segmentation", measure=False, evaluate_test=True, **QUICK)
    assert 0 <= r.metrics["test_f1"] <= 1 and 0 <= r.metrics["val_accuracy"] <= 1


def test_the_test_split_is_read_only_when_asked():
    model = _lora_model()
    r = pl.fit(model, "sentiment", measure=False, **QUICK)
    assert "val_accuracy" in r.metrics and not any(k.startswith("test_") for k in r.metrics)
    with pytest.raises(AttributeError, match="evaluate_test=True"):
        r.test_accuracy
    from peft_lab.i18n import t
    line = next(li for li in str(r).splitlines() if t("test_accuracy") in li)
    assert t("rr_not_measured") in line  # the printed result says the test split was not measured


def test_the_progress_bar_stays_up_after_the_last_step_and_says_what_fit_is_doing(capsys):
    from peft_lab.i18n import t
    pl.fit(_lora_model(), "sentiment", evaluate_test=True, **{**QUICK, "progress": True})
    frames = capsys.readouterr().err.split("\r")  # tqdm redraws its one line with carriage returns
    done = f"{QUICK['steps']}/{QUICK['steps']}"
    for phase in ("fit_evaluating_val", "fit_evaluating_test", "fit_timing"):
        assert any(done in frame and t(phase) in frame for frame in frames), phase
