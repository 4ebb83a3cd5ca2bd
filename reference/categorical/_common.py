"""Helpers shared by the reference ``categorical`` groups."""

from __future__ import annotations

import numpy as np

from reference._math import F64, logsumexp

__all__ = ["shifted_log_softmax"]


def shifted_log_softmax(z: F64, ax: int, temperature: float = 1.0) -> F64:
    """``log softmax(z / temperature)`` along ``ax``, as ``y − logsumexp(y)`` with ``y = (z − max) / T``.

    :func:`reference._math.log_softmax` with a temperature: the row maximum is subtracted *first* and
    only then divided by ``T``, so large logits (|z| ~ 1e6) lose no digits and tiny temperatures cannot
    overflow. ``-inf`` entries stay ``-inf``.
    """
    m = np.max(z, axis=ax, keepdims=True)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        y = (z - m) / temperature
    y = np.where(np.isneginf(z), -np.inf, y)
    return y - np.expand_dims(logsumexp(y, axis=ax), ax)
