"""Why low rank works, measured: the spectrum of ΔW and the overlap of LoRA subspaces.

* ``delta_w_report(W0, W)``: singular values of ΔW = W - W0 after full fine-tuning and the share
  of its energy (squared Frobenius norm) held by the top-k directions, beside a Gaussian random
  matrix of the same shape and norm -- whose spectrum is flat, so its top-k share is small.
* ``subspace_similarity(M1, M2, n1, n2)``: the LoRA paper's (Hu et al., 2021, section 7.2)

      φ(M1, M2, i, j) = ||V1[:i] V2[:j]ᵀ||²_F / min(i, j)  ∈ [0, 1]

  over the top right-singular vectors V of two matrices (the trained A of two ranks): 1 when one
  subspace contains the other, about max(i, j) / k for random subspaces of R^k.
"""
from __future__ import annotations

import torch
from torch import nn

ENERGY_K = (1, 2, 4, 8, 16, 32)


def rounded(values, digits: int = 5) -> list:
    """Floats (nested lists too) to ``digits`` significant digits, to keep the JSON small."""
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, list):
        return [rounded(v, digits) for v in values]
    return float(f"{values:.{digits}g}")  # nan / inf survive (a diverged loss curve keeps its end)


def block_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every attention and FFN weight matrix inside the blocks, by module name."""
    return {name: m.weight.detach().clone() for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name.startswith("layers.")}


def energy(s: torch.Tensor, ks=ENERGY_K) -> dict[str, float]:
    """Share of Σ s² held by the k largest singular values, for each k (s sorted descending)."""
    total = (s ** 2).sum()
    return {str(k): rounded(float((s[:k] ** 2).sum() / total)) for k in ks if k <= len(s)}


def random_like(M: torch.Tensor, seed: int) -> torch.Tensor:
    """A Gaussian matrix with the shape and the Frobenius norm of ``M``."""
    R = torch.randn(M.shape, generator=torch.Generator().manual_seed(seed), dtype=M.dtype)
    return R * (M.norm() / R.norm())


def delta_w_report(W0: torch.Tensor, W: torch.Tensor, seed: int = 0) -> dict:
    """Spectrum and top-k energy of ΔW = W - W0 beside a random matrix of the same shape and norm."""
    delta = (W - W0).double()
    s = torch.linalg.svdvals(delta)
    s_random = torch.linalg.svdvals(random_like(delta, seed))
    return {"shape": list(delta.shape),
            "fro_norm": rounded(float(delta.norm())),
            "relative_change": rounded(float(delta.norm() / W0.double().norm())),   # ||ΔW|| / ||W0||
            "stable_rank": rounded(float((s ** 2).sum() / s[0] ** 2)),          # ||ΔW||²_F / ||ΔW||²_2
            "singular_values": rounded(s), "energy": energy(s),
            "random_singular_values": rounded(s_random), "random_energy": energy(s_random)}


def right_singular_vectors(M: torch.Tensor, n: int) -> torch.Tensor:
    """The top ``n`` right-singular vectors of M (rows of Vᵀ), (n, k)."""
    _, _, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    return Vh[:n]


def subspace_similarity(M1: torch.Tensor, M2: torch.Tensor, n1: int, n2: int) -> list[list[float]]:
    """φ(i, j) for i = 1..n1, j = 1..n2 (row i-1, column j-1) on the top right-singular vectors."""
    V1, V2 = right_singular_vectors(M1, n1), right_singular_vectors(M2, n2)   # (n1, k), (n2, k)
    overlap = (V1 @ V2.T) ** 2                     # (n1, n2): squared cosines between directions
    cumulative = overlap.cumsum(0).cumsum(1)       # [i-1, j-1] = ||V1[:i] V2[:j]ᵀ||²_F
    i = torch.arange(1, n1 + 1, dtype=torch.float64)[:, None]
    j = torch.arange(1, n2 + 1, dtype=torch.float64)[None, :]
    return rounded(cumulative / torch.minimum(i, j), 4)
