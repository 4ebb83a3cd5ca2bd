"""Helpers shared by the reference ``policy`` groups: validation of sequence inputs, the aggregation
modes and the PPO terms.

Sequence inputs are ``(B, T)`` arrays (any leading dimensions are flattened into rows; a 1-D input
is one row) with a ``mask`` of the same shape, boolean or numeric 0/1. Masked positions never
influence a result: per-token losses are 0 there whatever the inputs hold (they must still be
finite: NaN is rejected everywhere).

Aggregation modes (``aggregate`` and the ``mode`` of every loss), with ``m`` the mask:

- ``"token-mean"``: ``Σ x·m / Σ m`` over the whole batch (DAPO; TRL ``bnpo``/``dapo``);
- ``"seq-mean-token-mean"``: mean over rows of ``Σ_t x·m / Σ_t m``; rows with an empty mask are
  *excluded* from the row mean (verl would produce NaN; TRL ``grpo`` counts them as 0);
- ``"seq-mean-token-sum"``: mean over all rows of ``Σ_t x·m`` (empty rows count as 0);
- ``"seq-mean-token-sum-norm"``: ``Σ x·m / (B·max_length)``, ``max_length`` default ``T`` — Dr. GRPO's
  constant normaliser as in TRL ``dr_grpo`` (``B·max_completion_length``). verl's ``agg_loss``
  divides by ``T`` only, i.e. verl's value is ``B`` times ours. The losses use ``max_length = T``.

Every mode returns exactly 0 for an empty mask (or no rows), never NaN.
"""


from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from reference._math import F64, rows
from spec.errors import ShapeError
from spec.validate import check_finite, check_mask, check_same_shape

__all__ = ["Bool", "aggregate_tokens", "finish", "masked_mean", "ppo_terms", "sequences"]

Bool = npt.NDArray[np.bool_]


def sequences(fn: str, mask: Any, **floats: Any) -> tuple[dict[str, F64], Bool]:
    """Check shapes, finiteness and the mask; return float64 copies and the boolean valid mask."""
    arrays = {k: np.asarray(v) for k, v in floats.items()}
    m = np.asarray(mask)
    shape = check_same_shape(fn, **arrays, mask=m)
    if len(shape) == 0:
        raise ShapeError(fn, next(iter(arrays)), "an array of shape (B, T)", "a 0-d array")
    for name, a in arrays.items():
        check_finite(fn, name, a, np)
    check_mask(fn, "mask", m, np)
    return {k: np.asarray(a, dtype=np.float64) for k, a in arrays.items()}, np.asarray(m != 0)


def aggregate_tokens(tok: F64, valid: Bool, mode: str, max_length: int | None) -> F64:
    """Aggregate a per-token array that is already 0 at masked positions."""
    x = rows(tok)
    m = rows(valid)
    n_rows, t = x.shape
    if mode == "token-mean":
        n = int(m.sum())
        out = x.sum() / n if n > 0 else 0.0
    elif mode == "seq-mean-token-sum":
        out = x.sum(axis=-1).mean() if n_rows > 0 else 0.0
    elif mode == "seq-mean-token-mean":
        row_means = [x[i].sum() / m[i].sum() for i in range(n_rows) if m[i].sum() > 0]
        out = sum(row_means) / len(row_means) if row_means else 0.0
    else:  # seq-mean-token-sum-norm
        length = t if max_length is None else max_length
        out = x.sum() / (n_rows * length) if n_rows * length > 0 else 0.0
    return np.asarray(out, dtype=np.float64)


def finish(tok: F64, valid: Bool, mode: str) -> F64:
    tok = np.where(valid, tok, 0.0)
    if mode == "none":
        return np.asarray(tok, dtype=np.float64)
    return aggregate_tokens(tok, valid, mode, None)


def ppo_terms(lp: F64, old: F64, adv: F64, valid: Bool, clip_low: float, clip_high: float) -> tuple[F64, F64]:
    """``pg1 = −A·ρ`` (0 where A = 0, even if ρ overflows) and ``pg2 = −A·clip(ρ, 1−ε_low, 1+ε_high)``."""
    with np.errstate(over="ignore"):
        ratio = np.exp(np.where(valid, lp - old, 0.0))
        pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return pg1, pg2


def masked_mean(x: F64, valid: Bool) -> float:
    return float(x[valid].sum() / valid.sum())


