"""Reference (NumPy float64) entropies of the ``categorical`` family: Shannon (of probabilities and of
logits), Rényi, Tsallis and SIREN's top-p renormalised entropy. Readable definitions; every function
validates its inputs with :mod:`spec.validate` so the accelerated versions raise the same errors.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64, logsumexp, xlogy
from reference.categorical._common import shifted_log_softmax
from spec.validate import (
    check_finite,
    check_params,
    check_simplex,
    check_vocab_axis,
)

__all__ = [
    "entropy",
    "entropy_from_logits",
    "renyi_entropy",
    "top_p_renormalized_entropy",
    "tsallis_entropy",
]


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
    check_simplex("entropy", "probs", p, np, axis=ax)
    h = -np.sum(xlogy(p, p), axis=ax)
    if base is not None:
        h = h / math.log(base)
    return np.asarray(h, dtype=np.float64)


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

    Papers:

    - The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models (2025, arXiv:2505.22617)
    - The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text Generation
      (2024, arXiv:2412.04318)
    """
    z = as_f64(logits)
    check_params("entropy_from_logits", temperature=temperature)
    ax = check_vocab_axis("entropy_from_logits", "logits", z, axis)
    check_finite("entropy_from_logits", "logits", z, np, allow_neg_inf=True, axis=ax)
    logp = shifted_log_softmax(z, ax, temperature)
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
    check_simplex("renyi_entropy", "probs", p, np, axis=ax)
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

    Papers:

    - Possible generalization of Boltzmann-Gibbs statistics (1988)
    - DynMoLE: Boosting Mixture of LoRA Experts Fine-Tuning with a Hybrid Routing Mechanism (2025, arXiv:2504.00661)
    """
    p = as_f64(probs)
    check_params("tsallis_entropy", q=q)
    ax = check_vocab_axis("tsallis_entropy", "probs", p, axis)
    check_simplex("tsallis_entropy", "probs", p, np, axis=ax)
    qq = float(q)
    if qq == 1.0:
        s = -np.sum(xlogy(p, p), axis=ax)
    else:
        pos = p > 0
        with np.errstate(divide="ignore"):
            logp = np.where(pos, np.log(np.where(pos, p, 1.0)), 0.0)
        s = -np.sum(np.where(pos, _p_expm1(p, logp, qq - 1.0), 0.0), axis=ax) / (qq - 1.0)
    return np.asarray(s, dtype=np.float64)


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
