"""Input handling shared by the ``categorical`` mutants.

Mutants validate their inputs exactly like the reference (the same :mod:`spec.validate` calls), so a
mutant is killed by its *bug*, never by a missing error check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from spec.validate import check_finite, check_simplex, check_vocab_axis

__all__ = ["F64", "log_softmax", "logits_in", "probs_in", "xlogx"]

F64 = npt.NDArray[np.float64]


def probs_in(fn: str, name: str, p: Any, axis: int = -1) -> F64:
    x = np.asarray(p, dtype=np.float64)
    check_vocab_axis(fn, name, x, axis)
    check_simplex(fn, name, x, np, axis=axis)
    return x


def logits_in(fn: str, name: str, z: Any, axis: int = -1) -> F64:
    x = np.asarray(z, dtype=np.float64)
    check_vocab_axis(fn, name, x, axis)
    check_finite(fn, name, x, np, allow_neg_inf=True, axis=axis)
    return x


def xlogx(p: F64) -> F64:
    """``p log p`` with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


def log_softmax(z: F64, temperature: float = 1.0) -> F64:
    """A correct stable log-softmax over the last axis (max first, then divide)."""
    m = np.max(z, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        y = np.where(np.isneginf(z), -np.inf, (z - m) / temperature)
    return np.asarray(y - np.log(np.sum(np.exp(y), axis=-1, keepdims=True)))
