"""Several task adapters over one base (peft_lab.serving) and the same LoRA in HF PEFT (peft_lab.hf_peft)."""
import pytest
import torch

import peft_lab as pl
from peft_lab import serving
from peft_lab.serving import AdapterBank
from helpers import randomize_

TASKS = {"sentiment": dict(head="cls", num_labels=2), "segmentation": dict(head="token", num_labels=4)}
CONFIG = pl.LoRAConfig(r=4, alpha=8, target_modules="all-linear")


def base(make_model, head="cls", num_labels=2, **shape):
    """The same body for every task (as pl.load_pretrained gives), with the task's new head."""
    return make_model(**shape).replace_head(head, num_labels)


def trained(make_model, seed, config=CONFIG, **head):
    model = pl.apply(base(make_model, **head), config)
    randomize_([p for p in model.parameters() if p.requires_grad], std=0.1, seed=seed)
    return model.eval()


@pytest.fixture
def saved(make_model, tmp_path):
    """Two task adapters (different heads) trained over the same base, saved; and their models."""
    models = {task: trained(make_model, seed, **head) for seed, (task, head) in enumerate(TASKS.items(), 1)}
    for task, model in models.items():
        pl.save_adapter(model, tmp_path / task)
    return models, tmp_path


def test_each_task_through_the_bank_equals_its_adapter_used_alone(make_model, batch, saved):
    models, folder = saved
    bank = AdapterBank(make_model())
    for task in TASKS:
        bank.add(task, folder / task)
    ids, mask = batch
    for task in ["sentiment", "segmentation", "sentiment"]:   # switching back and forth
        alone = pl.load_adapter(base(make_model, **TASKS[task]), folder / task).eval()
        expected = alone(ids, attention_mask=mask)
        out = bank.use(task)(ids, attention_mask=mask)
        assert bank.active == task
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected, atol=0, rtol=0)
        torch.testing.assert_close(out, models[task](ids, attention_mask=mask), atol=0, rtol=0)


def test_the_base_weights_are_one_set_of_tensors_that_never_change(make_model, saved):
    _, folder = saved
    bank = AdapterBank(make_model())
    for task in TASKS:
        bank.add(task, folder / task)
    assert bank.active == "sentiment"          # the first adapter added is active
    first = bank.base_parameters()
    snapshot = {n: p.detach().clone() for n, p in first.items()}
    bank.use("segmentation")
    bank.use("sentiment")
    after = bank.base_parameters()
    assert first.keys() == after.keys() and len(first) > 0
    assert all(after[n] is first[n] and torch.equal(after[n], snapshot[n]) for n in first)
    assert not any(n.startswith("head.") for n in first)   # the heads belong to the tasks


def test_bank_refuses_what_it_cannot_switch(make_model, saved, tmp_path):
    models, folder = saved
    with pytest.raises(ValueError, match="fresh base"):
        AdapterBank(models["sentiment"])
    bank = AdapterBank(make_model())
    bank.add("sentiment", folder / "sentiment")
    with pytest.raises(ValueError, match="already loaded"):
        bank.add("sentiment", folder / "sentiment")
    with pytest.raises(ValueError, match="no adapter named 'x'"):
        bank.use("x")
    other = trained(make_model, 3, config=pl.LoRAConfig(r=2, target_modules="all-linear"))
    pl.save_adapter(other, tmp_path / "r2")
    with pytest.raises(ValueError, match="same method and config"):
        bank.add("r2", tmp_path / "r2")
    wider = trained(make_model, 3, d_model=64)
    pl.save_adapter(wider, tmp_path / "wide")
    bank2 = AdapterBank(make_model())
    with pytest.raises(ValueError, match="another base model"):
        bank2.add("wide", tmp_path / "wide")
    pl.merge(bank.use("sentiment"))
    with pytest.raises(ValueError, match="merged"):
        bank.use("sentiment")


@pytest.mark.parametrize("variant", ["lora", "dora"])
def test_hf_peft_twin_gives_the_same_outputs_and_merges_the_same(make_model, batch, variant):
    pytest.importorskip("peft")
    from peft_lab.hf_peft import to_hf_peft
    ids, mask = batch
    ours = trained(make_model, 5, config=pl.LoRAConfig(r=4, alpha=8, target_modules=("q_proj", "v_proj", "up_proj"),
                                                       use_dora=variant == "dora"))
    theirs = to_hf_peft(ours, make_model())
    torch.testing.assert_close(theirs(ids, attention_mask=mask), ours(ids, attention_mask=mask), atol=1e-5, rtol=0)
    assert sum(p.numel() for p in theirs.parameters() if p.requires_grad) == pl.count_parameters(ours)[0]
    merged = theirs.merge_and_unload()
    torch.testing.assert_close(merged(ids, attention_mask=mask), pl.merge(ours)(ids, attention_mask=mask),
                               atol=1e-5, rtol=0)


def test_hf_peft_twin_refuses_other_methods_and_other_bases(make_model):
    pytest.importorskip("peft")
    from peft_lab.hf_peft import to_hf_peft
    with pytest.raises(ValueError, match="LoRAConfig"):
        to_hf_peft(pl.apply(make_model(), pl.AdapterConfig(bottleneck=4)), make_model())
    with pytest.raises(ValueError, match="same shape and head"):
        to_hf_peft(pl.apply(make_model(), CONFIG), base(make_model, head="token", num_labels=4))


def test_segment_cuts_where_the_tags_say_and_classify_reads_the_label():
    model = pl.load_pretrained("token", num_labels=4).eval()
    with torch.no_grad():                     # a head that says E after every character: one word each
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0]))   # B M E S
    assert serving.segment(model, "我们爱北京") == list("我们爱北京")
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))   # all B: the word never ends
    assert serving.segment(model, "我们爱北京") == ["我们爱北京"]
    with pytest.raises(ValueError, match="head='cls'"):
        serving.classify(model, "好")
    cls = pl.load_pretrained("cls").eval()
    with torch.no_grad():
        cls.head.weight.zero_()
        cls.head.bias.copy_(torch.tensor([0.0, 3.0]))
    assert serving.classify(cls, "很好") == 1
    with pytest.raises(ValueError, match="non-empty"):
        serving.classify(cls, "")
