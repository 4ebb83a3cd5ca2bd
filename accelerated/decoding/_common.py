"""Helpers of the accelerated ``decoding`` implementations (array API: Torch, CuPy, NumPy).

Same names, signatures, conventions and errors as :mod:`reference.decoding` (see its docstrings for
the rules and their provenance). One vectorised implementation per method, no loops over rows or
tokens: sorts are stable (ties resolved to the lowest index, as in the reference), and "the first
``n`` tokens of the sort order" is selected without a scatter by comparing each token with the
``n``-th entry of the order (value, then index). Filters return the *input* array's values where
kept and ``-inf`` elsewhere, in the input dtype; bfloat16/float16 decisions are computed in float32.
Rows are independent, so the batch shape never changes a row's result.
"""

from __future__ import annotations

from typing import Any

from accelerated._xp import Array, detach, device, namespace, to_compute
from spec.validate import check_finite, check_vocab_axis

# --------------------------------------------------------------------------- helpers


def _validated(fn: str, logits: Array) -> tuple[Any, Array]:
    xp = namespace(logits)
    check_vocab_axis(fn, "logits", logits)
    _check_logits(fn, logits, xp)
    return xp, detach(to_compute(logits, xp))


def _check_logits(fn: str, logits: Array, xp: Any) -> None:
    """NaN / +inf / all -inf rows in checked mode only; the dtype check always runs (spec.validate)."""
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True)


def _index(z: Array, xp: Any) -> Array:
    v = z.shape[-1]
    return xp.arange(v, dtype=xp.int64, device=device(z))


def _order(key: Array, xp: Any) -> Array:
    """Stable descending order of ``key`` along the last axis (lowest index first among ties)."""
    return xp.argsort(-key, axis=-1, stable=True)


def _first_n(key: Array, order: Array, n: Array, xp: Any) -> Array:
    """Mask of the first ``n`` (per row, ``1 <= n <= V``, int64 of shape ``key.shape[:-1]``) entries of
    ``order`` (the stable descending order of ``key``), computed without a scatter: token ``i`` is
    among them iff ``key_i > key_t`` or (``key_i == key_t`` and ``i <= t``), ``t = order[n - 1]``."""
    t = xp.take_along_axis(order, xp.expand_dims(n - 1, axis=-1), axis=-1)
    kt = xp.take_along_axis(key, t, axis=-1)
    idx = _index(key, xp)
    return (key > kt) | ((key == kt) & (idx <= t))


def _full_n(z: Array, value: int, xp: Any) -> Array:
    return xp.full(z.shape[:-1], value, dtype=xp.int64, device=device(z))


def _entropy(logp: Array, xp: Any) -> Array:
    """``-Σ p log p`` per row with ``0 · log 0 = 0`` (keepdims)."""
    p = xp.exp(logp)
    safe = xp.where(p > 0, logp, xp.zeros_like(logp))
    return -xp.sum(p * safe, axis=-1, keepdims=True)


def _guard_kth(z: Array, m: int, xp: Any) -> Array:
    """HF's epsilon/eta guard: logits >= the ``m``-th largest (ties kept)."""
    m = min(m, z.shape[-1])
    kth = xp.sort(z, axis=-1, descending=True)[..., m - 1: m]
    return z >= kth


def _divide(x: Array, t: float, xp: Any) -> Array:
    """``x / t``; a ``t`` that is not a normal number of ``x``'s dtype (e.g. 1e-50 for float32,
    which would round to 0 and give 0/0 = NaN) is applied in float64 and the result cast back."""
    fi = xp.finfo(x.dtype)
    if float(fi.smallest_normal) <= t <= float(fi.max):
        return x / t
    return xp.astype(xp.astype(x, xp.float64) / t, x.dtype)


def _apply(logits: Array, kept: Array, xp: Any) -> Array:
    neg = xp.asarray(-float('inf'), dtype=logits.dtype, device=device(logits))
    return xp.where(kept, logits, neg)


def _count(mask: Array, xp: Any) -> Array:
    return xp.sum(xp.astype(mask, xp.int64), axis=-1)


