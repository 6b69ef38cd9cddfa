"""The shipped checkpoint and the script that reproduces it (a smoke run, not the full recipe)."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import peft_lab as pl
from peft_lab import hub, pretrain


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained")
    done = subprocess.run([sys.executable, "-m", "peft_lab.pretrain", "--steps", "3", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_pretraining_writes_a_loadable_checkpoint_and_card(smoke):
    meta = json.loads((smoke / "tiny-zh.json").read_text(encoding="utf-8"))
    card = meta["card"]
    for field in ("data", "recipe", "final_train_loss", "held_out_loss", "wall_seconds", "sha256", "machine"):
        assert field in card
    assert card["recipe"]["steps"] == 3
    assert card["sha256"] == pretrain.sha256(load_file(str(smoke / "tiny-zh.safetensors")))
    model = pl.load_pretrained(head="cls", num_labels=2, directory=smoke)
    assert model.vocab == pl.data.Vocab.from_dict(meta["vocab"])
    assert model(torch.tensor([[2, 10, 11]])).shape == (1, 2)


def test_pretraining_is_deterministic(smoke, tmp_path):
    card = pretrain.pretrain(3, tmp_path, progress=False)
    first = json.loads((smoke / "tiny-zh.json").read_text(encoding="utf-8"))["card"]
    assert card["sha256"] == first["sha256"]
    assert card["final_train_loss"] == first["final_train_loss"]


def test_pretraining_never_overwrites_without_asking(smoke):
    done = subprocess.run([sys.executable, "-m", "peft_lab.pretrain", "--steps", "1", "--out", str(smoke)],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "--overwrite" in done.stderr


def test_masking_follows_the_bert_recipe():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(10, 4000, (64, 128))
    inputs, targets = pretrain.mask_tokens(x, 4000, 0.15, g)
    picked = targets != -100
    assert abs(picked.float().mean().item() - 0.15) < 0.01
    assert torch.equal(targets[picked], x[picked])
    masked = (inputs == pl.data.Vocab.MASK) & picked
    assert abs(masked.sum().item() / picked.sum().item() - 0.8) < 0.03
    assert torch.equal(inputs[~picked], x[~picked])


def test_shipped_checkpoint_loads_offline_without_pickle(monkeypatch):
    import pickle
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickling"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load unpickles"))
    model = pl.load_pretrained(head="lm")
    weights = load_file(str(hub.checkpoint_paths()[0]))
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert model.config.causal, "the LM head generates left to right"
    cls = pl.load_pretrained(head="cls", num_labels=3)
    assert cls.head.out_features == 3
    attention = hub.read_card()["attention"]
    assert cls.config.causal == attention["cls"]


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m peft_lab.pretrain"):
        pl.load_pretrained(directory=tmp_path)
