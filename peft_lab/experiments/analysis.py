"""Plain-Python summaries of a results dict, for notebooks, figures and the command line.

    results = load_results("methods")
    rows = summarize(results, by="label")          # mean, std, n of every metric per label
    rows[0]["test_accuracy"]                       # {"mean": 0.87, "std": 0.004, "n": 3}
    series(load_results("lora_rank"), x="config.r", by="variant")   # points for a line plot
"""
from __future__ import annotations

import math
import statistics

MISSING = object()


def value(run: dict, field: str, default=None):
    """A run's field by name: top level ("lr"), else in metrics ("test_accuracy"), else in
    config ("r"); dotted names descend ("config.r", "memory.total", "details.chosen_C")."""
    head, _, rest = field.partition(".")
    for scope in (run, run.get("metrics") or {}, run.get("config") or {}):
        if head in scope:
            found = scope[head]
            break
    else:
        return default
    for part in rest.split(".") if rest else ():
        if not isinstance(found, dict) or part not in found:
            return default
        found = found[part]
    return found


def numeric_fields(run: dict) -> list[str]:
    """Every numeric metric of a run, nested ones dotted (``memory.total``)."""
    fields = []
    for name, v in (run.get("metrics") or {}).items():
        if isinstance(v, dict):
            fields += [f"{name}.{k}" for k, x in v.items() if _is_number(x)]
        elif _is_number(v):
            fields.append(name)
    return fields


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def stats(values: list[float]) -> dict:
    """Mean, sample standard deviation (0.0 when n = 1: no spread was measured) and n."""
    n = len(values)
    return {"mean": statistics.fmean(values) if n else None,
            "std": statistics.stdev(values) if n > 1 else 0.0, "n": n}


def select(results: dict, stage: str | None = "final", where: dict | None = None) -> list[dict]:
    """The runs of one stage (None: all) whose fields equal ``where``'s values."""
    where = where or {}
    return [r for r in results["runs"]
            if (stage is None or r.get("stage", "final") == stage) and r.get("status", "ok") == "ok"
            and all(value(r, k) == v for k, v in where.items())]


def summarize(results: dict, by="label", metrics=None, stage: str | None = "final",
              where: dict | None = None) -> list[dict]:
    """One row per group of runs: the group's fields, ``runs`` (how many), and for each metric
    ``{"mean", "std", "n"}``. ``by`` is a field name or a tuple of them; groups keep the order
    in which they first appear. Only ``stage`` runs (default "final") that did not diverge count."""
    by = (by,) if isinstance(by, str) else tuple(by)
    runs = select(results, stage, where)
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(_hashable(value(r, f)) for f in by), []).append(r)
    rows = []
    for key, members in groups.items():
        names = metrics or dict.fromkeys(f for r in members for f in numeric_fields(r))
        row = dict(zip(by, key)) | {"runs": len(members)}
        for name in names:
            row[name] = stats([v for r in members if _is_number(v := value(r, name))])
        rows.append(row)
    return rows


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def series(results: dict, x: str, y: str = "test_accuracy", by="label", stage: str | None = "final",
           where: dict | None = None) -> dict:
    """``{group: [(x, mean, std, n), ...]}`` sorted by x: the points of one line per group."""
    out: dict = {}
    for row in summarize(results, by=(by, x) if isinstance(by, str) else (*by, x), metrics=[y],
                         stage=stage, where=where):
        group = row[by] if isinstance(by, str) else tuple(row[b] for b in by)
        s = row[y]
        out.setdefault(group, []).append((row[x], s["mean"], s["std"], s["n"]))
    return {g: sorted(points, key=lambda p: (p[0] is None, p[0])) for g, points in out.items()}


def chosen_lrs(results: dict) -> dict[str, float]:
    """Label (and init/variant where they differ) -> the learning rate its final runs used."""
    return {_group_name(r): r["lr"] for r in select(results, "final") if r.get("lr") is not None}


def lr_search_table(results: dict) -> list[dict]:
    """Per searched group: the validation score at each rate, the chosen rate, and whether it lies
    at the edge of the grid (then a wider grid might have found a better one)."""
    rows: dict[str, dict] = {}
    for r in (r for r in results["runs"] if r.get("stage") == "lr_search"):  # diverged ones too
        metric = "val_f1" if r["task"] == "segmentation" else "val_accuracy"
        row = rows.setdefault(_group_name(r), {"group": _group_name(r), "metric": metric, "scores": {}})
        row["scores"][r["lr"]] = r["metrics"].get(metric)   # None: diverged
    for run in select(results, "final"):
        if _group_name(run) in rows:
            row = rows[_group_name(run)]
            row["chosen"] = run["lr"]
            row["at_edge"] = run["lr"] in (min(row["scores"]), max(row["scores"]))
    return list(rows.values())


def _group_name(run: dict) -> str:
    parts = [run["label"]] + [run[k] for k in ("variant",) if run.get(k)]
    if run.get("init") == "scratch":
        parts.append("scratch")
    return " ".join(parts)


def energy_table(results: dict, k: int = 8) -> list[dict]:
    """Per ΔW matrix of the ``delta_w`` sweep: the top-k energy share of ΔW and of a random matrix."""
    rows = []
    for run in select(results, None, {"kind": "delta_w"}):
        for name, rep in run["details"]["spectra"].items():
            rows.append({"matrix": name, "shape": rep["shape"], f"top{k}": rep["energy"][str(k)],
                         f"random_top{k}": rep["random_energy"][str(k)], "stable_rank": rep["stable_rank"]})
    return rows


def format_table(rows: list[dict], metrics: tuple[str, ...]) -> str:
    """A fixed-width text table of summary rows: group fields, then mean ± std (n) per metric."""
    if not rows:
        return "(no runs)"
    keys = [k for k in rows[0] if not isinstance(rows[0][k], dict) and k != "runs"]
    header = keys + ["runs"] + list(metrics)
    lines = [[str(r[k]) for k in keys] + [str(r["runs"])] + [_cell(r.get(m)) for m in metrics] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*l) for l in lines])


def _cell(s: dict | None) -> str:
    if not s or s["mean"] is None:
        return "-"
    mean, std = s["mean"], s["std"]
    if abs(mean) >= 1000:
        return f"{mean:,.0f}" + (f" ± {std:,.0f}" if s["n"] > 1 else "")
    return f"{mean:.4g}" + (f" ± {std:.2g}" if s["n"] > 1 else "")


def dylora_by_rank(results: dict, metric: str = "test_accuracy") -> dict[str, dict[int, dict]]:
    """``metric`` per rank over seeds, from the ``dylora_ranks`` sweep: {"dylora": {b: stats},
    "lora": {r: stats}} with stats = {"mean", "std", "n"} (``stats``). DyLoRA's b is the rank one
    trained model was evaluated at (its runs' details.by_rank); LoRA's r is the rank each
    separately trained model had. For the figure::

        by = dylora_by_rank(load_results("dylora_ranks"))
        plots.ch2_variants.dylora_curve(means(by["dylora"]), reference=means(by["lora"]), reference_label="lora")
    """
    dylora: dict[int, list[float]] = {}
    for run in select(results, "final", {"label": "dylora"}):
        for b, scores in ((run.get("details") or {}).get("by_rank") or {}).items():
            if _is_number(scores.get(metric)):
                dylora.setdefault(int(b), []).append(scores[metric])
    if not dylora:
        raise ValueError(f"no DyLoRA run with {metric!r} per rank (details.by_rank) in these results: "
                         f"load the dylora_ranks sweep (python -m peft_lab.experiments dylora_ranks)")
    lora: dict[int, list[float]] = {}
    for run in select(results, "final", {"label": "lora"}):
        if _is_number(score := value(run, metric)):
            lora.setdefault(int(run["config"]["r"]), []).append(score)
    return {"dylora": {b: stats(dylora[b]) for b in sorted(dylora)},
            "lora": {r: stats(lora[r]) for r in sorted(lora)}}


def means(by_rank: dict[int, dict]) -> dict[int, float]:
    """{rank: mean} of a ``dylora_by_rank`` half: the points ``dylora_curve`` draws."""
    return {rank: s["mean"] for rank, s in by_rank.items()}
