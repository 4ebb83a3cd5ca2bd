"""Accelerated membership-inference scores of the ``categorical`` family (array API: Torch, CuPy, NumPy):
per-token self-information, Min-K% Prob, Min-K%++ and DC-PDD.

No loops over rows or tokens: the Min-K% selection is a sort with the excluded positions pushed to
``+inf`` and a rank cut at ``k = max(1, ⌊ratio·n⌋)`` (computed in float64, as Python's
``int(n * ratio)``); DC-PDD's first occurrences come from a stable sort of the ids (runs of equal ids,
the first of each run is the earliest position) and the inverse permutation.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, from_compute, is_torch, namespace, to_compute
from accelerated.categorical._common import quiet, shifted_log_softmax
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_index, check_mask, check_params, check_same_shape, checked

__all__ = ["dc_pdd_score", "min_k_plus_plus", "min_k_prob", "token_self_information"]


def _check_int(fn: str, name: str, x: Array, xp: Any) -> None:
    if not xp.isdtype(x.dtype, "integral"):
        raise DTypeError(fn, name, "an integer dtype", f"dtype {x.dtype}")


def _check_log_probs(fn: str, lp: Array, xp: Any) -> None:
    if lp.ndim == 0:
        raise ShapeError(fn, "log_probs", "an array with a sequence axis (..., T)", "a 0-d array")
    check_finite(fn, "log_probs", lp, xp)
    if checked() and lp.size and bool(xp.any(lp > 0)):
        raise DomainError(fn, "log_probs", "log-probabilities <= 0", f"a maximum of {float(xp.max(lp))!r}")


def _min_k_mean(scores: Array, kept: Array, ratio: float, xp: Any) -> Array:
    """Row-wise mean of the ``max(1, ⌊ratio·n⌋)`` lowest kept scores (last axis); 0 without kept entries."""
    t = scores.shape[-1]
    if t == 0:
        return xp.zeros(scores.shape[:-1], dtype=scores.dtype)
    ordered = xp.sort(xp.where(kept, scores, xp.full_like(scores, math.inf)), axis=-1)
    n = xp.sum(xp.astype(kept, xp.int64), axis=-1)
    k = xp.maximum(xp.astype(xp.floor(xp.astype(n, xp.float64) * ratio), xp.int64), xp.ones_like(n))
    k = xp.minimum(k, n)  # k = 0 only for rows without kept entries
    rank = xp.arange(t, dtype=xp.int64)
    take = rank < xp.expand_dims(k, axis=-1)
    total = xp.sum(xp.where(take, ordered, xp.zeros_like(ordered)), axis=-1)
    kf = xp.astype(xp.maximum(k, xp.ones_like(k)), scores.dtype)
    return xp.where(n > 0, total / kf, xp.zeros_like(total))


def _check_targets(fn: str, z: Array, t: Array, xp: Any, ignore_index: int) -> None:
    _check_int(fn, "target", t, xp)
    if tuple(t.shape) != tuple(z.shape[:-1]):
        raise ShapeError(fn, "target", f"shape {tuple(z.shape[:-1])} (logits without the class axis)",
                         f"shape {tuple(t.shape)}")
    check_index(fn, "target", t, xp, low=0, high=int(z.shape[-1]), ignore=ignore_index)


# --------------------------------------------------------------------------- token_self_information


def token_self_information(logits: Array, target: Array, *, ignore_index: int = -100,
                           base: float | None = None) -> Array:
    """``−log softmax(logits)[target]`` per position; see :func:`reference.categorical.token_self_information`."""
    fn = "token_self_information"
    xp = namespace(logits, target)
    check_params(fn, ignore_index=ignore_index, base=base)
    if logits.ndim == 0:
        raise ShapeError(fn, "logits", "an array with at least 1 dimension (categories on the last axis)",
                         "a 0-d array")
    if logits.shape[-1] == 0:
        raise ShapeError(fn, "logits", "a non-empty category axis", f"shape {tuple(logits.shape)}")
    if is_torch(logits) and logits.ndim >= 1:
        # Torch: I = logsumexp(z) − z_y from the chunked row kernel (no (N, V) log-softmax, as
        # cross_entropy's class-index path). The full finiteness scan runs only when the (small) lse
        # is not finite: NaN, +inf and all -inf rows all make it so.
        from accelerated.torch_fast import logsumexp_rows

        lse = logsumexp_rows(logits)
        if checked() and lse.numel() and not bool(xp.all(xp.isfinite(lse))):
            check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=-1)
        _check_targets(fn, logits, target, xp, ignore_index)
        kept = target != ignore_index
        safe = xp.where(kept, target, xp.zeros_like(target))
        zy = xp.take_along_axis(logits, xp.expand_dims(safe, axis=-1), axis=-1)[..., 0]
        info = lse - (zy if zy.dtype == lse.dtype else xp.astype(zy, lse.dtype))
    else:
        check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=-1)
        _check_targets(fn, logits, target, xp, ignore_index)
        z = to_compute(logits, xp)
        kept = target != ignore_index
        safe = xp.where(kept, target, xp.zeros_like(target))
        with quiet(z):
            lp = shifted_log_softmax(z, xp, -1)
            info = -xp.take_along_axis(lp, xp.expand_dims(safe, axis=-1), axis=-1)[..., 0]
    info = xp.where(kept, info, xp.zeros_like(info))
    if base is not None:
        info = info / math.log(base)
    return from_compute(info, logits, xp)


# --------------------------------------------------------------------------- min_k_prob


def min_k_prob(log_probs: Array, *, mask: Array | None = None, ratio: float = 0.2, negate: bool = False) -> Array:
    """Min-K% Prob; see :func:`reference.categorical.min_k_prob`."""
    fn = "min_k_prob"
    xp = namespace(log_probs, mask)
    check_params(fn, ratio=ratio, negate=negate)
    _check_log_probs(fn, log_probs, xp)
    if mask is None:
        kept = xp.ones(log_probs.shape, dtype=xp.bool)
    else:
        check_same_shape(fn, log_probs=log_probs, mask=mask)
        check_mask(fn, "mask", mask, xp)
        kept = mask if xp.isdtype(mask.dtype, "bool") else mask != 0
    score = _min_k_mean(to_compute(log_probs, xp), kept, ratio, xp)
    return from_compute(-score if negate else score, log_probs, xp)


# --------------------------------------------------------------------------- min_k_plus_plus


def min_k_plus_plus(logits: Array, target: Array, *, ratio: float = 0.2, ignore_index: int = -100,
                    negate: bool = False) -> Array:
    """Min-K%++; see :func:`reference.categorical.min_k_plus_plus`."""
    fn = "min_k_plus_plus"
    xp = namespace(logits, target)
    check_params(fn, ratio=ratio, ignore_index=ignore_index, negate=negate)
    if logits.ndim < 2:
        raise ShapeError(fn, "logits", "an array of shape (..., T, V)", f"shape {tuple(logits.shape)}")
    if logits.shape[-1] == 0:
        raise ShapeError(fn, "logits", "a non-empty category axis", f"shape {tuple(logits.shape)}")
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=-1)
    _check_targets(fn, logits, target, xp, ignore_index)
    z = to_compute(logits, xp)
    kept = target != ignore_index
    safe = xp.where(kept, target, xp.zeros_like(target))
    with quiet(z):
        fin = ~xp.isinf(z)
        m = xp.max(z, axis=-1, keepdims=True)
        w = xp.exp(z - m)  # unnormalised p (0 at -inf entries); Σ w >= 1
        s0 = xp.sum(w, axis=-1, keepdims=True)
        # the score is invariant to scaling the gaps: divide them by their spread (max − min finite logit)
        # so that σ² cannot underflow for tiny gaps; -inf entries get e = 0 (and weight 0)
        low = xp.min(xp.where(fin, z, m), axis=-1, keepdims=True)
        spread = m - low
        e = xp.where(fin, z - m, xp.zeros_like(z)) / xp.where(spread > 0, spread, xp.ones_like(spread))
        mu = xp.sum(w * e, axis=-1, keepdims=True) / s0
        dev = e - mu
        var = xp.sum(w * dev * dev, axis=-1) / s0[..., 0]
        mu = mu[..., 0]
        dy = xp.take_along_axis(e, xp.expand_dims(safe, axis=-1), axis=-1)[..., 0]
        dinf = xp.take_along_axis(fin, xp.expand_dims(safe, axis=-1), axis=-1)[..., 0]
        pos = var > 0
        zt = xp.where(pos, (dy - mu) / xp.sqrt(xp.where(pos, var, xp.ones_like(var))), xp.zeros_like(var))
        zt = xp.where(dinf, zt, xp.full_like(zt, -math.inf))
        score = _min_k_mean(zt, kept, ratio, xp)
    return from_compute(-score if negate else score, logits, xp)


# --------------------------------------------------------------------------- dc_pdd_score


def _first_occurrence(ids: Array, kept: Array, sentinel: int, xp: Any) -> Array:
    """Kept positions whose id does not occur at an earlier kept position of the row (stable sort)."""
    key = xp.where(kept, ids, xp.full_like(ids, sentinel))
    order = xp.argsort(key, axis=-1, stable=True)
    sk = xp.take_along_axis(key, order, axis=-1)
    lead = xp.ones((*sk.shape[:-1], 1), dtype=xp.bool)
    new = xp.concat([lead, sk[..., 1:] != sk[..., :-1]], axis=-1) & (sk != sentinel)
    inverse = xp.argsort(order, axis=-1, stable=True)
    return xp.take_along_axis(new, inverse, axis=-1)


def dc_pdd_score(log_probs: Array, input_ids: Array, counts: Array, *, a: float = 0.01, ignore_index: int = -100,
                 frequency: str = "smoothed", negate: bool = False) -> Array:
    """DC-PDD β; see :func:`reference.categorical.dc_pdd_score`."""
    fn = "dc_pdd_score"
    xp = namespace(log_probs, input_ids, counts)
    check_params(fn, a=a, ignore_index=ignore_index, frequency=frequency, negate=negate)
    _check_log_probs(fn, log_probs, xp)
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ShapeError(fn, "counts", "a non-empty 1-D array (V,)", f"shape {tuple(counts.shape)}")
    check_finite(fn, "counts", counts, xp)
    if checked() and bool(xp.any(counts < 0)):
        raise DomainError(fn, "counts", "counts >= 0", f"a minimum of {float(xp.min(counts))!r}")
    check_same_shape(fn, log_probs=log_probs, input_ids=input_ids)
    _check_int(fn, "input_ids", input_ids, xp)
    v = int(counts.shape[0])
    check_index(fn, "input_ids", input_ids, xp, low=0, high=v, ignore=ignore_index)
    lp = to_compute(log_probs, xp)
    if lp.shape[-1] == 0:
        return from_compute(xp.zeros(lp.shape[:-1], dtype=lp.dtype), log_probs, xp)
    c = xp.astype(counts, lp.dtype) if counts.dtype != lp.dtype else counts
    f = (c + 1.0) / (xp.sum(c) + float(v)) if frequency == "smoothed" else c
    kept = input_ids != ignore_index
    safe = xp.where(kept, input_ids, xp.zeros_like(input_ids))
    with quiet(lp):
        fi = xp.reshape(xp.take(f, xp.reshape(safe, (-1,)), axis=0), tuple(safe.shape))
        p = xp.exp(lp)
        alpha = xp.where(p > 0, p * -xp.log(fi), xp.zeros_like(p))
        alpha = xp.minimum(alpha, xp.full_like(alpha, a))
        fos = _first_occurrence(safe, kept, v, xp)
        total = xp.sum(xp.where(fos, alpha, xp.zeros_like(alpha)), axis=-1)
        n = xp.sum(xp.astype(fos, lp.dtype), axis=-1)
        score = xp.where(n > 0, total / xp.maximum(n, xp.ones_like(n)), xp.zeros_like(total))
    return from_compute(-score if negate else score, log_probs, xp)
