"""Accelerated peers' samplers (same contract as :mod:`reference.decoding`): llama.cpp's greedy, top-nσ, XTC
and dynamic temperature.

Array-API code through :mod:`accelerated._xp`, no loops over rows or tokens; decisions in float32 for
half-precision inputs and float64 for float64; data-dependent checks only under ``checked()``.
"""

from __future__ import annotations

from accelerated._xp import Array
from accelerated.decoding._common import _validated

__all__ = [
    "greedy_decode",
]


# --------------------------------------------------------------------------- greedy_decode


def greedy_decode(logits: Array) -> Array:
    """Argmax per row, ties to the lowest index (int64); see :func:`reference.decoding.greedy_decode`."""
    xp, z = _validated("greedy_decode", logits)
    return xp.astype(xp.argmax(z, axis=-1), xp.int64)
