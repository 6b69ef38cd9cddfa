"""Training memory as MEASURED, by part, exactly, from the tensors themselves (what ``pl.fit``
reports; ``peft_lab.budget.memory`` is the calculator that COMPUTES it from an architecture).

* weights, gradients and optimizer state: the bytes of the tensors that hold them;
* activations: the bytes of every tensor autograd saves for the backward pass, recorded with
  ``torch.autograd.graph.saved_tensors_hooks`` (parameters and duplicates of one storage are
  counted once, and parameters are not activations).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .budget.memory import MemoryParts
from .methods.base import TrainingHook


def tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


@dataclass
class MemoryBreakdown(MemoryParts):
    """What one training step of ``fit`` actually held, by part (mutable: filled during the step)."""

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in self.to_dict().items())
        return f"MemoryBreakdown({parts})"


def weight_bytes(model: nn.Module) -> int:
    return sum(tensor_bytes(p) for p in model.parameters()) + sum(tensor_bytes(b) for b in model.buffers())


def gradient_bytes(model: nn.Module) -> int:
    return sum(tensor_bytes(p.grad) for p in model.parameters() if p.grad is not None)


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(tensor_bytes(v) for state in optimizer.state.values()
               for v in state.values() if torch.is_tensor(v) and v.dim() > 0)


class SavedTensorMeter:
    """Context manager: bytes of the distinct non-parameter tensors saved for backward."""

    def __init__(self, model: nn.Module | None = None):
        self._params = {p.data_ptr() for p in model.parameters()} if model is not None else set()
        self._seen: set[tuple[int, int]] = set()
        self.bytes = 0

    def _pack(self, tensor: torch.Tensor):
        if tensor.data_ptr() not in self._params:
            storage = tensor.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in self._seen:
                self._seen.add(key)
                self.bytes += storage.nbytes()
        return tensor

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False


def peak_activation_bytes(model: nn.Module, task, batch) -> int:
    """Bytes autograd saves for backward in one training forward pass (and ``task``'s loss) over ``batch``.

    The pass is only metered, never trained on: the random state is restored afterwards, so
    ``fit`` gives the same numbers with and without measuring."""
    ids, mask, labels = batch
    with torch.random.fork_rng(devices=[]), SavedTensorMeter(model) as meter:
        task.loss(model(ids, attention_mask=mask), labels)
    return meter.bytes


class MemoryMeter(TrainingHook):
    """``fit``'s memory meter, a training hook so that the training loop holds no measuring. It fills
    ``memory``: the weights at once; the activations when training begins (one metered forward
    pass over ``batch``, which ``fit`` picks as the largest); gradients and optimizer state after
    step 0 (they have the same size at every step). Put it last: it sees the step as the other hooks left it."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, task, batch):
        self.memory = MemoryBreakdown(weights=weight_bytes(model))
        self.optimizer, self.task, self.batch = optimizer, task, batch

    def on_train_begin(self, model: nn.Module, total_steps: int) -> None:
        self.memory.activations = peak_activation_bytes(model, self.task, self.batch)

    def after_backward(self, model: nn.Module, step: int) -> None:
        if step == 0:
            self.memory.gradients = gradient_bytes(model)

    def after_step(self, model: nn.Module, step: int) -> None:
        if step == 0:
            self.memory.optimizer_state = optimizer_state_bytes(self.optimizer)
