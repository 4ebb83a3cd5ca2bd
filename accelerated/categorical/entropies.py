"""Accelerated entropies of the ``categorical`` family (array API: Torch, CuPy, NumPy).

Shannon (of probabilities and of logits), Rényi, Tsallis and SIREN's top-p renormalised entropy.
:func:`entropy_from_logits` on Torch tensors reduced over the last axis calls the fused row kernel
:func:`accelerated.torch_fast.entropy_rows`; its input is scanned for NaN/inf only (in checked mode)
when the small per-row result is non-finite.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, from_compute, is_torch, namespace, needs_grad, to_compute, xlogy
from accelerated.categorical._common import quiet, support_log
from spec.validate import check_finite, check_floating, check_params, check_simplex, check_vocab_axis, checked

__all__ = [
    "entropy",
    "entropy_from_logits",
    "renyi_entropy",
    "top_p_renormalized_entropy",
    "tsallis_entropy",
]

#: The eps of the official SIREN code (normaliser and log), see the reference.
SIREN_EPS = 1e-12

#: With autograd on, :func:`entropy_from_logits` uses ``torch_fast.entropy_rows`` only from this
#: temperature up (eager mode: its chunked custom backward, no ``(N, V)`` temporary besides the
#: gradient). In a compiled graph the kernel's plain autograd formula divides by ``T`` *before*
#: shifting by the row max, so
#: it loses about ``eps·max|z|/T`` absolute accuracy (measured, float32, |z| ~ 1e3: 2e-3 at T = 0.05,
#: 1e-2 at T = 0.01, 9e-2 at T = 1e-3). Below it the generic path (shift first, then divide) is used;
#: it builds the same autograd graph, so it costs no extra memory. Without autograd the kernel's
#: chunked max-shifted core is accurate for every ``T`` and is always used.
FAST_MIN_TEMPERATURE = 0.05


def _p_expm1(p: Array, logp: Array, d: float, xp: Any) -> Array:
    """``p^(1+d) − p`` without cancellation near ``d = 0`` and without overflow for tiny ``p``."""
    x = d * logp
    big = x > 1.0
    small = xp.expm1(xp.where(big, xp.ones_like(x), x))
    return xp.where(big, xp.exp((1.0 + d) * logp) - p, p * small)


def entropy(probs: Array, *, axis: int = -1, base: float | None = None) -> Array:
    """Shannon entropy ``-Σ p log p`` of probability vectors; see :func:`reference.categorical.entropy`."""
    xp = namespace(probs)
    check_params("entropy", base=base)
    ax = check_vocab_axis("entropy", "probs", probs, axis)
    check_simplex("entropy", "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    h = -xp.sum(xlogy(p, p, xp), axis=ax)
    if base is not None:
        h = h / math.log(base)
    return from_compute(h, probs, xp)


def _entropy_from_logits_generic(z: Array, xp: Any, ax: int, temperature: float) -> Array:
    m = detach(xp.max(z, axis=ax, keepdims=True))
    y = (z - m) / temperature if temperature != 1.0 else z - m
    ys = xp.where(xp.isinf(y), xp.zeros_like(y), y)  # -inf logits: p = 0, no 0·inf in value or gradient
    e = xp.exp(y)
    s = xp.sum(e, axis=ax, keepdims=True)  # >= 1: the max entry contributes exp(0)
    p = e / s
    return xp.squeeze(xp.log(s), axis=ax) - xp.sum(p * ys, axis=ax)


def entropy_from_logits(logits: Array, *, axis: int = -1, temperature: float = 1.0) -> Array:
    """Entropy of ``softmax(logits / temperature)``; see :func:`reference.categorical.entropy_from_logits`.

    Torch tensors reduced over the last axis use :func:`accelerated.torch_fast.entropy_rows` (with
    autograd on, only for ``temperature >= FAST_MIN_TEMPERATURE``, see there). In checked mode the
    input is scanned for NaN/inf only if the per-row result is non-finite (then the precise
    :class:`~spec.errors.DomainError` is raised, or — for valid input the kernel overflowed on — the
    stable generic path is used). Temperatures outside ``[1e-30, 1e30]`` are computed in float64 on
    the generic path for float32/16 inputs (the output keeps the input dtype).
    """
    fn = "entropy_from_logits"
    xp = namespace(logits)
    check_params(fn, temperature=temperature)
    ax = check_vocab_axis(fn, "logits", logits, axis)
    check_floating(fn, "logits", logits, xp)
    t = float(temperature)
    representable = 1e-30 <= t <= 1e30
    if (is_torch(logits) and ax == logits.ndim - 1 and representable
            and (t >= FAST_MIN_TEMPERATURE or not needs_grad(logits))):
        from accelerated.torch_fast import entropy_rows

        h = entropy_rows(logits, temperature=t)
        if not checked() or bool(xp.all(xp.isfinite(h))):
            return from_compute(h, logits, xp)
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=ax)
    z = to_compute(logits, xp)
    if z.dtype != xp.float64 and not representable:
        z = xp.astype(z, xp.float64)  # T itself is not representable in float32 (rare): widen
    with quiet(z):
        h = _entropy_from_logits_generic(z, xp, ax, t)
    return from_compute(h, logits, xp)


def renyi_entropy(probs: Array, alpha: float, *, axis: int = -1) -> Array:
    """Rényi entropy of order ``alpha``; see :func:`reference.categorical.renyi_entropy`."""
    fn = "renyi_entropy"
    xp = namespace(probs)
    check_params(fn, alpha=alpha)
    ax = check_vocab_axis(fn, "probs", probs, axis)
    check_simplex(fn, "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    a = float(alpha)
    if a == 1.0:
        h = -xp.sum(xlogy(p, p, xp), axis=ax)
    elif a == 0.0:
        h = xp.log(xp.sum(xp.astype(p > 0, p.dtype), axis=ax))
    elif math.isinf(a):
        h = -xp.log(xp.max(p, axis=ax))
    else:
        pos, logp = support_log(p, xp)
        zero = xp.zeros_like(p)
        s_minus_1 = xp.sum(xp.where(pos, _p_expm1(p, logp, a - 1.0, xp), zero), axis=ax)
        alog = xp.where(pos, a * logp, xp.full_like(p, -math.inf))
        am = detach(xp.max(alog, axis=ax, keepdims=True))
        lse = xp.squeeze(am, axis=ax) + xp.log(xp.sum(xp.exp(alog - am), axis=ax))
        near = s_minus_1 > -0.5
        log1p = xp.log1p(xp.where(near, s_minus_1, xp.zeros_like(s_minus_1)))
        h = xp.where(near, log1p, lse) / (1.0 - a)
    return from_compute(h, probs, xp)


def tsallis_entropy(probs: Array, q: float, *, axis: int = -1) -> Array:
    """Tsallis entropy of index ``q``; see :func:`reference.categorical.tsallis_entropy`."""
    fn = "tsallis_entropy"
    xp = namespace(probs)
    check_params(fn, q=q)
    ax = check_vocab_axis(fn, "probs", probs, axis)
    check_simplex(fn, "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    qq = float(q)
    if qq == 1.0:
        s = -xp.sum(xlogy(p, p, xp), axis=ax)
    else:
        pos, logp = support_log(p, xp)
        s = -xp.sum(xp.where(pos, _p_expm1(p, logp, qq - 1.0, xp), xp.zeros_like(p)), axis=ax) / (qq - 1.0)
    return from_compute(s, probs, xp)



def top_p_renormalized_entropy(logits: Array, p: float = 0.8, *, k: int | None = None) -> Array:
    """SIREN's top-p renormalised entropy; see :func:`reference.categorical.top_p_renormalized_entropy`.

    Sorting the probabilities (instead of the logits) gives the same cumulative sums — ``H`` depends
    only on the sorted values — and keeps the sort differentiable on Torch. The support is a prefix
    (``c_j = 1 − Σ_{i>j} π_i`` never decreases), so ``keep = c < p`` is the code's
    ``arange < searchsorted(c, p)``; the selection is computed on detached values (no gradient).
    """
    fn = "top_p_renormalized_entropy"
    xp = namespace(logits)
    check_params(fn, p=p, k=k)
    ax = check_vocab_axis(fn, "logits", logits, -1)
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=ax)
    z = to_compute(logits, xp)
    v = int(z.shape[-1])
    kk = v if k is None else min(int(k), v)
    with quiet(z):
        e = xp.exp(z - detach(xp.max(z, axis=-1, keepdims=True)))
        pi = e / xp.sum(e, axis=-1, keepdims=True)  # the torch.softmax form: exactly 1/V for uniform logits
        spi = xp.sort(pi, axis=-1, descending=True)
        # c_j = 1 − Σ_{i>j} π_i (reverse exclusive cumsum; exact at p = 1, see the reference)
        # The cut is decided in float64 whatever the dtype: in float32, 1 − (a tail below 2^-24) rounds
        # to 1 and would drop tokens at p = 1 that the definition keeps (deep profile: a 1.5e-8 tail).
        spi64 = xp.astype(detach(spi), xp.float64)
        tail_incl = xp.flip(xp.cumulative_sum(xp.flip(spi64, axis=-1), axis=-1), axis=-1)
        tail = xp.concat([tail_incl[..., 1:], xp.zeros_like(tail_incl[..., :1])], axis=-1)
        keep = (1.0 - tail) < float(p)
        if kk < v:
            spi = spi[..., :kk]
            keep = keep[..., :kk]
        zero = xp.zeros_like(spi)
        kept = xp.where(keep, spi, zero)
        qv = kept / (xp.sum(kept, axis=-1, keepdims=True) + SIREN_EPS)
        h = -xp.sum(xp.where(keep, qv * xp.log(qv + SIREN_EPS), zero), axis=-1)
    return from_compute(h, logits, xp)
