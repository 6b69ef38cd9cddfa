"""The recipe, the method table and every sweep, as lists of ``Spec``s.

The recipe below is the one place to change how long runs are: every run of every sweep uses
it, so methods differ only in what they train. ``python -m peft_lab.experiments all --plan``
prints what a change costs (runs and estimated time) before anything runs.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

import peft_lab as pl

from . import noise
from .identity import checkpoint_id
from .spec import SEARCH, Spec

# ----------------------------------------------------------------------------- the recipe
# Sized so that `all` (every sweep but the baselines) takes about an hour with --jobs 2 on a
# 2-core CPU: a run costs about its number of characters (steps x batch x length), and 250 steps
# x 128 characters took 3.4 hours, 200 x 96 was on course for 2. The baselines show what a
# longer budget reaches.
STEPS = 150            # AdamW steps of every run (x BATCH = 4,800 reviews, about a third of an epoch)
BATCH = 32             # examples per step
MAX_LEN = 64           # characters per example incl. [BOS]; 63 % of reviews fit whole
SEEDS = (0, 1, 2)      # methods, baselines
FEW_SEEDS = (0, 1)     # the slider sweeps: rank x scaling, bottleneck, prefix length, training-set size
TASK2_SEEDS = SEEDS    # the second task (segmentation): 3 seeds so its spread is known (57 runs, ~37 min)
# The baselines (pretrained vs random init) get a longer budget: whole reviews and ~3 epochs, so
# "does pretraining pay" is asked of models that have converged, not of a third of an epoch.
BASELINE = dict(steps=1300, max_len=256)
BASELINE_LOW_DATA = dict(steps=300, max_len=256)    # 1,000 reviews: ~10 epochs
# Full FT's rate per init, chosen on validation. The scratch grid holds the rates earlier growth
# steps added; its best, 1e-4, is still on the low edge, so the runner also tries 3e-5 below it
# (kept in results/baselines.json, worse on validation: 1e-4 is interior).
BASELINE_LR_GRID = {"pretrained": (2e-4, 5e-4, 1e-3), "scratch": (1e-4, 3e-4, 5e-4, 1e-3, 2e-3)}
# The notebooks' live re-run (run_sweep(name, quick=True)): a few points, one seed, < 30 s each.
QUICK = dict(steps=60, batch=16, max_len=64, train_size=300, eval_size=300, measure=False)

RANKS = (1, 2, 4, 8, 16, 32, 64)
RULE_RANKS = (1, 8, 64)            # alpha = 2r and rsLoRA next to alpha = 16 (every rank)
BOTTLENECKS = (4, 8, 16, 32, 64)   # m < d = 128 (an adapter as wide as the layer saves nothing)
PREFIX_LENGTHS = (1, 2, 4, 8, 16, 32, 64)   # prefix tuning; prompt tuning at PROMPT_LENGTHS
PROMPT_LENGTHS = (1, 4, 16, 64)
TRAIN_SIZES = (100, 300, 1000, 3000, None)   # None = the whole training split
LOW_DATA = 1000                              # the baselines' low-data split
LORA_BESIDE_DYLORA = (1, 2, 4, 8)            # LoRA trained separately at these ranks, beside DyLoRA
LORAPLUS_RATIOS = (1, 2, 4, 8, 16, 32)       # lr_B / lr_A; 1 is plain LoRA, 16 the paper's default
FAILURE_LR_FACTOR = 10                       # "learning rate too high": 10x the rate chosen on validation
FAILURE_STEPS = 15                           # "too few steps": a tenth of STEPS
FAILURE_B_STD = 0.3                          # "B initialised non-zero": B ~ N(0, 0.3^2)
ATTENTION_DROPOUTS = (0.0, 0.1)              # 0.1: every run before issue 15; 0.0: a faster step
PROMPT_INIT = {"sentiment": "这条评论的情感是", "segmentation": "把这句话切分成词语"}


@dataclass(frozen=True)
class Method:
    """A row of the comparison: a display label, a config, and the learning rates searched."""
    label: str                     # key of the palette and the language table
    config: pl.methods.PeftConfig
    lr_grid: tuple[float, ...]     # searched on validation with seed 0; the middle is the default
    optimizer: dict | None = None  # LoRA+ is an optimizer, not a layer

    @property
    def default_lr(self) -> float:
        return self.lr_grid[len(self.lr_grid) // 2]


def method_table(task: str = "sentiment") -> list[Method]:
    """Every method of the comparison with its default config and learning-rate grid.

    Grids are half a decade apart. The fewer (and the smaller at init) the parameters a method
    trains, the larger its rates; an MLP reparameterisation (P-Tuning, prefix tuning) amplifies
    steps, so it needs smaller ones. Each grid is centred where an earlier methods sweep
    (250 steps x 128 characters) found the best rate on validation; a grid whose best rate
    still lands on its edge grows past it when the sweep runs (``lr_search.edge_extensions``).
    """
    tiny, low, mid = (3e-4, 1e-3, 3e-3), (1e-3, 3e-3, 1e-2), (3e-3, 1e-2, 3e-2)
    high, top = (1e-2, 3e-2, 1e-1), (3e-2, 1e-1, 3e-1)
    # Every LoRA-family row adapts all linear layers (the QLoRA paper's finding, and HF PEFT's
    # "all-linear"); "lora_qv" keeps the LoRA paper's q_proj, v_proj for comparison.
    lora = {"r": 8, "alpha": 16, "target_modules": "all-linear"}
    return [
        Method("full", pl.FullFineTuningConfig(), tiny),
        Method("head_only", pl.HeadOnlyConfig(), mid),
        Method("bitfit", pl.BitFitConfig(), mid),
        Method("lora", pl.LoRAConfig(**lora), low),
        Method("lora_qv", pl.LoRAConfig(**{**lora, "target_modules": ("q_proj", "v_proj")}), low),
        Method("rslora", pl.LoRAConfig(**lora, use_rslora=True), low),
        Method("dora", pl.LoRAConfig(**lora, use_dora=True), low),
        Method("loraplus", pl.LoRAConfig(**lora), tiny, {"name": "loraplus", "ratio": 16}),  # B at 16x
        Method("dylora", pl.DyLoRAConfig(**lora), low),
        Method("adalora", pl.AdaLoRAConfig(init_r=12, target_r=8), high),
        Method("qlora", pl.QLoRAConfig(r=8, alpha=16), low),
        Method("adapter_houlsby", pl.AdapterConfig(bottleneck=32, placement="houlsby"), mid),
        Method("adapter_pfeiffer", pl.AdapterConfig(bottleneck=32, placement="pfeiffer"), low),
        Method("adapter_parallel", pl.AdapterConfig(bottleneck=32, placement="parallel"), low),
        Method("prompt_tuning", pl.PromptTuningConfig(num_virtual_tokens=16, init_text=PROMPT_INIT[task]), high),
        Method("p_tuning", pl.PTuningConfig(num_virtual_tokens=16, encoder_hidden_size=128), mid),
        Method("prefix_tuning", pl.PrefixTuningConfig(num_virtual_tokens=16, encoder_hidden_size=128), low),
        Method("p_tuning_v2", pl.PTuningV2Config(num_virtual_tokens=16), high),
        Method("ia3", pl.IA3Config(), top),
    ]


def method(label: str, task: str = "sentiment") -> Method:
    table = {m.label: m for m in method_table(task)}
    if label not in table:
        raise ValueError(f"unknown method label {label!r}; known: {sorted(table)}")
    return table[label]


def recipe(quick: bool) -> dict:
    if quick:
        return dict(QUICK)
    return dict(steps=STEPS, batch=BATCH, max_len=MAX_LEN, train_size=None, eval_size=None, measure=True)


def spec(m: Method, quick: bool, config: pl.methods.PeftConfig | None = None, **fields) -> Spec:
    """A Spec of method ``m`` with the recipe; ``fields`` override (seed, lr, stage, ...)."""
    config = m.config if config is None else config
    return Spec(**{"label": m.label, "method": config.method, "config": config.to_dict(),
                   "optimizer": m.optimizer, **recipe(quick), **fields})


# ----------------------------------------------------------------------------- learning rates

def tuned_lrs(results_dir) -> tuple[dict[str, float], str]:
    """The rates the ``methods`` sweep chose on validation, by label, and where they came from.

    Sweeps behind the sliders reuse them (a search per point would multiply the budget). Without
    ``results/methods.json`` for this checkpoint, every method falls back to its grid's middle.
    """
    path = results_dir / "methods.json"
    if not path.exists():
        return {}, "default (middle of each grid): no results/methods.json yet, run the methods sweep first"
    results = json.loads(path.read_text(encoding="utf-8"))
    if results["meta"].get("checkpoint") != checkpoint_id():
        return {}, "default (middle of each grid): results/methods.json is from another checkpoint"
    chosen = {r["label"]: r["lr"] for r in results["runs"] if r["stage"] == "final"}
    return chosen, "chosen on validation by the methods sweep (results/methods.json)"


def tuned_attention_dropout(results_dir) -> tuple[float | None, str]:
    """The attention dropout the ``attention_dropout`` sweep chose on validation, and where it came from.

    The faster step (no dropout on the attention probabilities: torch's fused kernel) unless the
    other value is better on validation beyond noise (``noise.compare``: seed spread and the
    validation split's sampling error) for full FT or for LoRA -- the cheaper of two settings the
    data cannot tell apart, as ``noise.smallest_within_noise`` chooses a rank. Without
    ``results/attention_dropout.json`` for this checkpoint: None, the model's default.
    """
    path = results_dir / "attention_dropout.json"
    if not path.exists():
        return None, ("the model's default: no results/attention_dropout.json yet, run the attention_dropout "
                      "sweep first")
    results = json.loads(path.read_text(encoding="utf-8"))
    if results["meta"].get("checkpoint") != checkpoint_id():
        return None, "the model's default: results/attention_dropout.json is from another checkpoint"
    values = sorted({r["attention_dropout"] for r in results["runs"] if r["stage"] == "final"})
    if len(values) != 2 or 0.0 not in values:
        raise ValueError(f"{path} must compare attention dropout 0.0 with one other value, found {values}: "
                         f"re-run its sweep")
    other = values[1]
    n_val = len(pl.data.load_sentiment()["validation"])
    verdicts = {label: noise.compare(results, other, 0.0, n_val, by="attention_dropout", metric="val_accuracy",
                                     where={"label": label})
                for label in sorted({r["label"] for r in results["runs"]})}
    better = [label for label, c in verdicts.items() if c["difference"] > 0 and not c["within_noise"]]
    chosen = other if better else 0.0
    summary = "; ".join(f"{label}: {100 * c['difference']:+.2f} points for {other:g} vs 0 "
                        f"(noise ±{100 * c['threshold']:.2f})" for label, c in verdicts.items())
    return chosen, (f"{chosen:g}, chosen on validation by the attention_dropout sweep (results/attention_dropout.json;"
                    f" 0 unless {other:g} is better beyond noise: {summary})")


class Context:
    """What building a sweep may consult: quick or not, the tuned learning rates and the tuned
    attention dropout that every sweep after ``attention_dropout`` trains with."""

    def __init__(self, quick: bool, results_dir):
        self.quick = quick
        self.lrs, self.lr_source = ({}, "default (quick run)") if quick else tuned_lrs(results_dir)
        self.attention_dropout, self.attention_dropout_source = (
            (None, "the model's default (quick run)") if quick else tuned_attention_dropout(results_dir))

    def lr(self, m: Method) -> float:
        return self.lrs.get(m.label, m.default_lr)

    def spec(self, m: Method, config: pl.methods.PeftConfig | None = None, **fields) -> Spec:
        """``spec`` with this context's recipe (quick or not) and attention dropout."""
        return spec(m, self.quick, config, **{"attention_dropout": self.attention_dropout, **fields})

    def seeds(self, seeds: tuple[int, ...]) -> tuple[int, ...]:
        return seeds[:1] if self.quick else seeds

    def points(self, full: tuple, quick: tuple) -> tuple:
        return quick if self.quick else full


# ----------------------------------------------------------------------------- the sweeps

def attention_dropout_sweep(ctx: Context) -> list[Spec]:
    """Full FT and LoRA (the method table's rows) with dropout on the attention probabilities at
    each of ATTENTION_DROPOUTS, SEEDS, at each grid's middle rate (the methods sweep has not
    chosen any yet); later sweeps train at the value with the better mean validation accuracy."""
    return [spec(m, ctx.quick, attention_dropout=p, variant=f"attention_dropout={p:g}", seed=s, lr=m.default_lr)
            for m in (method("full"), method("lora")) for p in ATTENTION_DROPOUTS for s in ctx.seeds(SEEDS)]


def methods_sweep(ctx: Context) -> list[Spec]:
    """Every method: lr chosen on validation (seed 0; a grid whose best rate is on its edge grows
    past it), then SEEDS at that rate (seed 0 reused)."""
    table = method_table()
    if ctx.quick:
        return [ctx.spec(m, seed=0, lr=m.default_lr) for m in table if m.label in ("full", "lora", "prompt_tuning")]
    search = [ctx.spec(m, seed=0, lr=lr, stage="lr_search") for m in table for lr in m.lr_grid]
    return search + [ctx.spec(m, seed=s, lr=SEARCH) for m in table for s in SEEDS]


def segmentation_sweep(ctx: Context) -> list[Spec]:
    """The same methods on word segmentation, at the rates chosen on sentiment validation."""
    table = method_table("segmentation")
    if ctx.quick:
        table = [m for m in table if m.label in ("full", "lora")]
    return [ctx.spec(m, seed=s, lr=ctx.lr(m), task="segmentation", measure=False)
            for m in table for s in ctx.seeds(TASK2_SEEDS)]


def baselines_sweep(ctx: Context) -> list[Spec]:
    """Does pretraining pay? Full FT and head only, from the checkpoint and from random init, on the
    whole training split (BASELINE budget) and on LOW_DATA reviews (BASELINE_LOW_DATA), SEEDS each;
    TF-IDF + logistic regression on the same splits.

    Full FT chooses its rate per init on validation (seed 0, whole split) from BASELINE_LR_GRID and
    uses it on both splits; head only uses the rate the methods sweep chose."""
    if ctx.quick:
        full = method("full")
        specs = [ctx.spec(full, seed=0, lr=full.default_lr, init=init, train_size=QUICK["train_size"])
                 for init in ("pretrained", "scratch")]
        sizes = (QUICK["train_size"],)
    else:
        sizes = (None, LOW_DATA)
        budget = {None: BASELINE, LOW_DATA: BASELINE_LOW_DATA}
        full, head = method("full"), method("head_only")
        specs = []
        for init, grid in BASELINE_LR_GRID.items():
            specs += [ctx.spec(full, seed=0, lr=lr, init=init, stage="lr_search", measure=False, **BASELINE)
                      for lr in grid]
            specs += [ctx.spec(m, seed=s, lr=SEARCH if m is full else ctx.lr(head), init=init,
                           train_size=n, measure=False, **budget[n])
                      for m in (full, head) for n in sizes for s in SEEDS]
    tfidf = {"analyzer": "char", "ngram_range": [1, 3], "sublinear_tf": True, "C_grid": [0.3, 1.0, 3.0, 10.0]}
    specs += [Spec(label="tfidf", method="tfidf", kind="tfidf", config=tfidf, steps=0, init="none",
                   train_size=n, eval_size=QUICK["eval_size"] if ctx.quick else None) for n in sizes]
    return specs


def lora_rank_sweep(ctx: Context) -> list[Spec]:
    """LoRA at every rank with alpha fixed at 16 (scaling 16/r), and at RULE_RANKS under the two
    other scaling rules: alpha = 2r (scaling 2, as at r = 8) and rsLoRA (16/sqrt(r)); all at
    LoRA's tuned rate."""
    rules = {"alpha=16": lambda r: dict(alpha=16), "alpha=2r": lambda r: dict(alpha=2 * r),
             "rslora": lambda r: dict(alpha=16, use_rslora=True)}
    if ctx.quick:
        rules = {"alpha=16": rules["alpha=16"]}
    m = method("lora")
    ranks = {name: ctx.points(RANKS if name == "alpha=16" else RULE_RANKS, (2, 8, 32)) for name in rules}
    return [ctx.spec(m, config=pl.LoRAConfig(r=r, target_modules="all-linear", **rule(r)),
                 label="rslora" if name == "rslora" else "lora", variant=name, seed=s, lr=ctx.lr(m))
            for name, rule in rules.items() for r in ranks[name] for s in ctx.seeds(FEW_SEEDS)]


def adapter_bottleneck_sweep(ctx: Context) -> list[Spec]:
    """Houlsby adapters at every bottleneck width m."""
    m = method("adapter_houlsby")
    return [ctx.spec(m, config=pl.AdapterConfig(bottleneck=b, placement="houlsby"), seed=s, lr=ctx.lr(m))
            for b in ctx.points(BOTTLENECKS, (8, 32, 64)) for s in ctx.seeds(FEW_SEEDS)]


def prefix_length_sweep(ctx: Context) -> list[Spec]:
    """Prefix tuning (every layer) at PREFIX_LENGTHS and prompt tuning (input only) at PROMPT_LENGTHS."""
    def config(label, L):
        if label == "prefix_tuning":
            return pl.PrefixTuningConfig(num_virtual_tokens=L, encoder_hidden_size=128)
        return pl.PromptTuningConfig(num_virtual_tokens=L, init_text=PROMPT_INIT["sentiment"])
    labels = ("prefix_tuning",) if ctx.quick else ("prefix_tuning", "prompt_tuning")
    lengths = {"prefix_tuning": PREFIX_LENGTHS, "prompt_tuning": PROMPT_LENGTHS}
    return [ctx.spec(method(label), config=config(label, L), seed=s, lr=ctx.lr(method(label)))
            for label in labels for L in ctx.points(lengths[label], (4, 16, 64)) for s in ctx.seeds(FEW_SEEDS)]


def train_size_sweep(ctx: Context) -> list[Spec]:
    """Full FT vs LoRA vs head only as the training set shrinks: where PEFT's advantage shows."""
    total = len(pl.data.load_sentiment()["train"])
    sizes = [total if n is None else n for n in ctx.points(TRAIN_SIZES, (100, 1000))]
    labels = ("full", "lora") if ctx.quick else ("full", "lora", "head_only")
    return [ctx.spec(method(label), train_size=n, seed=s, lr=ctx.lr(method(label)), measure=False)
            for label in labels for n in sizes for s in ctx.seeds(FEW_SEEDS)]


def delta_w_sweep(ctx: Context) -> list[Spec]:
    """ΔW = W - W0 of full fine-tuning (spectra vs random), and the subspace similarity of the
    A matrices of LoRA trained at r = 8 and r = 64 (alpha = 2r: the same scaling at both ranks)."""
    full, lora = method("full"), method("lora")
    return [ctx.spec(full, kind="delta_w", seed=0, lr=ctx.lr(full), measure=False),
            ctx.spec(lora, kind="subspace", seed=0, lr=ctx.lr(lora), measure=False,
                 extra={"ranks": [8, 64], "alpha_over_r": 2})]


# The LoRA specs of dylora_ranks are those of lora_rank (and, at r = 8, of methods): a run with the
# same key is the same computation, so results/dylora_ranks.json carries the 9 that results/lora_rank.json
# and results/methods.json already held (records marked "carried", with "carried_from"; api.carry_over
# into the journal before the sweep ran) and computed the DyLoRA runs and LoRA r = 1, 2, 4 at seed 2.
# Its DyLoRA runs at rank 8 repeat results/methods.json's DyLoRA accuracies exactly.
def dylora_ranks_sweep(ctx: Context) -> list[Spec]:
    """DyLoRA (the method table's row: r_max = 8 on every linear layer) trained once per seed, then
    evaluated at every rank b = 1..r_max from the same weights (details.by_rank); beside it LoRA
    trained separately at LORA_BESIDE_DYLORA ranks (alpha 16, the lora_rank sweep's specs), both
    with the recipe, SEEDS and the rate the methods sweep chose on validation."""
    dylora, lora = method("dylora"), method("lora")
    ranks = list(range(1, dylora.config.r + 1))
    seeds = ctx.seeds(SEEDS)
    specs = [ctx.spec(dylora, seed=s, lr=ctx.lr(dylora), extra={"eval_ranks": ranks}) for s in seeds]
    return specs + [ctx.spec(lora, config=dataclasses.replace(lora.config, r=r), variant="alpha=16", seed=s,
                         lr=ctx.lr(lora)) for r in ctx.points(LORA_BESIDE_DYLORA, (2, 8)) for s in seeds]


def loraplus_ratio_sweep(ctx: Context) -> list[Spec]:
    """LoRA+ (the method table's row) at every ratio lr_B / lr_A of LORAPLUS_RATIOS, FEW_SEEDS, at
    the rate the methods sweep chose for LoRA+ (the rate of A): ratio 1 is plain LoRA at that rate."""
    m = method("loraplus")
    return [ctx.spec(m, optimizer={**m.optimizer, "ratio": ratio}, variant=f"ratio={ratio}", seed=s,
                 lr=ctx.lr(m))
            for ratio in ctx.points(LORAPLUS_RATIOS, (1, 16)) for s in ctx.seeds(FEW_SEEDS)]


def failures_sweep(ctx: Context) -> list[Spec]:
    """The troubleshooting table's failures at the full recipe, FEW_SEEDS, beside their healthy
    counterparts (variant "fail_healthy": the method table's row at the rate the methods sweep
    chose). LoRA with FAILURE_LR_FACTOR x its rate ("fail_lr_high"), FAILURE_STEPS steps
    ("fail_few_steps"), B drawn from N(0, FAILURE_B_STD^2) ("fail_b_nonzero") or every parameter
    trainable again after apply ("fail_not_frozen"); prefix tuning trained without its MLP
    reparameterisation at the same rate ("fail_prefix_direct"). A rank too small is read from the
    lora_rank sweep (failures.rank_too_small)."""
    lora, prefix = method("lora"), method("prefix_tuning")
    lr, seeds = ctx.lr(lora), ctx.seeds(FEW_SEEDS)
    lora_runs = {"fail_healthy": {}, "fail_lr_high": {"lr": lr * FAILURE_LR_FACTOR},
                 "fail_few_steps": {"steps": FAILURE_STEPS},
                 "fail_b_nonzero": {"extra": {"failure": "fail_b_nonzero", "std": FAILURE_B_STD}},
                 "fail_not_frozen": {"extra": {"failure": "fail_not_frozen"}}}
    specs = [ctx.spec(lora, variant=mode, seed=s, **{"lr": lr, **fields})
             for mode, fields in lora_runs.items() for s in seeds]
    direct = dataclasses.replace(prefix.config, projection=False)
    return specs + [ctx.spec(prefix, config=config, variant=mode, seed=s, lr=ctx.lr(prefix))
                    for mode, config in (("fail_healthy", prefix.config), ("fail_prefix_direct", direct))
                    for s in seeds]


def repro_sweep(ctx: Context) -> list[Spec]:
    """One tiny, cheap run that tests/test_experiments.py re-runs against the committed value."""
    return [Spec(label="lora", method="lora", config=pl.LoRAConfig(r=4, alpha=8).to_dict(), seed=0, lr=5e-3,
                 steps=30, batch=16, max_len=64, train_size=256, eval_size=500, measure=False)]


@dataclass(frozen=True)
class Sweep:
    name: str
    build: Callable[[Context], list[Spec]]
    group_by: tuple[str, ...]   # how the summary table groups runs


SWEEPS = {s.name: s for s in [
    Sweep("attention_dropout", attention_dropout_sweep, ("label", "attention_dropout")),
    Sweep("repro", repro_sweep, ("label",)),
    Sweep("methods", methods_sweep, ("label",)),
    Sweep("segmentation", segmentation_sweep, ("label",)),
    Sweep("train_size", train_size_sweep, ("label", "train_size")),
    Sweep("failures", failures_sweep, ("label", "variant")),
    Sweep("dylora_ranks", dylora_ranks_sweep, ("label", "config.r")),
    Sweep("lora_rank", lora_rank_sweep, ("variant", "config.r")),
    Sweep("adapter_bottleneck", adapter_bottleneck_sweep, ("label", "config.bottleneck")),
    Sweep("prefix_length", prefix_length_sweep, ("label", "config.num_virtual_tokens")),
    Sweep("loraplus_ratio", loraplus_ratio_sweep, ("label", "optimizer.ratio")),
    Sweep("delta_w", delta_w_sweep, ("label", "kind")),
    Sweep("baselines", baselines_sweep, ("label", "init", "train_size")),
]}  # `all` runs them in this order: `attention_dropout` chooses the attention dropout every later sweep
# trains with (the repro run excepted: it is a fixed designated run), `methods` the rates they reuse;
# the comparison's other sweeps follow, so a long run that is cut short has those first
# `all` is issue 6's comparison: every sweep but `baselines`, which answers "does pretraining pay"
# at its own, longer budget and is run by name: the runs in results/baselines.json took 158 min of
# compute together (the sum of their wall_seconds; about 80 min with --jobs 2).
ALL = tuple(name for name in SWEEPS if name != "baselines")


def get_sweep(name: str) -> Sweep:
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}; known sweeps: {', '.join(SWEEPS)} (or 'all')")
    return SWEEPS[name]
