"""Accelerated peers' samplers (same contract as :mod:`reference.decoding`): llama.cpp's greedy, top-nσ, XTC
and dynamic temperature.

Array-API code through :mod:`accelerated._xp`, no loops over rows or tokens; decisions in float32 for
half-precision inputs and float64 for float64; data-dependent checks only under ``checked()``.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, compute_dtype, detach, from_compute, log_softmax
from accelerated.decoding._common import _apply, _count, _index, _validated
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, checked

__all__ = [
    "dynamic_temperature",
    "greedy_decode",
    "top_n_sigma_sampling",
    "xtc_sampling",
]


def _uniforms(fn: str, uniforms: Array, logits: Array, xp: Any) -> Array:
    """Validated uniforms (one per row, in [0, 1)) in the compute dtype of ``logits``."""
    if tuple(uniforms.shape) != tuple(logits.shape[:-1]):
        raise ShapeError(fn, "uniforms", f"shape {tuple(logits.shape[:-1])} (logits.shape[:-1])",
                         f"shape {tuple(uniforms.shape)}")
    check_finite(fn, "uniforms", uniforms, xp)
    if checked() and bool(xp.any((uniforms < 0) | (uniforms >= 1))):
        raise DomainError(fn, "uniforms", "values in [0, 1)", "a value outside [0, 1)")
    return xp.astype(detach(uniforms), compute_dtype(logits, xp))


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


# --------------------------------------------------------------------------- xtc_sampling


def xtc_sampling(logits: Array, uniforms: Array, probability: float, threshold: float, *,
                 min_tokens_to_keep: int = 1) -> Array:
    """XTC without a sort: the top choices are the tokens with ``log p >= log threshold``; the survivor among them
    is the smallest logit (highest index among ties); see :func:`reference.decoding.xtc_sampling`."""
    check_params("xtc_sampling", probability=probability, threshold=threshold, min_tokens_to_keep=min_tokens_to_keep)
    xp, z = _validated("xtc_sampling", logits)
    u = _uniforms("xtc_sampling", uniforms, logits, xp)
    finite = z > -math.inf
    if probability <= 0 or threshold > 0.5:
        return _apply(logits, finite | ~finite, xp)
    logp = log_softmax(z, xp)
    above = finite & (logp >= (-math.inf if threshold == 0 else math.log(threshold)))
    n_above = _count(above, xp)
    n_finite = _count(finite, xp)
    idx = _index(z, xp)
    low = xp.min(xp.where(above, z, xp.full_like(z, math.inf)), axis=-1, keepdims=True)
    last = xp.max(xp.where(above & (z == low), idx, xp.full_like(idx, -1)), axis=-1, keepdims=True)
    apply = (u <= probability) & (n_finite >= 2) & (n_above >= 2) & (n_finite - (n_above - 1) >= min_tokens_to_keep)
    removed = above & (idx != last) & xp.expand_dims(apply, axis=-1)
    return _apply(logits, ~removed, xp)


# --------------------------------------------------------------------------- dynamic_temperature


def _peaked_entropy(z: Array, xp: Any) -> Array:
    """Row entropy (keepdims) as ``log1p(rest) - Σ e^s s / (1 + rest)``, accurate on peaked rows (see the
    reference)."""
    s = z - xp.max(z, axis=-1, keepdims=True)
    e = xp.exp(s)
    first = xp.expand_dims(xp.argmax(z, axis=-1), axis=-1)
    zeros = xp.zeros_like(e)
    rest = xp.sum(xp.where(_index(z, xp) == first, zeros, e), axis=-1, keepdims=True)
    num = xp.sum(xp.where(z > -math.inf, e * xp.where(z > -math.inf, s, zeros), zeros), axis=-1, keepdims=True)
    return xp.log1p(rest) - num / (1.0 + rest)


def dynamic_temperature(logits: Array, temperature: float, *, delta: float = 0.0, exponent: float = 1.0,
                        candidates: str = "finite") -> Array:
    """Entropy-scaled temperature, per-row ``T`` (greedy rows at ``T <= 0``); see
    :func:`reference.decoding.dynamic_temperature`."""
    check_params("dynamic_temperature", temperature=temperature, delta=delta, exponent=exponent,
                 candidates=candidates)
    xp, z = _validated("dynamic_temperature", logits)
    finite = z > -math.inf
    col = z[..., :1]  # a (..., 1) array on z's device and dtype
    if delta > 0:
        n = xp.sum(xp.astype(finite, z.dtype), axis=-1, keepdims=True) if candidates == "finite" else \
            xp.full_like(col, float(z.shape[-1]))
        lo, hi = max(0.0, temperature - delta), temperature + delta
        h = _peaked_entropy(z, xp)
        h_max = xp.log(xp.where(n > 1, n, xp.full_like(n, 2.0)))
        ratio = xp.clip(h / h_max, 0.0, 1.0)
        t = lo + (hi - lo) * ratio ** exponent if exponent != 0 else xp.full_like(h, hi)
        noop = n <= 1
    else:
        t = xp.full_like(col, float(temperature))
        noop = col != col  # all False (z is finite or -inf, never NaN)
    greedy = (t <= 0) & ~noop
    scaled = from_compute(z / xp.where(t > 0, t, xp.ones_like(t)), logits, xp)
    idx = _index(z, xp)
    first = xp.expand_dims(xp.argmax(z, axis=-1), axis=-1)
    keep_greedy = _apply(logits, idx == first, xp)
    return xp.where(noop, logits, xp.where(greedy, keep_greedy, scaled))
