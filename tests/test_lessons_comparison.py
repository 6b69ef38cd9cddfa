"""05_comparison's verdicts follow the data: built on constructed results, never on the committed numbers."""
import pytest

from peft_lab.i18n import t
from peft_lab.lessons import comparison as cmp

N = 1000   # test examples behind each constructed accuracy


def run(label, seed, acc, **metrics):
    base = {"test_accuracy": acc, "trainable_params": 100, "trainable_share": 0.01, "memory": {"total": 1e8},
            "sec_per_step": 0.2, "latency_ms": 50.0, "latency_merged_ms": None, "adapter_bytes": 1e5}
    return {"label": label, "seed": seed, "stage": "final", "status": "ok", "config": {},
            "metrics": {**base, **metrics}}


def results(spec: dict) -> dict:
    """{label: ([acc per seed], {metric: value or [value per seed]})} -> a results dict."""
    runs = []
    for label, (accs, metrics) in spec.items():
        for seed, acc in enumerate(accs):
            m = {k: (v[seed] if isinstance(v, list) else v) for k, v in metrics.items()}
            runs.append(run(label, seed, acc, **m))
    return {"meta": {"sweep": "constructed"}, "runs": runs}


FULL = {"trainable_params": 10_000, "trainable_share": 1.0, "memory": {"total": 2e8}, "adapter_bytes": 4e6}


def methods():
    return results({
        "full": ([0.80, 0.81, 0.80], FULL),
        "lora": ([0.80, 0.80, 0.81], {"trainable_params": 500, "memory": {"total": 1.9e8}, "adapter_bytes": 2e5,
                                      "latency_ms": [70.0, 71.0, 69.0], "latency_merged_ms": [50.0, 51.0, 49.0]}),
        "slow": ([0.60, 0.61, 0.60], {"memory": {"total": 1e8}, "latency_ms": [90.0, 91.0, 89.0]}),
        "small": ([0.72, 0.72, 0.73], {"memory": {"total": 5e7}, "trainable_params": 10}),
    })


def test_seed_counts_and_the_sentence_say_one_seed_only_when_there_is_one():
    three = methods()
    assert cmp.seed_counts(three) == {"min": 3, "max": 3, "per_label": {"full": 3, "lora": 3, "slow": 3, "small": 3}}
    assert "3 个种子" in cmp.seed_sentence(three, N) and "只有 1 个种子" not in cmp.seed_sentence(three, N)
    one = results({"full": ([0.8], {}), "lora": ([0.7], {})})
    assert "每种方法只有 1 个种子" in cmp.seed_sentence(one, N)
    mixed = results({"full": ([0.8, 0.81], {}), "lora": ([0.7], {})})
    assert "1 种方法只有 1 个种子" in cmp.seed_sentence(mixed, N)
    with pytest.raises(ValueError, match="no finished final run"):
        cmp.seed_counts({"runs": []})


def test_overview_sorts_by_mean_and_marks_who_is_within_noise_of_the_best():
    rows = cmp.overview(methods(), N)
    assert [r["label"] for r in rows][:2] in (["full", "lora"], ["lora", "full"])
    assert [r["label"] for r in rows][2:] == ["small", "slow"]
    assert all(a["accuracy"]["mean"] >= b["accuracy"]["mean"] for a, b in zip(rows, rows[1:]))
    by = {r["label"]: r for r in rows}
    assert by["lora"]["within_noise_of_best"] and by["full"]["within_noise_of_best"]
    assert not by["slow"]["within_noise_of_best"]
    assert by["lora"]["latency"] == pytest.approx(50.0)        # merged latency where the method merges
    assert by["slow"]["latency"] == pytest.approx(90.0)


def test_markdown_table_has_a_row_per_method_and_drops_columns_nobody_measured():
    rows = cmp.overview(methods(), N)
    table = cmp.markdown_table(rows)
    assert len(table.splitlines()) == 2 + len(rows) and "推理延迟" in table and "±" in table
    unmeasured = results({"full": ([0.8], {"memory": None, "latency_ms": None}),
                          "lora": ([0.7], {"memory": None, "latency_ms": None})})
    table = cmp.markdown_table(cmp.overview(unmeasured, N))
    assert "训练内存" not in table and "推理延迟" not in table and t("lora") in table
    assert "±" not in table        # one seed: no spread to show


def test_rank_correlation_is_one_for_the_same_order_and_minus_one_reversed():
    assert cmp.rank_correlation([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert cmp.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert cmp.rank_correlation([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254)   # ties share a rank
    with pytest.raises(ValueError, match="lengths"):
        cmp.rank_correlation([1], [1])


def test_across_tasks_finds_what_tops_both():
    first = methods()
    same = cmp.across_tasks(first, first, N, N)
    assert same["rho"] == pytest.approx(1.0) and set(same["top_both"]) == {"full", "lora"}
    flipped = results({"full": ([0.6, 0.6, 0.61], {}), "lora": ([0.8, 0.8, 0.81], {}),
                       "slow": ([0.9, 0.9, 0.9], {}), "small": ([0.7, 0.7, 0.7], {})})
    other = cmp.across_tasks(first, flipped, N, N)
    assert other["rho"] < 0 and other["top_second"] == ["slow"] and other["top_both"] == []


def sizes(spec: dict) -> dict:
    """{train_size: {label: [acc per seed]}} -> a train_size sweep."""
    runs = [dict(run(label, seed, acc), train_size=n) for n, by in spec.items()
            for label, accs in by.items() for seed, acc in enumerate(accs)]
    return {"meta": {}, "runs": runs}


def test_low_data_names_a_win_only_beyond_noise():
    sweep = sizes({100: {"lora": [0.70, 0.70], "full": [0.60, 0.60]},
                   1000: {"lora": [0.76, 0.77], "full": [0.755, 0.765]},
                   10000: {"lora": [0.75, 0.75], "full": [0.85, 0.85]}})
    verdicts = {v["train_size"]: v["verdict"] for v in cmp.low_data(sweep, N)}
    assert verdicts == {100: "a", 1000: "tie", 10000: "b"}
    with pytest.raises(ValueError, match="both 'lora' and 'dora'"):
        cmp.low_data(sweep, N, "lora", "dora")


def test_low_data_verdict_flips_with_the_test_set_size():
    sweep = sizes({1000: {"lora": [0.78, 0.78], "full": [0.76, 0.76]}})
    assert cmp.low_data(sweep, 200)[0]["verdict"] == "tie"
    assert cmp.low_data(sweep, 100_000)[0]["verdict"] == "a"


def test_chapter_orders_compare_the_claimed_order_with_the_measured_one():
    labels = cmp.CHAPTER_METHODS
    claimed = cmp.CHAPTER_ORDER["accuracy"]
    agree = results({l: ([0.9 - 0.01 * claimed.index(l)], {}) for l in labels})
    reverse = results({l: ([0.8 + 0.01 * claimed.index(l)], {}) for l in labels})
    assert next(o for o in cmp.chapter_orders(agree) if o["criterion"] == "accuracy")["rho"] == pytest.approx(1.0)
    o = next(o for o in cmp.chapter_orders(reverse) if o["criterion"] == "accuracy")
    assert o["rho"] == pytest.approx(-1.0) and o["measured"] == list(reversed(claimed))


def test_ranking_with_noise_ties_near_equals_and_separates_far_ones():
    ranking = cmp.ranking_with_noise(methods(), {"accuracy": 1}, N)
    by = {r["label"]: r for r in ranking}
    assert ranking[0]["ties_top"] and ranking[0]["share_at_top"] == 1.0
    assert by["full"]["ties_top"] and by["lora"]["ties_top"]          # 0.3 points apart: within noise
    assert not by["slow"]["ties_top"] and by["slow"]["share_at_top"] < cmp.TAIL
    assert ranking == cmp.ranking_with_noise(methods(), {"accuracy": 1}, N)   # deterministic
    with pytest.raises(ValueError, match="at least one weight"):
        cmp.ranking_with_noise(methods(), {"accuracy": 0}, N)


def test_weighting_memory_moves_the_frugal_method_up():
    acc_only = [r["label"] for r in cmp.ranking_with_noise(methods(), {"accuracy": 1}, N)]
    frugal = [r["label"] for r in cmp.ranking_with_noise(methods(), {"accuracy": 1, "memory": 5}, N)]
    assert frugal.index("small") < acc_only.index("small") and frugal[0] == "small"


def test_tie_sentence_names_the_tied_methods():
    ranking = cmp.ranking_with_noise(methods(), {"accuracy": 1}, N)
    text = cmp.tie_sentence(ranking)
    assert t("full") in text and t("lora") in text and "分不出先后" in text
    alone = [{"label": "full", "ties_top": True}, {"label": "lora", "ties_top": False}]
    assert "在噪声之外领先" in cmp.tie_sentence(alone)


def test_timing_compare_uses_only_the_seed_spread():
    c = cmp.timing_compare(methods(), "slow", "full", "deployed_latency")
    assert c["difference"] == pytest.approx(40.0) and not c["within_noise"]
    assert c["se"] == pytest.approx((1.0 / 3) ** 0.5)   # std 1 ms over 3 seeds; full's latency has no spread
    with pytest.raises(ValueError, match="'nope'"):
        cmp.timing_compare(methods(), "nope", "full", "deployed_latency")


def test_decide_without_answers_recommends_the_most_accurate_group():
    d = cmp.decide(methods(), sizes({1000: {"lora": [0.7, 0.7], "full": [0.7, 0.7]}}), N)
    assert d["steps"] == [] and set(d["recommended"]) == {"full", "lora"}


def test_each_answer_drops_what_its_measurement_rules_out_and_cites_it():
    sweep = sizes({1000: {"lora": [0.70, 0.70], "full": [0.60, 0.60]}})
    d = cmp.decide(methods(), sweep, N, memory_limited=True)
    assert d["steps"][0]["dropped"] == ["full", "lora"] and "results/methods.json" in d["steps"][0]["evidence"]
    assert d["recommended"] == ["small"]           # 'slow' is below 'small' beyond noise
    d = cmp.decide(methods(), sweep, N, multi_task=True)
    assert d["steps"][0]["dropped"] == ["full"]    # a whole model per task; the others save small files
    d = cmp.decide(methods(), sweep, N, latency_sensitive=True)
    assert d["steps"][0]["dropped"] == ["slow"]    # 40 ms slower beyond noise; LoRA merged is not
    d = cmp.decide(methods(), sweep, N, small_data=True)
    assert d["steps"][0]["dropped"] == ["full"] and "results/train_size.json" in d["steps"][0]["evidence"]
    tie = sizes({1000: {"lora": [0.70, 0.70], "full": [0.70, 0.71]}})
    assert cmp.decide(methods(), tie, N, small_data=True)["steps"][0]["dropped"] == []


def test_decide_says_when_nothing_is_left_and_rejects_bad_thresholds():
    sweep = sizes({1000: {"lora": [0.7, 0.7], "full": [0.7, 0.7]}})
    d = cmp.decide(methods(), sweep, N, memory_limited=True, memory_share=0.01)
    assert d["recommended"] == [] and "没有方法" in cmp.render_decision(d)
    with pytest.raises(ValueError, match="memory_share=1.5"):
        cmp.decide(methods(), sweep, N, memory_share=1.5)
    html = cmp.render_decision(cmp.decide(methods(), sweep, N, latency_sensitive=True))
    assert "推理延迟敏感" in html and "依据" in html and "slow" in html


def test_cheapest_in_top_is_the_smallest_count_within_noise_of_the_best():
    rows = cmp.overview(methods(), N)
    assert [r["label"] for r in cmp.cheapest_in_top(rows)] == ["lora"]   # 500 parameters, within noise of full's 10,000
    twins = results({"full": ([0.8, 0.8], FULL), "a": ([0.8, 0.81], {}), "b": ([0.81, 0.8], {})})
    assert {r["label"] for r in cmp.cheapest_in_top(cmp.overview(twins, N))} == {"a", "b"}   # a tie names both


def test_memory_parts_are_the_means_of_the_measured_parts():
    data = results({"full": ([0.8, 0.8], {"memory": [{"total": 10.0, "activations": 6.0, "weights": 1.0,
                                                       "gradients": 1.0, "optimizer_state": 2.0},
                                                      {"total": 12.0, "activations": 8.0, "weights": 1.0,
                                                       "gradients": 1.0, "optimizer_state": 2.0}]})})
    parts = cmp.memory_parts(data, "full")
    assert parts["total"] == 11.0 and parts["activations"] == 7.0
    with pytest.raises(ValueError, match="'lora'"):
        cmp.memory_parts(data, "lora")


def test_render_orders_writes_one_row_per_measured_criterion():
    orders = cmp.chapter_orders(results({l: ([0.8], {}) for l in cmp.CHAPTER_METHODS}))
    table = cmp.render_orders(orders)
    assert len(table.splitlines()) == 2 + len(orders) == 2 + len(cmp.CHAPTER_ORDER)


def test_chapter_branches_agree_only_when_the_pick_is_recommended():
    sweep = sizes({1000: {"lora": [0.7, 0.7], "full": [0.7, 0.7]}})
    branches = (("快", {}, ("full",)), ("省", {"memory_limited": True}, ("full",)))
    rows = cmp.chapter_branches(methods(), sweep, N, branches)
    assert [r["agrees"] for r in rows] == [True, False]      # full is dropped when memory is limited
    table = cmp.render_branches(rows)
    assert "| 快 |" in table
    # the question is shown as the learner reads it, never as its language-table key
    assert "| 省 | 显存受限？ |" in table and "guide_q_" not in table


def test_small_data_without_a_small_size_says_which_setting_to_change():
    sweep = sizes({5000: {"lora": [0.7, 0.7], "full": [0.7, 0.7]}})
    with pytest.raises(ValueError, match="small=1000"):
        cmp.decide(methods(), sweep, N, small_data=True)
    assert cmp.decide(methods(), sweep, N, small_data=True, small=5000)["steps"][0]["key"] == "small_data"


def test_chapter_table_puts_each_word_beside_its_measurement():
    words = {"full": {"params": "全部", "accuracy": "最佳", "step": "慢", "memory": "高"},
             "slow": {"params": "少", "accuracy": "良好", "step": "快", "memory": "低"}}
    table = cmp.chapter_table(methods(), N, words)
    lines = table.splitlines()
    assert len(lines) == 2 + len(words)
    assert "“最佳” → " in lines[2] and "第一名" in lines[2]
    assert "超出噪声" in lines[3] and "“低” → 95.4 MiB" in lines[3]     # 1e8 bytes
    with pytest.raises(ValueError, match="'nope'"):
        cmp.chapter_table(methods(), N, {"nope": words["full"]})


def test_nearest_rival_is_the_next_method_within_noise_of_the_best_or_the_runner_up():
    rows = cmp.overview(methods(), N)
    best, rival = cmp.nearest_rival(rows)
    assert {best, rival} == {"full", "lora"}
    apart = cmp.overview(results({"full": ([0.90, 0.90], {}), "lora": ([0.60, 0.61], {}), "x": ([0.5, 0.5], {})}), N)
    assert cmp.nearest_rival(apart) == ("full", "lora")     # nobody within noise: the runner-up
    with pytest.raises(ValueError, match="two methods"):
        cmp.nearest_rival(apart[:1])


def test_paired_summary_counts_which_test_separates_which_pairs():
    import numpy as np
    from peft_lab.experiments.noise import pairwise
    labels = ["full", "lora", "small", "slow"]
    independent = pairwise(methods(), labels, N)
    apart = {frozenset((c["a"], c["b"])) for c in independent if not c["within_noise"]}
    # a paired matrix that separates every pair but full/lora and small/slow
    p = np.full((4, 4), 0.001)
    for a, b in (("full", "lora"), ("small", "slow")):
        p[labels.index(a), labels.index(b)] = p[labels.index(b), labels.index(a)] = 0.5
    p[0, 2] = p[2, 0] = 0.02             # full vs small: separated alone, not after Holm (3 x 0.02 > 0.05)
    np.fill_diagonal(p, 1.0)
    s = cmp.paired_summary({"labels": labels, "p": p, "correction": None}, independent)
    paired_apart = {frozenset(pair) for pair in (("full", "small"), ("full", "slow"), ("lora", "small"),
                                                 ("lora", "slow"))}
    assert s["pairs"] == 6 and s["paired_different"] == 4 and s["independent_different"] == len(apart)
    assert s["both"] == len(paired_apart & apart) and s["paired_only"] == len(paired_apart - apart)
    assert s["independent_only"] == len(apart - paired_apart)
    assert s["holm_different"] == 3
    with pytest.raises(ValueError, match="noise.pairwise"):
        cmp.paired_summary({"labels": labels, "p": p, "correction": None}, independent[:2])
    with pytest.raises(ValueError, match="uncorrected"):
        cmp.paired_summary({"labels": labels, "p": p, "correction": "holm"}, independent)


def test_tiers_sentence_lists_each_tier_in_order_with_its_members():
    text = cmp.tiers_sentence({"lora": 2, "full": 1, "ia3": 3, "bitfit": 2})
    assert text.index("第 1 档") < text.index("第 2 档") < text.index("第 3 档")
    assert f"第 2 档（2 种）：{t('lora')}、{t('bitfit')}" in text
