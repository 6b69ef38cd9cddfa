"""The chapter's troubleshooting table, reproduced: one small function per failure mode.

Chapter 3.3.6 lists causes and cures (学习率过高, rank 太小, ...) but only asserts them. Each
function here makes one failure happen on the tiny model (or reads the committed sweep where a
live run cannot show it) and returns a ``Reproduction``: the failing run, what ``pl.fit`` warned
about it, and the numbers that make the symptom visible. The healthy run beside it is
``healthy``: LoRA (r = 8, alpha = 16, every linear layer, the ``methods`` sweep's row) at the rate
chosen on validation, with the same short recipe.

Live runs use ``LIVE`` (a few seconds each): short sequences, a small batch, and the first
``eval_size`` validation reviews (no test split, no metering), so their accuracies carry a large
sampling error and only gross differences count. The same failures at the full recipe, on every
review and two seeds, are committed by the ``failures`` sweep (``results/failures.json``);
``from_results`` reads one of them beside its healthy counterpart.
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import io, methods
from .diagnose import TrainingWarning, loss_ends
from .experiments.noise import smallest_within_noise
from .hub import load_pretrained
from .methods.lora import LoRAConfig, LoRALinear
from .methods.prefix_tuning import PrefixTuningConfig
from .result import RunResult
from .tasks import get_task
from .train import fit, set_seed

# the live recipe: ~3 s per run on a busy 2-core CPU (the full recipe is experiments.STEPS steps
# of 32 reviews x 64 characters, evaluated on every review)
LIVE = dict(steps=30, batch_size=16, max_len=48, eval_size=200)


@dataclass
class Reproduction:
    """One failure mode made to happen."""
    mode: str                                     # language key: "fail_lr_high", ...
    run: RunResult | None = None                  # the failing run (None: the evidence is committed)
    warnings: list[str] = field(default_factory=list)   # what pl.fit warned (TrainingWarning)
    symptom: dict = field(default_factory=dict)   # the numbers that show it


def lora_config(r: int = 8, alpha: float = 16) -> LoRAConfig:
    """The methods sweep's LoRA row: every linear layer of the blocks."""
    return LoRAConfig(r=r, alpha=alpha, target_modules="all-linear")


def train(model: nn.Module, lr: float, task: str = "sentiment", seed: int = 0, **recipe) -> tuple[RunResult, list[str]]:
    """``pl.fit`` with the live recipe (``recipe`` overrides it); returns the run and the
    ``TrainingWarning`` messages it issued (collected, so the notebook shows them once)."""
    kw = {**LIVE, "measure": False, "evaluate_test": False, "progress": False, **recipe}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainingWarning)
        run = fit(model, task, lr=lr, seed=seed, **kw)
    said = [str(w.message) for w in caught if issubclass(w.category, TrainingWarning)]
    for w in caught:   # anything else goes on as usual
        if not issubclass(w.category, TrainingWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return run, said


def _fresh(config, seed: int = 0, head: str = "cls", num_labels: int = 2) -> nn.Module:
    set_seed(seed)   # the new head and the method's random init repeat
    return methods.apply(load_pretrained(head, num_labels), config)


def _loss_summary(run: RunResult) -> dict:
    first, last, _ = loss_ends(run.history)
    return {"loss_first": first, "loss_last": last, "val_accuracy": run.metrics["val_accuracy"]}


def healthy(lr: float, **recipe) -> Reproduction:
    """The reference: LoRA with its defaults at a rate chosen on validation."""
    run, said = train(_fresh(lora_config()), lr, **recipe)
    return Reproduction("fail_healthy", run, said, _loss_summary(run))


def lr_too_high(lr: float, factor: float = 10, **recipe) -> Reproduction:
    """The same LoRA at ``factor`` x a good rate: the loss climbs instead of falling."""
    if not factor > 1:
        raise ValueError(f"factor={factor!r} must be > 1 (a rate above the good one)")
    run, said = train(_fresh(lora_config()), lr * factor, **recipe)
    return Reproduction("fail_lr_high", run, said, {"lr": lr * factor, **_loss_summary(run)})


def too_few_steps(lr: float, steps: int = 1, **recipe) -> Reproduction:
    """A good recipe stopped after ``steps`` steps: the head has barely left its random start."""
    run, said = train(_fresh(lora_config()), lr, steps=steps, **recipe)
    return Reproduction("fail_few_steps", run, said, {"steps": steps, **_loss_summary(run)})


def nonzero_B(model: nn.Module, std: float) -> nn.Module:
    """Draw every LoRA B from N(0, std²) instead of zeros (the mistake), in place."""
    if not std > 0:
        raise ValueError(f"std={std!r} must be > 0 (B = 0 is the correct init)")
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    if not layers:
        raise ValueError("the model has no LoRA layers: apply pl.LoRAConfig first")
    with torch.no_grad():
        for m in layers:
            m.B.normal_(std=std)
    return model


def lm_loss(model: nn.Module, n_texts: int = 100, max_len: int = 64) -> float:
    """Next-character loss of an LM-head model on the first ``n_texts`` held-out sentences: how
    much of what pretraining learned is still there."""
    task = get_task("lm")
    return task.evaluate(model, task.encode(model.vocab, "validation", max_len, n_texts))["loss"]


def b_not_zero(lr: float, std: float = 0.3, **recipe) -> Reproduction:
    """LoRA whose B starts random: at step 0 the model is no longer the pretrained one.

    The symptom is measured on the LM head, where the pretrained model is judged directly:
    the next-character loss before any training, with B = 0 and with the random B. Then the
    classifier trains from the damaged start."""
    set_seed(0)
    lm = methods.apply(load_pretrained("lm"), lora_config())
    before = lm_loss(lm)
    set_seed(1)
    after = lm_loss(nonzero_B(lm, std))
    model = _fresh(lora_config())
    set_seed(1)
    run, said = train(nonzero_B(model, std), lr, **recipe)
    return Reproduction("fail_b_nonzero", run, said,
                        {"std": std, "lm_loss_zero_B": before, "lm_loss_random_B": after, **_loss_summary(run)})


def adapter_bytes(model: nn.Module) -> int:
    """Bytes ``pl.save_adapter`` writes for this model (saved into a temporary directory)."""
    with tempfile.TemporaryDirectory() as folder:
        io.save_adapter(model, folder)
        return sum(f.stat().st_size for f in Path(folder).iterdir())


def base_not_frozen(lr: float, **recipe) -> Reproduction:
    """LoRA applied, then every parameter set trainable again (e.g. a ``requires_grad_(True)``
    loop after ``apply``): the base weights move, and the "adapter" is the whole model."""
    model = _fresh(lora_config())
    lora_trainable, total = methods.count_parameters(model)
    lora_bytes = adapter_bytes(model)
    q = next(m for m in model.modules() if isinstance(m, LoRALinear)).base.weight
    W0 = q.detach().clone()
    for p in model.parameters():
        p.requires_grad_(True)
    run, said = train(model, lr, **recipe)
    return Reproduction("fail_not_frozen", run, said, {
        "trainable_lora": lora_trainable, "trainable_broken": methods.count_parameters(model)[0], "total": total,
        "W0_change": float((q.detach() - W0).norm() / W0.norm()),
        "adapter_bytes_lora": lora_bytes, "adapter_bytes_broken": adapter_bytes(model), **_loss_summary(run)})


def prefix_without_reparameterisation(lr: float, length: int = 16, **recipe) -> Reproduction:
    """Prefix tuning trained directly (``projection=False``) beside the paper's MLP
    reparameterisation, at the same rate; ``symptom`` holds both runs' summaries and
    ``run`` the direct one (``symptom["mlp_run"]`` the other)."""
    runs = {}
    for projection in (True, False):
        config = PrefixTuningConfig(num_virtual_tokens=length, projection=projection)
        runs[projection] = train(_fresh(config), lr, **recipe)
    (mlp, mlp_said), (direct, direct_said) = runs[True], runs[False]
    return Reproduction("fail_prefix_direct", direct, direct_said, {
        "lr": lr, "mlp_run": mlp, "mlp_warnings": mlp_said, "mlp": _loss_summary(mlp), "direct": _loss_summary(direct)})


def rank_too_small(results: dict, n_test: int, variant: str = "alpha=16") -> Reproduction:
    """From the committed rank sweep (``results/lora_rank.json``, one scaling rule): the best
    rank, the smallest rank within noise of it, and how far the smallest rank tried falls
    behind. A live run is too short and too noisy to show a rank effect."""
    runs = [r for r in results["runs"] if r.get("variant") == variant]
    if not runs:
        variants = sorted({r.get("variant") for r in results["runs"]})
        raise ValueError(f"variant={variant!r} has no runs in these results; variants: {variants}")
    choice = smallest_within_noise({**results, "runs": runs}, "config.r", n_test=n_test)
    smallest = min(choice["comparisons"])
    return Reproduction("fail_rank_small", None, [], {**choice, "smallest": smallest,
                                                      "smallest_vs_best": choice["comparisons"][smallest]})


# the modes the failures sweep commits (its runs' ``variant``), each beside "fail_healthy" of its method
COMMITTED_MODES = ("fail_lr_high", "fail_few_steps", "fail_b_nonzero", "fail_not_frozen", "fail_prefix_direct")


def from_results(results: dict, mode: str) -> Reproduction:
    """One failure mode as the ``failures`` sweep committed it (``results/failures.json``): the
    failing runs and the healthy runs of the same method (its row of the methods sweep at the rate
    chosen on validation), full recipe, every seed. ``symptom`` holds {"label", "failing",
    "healthy"}, each side with its runs (seed, status, lr, steps, val/test accuracy, first and last
    training loss, trainable parameters, adapter bytes) and the mean accuracies of the finished ones."""
    if mode not in COMMITTED_MODES:
        raise ValueError(f"mode={mode!r} is not a committed failure; committed: {COMMITTED_MODES}")
    final = [r for r in results["runs"] if r.get("stage", "final") == "final"]
    failing = [r for r in final if r.get("variant") == mode]
    if not failing:
        present = sorted({r.get("variant") for r in final})
        raise ValueError(f"mode={mode!r} has no runs in these results; variants present: {present}")
    label = failing[0]["label"]
    healthy_runs = [r for r in final if r.get("variant") == "fail_healthy" and r["label"] == label]
    return Reproduction(mode, None, [], {"label": label, "failing": _committed(failing),
                                         "healthy": _committed(healthy_runs)})


def _committed(runs: list[dict]) -> dict:
    rows = []
    for r in sorted(runs, key=lambda r: r["seed"]):
        metrics, details = r.get("metrics") or {}, r.get("details") or {}
        curve = details.get("loss_curve") or []
        rows.append({"seed": r["seed"], "status": r["status"], "lr": r["lr"], "steps": r["steps"],
                     "val_accuracy": metrics.get("val_accuracy"), "test_accuracy": metrics.get("test_accuracy"),
                     "loss_first": details.get("initial_loss"), "loss_last": curve[-1][1] if curve else None,
                     "trainable_params": metrics.get("trainable_params"),
                     "adapter_bytes": metrics.get("adapter_bytes")})
    out = {"runs": rows}
    for metric in ("val_accuracy", "test_accuracy"):
        values = [row[metric] for row in rows if row[metric] is not None]
        out[metric] = sum(values) / len(values) if values else None
    return out


__all__ = ["COMMITTED_MODES", "LIVE", "Reproduction", "adapter_bytes", "b_not_zero", "base_not_frozen",
           "from_results", "healthy", "lm_loss", "lora_config", "lr_too_high", "nonzero_B",
           "prefix_without_reparameterisation", "rank_too_small", "too_few_steps", "train"]
