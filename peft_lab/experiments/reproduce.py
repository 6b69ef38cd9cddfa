"""Re-execute committed runs and say whether they reproduce exactly (a script, not a test).

    python -m peft_lab.experiments.reproduce methods              # one final run per method
    python -m peft_lab.experiments.reproduce methods --limit 3    # the first three methods only

A refactor of the engine must leave every result unchanged: same random draws in the same
order, same floating-point operations. This re-runs the seed-0 final run of every label of
``results/NAME.json`` with the same thread count the sweeps use (one) and compares what does
not depend on the machine's speed: parameter counts, the initial loss, validation and test
accuracy and F1, and the per-review test outcomes. Timings are not compared.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from .api import results_path
from .execute import execute
from .spec import Spec

COMPARED = ("trainable_params", "total_params", "val_accuracy", "val_f1", "test_accuracy", "test_f1")


def final_runs(name: str, seed: int = 0) -> list[dict]:
    """The final run of ``seed`` for every label of ``results/NAME.json``, in file order."""
    runs = json.loads(results_path(name).read_text(encoding="utf-8"))["runs"]
    chosen: dict[str, dict] = {}
    for record in runs:
        if record.get("stage") == "final" and record["seed"] == seed and record["status"] == "ok":
            chosen.setdefault(record["label"], record)
    return list(chosen.values())


def differences(record: dict, again: dict) -> list[str]:
    """What differs between a committed record and its re-execution (empty: identical)."""
    out = [f"{k}: {record['metrics'].get(k)!r} -> {again['metrics'].get(k)!r}"
           for k in COMPARED if record["metrics"].get(k) != again["metrics"].get(k)]
    old, new = record.get("details", {}), again.get("details", {})
    for k in ("initial_loss", "test_outcomes"):
        if old.get(k) != new.get(k):
            out.append(f"details.{k} differs")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m peft_lab.experiments.reproduce", description=__doc__.split("\n")[0])
    p.add_argument("name", help="a results file, e.g. methods")
    p.add_argument("--limit", type=int, default=None, help="re-run only the first LIMIT labels")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as the sweeps ran (python -m peft_lab.experiments --threads 1)
    records = final_runs(args.name)[:args.limit]
    failed = 0
    for record in records:
        t0 = time.perf_counter()
        diff = differences(record, execute(Spec.from_record(record)))
        failed += bool(diff)
        verdict = "identical" if not diff else "DIFFERS: " + "; ".join(diff)
        print(f"{record['label']:<18} {verdict}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"{len(records) - failed} of {len(records)} runs of results/{args.name}.json reproduce exactly")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
