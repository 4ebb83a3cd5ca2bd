"""Accelerated stateful peers' samplers (same contract as :mod:`reference.decoding`): llama.cpp's mirostat v2 and
mirostat (v1).

Array-API code through :mod:`accelerated._xp`, no loops over rows or tokens; decisions and the inverse CDF in
float64 for float64 input and float32 otherwise; ``new_mu`` is returned in ``mu``'s dtype.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, device, from_compute, log_softmax, namespace, to_compute
from accelerated.decoding._common import _apply, _first_n, _index, _order, _validated
from accelerated.decoding.samplers import _uniforms
from spec.errors import ShapeError
from spec.validate import check_finite, check_index, check_params

__all__ = [
    "dry_penalty",
    "mirostat_v1",
    "mirostat_v2",
]

LN2 = math.log(2.0)


def _mu(fn: str, mu: Array, logits: Array, xp: Any) -> Array:
    if tuple(mu.shape) != tuple(logits.shape[:-1]):
        raise ShapeError(fn, "mu", f"shape {tuple(logits.shape[:-1])} (logits.shape[:-1])", f"shape {tuple(mu.shape)}")
    check_finite(fn, "mu", mu, xp)
    return xp.astype(detach(to_compute(mu, xp)), to_compute(logits[..., :1], xp).dtype)


def _draw(logq: Array, u: Array, walk: Array | None, xp: Any) -> Array:
    """Inverse CDF of ``exp(logq)`` along ``walk`` (a permutation per row, or None for vocabulary order): the first
    finite position whose cumulative probability exceeds ``u`` (u = 0: the first finite one), clamped to the last
    finite one. Returns vocabulary indices (int64, shape ``logq.shape[:-1]``)."""
    lq = logq if walk is None else xp.take_along_axis(logq, walk, axis=-1)
    finite = lq > -math.inf
    cum = xp.cumulative_sum(xp.exp(lq), axis=-1)
    uu = xp.expand_dims(u, axis=-1)
    pos = _index(lq, xp)
    v = lq.shape[-1]
    hit = finite & ((cum > uu) | (uu == 0))
    first = xp.min(xp.where(hit, pos, xp.full_like(pos, v)), axis=-1)
    last = xp.max(xp.where(finite, pos, xp.full_like(pos, -1)), axis=-1)
    at = xp.where(first == v, last, first)
    if walk is None:
        return xp.astype(at, xp.int64)
    return xp.astype(xp.take_along_axis(walk, xp.expand_dims(at, axis=-1), axis=-1)[..., 0], xp.int64)


def _gather(x: Array, tok: Array, xp: Any) -> Array:
    return xp.take_along_axis(x, xp.expand_dims(tok, axis=-1), axis=-1)[..., 0]


# --------------------------------------------------------------------------- mirostat_v2


def mirostat_v2(logits: Array, uniforms: Array, mu: Array, *, tau: float = 5.0, eta: float = 0.1,
                order: str = "vocab") -> tuple[Array, Array]:
    """Mirostat v2, vectorised over rows; see :func:`reference.decoding.mirostat_v2`."""
    check_params("mirostat_v2", tau=tau, eta=eta, order=order)
    xp, z = _validated("mirostat_v2", logits)
    u = _uniforms("mirostat_v2", uniforms, logits, xp)
    m = _mu("mirostat_v2", mu, logits, xp)
    logp = log_softmax(z, xp)
    finite = z > -math.inf
    keep = finite & (logp >= xp.expand_dims(-m * LN2, axis=-1))
    first = xp.expand_dims(xp.argmax(z, axis=-1), axis=-1)
    none = xp.sum(xp.astype(keep, xp.int64), axis=-1, keepdims=True) == 0
    keep = xp.where(none, _index(z, xp) == first, keep)
    logq = log_softmax(_apply(z, keep, xp), xp)
    tok = _draw(logq, u, _order(z, xp) if order == "sorted" else None, xp)
    new_mu = m - eta * (-_gather(logq, tok, xp) / LN2 - tau)
    return tok, from_compute(new_mu, mu, xp)


# --------------------------------------------------------------------------- mirostat_v1


def mirostat_v1(logits: Array, uniforms: Array, mu: Array, *, tau: float = 5.0, eta: float = 0.1, m: int = 100,
                n_vocab: int | None = None, order: str = "vocab") -> tuple[Array, Array]:
    """Mirostat (v1), vectorised over rows: one stable sort, the Zipf fit over the first ``min(m - 1, n - 1)``
    consecutive differences, ``k`` in log space; see :func:`reference.decoding.mirostat_v1`."""
    check_params("mirostat_v1", tau=tau, eta=eta, m=m, n_vocab=n_vocab, order=order)
    xp, z = _validated("mirostat_v1", logits)
    u = _uniforms("mirostat_v1", uniforms, logits, xp)
    mus = _mu("mirostat_v1", mu, logits, xp)
    v = z.shape[-1]
    walk = _order(z, xp)
    zs = xp.take_along_axis(z, walk, axis=-1)
    n_f = xp.sum(xp.astype(zs > -math.inf, xp.int64), axis=-1)
    if v >= 2:
        i = xp.astype(_index(z, xp)[: v - 1], z.dtype)
        t = xp.log((i + 2.0) / (i + 1.0))
        zf = xp.where(zs > -math.inf, zs, xp.zeros_like(zs))  # past the finite ones: masked below
        b = zf[..., :-1] - zf[..., 1:]
        used = (_index(z, xp)[: v - 1] < xp.expand_dims(xp.minimum(n_f - 1, xp.full_like(n_f, m - 1)), axis=-1))
        zeros = xp.zeros_like(b)
        num = xp.sum(xp.where(used, t * xp.where(used, b, zeros), zeros), axis=-1)
        den = xp.sum(xp.where(used, t * t, zeros), axis=-1)
        s_hat = num / xp.where(den > 0, den, xp.ones_like(den))
    else:
        s_hat = xp.zeros_like(z[..., 0])
    eps = s_hat - 1.0
    ln_n = math.log(n_vocab if n_vocab is not None else max(v, 2))
    safe_eps = xp.where(eps == 0, xp.ones_like(eps), eps)
    ratio = xp.where(eps == 0, xp.full_like(eps, 1.0 / ln_n), safe_eps / -xp.expm1(-safe_eps * ln_n))
    numer = xp.log(ratio) + mus * LN2
    log_k = numer / xp.where(s_hat > 0, s_hat, xp.ones_like(s_hat))
    nf = xp.astype(n_f, z.dtype)
    big = (log_k >= xp.log(nf + 1.0)) | ((s_hat == 0) & (numer > 0))
    k_small = xp.floor(xp.exp(xp.clip(log_k, -1.0, math.log(v + 1.0))))
    k = xp.where(big, nf, xp.where((log_k < 0) | (s_hat == 0), xp.ones_like(nf), k_small))
    k = xp.astype(xp.clip(k, 1.0, xp.maximum(nf, xp.ones_like(nf))), xp.int64)
    keep = _first_n(z, walk, k, xp) & (z > -math.inf)
    logq = log_softmax(_apply(z, keep, xp), xp)
    tok = _draw(logq, u, walk if order == "sorted" else None, xp)
    new_mu = mus - eta * (-_gather(logq, tok, xp) / LN2 - tau)
    return tok, from_compute(new_mu, mu, xp)


# --------------------------------------------------------------------------- dry_penalty

FLOAT_MAX_LOG = 88.7228391


def _shifted(w: Array, width: int, fill: int, xp: Any) -> Array:
    """``out[..., p, o] = w[..., p + o]`` (``fill`` past the end), shape ``(..., L, width)``."""
    n = w.shape[-1]
    pad = xp.full((*w.shape[:-1], width), fill, dtype=w.dtype, device=device(w))
    wp = xp.concat([w, pad], axis=-1)
    pos = xp.reshape(xp.arange(n, dtype=xp.int64, device=device(w)), (n, 1))
    off = xp.reshape(xp.arange(width, dtype=xp.int64, device=device(w)), (1, width))
    flat = xp.reshape(pos + off, (n * width,))
    return xp.reshape(xp.take(wp, flat, axis=-1), (*w.shape[:-1], n, width))


def dry_penalty(logits: Array, history: Array, multiplier: float, *, breakers: Array | None = None,
                base: float = 1.75, allowed_length: int = 2, penalty_last_n: int = -1) -> Array:
    """DRY penalty, vectorised over rows: the repeat lengths of every position by one (L - 1, L) comparison, the
    most recent breaker by one (L, NB, L_b) comparison; memory O(T^2 + T V) per row. See
    :func:`reference.decoding.dry_penalty`."""
    check_params("dry_penalty", multiplier=multiplier, base=base, allowed_length=allowed_length,
                 penalty_last_n=penalty_last_n)
    xp, z = _validated("dry_penalty", logits)
    v = z.shape[-1]
    hx = namespace(history)
    check_index("dry_penalty", "history", history, hx, low=0, high=v)
    if history.ndim < 1 or tuple(history.shape[:-1]) != tuple(logits.shape[:-1]):
        raise ShapeError("dry_penalty", "history", f"shape {(*logits.shape[:-1], 'T')} (logits.shape[:-1] + (T,))",
                         f"shape {tuple(history.shape)}")
    if breakers is not None:
        check_index("dry_penalty", "breakers", breakers, namespace(breakers), low=-1, high=v)
        if breakers.ndim != 2:
            raise ShapeError("dry_penalty", "breakers", "a 2-d (NB, L) array", f"shape {tuple(breakers.shape)}")
    t = history.shape[-1]
    n = t if penalty_last_n == -1 else min(t, penalty_last_n)
    if multiplier == 0 or penalty_last_n == 0 or n <= allowed_length or n < 2:
        return _apply(logits, z == z, xp)  # a copy (a single token has nothing before it to repeat)
    w = xp.astype(history[..., t - n:], xp.int64)
    dev = device(w)
    rep_limit = xp.full(w.shape[:-1], n, dtype=xp.int64, device=dev)
    single = xp.zeros((v,), dtype=xp.bool, device=dev)
    if breakers is not None and breakers.shape[0] > 0 and breakers.shape[1] > 0:
        b = xp.astype(breakers, xp.int64)
        lb = b.shape[1]
        nonempty = b[:, 0] >= 0
        tail = xp.sum(xp.astype(b >= 0, xp.int64), axis=-1) - 1
        shifted = _shifted(w, lb, -2, xp)  # (..., n, lb)
        hit = xp.all((b < 0) | (xp.expand_dims(shifted, axis=-2) == b), axis=-1) & nonempty  # (..., n, NB)
        longest = xp.max(xp.where(hit, tail, xp.full_like(tail, -1)), axis=-1)  # (..., n)
        pos = xp.arange(n, dtype=xp.int64, device=dev)
        p_star = xp.max(xp.where(longest >= 0, pos, xp.full_like(pos, -1)), axis=-1)  # most recent breaker
        at = xp.take_along_axis(longest, xp.expand_dims(xp.where(p_star >= 0, p_star, 0), axis=-1), axis=-1)[..., 0]
        rep_limit = xp.where(p_star >= 0, (n - 1 - p_star) - at, rep_limit)
        is_single = nonempty & (tail == 0)
        heads = xp.where(is_single, b[:, 0], xp.full_like(b[:, 0], -1))
        single = xp.any(xp.expand_dims(heads, axis=-1) == xp.arange(v, dtype=xp.int64, device=dev), axis=0)
    # repeat length at every position i < n - 1: longest common suffix of w[:i+1] and w
    i = xp.reshape(xp.arange(n - 1, dtype=xp.int64, device=dev), (n - 1, 1))
    j = xp.reshape(xp.arange(n, dtype=xp.int64, device=dev), (1, n))
    valid = j <= i
    a = xp.reshape(xp.where(valid, i - j, xp.zeros_like(i - j)), ((n - 1) * n,))
    left = xp.reshape(xp.take(w, a, axis=-1), (*w.shape[:-1], n - 1, n))
    right = xp.expand_dims(xp.flip(w, axis=-1), axis=-2)  # w[n - 1 - j]
    same = (left == right) & valid
    run = xp.min(xp.where(same, xp.full_like(j, n), xp.broadcast_to(j, same.shape)), axis=-1)  # first mismatch
    count = xp.minimum(run, xp.expand_dims(rep_limit, axis=-1))
    follow = w[..., 1:]
    vocab = xp.arange(v, dtype=xp.int64, device=dev)
    hits = (xp.expand_dims(follow, axis=-1) == vocab) & xp.expand_dims(count >= allowed_length, axis=-1)
    best = xp.max(xp.where(hits, xp.expand_dims(count, axis=-1), xp.full_like(hits, -1, dtype=xp.int64)), axis=-2)
    ok = (best >= allowed_length) & ~single & xp.expand_dims(rep_limit >= allowed_length, axis=-1)
    expo = best - allowed_length
    max_exp = int(FLOAT_MAX_LOG / math.log(base)) if base > 1.000001 else 0
    if max_exp > 0:
        expo = xp.minimum(expo, xp.full_like(expo, max_exp))
    expo = xp.where(ok, expo, xp.zeros_like(expo))
    penalty = xp.where(ok, multiplier * xp.pow(xp.full_like(z, base), xp.astype(expo, z.dtype)), xp.zeros_like(z))
    return from_compute(z - penalty, logits, xp)
