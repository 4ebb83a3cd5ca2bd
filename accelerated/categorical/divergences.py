"""Accelerated divergences of the ``categorical`` family (array API: Torch, CuPy, NumPy): KL of
probabilities and of logits, Jensen–Shannon."""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, from_compute, namespace, to_compute
from accelerated.categorical._common import quiet, shifted_log_softmax, support_log
from spec.validate import check_finite, check_params, check_same_shape, check_simplex, check_vocab_axis

__all__ = ["js_divergence", "kl_divergence", "kl_divergence_from_logits"]


def _rel_entr(p: Array, q: Array, xp: Any) -> Array:
    """``p log(p/q)``; 0 where ``p = 0``; ``+inf`` where ``p > 0 = q``."""
    pos_p, lp = support_log(p, xp)
    pos_q, lq = support_log(q, xp)
    terms = xp.where(pos_p, p * (lp - lq), xp.zeros_like(p))
    return xp.where(pos_p & ~pos_q, xp.full_like(p, math.inf), terms)


def kl_divergence(p: Array, q: Array, *, axis: int = -1) -> Array:
    """``KL(p ‖ q)`` (scipy ``rel_entr`` conventions); see :func:`reference.categorical.kl_divergence`."""
    fn = "kl_divergence"
    xp = namespace(p, q)
    ax = check_vocab_axis(fn, "p", p, axis)
    check_same_shape(fn, p=p, q=q)
    check_simplex(fn, "p", p, xp, axis=ax)
    check_simplex(fn, "q", q, xp, axis=ax)
    pc = to_compute(p, xp)
    qc = xp.astype(q, pc.dtype) if q.dtype != pc.dtype else q
    return from_compute(xp.sum(_rel_entr(pc, qc, xp), axis=ax), p, xp)


def kl_divergence_from_logits(logits_p: Array, logits_q: Array, *, axis: int = -1) -> Array:
    """``KL(softmax(a) ‖ softmax(b))``; see :func:`reference.categorical.kl_divergence_from_logits`."""
    fn = "kl_divergence_from_logits"
    xp = namespace(logits_p, logits_q)
    ax = check_vocab_axis(fn, "logits_p", logits_p, axis)
    check_same_shape(fn, logits_p=logits_p, logits_q=logits_q)
    check_finite(fn, "logits_p", logits_p, xp, allow_neg_inf=True, axis=ax)
    check_finite(fn, "logits_q", logits_q, xp, allow_neg_inf=True, axis=ax)
    a = to_compute(logits_p, xp)
    b = to_compute(logits_q, xp)
    if b.dtype != a.dtype:
        b = xp.astype(b, a.dtype)
    with quiet(a):
        la = shifted_log_softmax(a, xp, ax)
        lb = shifted_log_softmax(b, xp, ax)
        support = ~xp.isinf(a)
        masked_q = xp.isinf(b)
        diff = xp.where(support & ~masked_q, la - lb, xp.zeros_like(la))
        terms = xp.where(support & masked_q, xp.full_like(la, math.inf), xp.exp(la) * diff)
        kl = xp.sum(terms, axis=ax)
    return from_compute(kl, logits_p, xp)


def js_divergence(p: Array, q: Array, *, axis: int = -1, base: float | None = None) -> Array:
    """Jensen–Shannon divergence (``jensenshannon(p, q)**2``); see :func:`reference.categorical.js_divergence`."""
    fn = "js_divergence"
    xp = namespace(p, q)
    check_params(fn, base=base)
    ax = check_vocab_axis(fn, "p", p, axis)
    check_same_shape(fn, p=p, q=q)
    check_simplex(fn, "p", p, xp, axis=ax)
    check_simplex(fn, "q", q, xp, axis=ax)
    pc = to_compute(p, xp)
    qc = xp.astype(q, pc.dtype) if q.dtype != pc.dtype else q
    _, log_s = support_log(pc + qc, xp)  # log m = log(p + q) − log 2 (m itself may underflow)

    def half_kl_to_m(x: Array) -> Array:
        pos, lx = support_log(x, xp)
        return 0.5 * xp.sum(xp.where(pos, x * (math.log(2.0) + lx - log_s), xp.zeros_like(x)), axis=ax)

    js = half_kl_to_m(pc) + half_kl_to_m(qc)
    if base is not None:
        js = js / math.log(base)
    return from_compute(js, p, xp)
