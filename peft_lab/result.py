"""What one ``fit`` returns: the recipe it ran and everything it measured, printed in the
current language (``pl.set_language``), with "not measured" where nothing was measured."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .i18n import TEXT, t
from .measured_memory import MemoryBreakdown
from .tasks import TASKS

MIB = 2**20


@dataclass
class RunResult:
    """Everything one training run measured, and the recipe that produced it."""
    method: str
    config: dict
    task: str
    seed: int
    steps: int
    lr: float
    metrics: dict                  # val_accuracy, val_f1, test_accuracy, test_f1 (or loss/perplexity)
    trainable_params: int
    total_params: int
    sec_per_step: float            # median wall time of one optimisation step
    train_seconds: float
    latency_ms: float | None = None          # median forward time of one batch, as trained
    latency_merged_ms: float | None = None   # the same after merging (mergeable methods only)
    memory: MemoryBreakdown = field(default_factory=MemoryBreakdown)
    history: list = field(default_factory=list)
    # the rest of the recipe (None: not recorded, e.g. a result built by hand)
    batch_size: int | None = None  # examples per optimisation step
    max_len: int | None = None     # tokens per example, [BOS] included; longer texts were cut
    train_size: int | None = None  # training examples the run drew its batches from
    eval_size: int | None = None   # validation (and test) examples evaluated
    measured: bool = True          # False: fit(measure=False), so memory and latency were not metered

    def __getattr__(self, name):  # result.test_accuracy -> result.metrics["test_accuracy"]
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        if name.startswith("test_") and any(k.startswith("val_") for k in metrics):
            raise AttributeError(f"{name} was not measured: the test split is evaluated only with "
                                 f"pl.fit(..., evaluate_test=True) (read it once, to report)")
        raise AttributeError(name)

    @property
    def trainable_share(self) -> float:
        return self.trainable_params / self.total_params

    def to_dict(self) -> dict:
        d = asdict(self)
        d["memory"] = self.memory.to_dict()
        return d

    def recipe(self) -> str:
        """One line naming what ran, enough to run it again."""
        def shown(value):
            return t("rr_unknown") if value is None else f"{value:,}"
        task = t(f"rr_task_{self.task}") if f"rr_task_{self.task}" in TEXT else self.task
        return t("rr_recipe", method=t(self.method) if self.method in TEXT else self.method, task=task,
                 steps=f"{self.steps:,}", batch_size=shown(self.batch_size), max_len=shown(self.max_len),
                 lr=f"{self.lr:g}", seed=self.seed, train_size=shown(self.train_size))

    def __str__(self) -> str:
        not_measured = t("rr_not_measured")
        rows = [(t("rr_metric", split=t(f"rr_{split}"), metric=t(f"rr_{metric}")),
                 f"{self.metrics[f'{split}_{metric}']:.4f}" if f"{split}_{metric}" in self.metrics else not_measured)
                for split, metric in self._expected_metrics()]
        shown = {f"{split}_{metric}" for split, metric in self._expected_metrics()}
        rows += [(key, f"{value:.4f}") for key, value in self.metrics.items() if key not in shown]
        rows += [(t("rr_trainable"), t("rr_trainable_value", trainable=f"{self.trainable_params:,}",
                                       total=f"{self.total_params:,}", share=f"{100 * self.trainable_share:.2f}")),
                 (t("rr_sec_per_step"), t("rr_ms", ms=f"{self.sec_per_step * 1000:.1f}"))]
        mib = {k: f"{v / MIB:.1f}" for k, v in self.memory.to_dict().items()}
        rows.append((t("rr_memory"), t("rr_memory_value", **mib) if self.measured else not_measured))
        latency = not_measured
        if self.measured and self.latency_ms is not None:
            latency = t("rr_latency_value", ms=f"{self.latency_ms:.2f}")
            if self.latency_merged_ms is not None:
                latency += t("rr_latency_merged", ms=f"{self.latency_merged_ms:.2f}")
        rows.append((t("rr_latency"), latency))
        return "\n".join([self.recipe()] + [t("rr_line", label=label, value=value) for label, value in rows])

    def _expected_metrics(self) -> list[tuple[str, str]]:
        """(split, metric) of every metric the task defines, so a missing one shows as not measured."""
        task = TASKS.get(self.task)
        if task is None:
            return []
        return [(split, metric) for split in (("val", "test") if task.has_test else ("val",))
                for metric in task.metrics]
