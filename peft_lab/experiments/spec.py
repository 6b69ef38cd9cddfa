"""What one run of a sweep is (``Spec``) and its key: everything that determines the numbers,
plus the identity of the checkpoint, architecture and data it would run on (``identity.py``).
Two specs with the same key are the same computation and are run once."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .identity import architecture_id, checkpoint_id, data_id, model_dropouts

SEARCH = "search"  # Spec.lr placeholder: the rate the same label's lr_search runs chose on validation
KINDS = ("train", "tfidf", "delta_w", "subspace")


@dataclass(frozen=True)
class Spec:
    """One run of a sweep: what to train and how. Everything but ``label``, ``variant`` and
    ``stage`` determines the numbers and so goes into the key."""
    label: str                        # palette / language-table key: "lora", "rslora", "adapter_houlsby", ...
    method: str                       # registry name of the config ("lora" for rsLoRA, DoRA, LoRA+) or "tfidf"
    config: dict = field(default_factory=dict)  # the method config's fields, as apply() gets them
    seed: int = 0
    lr: float | str | None = None     # a number, SEARCH, or None where no learning rate applies (tfidf)
    task: str = "sentiment"
    init: str = "pretrained"          # "pretrained" checkpoint, or "scratch": same architecture, random weights
    steps: int = 0
    batch: int = 32
    max_len: int = 128
    train_size: int | None = None     # first N training examples; None = the whole split
    eval_size: int | None = None      # first N validation and test examples (quick runs); None = all
    measure: bool = True              # memory breakdown and inference latency (costs ~1-2 s)
    optimizer: dict | None = None     # e.g. {"name": "loraplus", "ratio": 16}
    kind: str = "train"               # "train", "tfidf", "delta_w" (full FT + ΔW spectra), "subspace"
    extra: dict = field(default_factory=dict)   # kind-specific settings, e.g. {"ranks": [8, 64]}
    attention_dropout: float | None = None      # dropout on the attention probabilities; None = the model's default
    stage: str = "final"              # "lr_search" or "final"
    variant: str = ""                 # the series within a sweep, e.g. "alpha=16" vs "alpha=2r"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not one of {KINDS}")
        if self.stage not in ("lr_search", "final"):
            raise ValueError(f"stage={self.stage!r} must be 'lr_search' or 'final'")

    @property
    def search_group(self) -> tuple:
        """Finals with lr=SEARCH take the rate chosen by the lr_search runs of this group."""
        return self.label, self.variant, self.task, self.init

    def key(self) -> str:
        """Canonical JSON of what determines the result, plus the checkpoint's identity."""
        d = dataclasses.asdict(self)
        for name in ("label", "variant", "stage"):
            d.pop(name)
        if self.init == "pretrained":
            d["checkpoint"] = checkpoint_id()
        elif self.kind != "tfidf":  # random init takes only shape and vocabulary from the checkpoint
            d["architecture"] = architecture_id()
        if self.attention_dropout is None and self.kind != "tfidf":
            # the value the model will use, so that a new default invalidates the runs made with the old
            d["attention_dropout"] = model_dropouts()["attention_dropout"]
        d["data"] = data_id(self.task)  # other splits (e.g. after removing a leak) are other runs
        return json.dumps(d, sort_keys=True, ensure_ascii=False)

    def short(self) -> str:
        """A few words for the progress bar: "lora alpha=2r r=16 seed 1 lr 0.003"."""
        point = [f"{k}={self.config[k]}" for k in ("r", "bottleneck", "num_virtual_tokens") if k in self.config]
        size = [f"n={self.train_size}"] if self.train_size else []
        lr = [f"lr {self.lr:g}"] if isinstance(self.lr, float) else []
        return " ".join([self.label, self.variant, *point, *size, f"seed {self.seed}", *lr]).replace("  ", " ")

    def describe(self) -> dict:
        """The spec's part of a run record: every field, so ``Spec.from_record`` can re-run it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Spec:
        """The spec a run record came from (e.g. to re-run a committed result)."""
        names = [f.name for f in dataclasses.fields(cls)]
        if "attention_dropout" not in record:  # written before it was a field: attention used `dropout`
            record = {**record, "attention_dropout": model_dropouts()["dropout"]}
        missing = [n for n in names if n not in record]
        if missing:
            raise ValueError(f"the run record lacks {missing}: it was written by another version of "
                             f"peft_lab; re-run its sweep")
        return cls(**{n: record[n] for n in names})
