"""TinyTransformer: shapes, padding invariance, causality, virtual tokens, clear errors."""
import pytest
import torch

import peft_lab as pl


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("head", ["lm", "token", "cls"])
def test_padding_never_changes_a_real_tokens_output(make_model, head, causal):
    model = make_model(head=head, causal=causal)
    ids = torch.tensor([[2, 7, 8, 9]])
    padded = torch.tensor([[2, 7, 8, 9, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    alone = model(ids)
    with_pad = model(padded, attention_mask=mask)
    if head == "cls":
        torch.testing.assert_close(with_pad, alone, rtol=0, atol=1e-6)
    else:
        torch.testing.assert_close(with_pad[:, :4], alone, rtol=0, atol=1e-6)


def test_padding_inside_a_batch_matches_each_sequence_alone(make_model, batch):
    model = make_model(head="token")
    ids, mask = batch
    out = model(ids, attention_mask=mask)
    for i in range(2):
        n = int(mask[i].sum())
        torch.testing.assert_close(out[i, :n], model(ids[i:i + 1, :n])[0], rtol=0, atol=1e-6)


def test_causal_model_does_not_look_ahead(make_model):
    model = make_model(head="lm", causal=True)
    a = model(torch.tensor([[2, 7, 8, 9]]))
    b = model(torch.tensor([[2, 7, 8, 30]]))
    torch.testing.assert_close(a[:, :3], b[:, :3], rtol=0, atol=0)
    assert not torch.allclose(a[:, 3], b[:, 3])


def test_bidirectional_model_sees_the_whole_sequence(make_model):
    model = make_model(head="token", causal=False)
    a = model(torch.tensor([[2, 7, 8, 9]]))
    b = model(torch.tensor([[2, 7, 8, 30]]))
    assert not torch.allclose(a[:, 0], b[:, 0])


@pytest.mark.parametrize("head,shape", [("lm", (2, 6, 50)), ("token", (2, 6, 3)), ("cls", (2, 3))])
def test_head_shapes(make_model, batch, head, shape):
    ids, mask = batch
    assert make_model(head=head, num_labels=3)(ids, attention_mask=mask).shape == shape


class _Prompt(torch.nn.Module):
    def __init__(self, embeds=None, prefix=None):
        super().__init__()
        self.embeds, self.prefix = embeds, prefix

    def forward(self):
        return pl.VirtualTokens(self.embeds, self.prefix)


def test_prompt_embeddings_and_prefix_change_outputs_but_not_their_shape(make_model, batch):
    model = make_model(head="token")
    ids, mask = batch
    plain = model(ids, attention_mask=mask)
    model.soft_prompt = _Prompt(embeds=torch.randn(1, 3, 32))
    prompted = model(ids, attention_mask=mask)
    assert prompted.shape == plain.shape and not torch.allclose(prompted, plain)
    model.soft_prompt = _Prompt(prefix=[(torch.randn(1, 3, 32), torch.randn(1, 3, 32)) for _ in range(2)])
    prefixed = model(ids, attention_mask=mask)
    assert prefixed.shape == plain.shape and not torch.allclose(prefixed, plain)


def test_sequence_longer_than_context_is_a_clear_error(make_model):
    model = make_model(max_len=8)
    with pytest.raises(ValueError, match="max_len=8"):
        model(torch.ones(1, 9, dtype=torch.long))
    model.soft_prompt = _Prompt(embeds=torch.randn(1, 3, 32))
    with pytest.raises(ValueError, match="3 virtual tokens"):
        model(torch.ones(1, 6, dtype=torch.long))


@pytest.mark.parametrize("field,value,match", [
    ("d_model", 0, "d_model=0 must be a positive integer"),
    ("n_layers", -1, "n_layers=-1"),
    ("n_heads", 5, "n_heads=5 must divide d_model=32"),
    ("head", "qa", "head='qa' is not one of"),
    ("dropout", 1.0, r"dropout=1.0 must be in \[0, 1\)"),
    ("max_len", 2.5, "max_len=2.5"),
])
def test_bad_model_config_names_the_field(field, value, match):
    kwargs = dict(vocab_size=50, d_model=32, n_heads=4)
    kwargs[field] = value
    with pytest.raises(ValueError, match=match):
        pl.ModelConfig(**kwargs)


def test_generate_extends_the_sequence_greedily(make_model):
    model = make_model(head="lm")
    out = model.generate(torch.tensor([[2, 7]]), max_new_tokens=5)
    assert out.shape == (1, 7) and out[0, :2].tolist() == [2, 7]
    assert torch.equal(out, model.generate(torch.tensor([[2, 7]]), max_new_tokens=5))
    with pytest.raises(ValueError, match="head='lm'"):
        make_model(head="cls").generate(torch.tensor([[2]]))
