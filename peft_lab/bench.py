"""Measured side by side: what each method costs per training step and at inference.

    python -m peft_lab.bench                 # about 3 minutes on a 2-core CPU
    python -m peft_lab.bench --quick         # a few seconds: small batch, few rounds
    python -m peft_lab.bench --json bench.json   # --overwrite to replace it
    python -m peft_lab.bench --fit-overhead  # what pl.fit costs besides its training steps
    python -m peft_lab.bench --attention     # step time with attention dropout 0.1 vs 0.0 (~3 minutes)

Every number is a ratio to a reference measured in the same run -- training step time relative
to full fine-tuning (same batch), inference latency relative to the base model, peft_lab's LoRA
relative to HF PEFT's LoRA on the same TinyTransformer -- reported with the median and the
interquartile range (IQR) it comes from. Measurements are interleaved round-robin (every round
times each variant once, in a rotated order) and each ratio is the median of per-round ratios,
so a machine that gets busier or quieter during the run shifts numerator and denominator alike.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import methods
from .methods.soft_prompt import fold
from .tasks import get_task
from .train import default_optimizer, set_seed, train_step

INFERENCE_VARIANTS = ("base", "lora_unmerged", "lora_merged", "adapter_houlsby", "prefix_folded", "ia3_merged")


@dataclass(frozen=True)
class Settings:
    batch: int = 32       # examples per step / forward pass
    max_len: int = 128    # tokens per example (real reviews are trimmed to the batch's longest)
    rounds: int = 30      # timed rounds; every round times every variant once
    warmup: int = 3       # untimed rounds first (allocator, caches, AdaLoRA/DyLoRA state)


FULL, QUICK = Settings(), Settings(batch=8, max_len=32, rounds=5, warmup=1)


# ----------------------------------------------------------------------------- measuring

def interleaved(fns: dict[str, Callable[[], object]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each call, ``rounds`` times, round-robin; round i starts at variant i mod n."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def relative(times: dict[str, list[float]], reference: str) -> dict:
    """Per variant: median and IQR in ms, and the median and IQR of its per-round ratio to ``reference``."""
    rows = {}
    for name, ts in times.items():
        q1, med, q3 = quartiles(ts)
        r1, ratio, r3 = quartiles([sec / ref for sec, ref in zip(ts, times[reference])])
        rows[name] = {"median_ms": 1000 * med, "iqr_ms": [1000 * q1, 1000 * q3],
                      "ratio": ratio, "ratio_iqr": [r1, r3]}
    return {"reference": reference, "rows": rows}


# ----------------------------------------------------------------------------- what is timed

def training_step(model: nn.Module, batch, optimizer=None, hooks=None) -> Callable[[], float]:
    """One optimisation step exactly as ``pl.fit`` takes it (``train.train_step``: forward, method hooks,
    backward, clip, AdamW), at a constant learning rate. ``hooks``: the applied method's by default."""
    task, steps = get_task("sentiment"), itertools.count()
    opt = optimizer(model, 1e-4) if optimizer else default_optimizer(model, 1e-4)
    hooks = methods.training_hooks(model) if hooks is None else list(hooks)
    for h in hooks:
        h.on_train_begin(model, 10**6)
    model.train()
    return lambda: train_step(model, task, batch, opt, next(steps), hooks)


def inference(model: nn.Module, batch) -> Callable[[], None]:
    ids, mask, _ = batch
    model.eval()

    @torch.no_grad()
    def forward() -> None:
        model(ids, attention_mask=mask)
    return forward


def timing_config(config):
    """A method's config for timing: a prompt initialised at random costs the same as from text."""
    return dataclasses.replace(config, init_text=None) if hasattr(config, "init_text") else config


def inference_model(variant: str, make: Callable[[], nn.Module]) -> nn.Module:
    model = make()
    if variant == "base":
        return model
    config = {"lora": methods.LoRAConfig(r=8, alpha=16), "adapter": methods.AdapterConfig(bottleneck=32),
              "prefix": methods.PrefixTuningConfig(num_virtual_tokens=16), "ia3": methods.IA3Config()}
    methods.apply(model, config[variant.split("_")[0]])
    if variant.endswith("_merged"):
        methods.merge(model)
    if variant == "prefix_folded":
        fold(model)
    return model


def hf_lora(make: Callable[[], nn.Module]) -> nn.Module:
    """HF PEFT's LoRA with the same r, alpha and targets; the head trains too (modules_to_save)."""
    try:
        import peft
    except ModuleNotFoundError as e:
        raise RuntimeError("the HF PEFT comparison needs peft: pip install -e '.[dev]'") from e
    return peft.get_peft_model(make(), peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                       target_modules=["q_proj", "v_proj"], modules_to_save=["head"]))


# ----------------------------------------------------------------------------- the benchmark

def pretrained_setup(settings: Settings):
    """The shipped checkpoint with a fresh cls head, and the first reviews of the training split."""
    from .hub import load_pretrained

    def make() -> nn.Module:
        return load_pretrained("cls", 2)
    model = make()
    batch = get_task("sentiment").encode(model.vocab, "train", settings.max_len).batch(torch.arange(settings.batch))
    return make, batch


def run(quick: bool = False, make: Callable[[], nn.Module] | None = None, batch=None,
        settings: Settings | None = None, hf: bool = True) -> dict:
    """Measure everything and return the report (see ``format_report``).

    ``make()`` builds a fresh model (default: the pretrained checkpoint, cls head) and ``batch``
    is (ids, mask, labels) for it (default: real reviews).
    """
    from .experiments.execute import optimizer_from
    from .experiments.sweeps import method_table
    settings = settings or (QUICK if quick else FULL)
    if make is None:
        make, batch = pretrained_setup(settings)
    elif batch is None:
        raise ValueError("with a custom make(), pass batch=(ids, mask, labels) for that model")

    def build(config) -> nn.Module:
        set_seed(0)
        return methods.apply(make(), timing_config(config))

    train_fns = {m.label: training_step(build(m.config), batch, optimizer_from(m.optimizer))
                 for m in method_table()}
    report = {"training_step": relative(interleaved(train_fns, settings.rounds, settings.warmup), "full")}
    infer_fns = {v: inference(inference_model(v, make), batch) for v in INFERENCE_VARIANTS}
    report["inference"] = relative(interleaved(infer_fns, settings.rounds, settings.warmup), "base")
    if hf:
        ours, theirs = build(methods.LoRAConfig(r=8, alpha=16)), hf_lora(make)
        pair = {"peft_lab": training_step(ours, batch),  # HF PEFT's model carries no peft_lab method:
                "hf_peft": training_step(theirs, batch, hooks=())}  # no hooks to ask for
        report["hf_training_step"] = relative(interleaved(pair, settings.rounds, settings.warmup), "hf_peft")
        pair = {"peft_lab": inference(ours, batch), "hf_peft": inference(theirs, batch)}
        report["hf_inference"] = relative(interleaved(pair, settings.rounds, settings.warmup), "hf_peft")
    report["meta"] = report_meta(settings, batch[0].shape[1], sum(p.numel() for p in make().parameters()))
    return report


def report_meta(settings: Settings, tokens_per_example: int, model_parameters: int) -> dict:
    """Where a report's numbers come from: when, with which settings, on which checkpoint
    (``experiments.identity.checkpoint_id``) and commit (``git rev-parse HEAD``, "unknown" outside a git
    checkout), with which versions and on which machine (its torch threads included)."""
    from .experiments.api import git_commit, machine, versions
    from .experiments.identity import checkpoint_id
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "settings": dataclasses.asdict(settings) | {"tokens_per_example": tokens_per_example},
            "model_parameters": model_parameters, "checkpoint": checkpoint_id(),
            "git_commit": git_commit() or "unknown", "versions": versions(), "machine": machine()}


# ----------------------------------------------------------------------------- fit's fixed cost

FIT_MODES = {"default metrics (validation, memory, latency)": {},
             "measure=False": {"measure": False},
             "evaluate_test=True (the sweeps' report)": {"evaluate_test": True}}


def timed_fit(steps: int, **kwargs) -> dict[str, float]:
    """One LoRA (r=8 on q_proj, v_proj) ``pl.fit`` from the shipped checkpoint, default recipe:
    total seconds of the call, its training loop (``RunResult.train_seconds``) and the rest --
    encoding, evaluation and metering, the fixed cost a learner waits for whatever ``steps`` is."""
    from . import fit
    from .hub import load_pretrained
    set_seed(0)
    model = methods.apply(load_pretrained("cls", 2), methods.LoRAConfig(r=8, alpha=16))
    t0 = time.perf_counter()
    result = fit(model, "sentiment", steps, progress=False, **kwargs)
    total = time.perf_counter() - t0
    return {"total": total, "training": result.train_seconds, "fixed": total - result.train_seconds}


def fit_overhead(repeats: int = 3, steps: int = 20) -> dict:
    """Time ``fit`` in each of ``FIT_MODES``, ``repeats`` times round-robin; median and range per part.

    The process's first fit also reads and encodes the corpus (cached afterwards), so it is
    reported apart as ``first``."""
    first = timed_fit(steps)
    runs: dict[str, list[dict]] = {name: [] for name in FIT_MODES}
    interleaved({name: (lambda name=name: runs[name].append(timed_fit(steps, **FIT_MODES[name])))
                 for name in FIT_MODES}, repeats, warmup=0)
    rows = {name: {part: {"median": statistics.median(r[part] for r in rs), "min": min(r[part] for r in rs),
                          "max": max(r[part] for r in rs)} for part in ("total", "training", "fixed")}
            for name, rs in runs.items()}
    return {"first": first, "rows": rows, "meta": {"steps": steps, "repeats": repeats,
                                                    "threads": torch.get_num_threads()}}


def format_fit_overhead(report: dict) -> str:
    m = report["meta"]
    lines = [f"{m['steps']}-step LoRA fit (r=8 on q_proj, v_proj; fit's default batch, max_len, splits), "
             f"torch threads {m['threads']}", f"seconds; median of {m['repeats']} [min-max], modes interleaved",
             f"  {'':<44} {'total':>16} {'training':>16} {'fixed cost':>16}"]
    first = report["first"]
    lines.append(f"  {'first fit (also reads the corpus)':<44} " +
                 " ".join(f"{first[p]:16.2f}" for p in ("total", "training", "fixed")))
    for name, row in report["rows"].items():
        lines.append(f"  {name:<44} " + " ".join(
            f"{row[p]['median']:6.2f} [{row[p]['min']:.2f}-{row[p]['max']:.2f}]".rjust(16)
            for p in ("total", "training", "fixed")))
    return "\n".join(lines)


def format_report(report: dict) -> str:
    titles = {"training_step": "training step, relative to full fine-tuning (same batch)",
              "inference": "inference latency, relative to the base model",
              "hf_training_step": "training step, peft_lab LoRA relative to HF PEFT LoRA",
              "hf_inference": "inference latency (unmerged), peft_lab LoRA relative to HF PEFT LoRA"}
    s = report["meta"]["settings"]
    header = (f"batch {s['batch']} x {s['tokens_per_example']} tokens, {s['rounds']} interleaved rounds; "
              f"ratio = median of per-round ratios [IQR]")
    lines = [header]
    for key, title in titles.items():
        if key not in report:
            continue
        lines += ["", title]
        for name, r in report[key]["rows"].items():
            lines.append(f"  {name:<18} {r['median_ms']:8.2f} ms [{r['iqr_ms'][0]:.2f}-{r['iqr_ms'][1]:.2f}]"
                         f"   x{r['ratio']:.2f} [{r['ratio_iqr'][0]:.2f}-{r['ratio_iqr'][1]:.2f}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m peft_lab.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small batch, few rounds (seconds)")
    p.add_argument("--json", type=str, default=None, metavar="PATH", help="also save the report as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--no-hf", action="store_true", help="skip the comparison with HF PEFT")
    p.add_argument("--fit-overhead", action="store_true",
                   help="instead: total, training and fixed seconds of a 20-step LoRA pl.fit")
    p.add_argument("--repeats", type=int, default=3, help="--fit-overhead: fits per mode (median reported)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the tiny model gains little from more, and on a busy "
                        "machine a second thread that waits for a core makes every timing erratic)")
    p.add_argument("--attention", action="store_true",
                   help="instead: training step time with attention dropout 0.1 (old) vs 0.0 (new), full FT and "
                        "LoRA, at the sweeps' and the baselines' batch x length")
    p.add_argument("--widths", type=int, nargs="*", default=None, metavar="D",
                   help=f"instead: LoRA's step time relative to full FT as d_model grows (default {WIDTHS})")
    args = p.parse_args(argv)
    if args.json and Path(args.json).exists() and not args.overwrite:
        print(f"not overwriting {args.json}: it exists. Pass --overwrite to replace it, or choose another "
              f"path.", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    if args.fit_overhead:
        print(format_fit_overhead(fit_overhead(args.repeats)))
        return 0
    if args.widths is not None:
        return widths_main(args, argv)
    if args.attention:
        return attention_main(args, argv)
    report = run(quick=args.quick, hf=not args.no_hf)
    report["meta"]["command"] = " ".join(["python -m peft_lab.bench", *(sys.argv[1:] if argv is None else argv)])
    print(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=1)
        print(f"\nwrote {args.json}")
    return 0


# ============================================================================= step time as the model widens
# python -m peft_lab.bench --widths [D ...] --json results/lora_width.json
#
# On the 1.3 M-parameter model a LoRA step is about as slow as a full fine-tuning step, although
# the FLOP count (peft_lab.budget.flops) says ~0.76x. The FLOP count weighs every FLOP alike; on
# a CPU the narrow r-wide products and the extra element-wise passes over each (tokens x d)
# activation cost far more per FLOP than the large d x k products, and they grow only like d
# while the products grow like d^2. Widening the same architecture shows where LoRA starts to
# pay: the measured ratio per width beside the FLOP model's.

WIDTHS = (64, 128, 256, 512, 768, 1024)   # d_model; d_ff = 4 d_model; layers, heads, vocabulary as the checkpoint
WIDTH_METHOD = "lora"                     # the method table's LoRA row (r = 8, alpha 16, every block linear)
WIDTH_SETTINGS = Settings(batch=8, max_len=64, rounds=15, warmup=2)   # ~5 min on an idle core; 15 min shared
WIDTH_QUICK = Settings(batch=4, max_len=32, rounds=3, warmup=1)


def widened(d_model: int) -> Callable[[], nn.Module]:
    """make() for the checkpoint's architecture at width ``d_model`` (d_ff = 4 d_model; layers,
    heads, vocabulary and attention mode unchanged), randomly initialised, with a cls head: step
    time does not depend on what the weights hold."""
    from .experiments.execute import scratch_model
    return lambda: scratch_model("cls", 2, d_model=d_model, d_ff=4 * d_model)


def width_point(d_model: int, settings: Settings) -> dict:
    """Full fine-tuning vs ``WIDTH_METHOD`` at one width: the interleaved step times and their
    ratio (median and IQR of per-round ratios), parameter counts, and the FLOP model's ratio
    for the same shapes."""
    from .budget.flops import model_flops
    from .budget.presets import tiny_from
    from .experiments.execute import optimizer_from
    from .experiments.sweeps import method
    make = widened(d_model)
    rows = {label: method(label) for label in ("full", WIDTH_METHOD)}
    models = {}
    for label, m in rows.items():
        set_seed(0)
        models[label] = methods.apply(make(), timing_config(m.config))
    base = models["full"]
    batch = get_task("sentiment").encode(base.vocab, "train", settings.max_len).batch(torch.arange(settings.batch))
    fns = {label: training_step(models[label], batch, optimizer_from(m.optimizer)) for label, m in rows.items()}
    step = relative(interleaved(fns, settings.rounds, settings.warmup), "full")
    flops = model_flops(tiny_from(base.config), rows[WIDTH_METHOD].config)
    lora = step["rows"][WIDTH_METHOD]
    return {"d_model": d_model, "d_ff": base.config.d_ff, "n_layers": base.config.n_layers,
            "n_heads": base.config.n_heads, "tokens_per_example": batch[0].shape[1],
            "total_params": sum(p.numel() for p in base.parameters()),
            "trainable_params": {label: methods.count_parameters(model)[0] for label, model in models.items()},
            "flops_per_token": {"full": flops.full.step, WIDTH_METHOD: flops.lora.step},
            "flops_ratio": flops.step_ratio, "ratio": lora["ratio"], "ratio_iqr": lora["ratio_iqr"],
            "step": step}


def width_run(widths=WIDTHS, quick: bool = False, settings: Settings | None = None,
              journal_path: str | Path | None = None, progress: bool = True, command: str | None = None) -> dict:
    """``width_point`` at every width, smallest first; with ``journal_path`` each finished width is
    journalled, so an interrupted run continues where it stopped. Returns {"meta", "widths"}."""
    from .experiments.api import git_commit, machine, versions
    from .experiments.journal import Journal
    from .experiments.sweeps import method
    from .hub import read_card
    settings = settings or (WIDTH_QUICK if quick else WIDTH_SETTINGS)
    widths = sorted(widths)
    bad = [w for w in widths if isinstance(w, bool) or not isinstance(w, int) or w <= 0]
    if bad or not widths:
        raise ValueError(f"widths={list(widths)!r}: give one or more positive integer d_model values")
    journal, points = Journal(journal_path), []
    done = journal.load()
    t0 = time.perf_counter()
    for d in widths:
        key = json.dumps({"d_model": d, "settings": dataclasses.asdict(settings), "method": WIDTH_METHOD,
                          "threads": torch.get_num_threads()}, sort_keys=True)
        if key not in done:
            done[key] = width_point(d, settings)
            journal.append(key, done[key])
        points.append(done[key])
        if progress:
            print(format_width_row(done[key]), flush=True)
    m = method(WIDTH_METHOD)
    meta = {"command": command or f"peft_lab.bench.width_run({widths}, quick={quick})",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "quick": quick, "settings": dataclasses.asdict(settings),
            "method": {"label": m.label, "config": m.config.to_dict()},
            "base_model": read_card()["model"], "init": "random (step time does not depend on the weights)",
            "flops_model": "peft_lab.budget.flops.model_flops: the block linears only",
            "duration_seconds": round(time.perf_counter() - t0, 1),
            "versions": versions(), "machine": machine(), "git_commit": git_commit()}
    return {"meta": meta, "widths": points}


def format_width_row(p: dict) -> str:
    ms = {k: r["median_ms"] for k, r in p["step"]["rows"].items()}
    return (f"d_model {p['d_model']:>5}  {p['total_params'] / 1e6:7.2f} M params   full {ms['full']:8.1f} ms   "
            f"{WIDTH_METHOD} {ms[WIDTH_METHOD]:8.1f} ms   ratio x{p['ratio']:.3f} "
            f"[{p['ratio_iqr'][0]:.3f}-{p['ratio_iqr'][1]:.3f}]   FLOP model x{p['flops_ratio']:.3f}")


def widths_main(args, argv: list[str] | None) -> int:
    """``--widths``: measure, print, and with ``--json`` save (resumable through PATH.partial.jsonl)."""
    from .experiments.journal import Journal, write_json_atomic
    journal = Path(args.json).with_suffix(".partial.jsonl") if args.json else None
    s = WIDTH_QUICK if args.quick else WIDTH_SETTINGS
    print(f"{WIDTH_METHOD} vs full fine-tuning, batch {s.batch} x up to {s.max_len} tokens, {s.rounds} interleaved "
          f"rounds; ratio = median of per-round ratios [IQR]")
    command = " ".join(["python -m peft_lab.bench", *(sys.argv[1:] if argv is None else argv)])
    report = width_run(args.widths or WIDTHS, quick=args.quick, journal_path=journal, command=command)
    if args.json:
        write_json_atomic(Path(args.json), report)
        Journal(journal).delete()
        print(f"\nwrote {args.json}")
    return 0



# ============================================================================= attention dropout's cost
# python -m peft_lab.bench --attention [--json PATH]
#
# With dropout on the attention probabilities, scaled_dot_product_attention on a CPU falls back
# from its fused kernel to the unfused one (scores, softmax, mask and the dropout mask as full
# (B, heads, T, T) tensors, forward and backward). Attention dropout 0.1 (what every run used before
# it was a hyperparameter of its own: the checkpoint card's dropout) and 0.0
# are timed in the same interleaved rounds, for full fine-tuning and LoRA at the sweeps' recipe and
# at the baselines'.

ATTENTION_DROPOUTS = {"old": 0.1, "new": 0.0}   # ModelConfig.attention_dropout of the two variants
ATTENTION_METHODS = ("full", "lora")            # the method table's rows (LoRA: r 8, alpha 16, every block linear)
ATTENTION_ROUNDS, ATTENTION_WARMUP = 15, 2


def attention_recipes(quick: bool = False) -> dict[str, Settings]:
    """The sweeps' batch x length and the baselines' (``experiments.sweeps``); ``quick``: one tiny one."""
    from .experiments.sweeps import BASELINE, BATCH, MAX_LEN
    if quick:
        return {"quick": QUICK}
    return {name: Settings(batch=BATCH, max_len=max_len, rounds=ATTENTION_ROUNDS, warmup=ATTENTION_WARMUP)
            for name, max_len in (("sweeps", MAX_LEN), ("baselines", BASELINE["max_len"]))}


def window_batch(model: nn.Module, settings: Settings):
    """The first ``settings.batch`` training reviews, the last replaced by the first review that
    fills the ``max_len`` window (if none of them does): every batch of a training run that holds one
    long review is this wide."""
    encoded = get_task("sentiment").encode(model.vocab, "train", settings.max_len)
    lengths = encoded.attention_mask.sum(1)
    longest = int(torch.nonzero(lengths == lengths.max())[0])
    index = torch.arange(settings.batch)
    if longest >= settings.batch:
        index[-1] = longest
    return encoded.batch(index)


def attention_point(settings: Settings) -> dict:
    """Every method in ``ATTENTION_METHODS`` with each of ``ATTENTION_DROPOUTS``, all timed in the same
    interleaved rounds; per method, the old variant's step time relative to the new one's."""
    from .experiments.execute import optimizer_from
    from .experiments.sweeps import method
    from .hub import load_pretrained
    fns, batch = {}, None
    for label in ATTENTION_METHODS:
        m = method(label)
        for variant, p in ATTENTION_DROPOUTS.items():
            set_seed(0)
            model = methods.apply(load_pretrained("cls", 2, attention_dropout=p), timing_config(m.config))
            batch = batch or window_batch(model, settings)
            fns[f"{label} {variant}"] = training_step(model, batch, optimizer_from(m.optimizer))
    times = interleaved(fns, settings.rounds, settings.warmup)
    rows = {label: relative({v: times[f"{label} {v}"] for v in ATTENTION_DROPOUTS}, "new")
            for label in ATTENTION_METHODS}
    return {"settings": dataclasses.asdict(settings) | {"tokens_per_example": batch[0].shape[1]}, "methods": rows}


def attention_run(quick: bool = False, command: str | None = None) -> dict:
    """``attention_point`` at every recipe of ``attention_recipes``. Returns {"meta", "recipes"}."""
    from .experiments.api import git_commit, machine, versions
    from .experiments.identity import checkpoint_id
    t0 = time.perf_counter()
    recipes = {name: attention_point(s) for name, s in attention_recipes(quick).items()}
    meta = {"command": command or f"peft_lab.bench.attention_run(quick={quick})",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "attention_dropout": ATTENTION_DROPOUTS, "checkpoint": checkpoint_id(),
            "step": "forward, backward, gradient clipping, AdamW (bench.training_step)",
            "duration_seconds": round(time.perf_counter() - t0, 1),
            "versions": versions(), "machine": machine(), "git_commit": git_commit()}
    return {"meta": meta, "recipes": recipes}


def format_attention(report: dict) -> str:
    old, new = ATTENTION_DROPOUTS["old"], ATTENTION_DROPOUTS["new"]
    lines = [f"training step with attention dropout {old} (old) vs {new} (new), interleaved; "
             f"torch threads {report['meta']['machine']['torch_threads']}",
             "seconds per step: median [IQR]; old/new = median of per-round ratios [IQR]",
             f"  {'recipe':<10} {'batch x length':>14} {'method':<6} {'old s/step':>20} {'new s/step':>20} "
             f"{'old/new':>18}"]
    for name, point in report["recipes"].items():
        s = point["settings"]
        for label, rel in point["methods"].items():
            r = rel["rows"]
            times = [f"{r[v]['median_ms'] / 1000:.3f} [{r[v]['iqr_ms'][0] / 1000:.3f}-{r[v]['iqr_ms'][1] / 1000:.3f}]"
                     for v in ("old", "new")]
            ratio = f"x{r['old']['ratio']:.2f} [{r['old']['ratio_iqr'][0]:.2f}-{r['old']['ratio_iqr'][1]:.2f}]"
            lines.append(f"  {name:<10} {s['batch']:>6} x {s['tokens_per_example']:<5} {label:<6} {times[0]:>20} "
                         f"{times[1]:>20} {ratio:>18}")
    return "\n".join(lines)


def attention_main(args, argv: list[str] | None) -> int:
    """``--attention``: measure, print, and with ``--json`` save."""
    from .experiments.journal import write_json_atomic
    command = " ".join(["python -m peft_lab.bench", *(sys.argv[1:] if argv is None else argv)])
    report = attention_run(quick=args.quick, command=command)
    print(format_attention(report))
    if args.json:
        write_json_atomic(Path(args.json), report)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
