"""Torch-only fast paths for the hot row reductions over a large vocabulary.

These kernels do no validation: the generic functions in :mod:`accelerated.categorical` validate
parameters before calling them and check their (small) outputs afterwards. Every kernel reduces
over the last axis, accepts float64/float32/bfloat16/float16 input, returns float64 for float64
input and float32 otherwise, and keeps extra memory bounded (no full ``(N, V)`` temporaries).
"""

from __future__ import annotations

import torch

__all__ = ["dot_rows", "entropy_rows", "logsumexp_rows"]


def _acc(z: torch.Tensor) -> torch.dtype:
    return torch.float64 if z.dtype == torch.float64 else torch.float32


def logsumexp_rows(z: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``logsumexp(z / temperature)`` over the last axis."""
    x = z.to(_acc(z))
    if temperature != 1.0:
        x = x / temperature
    return torch.logsumexp(x, dim=-1)


def entropy_rows(z: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Shannon entropy of ``softmax(z / temperature)`` over the last axis: ``lse - Σ softmax·z``."""
    x = z.to(_acc(z))
    if temperature != 1.0:
        x = x / temperature
    lse = torch.logsumexp(x, dim=-1, keepdim=True)
    p = torch.exp(x - lse)
    xs = torch.where(p > 0, x, torch.zeros_like(x))  # -inf logits have p = 0 and contribute 0
    return lse.squeeze(-1) - (p * xs).sum(-1)


def dot_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_v a_v b_v`` over the last axis, accumulated in float32 (float64 for float64)."""
    dt = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    return (a.to(dt) * b.to(dt)).sum(-1)
