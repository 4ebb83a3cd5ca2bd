"""Accelerated temperature scaling and inverse-CDF sampling (same contract as :mod:`reference.decoding`)."""

from __future__ import annotations

import math

from accelerated._xp import Array, compute_dtype, detach, from_compute, namespace, softmax, to_compute
from accelerated.decoding import _fast
from accelerated.decoding._common import _check_logits, _divide, _index
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_vocab_axis, checked

__all__ = ["sample", "temperature_scale"]


# --------------------------------------------------------------------------- temperature


def temperature_scale(logits: Array, temperature: float) -> Array:
    """``z / T``; see :func:`reference.decoding.temperature_scale`. Differentiable in ``logits``."""
    check_params("temperature_scale", temperature=temperature)
    xp = namespace(logits)
    check_vocab_axis("temperature_scale", "logits", logits)
    _check_logits("temperature_scale", logits, xp)
    z = to_compute(logits, xp)
    return from_compute(_divide(z, float(temperature), xp), logits, xp)


# --------------------------------------------------------------------------- sample


def sample(logits: Array, uniforms: Array) -> Array:
    """Inverse-CDF sampling with supplied uniforms (int64); see :func:`reference.decoding.sample`.

    Rows are independent (per-row softmax and cumulative sum), so the batch size cannot change a
    row's token. The cumulative sum is float64 for float64 logits and float32 otherwise; ``u = 0``
    gives the first finite position and round-off beyond the last sum the last finite position.
    """
    xp = namespace(logits, uniforms)
    check_vocab_axis("sample", "logits", logits)
    fast = _fast.validated("sample", logits) if _fast.usable(logits) else None
    if fast is None:
        _check_logits("sample", logits, xp)
    if tuple(uniforms.shape) != tuple(logits.shape[:-1]):
        raise ShapeError("sample", "uniforms", f"shape {tuple(logits.shape[:-1])} (logits.shape[:-1])",
                         f"shape {tuple(uniforms.shape)}")
    check_finite("sample", "uniforms", uniforms, xp)
    if checked() and bool(xp.any((uniforms < 0) | (uniforms >= 1))):
        raise DomainError("sample", "uniforms", "values in [0, 1)", "a value outside [0, 1)")
    z = detach(to_compute(logits, xp))
    u = xp.astype(detach(uniforms), compute_dtype(logits, xp))
    if fast is not None:
        return _fast.sample(fast[0], fast[1], u)
    p = softmax(z, xp)
    cum = xp.cumulative_sum(p, axis=-1)
    v = z.shape[-1]
    idx = _index(z, xp)
    finite = z > -math.inf
    uu = xp.expand_dims(u, axis=-1)
    hit = finite & ((cum > uu) | (uu == 0))  # u = 0: the first finite position (exact-arithmetic CDF)
    first = xp.min(xp.where(hit, idx, xp.full_like(idx, v)), axis=-1)
    last = xp.max(xp.where(finite, idx, xp.full_like(idx, -1)), axis=-1)  # clamp: last finite position
    return xp.astype(xp.where(first == v, last, first), xp.int64)
