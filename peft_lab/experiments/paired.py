"""Paired comparisons: two methods scored on the *same* test examples.

``noise.compare`` can only treat two accuracies as independent measurements. A run's stored
per-example outcomes (``details["test_outcomes"]``, written by ``execute.train_and_measure``)
allow the sharper, paired question: on the examples where the two methods disagree, does one
win more often than chance would give?

* ``mcnemar(a, b)``: one run each, correct/incorrect per review. Only the discordant reviews
  count: n10 (a right, b wrong) and n01; under "no difference" n10 ~ Binomial(n10 + n01, 1/2),
  and the exact two-sided p-value is ``min(1, 2 P(X <= min(n10, n01)))``.
* ``paired_bootstrap(a, b)``: outcomes of several seeds each, shape (seeds, N) (or (N,) for one
  run; (seeds, N, 5) for segmentation counts). Each of ``n_resamples`` resamples draws N test
  examples with replacement -- the *same* examples for both methods -- and, per method, its
  seeds with replacement; the metric (accuracy, or word F1 recomputed from the summed counts of
  the drawn rows) is averaged over the drawn seeds. The difference of means comes with the 2.5 and
  97.5 percentiles of the resampled differences and a two-sided p-value
  ``min(1, 2 (min(#{d* <= 0}, #{d* >= 0}) + 1) / (R + 1))``.
* ``pairwise_matrix(results)``: every pair of methods of a results dict, with one shared set of
  resamples. **Reading it**: each cell is one test at level ``alpha``; across the L(L-1)/2 pairs
  of 19 methods (171) about 5 % of truly equal pairs would look "significant" by chance, so pass
  ``correction="holm"`` (Holm-Bonferroni: controls the chance of *any* false "different" across
  the whole matrix) before reading the matrix as a whole; the uncorrected p-values answer "is this
  one pair, chosen in advance, different?". A bootstrap p-value is never below 2 / (R + 1), so
  Holm over m pairs can only find a difference when R >= 2 m / alpha (171 pairs at 5 %: R >= 6,840;
  use ``n_resamples=10_000``, a few seconds).
* ``tiers(matrix)``: methods sorted by mean; tier 1 is the best method and every method not
  significantly different from it; the rest are grouped the same way from the best remaining
  one. Methods of one tier are within noise of that tier's best; the tiers are a reading aid,
  not a claim that members of different tiers all differ.

Storage (JSON-safe, versioned, small): ``encode_outcomes`` / ``decode_outcomes``

* sentiment: one bit per review, "correct or not" -> ``{"format": "bits-base64", "version": 1,
  "n": N, "data": base64(np.packbits(bits))}`` (about 1,700 reviews: about 350 characters of JSON);
* segmentation: ``tasks.SEG_COUNTS`` per sentence window (small non-negative integers) ->
  ``{"format": "counts-zlib-base64", "version": 1, "n": N, "columns": [...], "dtype": "uint8" |
  "uint16" | "uint32", "data": base64(zlib(little-endian row-major bytes))}`` (the smallest
  dtype that holds the largest count; the 2,619 test windows took 14 KB in a trial run).
"""
from __future__ import annotations

import base64
import itertools
import math
import zlib

import numpy as np

from ..tasks import SEG_COUNTS
from ..checks import check_positive_int

VERSION = 1
_DTYPES = ("uint8", "uint16", "uint32")


def encode_outcomes(outcomes) -> dict:
    """A JSON-safe dict holding ``outcomes``: (N,) booleans or (N, 5) segmentation counts."""
    a = np.asarray(outcomes)
    if a.dtype == bool and a.ndim == 1:
        return {"format": "bits-base64", "version": VERSION, "n": int(a.size),
                "data": base64.b64encode(np.packbits(a).tobytes()).decode("ascii")}
    if a.ndim == 2 and a.shape[1] == len(SEG_COUNTS) and np.issubdtype(a.dtype, np.integer):
        if a.size and a.min() < 0:
            raise ValueError(f"outcomes hold a negative count ({a.min()}); counts are >= 0")
        top = int(a.max()) if a.size else 0
        dtype = next(d for d in _DTYPES if top <= np.iinfo(d).max)
        raw = zlib.compress(a.astype("<" + np.dtype(dtype).str[1:]).tobytes(), 9)
        return {"format": "counts-zlib-base64", "version": VERSION, "n": int(a.shape[0]), "columns": list(SEG_COUNTS),
                "dtype": dtype, "data": base64.b64encode(raw).decode("ascii")}
    raise ValueError(f"outcomes of dtype {a.dtype} and shape {a.shape} are neither (N,) booleans nor "
                     f"(N, {len(SEG_COUNTS)}) integer counts {SEG_COUNTS}")


def decode_outcomes(stored: dict) -> np.ndarray:
    """The array ``encode_outcomes`` stored: (N,) bool or (N, 5) int64."""
    if not isinstance(stored, dict) or "format" not in stored:
        raise ValueError(f"stored outcomes {str(stored)[:60]!r} are not an encode_outcomes dict")
    fmt, version = stored["format"], stored.get("version")
    if version != VERSION:
        raise ValueError(f"outcomes version={version!r} is not supported (this code reads version {VERSION})")
    raw = base64.b64decode(stored["data"])
    n = stored["n"]
    if fmt == "bits-base64":
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n).astype(bool)
    if fmt == "counts-zlib-base64":
        raw = zlib.decompress(raw)
        if stored["dtype"] not in _DTYPES or tuple(stored["columns"]) != SEG_COUNTS:
            raise ValueError(f"counts with dtype={stored['dtype']!r}, columns={stored['columns']!r}: "
                             f"expected one of {_DTYPES} and {list(SEG_COUNTS)}")
        flat = np.frombuffer(raw, dtype="<" + np.dtype(stored["dtype"]).str[1:])
        return flat.astype(np.int64).reshape(n, len(SEG_COUNTS))
    raise ValueError(f"outcomes format={fmt!r} is not one of ['bits-base64', 'counts-zlib-base64']")


# ----------------------------------------------------------------------------- tests

def mcnemar(a, b) -> dict:
    """Exact McNemar test of two runs' per-example correctness (same examples, same order):
    ``{"a_only", "b_only", "p"}`` with a_only = #(a right, b wrong)."""
    a, b = _bits(a, "a"), _bits(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a has {a.size} outcomes and b {b.size}: they must score the same test examples")
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n, k = a_only + b_only, min(a_only, b_only)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    return {"a_only": a_only, "b_only": b_only, "p": p}


def _bits(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != bool or x.ndim != 1:
        raise ValueError(f"{name} must be one run's (N,) boolean outcomes, got dtype {x.dtype} shape {x.shape}")
    return x


def _stack(x, name: str) -> np.ndarray:
    """(seeds, N) bools or (seeds, N, 5) counts; a single run gets a seed axis."""
    x = np.asarray(x)
    counts = x.shape[-1:] == (len(SEG_COUNTS),) and np.issubdtype(x.dtype, np.integer)
    if x.ndim == 1 + counts:
        x = x[None]
    if x.ndim != 2 + counts or x.shape[0] == 0 or not (counts or x.dtype == bool):
        raise ValueError(f"{name} must be (seeds, N) booleans or (seeds, N, {len(SEG_COUNTS)}) counts, "
                         f"got dtype {x.dtype} shape {x.shape}")
    return x


METRICS = {"bits": ("accuracy",), "counts": ("f1", "accuracy")}


def _metric_of_weighted(x: np.ndarray, weights: np.ndarray, metric: str) -> np.ndarray:
    """(R, seeds) metric of every seed on every resample; ``weights`` (R, N) = how often each
    example was drawn."""
    if x.ndim == 2:   # bits: accuracy = drawn correct / drawn
        if metric != "accuracy":
            raise ValueError(f"metric={metric!r}: correct/incorrect outcomes give only 'accuracy'")
        return weights @ x.T.astype(np.float64) / x.shape[1]
    if metric not in METRICS["counts"]:
        raise ValueError(f"metric={metric!r} is not one of {METRICS['counts']} for segmentation counts")
    sums = np.einsum("rn,snk->rsk", weights, x.astype(np.float64))   # (R, seeds, 5)
    if metric == "accuracy":
        return sums[..., 0] / np.maximum(sums[..., 1], 1)
    tp, n_pred, n_gold = sums[..., 2], sums[..., 3], sums[..., 4]
    return np.where(tp > 0, 2 * tp / np.maximum(n_pred + n_gold, 1), 0.0)   # = 2PR / (P + R)


class _Resampler:
    """One shared draw of test examples (and of seeds, per method) for all comparisons."""

    def __init__(self, n: int, n_resamples: int, seed: int):
        check_positive_int("n_resamples", n_resamples)
        self.rng = np.random.default_rng(seed)
        self.n = n
        # how often each example is drawn in each resample: N draws with replacement = multinomial
        self.weights = self.rng.multinomial(n, np.full(n, 1 / n), size=n_resamples).astype(np.float64)

    def observed_and_resampled(self, x: np.ndarray, metric: str) -> tuple[float, np.ndarray]:
        if x.shape[1] != self.n:
            raise ValueError(f"outcomes of {x.shape[1]} test examples, expected {self.n}: every run must "
                             f"score the same test split (same eval_size)")
        observed = float(_metric_of_weighted(x, np.ones((1, self.n)), metric).mean())
        per_seed = _metric_of_weighted(x, self.weights, metric)           # (R, seeds)
        picks = self.rng.integers(0, x.shape[0], size=per_seed.shape)     # seeds drawn with replacement
        return observed, np.take_along_axis(per_seed, picks, 1).mean(1)


def _difference(mean_a, mean_b, draws_a, draws_b) -> dict:
    d = draws_a - draws_b
    below, above = int(np.sum(d <= 0)), int(np.sum(d >= 0))
    p = min(1.0, 2 * (min(below, above) + 1) / (d.size + 1))
    low, high = np.percentile(d, [2.5, 97.5])
    return {"difference": mean_a - mean_b, "low": float(low), "high": float(high), "p": p}


def paired_bootstrap(a, b, metric: str = "accuracy", n_resamples: int = 2000, seed: int = 0) -> dict:
    """mean(a) - mean(b) of ``metric`` with a 95 % paired-bootstrap interval and p-value (see the
    module docstring): ``{"difference", "low", "high", "p", "mean_a", "mean_b"}``."""
    a, b = _stack(a, "a"), _stack(b, "b")
    if a.ndim != b.ndim or a.shape[1] != b.shape[1]:
        raise ValueError(f"a {a.shape} and b {b.shape} must hold outcomes of the same kind on the same test examples")
    resampler = _Resampler(a.shape[1], n_resamples, seed)
    mean_a, draws_a = resampler.observed_and_resampled(a, metric)
    mean_b, draws_b = resampler.observed_and_resampled(b, metric)
    return _difference(mean_a, mean_b, draws_a, draws_b) | {"mean_a": mean_a, "mean_b": mean_b}


# ----------------------------------------------------------------------------- results files

def outcomes_by_label(results: dict, labels=None) -> dict[str, np.ndarray]:
    """{label: stacked decoded test outcomes of its final runs} (see ``_stack``), in results order."""
    runs = [r for r in results["runs"] if r.get("stage", "final") == "final" and r.get("status", "ok") == "ok"]
    there = list(dict.fromkeys(r["label"] for r in runs))
    labels = there if labels is None else list(labels)
    unknown = [l for l in labels if l not in there]
    if unknown:
        raise ValueError(f"no finished final run of {unknown} in these results; labels there: {there}")
    out = {}
    for label in labels:
        decoded = []
        for r in (r for r in runs if r["label"] == label):
            stored = (r.get("details") or {}).get("test_outcomes")
            if stored is None:
                raise ValueError(f"the final run of {label!r} (seed {r.get('seed')}) has no details['test_outcomes']: "
                                 f"it was measured before per-example outcomes were stored; re-run the sweep "
                                 f"(python -m peft_lab.experiments NAME --overwrite)")
            decoded.append(decode_outcomes(stored))
        if len({d.shape for d in decoded}) > 1:
            raise ValueError(f"the runs of {label!r} scored different test sets: shapes {[d.shape for d in decoded]}")
        out[label] = np.stack(decoded)
    shapes = {label: x.shape[1:] for label, x in out.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"the methods scored different test sets (outcome shapes per seed {shapes}): "
                         f"compare only runs of one task and one eval_size")
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of a flat array of m tests (step-down, monotone)."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def pairwise_matrix(results: dict, labels=None, metric: str = "accuracy", n_resamples: int = 2000,
                    seed: int = 0, correction: str | None = None) -> dict:
    """Every pair of methods of ``results`` compared on the same test examples (paired bootstrap,
    one shared set of resamples). Returns ``{"labels", "mean", "difference", "low", "high",
    "p", "metric", "correction", "n_examples", "n_resamples"}``: labels sorted by mean, best first;
    (L, L) arrays where cell [i, j] is about mean_i - mean_j (p is 1 on the diagonal).
    ``correction="holm"`` adjusts p over the L(L-1)/2 pairs (see the module docstring)."""
    if correction not in (None, "holm"):
        raise ValueError(f"correction={correction!r} must be None or 'holm'")
    stacks = outcomes_by_label(results, labels)
    first = next(iter(stacks.values()))
    resampler = _Resampler(first.shape[1], n_resamples, seed)
    measured = {label: resampler.observed_and_resampled(x, metric) for label, x in stacks.items()}
    order = sorted(measured, key=lambda label: -measured[label][0])
    L = len(order)
    out = {k: np.zeros((L, L)) for k in ("difference", "low", "high")} | {"p": np.ones((L, L))}
    for i, j in itertools.combinations(range(L), 2):
        (ma, da), (mb, db) = measured[order[i]], measured[order[j]]
        cell = _difference(ma, mb, da, db)
        for k in out:
            out[k][i, j] = cell[k]
        out["difference"][j, i], out["p"][j, i] = -cell["difference"], cell["p"]
        out["low"][j, i], out["high"][j, i] = -cell["high"], -cell["low"]
    out |= {"labels": order, "mean": np.array([measured[label][0] for label in order]), "metric": metric,
            "correction": None, "n_examples": resampler.n, "n_resamples": n_resamples}
    return holm_corrected(out) if correction == "holm" else out


def holm_corrected(matrix: dict) -> dict:
    """A ``pairwise_matrix`` without correction -> the same with Holm-adjusted p-values over its
    L(L-1)/2 pairs (the differences and intervals are unchanged)."""
    if matrix["correction"] is not None:
        raise ValueError(f"this matrix is already corrected ({matrix['correction']!r})")
    p, L = np.array(matrix["p"], dtype=np.float64), len(matrix["labels"])
    if L > 1:
        upper = np.triu_indices(L, 1)
        p[upper] = holm(p[upper])
        p.T[upper] = p[upper]
    return matrix | {"p": p, "correction": "holm"}


def tiers(matrix: dict, alpha: float = 0.05) -> dict[str, int]:
    """{label: tier}, 1 = best: the best remaining method opens a tier and takes every remaining
    method whose difference from it is not significant (p >= ``alpha``)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be a significance level in (0, 1)")
    return group_tiers(matrix["labels"], np.asarray(matrix["p"]) >= alpha)


def group_tiers(labels, indistinguishable) -> dict[str, int]:
    """``labels`` sorted best first and an (L, L) boolean "cannot be told apart" matrix ->
    {label: tier}: the best remaining label opens a tier with every remaining label it cannot be
    told apart from."""
    remaining, out, tier = list(range(len(labels))), {}, 0
    while remaining:
        tier += 1
        head = remaining[0]
        members = [i for i in remaining if i == head or indistinguishable[head][i]]
        out |= {labels[i]: tier for i in members}
        remaining = [i for i in remaining if i not in members]
    return out
