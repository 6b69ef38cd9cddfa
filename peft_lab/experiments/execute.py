"""What one spec computes: build the model, train it with ``pl.fit``, measure the rest.

``execute(spec) -> {"status", "metrics", "details"}``. Metrics (the suite's schema):
val/test accuracy and F1, trainable and total parameters and their share, seconds per step,
training seconds, inference latency (after folding a prefix or P-Tuning encoder; merged where
the method merges), the training-memory breakdown and the adapter's file size.
"""
from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

from torch import nn

from .. import hub, methods
from ..data import Vocab
from ..io import save_adapter
from ..methods.adalora import rank_pattern
from ..methods.base import peft_layers
from ..methods.dylora import get_rank, set_rank
from ..methods.loraplus import loraplus_optimizer
from ..methods.soft_prompt import Reparameterisation, fold
from ..model import ModelConfig, TinyTransformer
from ..tasks import get_task
from ..train import fit, measure_latencies, set_seed
from . import spectra
from .paired import encode_outcomes
from .spec import Spec

CURVE_POINTS = 20  # the stored loss curve: mean loss over this many equal windows of steps
OPTIMIZERS = {"loraplus": loraplus_optimizer}


def scratch_model(head: str, num_labels: int, **shape) -> TinyTransformer:
    """The checkpoint's architecture and vocabulary with random weights, and the attention mode
    ``load_pretrained`` uses for this head, so pretrained vs scratch differ only in the weights.
    ``shape`` overrides ``ModelConfig`` fields (e.g. ``d_model=512, d_ff=2048`` for a wider twin,
    or ``attention_dropout=0.0``)."""
    meta = hub.read_card()
    causal = meta.get("attention", {}).get(head, meta["model"]["causal"])
    model = TinyTransformer(ModelConfig(**{**meta["model"], "head": head, "num_labels": num_labels,
                                           "causal": causal, **shape}))
    model.vocab = Vocab.from_dict(meta["vocab"])
    return model.train()


def build_model(spec: Spec) -> nn.Module:
    task = get_task(spec.task)
    set_seed(spec.seed)  # the new head and the method's own random init repeat with the seed
    overrides = {} if spec.attention_dropout is None else {"attention_dropout": spec.attention_dropout}
    if spec.init == "pretrained":
        model = hub.load_pretrained(task.head, task.num_labels, **overrides)
    elif spec.init == "scratch":
        model = scratch_model(task.head, task.num_labels, **overrides)
    else:
        raise ValueError(f"init={spec.init!r} must be 'pretrained' or 'scratch'")
    return break_on_purpose(methods.apply(model, methods.config_from_dict(spec.method, spec.config)), spec.extra)


FAILURES = ("fail_b_nonzero", "fail_not_frozen")


def break_on_purpose(model: nn.Module, extra: dict) -> nn.Module:
    """The failures sweep's deliberate mistakes, made after ``apply`` as a user would make them:
    ``extra["failure"]`` "fail_b_nonzero" draws every LoRA B from N(0, extra["std"]^2);
    "fail_not_frozen" makes every parameter trainable again. Without it: the model as built."""
    failure = extra.get("failure")
    if failure is None:
        return model
    if failure == "fail_b_nonzero":
        from ..failures import nonzero_B
        return nonzero_B(model, extra["std"])
    if failure == "fail_not_frozen":
        return model.requires_grad_(True)
    raise ValueError(f"extra['failure']={failure!r} is not one of {FAILURES}")


def optimizer_from(options: dict | None):
    """``fit``'s ``optimizer`` for a spec's optimizer entry, e.g. {"name": "loraplus", "ratio": 16};
    None keeps fit's AdamW."""
    if options is None:
        return None
    options = dict(options)
    name = options.pop("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not one of {sorted(OPTIMIZERS)}")
    return functools.partial(OPTIMIZERS[name], **options)


def loss_curve(history: list[dict], points: int = CURVE_POINTS) -> list[list[float]]:
    """[[last step of the window, mean loss over the window], ...]: a training curve in ~20 numbers."""
    size = max(1, -(-len(history) // points))  # ceil
    windows = [history[i:i + size] for i in range(0, len(history), size)]
    return [[w[-1]["step"], spectra.rounded(sum(h["loss"] for h in w) / len(w))] for w in windows]


def adapter_bytes(model: nn.Module) -> int:
    """Size on disk of what ``pl.save_adapter`` writes (tensors + JSON config)."""
    with tempfile.TemporaryDirectory() as d:
        save_adapter(model, d)
        return sum(f.stat().st_size for f in Path(d).iterdir())


def train_and_measure(spec: Spec, model: nn.Module) -> dict:
    """Train with the spec's recipe, evaluate, fold, measure; a divergence is a result."""
    task = get_task(spec.task)
    try:  # fit scores validation; the test split is scored below, once, keeping every example's outcome
        result = fit(model, spec.task, spec.steps, spec.lr, batch_size=spec.batch, max_len=spec.max_len,
                     seed=spec.seed, train_size=spec.train_size, eval_size=spec.eval_size,
                     optimizer=optimizer_from(spec.optimizer), progress=False, measure=spec.measure,
                     evaluate_test=False)
    except FloatingPointError as e:  # a too-high rate in the lr search: recorded, never chosen
        return {"status": "diverged", "metrics": {},
                "details": {"error": str(e), "loss_curve": loss_curve(getattr(e, "history", []))}}
    metrics = dict(result.metrics)  # val_ accuracy and F1
    details = {"initial_loss": spectra.rounded(result.history[0]["loss"], 7),
               "loss_curve": loss_curve(result.history)}
    if task.has_test:  # before any folding: the model exactly as trained, as fit would score it
        test = task.encode(model.vocab, "test", spec.max_len, spec.eval_size)
        scores, outcomes = task.evaluate_with_outcomes(model, test)
        metrics |= {f"test_{k}": v for k, v in scores.items()}
        details["test_outcomes"] = encode_outcomes(outcomes.numpy())
    if spec.extra.get("eval_ranks"):
        details["by_rank"] = rank_metrics(spec, model)
    latency, merged = result.latency_ms, result.latency_merged_ms
    if isinstance(getattr(model, "soft_prompt", None), Reparameterisation):  # the MLP/encoder is training-only
        fold(model)
        details["folded"] = True
        if spec.measure:
            val = task.encode(model.vocab, "validation", spec.max_len, spec.eval_size)
            latency, merged = measure_latencies(model, val)
    if spec.method == "adalora":
        details["rank_pattern"] = rank_pattern(model)
    metrics |= {"trainable_params": result.trainable_params, "total_params": result.total_params,
                "trainable_share": result.trainable_share, "sec_per_step": result.sec_per_step,
                "train_seconds": round(result.train_seconds, 3), "latency_ms": latency,
                "latency_merged_ms": merged, "memory": result.memory.to_dict() if spec.measure else None,
                "adapter_bytes": adapter_bytes(model)}
    return {"status": "ok", "metrics": metrics, "details": details}


def rank_metrics(spec: Spec, model: nn.Module) -> dict[str, dict]:
    """A trained DyLoRA model evaluated at every rank b of ``spec.extra["eval_ranks"]``: the same
    weights cut to their first b components (``set_rank``), on the validation and test splits as
    ``fit`` evaluates them. Returns {"b": {"val_accuracy", "test_accuracy", ..., "test_outcomes"}}
    (the test outcomes encoded as in ``train_and_measure``, for paired comparisons across ranks);
    the model is left at the rank it had."""
    task = get_task(spec.task)
    splits = {prefix: task.encode(model.vocab, split, spec.max_len, spec.eval_size)
              for prefix, split in (("val", "validation"), ("test", "test")) if split in task.splits()}
    before, out = get_rank(model), {}
    try:
        for b in spec.extra["eval_ranks"]:
            set_rank(model, b)
            out[str(b)] = {}
            for prefix, data in splits.items():
                scores, outcomes = task.evaluate_with_outcomes(model, data)
                out[str(b)] |= {f"{prefix}_{k}": v for k, v in scores.items()}
                if prefix == "test":
                    out[str(b)]["test_outcomes"] = encode_outcomes(outcomes.numpy())
    finally:
        set_rank(model, before)
    return out


def run_train(spec: Spec) -> dict:
    return train_and_measure(spec, build_model(spec))


def run_delta_w(spec: Spec) -> dict:
    """Full fine-tuning, then the spectrum of ΔW for every attention and FFN matrix."""
    model = build_model(spec)
    W0 = spectra.block_weights(model)
    out = train_and_measure(spec, model)
    if out["status"] == "ok":
        W = spectra.block_weights(model)
        out["details"]["spectra"] = {name: spectra.delta_w_report(W0[name], W[name], seed=i)
                                     for i, name in enumerate(W0)}
    return out


def run_subspace(spec: Spec) -> dict:
    """LoRA trained at two ranks (same seed, data and rate); φ between their A matrices (and
    between their ΔW), layer by layer, plus φ of two random matrices of the same shapes."""
    r1, r2 = spec.extra["ranks"]
    trained, models = {}, {}
    for r in (r1, r2):
        config = {**spec.config, "r": r, "alpha": spec.extra["alpha_over_r"] * r}
        one = dataclasses.replace(spec, kind="train", config=config, extra={})
        model = build_model(one)
        out = train_and_measure(one, model)
        if out["status"] != "ok":
            return {"status": out["status"], "metrics": {}, "details": {f"r={r}": out["details"]}}
        models[f"r={r}"] = out["metrics"]
        trained[r] = {name: (layer.A.detach(), layer.delta_weight().detach()) for name, layer in peft_layers(model)}
    subspace = {name: {"A": spectra.subspace_similarity(trained[r1][name][0], trained[r2][name][0], r1, r2),
                       "delta_w": spectra.subspace_similarity(trained[r1][name][1], trained[r2][name][1], r1, r2)}
                for name in trained[r1]}
    A1, A2 = next(iter(trained[r1].values()))[0], next(iter(trained[r2].values()))[0]
    random = spectra.subspace_similarity(spectra.random_like(A1, 1), spectra.random_like(A2, 2), r1, r2)
    return {"status": "ok", "metrics": {},
            "details": {"models": models, "subspace": subspace, "random": random}}


def execute(spec: Spec) -> dict:
    """Compute one spec (a module-level function, so worker processes can run it)."""
    if spec.kind == "tfidf":
        from .tfidf import run_tfidf
        return run_tfidf(spec)
    return {"train": run_train, "delta_w": run_delta_w, "subspace": run_subspace}[spec.kind](spec)
