"""The troubleshooting table's failure modes (peft_lab.failures), each reproduced on a tiny budget."""
import pytest
import torch

import peft_lab as pl
from peft_lab import failures
from peft_lab.diagnose import RISE
from peft_lab.methods.lora import LoRALinear

TINY = dict(steps=12, batch_size=8, max_len=24, eval_size=120)   # ~1 s per run
GOOD_LR = 3e-3   # the LoRA row's rate in results/methods.json (chosen on validation)


def test_a_too_high_rate_ends_worse_than_a_good_one_and_fit_says_so():
    good, high = failures.healthy(GOOD_LR, **TINY), failures.lr_too_high(GOOD_LR, factor=30, **TINY)
    assert high.symptom["lr"] == pytest.approx(30 * GOOD_LR)
    assert high.symptom["loss_last"] > good.symptom["loss_last"]
    assert high.symptom["loss_last"] > RISE * high.symptom["loss_first"] >= good.symptom["loss_last"]   # diverged
    assert high.warnings   # pl.fit said so
    assert all(isinstance(w, str) and w for w in high.warnings)
    with pytest.raises(ValueError, match="factor"):
        failures.lr_too_high(GOOD_LR, factor=0.5)


def test_one_step_is_too_few_and_fit_says_so():
    few = failures.too_few_steps(GOOD_LR, steps=1, **{k: v for k, v in TINY.items() if k != "steps"})
    assert few.run.steps == 1 and few.warnings


def test_a_random_B_changes_the_model_at_step_0_and_a_zero_B_does_not():
    pl.set_seed(0)
    base = pl.load_pretrained("lm").eval()
    ids, mask = torch.tensor([[2, 100, 200, 300, 400]]), torch.ones(1, 5, dtype=torch.long)
    before = base(ids, attention_mask=mask)
    model = pl.apply(base, failures.lora_config()).eval()
    assert torch.equal(model(ids, attention_mask=mask), before)
    failures.nonzero_B(model, std=0.3)
    assert not torch.allclose(model(ids, attention_mask=mask), before, atol=1e-3)
    rep = failures.b_not_zero(GOOD_LR, std=0.3, **TINY)
    assert rep.symptom["lm_loss_random_B"] > rep.symptom["lm_loss_zero_B"]   # pretraining damaged
    with pytest.raises(ValueError, match="std"):
        failures.nonzero_B(model, std=0)
    with pytest.raises(ValueError, match="no LoRA layers"):
        failures.nonzero_B(pl.load_pretrained("cls"), std=0.1)


def test_an_unfrozen_base_trains_everything_moves_W0_and_saves_the_whole_model():
    rep = failures.base_not_frozen(GOOD_LR, **TINY)
    s = rep.symptom
    assert s["trainable_broken"] == s["total"] > s["trainable_lora"]
    assert s["W0_change"] > 0
    assert s["adapter_bytes_broken"] > 10 * s["adapter_bytes_lora"]
    # 06 shows rep.warnings: the first is fit's check before training, naming the unfrozen base
    from peft_lab.i18n import TEXT, get_language
    assert rep.warnings and rep.warnings[0].startswith(TEXT["warn_base_unfrozen"][get_language()].split("{")[0])
    # the same model with the base frozen trains only the LoRA factors and the head
    good = failures.healthy(GOOD_LR, **TINY).run
    assert good.trainable_params == s["trainable_lora"]


def test_prefix_with_and_without_the_MLP_train_different_parameter_sets():
    rep = failures.prefix_without_reparameterisation(1e-2, length=4, **TINY)
    assert rep.run.trainable_params < rep.symptom["mlp_run"].trainable_params   # no MLP while training
    assert rep.run.config["projection"] is False and rep.symptom["mlp_run"].config["projection"] is True
    assert set(rep.symptom["direct"]) == set(rep.symptom["mlp"]) >= {"loss_first", "loss_last", "val_accuracy"}


def fake_sweep(means: dict[int, tuple[float, float]], variant="alpha=16"):
    return {"meta": {}, "runs": [{"stage": "final", "status": "ok", "label": "lora", "variant": variant,
                                  "config": {"r": r}, "metrics": {"test_accuracy": acc}}
                                 for r, accs in means.items() for acc in accs]}


def test_rank_too_small_reads_the_committed_sweep():
    close = failures.rank_too_small(fake_sweep({1: (0.79, 0.80), 8: (0.80, 0.81)}), n_test=1737)
    assert close.symptom["best"] == 8 and close.symptom["chosen"] == 1 and close.run is None
    assert close.symptom["smallest_vs_best"]["within_noise"]
    far = failures.rank_too_small(fake_sweep({1: (0.60, 0.61), 8: (0.80, 0.81)}), n_test=1737)
    assert far.symptom["chosen"] == 8 and not far.symptom["smallest_vs_best"]["within_noise"]
    other = fake_sweep({1: (0.5, 0.5)}, variant="rslora")
    with pytest.raises(ValueError, match="variant='alpha=16'.*rslora"):
        failures.rank_too_small(other, n_test=1737)


def test_adapter_bytes_counts_what_save_adapter_writes(tmp_path):
    model = pl.apply(pl.load_pretrained("cls"), failures.lora_config(r=2))
    pl.save_adapter(model, tmp_path)
    assert failures.adapter_bytes(model) == sum(f.stat().st_size for f in tmp_path.iterdir())
    assert any(isinstance(m, LoRALinear) for m in model.modules())
