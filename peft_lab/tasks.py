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

    @torch.no_grad()
    def evaluate(self, model, encoded: Encoded, batch_size: int = 128) -> dict[str, float]:
        was_training = model.training
        model.eval()
        # sorted by length so batches carry little padding; the metric does not depend on order
        order = torch.argsort(encoded.attention_mask.sum(1))
        preds, golds, losses, weights = [], [], [], []
        for start in range(0, len(encoded), batch_size):
            ids, mask, labels = encoded.batch(order[start:start + batch_size])
            logits = model(ids, attention_mask=mask)
            if self.head == "lm":
                n = int((labels[:, 1:] != IGNORE).sum())
                losses.append(float(self.loss(logits, labels)) * n)
                weights.append(n)
            else:
                preds.append(logits.argmax(-1))
                golds.append(labels)
        model.train(was_training)
        if self.head == "lm":
            loss = sum(losses) / sum(weights)
            return {"loss": loss, "perplexity": math.exp(loss)}
        if self.head == "cls":
            return classification_metrics(torch.cat(preds), torch.cat(golds), self.num_labels)
        return segmentation_metrics(preds, golds)


def classification_metrics(pred: torch.Tensor, gold: torch.Tensor, num_labels: int) -> dict[str, float]:
    f1s = []
    for c in range(num_labels):
        tp = int(((pred == c) & (gold == c)).sum())
        fp, fn = int(((pred == c) & (gold != c)).sum()), int(((pred != c) & (gold == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": float((pred == gold).float().mean()), "f1": sum(f1s) / num_labels}


def _word_spans(tags: list[int]) -> set[tuple[int, int]]:
    spans, start = set(), 0
    for i, t in enumerate(tags):
        if data.SEG_TAGS[t] in "BS":
            start = i
        if data.SEG_TAGS[t] in "ES" or i == len(tags) - 1:
            spans.add((start, i))
    return spans


def segmentation_metrics(preds: list[torch.Tensor], golds: list[torch.Tensor]) -> dict[str, float]:
    correct = total = tp = n_pred = n_gold = 0
    for pred_b, gold_b in zip(preds, golds):
        for pred, gold in zip(pred_b.tolist(), gold_b.tolist()):
            keep = [i for i, g in enumerate(gold) if g != IGNORE]
            p, g = [pred[i] for i in keep], [gold[i] for i in keep]
            correct += sum(a == b for a, b in zip(p, g))
            total += len(g)
            ps, gs = _word_spans(p), _word_spans(g)
            tp, n_pred, n_gold = tp + len(ps & gs), n_pred + len(ps), n_gold + len(gs)
    precision, recall = tp / max(n_pred, 1), tp / max(n_gold, 1)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"accuracy": correct / max(total, 1), "f1": f1}


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
