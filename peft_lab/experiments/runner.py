"""Run a list of specs resumably and assemble ``{"meta", "runs"}``.

Every finished computation is appended at once as one JSON line to a journal
(``results/NAME.partial.jsonl``), keyed by its spec: an interrupted sweep picks up where it
stopped and never recomputes what finished. Two specs with the same key (everything that
determines the numbers: method, config, seed, lr, recipe, checkpoint) are computed once -- the
seed-0 "final" run of a method *is* its seed-0 learning-rate-search run at the chosen rate.
Finals with ``lr=SEARCH`` run after the grid they choose from (``lr_search.py``).

The pieces, one concern each: ``spec`` (what a run is, its key), ``identity`` (checkpoint,
architecture and data hashes), ``journal`` (journal and JSON files), ``lr_search`` (the rate
chosen on validation, grid growth); this module is the loop and its process pool. Their names
stay importable from here.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from tqdm.auto import tqdm

from .identity import architecture_id, checkpoint_id, data_id, model_dropouts
from .journal import Journal, to_json, write_json_atomic
from .lr_search import (MAX_EXTENSIONS, SELECTION_METRIC, best_on_validation, best_rates, edge_extensions, one_three,
                        resolve)
from .spec import KINDS, SEARCH, Spec

__all__ = ["KINDS", "MAX_EXTENSIONS", "SEARCH", "SELECTION_METRIC", "Journal", "Spec", "architecture_id",
           "best_on_validation", "best_rates", "checkpoint_id", "data_id", "edge_extensions", "model_dropouts",
           "one_three", "pending", "resolve", "run_specs", "to_json", "write_json_atomic"]


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
