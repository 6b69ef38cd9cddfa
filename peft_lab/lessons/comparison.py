"""05_comparison: every method on every measured criterion, read with its noise, as plain data.

Accuracy differences go through ``experiments.noise.compare`` (seed spread + the test set's sampling
error); timings (step time, latency) carry only their seed spread (``timing_compare``). The ranking
under reader-set weights is ``recommend.recommend``; ``ranking_with_noise`` redraws every measured mean
within its error to say which of the top choices the data cannot tell apart. ``decide`` is the
chapter's selection guide (选择指南) as four yes/no questions, each answered by a measurement.

    from peft_lab.lessons import comparison as cmp
    cmp.overview(load_results("methods"), n_test)                    # the table, best first
    cmp.seed_counts(load_results("segmentation"))                    # {"min", "max", "per_label"}
    cmp.low_data(load_results("train_size"), n_test)                 # LoRA vs full at every size
    cmp.paired_summary(paired.pairwise_matrix(methods, correction="holm"), noise.pairwise(...))
    cmp.ranking_with_noise(methods, {"accuracy": 3, "memory": 1}, n_test)
    cmp.decide(methods, sizes, n_test, memory_limited=True)          # the guide's branches, with evidence

Word segmentation scores every character, but the characters of one sentence are not independent
draws; its ``n_test`` is the number of test sentences (``noise.n_test_examples("segmentation")``),
which overstates the sampling error rather than understating it.
"""
from __future__ import annotations

import math

import numpy as np

from ..budget.units import human_bytes, human_count
from ..experiments.analysis import select, summarize, value
from ..experiments import paired
from ..experiments.noise import Z, compare, group_stats, sampling_error
from ..i18n import TEXT, t as _t
from ..recommend import _deployed_latency, check_weights, metric_table, normalise, scores
from ..checks import check_positive_int

# The five criteria the reader weighs (issue 16), in the order the sliders show them.
WEIGHTED = ("accuracy", "memory", "trainable_params", "train_speed", "latency")
# The five methods the chapter's tables compare, as labels of results/methods.json.
CHAPTER_METHODS = ("full", "lora", "adapter_houlsby", "prefix_tuning", "p_tuning_v2")
# What the chapter's invented ``metrics`` dict claims, as orderings best -> worst (its numbers are not
# kept: only the order they imply), for the criteria that were measured here.
CHAPTER_ORDER = {
    "accuracy": ("full", "lora", "p_tuning_v2", "adapter_houlsby", "prefix_tuning"),        # 任务性能
    "trainable_params": ("prefix_tuning", "p_tuning_v2", "lora", "adapter_houlsby", "full"),  # 参数效率
    "train_speed": ("prefix_tuning", "p_tuning_v2", "lora", "adapter_houlsby", "full"),     # 训练速度
    "latency": ("full", "lora", "prefix_tuning", "p_tuning_v2", "adapter_houlsby"),          # 推理速度
    "memory": ("prefix_tuning", "p_tuning_v2", "lora", "adapter_houlsby", "full"),          # 内存效率
}
TAIL = 0.025   # a method ties the top choice when it scores at least as high in >= 2.5 % of redraws


def t(label: str) -> str:
    """A method's display name (a label the language table does not know passes through)."""
    return _t(label) if label in TEXT else str(label)


def _metric(criterion: str) -> str:
    from ..recommend import CRITERIA
    return CRITERIA[criterion][0]


def _runs_with_latency(results: dict) -> dict:
    """``results`` with each run's deployed latency (merged where the method merges) as a metric."""
    runs = [dict(r, metrics={**(r.get("metrics") or {}), "deployed_latency": _deployed_latency(r)})
            for r in results["runs"]]
    return {**results, "runs": runs}


def seed_counts(results: dict) -> dict:
    """How many finished final runs (seeds) each label has: ``{"min", "max", "per_label"}``."""
    per_label: dict[str, int] = {}
    for r in select(results):
        per_label[r["label"]] = per_label.get(r["label"], 0) + 1
    if not per_label:
        raise ValueError("these results have no finished final run")
    return {"min": min(per_label.values()), "max": max(per_label.values()), "per_label": per_label}


def seed_sentence(results: dict, n_test: int) -> str:
    """One sentence saying what the ± of a table means for these results: a seed spread when every
    method has several seeds, or that only the test set's sampling error is known when some have one."""
    counts = seed_counts(results)
    p = np.mean([row["test_accuracy"]["mean"] for row in summarize(results, metrics=["test_accuracy"])])
    error = 100 * sampling_error(float(p), n_test)
    if counts["min"] > 1:
        seeds = f"{counts['min']}" if counts["min"] == counts["max"] else f"{counts['min']}～{counts['max']}"
        return (f"每种方法 {seeds} 个种子：± 是种子间的标准差；此外每个准确率还带着约 ±{error:.1f} 个百分点的测试集抽样误差"
                f"（{n_test:,} 个测试样本）。")
    single = sorted(l for l, n in counts["per_label"].items() if n == 1)
    which = "每种方法" if len(single) == len(counts["per_label"]) else f"{len(single)} 种方法"
    return (f"{which}只有 1 个种子：种子间的波动没有测量（± 记为 0），噪声判断只计入测试集的抽样误差"
            f"（约 ±{error:.1f} 个百分点，{n_test:,} 个测试样本），因而偏乐观——种子补齐后结论可能改变。")


def overview(results: dict, n_test: int, z: float = Z) -> list[dict]:
    """One row per method, best mean accuracy first: accuracy (mean, std, n), trainable parameters and
    share, training memory, step time, deployed latency (None where not measured), and the
    ``compare`` against the best method (``within_noise`` of it, or ``None`` for the best itself)."""
    data = _runs_with_latency(results)
    fields = ["test_accuracy", "trainable_params", "trainable_share", "memory.total", "sec_per_step",
              "deployed_latency"]
    rows = [row for row in summarize(data, metrics=fields) if row["test_accuracy"]["n"]]
    if not rows:
        raise ValueError("these results have no finished run with a test_accuracy")
    rows.sort(key=lambda row: -row["test_accuracy"]["mean"])
    best = rows[0]["label"]
    out = []
    for row in rows:
        vs = None if row["label"] == best else compare(results, row["label"], best, n_test, z=z)
        out.append({"label": row["label"], "accuracy": row["test_accuracy"],
                    **{k: row[f]["mean"] for k, f in (("params", "trainable_params"), ("share", "trainable_share"),
                                                       ("memory", "memory.total"), ("step", "sec_per_step"),
                                                       ("latency", "deployed_latency"))},
                    "vs_best": vs, "within_noise_of_best": vs is None or vs["within_noise"]})
    return out


def markdown_table(rows: list[dict]) -> str:
    """``overview`` rows as a Markdown table (columns a criterion measured nowhere are left out)."""
    cols = [("测试准确率", lambda r: f"{r['accuracy']['mean']:.1%}" + (f" ± {r['accuracy']['std']:.1%}"
                                                                    if r["accuracy"]["n"] > 1 else "")),
            ("种子", lambda r: str(r["accuracy"]["n"])),
            ("与最好者", lambda r: "—" if r["vs_best"] is None else
             f"{100 * r['vs_best']['difference']:+.1f}（{'噪声内' if r['within_noise_of_best'] else '超出噪声'}）"),
            ("可训练参数", lambda r: f"{r['params']:,.0f}"), ("占比", lambda r: f"{r['share']:.2%}"),
            ("训练内存", lambda r: human_bytes(r["memory"])), ("每步时间", lambda r: f"{1000 * r['step']:.0f} ms"),
            ("推理延迟", lambda r: f"{r['latency']:.1f} ms")]
    needs = {"训练内存": "memory", "每步时间": "step", "推理延迟": "latency"}
    cols = [(h, f) for h, f in cols if h not in needs or any(r[needs[h]] is not None for r in rows)]
    lines = ["| 方法 | " + " | ".join(h for h, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        cells = [("—" if _missing(r, h, needs) else f(r)) for h, f in cols]
        lines.append(f"| {t(r['label'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _missing(row: dict, header: str, needs: dict) -> bool:
    return header in needs and row[needs[header]] is None


def nearest_rival(rows: list[dict]) -> tuple[str, str]:
    """(best, rival) from ``overview`` rows: the best method and the next one still within noise of
    it (the pair a sharper test could separate); the runner-up when no other is within noise."""
    if len(rows) < 2:
        raise ValueError(f"a pair needs two methods, these results have {len(rows)}")
    rival = next((r for r in rows[1:] if r["within_noise_of_best"]), rows[1])
    return rows[0]["label"], rival["label"]


def paired_summary(raw: dict, independent: list[dict], alpha: float = 0.05) -> dict:
    """How the paired test and the independent-errors judgement (``noise.pairwise`` comparisons)
    separate the same pairs. ``raw`` is an uncorrected ``paired.pairwise_matrix``; like the
    independent judgement it tests every pair on its own, so the two compare like with like
    ("paired_different", "both", "paired_only", "independent_only"). "holm_different" counts the
    pairs still separated when the whole matrix is read as one judgement (Holm)."""
    if raw["correction"] is not None:
        raise ValueError("pass the uncorrected matrix (pairwise_matrix(..., correction=None)); the Holm count is "
                         "computed here")
    labels = list(raw["labels"])
    index = {label: i for i, label in enumerate(labels)}

    def apart(p):
        return {frozenset((a, b)) for i, a in enumerate(labels) for b in labels[i + 1:] if p[index[a], index[b]] < alpha}
    known = [c for c in independent if c["a"] in index and c["b"] in index]
    if len(known) != len(labels) * (len(labels) - 1) // 2:
        raise ValueError(f"{len(known)} independent comparisons for {len(labels)} methods: pass noise.pairwise "
                         f"over the matrix's labels")
    paired_apart = apart(raw["p"])
    independent_apart = {frozenset((c["a"], c["b"])) for c in known if not c["within_noise"]}
    return {"pairs": len(known), "paired_different": len(paired_apart),
            "independent_different": len(independent_apart), "both": len(paired_apart & independent_apart),
            "paired_only": len(paired_apart - independent_apart),
            "independent_only": len(independent_apart - paired_apart),
            "holm_different": len(apart(paired.holm_corrected(raw)["p"]))}


def tiers_sentence(tier: dict[str, int]) -> str:
    """One line per tier (``paired.tiers``): "第 1 档：…；第 2 档：…"."""
    groups: dict[int, list[str]] = {}
    for label, k in tier.items():
        groups.setdefault(k, []).append(label)
    return "；".join(f"第 {k} 档（{len(groups[k])} 种）：{'、'.join(t(l) for l in groups[k])}" for k in sorted(groups)) + "。"


def _ranks(values: list[float]) -> np.ndarray:
    """1-based ranks with ties averaged (for Spearman's rho)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in set(values):
        same = [i for i, x in enumerate(values) if x == v]
        ranks[same] = np.mean(ranks[same])
    return ranks


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rho of two paired lists (1: the same order, -1: reversed)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need two paired lists of at least 2 values; got lengths {len(a)} and {len(b)}")
    ra, rb = _ranks(list(a)), _ranks(list(b))
    if ra.std() == 0 or rb.std() == 0:
        raise ValueError("rank_correlation: one list is constant; its order is undefined")
    return float(np.corrcoef(ra, rb)[0, 1])


def across_tasks(first: dict, second: dict, n_first: int, n_second: int, z: float = Z) -> dict:
    """What holds on both tasks: the methods measured on both, Spearman's rho of their mean accuracies,
    each task's group within noise of its best, and the methods in both groups."""
    a, b = group_stats(first), group_stats(second)
    shared = [l for l in a if l in b]
    if len(shared) < 2:
        raise ValueError(f"the two results share {len(shared)} method(s) ({shared}); need at least 2")
    tops = []
    for results, n in ((first, n_first), (second, n_second)):
        tops.append([r["label"] for r in overview(results, n, z) if r["within_noise_of_best"] and r["label"] in shared])
    rho = rank_correlation([a[l]["mean"] for l in shared], [b[l]["mean"] for l in shared])
    return {"shared": shared, "rho": rho, "top_first": tops[0], "top_second": tops[1],
            "top_both": [l for l in tops[0] if l in tops[1]]}


def low_data(results: dict, n_test: int, a: str = "lora", b: str = "full", z: float = Z) -> list[dict]:
    """Along the ``train_size`` sweep: ``compare`` of ``a`` and ``b`` at every training-set size (where
    both ran), with the verdict ``"a"`` (a above b beyond noise), ``"b"`` or ``"tie"``."""
    sizes = sorted({value(r, "train_size") for r in select(results)} - {None})
    out = []
    for n in sizes:
        labels = group_stats(results, where={"train_size": n})
        if a in labels and b in labels:
            c = compare(results, a, b, n_test, z=z, where={"train_size": n})
            verdict = "tie" if c["within_noise"] else ("a" if c["difference"] > 0 else "b")
            out.append({"train_size": n, "comparison": c, "verdict": verdict})
    if not out:
        raise ValueError(f"no training-set size has finished runs of both {a!r} and {b!r}")
    return out


def chapter_orders(results: dict, methods=CHAPTER_METHODS) -> list[dict]:
    """For each criterion of ``CHAPTER_ORDER`` measured here: the chapter's order of its five methods,
    the measured order (best first, from the means) and Spearman's rho between the two."""
    table = metric_table(results, list(methods), tuple(CHAPTER_ORDER))
    out = []
    for criterion, claimed in CHAPTER_ORDER.items():
        if any(table[m][criterion] is None for m in methods):
            continue
        better = 1 if criterion == "accuracy" else -1
        measured = sorted(methods, key=lambda m: -better * table[m][criterion])
        rho = rank_correlation([claimed.index(m) for m in methods], [measured.index(m) for m in methods])
        out.append({"criterion": criterion, "claimed": list(claimed), "measured": measured, "rho": rho,
                    "values": {m: table[m][criterion] for m in methods}})
    return out


# ----------------------------------------------------------------------------- weighted ranking with noise

def criterion_errors(results: dict, n_test: int, criteria=WEIGHTED) -> dict[str, dict[str, float]]:
    """{label: {criterion: standard error of its mean}}: accuracy counts seeds and the test set
    (``noise.compare``'s error); the other criteria their seed spread, std/sqrt(n) (0 for counts)."""
    data = _runs_with_latency(results)
    fields = ["deployed_latency" if c == "latency" else _metric(c) for c in criteria]
    out: dict[str, dict[str, float]] = {}
    for row in summarize(data, metrics=fields):
        errs = {}
        for c, f in zip(criteria, fields):
            s = row[f]
            if not s["n"]:
                errs[c] = 0.0
                continue
            errs[c] = math.sqrt(s["std"] ** 2 / s["n"]
                                + (sampling_error(s["mean"], n_test) ** 2 if c == "accuracy" else 0.0))
        out[row["label"]] = errs
    return out


def ranking_with_noise(results: dict, weights: dict, n_test: int, labels=None, draws: int = 200,
                       seed: int = 0) -> list[dict]:
    """``recommend``'s ranking (best first) and, per method, how often it scores at least as high as
    the top choice when every measured mean is redrawn from a normal with its standard error
    (``criterion_errors``): ``share_at_top``; ``ties_top`` when that share is >= ``TAIL`` (the data
    cannot tell it from the top choice). Deterministic for a given ``seed``."""
    weights = check_weights(weights)
    check_positive_int("draws", draws)
    criteria = tuple(weights)
    table = metric_table(results, labels, criteria)
    ranked = scores(normalise(table), weights)
    top = ranked[0][0]
    errors = criterion_errors(results, n_test, criteria)
    rng = np.random.default_rng(seed)
    at_top = dict.fromkeys(table, 0)
    for _ in range(draws):
        drawn = {l: {c: None if v is None else max(v + errors[l][c] * rng.standard_normal(), 1e-12)
                     for c, v in row.items()} for l, row in table.items()}
        s = dict(scores(normalise(drawn), weights))
        for l in at_top:
            at_top[l] += s[l] >= s[top]
    return [{"label": l, "score": score, "share_at_top": at_top[l] / draws,
             "ties_top": l == top or at_top[l] / draws >= TAIL} for l, score in ranked]


def render_ranking(ranking: list[dict], show: int = 6) -> str:
    """The top ``show`` methods of ``ranking_with_noise`` as HTML, and which of them tie the top."""
    rows = "".join(f"<tr><td style='padding:2px 12px 2px 0'>{i + 1}. {t(r['label'])}</td>"
                   f"<td style='text-align:right'><b>{r['score']:.2f}</b></td>"
                   f"<td style='padding-left:12px;color:#555'>{r['share_at_top']:.0%}</td></tr>"
                   for i, r in enumerate(ranking[:show]))
    head = (f"<tr><th style='text-align:left'>{_t('w_method')}</th><th>{_t('cmp_score')}</th>"
            f"<th style='padding-left:12px'>{_t('cmp_share_at_top')}</th></tr>")
    return f"<table style='font-size:14px'>{head}{rows}</table><p>{tie_sentence(ranking)}</p>"


def tie_sentence(ranking: list[dict]) -> str:
    """Which choices the data cannot tell from the top one (a sentence)."""
    ties = [r["label"] for r in ranking if r["ties_top"]]
    if len(ties) == 1:
        return _t("cmp_tie_alone", name=t(ties[0]), tail=f"{TAIL:.1%}")
    return _t("cmp_tie_many", names=_t("seq_sep").join(t(l) for l in ties), tail=f"{TAIL:.1%}")


# ----------------------------------------------------------------------------- the selection guide

# The chapter's four questions (显存受限？多任务部署？推理延迟敏感？数据量小？) -> their language-table keys.
QUESTIONS = {key: f"guide_q_{key}" for key in ("memory_limited", "multi_task", "latency_sensitive", "small_data")}


def timing_compare(results: dict, a: str, b: str, metric: str, z: float = Z) -> dict:
    """Δ = mean(a) - mean(b) of a timing (``sec_per_step``, ``deployed_latency``) with the standard
    error from the seed spreads, std²/n each; within noise when ``|Δ| < z · se``."""
    groups = group_stats(_runs_with_latency(results), metric=metric)
    missing = [g for g in (a, b) if g not in groups]
    if missing:
        raise ValueError(f"no finished run of {missing[0]!r} measured {metric!r}; labels with it: {list(groups)}")
    sa, sb = groups[a], groups[b]
    se = math.sqrt(sa["std"] ** 2 / sa["n"] + sb["std"] ** 2 / sb["n"])
    d = sa["mean"] - sb["mean"]
    return {"a": a, "b": b, "mean_a": sa["mean"], "mean_b": sb["mean"], "difference": d, "se": se,
            "threshold": z * se, "within_noise": abs(d) < z * se}


def decide(methods: dict, sizes: dict, n_test: int, memory_limited: bool = False, multi_task: bool = False,
           latency_sensitive: bool = False, small_data: bool = False, memory_share: float = 0.75,
           file_share: float = 0.1, small: int = 1000, z: float = Z) -> dict:
    """The selection guide: start from every method of ``methods`` (results/methods.json); each "yes"
    drops the methods a measurement rules out, each step recording its evidence (file, numbers). Then
    the recommendation is the best remaining method by mean accuracy and those within noise of it.

    - memory_limited: keep methods whose training memory is at most ``memory_share`` of full fine-tuning's;
    - multi_task: keep methods whose saved file is at most ``file_share`` of full fine-tuning's checkpoint;
    - latency_sensitive: drop methods slower at inference than full fine-tuning beyond noise (timing_compare);
    - small_data: on ``sizes`` (results/train_size.json) at training sizes <= ``small``, drop full
      fine-tuning if LoRA beats it there beyond noise; otherwise keep it and say so.
    """
    for name, v in (("memory_share", memory_share), ("file_share", file_share)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ValueError(f"{name}={v!r} must be a fraction in (0, 1]")
    table = metric_table(methods, criteria=("accuracy", "memory", "adapter_bytes", "latency"))
    if "full" not in table:
        raise ValueError(f"decide needs full fine-tuning (label 'full') as the reference; labels: {list(table)}")
    full = table["full"]
    kept, steps = list(table), []

    def step(key, answer, keep, evidence):
        nonlocal kept
        dropped = [l for l in kept if l not in keep]
        kept = [l for l in kept if l in keep]
        steps.append({"question": _t(QUESTIONS[key]), "key": key, "answer": answer, "dropped": dropped,
                      "evidence": evidence})

    if memory_limited:
        limit = memory_share * full["memory"]
        keep = [l for l in kept if table[l]["memory"] is not None and table[l]["memory"] <= limit]
        step("memory_limited", True, keep,
             _t("guide_memory", full=human_bytes(full["memory"]), share=f"{memory_share:.0%}", limit=human_bytes(limit),
                name=t(min(table, key=lambda l: table[l]["memory"] or math.inf)),
                least=human_bytes(min(v["memory"] for v in table.values() if v["memory"]))))
    if multi_task:
        limit = file_share * full["adapter_bytes"]
        keep = [l for l in kept if l != "full" and table[l]["adapter_bytes"] is not None
                and table[l]["adapter_bytes"] <= limit]
        lora = table.get("lora", {}).get("adapter_bytes")
        extra = _t("guide_lora_file", size=human_bytes(lora)) if lora else ""
        step("multi_task", True, keep,
             _t("guide_multi_task", full=human_bytes(full["adapter_bytes"]), share=f"{file_share:.0%}",
                limit=human_bytes(limit), extra=extra))
    if latency_sensitive:
        slower = {l: timing_compare(methods, l, "full", "deployed_latency", z) for l in kept
                  if l != "full" and table[l]["latency"] is not None}
        slow = {l: c for l, c in slower.items() if c["difference"] > 0 and not c["within_noise"]}
        keep = [l for l in kept if l not in slow]
        worst = max(slow, key=lambda l: slow[l]["difference"]) if slow else None
        step("latency_sensitive", True, keep,
             _t("guide_latency", ms=f"{full['latency']:.1f}")
             + (_t("guide_latency_slow", n=len(slow), name=t(worst), diff=f"{slow[worst]['difference']:.1f}",
                   threshold=f"{slow[worst]['threshold']:.1f}") if slow else _t("guide_latency_none")))
    if small_data:
        verdicts = [v for v in low_data(sizes, n_test, "lora", "full", z) if v["train_size"] <= small]
        if not verdicts:
            raise ValueError(f"small={small!r}: the train_size sweep has no size <= {small} with runs of both "
                             f"'lora' and 'full'; raise small or extend the sweep")
        wins = [v for v in verdicts if v["verdict"] == "a"]
        keep = [l for l in kept if l != "full"] if wins else kept
        shown = _t("clause_sep").join(_t("guide_small_size", size=f"{v['train_size']:,}",
                                         diff=f"{100 * v['comparison']['difference']:+.1f}",
                                         threshold=f"{100 * v['comparison']['threshold']:.1f}") for v in verdicts)
        step("small_data", True, keep, _t("guide_small", small=f"{small:,}", shown=shown)
             + _t("guide_small_wins" if wins else "guide_small_ties"))
    if not kept:
        return {"steps": steps, "recommended": [], "best": None, "ranking": []}
    ranking = sorted(kept, key=lambda l: -table[l]["accuracy"])
    best = ranking[0]
    tied = [l for l in ranking if l == best or compare(methods, l, best, n_test, z=z)["within_noise"]]
    return {"steps": steps, "recommended": tied, "best": best, "ranking": ranking,
            "accuracy": {l: table[l]["accuracy"] for l in ranking}}


def render_decision(result: dict) -> str:
    """``decide``'s steps and recommendation as HTML (each step: the question, what it dropped, why)."""
    sep = _t("seq_sep")
    items = "".join("<li>" + _t("guide_step", question=s["question"], yes=_t("w_yes"),
                                dropped=sep.join(t(l) for l in s["dropped"]) or _t("guide_none_dropped"))
                    + f"<br><span style='color:#555'>{_t('guide_evidence', evidence=s['evidence'])}</span></li>"
                    for s in result["steps"])
    if not result["recommended"]:
        verdict = _t("guide_nothing_left")
    else:
        acc = result["accuracy"]
        named = sep.join(_t("guide_named_accuracy", name=t(l), accuracy=f"{acc[l]:.1%}") for l in result["recommended"])
        verdict = (_t("guide_recommended", methods=named) + "<br><span style='color:#555'>"
                   + _t("guide_evidence", evidence=_t("guide_why", n=len(result["ranking"]))) + "</span>")
    return f"<ol style='font-size:14px'>{items}</ol><p style='font-size:14px'>{verdict}</p>"


# ----------------------------------------------------------------------------- the chapter's claims, read against the data

CRITERION_NAMES = {"accuracy": "任务性能", "trainable_params": "参数效率", "train_speed": "训练速度",
                   "latency": "推理速度", "memory": "内存效率"}


def render_orders(orders: list[dict]) -> str:
    """``chapter_orders`` as a Markdown table: the chapter's order, the measured one, Spearman's rho."""
    lines = ["| 教材的指标 | 教材隐含的排序（好 → 差） | 实测排序（好 → 差） | 秩相关 ρ |", "|---|---|---|---|"]
    for o in orders:
        lines.append(f"| {CRITERION_NAMES[o['criterion']]} | {' > '.join(t(m) for m in o['claimed'])} | "
                     f"{' > '.join(t(m) for m in o['measured'])} | {o['rho']:+.2f} |")
    return "\n".join(lines)


def cheapest_in_top(rows: list[dict]) -> list[dict]:
    """Among ``overview`` rows within noise of the best: those training the fewest parameters (several
    when they tie, e.g. LoRA variants of one rank), in the rows' order."""
    top = [r for r in rows if r["within_noise_of_best"]]
    fewest = min(r["params"] for r in top)
    return [r for r in top if r["params"] == fewest]


def memory_parts(results: dict, label: str) -> dict:
    """Mean training memory of ``label`` by part (weights, gradients, optimizer_state, activations, total)."""
    parts = ("weights", "gradients", "optimizer_state", "activations", "total")
    rows = summarize(results, metrics=[f"memory.{p}" for p in parts], where={"label": label})
    if not rows or not rows[0]["memory.total"]["n"]:
        raise ValueError(f"no finished run of {label!r} measured its memory")
    return {p: rows[0][f"memory.{p}"]["mean"] for p in parts}


# Weight profiles shown beside the sliders (the reader's own weights live in the widget).
PROFILES = {"只看准确率": {"accuracy": 1}, "显存优先": {"accuracy": 1, "memory": 3},
            "部署优先（延迟、参数）": {"accuracy": 1, "latency": 2, "trainable_params": 2},
            "均衡": {c: 1 for c in WEIGHTED}}

# The chapter's quick-choice lines (快速选择建议), by what each claims: (branch, the guide's answers, its pick).
# "实验原型 → P-Tuning v2" is left out: no measured question stands for "a prototype".
CHAPTER_BRANCHES = (
    ("资源受限 + 高性能需求", {"memory_limited": True}, ("lora",)),
    ("资源受限 + 快速部署", {"memory_limited": True, "latency_sensitive": True}, ("prefix_tuning",)),
    ("多任务部署", {"multi_task": True}, ("adapter_houlsby",)),
    ("生产环境 + 充足资源", {"latency_sensitive": True}, ("full",)),
)


def chapter_branches(methods: dict, sizes: dict, n_test: int, branches=CHAPTER_BRANCHES) -> list[dict]:
    """Each quick-choice line of the chapter through ``decide``: the chapter's pick, the measured
    recommendation, and whether the pick is in it (``agrees``)."""
    out = []
    for branch, answers, picks in branches:
        result = decide(methods, sizes, n_test, **answers)
        out.append({"branch": branch, "answers": answers, "chapter": list(picks),
                    "recommended": result["recommended"], "agrees": any(p in result["recommended"] for p in picks)})
    return out


def render_branches(rows: list[dict]) -> str:
    """``chapter_branches`` as a Markdown table."""
    lines = ["| 教材的情形 | 在决策辅助里回答“是”的问题 | 教材推荐 | 测量给出的推荐 | 一致？ |", "|---|---|---|---|---|"]
    for r in rows:
        asked = "、".join(_t(QUESTIONS[k]) for k, v in r["answers"].items() if v)
        lines.append(f"| {r['branch']} | {asked} | {'、'.join(t(m) for m in r['chapter'])} | "
                     f"{'、'.join(t(m) for m in r['recommended']) or '（无）'} | {'是' if r['agrees'] else '否'} |")
    return "\n".join(lines)


def weights_text(weights: dict) -> str:
    """Weights in words: "准确率 1、训练内存 3"."""
    check_weights(weights)
    return "、".join(f"{_t(f'crit_{c}').splitlines()[0]} {w:g}" for c, w in weights.items())


# What the chapter's ``comparison_table`` (详细对比) says of each method in words, column by column.
CHAPTER_WORDS = {
    "lora": {"params": "很少", "accuracy": "优秀", "step": "快", "memory": "低"},
    "adapter_houlsby": {"params": "少", "accuracy": "良好", "step": "中等", "memory": "中等"},
    "prefix_tuning": {"params": "极少", "accuracy": "良好", "step": "很快", "memory": "很低"},
    "p_tuning_v2": {"params": "极少", "accuracy": "良好", "step": "很快", "memory": "很低"},
    "full": {"params": "全部", "accuracy": "最佳", "step": "慢", "memory": "高"},
}


def chapter_table(results: dict, n_test: int, words: dict = CHAPTER_WORDS) -> str:
    """The chapter's word table beside the measurement, as Markdown: each cell "its word → measured"
    (share of parameters trained, accuracy with its verdict against the best, step time, memory)."""
    rows = {r["label"]: r for r in overview(results, n_test)}
    missing = [l for l in words if l not in rows]
    if missing:
        raise ValueError(f"no finished run of {missing} in these results; labels there: {list(rows)}")
    lines = ["| 方法 | 参数量 | 性能 | 训练速度（每步） | 训练内存 |", "|---|---|---|---|---|"]
    for label, said in words.items():
        r = rows[label]
        verdict = "第一名" if r["vs_best"] is None else ("与第一名在噪声内" if r["within_noise_of_best"] else "低于第一名，超出噪声")
        measured = {"params": f"{r['share']:.2%}", "accuracy": f"{r['accuracy']['mean']:.1%}（{verdict}）",
                    "step": "—" if r["step"] is None else f"{1000 * r['step']:.0f} ms",
                    "memory": "—" if r["memory"] is None else human_bytes(r["memory"])}
        lines.append(f"| {t(label)} | " + " | ".join(f"“{said[k]}” → {measured[k]}"
                                                       for k in ("params", "accuracy", "step", "memory")) + " |")
    return "\n".join(lines)
