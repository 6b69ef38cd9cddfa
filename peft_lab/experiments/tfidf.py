"""The classical baseline: character 1-3-gram TF-IDF + logistic regression (scikit-learn).

On the same splits as the neural runs (the first ``train_size`` training reviews, the whole
validation and test splits); C is chosen on validation from a small grid, never on test.
"""
from __future__ import annotations

import statistics
import time

import torch

from .. import data
from ..tasks import classification_metrics
from .lr_search import best_on_validation
from .spec import Spec


def _metrics(clf, X, labels) -> dict[str, float]:
    pred = torch.as_tensor(clf.predict(X))
    return classification_metrics(pred, torch.as_tensor(labels), 2)


def run_tfidf(spec: Spec) -> dict:
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ModuleNotFoundError as e:
        raise RuntimeError("the TF-IDF baseline needs scikit-learn: pip install -e '.[dev]'") from e
    if spec.task != "sentiment":
        raise ValueError(f"the TF-IDF baseline is a text classifier; task={spec.task!r} is not supported")
    splits = data.load_sentiment()
    n = spec.eval_size
    train, val, test = splits["train"][:spec.train_size], splits["validation"][:n], splits["test"][:n]
    t0 = time.perf_counter()
    c = spec.config
    vectorizer = TfidfVectorizer(analyzer=c["analyzer"], ngram_range=tuple(c["ngram_range"]),
                                 sublinear_tf=c["sublinear_tf"])
    X_train = vectorizer.fit_transform([t for t, _ in train])
    X_val = vectorizer.transform([t for t, _ in val])
    y_train, y_val = [y for _, y in train], [y for _, y in val]
    fitted = {C: LogisticRegression(C=C, max_iter=2000).fit(X_train, y_train) for C in c["C_grid"]}
    scored = [(C, {"metrics": {f"val_{k}": v for k, v in _metrics(clf, X_val, y_val).items()}})
              for C, clf in fitted.items()]
    C = best_on_validation(scored, "val_accuracy")
    clf = fitted[C]
    train_seconds = time.perf_counter() - t0
    metrics = dict(dict(scored)[C]["metrics"])
    metrics |= {f"test_{k}": v for k, v in
                _metrics(clf, vectorizer.transform([t for t, _ in test]), [y for _, y in test]).items()}
    n_params = clf.coef_.size + clf.intercept_.size
    metrics |= {"trainable_params": n_params, "total_params": n_params, "trainable_share": 1.0,
                "sec_per_step": None, "train_seconds": round(train_seconds, 3),
                "latency_ms": _latency_ms(vectorizer, clf, [t for t, _ in val[:32]]) if spec.measure else None,
                "latency_merged_ms": None, "memory": None, "adapter_bytes": None}
    details = {"chosen_C": C, "val_accuracy_by_C": {str(C): r["metrics"]["val_accuracy"] for C, r in scored},
               "features": len(vectorizer.vocabulary_)}
    return {"status": "ok", "metrics": metrics, "details": details}


def _latency_ms(vectorizer, clf, texts: list[str], repeats: int = 20) -> float:
    """Median milliseconds to vectorise and classify one batch of 32 texts."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        clf.predict(vectorizer.transform(texts))
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)
