"""Steering generation with a prefix: Li & Liang's setting on the tiny model.

A frozen language model (the shipped checkpoint with its LM head) gets a prefix (L key/value
vectors in every layer, trained through the MLP, then folded) trained on the next-character loss
of reviews of ONE sentiment. Sampled continuations from [BOS] are then judged by a sentiment
classifier trained in the suite (the TF-IDF + logistic-regression baseline of ``tfidf.py``, a
different model family from the one being steered, so the judge cannot share its quirks). The
measured figure is the share of generations the judge calls positive, per prefix and seed:

    python -m peft_lab.experiments.steering                       # -> results/steering.json
    python -m peft_lab.experiments.steering --seeds 0 --steps 20 --generations 16 --out /tmp/s.json

Prefixes: ``none`` (the pretrained LM as it is), ``all`` (a prefix trained on every review: the
domain alone, no sentiment), ``positive`` and ``negative``. The run is resumable: each finished
(prefix, seed) is written at once and skipped when the command is run again.
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from .. import data
from ..hub import load_pretrained
from ..methods import apply
from ..methods.prefix_tuning import PrefixTuningConfig
from ..methods.soft_prompt import fold
from ..tasks import _pad, get_task
from ..train import default_optimizer, set_seed
from .api import git_commit, machine, results_path, versions
from .identity import checkpoint_id, model_dropouts
from .journal import write_json_atomic
from ..checks import check_positive_int

PREFIXES = ("none", "all", "positive", "negative")
LABEL = {"negative": 0, "positive": 1}
C_GRID = (0.3, 1.0, 3.0, 10.0)   # the TF-IDF baseline's grid (results/baselines.json)


def reviews(prefix: str, split: str = "train") -> list[str]:
    """The reviews a prefix is trained on: those of one sentiment, or all of them (``"all"``)."""
    if prefix not in PREFIXES or prefix == "none":
        raise ValueError(f"prefix={prefix!r} trains on no reviews; allowed: {PREFIXES[1:]}")
    items = data.load_sentiment()[split]
    return [text for text, label in items if prefix == "all" or label == LABEL[prefix]]


def encode(texts: list[str], vocab: data.Vocab, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[BOS] text [EOS] rows cut to ``max_len`` (the EOS only where the whole review fits)."""
    rows = [vocab.encode(text[:max_len - 2], eos=len(text) <= max_len - 2) for text in texts]
    return _pad(rows, data.Vocab.PAD), _pad([[1] * len(r) for r in rows], 0)


def train_prefix(prefix: str, num_virtual_tokens: int = 8, steps: int = 150, lr: float = 1e-2, batch_size: int = 32,
                 max_len: int = 64, seed: int = 0, encoder_hidden_size: int = 128):
    """The frozen LM with a prefix trained on ``reviews(prefix)`` (next-character loss), MLP folded.
    ``prefix="none"`` returns the pretrained LM untouched. Returns (model, loss curve)."""
    if prefix not in PREFIXES:
        raise ValueError(f"prefix={prefix!r} is not one of {PREFIXES}")
    for name, v in (("num_virtual_tokens", num_virtual_tokens), ("steps", steps), ("batch_size", batch_size),
                    ("max_len", max_len)):
        check_positive_int(name, v)
    set_seed(seed)
    model = load_pretrained(head="lm")
    if prefix == "none":
        return model.eval(), []
    apply(model, PrefixTuningConfig(num_virtual_tokens=num_virtual_tokens, encoder_hidden_size=encoder_hidden_size))
    ids, mask = encode(reviews(prefix), model.vocab, max_len - num_virtual_tokens)
    labels = ids.masked_fill(mask == 0, -100)
    task, opt = get_task("lm"), default_optimizer(model, lr)
    g = torch.Generator().manual_seed(seed)
    curve = []
    model.train()
    for step in range(steps):
        index = torch.randint(len(ids), (batch_size,), generator=g)
        T = int(mask[index].sum(1).max())
        loss = task.loss(model(ids[index, :T], attention_mask=mask[index, :T]), labels[index, :T])
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(round(loss.item(), 5))
    fold(model)
    return model.eval(), curve


def generate(model, n: int = 64, new_tokens: int = 40, temperature: float = 1.0, seed: int = 0) -> list[str]:
    """``n`` sampled continuations of [BOS], each cut at its first [EOS]."""
    g = torch.Generator().manual_seed(seed)
    start = torch.full((n, 1), data.Vocab.BOS, dtype=torch.long)
    out = model.generate(start, max_new_tokens=new_tokens, temperature=temperature, generator=g)[:, 1:].tolist()
    return [model.vocab.decode(row[:row.index(data.Vocab.EOS)] if data.Vocab.EOS in row else row) for row in out]


class Judge:
    """Character 1-3-gram TF-IDF + logistic regression on the training reviews (C chosen on
    validation), as the suite's baseline; ``.test_accuracy`` says how far to trust its verdicts."""

    def __init__(self, train_size: int | None = None, C_grid=C_GRID):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        splits = data.load_sentiment()
        train = splits["train"][:train_size]
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        X = self.vectorizer.fit_transform([t for t, _ in train])
        y = [label for _, label in train]
        if not C_grid:
            raise ValueError(f"C_grid={C_grid!r} is empty; give at least one inverse regularisation strength C > 0")
        fitted = {C: LogisticRegression(C=C, max_iter=2000).fit(X, y) for C in C_grid}
        self.val_accuracy = {C: self._accuracy(clf, splits["validation"]) for C, clf in fitted.items()}
        self.C = max(C_grid, key=lambda C: self.val_accuracy[C])
        self.classifier = fitted[self.C]
        self.test_accuracy = self._accuracy(self.classifier, splits["test"])

    def _accuracy(self, clf, items) -> float:
        pred = clf.predict(self.vectorizer.transform([t for t, _ in items]))
        return float(sum(int(p) == label for p, (_, label) in zip(pred, items)) / len(items))

    def positive(self, texts: list[str]) -> list[int]:
        """1 where the judge calls a text positive."""
        return [int(p) for p in self.classifier.predict(self.vectorizer.transform(texts))]


def positive_share(judge: Judge, texts: list[str]) -> float:
    if not texts:
        raise ValueError("texts is empty: nothing to judge")
    return sum(judge.positive(texts)) / len(texts)


def run_one(prefix: str, seed: int, judge: Judge, *, steps: int, generations: int, num_virtual_tokens: int = 8,
            lr: float = 1e-2, new_tokens: int = 40, temperature: float = 1.0) -> dict:
    """Train one prefix (one seed), sample, judge: the record stored per (prefix, seed)."""
    t0 = time.perf_counter()
    model, curve = train_prefix(prefix, num_virtual_tokens, steps, lr, seed=seed)
    texts = generate(model, generations, new_tokens, temperature, seed)
    return {"prefix": prefix, "seed": seed, "positive_share": positive_share(judge, texts),
            "generations": len(texts), "samples": texts[:5], "loss_curve": curve[::10] + curve[-1:],
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def load(directory: Path | None = None) -> dict:
    """The committed experiment, ``results/steering.json`` (written by ``main``)."""
    path = results_path("steering", directory)
    if not path.exists():
        raise FileNotFoundError(f"no {path}; create it with: python -m peft_lab.experiments.steering")
    return _read(path)


def summary(results: dict) -> dict[str, dict]:
    """Per prefix: mean and sample standard deviation of the positive share over seeds."""
    out = {}
    for prefix in PREFIXES:
        shares = [r["positive_share"] for r in results["runs"] if r["prefix"] == prefix]
        if shares:
            out[prefix] = {"mean": statistics.fmean(shares), "std": statistics.stdev(shares) if len(shares) > 1 else 0.0,
                           "seeds": len(shares), "shares": shares}
    return out


def run(out: Path | None = None, seeds=(0, 1, 2), prefixes=PREFIXES, steps: int = 150, generations: int = 128,
        num_virtual_tokens: int = 8, lr: float = 1e-2, new_tokens: int = 40, temperature: float = 1.0,
        command: str | None = None, progress: bool = True, judge: Judge | None = None) -> dict:
    """Every (prefix, seed), resumable: runs already in ``out`` with the same recipe (checkpoint and
    its dropouts included) are kept.
    ``judge`` defaults to a ``Judge()`` fitted on every training review."""
    recipe = {"steps": steps, "generations": generations, "num_virtual_tokens": num_virtual_tokens, "lr": lr,
              "new_tokens": new_tokens, "temperature": temperature, "batch_size": 32, "max_len": 64,
              "encoder_hidden_size": 128, "checkpoint": checkpoint_id(),
              # the checkpoint's fine-tuning dropouts: a new default makes the kept runs another recipe
              **model_dropouts()}
    done = []
    if out is not None and Path(out).exists():
        old = _read(Path(out))
        if old.get("meta", {}).get("recipe") == recipe:
            done = old["runs"]
    judge = judge or Judge()
    results = {"meta": {}, "runs": done}
    t0 = time.perf_counter()
    for seed in seeds:
        for prefix in prefixes:
            if any(r["prefix"] == prefix and r["seed"] == seed for r in done):
                continue
            record = run_one(prefix, seed, judge, steps=steps, generations=generations, lr=lr,
                             num_virtual_tokens=num_virtual_tokens, new_tokens=new_tokens, temperature=temperature)
            results["runs"].append(record)
            results["meta"] = _meta(recipe, judge, command, time.perf_counter() - t0)
            if progress:
                print(f"{prefix:>8} seed {seed}: positive share {record['positive_share']:.3f} "
                      f"({record['wall_seconds']} s)", flush=True)
            if out is not None:
                write_json_atomic(Path(out), results)
    results["meta"] = _meta(recipe, judge, command, time.perf_counter() - t0)
    if out is not None:
        write_json_atomic(Path(out), results)
    return results


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _meta(recipe: dict, judge: Judge, command: str | None, duration: float) -> dict:
    return {"sweep": "steering", "description": " ".join(__doc__.split("\n\n")[1].split()),
            "command": command or "run()", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"), "duration_seconds": round(duration, 1), "versions": versions(),
            "machine": machine(), "git_commit": git_commit(), "recipe": recipe,
            "judge": {"model": "char 1-3-gram TF-IDF + logistic regression", "C": judge.C,
                      "test_accuracy": judge.test_accuracy}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m peft_lab.experiments.steering", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--generations", type=int, default=128)
    p.add_argument("--out", type=Path, default=None, help="default: results/steering.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "python -m peft_lab.experiments.steering " + " ".join(argv if argv is not None else sys.argv[1:])
    run(args.out or results_path("steering"), seeds=tuple(args.seeds), steps=args.steps,
        generations=args.generations, command=command.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
