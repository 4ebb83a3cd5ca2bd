"""Array-API helpers shared by the accelerated spectral estimators: validation, the eigenvalue threshold
and the Rényi entropy of a renormalised spectrum (conventions: :mod:`spec.information._common`).

Everything stays an array (no ``.item()``): the functions trace with ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach
from spec.errors import ShapeError
from spec.validate import check_finite, check_simplex

__all__ = ["check_samples", "check_weights", "keep_mask", "renyi", "rtol_for"]


def check_samples(fn: str, name: str, x: Array, xp: Any, *, square: bool = False) -> tuple[int, int]:
    shape = tuple(int(s) for s in x.shape)
    if len(shape) != 2:
        raise ShapeError(fn, name, "a 2-D array (N, D), rows are samples", f"shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise ShapeError(fn, name, "at least one sample and one feature", f"shape {shape}")
    if square and shape[0] != shape[1]:
        raise ShapeError(fn, name, "a square (N, N) kernel matrix", f"shape {shape}")
    check_finite(fn, name, x, xp)
    return shape[0], shape[1]


def check_weights(fn: str, p: Array | None, n: int, xp: Any) -> None:
    if p is None:
        return
    shape = tuple(int(s) for s in p.shape)
    if shape != (n,):
        raise ShapeError(fn, "p", f"shape ({n},) (one weight per sample)", f"shape {shape}")
    check_simplex(fn, "p", p, xp)


def rtol_for(eig_rtol: float | None, n: int, d: int, dtype: Any, xp: Any) -> float:
    """``eig_rtol``, or ``min(N, D)·ε`` of the computation dtype."""
    if eig_rtol is not None:
        return float(eig_rtol)
    return max(min(n, d), 1) * float(xp.finfo(dtype).eps)


def keep_mask(lam: Array, rtol: float, xp: Any) -> Array:
    """Kept eigenvalues along the last axis: ``λ > 0`` and ``λ > rtol·λ_max`` (no gradient through the mask)."""
    lam_d = detach(lam)
    top = xp.max(lam_d, axis=-1, keepdims=True)
    return (lam_d > 0) & (lam_d > rtol * top)


def renyi(lam: Array, keep: Array, q: float, xp: Any) -> Array:
    """Rényi entropy of order ``q`` of the kept eigenvalues renormalised to sum 1 (last axis); 0 if none."""
    zero = xp.zeros_like(lam)
    k = xp.where(keep, lam, zero)
    total = xp.sum(k, axis=-1, keepdims=True)
    nonempty = total > 0
    p = k / xp.where(nonempty, total, xp.ones_like(total))
    pos = p > 0
    logp = xp.log(xp.where(pos, p, xp.ones_like(p)))
    if q == 1.0:
        return -xp.sum(xp.where(pos, p * logp, zero), axis=-1)
    if q == 0.0:
        count = xp.sum(xp.astype(keep, lam.dtype), axis=-1)
        return xp.log(xp.where(count > 0, count, xp.ones_like(count)))
    if math.isinf(q):
        top = xp.max(p, axis=-1)
        return xp.where(top > 0, -xp.log(xp.where(top > 0, top, xp.ones_like(top))), xp.zeros_like(top))
    x = (q - 1.0) * logp
    big = x > 1.0
    term = xp.where(big, xp.exp(q * logp) - p, p * xp.expm1(xp.where(big, xp.ones_like(x), x)))
    s_minus_1 = xp.sum(xp.where(pos, term, zero), axis=-1)  # Σ p^q − 1 without cancellation near q = 1
    alog = xp.where(pos, q * logp, xp.full_like(logp, -math.inf))
    m = xp.max(alog, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total_exp = xp.sum(xp.exp(alog - m), axis=-1)
    lse = xp.squeeze(m, axis=-1) + xp.log(xp.where(total_exp > 0, total_exp, xp.ones_like(total_exp)))
    ok = s_minus_1 > -0.5
    log_s = xp.where(ok, xp.log1p(xp.where(ok, s_minus_1, xp.zeros_like(s_minus_1))), lse)
    return log_s / (1.0 - q)
