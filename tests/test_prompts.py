"""Soft prompts: prompt tuning, P-Tuning, prefix tuning, P-Tuning v2.

Where the vectors go, exact counts (and HF PEFT's), padding invariance, folding the
reparameterisation away with identical outputs, generation with a prefix, save/load, errors.
"""
import pytest
import torch
import torch.nn.functional as F
from helpers import train_to_say_7
from torch import nn

import peft_lab as pl
from peft_lab.data import Vocab
from peft_lab.methods.prefix_tuning import PrefixKV

D, N_LAYERS, L, H = 32, 2, 5, 16   # the fixture model's width and depth; prompt length; encoder width

CONFIGS = {
    "prompt_tuning": lambda: pl.PromptTuningConfig(num_virtual_tokens=L),
    "p_tuning_mlp": lambda: pl.PTuningConfig(num_virtual_tokens=L, encoder_hidden_size=H, encoder="mlp"),
    "p_tuning_lstm": lambda: pl.PTuningConfig(num_virtual_tokens=L, encoder_hidden_size=H, encoder="lstm"),
    "prefix_tuning": lambda: pl.PrefixTuningConfig(num_virtual_tokens=L, encoder_hidden_size=H),
    "p_tuning_v2": lambda: pl.PTuningV2Config(num_virtual_tokens=L),
}
FOLDABLE = ["p_tuning_mlp", "p_tuning_lstm", "prefix_tuning"]


def linear(i, o):
    return i * o + o


def lstm_layer(i, h):   # one direction: 4 gates, input and recurrent weights, two biases
    return 4 * h * i + 4 * h * h + 8 * h


EXPECTED_TRAINABLE = {   # the lm head is pretrained and stays frozen: only the method trains
    "prompt_tuning": L * D,
    "p_tuning_mlp": L * D + linear(D, H) + linear(H, H) + linear(H, D),
    "p_tuning_lstm": (L * D + 2 * lstm_layer(D, H) + 2 * lstm_layer(2 * H, H)
                      + linear(2 * H, 2 * H) + linear(2 * H, D)),
    "prefix_tuning": L * D + linear(D, H) + linear(H, 2 * N_LAYERS * D),
    "p_tuning_v2": L * 2 * N_LAYERS * D,
}
FOLDED = {"p_tuning_mlp": L * D, "p_tuning_lstm": L * D, "prefix_tuning": L * 2 * N_LAYERS * D}



def applied(make_model, name, **model_kwargs):
    return pl.apply(make_model(**model_kwargs), CONFIGS[name]())


# ----------------------------------------------------------------------------- where and how many

@pytest.mark.parametrize("name", CONFIGS)
def test_trainable_count_equals_the_formula(make_model, name):
    model = applied(make_model, name, head="lm")
    assert pl.count_parameters(model)[0] == EXPECTED_TRAINABLE[name]


@pytest.mark.parametrize("name,where", [("prompt_tuning", "input"), ("p_tuning_mlp", "input"),
                                        ("prefix_tuning", "every layer"), ("p_tuning_v2", "every layer")])
def test_vectors_go_into_the_input_or_into_every_layer(make_model, name, where):
    virtual = applied(make_model, name).virtual_tokens()
    if where == "input":
        assert virtual.prefix is None and virtual.embeds.shape == (1, L, D)
    else:
        assert virtual.embeds is None and len(virtual.prefix) == N_LAYERS
        assert all(k.shape == v.shape == (1, L, D) for k, v in virtual.prefix)


@pytest.mark.parametrize("name", ["p_tuning_mlp", "p_tuning_lstm", "prefix_tuning", "p_tuning_v2"])
def test_counts_agree_with_hf_peft(make_model, name):
    import peft  # the dev extra installs it: HF PEFT is the reference these counts must match
    from peft.tuners.p_tuning.model import PromptEncoder
    from peft.tuners.prefix_tuning.model import PrefixEncoder
    shape = dict(num_virtual_tokens=L, token_dim=D, num_layers=N_LAYERS, num_attention_heads=4,
                 num_transformer_submodules=1, encoder_hidden_size=H)
    if name.startswith("p_tuning_") and name != "p_tuning_v2":
        kind = "MLP" if name.endswith("mlp") else "LSTM"
        hf = PromptEncoder(peft.PromptEncoderConfig(encoder_reparameterization_type=kind, **shape))
    else:
        hf = PrefixEncoder(peft.PrefixTuningConfig(prefix_projection=name == "prefix_tuning", **shape))
    model = applied(make_model, name, head="lm")
    assert pl.count_parameters(model)[0] == sum(p.numel() for p in hf.parameters())


# ----------------------------------------------------------------------------- behaviour

@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("name", CONFIGS)
def test_padding_does_not_change_real_tokens(make_model, batch, name, causal):
    ids, mask = batch
    for head in ("lm", "token", "cls"):
        model = applied(make_model, name, head=head, causal=causal)
        out = model(ids, attention_mask=mask)
        for i in range(len(ids)):
            n = int(mask[i].sum())
            alone = model(ids[i:i + 1, :n])[0]
            torch.testing.assert_close(out[i] if head == "cls" else out[i, :n], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_the_prompt_changes_outputs_and_remove_restores_them(make_model, batch, name):
    ids, mask = batch
    model = make_model(head="token")
    before = model(ids, attention_mask=mask)
    pl.apply(model, CONFIGS[name]())
    assert not torch.allclose(model(ids, attention_mask=mask), before, atol=1e-4)
    pl.remove(model)
    assert model.soft_prompt is None
    torch.testing.assert_close(model(ids, attention_mask=mask), before, rtol=0, atol=0)


@pytest.mark.parametrize("length", [11, 3])
def test_init_text_starts_from_the_texts_embeddings_repeated_or_truncated(make_model, length):
    model = make_model()
    model.vocab = Vocab(tuple("这条评论的情感是"))
    pl.apply(model, pl.PromptTuningConfig(num_virtual_tokens=length, init_text="这条评论的情感是"))
    ids = model.vocab.encode("这条评论的情感是", bos=False)   # 8 characters, none unknown
    assert pl.data.Vocab.UNK not in ids
    ids = (ids + ids)[:length]   # 11 = the 8 characters, then the first 3 again; 3 = the first 3
    assert torch.equal(model.soft_prompt.prompt, model.embed_tokens.weight[torch.tensor(ids)])


@pytest.mark.parametrize("name", FOLDABLE)
def test_fold_gives_identical_outputs_with_fewer_parameters(make_model, batch, name):
    ids, mask = batch
    model = applied(make_model, name, head="lm")
    before = model(ids, attention_mask=mask)
    pl.fold(model)
    assert torch.equal(model(ids, attention_mask=mask), before)
    assert pl.count_parameters(model)[0] == FOLDED[name] < EXPECTED_TRAINABLE[name]
    assert not any(isinstance(m, (nn.Linear, nn.LSTM)) for m in model.soft_prompt.modules())


@pytest.mark.parametrize("name", ["prompt_tuning", "p_tuning_v2"])
def test_fold_without_a_reparameterisation_is_a_clear_error(make_model, name):
    with pytest.raises(ValueError, match="nothing to fold"):
        pl.fold(applied(make_model, name))
    with pytest.raises(ValueError, match="no soft-prompt method"):
        pl.fold(make_model())
    model = pl.fold(applied(make_model, "prefix_tuning"))
    with pytest.raises(ValueError, match="only once"):
        pl.fold(model)


def test_generation_is_conditioned_on_the_prefix(make_model):
    model = make_model(head="lm")
    start = torch.tensor([[2, 11, 12]])
    plain = model.generate(start, max_new_tokens=6)
    assert not (plain[0, 3:] == 7).all()
    pl.apply(model, pl.PrefixTuningConfig(num_virtual_tokens=L, encoder_hidden_size=H))
    train_to_say_7(model, steps=30)   # only the prefix trains: the LM head and the body are frozen
    prefixed = model.generate(start, max_new_tokens=6)
    assert (prefixed[0, 3:] == 7).all()
    pl.fold(model)
    assert torch.equal(model.generate(start, max_new_tokens=6), prefixed)


@pytest.mark.parametrize("head", ["cls", "token"])
def test_p_tuning_v2_trains_with_classification_and_tagging_heads(make_model, batch, head):
    ids, mask = batch
    model = pl.apply(make_model(head=head, num_labels=3), pl.PTuningV2Config(num_virtual_tokens=L))
    head_params = sum(p.numel() for p in model.head.parameters())
    assert pl.count_parameters(model)[0] == L * 2 * N_LAYERS * D + head_params
    prefix = model.soft_prompt.P.detach().clone()
    labels = torch.tensor([2, 0]) if head == "cls" else torch.tensor([[0, 1, 2, 0, 1, 2], [2, 1, 0, 0, 0, 0]])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    losses = []
    for _ in range(15):
        logits = model(ids, attention_mask=mask)
        loss = F.cross_entropy(logits, labels) if head == "cls" else \
            F.cross_entropy(logits[mask.bool()], labels[mask.bool()])
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    assert (model.soft_prompt.P - prefix).abs().min(dim=-1).values.gt(0).all()   # every layer's K and V moved


@pytest.mark.parametrize("name", CONFIGS)
def test_training_lowers_the_loss_and_leaves_the_model_untouched(make_model, name):
    model = applied(make_model, name, head="lm")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    losses = train_to_say_7(model)
    assert losses[-1] < 0.99 * losses[0]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


# ----------------------------------------------------------------------------- save / load

@pytest.mark.parametrize("name,fold", [(n, False) for n in CONFIGS] + [(n, True) for n in FOLDABLE])
def test_save_and_load_is_bit_identical(make_model, batch, tmp_path, name, fold):
    ids, mask = batch
    model = applied(make_model, name, head="cls")
    with torch.no_grad():   # as after training: the head and the prompt differ from any fresh init
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    if fold:
        pl.fold(model)
    pl.save_adapter(model, tmp_path)
    assert pl.read_adapter_config(tmp_path)["state"].get("folded", False) == fold
    base = make_model(head="cls")   # the same base model ...
    torch.manual_seed(1)            # ... but the method's own init draws other random numbers
    loaded = pl.load_adapter(base, tmp_path)
    assert type(loaded.soft_prompt) is type(model.soft_prompt)
    assert torch.equal(loaded(ids, attention_mask=mask), model(ids, attention_mask=mask))
    assert pl.count_parameters(loaded) == pl.count_parameters(model)


def test_a_folded_adapter_stores_only_the_vectors(make_model, tmp_path):
    model = pl.fold(applied(make_model, "prefix_tuning", head="lm"))
    pl.save_adapter(model, tmp_path)
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert sum(t.numel() for t in tensors.values()) == L * 2 * N_LAYERS * D
    assert isinstance(model.soft_prompt, PrefixKV)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("factory,message", [
    (lambda: pl.PromptTuningConfig(num_virtual_tokens=0), "num_virtual_tokens=0"),
    (lambda: pl.PromptTuningConfig(num_virtual_tokens=-3), "num_virtual_tokens=-3"),
    (lambda: pl.PromptTuningConfig(init_text="  "), "init_text"),
    (lambda: pl.PTuningConfig(num_virtual_tokens=0), "num_virtual_tokens=0"),
    (lambda: pl.PTuningConfig(encoder_hidden_size=0), "encoder_hidden_size=0"),
    (lambda: pl.PTuningConfig(encoder="gru"), "encoder='gru' is not one of"),
    (lambda: pl.PrefixTuningConfig(num_virtual_tokens=-1), "num_virtual_tokens=-1"),
    (lambda: pl.PrefixTuningConfig(projection="yes"), "projection='yes'"),
    (lambda: pl.PTuningV2Config(num_virtual_tokens=2.5), "num_virtual_tokens=2.5"),
])
def test_bad_config_is_a_clear_error(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize("name", CONFIGS)
def test_a_prompt_that_fills_the_context_is_refused(make_model, name):
    model = make_model(max_len=L)   # P = max_len leaves no room for a single real token
    with pytest.raises(ValueError, match=rf"num_virtual_tokens={L} leaves no room.*max_len={L}"):
        pl.apply(model, CONFIGS[name]())
    model = applied(make_model, name, max_len=L + 4)
    model(torch.ones(1, 4, dtype=torch.long))   # T + P = max_len still fits
    with pytest.raises(ValueError, match=f"{L} virtual tokens exceeds"):
        model(torch.ones(1, 5, dtype=torch.long))


@pytest.mark.parametrize("name", CONFIGS)
def test_a_model_without_the_soft_prompt_slot_is_a_clear_error(name):
    model = nn.Sequential(nn.Embedding(10, D), nn.Linear(D, D))
    with pytest.raises(ValueError, match="needs the soft-prompt slot that TinyTransformer provides"):
        pl.apply(model, CONFIGS[name]())


def test_applying_twice_and_init_text_without_a_vocabulary_are_clear_errors(make_model):
    model = applied(make_model, "prefix_tuning")
    with pytest.raises(ValueError, match="already has prefix_tuning applied"):
        pl.apply(model, pl.PromptTuningConfig(num_virtual_tokens=L))
    with pytest.raises(ValueError, match="needs the model's character vocabulary"):
        pl.apply(make_model(), pl.PromptTuningConfig(num_virtual_tokens=L, init_text="这条评论的情感是"))
