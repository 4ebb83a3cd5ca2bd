"""Reference (NumPy float64) divergences of the ``categorical`` family: KL of probabilities and of
logits, Jensen–Shannon.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.categorical._common import shifted_log_softmax
from spec.validate import (
    check_finite,
    check_params,
    check_same_shape,
    check_simplex,
    check_vocab_axis,
)

__all__ = [
    "js_divergence",
    "kl_divergence",
    "kl_divergence_from_logits",
]


def _rel_entr(p: F64, q: F64) -> F64:
    """``p log(p/q)`` elementwise with ``0 log(0/q) = 0`` and ``+inf`` where ``p > 0 = q`` (scipy ``rel_entr``)."""
    out = np.zeros_like(p)
    both = (p > 0) & (q > 0)
    out[both] = p[both] * (np.log(p[both]) - np.log(q[both]))
    out[(p > 0) & (q == 0)] = np.inf
    return out


def kl_divergence(p: npt.ArrayLike, q: npt.ArrayLike, *, axis: int = -1) -> F64:
    r"""Kullback–Leibler divergence ``KL(p ‖ q) = Σ_k p_k log(p_k / q_k)`` of probability vectors, in nats.

    Conventions (those of ``scipy.special.rel_entr``): ``0·log(0/q) = 0`` for any ``q``; a category
    with ``p_k > 0`` and ``q_k = 0`` makes the divergence ``+inf`` (documented, not NaN). Both inputs
    on the simplex along ``axis`` and of one shape. Output: shape without ``axis``, ``>= 0``.

    Paper: S. Kullback and R. A. Leibler, "On Information and Sufficiency" (1951).
    """
    pp = as_f64(p)
    qq = as_f64(q)
    ax = check_vocab_axis("kl_divergence", "p", pp, axis)
    check_same_shape("kl_divergence", p=pp, q=qq)
    check_simplex("kl_divergence", "p", pp, np, axis=ax)
    check_simplex("kl_divergence", "q", qq, np, axis=ax)
    return np.asarray(np.sum(_rel_entr(pp, qq), axis=ax), dtype=np.float64)


def kl_divergence_from_logits(logits_p: npt.ArrayLike, logits_q: npt.ArrayLike, *, axis: int = -1) -> F64:
    r"""``KL(softmax(a) ‖ softmax(b)) = Σ_v softmax(a)_v (log_softmax(a)_v - log_softmax(b)_v)``, in nats.

    Conventions: categories on ``axis``; ``-inf`` logits are masked categories. The support of
    ``p = softmax(a)`` is ``{v : a_v > -inf}`` (not ``{p_v > 0}``, which depends on underflow): the
    result is ``+inf`` when some ``a_v`` is finite where ``b_v = -inf``, and entries with
    ``a_v = -inf`` contribute 0. Output: shape without ``axis``, ``>= 0``.

    Peer: ``torch.nn.functional.kl_div(log_softmax(b), log_softmax(a), log_target=True,
    reduction="none").sum(-1)``.

    Papers:

    - On Information and Sufficiency (1951)
    """
    a = as_f64(logits_p)
    b = as_f64(logits_q)
    ax = check_vocab_axis("kl_divergence_from_logits", "logits_p", a, axis)
    check_same_shape("kl_divergence_from_logits", logits_p=a, logits_q=b)
    check_finite("kl_divergence_from_logits", "logits_p", a, np, allow_neg_inf=True, axis=ax)
    check_finite("kl_divergence_from_logits", "logits_q", b, np, allow_neg_inf=True, axis=ax)
    la = shifted_log_softmax(a, ax)
    lb = shifted_log_softmax(b, ax)
    support = a > -np.inf
    with np.errstate(invalid="ignore"):
        terms = np.where(support, np.exp(la) * (la - lb), 0.0)
    terms = np.where(support & np.isneginf(b), np.inf, terms)
    return np.asarray(np.sum(terms, axis=ax), dtype=np.float64)


def js_divergence(p: npt.ArrayLike, q: npt.ArrayLike, *, axis: int = -1, base: float | None = None) -> F64:
    r"""Jensen–Shannon divergence ``JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)``, ``m = (p + q)/2``.

    In nats (or units of ``base``); ``0 <= JS <= log 2``; symmetric; always finite (``m > 0`` wherever
    ``p > 0`` or ``q > 0``). Equals ``scipy.spatial.distance.jensenshannon(p, q, base=base) ** 2``
    (scipy returns the JS *distance*, the square root).

    Paper: J. Lin, "Divergence measures based on the Shannon entropy" (1991).
    Conventions: categories on ``axis``; inputs on the simplex and of one shape.
    """
    pp = as_f64(p)
    qq = as_f64(q)
    check_params("js_divergence", base=base)
    ax = check_vocab_axis("js_divergence", "p", pp, axis)
    check_same_shape("js_divergence", p=pp, q=qq)
    check_simplex("js_divergence", "p", pp, np, axis=ax)
    check_simplex("js_divergence", "q", qq, np, axis=ax)
    # x log(x/m) with log m = log(p + q) − log 2: m = (p+q)/2 can underflow to 0 for denormal p + q,
    # p + q >= x cannot.
    s = pp + qq

    def half_kl_to_m(x: F64) -> F64:
        out = np.zeros_like(x)
        pos = x > 0
        out[pos] = x[pos] * (math.log(2.0) + np.log(x[pos]) - np.log(s[pos]))
        return np.asarray(0.5 * np.sum(out, axis=ax), dtype=np.float64)

    js = half_kl_to_m(pp) + half_kl_to_m(qq)
    if base is not None:
        js = js / math.log(base)
    return np.asarray(js, dtype=np.float64)
