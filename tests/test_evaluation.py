"""Batched evaluation (rows sorted by length, padded per batch, under inference mode) gives what
evaluating every example on its own, unpadded, gives."""
import math

import pytest
import torch
import torch.nn.functional as F

from peft_lab.tasks import IGNORE, Encoded, classification_metrics, get_task, segmentation_metrics


def ragged(n, vocab, seed, token_labels=None):
    """``n`` rows of random ids with lengths 3..20, padded like a split: the batches pad."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 21, (n,), generator=g)
    T = int(lengths.max())
    ids = torch.randint(5, vocab, (n, T), generator=g)
    mask = (torch.arange(T) < lengths[:, None]).long()
    ids = ids * mask
    if token_labels is None:
        labels = torch.randint(0, 2, (n,), generator=g)
    else:
        labels = torch.randint(0, token_labels, (n, T), generator=g).masked_fill(mask == 0, IGNORE)
        labels[:, 0] = IGNORE  # [BOS] carries no tag, as in the real encoding
    return Encoded(ids, mask, labels), lengths


def one_by_one(model, encoded, lengths):
    """The straightforward evaluation: each example alone, no padding."""
    model.eval()
    with torch.no_grad():
        return [model(encoded.input_ids[i:i + 1, :L])[0] for i, L in enumerate(lengths.tolist())]


@pytest.mark.parametrize("batch_size", [1, 7, 128])
def test_batched_classification_equals_one_example_at_a_time(make_model, batch_size):
    model = make_model(head="cls", causal=False)
    encoded, lengths = ragged(40, 50, seed=1)
    task = get_task("sentiment")
    alone = torch.stack(one_by_one(model, encoded, lengths)).argmax(-1)
    assert torch.equal(task.predict(model, encoded, batch_size), alone)
    assert task.evaluate(model, encoded, batch_size) == classification_metrics(alone, encoded.labels, 2)


def test_batched_tagging_equals_one_example_at_a_time(make_model):
    model = make_model(head="token", num_labels=4, causal=False)
    encoded, lengths = ragged(30, 50, seed=2, token_labels=4)
    task = get_task("segmentation")
    alone = [logits.argmax(-1) for logits in one_by_one(model, encoded, lengths)]
    batched = task.predict(model, encoded, batch_size=8)
    for i, (row, L) in enumerate(zip(alone, lengths.tolist())):
        assert torch.equal(batched[i, :L], row)
    gold = [encoded.labels[i:i + 1, :L] for i, L in enumerate(lengths.tolist())]
    assert task.evaluate(model, encoded, batch_size=8) == segmentation_metrics([r[None] for r in alone], gold)


def test_batched_lm_loss_equals_the_token_weighted_mean_of_single_examples(make_model):
    model = make_model(head="lm", vocab_size=50)
    encoded, lengths = ragged(20, 50, seed=3)
    targets = encoded.input_ids.masked_fill(encoded.attention_mask == 0, IGNORE)  # next-token labels, as encoded
    encoded = Encoded(encoded.input_ids, encoded.attention_mask, targets)
    alone = one_by_one(model, encoded, lengths)
    total = sum(F.cross_entropy(logits[:-1], encoded.input_ids[i, 1:L], reduction="sum")
                for i, (logits, L) in enumerate(zip(alone, lengths.tolist())))
    loss = float(total) / int((lengths - 1).sum())
    got = get_task("lm").evaluate(model, encoded, batch_size=6)
    assert got["loss"] == pytest.approx(loss, rel=1e-5) and got["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)


def test_evaluation_restores_the_mode_and_keeps_no_graph(make_model):
    model = make_model(head="cls", causal=False).train()
    encoded, _ = ragged(10, 50, seed=4)
    seen = []
    model.register_forward_hook(lambda m, i, out: seen.append((m.training, out.requires_grad)))
    get_task("sentiment").evaluate(model, encoded)
    assert seen and all(mode == (False, False) for mode in seen)  # eval mode (no dropout), no autograd
    assert model.training


def test_chance_is_the_share_of_the_most_frequent_label():
    labels = torch.tensor([1, 1, 1, 0])
    encoded = Encoded(torch.zeros(4, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.long), labels)
    assert get_task("sentiment").chance_accuracy(encoded) == (3 / 4, 4)
    tags = torch.tensor([[IGNORE, 3, 3, 0], [IGNORE, 1, IGNORE, IGNORE]])
    encoded = Encoded(torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4, dtype=torch.long), tags)
    assert get_task("segmentation").chance_accuracy(encoded) == (2 / 4, 4)  # IGNORE positions are no targets
