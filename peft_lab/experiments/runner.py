"""Run a list of specs resumably and assemble ``{"meta", "runs"}``.

Every finished computation is appended at once as one JSON line to a journal
(``results/NAME.partial.jsonl``), keyed by its spec: an interrupted sweep picks up where it
stopped and never recomputes what finished. Two specs with the same key (everything that
determines the numbers: method, config, seed, lr, recipe, checkpoint) are computed once -- the
seed-0 "final" run of a method *is* its seed-0 learning-rate-search run at the chosen rate.
A final spec may leave ``lr=SEARCH``: it is resolved from the finished ``lr_search`` runs of
the same label, by the validation metric only. A grid whose best rate (or one tied with it)
sits on its edge first gains the next rate beyond that edge (up to ``MAX_EXTENSIONS`` times),
so no rate is chosen only because the grid stopped there.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

SEARCH = "search"  # Spec.lr placeholder: the rate the same label's lr_search runs chose on validation
KINDS = ("train", "tfidf", "delta_w", "subspace")
# the validation metric that chooses a learning rate (never a test metric)
SELECTION_METRIC = {"sentiment": "val_accuracy", "segmentation": "val_f1"}
MAX_EXTENSIONS = 2  # rates a grid may gain beyond its edges


@dataclass(frozen=True)
class Spec:
    """One run of a sweep: what to train and how. Everything but ``label``, ``variant`` and
    ``stage`` determines the numbers and so goes into the key."""
    label: str                        # palette / language-table key: "lora", "rslora", "adapter_houlsby", ...
    method: str                       # registry name of the config ("lora" for rsLoRA, DoRA, LoRA+) or "tfidf"
    config: dict = field(default_factory=dict)  # the method config's fields, as apply() gets them
    seed: int = 0
    lr: float | str | None = None     # a number, SEARCH, or None where no learning rate applies (tfidf)
    task: str = "sentiment"
    init: str = "pretrained"          # "pretrained" checkpoint, or "scratch": same architecture, random weights
    steps: int = 0
    batch: int = 32
    max_len: int = 128
    train_size: int | None = None     # first N training examples; None = the whole split
    eval_size: int | None = None      # first N validation and test examples (quick runs); None = all
    measure: bool = True              # memory breakdown and inference latency (costs ~1-2 s)
    optimizer: dict | None = None     # e.g. {"name": "loraplus", "ratio": 16}
    kind: str = "train"               # "train", "tfidf", "delta_w" (full FT + ΔW spectra), "subspace"
    extra: dict = field(default_factory=dict)   # kind-specific settings, e.g. {"ranks": [8, 64]}
    attention_dropout: float | None = None      # dropout on the attention probabilities; None = the model's default
    stage: str = "final"              # "lr_search" or "final"
    variant: str = ""                 # the series within a sweep, e.g. "alpha=16" vs "alpha=2r"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not one of {KINDS}")
        if self.stage not in ("lr_search", "final"):
            raise ValueError(f"stage={self.stage!r} must be 'lr_search' or 'final'")

    @property
    def search_group(self) -> tuple:
        """Finals with lr=SEARCH take the rate chosen by the lr_search runs of this group."""
        return self.label, self.variant, self.task, self.init

    def key(self) -> str:
        """Canonical JSON of what determines the result, plus the checkpoint's identity."""
        d = dataclasses.asdict(self)
        for name in ("label", "variant", "stage"):
            d.pop(name)
        if self.init == "pretrained":
            d["checkpoint"] = checkpoint_id()
        elif self.kind != "tfidf":  # random init takes only shape and vocabulary from the checkpoint
            d["architecture"] = architecture_id()
        if self.attention_dropout is None and self.kind != "tfidf":
            # the value the model will use, so that a new default invalidates the runs made with the old
            d["attention_dropout"] = model_dropouts()["attention_dropout"]
        d["data"] = data_id(self.task)  # other splits (e.g. after removing a leak) are other runs
        return json.dumps(d, sort_keys=True, ensure_ascii=False)

    def short(self) -> str:
        """A few words for the progress bar: "lora alpha=2r r=16 seed 1 lr 0.003"."""
        point = [f"{k}={self.config[k]}" for k in ("r", "bottleneck", "num_virtual_tokens") if k in self.config]
        size = [f"n={self.train_size}"] if self.train_size else []
        lr = [f"lr {self.lr:g}"] if isinstance(self.lr, float) else []
        return " ".join([self.label, self.variant, *point, *size, f"seed {self.seed}", *lr]).replace("  ", " ")

    def describe(self) -> dict:
        """The spec's part of a run record: every field, so ``Spec.from_record`` can re-run it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Spec:
        """The spec a run record came from (e.g. to re-run a committed result)."""
        names = [f.name for f in dataclasses.fields(cls)]
        if "attention_dropout" not in record:  # written before it was a field: attention used `dropout`
            record = {**record, "attention_dropout": model_dropouts()["dropout"]}
        missing = [n for n in names if n not in record]
        if missing:
            raise ValueError(f"the run record lacks {missing}: it was written by another version of "
                             f"peft_lab; re-run its sweep")
        return cls(**{n: record[n] for n in names})


@functools.lru_cache(maxsize=1)
def checkpoint_id() -> str:
    """First 12 hex digits of the checkpoint's sha256: a new checkpoint invalidates old journal lines."""
    from ..hub import checkpoint_paths
    weights = checkpoint_paths()[0]
    if not weights.exists():
        return "none"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def model_dropouts() -> dict[str, float]:
    """``dropout`` and the attention dropout in effect of a model built from the checkpoint's card
    when a spec does not set them (the ``ModelConfig`` defaults where there is no card)."""
    from ..hub import checkpoint_paths, read_card
    from ..model import ModelConfig
    cfg = ModelConfig(**read_card()["model"]) if checkpoint_paths()[1].exists() else ModelConfig()
    return {"dropout": cfg.dropout, "attention_dropout": cfg.attention_p}


@functools.lru_cache(maxsize=1)
def architecture_id() -> str:
    """First 12 hex digits of the sha256 of what a model from random init takes from the
    checkpoint's card (shape, vocabulary, each head's attention mode): new weights of the same
    architecture leave the runs from random init valid."""
    from ..hub import checkpoint_paths, read_card
    if not checkpoint_paths()[1].exists():
        return "none"
    meta = read_card()
    shape = json.dumps({k: meta.get(k) for k in ("model", "attention", "vocab")}, sort_keys=True,
                       ensure_ascii=False)
    return hashlib.sha256(shape.encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def data_id(task: str) -> str:
    """First 12 hex digits of the sha256 of a task's splits (every text and label, in order): runs
    evaluated on other validation or test examples never count as the same computation."""
    from ..tasks import get_task
    splits = get_task(task).splits()
    text = json.dumps({name: list(items) for name, items in splits.items()}, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# ----------------------------------------------------------------------------- journal

class Journal:
    """Append-only JSON lines ``{"key", "result"}``; survives an interruption at any moment."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None

    def load(self) -> dict[str, dict]:
        if self.path is None or not self.path.exists():
            return {}
        done = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the interruption: that run is redone
                continue
            done[entry["key"]] = entry["result"]
        return done

    def append(self, key: str, result: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "result": result}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def delete(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


def to_json(obj, indent: int = 0) -> str:
    """Indented JSON whose lists of numbers (and lists of such lists) stay on one line each:
    readable in a diff, and a spectrum does not take 128 lines."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and obj and any(isinstance(v, dict) for v in obj):
        return "[\n" + ",\n".join(pad + to_json(v, indent + 1) for v in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_json(obj) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- learning-rate choice

def best_on_validation(candidates: list[tuple[object, dict]], metric: str):
    """The candidate (a learning rate, a C, ...) whose result scored best on ``metric``.

    ``candidates`` holds (value, result) pairs. Only a validation metric is accepted; diverged
    runs (metric missing) are skipped; a tie goes to the first candidate, so the choice is
    deterministic.
    """
    if not metric.startswith("val_"):
        raise ValueError(f"hyperparameters are chosen on validation only, not on {metric!r}")
    scored = [(value, r["metrics"].get(metric)) for value, r in candidates]
    scored = [(value, s) for value, s in scored if s is not None]
    if not scored:
        raise RuntimeError(f"every candidate in {[v for v, _ in candidates]} diverged: "
                           f"extend the grid downwards")
    return max(scored, key=lambda pair: pair[1])[0]  # max keeps the first of equal scores


def resolve(spec: Spec, specs: list[Spec], done: dict[str, dict], placeholder: bool = False) -> Spec:
    """``spec`` with lr=SEARCH replaced by the chosen rate (``placeholder``: by the grid's
    first rate, which keys the same number of distinct runs, for planning)."""
    if spec.lr != SEARCH:
        return spec
    group = [s for s in specs if s.stage == "lr_search" and s.search_group == spec.search_group]
    if not group:
        raise ValueError(f"{spec.label!r} ({spec.variant or spec.task}) has lr=SEARCH but no lr_search runs")
    if placeholder:
        return dataclasses.replace(spec, lr=group[0].lr)
    searched = [(s.lr, done[s.key()]) for s in group]
    return dataclasses.replace(spec, lr=best_on_validation(searched, SELECTION_METRIC[spec.task]))


def one_three(x: float) -> float:
    """The nearest rate of the 1-3 series (..., 1e-3, 3e-3, 1e-2, ...) in log scale."""
    k = math.floor(math.log10(x))
    return min((float(f"{c}e{k}") for c in (1, 3, 10)), key=lambda c: abs(math.log10(c / x)))


def edge_extensions(specs: list[Spec], done: dict[str, dict], grown: dict[tuple, int]) -> list[Spec]:
    """One more lr_search spec beyond each edge of a finished grid that holds a best rate -- the
    chosen one or any rate scoring equal to it (a tie at the edge says as little about the rates
    beyond it as a win there) -- or, if every rate diverged, beyond its lowest: the next rate, one
    grid step further, on the 1-3 series (1e-3 -> 3e-4, 3e-2 -> 1e-1). ``grown`` counts what each
    group gained (and is updated)."""
    groups: dict[tuple, list[Spec]] = {}
    for s in specs:
        if s.stage == "lr_search":
            groups.setdefault(s.search_group, []).append(s)
    more = []
    for name, group in groups.items():
        if grown.get(name, 0) >= MAX_EXTENSIONS or any(s.key() not in done for s in group):
            continue
        by_lr = {s.lr: s for s in group}
        lrs = sorted(by_lr)
        if len(lrs) < 2:
            continue
        step = (lrs[-1] / lrs[0]) ** (1 / (len(lrs) - 1))   # the grid's mean ratio
        best = best_rates(lrs, by_lr, done)
        for edge, beyond in ((lrs[0], lrs[0] / step), (lrs[-1], lrs[-1] * step)):
            if edge in best and grown.get(name, 0) < MAX_EXTENSIONS:
                more.append(dataclasses.replace(by_lr[edge], lr=one_three(beyond)))
                grown[name] = grown.get(name, 0) + 1
    return more


def best_rates(lrs: list[float], by_lr: dict[float, Spec], done: dict[str, dict]) -> list[float]:
    """Every rate of a finished grid whose validation score equals the best (the lowest if all diverged)."""
    metric = SELECTION_METRIC[by_lr[lrs[0]].task]
    scores = {lr: done[by_lr[lr].key()]["metrics"].get(metric) for lr in lrs}
    try:
        best = best_on_validation([(lr, done[by_lr[lr].key()]) for lr in lrs], metric)
    except RuntimeError:  # every rate diverged: look lower
        return [lrs[0]]
    return [lr for lr in lrs if scores[lr] == scores[best]]


# ----------------------------------------------------------------------------- the loop

def pending(specs: list[Spec], done: dict[str, dict]) -> dict[str, Spec]:
    """The distinct computations still to do, by key, in order. The count is exact before any
    rate is chosen (a placeholder rate keys the same number of distinct runs)."""
    todo: dict[str, Spec] = {}
    for s in specs:
        s = resolve(s, specs, done, placeholder=True)
        if s.key() not in done:
            todo.setdefault(s.key(), s)
    return todo


def run_specs(specs: list[Spec], execute: Callable[[Spec], dict], journal: Journal | None = None,
              progress: bool = True, desc: str = "runs", jobs: int = 1) -> list[dict]:
    """Compute every spec not yet in the journal and return one run record per spec, in order.

    Specs with an explicit rate run first; then finals with lr=SEARCH are resolved and run.
    ``execute(spec) -> result`` must be a module-level function when ``jobs > 1``.
    """
    journal = journal or Journal(None)
    done, grown = journal.load(), {}
    bar = tqdm(total=len(pending(specs, done)), desc=desc, unit="run", disable=not progress)

    def compute(todo: list[Spec]) -> None:
        unique = list({s.key(): s for s in todo if s.key() not in done}.items())
        for key, result in _compute(unique, execute, jobs, bar):
            done[key] = result
            journal.append(key, result)

    try:
        compute([s for s in specs if s.lr != SEARCH])      # explicit rates first
        while more := edge_extensions(specs, done, grown):  # grids whose best rate is on an edge grow
            specs = specs + more
            bar.total += sum(s.key() not in done for s in more)
            bar.refresh()
            compute(more)
        compute([resolve(s, specs, done) for s in specs if s.lr == SEARCH])   # then the rates they chose
    finally:
        bar.close()
    records, first_label = [], {}
    for s in specs:
        s = resolve(s, specs, done)
        key = s.key()
        owner = first_label.setdefault(key, (s.label, s.variant, s.stage))
        record = {**s.describe(), **done[key]}
        if owner != (s.label, s.variant, s.stage):
            record["reused"] = True  # the same computation as an earlier spec (e.g. seed 0 of lr_search)
        records.append(record)
    return records


def _compute(unique: list[tuple[str, Spec]], execute, jobs: int, bar):
    """Yield (key, result) as runs finish: in this process, or in ``jobs`` worker processes."""
    if jobs <= 1 or len(unique) <= 1:
        for key, spec in unique:
            bar.set_postfix_str(spec.short())
            yield key, _timed(execute, spec)
            bar.update()
        return
    import concurrent.futures
    import multiprocessing
    # spawn, not fork: a forked child of a process that already ran torch's thread pool can hang
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_one_thread) as pool:
        futures = {pool.submit(_timed, execute, spec): key for key, spec in unique}
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()
            bar.update()


def _one_thread() -> None:
    import torch
    torch.set_num_threads(1)  # one worker per core


def _timed(execute, spec: Spec) -> dict:
    t0 = time.perf_counter()
    result = execute(spec)
    result["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return result
