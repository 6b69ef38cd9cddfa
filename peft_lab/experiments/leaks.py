"""How many held-out texts each near-duplicate threshold removes, and how long the search takes:
``python -m peft_lab.experiments.leaks``. It is the evidence behind
``near_duplicates.CONTAINMENT_MIN_CHARS`` (see the comment there)."""
from __future__ import annotations

import time

from .. import data
from ..near_duplicates import CONTAINMENT_MIN_CHARS

THRESHOLDS = (5, 8, 10, 12, 15, 20)


def report(thresholds=THRESHOLDS) -> None:
    """Print the held-out texts each containment threshold removes, per corpus and split."""
    held = {name: sum(len(corpus[split]) for split in ("validation", "test"))
            for name, corpus in (("sentiment", data._sentiment_unfiltered()),
                                 ("segmentation", data._segmentation_unfiltered()))}
    print(f"held-out texts before the filter: {held}")
    for k in thresholds:
        data._held_out_leaks.cache_clear()
        start = time.perf_counter()
        leaks = data.held_out_leaks(k)
        seconds = time.perf_counter() - start
        counts = {name: {split: len(v) for split, v in splits.items()} for name, splits in leaks.items()}
        mark = "  <- CONTAINMENT_MIN_CHARS" if k == CONTAINMENT_MIN_CHARS else ""
        print(f"min_chars={k:>2}: removed {counts} in {seconds:.2f} s{mark}")


if __name__ == "__main__":
    report()
