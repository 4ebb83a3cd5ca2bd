"""Small float64 helpers shared by the reference implementations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

__all__ = ["F64", "as_f64", "log_softmax", "logsumexp", "rows", "softmax", "xlogy"]


def rows(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``(..., K)`` as ``(rows, K)``; a 0-d array is one row of one entry."""
    a = np.asarray(x)
    if a.ndim == 0:
        return a.reshape(1, 1)
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def as_f64(x: npt.ArrayLike) -> F64:
    """``x`` as a float64 NumPy array (copying only when needed)."""
    return np.asarray(x, dtype=np.float64)


def xlogy(x: F64, y: F64) -> F64:
    """``x * log(y)`` with ``0 * log(y) = 0`` for any ``y`` (including 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where(x == 0, 0.0, out)


def logsumexp(z: F64, axis: int = -1) -> F64:
    """``log Σ exp z`` along ``axis``; rows may contain ``-inf`` (not only ``-inf``)."""
    m = np.max(z, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True)) + m
    res: F64 = np.squeeze(out, axis=axis)
    return res


def log_softmax(z: F64, axis: int = -1) -> F64:
    """Shift-exact ``(z - max) - log Σ exp(z - max)`` (no digits lost to ``z - logsumexp(z)`` at large |z|)."""
    s = z - np.max(z, axis=axis, keepdims=True)
    res: F64 = s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
    return res


def softmax(z: F64, axis: int = -1) -> F64:
    """Shift-exact softmax ``exp(z - max) / Σ exp(z - max)``: equal logits give exactly ``1/V`` (so a
    threshold equal to a cumulative mass is decided exactly)."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return np.asarray(e / np.sum(e, axis=axis, keepdims=True))
