"""Helpers shared by the accelerated ``categorical`` groups (array-API code, any namespace)."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from accelerated._xp import Array, detach, is_torch

__all__ = ["quiet", "shifted_log_softmax", "support_log"]


def support_log(p: Array, xp: Any) -> tuple[Array, Array]:
    """``(p > 0, log p with 0 off the support)`` — safe for autograd (no ``log 0`` in any branch)."""
    pos = p > 0
    safe = xp.where(pos, p, xp.ones_like(p))
    return pos, xp.where(pos, xp.log(safe), xp.zeros_like(p))


def shifted_log_softmax(z: Array, xp: Any, axis: int, temperature: float = 1.0) -> Array:
    """Stable ``log softmax(z / T)`` as ``y − log Σ exp y`` with ``y = (z − max) / T``.

    Like :func:`accelerated._xp.log_softmax` the row max is subtracted first; in addition the max is
    detached and the temperature divides the shifted logits, so tiny ``T`` cannot overflow;
    ``-inf`` entries stay ``-inf`` (rows assumed to hold a finite entry).
    """
    m = detach(xp.max(z, axis=axis, keepdims=True))
    y = z - m
    if temperature != 1.0:
        y = y / temperature
    lse = xp.log(xp.sum(xp.exp(y), axis=axis, keepdims=True))
    return xp.where(xp.isinf(y), xp.full_like(y, -math.inf), y - lse)


def quiet(x: Array) -> AbstractContextManager[Any]:
    """Silence NumPy floating-point warnings for NumPy inputs; a no-op for Torch (traceable by
    ``torch.compile``, which cannot trace ``np.errstate``)."""
    return nullcontext() if is_torch(x) else np.errstate(all="ignore")
