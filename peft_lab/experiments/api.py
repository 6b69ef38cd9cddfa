"""The notebook-facing API: run a sweep, load committed results, check their schema.

    from peft_lab.experiments import run_sweep, load_results, summarize
    live = run_sweep("lora_rank", quick=True)     # < 30 s, nothing written
    committed = load_results("lora_rank")         # results/lora_rank.json
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from .. import hub
from ..tasks import get_task
from . import sweeps
from .execute import execute as execute_spec
from .identity import architecture_id, checkpoint_id, data_id
from .journal import Journal, write_json_atomic
from .lr_search import MAX_EXTENSIONS
from .runner import pending, run_specs
from .spec import Spec

REPO = Path(__file__).resolve().parents[2]
RUN_FIELDS = ("method", "label", "variant", "kind", "config", "seed", "init", "task", "steps", "lr",
              "train_size", "stage", "status", "metrics", "details")
METRIC_FIELDS = ("test_accuracy", "val_accuracy", "test_f1", "val_f1", "trainable_params", "total_params",
                 "trainable_share", "sec_per_step", "train_seconds", "latency_ms", "latency_merged_ms",
                 "memory", "adapter_bytes")
MEMORY_FIELDS = ("weights", "gradients", "optimizer_state", "activations", "total")
META_FIELDS = ("sweep", "command", "date", "duration_seconds", "versions", "machine", "git_commit",
               "checkpoint", "recipe", "lr_source")
# Measured on the reference machine (2 shared cores, a busy neighbour, 1 torch thread) to estimate
# a plan's time: full FT 0.31 s and LoRA 0.23 s per step on average (medians 0.20 / 0.15) at
# batch 32 x 128 characters; a whole run of 150 steps took 64 s and 47 s. Scaled by
# ``length_factor``, these put the committed sweeps' compute time within 15 % (64 to 256 characters).
STEP_SECONDS = {"sentiment": 0.26, "segmentation": 0.30}   # mean wall time of one step at batch 32
EVAL_SECONDS = {"sentiment": 9.0, "segmentation": 14.0}    # whole validation + test split
MEASURE_SECONDS = 5.0                                      # latency (unmerged and merged) + memory
TFIDF_SECONDS = 25.0


def results_dir() -> Path:
    """Where committed results live: ``results/`` of the repository (``$PEFT_LAB_RESULTS`` overrides)."""
    return Path(os.environ.get("PEFT_LAB_RESULTS", REPO / "results"))


def results_path(name: str, directory: Path | None = None) -> Path:
    return Path(directory or results_dir()) / f"{name}.json"


def journal_path(out: Path) -> Path:
    return Path(out).with_suffix(".partial.jsonl")


def load_results(name: str, directory: Path | None = None) -> dict:
    """The committed results of sweep ``name`` (``results/NAME.json``)."""
    sweeps.get_sweep(name)
    path = results_path(name, directory)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet; create it with: python -m peft_lab.experiments {name}")
    return json.loads(path.read_text(encoding="utf-8"))


def build(name: str, quick: bool, directory: Path | None = None) -> tuple[list[Spec], sweeps.Context]:
    ctx = sweeps.Context(quick, Path(directory or results_dir()))
    return sweeps.get_sweep(name).build(ctx), ctx


@functools.cache
def length_factor(task: str, max_len: int) -> float:
    """Characters per example at ``max_len`` relative to 128 (the calibration's length): a step
    and an evaluation cost about their characters, and most texts are shorter than either."""
    texts = [text for text, _ in get_task(task).splits()["train"]]
    def mean_chars(n): return sum(min(len(t), n - 1) for t in texts) / len(texts)
    return mean_chars(max_len) / mean_chars(128)


def estimate_seconds(spec: Spec) -> float:
    """Rough time of one spec on the reference machine (the progress bar shows the real ETA)."""
    if spec.kind == "tfidf":
        return TFIDF_SECONDS
    length = length_factor(spec.task, spec.max_len)
    train = spec.steps * STEP_SECONDS[spec.task] * spec.batch / 32 * length
    share = 1.0 if spec.eval_size is None else min(1.0, spec.eval_size / 1800)  # the splits hold ~1,800
    evaluation = EVAL_SECONDS[spec.task] * share * length
    one = train + evaluation + (MEASURE_SECONDS if spec.measure else 0.0) + 1.0
    return one * (len(spec.extra["ranks"]) if spec.kind == "subspace" else 1)


def plan(name: str, quick: bool = False, out: Path | None = None, directory: Path | None = None,
         extend: bool = False) -> dict:
    """How many runs a sweep has, how many are left to compute (the rest are shared, in the
    journal beside ``out`` or, with ``extend``, kept from ``out``), and the estimated time of those."""
    specs, ctx = build(name, quick, directory)
    done = Journal(journal_path(out) if out else None).load()
    if extend and out is not None and Path(out).exists():
        done = kept_runs(Path(out)) | done
    todo = pending(specs, done)
    seconds = sum(estimate_seconds(s) for s in todo.values())
    stages = {stage: sum(s.stage == stage for s in specs) for stage in ("lr_search", "final")}
    return {"sweep": name, "runs": len(specs), "stages": stages, "to_compute": len(todo),
            "in_journal": len(done), "estimated_seconds": round(seconds), "lr_source": ctx.lr_source,
            "attention_dropout_source": ctx.attention_dropout_source}


def format_plan(p: dict) -> str:
    stages = " + ".join(f"{n} {stage}" for stage, n in p["stages"].items() if n)
    journal = f", {p['in_journal']} already done (journal or kept results)" if p["in_journal"] else ""
    minutes = p["estimated_seconds"] / 60
    grow = (f" (+ up to {MAX_EXTENSIONS} rates per grid whose best is on its edge)"
            if p["stages"]["lr_search"] else "")
    return (f"{p['sweep']}: {p['runs']} runs ({stages}), {p['to_compute']} to compute{journal}{grow}; "
            f"about {minutes:.1f} min on the reference machine; attention dropout: {p['attention_dropout_source']}")


def run_sweep(name: str, quick: bool = True, progress: bool = True, out=None, overwrite: bool = False,
              jobs: int = 1, execute=execute_spec, command: str | None = None,
              directory: Path | None = None, extend: bool = False) -> dict:
    """Run sweep ``name`` and return ``{"meta", "runs"}``.

    ``quick=True`` is the notebooks' live version (a few points, one seed, < 30 s). Nothing is
    written unless ``out`` is a path; then finished runs are journalled beside it as they finish
    (``out`` with ``.partial.jsonl``), so a re-run resumes, and ``out`` is written atomically at
    the end. An existing ``out`` is only replaced with ``overwrite=True`` or ``extend=True``;
    ``extend`` keeps its runs that the sweep still contains (same spec, same checkpoint) and
    computes only the new ones, e.g. after a grid gained a point.
    """
    if out is not None and Path(out).exists() and not (overwrite or extend):
        raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it, "
                              f"or extend=True (--extend) to keep its runs and add the missing ones")
    t0 = time.perf_counter()
    specs, ctx = build(name, quick, directory)
    journal = Journal(journal_path(out) if out is not None else None)
    if extend and out is not None and Path(out).exists():
        carry_over(Path(out), journal)
    runs = run_specs(specs, execute, journal, progress=progress, desc=name, jobs=jobs)
    results = {"meta": meta(name, quick, ctx, time.perf_counter() - t0, runs, jobs, command), "runs": runs}
    if extend:  # each carried run keeps "carried": true
        results["meta"]["carried_over"] = sum(bool(r.get("carried")) and not r.get("reused") for r in runs)
    validate(results)
    if out is not None:
        write_json_atomic(Path(out), results)
        journal.delete()
    return results


def kept_runs(out: Path) -> dict[str, dict]:
    """The runs of an existing results file by spec key (what ``--extend`` keeps).

    A file computed with other weights keeps only the runs that do not depend on them: from
    random init (if the architecture and vocabulary are the same) and TF-IDF; a run evaluated on
    other splits (``meta.data`` differs from ``identity.data_id``) is never kept. A file none of
    whose runs can be kept is refused."""
    existing = json.loads(out.read_text(encoding="utf-8"))
    same_weights = existing["meta"].get("checkpoint") == checkpoint_id()
    same_shape = existing["meta"].get("architecture") == architecture_id()

    data = existing["meta"].get("data", {})  # files written before splits were fingerprinted have none

    def valid(run):
        if data.get(run["task"]) != data_id(run["task"]):  # evaluated on other examples
            return False
        return same_weights or run["init"] == "none" or (same_shape and run["init"] == "scratch")
    kept = [r for r in existing["runs"] if not r.get("reused") and valid(r)]
    if not kept:
        raise ValueError(f"{out} was computed with checkpoint {existing['meta'].get('checkpoint')} on splits "
                         f"{data or 'not recorded'}, now {checkpoint_id()} on "
                         f"{ {t: data_id(t) for t in sorted({r['task'] for r in existing['runs']})} }: its runs "
                         f"cannot be kept; use --overwrite instead of --extend")
    spec_fields = {f.name for f in dataclasses.fields(Spec)} | {"reused"}
    return {Spec.from_record(r).key(): {k: v for k, v in r.items() if k not in spec_fields} for r in kept}


def carry_over(out: Path, journal: Journal) -> None:
    """Journal the kept runs of ``out`` (marked "carried": true) that the journal lacks."""
    done = journal.load()
    for key, result in kept_runs(out).items():
        if key not in done:
            journal.append(key, {**result, "carried": True})


# ----------------------------------------------------------------------------- provenance

def meta(name: str, quick: bool, ctx: sweeps.Context, duration: float, runs: list[dict], jobs: int,
         command: str | None) -> dict:
    doc = (sweeps.get_sweep(name).build.__doc__ or "").strip()
    return {"sweep": name, "description": " ".join(doc.split()), "quick": quick,
            "command": command or f"run_sweep({name!r}, quick={quick})",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "duration_seconds": round(duration, 1),
            "compute_seconds": round(sum(r.get("wall_seconds", 0) for r in runs
                                         if not (r.get("reused") or r.get("carried"))), 1),
            "versions": versions(), "machine": machine(jobs), "git_commit": git_commit(),
            "checkpoint": checkpoint_id(), "architecture": architecture_id(), "checkpoint_card": _card(),
            "data": {task: data_id(task) for task in sorted({r["task"] for r in runs})},
            "recipe": sweeps.recipe(quick), "lr_source": ctx.lr_source,
            "attention_dropout": ctx.attention_dropout, "attention_dropout_source": ctx.attention_dropout_source,
            "runs": len(runs)}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for package in ("peft-lab", "torch", "numpy", "snownlp", "safetensors", "scikit-learn", "peft"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def machine(jobs: int = 1) -> dict:
    return {"platform": platform.platform(), "processor": _cpu_model(), "cores": os.cpu_count(),
            "torch_threads": 1 if jobs > 1 else torch.get_num_threads(), "jobs": jobs}


def _cpu_model() -> str:
    try:  # platform.processor() is often empty on Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """HEAD of the repository, with "+dirty" when tracked files differ from it; None without git."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def _card() -> dict | None:
    try:
        return hub.read_card()["card"]
    except FileNotFoundError:
        return None


# ----------------------------------------------------------------------------- schema

def validate(results: dict) -> None:
    """Raise ValueError naming the run and the field when ``results`` breaks the schema."""
    missing = [f for f in META_FIELDS if f not in results.get("meta", {})]
    if missing:
        raise ValueError(f"meta lacks {missing}")
    for i, run in enumerate(results["runs"]):
        where = f"run {i} ({run.get('label')}, seed {run.get('seed')})"
        missing = [f for f in RUN_FIELDS if f not in run]
        if missing:
            raise ValueError(f"{where} lacks {missing}")
        if run["status"] != "ok" or run["kind"] == "subspace":
            continue  # a diverged run has no metrics; the subspace run's are per rank in details
        missing = [f for f in METRIC_FIELDS if f not in run["metrics"]]
        if missing:
            raise ValueError(f"{where}: metrics lack {missing}")
        memory = run["metrics"]["memory"]
        if memory is not None and sorted(memory) != sorted(MEMORY_FIELDS):
            raise ValueError(f"{where}: memory has {sorted(memory)}, expected {sorted(MEMORY_FIELDS)}")
