"""02_lora's cell logic (``peft_lab.lessons.lora``): each function's property on constructed data,
never the committed numbers."""
import copy

import pytest
import torch

import peft_lab as pl
from peft_lab.lessons import lora as lesson
from peft_lab.methods import dora, lora


def run(label="lora", acc=0.8, seed=0, stage="final", **fields):
    return {"label": label, "seed": seed, "stage": stage, "status": "ok", "lr": fields.pop("lr", 1e-3),
            "config": fields.pop("config", {}), "metrics": {"test_accuracy": acc, **fields.pop("metrics", {})}, **fields}


def test_pct_renders_mean_and_std_in_percent():
    assert lesson.pct({"mean": 0.8125, "std": 0.0104, "n": 2}) == "81.2%（± 1.0）"
    assert lesson.pct({"mean": 0.5, "std": 0.0, "n": 1}, digits=0) == "50%（± 0）"


def test_outputs_are_identical_right_after_injection_and_differ_once_B_moves(make_model, batch):
    ids, mask = batch
    base = make_model().train()
    model = pl.apply(copy.deepcopy(base), pl.LoRAConfig(r=4, target_modules=("q_proj", "v_proj")))
    assert lesson.same_outputs(base, model, ids, mask)
    assert not base.training and not model.training   # compared without dropout
    with torch.no_grad():
        model.layers[0].self_attn.q_proj.B.fill_(0.1)
    assert not lesson.same_outputs(base, model, ids, mask)


def test_by_variant_rank_groups_final_runs_by_variant_and_rank():
    runs = [run(acc=a, seed=s, variant=v, config={"r": r}, metrics={"sec_per_step": 0.01 * r})
            for v, r, a, s in [("alpha=16", 1, 0.7, 0), ("alpha=16", 1, 0.8, 1), ("alpha=2r", 64, 0.5, 0)]]
    runs.append(run(acc=0.1, variant="alpha=16", config={"r": 1}, stage="lr_search"))   # not a final run
    acc = lesson.by_variant_rank({"runs": runs})
    assert set(acc) == {("alpha=16", 1), ("alpha=2r", 64)}
    assert acc["alpha=16", 1]["mean"] == pytest.approx(0.75) and acc["alpha=16", 1]["n"] == 2
    assert lesson.by_variant_rank({"runs": runs}, "sec_per_step")["alpha=2r", 64]["mean"] == pytest.approx(0.64)


def rows(low, high):
    return {"rows": {"base": {"ratio": 1.0, "ratio_iqr": [1.0, 1.0]},
                     "lora_unmerged": {"ratio": 1.3, "ratio_iqr": [1.2, 1.4]},
                     "lora_merged": {"ratio": (low + high) / 2, "ratio_iqr": [low, high]}}}


def test_merged_latency_equals_the_base_exactly_when_its_iqr_contains_one():
    assert lesson.latency(rows(0.95, 1.05))["same_as_base"]
    assert lesson.latency(rows(1.0, 1.1))["same_as_base"]        # the edge counts as inside
    assert not lesson.latency(rows(1.01, 1.1))["same_as_base"]
    assert not lesson.latency(rows(0.8, 0.99))["same_as_base"]
    out = lesson.latency(rows(0.9, 1.1))
    assert out["unmerged"] == 1.3 and out["merged_iqr"] == (0.9, 1.1)
    with pytest.raises(ValueError, match="'lora_merged'.*variants"):
        lesson.latency({"rows": {"base": {}, "lora_unmerged": {}}})


def test_adalora_mean_ranks_average_each_kind_over_layers_and_runs():
    patterns = [{"layers.0.self_attn.q_proj": 12, "layers.1.self_attn.q_proj": 4, "layers.0.mlp.up_proj": 2},
                {"layers.0.self_attn.q_proj": 8, "layers.1.self_attn.q_proj": 0, "layers.0.mlp.up_proj": 6}]
    runs = [run("adalora", seed=s, details={"rank_pattern": p}) for s, p in enumerate(patterns)]
    out = lesson.adalora_mean_ranks({"runs": runs + [run("lora")]})
    assert out == {"runs": 2, "means": {"q_proj": 6.0, "up_proj": 4.0}}
    with pytest.raises(ValueError, match="label='adalora'"):
        lesson.adalora_mean_ranks({"runs": [run("lora")]})


def test_quantize_base_applies_qlora_and_measures_every_quantised_layer(make_model):
    model = make_model()
    linears = {n: m.weight.numel() for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "head"}
    out = lesson.quantize_base(model, pl.QLoRAConfig(r=4))
    assert pl.methods.base.peft_layers(model)                  # QLoRA is on the model now
    assert out["layers"] == len(linears) == len(out["errors"])
    assert out["fp32_bytes"] == 4 * sum(linears.values())
    assert 4 < out["bits"] < 8 and out["stored_bytes"] * 4 < out["fp32_bytes"]   # 4-bit codes plus constants
    assert all(0 < e < 0.2 for e in out["errors"])
    with pytest.raises(TypeError, match="QLoRAConfig"):
        lesson.quantize_base(make_model(), pl.LoRAConfig(r=4))


@pytest.mark.parametrize("z", [1.0, 2.0])
def test_verdict_flips_when_the_difference_crosses_z_standard_errors(z):
    se = 0.01
    assert lesson.verdict(0.99 * z * se, se, z) == "within"
    assert lesson.verdict(-0.99 * z * se, se, z) == "within"
    assert lesson.verdict(1.01 * z * se, se, z) == "higher"
    assert lesson.verdict(-1.01 * z * se, se, z) == "lower"
    with pytest.raises(ValueError, match="se=-0.01"):
        lesson.verdict(0.1, -se)


def test_loraplus_vs_lora_reads_gap_se_rates_and_ratio_from_the_runs():
    opt = {"name": "loraplus", "ratio": 4}
    runs = ([run("lora", a, s, lr=1e-3) for s, a in enumerate([0.80, 0.82])]
            + [run("loraplus", a, s, lr=1e-4, optimizer=opt) for s, a in enumerate([0.70, 0.74])])
    n_test = 2000
    out = lesson.loraplus_vs_lora({"runs": runs}, n_test)
    assert out["gap"] == pytest.approx(0.72 - 0.81)
    sd_a, sd_b = torch.tensor([0.70, 0.74]).std().item(), torch.tensor([0.80, 0.82]).std().item()
    seeds = sd_a ** 2 / 2 + sd_b ** 2 / 2
    sampling = 0.72 * 0.28 / n_test + 0.81 * 0.19 / n_test        # each mean's test-set sampling error²
    assert out["se"] == pytest.approx((seeds + sampling) ** 0.5, rel=1e-5)
    assert out["lr"] == {"lora": 1e-3, "loraplus": 1e-4} and out["ratio"] == 4
    assert out["verdict"] == lesson.verdict(out["gap"], out["se"]) == "lower"
    # a gap the seeds alone would call real, inside the test set's sampling error on few reviews
    close = ([run("lora", a, s) for s, a in enumerate([0.800, 0.801])]
             + [run("loraplus", a, s, optimizer=opt) for s, a in enumerate([0.780, 0.781])])
    assert lesson.verdict(-0.02, (2 * 0.0007 ** 2 / 2) ** 0.5) == "lower"
    assert lesson.loraplus_vs_lora({"runs": close}, 300)["verdict"] == "within"
    with pytest.raises(ValueError, match="'loraplus'"):
        lesson.loraplus_vs_lora({"runs": runs[:2]}, n_test)
    # the sentence: the verdict in words, and the rate comparison only when LoRA+ did not come out higher
    said = lesson.loraplus_sentence(out)
    assert "LoRA 81.0%" in said and "LoRA+ 72.0%" in said and "差 -9.0 个百分点" in said
    assert lesson.LORAPLUS_VERDICT["lower"] in said and "基础学习率是 LoRA 的 0.1 倍" in said
    assert "B 的实际学习率是 LoRA 的 0.4 倍" in said
    higher = dict(out, verdict="higher")
    assert lesson.LORAPLUS_VERDICT["higher"] in lesson.loraplus_sentence(higher)
    assert "没有带来" not in lesson.loraplus_sentence(higher)


def test_dora_keeps_row_norms_where_lora_with_the_same_update_does_not(make_model):
    q = make_model().layers[0].self_attn.q_proj
    layers = [lora.LoRALinear(q, r=4, alpha=8), dora.DoRALinear(q, r=4, alpha=8)]
    lesson.set_update(layers, A=layers[0].A, B=0.5 * torch.randn_like(layers[0].B))
    assert torch.equal(layers[0].A, layers[1].A) and torch.equal(layers[0].B, layers[1].B)
    lo, do = (lesson.norm_and_direction(layer.weight, q.weight) for layer in layers)
    assert do["max_norm_deviation"] < 1e-5 < lo["max_norm_deviation"]
    assert do["mean_cosine"] == pytest.approx(lo["mean_cosine"], abs=1e-5) and lo["mean_cosine"] < 1
    same = lesson.norm_and_direction(q.weight, q.weight)
    assert same["max_norm_deviation"] == 0 and same["mean_cosine"] == pytest.approx(1)
    with pytest.raises(ValueError, match="shape"):
        lesson.norm_and_direction(q.weight, q.weight[:-1])


def test_loraplus_ratios_finds_the_best_ratio_and_judges_it_against_plain_lora():
    runs = [run("loraplus", acc=0.70 + 0.01 * k + 0.002 * s, seed=s, lr=3e-4,
                optimizer={"name": "loraplus", "ratio": k}) for k in (1, 4, 16) for s in (0, 1)]
    out = lesson.loraplus_ratios({"runs": runs}, n_test=1000)
    assert out["best"] == 16 and out["base_lr"] == 3e-4
    assert out["by_ratio"][1]["mean"] == pytest.approx(0.711)
    assert out["vs_one"]["difference"] == pytest.approx(0.15) and not out["vs_one"]["within_noise"]
    flat = [dict(r, metrics={"test_accuracy": 0.75}) for r in runs]
    assert lesson.loraplus_ratios({"runs": flat}, n_test=1000)["vs_one"] is None   # λ = 1 ties for best: first wins
    with pytest.raises(ValueError, match="ratio 1"):
        lesson.loraplus_ratios({"runs": [r for r in runs if r["optimizer"]["ratio"] != 1]}, n_test=1000)
    mixed = runs + [run("loraplus", acc=0.7, seed=2, lr=1e-3, optimizer={"name": "loraplus", "ratio": 4})]
    with pytest.raises(ValueError, match="different base rates"):
        lesson.loraplus_ratios({"runs": mixed}, n_test=1000)


def test_dylora_reading_uses_seeds_and_test_sampling_and_claims_a_cost_only_beyond_noise():
    def s(mean, std=0.0, n=3):
        return {"mean": mean, "std": std, "n": n}
    n_test = 10_000                          # sampling error about ±0.4 points per mean
    by = {"dylora": {1: s(0.60), 2: s(0.79), 4: s(0.80)}, "lora": {1: s(0.75), 2: s(0.80), 4: s(0.80)}}
    d = lesson.dylora_vs_lora(by, n_test)
    assert d["full"] == 4 and d["usable"] == 2            # b = 1 is 20 points below full rank, b = 2 is not
    assert not d["vs_lora"][1]["within_noise"] and d["vs_lora"][2]["within_noise"]
    said = lesson.dylora_sentence(by, n_test)
    assert "从 b = 2 起" in said and "在 r = 1 上它低于专门训练的 LoRA，超出噪声" in said
    # the same means with a wide seed spread: nothing is beyond noise, and the sentence says so
    wide = {half: {k: s(v["mean"], std=0.15) for k, v in ranks.items()} for half, ranks in by.items()}
    said = lesson.dylora_sentence(wide, n_test)
    assert "从 b = 1 起" in said and "每一个差都在噪声之内" in said and "超出噪声" not in said
    assert "均值上有 2 个秩比 LoRA 低" in said
    with pytest.raises(ValueError, match="none in common"):
        lesson.dylora_vs_lora({"dylora": {1: s(0.7)}, "lora": {8: s(0.8)}}, n_test)
