"""Shared fixtures: small models built in milliseconds, so unit tests never wait for training."""
import pytest
import torch

import peft_lab as pl


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Unit tests use tiny matrices: a second thread only adds contention (badly on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def make_model():
    """Factory for a small random TinyTransformer in eval mode (dropout off)."""
    def make(head="cls", num_labels=2, d_model=32, n_layers=2, n_heads=4, d_ff=64, vocab_size=50,
             max_len=64, causal=True, seed=0):
        torch.manual_seed(seed)
        cfg = pl.ModelConfig(vocab_size=vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                             d_ff=d_ff, max_len=max_len, dropout=0.0, head=head, num_labels=num_labels,
                             causal=causal)
        return pl.TinyTransformer(cfg).eval()
    return make


@pytest.fixture
def batch():
    """Two sequences, the second right-padded."""
    ids = torch.tensor([[2, 7, 8, 9, 10, 11], [2, 12, 13, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    return ids, mask
