"""Downstream tasks: how a corpus becomes padded batches, a loss and metrics.

* ``sentiment``: one label per review (head "cls", 2 labels); accuracy and macro-F1.
* ``segmentation``: one B/M/E/S tag per character (head "token", 4 labels); character
  accuracy and word-level F1 (a word counts when both its boundaries are right).
* ``lm``: next-character prediction (head "lm"); loss and perplexity.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import data

IGNORE = -100  # label of positions that carry no target (BOS, padding)
# Rows per evaluation batch: small enough that a batch's activations stay in a CPU's cache (on a
# 2-core machine 32 rows evaluated faster than 128; see the issue-12 note), and with rows sorted by
# length a small batch pads no more than a large one.
EVAL_BATCH = 32


@dataclass(frozen=True)
class Encoded:
    """A whole split, padded to its longest example: ids, mask, labels (CPU tensors)."""
    input_ids: torch.Tensor       # (N, T)
    attention_mask: torch.Tensor  # (N, T), 1 = real token
    labels: torch.Tensor          # (N,) for cls, (N, T) for token / lm

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def batch(self, index: torch.Tensor):
        """Rows ``index``, trimmed to their longest real length."""
        mask = self.attention_mask[index]
        T = int(mask.sum(1).max())
        labels = self.labels[index]
        return self.input_ids[index, :T], mask[:, :T], labels if labels.dim() == 1 else labels[:, :T]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    T = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (T - len(r)) for r in rows], dtype=torch.long)


def _chunks(text: str, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, len(text))) for i in range(0, len(text), size)]


@dataclass(frozen=True)
class Task:
    name: str
    head: str
    num_labels: int
    metrics: tuple[str, ...]

    def splits(self) -> dict[str, list]:
        if self.name == "sentiment":
            return data.load_sentiment()
        if self.name == "segmentation":
            return data.load_segmentation()
        texts = data.pretraining_texts()
        return {"train": texts, "validation": [t for t, _ in data.load_segmentation()["validation"]]}

    def encode(self, vocab: data.Vocab, split: str, max_len: int, limit: int | None = None) -> Encoded:
        return _encode(self, vocab, split, max_len, limit)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.head == "cls":
            return F.cross_entropy(logits, labels)
        if self.head == "lm":  # position t predicts token t + 1
            logits, labels = logits[:, :-1], labels[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)

    @property
    def has_test(self) -> bool:
        """Whether the task holds out a test split (the LM task validates on held-out text only)."""
        return self.name != "lm"

    def batches(self, model, encoded: Encoded, batch_size: int = EVAL_BATCH):
        """Eval-mode ``(index, labels, logits)`` over ``encoded`` in batches of similar length.

        Rows are sorted by length, so each batch pads to little more than its own longest row
        (reviews run from a few to hundreds of characters); under ``torch.inference_mode`` no
        autograd bookkeeping is kept. Padding never changes a row's logits (the mask hides it)."""
        was_training = model.training
        model.eval()
        order = torch.argsort(encoded.attention_mask.sum(1), stable=True)
        try:
            with torch.inference_mode():
                for start in range(0, len(encoded), batch_size):
                    index = order[start:start + batch_size]
                    ids, mask, labels = encoded.batch(index)
                    yield index, labels, model(ids, attention_mask=mask)
        finally:
            model.train(was_training)

    def predict(self, model, encoded: Encoded, batch_size: int = EVAL_BATCH) -> torch.Tensor:
        """Predicted label of every row, in the split's order: (N,) for cls, (N, T) for token
        (positions beyond a row's length hold ``IGNORE``)."""
        if self.head == "lm":
            raise ValueError(f"task={self.name!r} predicts the next token; use evaluate() for its loss")
        preds = torch.full(encoded.labels.shape, IGNORE, dtype=torch.long)
        for index, _, logits in self.batches(model, encoded, batch_size):
            if self.head == "cls":
                preds[index] = logits.argmax(-1)
            else:
                preds[index, :logits.shape[1]] = logits.argmax(-1)
        return preds

    def evaluate(self, model, encoded: Encoded, batch_size: int = EVAL_BATCH) -> dict[str, float]:
        if self.head == "lm":
            total = n_targets = 0
            for _, labels, logits in self.batches(model, encoded, batch_size):
                n = int((labels[:, 1:] != IGNORE).sum())
                total, n_targets = total + float(self.loss(logits, labels)) * n, n_targets + n
            loss = total / n_targets
            return {"loss": loss, "perplexity": math.exp(loss)}
        return self.evaluate_with_outcomes(model, encoded, batch_size)[0]

    def evaluate_with_outcomes(self, model, encoded: Encoded,
                               batch_size: int = EVAL_BATCH) -> tuple[dict[str, float], torch.Tensor]:
        """``(evaluate()'s metrics, outcomes())`` from one forward pass over ``encoded``."""
        pred = self.predict(model, encoded, batch_size)
        if self.head == "cls":
            correct = pred == encoded.labels
            return classification_metrics(pred, encoded.labels, self.num_labels), correct
        counts = segmentation_counts(pred, encoded.labels)
        return counts_metrics(counts.sum(0)), counts

    def outcomes(self, model, encoded: Encoded, batch_size: int = EVAL_BATCH) -> torch.Tensor:
        """What became of every row of ``encoded``, in the split's order, to compare two models on
        the same examples (``peft_lab.experiments.paired``):

        * cls: (N,) bool, whether the row was classified correctly;
        * token: (N, 5) int64 ``SEG_COUNTS`` per sentence window (correct characters, characters,
          words right, words predicted, words in the gold segmentation).

        ``outcome_metrics`` of all rows equals ``evaluate()`` exactly; of any subset of rows it is
        that subset's accuracy (and word F1)."""
        if self.head == "lm":
            raise ValueError(f"task={self.name!r} has no per-example outcome; use evaluate() for its loss")
        return self.evaluate_with_outcomes(model, encoded, batch_size)[1]

    def outcome_metrics(self, outcomes) -> dict[str, float]:
        """The metrics of the rows ``outcomes`` describes: accuracy for cls (macro-F1 needs the
        labels too), accuracy and word F1 for token."""
        outcomes = torch.as_tensor(outcomes)
        if self.head == "cls":
            return {"accuracy": accuracy_of(outcomes)}
        if self.head == "token":
            return counts_metrics(outcomes.reshape(-1, len(SEG_COUNTS)).sum(0))
        raise ValueError(f"task={self.name!r} has no per-example outcome")

    def chance_accuracy(self, encoded: Encoded) -> tuple[float, int]:
        """(accuracy of always guessing the most frequent label, number of labelled targets):
        the level a model that learned nothing about the inputs reaches."""
        labels = encoded.labels[encoded.labels != IGNORE]
        counts = torch.bincount(labels, minlength=max(self.num_labels, 1))
        return float(counts.max()) / max(len(labels), 1), len(labels)


def accuracy_of(correct: torch.Tensor) -> float:
    """Share of True in ``correct`` (computed as ``evaluate`` always has: a float32 mean)."""
    return float(torch.as_tensor(correct).float().mean())


def classification_metrics(pred: torch.Tensor, gold: torch.Tensor, num_labels: int) -> dict[str, float]:
    f1s = []
    for c in range(num_labels):
        tp = int(((pred == c) & (gold == c)).sum())
        fp, fn = int(((pred == c) & (gold != c)).sum()), int(((pred != c) & (gold == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": accuracy_of(pred == gold), "f1": sum(f1s) / num_labels}


def _word_spans(tags: list[int]) -> set[tuple[int, int]]:
    spans, start = set(), 0
    for i, t in enumerate(tags):
        if data.SEG_TAGS[t] in "BS":
            start = i
        if data.SEG_TAGS[t] in "ES" or i == len(tags) - 1:
            spans.add((start, i))
    return spans


# A segmentation row's outcome: what character accuracy and word F1 of any set of rows are summed from.
SEG_COUNTS = ("correct_chars", "chars", "words_right", "words_predicted", "words_gold")


def segmentation_counts(pred: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """(N, 5) int64 ``SEG_COUNTS`` of every row of predicted and gold tags (N, T); positions whose
    gold tag is ``IGNORE`` are skipped. A word is right when both its boundaries are."""
    rows = []
    for p_row, g_row in zip(pred.tolist(), gold.tolist()):
        keep = [i for i, g in enumerate(g_row) if g != IGNORE]
        p, g = [p_row[i] for i in keep], [g_row[i] for i in keep]
        ps, gs = _word_spans(p), _word_spans(g)
        rows.append([sum(a == b for a, b in zip(p, g)), len(g), len(ps & gs), len(ps), len(gs)])
    return torch.tensor(rows, dtype=torch.long).reshape(-1, len(SEG_COUNTS))


def counts_metrics(total) -> dict[str, float]:
    """Character accuracy and word F1 from summed ``SEG_COUNTS``."""
    correct, chars, tp, n_pred, n_gold = (int(v) for v in total)
    precision, recall = tp / max(n_pred, 1), tp / max(n_gold, 1)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"accuracy": correct / max(chars, 1), "f1": f1}


def segmentation_metrics(preds: list[torch.Tensor], golds: list[torch.Tensor]) -> dict[str, float]:
    counts = [segmentation_counts(p, g) for p, g in zip(preds, golds)]
    return counts_metrics(torch.cat(counts).sum(0) if counts else [0] * len(SEG_COUNTS))


@functools.lru_cache(maxsize=16)
def _encode(task: Task, vocab: data.Vocab, split: str, max_len: int, limit: int | None) -> Encoded:
    items = task.splits()[split][:limit]
    n_chars = max_len - 1  # room for [BOS]
    if task.name == "sentiment":
        rows = [vocab.encode(text[:n_chars]) for text, _ in items]
        labels = torch.tensor([label for _, label in items])
    elif task.name == "segmentation":
        rows, label_rows = [], []
        for text, tags in items:  # long sentences are cut into windows that fit
            for a, b in _chunks(text, n_chars):
                rows.append(vocab.encode(text[a:b]))
                label_rows.append([IGNORE] + [data.SEG_TAGS.index(t) for t in tags[a:b]])
        labels = _pad(label_rows, IGNORE)
    else:
        rows = [vocab.encode(text[a:b], eos=b == len(text)) for text in items for a, b in _chunks(text, n_chars)]
        labels = _pad(rows, IGNORE)
    ids = _pad(rows, data.Vocab.PAD)
    mask = _pad([[1] * len(r) for r in rows], 0)
    return Encoded(ids, mask, labels)


TASKS = {
    "sentiment": Task("sentiment", "cls", 2, ("accuracy", "f1")),
    "segmentation": Task("segmentation", "token", len(data.SEG_TAGS), ("accuracy", "f1")),
    "lm": Task("lm", "lm", 0, ("loss", "perplexity")),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task={name!r} is not one of {sorted(TASKS)}")
    return TASKS[name]
