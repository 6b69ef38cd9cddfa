"""After a run: say in plain words when it failed, and why it most likely did.

Two symptoms, each a ``TrainingWarning`` (a ``UserWarning``) in the current language:

* the training loss ends far above where it started (the mean of the last quarter of the
  logged losses, at least ``TAIL`` of them, > ``RISE`` x the first): the updates overshoot, so
  the learning rate is too high;
* the validation accuracy ends at chance level ``p``, the accuracy of always guessing the
  validation set's most frequent label: at most ``NEAR`` above it (practically the same) and
  within two standard errors of it (not measurably better; with ``n`` labelled targets the
  guess's standard error is ``sqrt(p (1 - p) / n)``). Below ``MIN_TARGETS`` targets learning and
  guessing cannot be told apart, so nothing is said.

The likely cause of a run at chance is read off its loss curve: rising -> learning rate too high;
trainable parameters that never moved -> nothing was trained; a loss that barely fell -> rate too
low; otherwise (or besides) too few steps for the task.

Before a run, one mistake is read off the model itself: base weights that ``pl.apply`` froze and
that are trainable again (a ``requires_grad_(True)`` loop after ``apply``). The loss curve cannot
show it -- the run trains, only no longer as the method -- so ``fit`` checks it before the first step.
"""
from __future__ import annotations

import math
import warnings

from torch import nn

from .i18n import TEXT, t

RISE = 1.5          # the end of the loss curve above 1.5 x its start is no noise: the run diverges
TAIL = 5            # the end of the curve is the mean of at least this many steps' losses
FLAT = 0.95         # the loss ended above 95 % of its start: it barely fell
FEW_STEPS = 100     # a run this short may just have stopped early (the notebooks' live runs take a few hundred)
NEAR = 0.02         # two accuracy points above the guess: a run that beats it by more learned something
MIN_TARGETS = 100   # with fewer validation targets two standard errors exceed ±0.1 at p = 0.5
DEFAULT_LR = 2e-3   # fit's default learning rate, suggested as a ceiling when lowering it


class TrainingWarning(UserWarning):
    """A run finished but did not learn: ``warnings.filterwarnings("ignore", category=pl.TrainingWarning)``
    silences it."""


def unfrozen_base(model: nn.Module) -> list[tuple[str, int]]:
    """(name, size) of each parameter that ``pl.apply`` froze and that is trainable again; empty when
    no method is applied."""
    frozen = getattr(model, "peft_frozen", None) or frozenset()
    return [(name, p.numel()) for name, p in model.named_parameters() if p.requires_grad and name in frozen]


def warn_if_base_unfrozen(model: nn.Module) -> None:
    """Issue a ``TrainingWarning`` when ``unfrozen_base`` finds any parameter."""
    unfrozen = unfrozen_base(model)
    if unfrozen:
        method = model.peft_config.method
        names = ", ".join(name for name, _ in unfrozen[:3]) + (", ..." if len(unfrozen) > 3 else "")
        warnings.warn(t("warn_base_unfrozen", n=f"{sum(size for _, size in unfrozen):,}", tensors=f"{len(unfrozen):,}",
                        names=names, method=t(method) if method in TEXT else method), TrainingWarning, stacklevel=3)


def parameter_fingerprint(model: nn.Module) -> float:
    """A number that changes when any trainable parameter does (sum of squares, in float64)."""
    return sum(float(p.detach().double().square().sum()) for p in model.parameters() if p.requires_grad)


def loss_ends(history: list[dict]) -> tuple[float, float, int]:
    """(first logged loss, mean of the last quarter of the logged losses -- at least ``TAIL`` of
    them, as one small batch's loss is noisy --, how many that mean took)."""
    losses = [h["loss"] for h in history]
    tail = losses[-max(TAIL, len(losses) // 4):]
    return losses[0], sum(tail) / len(tail), len(tail)


def at_chance(accuracy: float, chance: float, n: int) -> bool:
    """Whether ``accuracy`` is at most ``chance`` plus the smaller of ``NEAR`` and two standard
    errors (or below chance), judged only with at least ``MIN_TARGETS`` targets."""
    if n < MIN_TARGETS:
        return False
    return accuracy <= chance + min(NEAR, 2 * math.sqrt(chance * (1 - chance) / n))


def likely_causes(history: list[dict], steps: int, lr: float, moved: bool) -> str:
    """The probable reasons a run ended at chance, most likely first, in plain words."""
    first, last, _ = loss_ends(history)
    causes, rose = [], last > first
    if rose:  # more steps would not help: every step made it worse
        causes.append(t("cause_lr_high", lr=f"{lr:g}", first=f"{first:.3f}", last=f"{last:.3f}",
                        suggest=f"{min(lr / 10, DEFAULT_LR):g}"))
    elif not moved:
        causes.append(t("cause_nothing_trained"))
    elif last > FLAT * first:
        causes.append(t("cause_lr_low", lr=f"{lr:g}", first=f"{first:.3f}", last=f"{last:.3f}",
                        suggest=f"{lr * 10:g}"))
    if (steps < FEW_STEPS and moved and not rose) or not causes:  # more steps help only a run that learns
        causes.append(t("cause_few_steps", steps=f"{steps:,}"))
    return t("cause_join").join(causes)


def warn_if_failed(history: list[dict], lr: float, steps: int, val_accuracy: float | None,
                   chance: float, n: int, moved: bool) -> None:
    """Issue a ``TrainingWarning`` for each failure symptom the finished run shows."""
    first, last, k = loss_ends(history)
    if not (math.isfinite(last) and last <= RISE * first):
        warnings.warn(t("warn_loss_rose", first=f"{first:.3f}", last=f"{last:.3f}", k=k, rise=f"{RISE:g}",
                        lr=f"{lr:g}", suggest=f"{min(lr / 10, DEFAULT_LR):g}"), TrainingWarning, stacklevel=2)
    if val_accuracy is not None and at_chance(val_accuracy, chance, n):
        warnings.warn(t("warn_chance", accuracy=f"{100 * val_accuracy:.1f}", chance=f"{100 * chance:.1f}", n=f"{n:,}",
                        causes=likely_causes(history, steps, lr, moved)), TrainingWarning, stacklevel=2)

