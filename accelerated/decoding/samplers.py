"""Accelerated peers' samplers (same contract as :mod:`reference.decoding`): llama.cpp's greedy, top-nσ, XTC
and dynamic temperature.

Array-API code through :mod:`accelerated._xp`, no loops over rows or tokens; decisions in float32 for
half-precision inputs and float64 for float64; data-dependent checks only under ``checked()``.
"""

from __future__ import annotations

import math

from accelerated._xp import Array
from accelerated.decoding._common import _apply, _validated
from spec.validate import check_params

__all__ = [
    "greedy_decode",
    "top_n_sigma_sampling",
]


# --------------------------------------------------------------------------- greedy_decode


def greedy_decode(logits: Array) -> Array:
    """Argmax per row, ties to the lowest index (int64); see :func:`reference.decoding.greedy_decode`."""
    xp, z = _validated("greedy_decode", logits)
    return xp.astype(xp.argmax(z, axis=-1), xp.int64)


# --------------------------------------------------------------------------- top_n_sigma_sampling


def top_n_sigma_sampling(logits: Array, n: float, *, zero: str = "identity") -> Array:
    """Keep ``z >= max z - n sigma`` over the finite logits; see :func:`reference.decoding.top_n_sigma_sampling`."""
    check_params("top_n_sigma_sampling", n=n, zero=zero)
    xp, z = _validated("top_n_sigma_sampling", logits)
    top = xp.max(z, axis=-1, keepdims=True)
    if n == 0:
        keep = (z > -math.inf) if zero == "identity" else (z == top)
        return _apply(logits, keep, xp)
    finite = z > -math.inf
    zeros = xp.zeros_like(z)
    count = xp.sum(xp.astype(finite, z.dtype), axis=-1, keepdims=True)
    mu = xp.sum(xp.where(finite, z, zeros), axis=-1, keepdims=True) / count
    dev = xp.where(finite, z - mu, zeros)
    big = xp.max(xp.abs(dev), axis=-1, keepdims=True)  # scale before squaring: no underflow / overflow
    unit = dev / xp.where(big > 0, big, xp.ones_like(big))
    sigma = big * xp.sqrt(xp.sum(unit * unit, axis=-1, keepdims=True) / count)
    return _apply(logits, z >= top - n * sigma, xp)
