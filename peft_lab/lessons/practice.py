"""06_practice_guide: the numbers behind each step of a PEFT project, as plain data.

The notebook renders the sentences; these functions compute what goes into them, from the committed
sweeps (``results/``), the calculator (``peft_lab.budget``) or a live run.

    from peft_lab.lessons import practice as pr
    pr.versus(load_results("methods"), "lora", "full", n_test=n_test_examples())   # compare() + trainable shares
    pr.parameter_breakdown(model)          # trainable, total, the method's share and the new head's
    pr.reparam_verdict(pair)               # prefix tuning with vs without its MLP at the highest rate
    pr.hf_peft_agreement(model, base, ids, mask)   # HF PEFT vs peft_lab: outputs and counts
    pr.within_noise_from_stats(0.79, 0.80, 0.0, 0.0, 2, 2, 1737)   # compare() from summary statistics
"""
from __future__ import annotations

import copy
import math

from .. import budget
from ..experiments.analysis import summarize
from ..experiments.noise import Z, compare
from ..checks import check_positive_int


def versus(results: dict, a: str, b: str, n_test: int, z: float = Z) -> dict:
    """``experiments.noise.compare`` of methods ``a`` and ``b`` (labels in ``results``), plus each
    one's mean share of trainable parameters as ``share_a`` and ``share_b``."""
    comparison = compare(results, a, b, n_test=n_test, z=z)
    share = {row["label"]: row["trainable_share"]["mean"] for row in summarize(results, metrics=["trainable_share"])}
    return {**comparison, "share_a": share[a], "share_b": share[b]}


def head_parameters(model) -> int:
    """Parameters of the model's task head (``model.head``): new in every method, trained and saved with it."""
    return sum(p.numel() for p in model.head.parameters())


def parameter_breakdown(model) -> dict:
    """What ``model`` trains: ``trainable`` and ``total`` (``pl.count_parameters``), ``method`` (the
    calculator's count for the applied PEFT config on this model's shape, no head) and ``head``."""
    from ..methods import count_parameters
    config = getattr(model, "peft_config", None)
    if config is None:
        raise ValueError("model has no PEFT method applied (model.peft_config is None); call pl.apply first")
    trainable, total = count_parameters(model)
    return {"trainable": trainable, "total": total,
            "method": budget.count(budget.tiny_from(model.config), config), "head": head_parameters(model)}


def prefix_runs(pair: dict) -> list:
    """The runs of ``{lr: failures.prefix_without_reparameterisation(lr)}`` in plotting order: for each
    rate, the MLP-reparameterised run, then the directly trained one."""
    return [run for rep in pair.values() for run in (rep.symptom["mlp_run"], rep.run)]


def reparam_verdict(pair: dict) -> dict:
    """At the highest rate of ``{lr: failures.prefix_without_reparameterisation(lr)}``: does the MLP
    version end with the lower validation accuracy (``mlp_worse``), and by how much (``gap``, direct
    minus MLP, a fraction)?"""
    if not pair:
        raise ValueError("pair={} must map at least one learning rate to a Reproduction")
    lr = max(pair)
    mlp, direct = pair[lr].symptom["mlp"]["val_accuracy"], pair[lr].symptom["direct"]["val_accuracy"]
    return {"lr": lr, "mlp_worse": mlp < direct, "gap": direct - mlp}


def hf_peft_agreement(model, base, input_ids, attention_mask=None) -> dict:
    """Build HF PEFT's version of the peft_lab LoRA ``model`` around ``base`` (``hf_peft.to_hf_peft``)
    and measure: the largest output difference unmerged (``gap``) and merged (``merged_gap``:
    ``merge_and_unload`` vs ``pl.merge``), and both tools' trainable and total counts (HF's counted
    before merging). ``model`` is left unchanged (merged on a copy)."""
    from ..hf_peft import to_hf_peft
    from ..methods import count_parameters, merge
    import torch
    theirs = to_hf_peft(model, base)
    hf_trainable, hf_total = theirs.get_nb_trainable_parameters()   # before merge_and_unload
    trainable, total = count_parameters(model)
    with torch.no_grad():
        ours = model.eval()(input_ids, attention_mask=attention_mask)
        gap = (theirs(input_ids, attention_mask=attention_mask) - ours).abs().max().item()
        merged = merge(copy.deepcopy(model)).eval()(input_ids, attention_mask=attention_mask)
        merged_gap = (theirs.merge_and_unload()(input_ids, attention_mask=attention_mask) - merged).abs().max().item()
    return {"gap": gap, "merged_gap": merged_gap, "hf_trainable": hf_trainable, "hf_total": hf_total,
            "trainable": trainable, "total": total, "head": head_parameters(model)}


def runs_from_stats(groups: dict) -> dict:
    """A results dict (``{"meta", "runs"}``) whose final runs of each label have exactly the given
    ``{label: (mean, std, n)}`` of ``test_accuracy`` (sample standard deviation, as ``summarize``)."""
    runs = []
    for label, (mean, std, n) in groups.items():
        check_positive_int("n", n, owner=f"runs of {label!r}")
        if std < 0 or (n == 1 and std != 0):
            raise ValueError(f"std={std!r} for {label!r} must be >= 0, and 0 when n == 1")
        z = [(-1) ** (i + 1) for i in range(n - n % 2)] + [0] * (n % 2)   # mean 0
        scale = math.sqrt((n - 1) / sum(v * v for v in z)) if n > 1 else 0.0   # sample std 1
        runs += [{"label": label, "stage": "final", "metrics": {"test_accuracy": mean + std * scale * v}} for v in z]
    return {"meta": {}, "runs": runs}


def within_noise_from_stats(mean_a, mean_b, std_a, std_b, n_a, n_b, N, z: float = Z) -> bool:
    """``experiments.noise.compare``'s verdict from summary statistics: is ``mean_a - mean_b`` within
    ``z`` standard errors (seeds and a test set of ``N`` examples)?"""
    runs = runs_from_stats({"a": (mean_a, std_a, n_a), "b": (mean_b, std_b, n_b)})
    return compare(runs, "a", "b", n_test=N, z=z)["within_noise"]


def committed_failures(results: dict, n_test: int, z: float = Z) -> list[dict]:
    """Every failure of the ``failures`` sweep (``results/failures.json``, full recipe) beside its
    healthy run: one row per mode with the method, the mean test accuracy of each side, their
    ``noise.compare`` (seed spread + the test set's sampling error) and the last windowed training
    loss of each side (``failures.from_results``)."""
    from ..failures import COMMITTED_MODES, from_results
    present = {r.get("variant") for r in results["runs"]}
    rows = []
    for mode in (m for m in COMMITTED_MODES if m in present):
        s = from_results(results, mode).symptom
        c = compare(results, mode, "fail_healthy", n_test, by="variant", metric="test_accuracy",
                    where={"label": s["label"]}, z=z)

        def mean_of(side, field):
            values = [r[field] for r in s[side]["runs"] if r[field] is not None]
            return sum(values) / len(values) if values else None
        rows.append({"mode": mode, "label": s["label"], "failing": s["failing"]["test_accuracy"],
                     "healthy": s["healthy"]["test_accuracy"], "compare": c,
                     "loss_failing": mean_of("failing", "loss_last"), "loss_healthy": mean_of("healthy", "loss_last"),
                     "params_failing": mean_of("failing", "trainable_params"),
                     "params_healthy": mean_of("healthy", "trainable_params"), "seeds": c["runs_a"]})
    if not rows:
        raise ValueError(f"no committed failure in these results; variants there: {sorted(present, key=str)}")
    return rows


def failure_names() -> dict[str, str]:
    """Chinese names of the committed failure modes, with the settings the sweep used."""
    from ..experiments.sweeps import FAILURE_B_STD, FAILURE_LR_FACTOR, FAILURE_STEPS, STEPS
    return {"fail_lr_high": f"学习率过高（选定值的 {FAILURE_LR_FACTOR} 倍）",
            "fail_few_steps": f"训练步数太少（{FAILURE_STEPS} 步，而不是 {STEPS} 步）",
            "fail_b_nonzero": f"$B$ 没有初始化为零（$\\mathcal N(0, {FAILURE_B_STD}^2)$）",
            "fail_not_frozen": "忘记冻结基座（全部参数可训练）",
            "fail_prefix_direct": "前缀不做重参数化（直接训练前缀）"}


def failures_table(rows: list[dict]) -> str:
    """``committed_failures`` rows as a Markdown table (accuracies in %, differences in points)."""
    from ..i18n import t
    names = failure_names()
    lines = ["| 故障 | 方法 | 故障时测试准确率 | 健康时 | 差（百分点） | 末段训练损失（故障 / 健康） | 可训练参数（故障 / 健康） |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["compare"]
        verdict = "噪声内" if c["within_noise"] else "超出噪声"
        loss = (f"{r['loss_failing']:.3f} / {r['loss_healthy']:.3f}"
                if r["loss_failing"] is not None and r["loss_healthy"] is not None else "—")
        params = (f"{r['params_failing']:,.0f} / {r['params_healthy']:,.0f}"
                  if r.get("params_failing") is not None and r.get("params_healthy") is not None else "—")
        lines.append(f"| {names.get(r['mode'], r['mode'])} | {t(r['label'])} | {r['failing']:.1%} | {r['healthy']:.1%} | "
                     f"{100 * c['difference']:+.1f}（±{100 * c['threshold']:.1f}，{verdict}） | {loss} | {params} |")
    return "\n".join(lines)
