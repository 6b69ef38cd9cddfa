"""One training loop for every method.

``train_step`` is one optimisation step, the same for ``fit`` and for ``peft_lab.bench``'s timings.
Method-specific behaviour comes in through two doors only: an optimizer factory
(``optimizer=pl.loraplus_optimizer``) and training hooks (AdaLoRA's budget schedule, DyLoRA's
rank sampling: ``methods.training_hooks(model)``). ``fit``'s memory meter is a hook too.
"""
from __future__ import annotations

import copy
import math
import random
import statistics
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import methods
from .diagnose import TrainingWarning, parameter_fingerprint, warn_if_base_unfrozen, warn_if_failed  # noqa: F401 (pl.TrainingWarning)
from .i18n import t
from .measured_memory import MemoryMeter
from .methods.base import TrainingHook, check_positive, check_positive_int  # noqa: F401 (pl.TrainingHook)
from .result import RunResult  # noqa: F401 (re-exported: pl.RunResult)
from .tasks import Encoded, Task, get_task


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch: call before ``apply`` so a method's random init repeats too."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_fit_arguments(model: nn.Module, task: Task, steps, lr, batch_size, max_len, warmup, train_size,
                        eval_size) -> None:
    """``fit``'s arguments, each named in the error when it is wrong."""
    check_positive_int("steps", steps)
    check_positive("lr", lr)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_len", max_len)
    for name, value in (("train_size", train_size), ("eval_size", eval_size)):
        if value is not None:  # None: the whole split
            check_positive_int(name, value)
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup={warmup!r} is a fraction of the steps and must be in [0, 1)")
    check_model_fits(model, task, max_len)


def check_model_fits(model: nn.Module, task: Task, max_len: int) -> None:
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(model, "vocab"):
        raise ValueError("fit needs a peft_lab model (pl.load_pretrained or pl.TinyTransformer with .vocab)")
    if cfg.head != task.head:
        raise ValueError(f"task={task.name!r} needs head={task.head!r}, the model has head={cfg.head!r}; "
                         f"load it with pl.load_pretrained(head={task.head!r})")
    if task.head != "lm" and cfg.num_labels != task.num_labels:
        raise ValueError(f"task={task.name!r} has {task.num_labels} labels, the model's head has "
                         f"num_labels={cfg.num_labels}")
    room = cfg.max_len - model.virtual_tokens().length
    if max_len > room:
        raise ValueError(f"max_len={max_len} does not fit: the model's context is {cfg.max_len} tokens "
                         f"and {cfg.max_len - room} are virtual tokens; use max_len <= {room}")


def default_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: apply a method, or unfreeze something")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def set_lr(optimizer: torch.optim.Optimizer, base_lrs: list[float], factor: float) -> None:
    """Every parameter group's learning rate: its own base rate (LoRA+ has two) times ``factor``."""
    for group, base_lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = base_lr * factor


class Diverged(FloatingPointError):
    """The loss is no longer a finite number; ``train_step`` raises it before updating anything."""

    def __init__(self, loss: float, step: int):
        super().__init__(f"the loss became {loss} at step {step}")
        self.loss, self.step = loss, step


def train_step(model: nn.Module, task: Task, batch, optimizer: torch.optim.Optimizer, step: int,
               hooks=(), clip: float = 1.0) -> float:
    """One optimisation step on ``batch`` = (ids, mask, labels); returns the task's loss. A loss that
    is no longer finite raises ``Diverged`` before anything is updated."""
    ids, mask, labels = batch
    loss = task.loss(model(ids, attention_mask=mask), labels)
    total = loss
    for h in hooks:  # e.g. AdaLoRA's orthogonality regulariser
        extra = h.extra_loss(model, step)
        if extra is not None:
            total = total + extra
    if not torch.isfinite(total):
        raise Diverged(total.item(), step)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    for h in hooks:  # e.g. AdaLoRA's sensitivity, from the gradients
        h.after_backward(model, step)
    if clip:
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
    optimizer.step()
    for h in hooks:  # e.g. AdaLoRA's rank budget, DyLoRA's next rank
        h.after_step(model, step)
    return loss.item()


class StepTimes(list):
    """Seconds of each training step: ``with times:`` around a step appends how long it took."""

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.append(time.perf_counter() - self._start)

    def median(self) -> float:
        """Median seconds per step, leaving out the first steps: they pay one-off allocation costs."""
        return statistics.median(self[min(2, len(self) - 1):])


def measure_latency(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, repeats: int = 5,
                    warmup: int = 1) -> float:
    """Median milliseconds of one eval-mode forward pass over the batch (after ``warmup`` passes)."""
    return measure_latencies_of({"model": model}, ids, mask, repeats, warmup)["model"]


def measure_latencies_of(models: dict[str, nn.Module], ids: torch.Tensor, mask: torch.Tensor, repeats: int = 5,
                         warmup: int = 1) -> dict[str, float]:
    """Median ms of one eval-mode forward pass of each model over the batch. The models take
    turns within every round, so a machine that gets busier or quieter meanwhile slows them alike;
    the first ``warmup`` rounds (allocator, caches) are not timed."""
    modes = {name: m.training for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for m in models.values():
        m.eval()
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, m in models.items():
                t0 = time.perf_counter()
                m(ids, attention_mask=mask)
                if i >= warmup:
                    times[name].append(time.perf_counter() - t0)
    for name, m in models.items():
        m.train(modes[name])
    return {name: 1000 * statistics.median(ts) for name, ts in times.items()}


def measure_latencies(model: nn.Module, sample: Encoded, repeats: int = 5) -> tuple[float, float | None]:
    """(as trained, merged) latency in ms on the first 32 examples; merged is None when the
    method cannot be merged."""
    ids, mask, _ = sample.batch(torch.arange(min(32, len(sample))))
    models = {"trained": model}
    layers = methods.base.peft_layers(model)
    if layers and all(layer.mergeable for _, layer in layers):
        twin = copy.deepcopy(model)  # merging in place would round W0; the trained model stays untouched
        methods.merge(twin)
        models["merged"] = twin
    ms = measure_latencies_of(models, ids, mask, repeats)
    return ms["trained"], ms.get("merged")


def longest(lengths: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Indices of the ``batch_size`` longest examples: the batch that pads to the longest length,
    so the one whose activations are the largest any training step holds."""
    return torch.argsort(lengths, descending=True, stable=True)[:batch_size]


def length_bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator, pool: int = 50):
    """One epoch of index batches: shuffle, sort within pools of ``pool`` batches by length,
    then shuffle the batches. Padding shrinks a lot (reviews are 15-350 characters) and the
    order stays random. Only full batches are used, so every step sees ``batch_size`` examples."""
    perm = torch.randperm(len(lengths), generator=generator)
    batches = []
    for start in range(0, len(perm), batch_size * pool):
        chunk = perm[start:start + batch_size * pool]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def fit(model: nn.Module, task: str = "sentiment", steps: int = 300, lr: float = 2e-3, *,
        batch_size: int = 32, max_len: int = 128, seed: int = 0, warmup: float = 0.06,
        weight_decay: float = 0.0, clip: float = 1.0, train_size: int | None = None,
        eval_size: int | None = None, eval_every: int | None = None, optimizer=None, hooks=(), progress: bool = True,
        measure: bool = True, evaluate_test: bool = False) -> RunResult:
    """Train ``model`` on ``task`` for ``steps`` AdamW steps and return what was measured.

    ``optimizer(model, lr)`` may build a custom optimizer (e.g. ``pl.loraplus_optimizer``);
    ``hooks`` add ``TrainingHook``s to those the applied method asks for. ``train_size`` and
    ``eval_size`` keep only the first examples of the (fixed, shuffled) splits, for quick runs.
    ``measure=False`` skips memory and latency metering; the result then says "not measured".
    The test split is evaluated only with ``evaluate_test=True``: choices (learning rate, steps,
    rank...) are made on validation, and the test split is read once, to report (the sweeps in
    ``peft_lab.experiments`` ask for it). Validation alone also halves the cost after training.
    A run whose loss climbs far above its start, or whose validation accuracy ends at chance level,
    warns (``pl.TrainingWarning``) with the likely cause; so does, before the first step, a model
    whose base weights were made trainable again after ``pl.apply``.
    """
    task = get_task(task)
    check_fit_arguments(model, task, steps, lr, batch_size, max_len, warmup, train_size, eval_size)
    warn_if_base_unfrozen(model)
    train = task.encode(model.vocab, "train", max_len, train_size)
    val = task.encode(model.vocab, "validation", max_len, eval_size)
    hooks = methods.training_hooks(model) + list(hooks)

    set_seed(seed)
    batch_order = torch.Generator().manual_seed(seed)
    opt = optimizer(model, lr) if optimizer is not None else default_optimizer(model, lr, weight_decay)
    base_lrs, warmup_steps = [group["lr"] for group in opt.param_groups], max(1, int(warmup * steps))
    batch_size, lengths = min(batch_size, len(train)), train.attention_mask.sum(1)
    meter = MemoryMeter(model, opt, task, train.batch(longest(lengths, batch_size)))  # the largest batch
    hooks += [meter] if measure else []
    bar = progress_bar(model, task, steps, progress, measure)  # it says what fit does until fit returns
    model.train()
    for h in hooks:
        h.on_train_begin(model, steps)

    history, epoch, times = [], [], StepTimes()
    fingerprint, t_start = parameter_fingerprint(model), time.perf_counter()
    for step in range(steps):
        if not epoch:
            epoch = length_bucketed_batches(lengths, batch_size, batch_order)
        batch = train.batch(epoch.pop())
        with times:
            set_lr(opt, base_lrs, lr_factor(step, steps, warmup_steps))
            try:
                loss = train_step(model, task, batch, opt, step, hooks, clip)
            except Diverged as error:  # stop, and say why
                raise diverged(error, lr, history, opt, bar) from None
        history.append({"step": step, "loss": loss, "lr": opt.param_groups[0]["lr"]})
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            history[-1] |= {f"val_{k}": v for k, v in task.evaluate(model, val).items()}
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")
    for h in hooks:
        h.on_train_end(model)
    train_seconds, moved = time.perf_counter() - t_start, parameter_fingerprint(model) != fingerprint

    metrics, latency, merged = evaluate_and_time(model, task, val, max_len, eval_size, evaluate_test, measure, bar)
    history[-1] |= {k: v for k, v in metrics.items() if k.startswith("val_")}
    chance, n = task.chance_accuracy(val) if "val_accuracy" in metrics else (0.0, 0)
    warn_if_failed(history, lr, steps, metrics.get("val_accuracy"), chance, n, moved)
    config, (trainable, total) = getattr(model, "peft_config", None), methods.count_parameters(model)
    return RunResult(method=getattr(config, "method", "custom"), config=config.to_dict() if config else {},
                     task=task.name, seed=seed, steps=steps, lr=lr, metrics=metrics,
                     trainable_params=trainable, total_params=total,
                     sec_per_step=times.median(), train_seconds=train_seconds,
                     latency_ms=latency, latency_merged_ms=merged, memory=meter.memory, history=history,
                     batch_size=batch_size, max_len=max_len, train_size=len(train), eval_size=len(val),
                     measured=measure)


def progress_bar(model: nn.Module, task: Task, steps: int, progress: bool, measure: bool) -> tqdm:
    """``fit``'s progress bar ("lora · sentiment"); it stays up after the last step and names what
    ``fit`` is doing until it returns, starting with the memory metering."""
    method = getattr(getattr(model, "peft_config", None), "method", "model")
    bar = tqdm(total=steps, desc=f"{method} · {task.name}", disable=not progress, leave=False)
    if measure:
        bar.set_postfix_str(t("fit_metering"))
    return bar


def diverged(error: Diverged, lr: float, history: list[dict], optimizer, bar) -> FloatingPointError:
    """What ``fit`` raises when the loss stops being finite: the message names the learning rate, and
    ``.history`` is the loss curve up to the divergence (the symptom, for plots)."""
    bar.close()
    history.append({"step": error.step, "loss": error.loss, "lr": optimizer.param_groups[0]["lr"]})
    out = FloatingPointError(f"the loss became {error.loss} at step {error.step} (lr={lr:g}): "
                             f"the learning rate is probably too high")
    out.history = history
    return out


def evaluate_and_time(model: nn.Module, task: Task, val: Encoded, max_len: int, eval_size: int | None,
                      evaluate_test: bool, measure: bool, bar) -> tuple[dict, float | None, float | None]:
    """After training: validation (and test) metrics, then inference latency when ``measure``;
    ``bar`` (the training progress bar) names each phase while it runs, and closes at the end."""
    bar.set_postfix_str(t("fit_evaluating_val"))
    metrics = {f"val_{k}": v for k, v in task.evaluate(model, val).items()}
    if evaluate_test and task.has_test:
        bar.set_postfix_str(t("fit_evaluating_test"))
        test = task.encode(model.vocab, "test", max_len, eval_size)
        metrics |= {f"test_{k}": v for k, v in task.evaluate(model, test).items()}
    latency = merged = None
    if measure:
        bar.set_postfix_str(t("fit_timing"))
        latency, merged = measure_latencies(model, val)
    bar.set_postfix_str(t("fit_done"))
    bar.close()
    return metrics, latency, merged
