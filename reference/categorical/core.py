"""Reference (NumPy float64) implementations of the ``categorical`` family.

Readable definitions, one function per catalogue id; loops are allowed where they make the rule
clearer (``top_p_renormalized_entropy``). Every function validates its inputs with
:mod:`spec.validate` so the accelerated versions raise the same errors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64, logsumexp, xlogy
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import (
    check_finite,
    check_index,
    check_params,
    check_same_shape,
    check_simplex,
    check_vocab_axis,
)

__all__ = [
    "cross_entropy",
    "entropy",
    "entropy_from_logits",
    "js_divergence",
    "kl_divergence",
    "kl_divergence_from_logits",
    "renyi_entropy",
    "top_p_renormalized_entropy",
    "tsallis_entropy",
]

def _check_simplex(fn: str, name: str, p: npt.NDArray[Any], xp: Any, *, axis: int = -1) -> None:
    """:func:`spec.validate.check_simplex`, skipping arrays with no elements (an empty *batch*: the
    shared helper reduces ``max`` over an empty array when a non-leading batch dim is 0)."""
    if math.prod(int(d) for d in p.shape) == 0:
        return
    check_simplex(fn, name, p, xp, axis=axis)


#: The eps of the official SIREN code (``efficient_top_p_sampling``), in the renormalisation and the log.
SIREN_EPS = 1e-12


def entropy(probs: npt.ArrayLike, *, axis: int = -1, base: float | None = None) -> F64:
    r"""Shannon entropy of probability vectors.

    .. math:: H(p) = -\sum_k p_k \log p_k, \qquad 0 \log 0 = 0

    in nats, or in units of ``base`` (``H / log(base)``; ``base=2`` gives bits).

    Paper: C. E. Shannon, "A Mathematical Theory of Communication" (1948).
    Peer: ``scipy.stats.entropy(p, base=base, axis=axis)`` on already-normalised ``p``.

    Conventions: categories on ``axis`` (default last); rows must be non-negative and sum to 1
    within :func:`spec.validate.simplex_atol` — unlike scipy, nothing is renormalised silently.
    Output has the input shape without ``axis``.
    """
    p = as_f64(probs)
    check_params("entropy", base=base)
    ax = check_vocab_axis("entropy", "probs", p, axis)
    _check_simplex("entropy", "probs", p, np, axis=ax)
    h = -np.sum(xlogy(p, p), axis=ax)
    if base is not None:
        h = h / math.log(base)
    return np.asarray(h, dtype=np.float64)


def _scaled_log_softmax(z: F64, ax: int, temperature: float = 1.0) -> F64:
    """``log softmax(z / temperature)`` along ``ax``, shifting by the row maximum *before* dividing
    so that tiny temperatures cannot overflow (``-inf`` entries stay ``-inf``)."""
    m = np.max(z, axis=ax, keepdims=True)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        y = (z - m) / temperature
    y = np.where(np.isneginf(z), -np.inf, y)
    return y - np.expand_dims(logsumexp(y, axis=ax), ax)


def entropy_from_logits(logits: npt.ArrayLike, *, axis: int = -1, temperature: float = 1.0) -> F64:
    r"""Shannon entropy of ``softmax(logits / temperature)``, in nats.

    .. math:: H = \log\sum_v e^{y_v} - \sum_v \mathrm{softmax}(y)_v\, y_v = -\sum_v p_v \log p_v,
              \qquad y = z / T

    Papers: the verl / Hyperfitting / EntroPE token entropy (see the spec); the stable
    logsumexp form is the one used by verl (``verl.utils.torch_functional.entropy_from_logits``).

    Conventions: categories on ``axis`` (default last); ``-inf`` logits are masked categories
    (probability 0, contributing 0); a row of only ``-inf``, NaN or ``+inf`` raises
    :class:`~spec.errors.DomainError`. The row maximum is subtracted before dividing by ``T``, so
    any ``T > 0`` is safe (``T -> 0`` tends to ``log(#argmax ties)``). Output: input shape without
    ``axis``; never negative.
    """
    z = as_f64(logits)
    check_params("entropy_from_logits", temperature=temperature)
    ax = check_vocab_axis("entropy_from_logits", "logits", z, axis)
    check_finite("entropy_from_logits", "logits", z, np, allow_neg_inf=True, axis=ax)
    logp = _scaled_log_softmax(z, ax, temperature)
    p = np.exp(logp)
    h = -np.sum(np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0), axis=ax)
    return np.asarray(h, dtype=np.float64)


def _p_expm1(p: F64, logp: F64, d: float) -> F64:
    """``p·(p^d − 1) = p^(1+d) − p``: by expm1 where ``d·log p`` is moderate (no cancellation near
    ``d = 0``), by ``exp((1+d) log p) − p`` where ``p^d`` would overflow (tiny ``p``, ``d < 0``)."""
    x = d * logp
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x > 1.0, np.exp((1.0 + d) * logp) - p, p * np.expm1(np.minimum(x, 1.0)))


def _renyi_finite(p: F64, alpha: float, ax: int) -> F64:
    """``log(Σ p^α) / (1-α)`` for finite ``α ∉ {0, 1}``, accurate near ``α = 1`` and for large ``α``."""
    pos = p > 0
    with np.errstate(divide="ignore"):
        logp = np.where(pos, np.log(np.where(pos, p, 1.0)), 0.0)
    # Σ p^α - 1 = Σ p (p^(α-1) - 1) = Σ p·expm1((α-1) log p): no cancellation near α = 1.
    s_minus_1 = np.sum(np.where(pos, _p_expm1(p, logp, alpha - 1.0), 0.0), axis=ax)
    # log Σ p^α by log-sum-exp of α log p: accurate when Σ p^α is far below 1 (large α).
    alog = np.where(pos, alpha * logp, -np.inf)
    lse = logsumexp(alog, axis=ax)
    log_s = np.where(s_minus_1 > -0.5, np.log1p(np.maximum(s_minus_1, -0.5)), lse)
    return np.asarray(log_s / (1.0 - alpha), dtype=np.float64)


def renyi_entropy(probs: npt.ArrayLike, alpha: float, *, axis: int = -1) -> F64:
    r"""Rényi entropy of order ``alpha`` of probability vectors, in nats.

    .. math:: H_\alpha(p) = \frac{1}{1-\alpha}\log\sum_{k: p_k>0} p_k^\alpha

    with the limits taken explicitly: ``α = 1`` Shannon ``-Σ p log p``; ``α = 0`` Hartley
    ``log |supp p|``; ``α = inf`` min-entropy ``-log max p``. ``α >= 0``.

    Paper: A. Rényi, "On Measures of Entropy and Information" (1961).
    Peer: none with the same API (``scipy`` has no Rényi entropy); closed forms checked with mpmath.

    Conventions: categories on ``axis``; input on the simplex (not renormalised); ``0^α = 0``
    for every ``α`` (sums run over the support, so ``α = 0`` counts the support). Near ``α = 1``
    ``Σ p^α - 1`` is summed as ``Σ p·expm1((α-1) log p)`` so there is no ``0/0`` cancellation.
    """
    p = as_f64(probs)
    check_params("renyi_entropy", alpha=alpha)
    ax = check_vocab_axis("renyi_entropy", "probs", p, axis)
    _check_simplex("renyi_entropy", "probs", p, np, axis=ax)
    a = float(alpha)
    if a == 1.0:
        h = -np.sum(xlogy(p, p), axis=ax)
    elif a == 0.0:
        h = np.log(np.sum(p > 0, axis=ax).astype(np.float64))
    elif math.isinf(a):
        h = -np.log(np.max(p, axis=ax))
    else:
        h = _renyi_finite(p, a, ax)
    return np.asarray(h, dtype=np.float64)


def tsallis_entropy(probs: npt.ArrayLike, q: float, *, axis: int = -1) -> F64:
    r"""Tsallis entropy of index ``q`` of probability vectors.

    .. math:: S_q(p) = \frac{1 - \sum_{k: p_k>0} p_k^q}{q - 1}
                     = -\sum_{k: p_k > 0} p_k\,\frac{\mathrm{expm1}((q-1)\log p_k)}{q-1}

    ``q = 1`` is the Shannon limit ``-Σ p log p`` (taken explicitly); ``q = 2`` is the Gini
    impurity ``1 - Σ p²``; ``q = 0`` gives ``|supp p| - 1``. ``q >= 0``.

    Papers: C. Tsallis, "Possible generalization of Boltzmann-Gibbs statistics" (1988); used as a
    routing entropy by DynMoLE (2025). The DynMoLE code's eps was not verified (catalogue); the
    standard definition is used, with ``0^q = 0`` (sum over the support).

    Conventions: categories on ``axis``; input on the simplex. The expm1 form has no cancellation
    near ``q = 1``.
    """
    p = as_f64(probs)
    check_params("tsallis_entropy", q=q)
    ax = check_vocab_axis("tsallis_entropy", "probs", p, axis)
    _check_simplex("tsallis_entropy", "probs", p, np, axis=ax)
    qq = float(q)
    if qq == 1.0:
        s = -np.sum(xlogy(p, p), axis=ax)
    else:
        pos = p > 0
        with np.errstate(divide="ignore"):
            logp = np.where(pos, np.log(np.where(pos, p, 1.0)), 0.0)
        s = -np.sum(np.where(pos, _p_expm1(p, logp, qq - 1.0), 0.0), axis=ax) / (qq - 1.0)
    return np.asarray(s, dtype=np.float64)


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
    _check_simplex("kl_divergence", "p", pp, np, axis=ax)
    _check_simplex("kl_divergence", "q", qq, np, axis=ax)
    return np.asarray(np.sum(_rel_entr(pp, qq), axis=ax), dtype=np.float64)


def kl_divergence_from_logits(logits_p: npt.ArrayLike, logits_q: npt.ArrayLike, *, axis: int = -1) -> F64:
    r"""``KL(softmax(a) ‖ softmax(b)) = Σ_v softmax(a)_v (log_softmax(a)_v - log_softmax(b)_v)``, in nats.

    Conventions: categories on ``axis``; ``-inf`` logits are masked categories. The support of
    ``p = softmax(a)`` is ``{v : a_v > -inf}`` (not ``{p_v > 0}``, which depends on underflow): the
    result is ``+inf`` when some ``a_v`` is finite where ``b_v = -inf``, and entries with
    ``a_v = -inf`` contribute 0. Output: shape without ``axis``, ``>= 0``.

    Peer: ``torch.nn.functional.kl_div(log_softmax(b), log_softmax(a), log_target=True,
    reduction="none").sum(-1)``.
    """
    a = as_f64(logits_p)
    b = as_f64(logits_q)
    ax = check_vocab_axis("kl_divergence_from_logits", "logits_p", a, axis)
    check_same_shape("kl_divergence_from_logits", logits_p=a, logits_q=b)
    check_finite("kl_divergence_from_logits", "logits_p", a, np, allow_neg_inf=True, axis=ax)
    check_finite("kl_divergence_from_logits", "logits_q", b, np, allow_neg_inf=True, axis=ax)
    la = _scaled_log_softmax(a, ax)
    lb = _scaled_log_softmax(b, ax)
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
    _check_simplex("js_divergence", "p", pp, np, axis=ax)
    _check_simplex("js_divergence", "q", qq, np, axis=ax)
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


def top_p_renormalized_entropy(logits: npt.ArrayLike, p: float = 0.8, *, k: int | None = None) -> F64:
    r"""SIREN's top-p renormalised entropy of ``softmax(logits)`` (last axis), in nats.

    Per row, with ``π = softmax(z)`` and the tokens sorted by descending logit::

        idx = argsort_desc(z)[:k]          # k = None -> V; k > V is clipped to V
        c_j = Σ_{i <= j} π_{idx_i}         # cumulative probability (evaluated as 1 − Σ_{i > j})
        cut = #{j : c_j < p}               # searchsorted(c, p, side="left")
        S   = idx[:cut]                    # the token whose c_j first reaches p is EXCLUDED
        q   = π·1_S / (Σ_S π + 1e-12)
        H   = -Σ_v q_v log(q_v + 1e-12)

    Paper: "Rethinking Entropy Regularization in Large Reasoning Models" (SIREN, 2025,
    arXiv:2509.25133). This follows the official code, ``Linn3a/siren``
    ``verl/verl/workers/actor/dp_actor.py`` ``efficient_top_p_sampling`` (read for this function):
    ``torch.topk(logits, k)``, ``torch.searchsorted(cumsum, p)`` (left side) and ``arange < cut``, so
    the crossing token is excluded — unlike HF nucleus filtering, which keeps it — and the two
    ``1e-12`` eps are kept. Differences from the code: ``k`` defaults to ``None`` (all of V) where the
    code's function default is 15000 and the actor config default ``entropy_topk`` 10000; ``k > V`` is
    clipped (``torch.topk`` raises); ``p`` defaults to 0.8 (the config ``entropy_topp``; the function's
    own default is 0.95). The code's ``no_grad`` full entropy (a logging output) is
    :func:`entropy_from_logits`.

    The cumulative sums are evaluated as ``1 − (probability after j)``: mathematically the same, and
    exact at ``p = 1`` (all but the last positive-probability token are kept) where a forward float sum
    may land on either side of 1.

    Conventions: ``p = 0`` or ``max π >= p`` gives an empty support and ``H = 0`` (with zero
    gradient). Ties between logits are broken by the lowest index; ``H`` depends only on the sorted
    probability values, so the tie policy never changes the result. ``-inf`` logits have ``π = 0``.
    Gradients flow through ``π`` with the support ``S`` held fixed (piecewise constant); not detached.
    """
    z = as_f64(logits)
    check_params("top_p_renormalized_entropy", p=p, k=k)
    ax = check_vocab_axis("top_p_renormalized_entropy", "logits", z, -1)
    check_finite("top_p_renormalized_entropy", "logits", z, np, allow_neg_inf=True, axis=ax)
    v = z.shape[-1]
    kk = v if k is None else min(int(k), v)
    # π = exp(z − max)/Σ exp(z − max), the torch.softmax form (exactly 1/V for uniform logits)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    pi = e / np.sum(e, axis=-1, keepdims=True)
    rows_z = z.reshape(-1, v)
    rows_pi = pi.reshape(-1, v)
    out = np.zeros(rows_z.shape[0], dtype=np.float64)
    for r in range(rows_z.shape[0]):
        order = np.argsort(-rows_z[r], kind="stable")
        sorted_pi = rows_pi[r][order]
        # c_j = Σ_{i<=j} π_i, evaluated as 1 − Σ_{i>j} π_i (the same number; exact at p = 1, where
        # the last token's cumulative sum is exactly 1 and so is excluded, whatever the rounding).
        tail = np.append(np.cumsum(sorted_pi[::-1])[::-1][1:], 0.0)
        c = (1.0 - tail)[:kk]
        cut = int(np.sum(c < p))
        support = sorted_pi[:cut]
        q = support / (np.sum(support) + SIREN_EPS)
        out[r] = -np.sum(q * np.log(q + SIREN_EPS))
    return np.asarray(out.reshape(z.shape[:-1]), dtype=np.float64)


def _check_ce_target(fn: str, target: npt.NDArray[np.generic], logits: F64, ignore_index: int) -> bool:
    """Validate a cross-entropy target; True for class indices, False for probability targets."""
    lead = tuple(logits.shape[:-1])
    shape = tuple(target.shape)
    if np.issubdtype(target.dtype, np.integer):
        if shape != lead:
            raise ShapeError(fn, "target", f"shape {lead} (class indices) or {tuple(logits.shape)} (probabilities)",
                             f"shape {shape}")
        check_index(fn, "target", target, np, low=0, high=int(logits.shape[-1]), ignore=ignore_index)
        return True
    if np.issubdtype(target.dtype, np.floating):
        if shape == lead and shape != tuple(logits.shape):
            raise DTypeError(fn, "target", "an integer dtype for class indices of shape logits.shape[:-1]",
                             f"dtype {target.dtype}")
        check_same_shape(fn, logits=logits, target=target)
        _check_simplex(fn, "target", target, np, axis=-1)
        return False
    raise DTypeError(fn, "target", "integer class indices or floating probabilities", f"dtype {target.dtype}")


def cross_entropy(logits: npt.ArrayLike, target: npt.ArrayLike, *, weight: npt.ArrayLike | None = None,
                  ignore_index: int = -100, label_smoothing: float = 0.0, reduction: str = "mean") -> F64:
    r"""Cross-entropy of ``softmax(logits)`` (classes on the LAST axis) against targets.

    Semantics of ``torch.nn.functional.cross_entropy`` (torch 2.x docs and
    ``aten/src/ATen/native/LossNLL.cpp``), with the class axis moved to the end. With
    ``ℓ_{n,c} = logsumexp(z_n) - z_{n,c}`` (``= -log softmax``), ``C`` classes, weights ``w``
    (all ones when ``weight is None``) and ``ε = label_smoothing``:

    * class-index targets ``y`` (integer, shape ``logits.shape[:-1]``)::

          loss_n = [y_n != ignore_index] · ((1-ε)·w_{y_n}·ℓ_{n,y_n} + (ε/C)·Σ_c w_c ℓ_{n,c})
          mean   = Σ_n loss_n / Σ_n [y_n != ignore_index]·w_{y_n}

      (the smoothing term is divided by the same target-weight sum — torch's definition);
    * probability targets ``t`` (floating, same shape as ``logits``, rows on the simplex)::

          t' = (1-ε)·t + ε/C,   loss_n = Σ_c w_c t'_{n,c} ℓ_{n,c},   mean = Σ_n loss_n / N

      (``N`` rows; ``ignore_index`` does not apply).

    ``reduction``: ``"none"`` (shape ``logits.shape[:-1]``), ``"sum"``, ``"mean"``.

    Documented differences from torch (never NaN):
    * ``mean`` with a zero denominator — every target ignored (torch issue #116349), all target
      weights zero, or an empty batch — returns ``0`` (torch returns NaN);
    * a ``-inf`` logit whose coefficient (``w_c`` or ``w_c t'_{n,c}``) is 0 contributes 0
      (``0·∞ = 0``, as ``0 log 0 = 0``); torch gives NaN. With a positive coefficient the loss is
      ``+inf`` (as in torch).

    Papers: standard next-token CE (Hyperfitting; MDS-S2); label smoothing: Szegedy et al.,
    "Rethinking the Inception Architecture for Computer Vision" (2016, arXiv:1512.00567).
    ``weight`` must be non-negative, finite, shape ``(C,)``.
    """
    fn = "cross_entropy"
    z = as_f64(logits)
    check_params(fn, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
    check_vocab_axis(fn, "logits", z, -1)
    t = np.asarray(target)
    is_index = _check_ce_target(fn, t, z, ignore_index)
    n_cls = int(z.shape[-1])
    if weight is None:
        w = np.ones(n_cls, dtype=np.float64)
    else:
        w = as_f64(weight)
        if tuple(w.shape) != (n_cls,):
            raise ShapeError(fn, "weight", f"shape ({n_cls},) (one weight per class)", f"shape {tuple(w.shape)}")
        check_finite(fn, "weight", w, np)
        if bool(np.any(w < 0)):
            raise DomainError(fn, "weight", "non-negative class weights", f"a minimum of {float(np.min(w))!r}")
    check_finite(fn, "logits", z, np, allow_neg_inf=True, axis=-1)
    eps = float(label_smoothing)
    nll = -_scaled_log_softmax(z, z.ndim - 1)  # ℓ_{n,c} >= 0, +inf at -inf logits

    def weighted(coef: F64) -> F64:  # Σ_c coef_c ℓ_c with 0·∞ = 0
        with np.errstate(invalid="ignore"):
            return np.asarray(np.sum(np.where(coef == 0, 0.0, coef * nll), axis=-1), dtype=np.float64)

    if is_index:
        ti = t.astype(np.int64)
        valid = ti != ignore_index
        safe = np.where(valid, ti, 0)
        w_y = np.where(valid, w[safe], 0.0)
        nll_y = np.take_along_axis(nll, safe[..., None], axis=-1)[..., 0]
        coef_y = (1.0 - eps) * w_y  # 0 when ε = 1: then a -inf target logit contributes 0·∞ = 0
        with np.errstate(invalid="ignore"):
            main = np.where(coef_y == 0, 0.0, coef_y * nll_y)
        smooth = weighted(np.broadcast_to(w, z.shape)) if eps > 0 else np.zeros_like(main)
        loss = np.where(valid, main + (eps / n_cls) * smooth, 0.0)
        denom = float(np.sum(w_y))
    else:
        tp = as_f64(t)
        loss = weighted(w * ((1.0 - eps) * tp + eps / n_cls))
        denom = float(loss.size)
    if reduction == "none":
        return np.asarray(loss, dtype=np.float64)
    total = float(np.sum(loss))
    if reduction == "sum":
        return np.asarray(total, dtype=np.float64)
    return np.asarray(total / denom if denom > 0 else 0.0, dtype=np.float64)
