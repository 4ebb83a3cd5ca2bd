"""Small NumPy helpers that property checks of every family share (written from the definitions;
they never call the reference)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import PropertyContext

__all__ = ["out", "outputs", "rows"]


def outputs(ctx: PropertyContext, **overrides: Any) -> tuple[npt.NDArray[np.float64], ...]:
    """All outputs of the implementation under test on the drawn case with ``overrides``."""
    return tuple(np.asarray(o, dtype=np.float64) for o in ctx.call(**overrides))


def out(ctx: PropertyContext, **overrides: Any) -> npt.NDArray[np.float64]:
    """The first output of the implementation under test on the drawn case with ``overrides``."""
    return outputs(ctx, **overrides)[0]


def rows(a: Any) -> npt.NDArray[Any]:
    """``(..., K)`` as ``(rows, K)``; empty batches give ``(0, K)``; a 0-d array is one 1-entry row."""
    x = np.asarray(a)
    if x.ndim == 0:
        return x.reshape(1, 1)
    return x.reshape(-1, x.shape[-1]) if x.size else x.reshape(0, max(x.shape[-1], 0))
