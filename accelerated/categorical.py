"""Accelerated (array API: Torch, CuPy, NumPy) implementations of the ``categorical`` family."""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import from_compute, namespace, to_compute, xlogy
from spec.validate import check_params, check_simplex, check_vocab_axis

__all__ = ["entropy"]

Array = Any


def entropy(probs: Array, *, axis: int = -1, base: float | None = None) -> Array:
    """Shannon entropy ``-Σ p log p`` of probability vectors; see :func:`reference.categorical.entropy`."""
    xp = namespace(probs)
    check_params("entropy", base=base)
    ax = check_vocab_axis("entropy", "probs", probs, axis)
    check_simplex("entropy", "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    h = -xp.sum(xlogy(p, p, xp), axis=ax)
    if base is not None:
        h = h / math.log(base)
    return from_compute(h, probs, xp)
