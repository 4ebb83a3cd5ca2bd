"""Accelerated plug-in estimators of the ``categorical`` family (array API: Torch, CuPy, NumPy): C-IP's
clamped plug-in entropy in bits, the Hellinger distance, the plug-in mutual information of a table."""

from __future__ import annotations

import math

from accelerated._xp import Array, from_compute, namespace, to_compute
from accelerated.categorical._common import quiet
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_same_shape, check_simplex, check_vocab_axis, checked

__all__ = [
    "hellinger_distance",
    "jensen_shannon_groups",
    "plugin_entropy_log2",
    "plugin_mutual_information_categorical",
]


def plugin_entropy_log2(probs: Array, *, eps: float = 1e-5, reduction: str = "mean") -> Array:
    """C-IP's clamped plug-in entropy in bits; see :func:`reference.categorical.plugin_entropy_log2`."""
    fn = "plugin_entropy_log2"
    xp = namespace(probs)
    check_params(fn, eps=eps, reduction=reduction)
    check_vocab_axis(fn, "probs", probs, -1)
    check_simplex(fn, "probs", probs, xp, axis=-1)
    p = to_compute(probs, xp)
    with quiet(p):
        pt = xp.maximum(p, xp.full_like(p, eps))
        pos = pt > 0
        terms = xp.where(pos, pt * xp.log2(xp.where(pos, pt, xp.ones_like(pt))), xp.zeros_like(pt))
        rows = -xp.sum(terms, axis=-1)
    if reduction == "none":
        return from_compute(rows, probs, xp)
    n = 1
    for d in rows.shape:
        n *= int(d)
    mean = xp.sum(rows) / n if n else xp.sum(rows)  # an empty batch averages to 0
    return from_compute(mean, probs, xp)


def hellinger_distance(p: Array, q: Array, *, axis: int = -1) -> Array:
    """Hellinger distance ``‖√p − √q‖₂/√2``; see :func:`reference.categorical.hellinger_distance`."""
    fn = "hellinger_distance"
    xp = namespace(p, q)
    ax = check_vocab_axis(fn, "p", p, axis)
    check_same_shape(fn, p=p, q=q)
    check_simplex(fn, "p", p, xp, axis=ax)
    check_simplex(fn, "q", q, xp, axis=ax)
    pc = to_compute(p, xp)
    qc = xp.astype(q, pc.dtype) if q.dtype != pc.dtype else q
    d = xp.sqrt(pc) - xp.sqrt(qc)
    h = xp.sqrt(0.5 * xp.sum(d * d, axis=ax))
    return from_compute(xp.clip(h, 0.0, 1.0), p, xp)


def plugin_mutual_information_categorical(counts: Array, *, base: float | None = None) -> Array:
    """Plug-in MI of a contingency table; see :func:`reference.categorical.plugin_mutual_information_categorical`."""
    fn = "plugin_mutual_information_categorical"
    xp = namespace(counts)
    check_params(fn, base=base)
    if counts.ndim < 2:
        raise ShapeError(fn, "counts", "a table of shape (..., X, Y)", f"shape {tuple(counts.shape)}")
    if counts.shape[-1] == 0 or counts.shape[-2] == 0:
        raise ShapeError(fn, "counts", "non-empty category axes", f"shape {tuple(counts.shape)}")
    check_finite(fn, "counts", counts, xp)
    if checked() and counts.size and bool(xp.any(counts < 0)):
        raise DomainError(fn, "counts", "counts >= 0", f"a minimum of {float(xp.min(counts))!r}")
    c = to_compute(counts, xp)
    with quiet(c):
        n = xp.sum(c, axis=(-2, -1), keepdims=True)
        r = xp.sum(c, axis=-1, keepdims=True)
        k = xp.sum(c, axis=-2, keepdims=True)
        pos = c > 0
        one = xp.ones_like(c)
        ratio = xp.where(pos, (c * n) / (r * k), one)  # r, k >= c > 0 on the support
        terms = xp.where(pos, c / xp.where(pos, n * one, one) * xp.log(ratio), xp.zeros_like(c))
        mi = xp.clip(xp.sum(terms, axis=(-2, -1)), 0.0, None)
        if base is not None:
            mi = mi / math.log(base)
    return from_compute(mi, counts, xp)


# --------------------------------------------------------------------------- jensen_shannon_groups


def jensen_shannon_groups(counts: Array, *, weights: str = "uniform", base: float | None = None) -> Array:
    """JS divergence of per-group histograms; see :func:`reference.categorical.jensen_shannon_groups`."""
    fn = "jensen_shannon_groups"
    xp = namespace(counts)
    check_params(fn, weights=weights, base=base)
    if counts.ndim < 2:
        raise ShapeError(fn, "counts", "per-group histograms of shape (..., G, K)", f"shape {tuple(counts.shape)}")
    if counts.shape[-1] == 0 or counts.shape[-2] == 0:
        raise ShapeError(fn, "counts", "non-empty group and bin axes", f"shape {tuple(counts.shape)}")
    check_finite(fn, "counts", counts, xp)
    if checked() and counts.size and bool(xp.any(counts < 0)):
        raise DomainError(fn, "counts", "counts >= 0", f"a minimum of {float(xp.min(counts))!r}")
    c = to_compute(counts, xp)
    with quiet(c):
        n = xp.sum(c, axis=-1, keepdims=True)  # (..., G, 1)
        keep = n > 0
        ones = xp.ones_like(n)
        p = c / xp.where(keep, n, ones)
        w = n if weights == "size" else xp.astype(keep, c.dtype)
        tot = xp.sum(w, axis=-2, keepdims=True)
        pi = w / xp.where(tot > 0, tot, xp.ones_like(tot))  # (..., G, 1)
        m = xp.sum(pi * p, axis=-2, keepdims=True)  # (..., 1, K)
        pos = (p > 0) & (pi > 0)
        one = xp.ones_like(p)
        lr = xp.log(xp.where(pos, p, one)) - xp.log(xp.where(pos, m * one, one))
        terms = xp.where(pos, pi * p * lr, xp.zeros_like(p))
        js = xp.clip(xp.sum(terms, axis=(-2, -1)), 0.0, None)
        groups = xp.sum(xp.astype(keep, c.dtype), axis=(-2, -1))
        js = xp.where(groups >= 2, js, xp.zeros_like(js))
        if base is not None:
            js = js / math.log(base)
    return from_compute(js, counts, xp)
