"""Accelerated stateful peers' samplers (same contract as :mod:`reference.decoding`): llama.cpp's mirostat v2 and
mirostat (v1).

Array-API code through :mod:`accelerated._xp`, no loops over rows or tokens; decisions and the inverse CDF in
float64 for float64 input and float32 otherwise; ``new_mu`` is returned in ``mu``'s dtype.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, from_compute, log_softmax, to_compute
from accelerated.decoding._common import _apply, _first_n, _index, _order, _validated
from accelerated.decoding.samplers import _uniforms
from spec.errors import ShapeError
from spec.validate import check_finite, check_params

__all__ = [
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
