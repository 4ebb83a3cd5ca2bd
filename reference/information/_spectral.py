"""Float64 helpers shared by the reference spectral estimators: input validation, the eigenvalue threshold
and the Rényi entropy of a renormalised spectrum (conventions: :mod:`spec.information._common`)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64, logsumexp, xlogy
from spec.errors import ShapeError
from spec.validate import check_finite, check_simplex

__all__ = ["default_rtol", "keep_mask", "renyi", "sample_matrix", "weights"]


def sample_matrix(fn: str, name: str, x: npt.ArrayLike, *, square: bool = False) -> F64:
    """A finite 2-D float64 matrix with at least one row and one column (square if asked)."""
    a = as_f64(x)
    if a.ndim != 2:
        raise ShapeError(fn, name, "a 2-D array (N, D), rows are samples", f"shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(fn, name, "at least one sample and one feature", f"shape {a.shape}")
    if square and a.shape[0] != a.shape[1]:
        raise ShapeError(fn, name, "a square (N, N) kernel matrix", f"shape {a.shape}")
    check_finite(fn, name, a, np)
    return a


def weights(fn: str, p: npt.ArrayLike | None, n: int) -> F64 | None:
    """Optional sample weights: shape (N,), on the simplex."""
    if p is None:
        return None
    w = as_f64(p)
    if w.shape != (n,):
        raise ShapeError(fn, "p", f"shape ({n},) (one weight per sample)", f"shape {w.shape}")
    check_simplex(fn, "p", w, np)
    return w


def keep_mask(lam: F64, rtol: float) -> npt.NDArray[np.bool_]:
    """Kept eigenvalues: ``λ > 0`` and ``λ > rtol·λ_max``."""
    top = float(np.max(lam))
    return np.asarray((lam > 0) & (lam > rtol * top))


def default_rtol(*sizes: int) -> float:
    """``min(N, D)·ε`` (float64)."""
    return max(min(sizes), 1) * float(np.finfo(np.float64).eps)


def _p_expm1(p: F64, logp: F64, d: float) -> F64:
    """``p^(1+d) − p`` without cancellation near ``d = 0`` and without overflow for tiny ``p``."""
    x = d * logp
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x > 1.0, np.exp((1.0 + d) * logp) - p, p * np.expm1(np.minimum(x, 1.0)))


def renyi(lam: F64, keep: npt.NDArray[np.bool_], q: float) -> float:
    """Rényi entropy (nats) of order ``q`` of the kept eigenvalues renormalised to sum 1; 0 if none is kept."""
    k = lam[keep]
    if k.size == 0:
        return 0.0
    p = k / np.sum(k)
    if q == 1.0:
        return float(-np.sum(xlogy(p, p)))
    if q == 0.0:
        return math.log(p.size)
    if math.isinf(q):
        return float(-np.log(np.max(p)))
    logp = np.log(p)
    s_minus_1 = float(np.sum(_p_expm1(p, logp, q - 1.0)))  # Σ p^q − 1 (Σ p = 1): no cancellation near q = 1
    log_s = math.log1p(s_minus_1) if s_minus_1 > -0.5 else float(logsumexp(q * logp))
    return log_s / (1.0 - q)

