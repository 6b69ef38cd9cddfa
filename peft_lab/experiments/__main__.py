"""``python -m peft_lab.experiments NAME [NAME ...] | all [--quick] [--overwrite] [--plan] ...``

Writes ``results/NAME.json`` per sweep; finished runs are journalled in
``results/NAME.partial.jsonl`` as they finish, so re-running the same command after an
interruption continues where it stopped. An existing ``results/NAME.json`` is never replaced
without ``--overwrite``; ``--extend`` keeps its runs and computes only what the sweep added.
``--quick`` runs the notebooks' reduced version and prints it only.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import analysis, api
from .sweeps import ALL, SWEEPS


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m peft_lab.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", metavar="NAME",
                   help=f"any of: {', '.join(SWEEPS)}; 'all' = every one but baselines")
    p.add_argument("--quick", action="store_true", help="the reduced live version; print, write nothing")
    p.add_argument("--overwrite", action="store_true", help="replace an existing results/NAME.json")
    p.add_argument("--extend", action="store_true",
                   help="keep the runs of an existing results/NAME.json that the sweep still has (same spec "
                        "and checkpoint) and compute only the missing ones, e.g. after a grid gained a point")
    p.add_argument("--fresh", action="store_true", help="discard the journal of an interrupted run first")
    p.add_argument("--plan", action="store_true", help="print the planned runs and time, run nothing")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes with one torch thread each (2 on a free 2-core machine nearly "
                        "doubles throughput; each run's timings then share the machine with the other)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of a single process (default 1: the tiny model gains little from "
                        "more, and on a busy machine a thread waiting for a core slows every step)")
    p.add_argument("--results", type=Path, default=None, help="results directory (default: results/)")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n != "all" and n not in SWEEPS]
    if unknown:
        p.error(f"unknown sweep(s) {unknown}; known sweeps: {', '.join(SWEEPS)} (or 'all')")
    names = [n for name in args.names for n in (ALL if name == "all" else (name,))]
    args.names = list(dict.fromkeys(names))
    return args


def summary(results: dict, group_by: tuple[str, ...]) -> str:
    if results["meta"]["sweep"] == "delta_w":
        rows = analysis.energy_table(results)
        return "\n".join(f"{r['matrix']:<28} top-8 energy of ΔW {r['top8']:.3f}   random {r['random_top8']:.3f}"
                         for r in rows)
    task = results["runs"][0]["task"] if results["runs"] else "sentiment"
    quality = ("test_f1", "test_accuracy") if task == "segmentation" else ("test_accuracy", "val_accuracy")
    metrics = (*quality, "trainable_params", "sec_per_step", "latency_ms")
    return analysis.format_table(analysis.summarize(results, by=group_by), metrics)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import torch
    torch.set_num_threads(args.threads)
    directory = args.results or api.results_dir()
    outs = {name: None if args.quick else api.results_path(name, directory) for name in args.names}
    existing = [str(out) for out in outs.values() if out is not None and out.exists()]
    if existing and not (args.overwrite or args.extend) and not args.plan:
        print(f"not overwriting {', '.join(existing)}: these results exist. Pass --overwrite to replace "
              f"them, --extend to keep their runs and add what is missing, or move them away.",
              file=sys.stderr)
        return 2
    if args.fresh and not args.quick:
        for out in outs.values():
            api.journal_path(out).unlink(missing_ok=True)

    plans = [api.plan(name, args.quick, outs[name], directory, args.extend) for name in args.names]
    for p in plans:
        print(api.format_plan(p))
    total = sum(p["estimated_seconds"] for p in plans)
    print(f"total: {sum(p['to_compute'] for p in plans)} runs to compute, about {total / 60:.0f} min "
          f"(estimated; the progress bar shows the live ETA)")
    if args.plan:
        return 0

    command = " ".join(["python -m peft_lab.experiments", *(sys.argv[1:] if argv is None else argv)])
    for name in args.names:
        t0 = time.perf_counter()
        try:
            results = api.run_sweep(name, quick=args.quick, progress=True, out=outs[name], overwrite=True,
                                    jobs=args.jobs, command=command, directory=directory, extend=args.extend)
        except KeyboardInterrupt:
            where = api.journal_path(outs[name]) if outs[name] else None
            print(f"\ninterrupted during {name}: " + (f"finished runs are kept in {where}; run the same "
                  f"command again to continue" if where else "nothing was written"), file=sys.stderr)
            return 130
        print(f"\n== {name} ({len(results['runs'])} runs, {time.perf_counter() - t0:.0f} s)")
        print(summary(results, SWEEPS[name].group_by))
        for row in analysis.lr_search_table(results):
            if row.get("at_edge"):
                print(f"note: {row['group']}: the chosen lr {row['chosen']:g} is at the edge of its grid "
                      f"{sorted(row['scores'])} ({row['metric']} {row['scores']}); consider widening it")
        if outs[name]:
            print(f"wrote {outs[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
