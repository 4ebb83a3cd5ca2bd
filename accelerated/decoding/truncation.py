"""Accelerated truncation filters: top-k, top-p, min-p, typical, epsilon, eta and Top-H.

Same names, signatures, conventions and errors as :mod:`reference.decoding` (see
:mod:`accelerated.decoding._common` for the vectorisation rules). Torch tensors take the
sort-free kernels of :mod:`accelerated.decoding._fast` (threshold search, partial selection);
NumPy / CuPy arrays the generic array-API code below. Traceable with
``torch.compile(fullgraph=True)`` in unchecked mode.
"""

from __future__ import annotations

import math

from accelerated._xp import Array, log_softmax, namespace, softmax
from accelerated.decoding import _fast
from accelerated.decoding._common import (
    _apply,
    _count,
    _divide,
    _entropy,
    _first_n,
    _full_n,
    _guard_kth,
    _order,
    _validated,
)
from spec.decoding.truncation import TOP_H_PROBABILITY_FLOOR
from spec.validate import check_params

__all__ = ["epsilon_filter", "eta_filter", "min_p_filter", "top_h_filter", "top_k_filter", "top_p_filter",
           "typical_filter"]


# --------------------------------------------------------------------------- top-k


def top_k_filter(logits: Array, k: int, *, ties: str = "keep", min_tokens_to_keep: int = 1) -> Array:
    """Top-k truncation; see :func:`reference.decoding.top_k_filter`."""
    check_params("top_k_filter", k=k, ties=ties, min_tokens_to_keep=min_tokens_to_keep)
    if _fast.usable(logits):
        z, m = _fast.validated("top_k_filter", logits)
        return _fast.top_k(logits, z, m, min(max(k, min_tokens_to_keep), z.shape[-1]), ties)
    xp, z = _validated("top_k_filter", logits)
    k_eff = min(max(k, min_tokens_to_keep), z.shape[-1])
    if ties == "keep":
        kth = xp.sort(z, axis=-1, descending=True)[..., k_eff - 1: k_eff]
        return _apply(logits, z >= kth, xp)
    return _apply(logits, _first_n(z, _order(z, xp), _full_n(z, k_eff, xp), xp), xp)


# --------------------------------------------------------------------------- top-p


def top_p_filter(logits: Array, p: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Top-p (nucleus) truncation, HF rule; see :func:`reference.decoding.top_p_filter`."""
    check_params("top_p_filter", p=p, min_tokens_to_keep=min_tokens_to_keep)
    if _fast.usable(logits):
        z, m = _fast.validated("top_p_filter", logits)
        if p == 1.0:
            return logits.clone()
        if p == 0.0:
            return _fast.top_k(logits, z, m, min(min_tokens_to_keep, z.shape[-1]), "exact")
        return _fast.top_p(logits, z, m, p, min_tokens_to_keep)
    xp, z = _validated("top_p_filter", logits)
    if p == 1.0:
        return _apply(logits, z == z, xp)  # identity (a new array); z has no NaN
    v = z.shape[-1]
    order = _order(z, xp)
    if p == 0.0:
        n = _full_n(z, min(min_tokens_to_keep, v), xp)
    else:
        probs = softmax(xp.take_along_axis(z, order, axis=-1), xp)
        tail = xp.flip(xp.cumulative_sum(xp.flip(probs, axis=-1), axis=-1), axis=-1)
        n = xp.clip(_count(tail > 1.0 - p, xp), min_tokens_to_keep, v)
    return _apply(logits, _first_n(z, order, n, xp), xp)


# --------------------------------------------------------------------------- min-p


def min_p_filter(logits: Array, min_p: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Min-p truncation (``z - max z < log min_p`` removed); see :func:`reference.decoding.min_p_filter`."""
    check_params("min_p_filter", min_p=min_p, min_tokens_to_keep=min_tokens_to_keep)
    log_t = -math.inf if min_p == 0 else math.log(min_p)
    if _fast.usable(logits):
        z, m = _fast.validated("min_p_filter", logits)
        return _fast.min_p(logits, z, m, log_t, min(min_tokens_to_keep, z.shape[-1]))
    xp, z = _validated("min_p_filter", logits)
    removed = (z - xp.max(z, axis=-1, keepdims=True)) < log_t
    forced = _first_n(z, _order(z, xp), _full_n(z, min(min_tokens_to_keep, z.shape[-1]), xp), xp)
    return _apply(logits, ~removed | forced, xp)


# --------------------------------------------------------------------------- typical


def typical_filter(logits: Array, mass: float = 0.9, *, min_tokens_to_keep: int = 1) -> Array:
    """Locally typical truncation, HF rule; see :func:`reference.decoding.typical_filter`."""
    check_params("typical_filter", mass=mass, min_tokens_to_keep=min_tokens_to_keep)
    if _fast.usable(logits):
        z, m = _fast.validated("typical_filter", logits)
        return _fast.typical(logits, z, m, mass, min(min_tokens_to_keep, z.shape[-1]))
    xp, z = _validated("typical_filter", logits)
    v = z.shape[-1]
    logp = log_softmax(z, xp)
    score = xp.abs(-logp - _entropy(logp, xp))
    key = -score  # ascending score == descending key; stable: lowest index first among ties
    order = _order(key, xp)
    cum = xp.cumulative_sum(xp.take_along_axis(softmax(z, xp), order, axis=-1), axis=-1)
    last = xp.clip(_count(cum < mass, xp), None, v - 1)
    thr = xp.take_along_axis(xp.take_along_axis(score, order, axis=-1), xp.expand_dims(last, axis=-1), axis=-1)
    removed = score > thr
    forced = _first_n(key, order, _full_n(z, min(min_tokens_to_keep, v), xp), xp)
    return _apply(logits, ~removed | forced, xp)


# --------------------------------------------------------------------------- epsilon / eta


def epsilon_filter(logits: Array, epsilon: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Epsilon truncation (``log p < log ε`` removed); see :func:`reference.decoding.epsilon_filter`."""
    check_params("epsilon_filter", epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)
    if _fast.usable(logits):
        z, m = _fast.validated("epsilon_filter", logits)
        return _fast.epsilon_eta(logits, z, m, math.log(epsilon), min(min_tokens_to_keep, z.shape[-1]), eta=False)
    xp, z = _validated("epsilon_filter", logits)
    removed = log_softmax(z, xp) < math.log(epsilon)
    return _apply(logits, ~removed | _guard_kth(z, min_tokens_to_keep, xp), xp)


def eta_filter(logits: Array, epsilon: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Eta truncation, ``η = min(ε, √ε e^{-H})``; see :func:`reference.decoding.eta_filter`."""
    check_params("eta_filter", epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)
    if _fast.usable(logits):
        z, m = _fast.validated("eta_filter", logits)
        return _fast.epsilon_eta(logits, z, m, math.log(epsilon), min(min_tokens_to_keep, z.shape[-1]), eta=True)
    xp, z = _validated("eta_filter", logits)
    logp = log_softmax(z, xp)
    log_eps = math.log(epsilon)
    log_t = xp.clip(0.5 * log_eps - _entropy(logp, xp), None, log_eps)
    removed = logp < log_t
    return _apply(logits, ~removed | _guard_kth(z, min_tokens_to_keep, xp), xp)


# --------------------------------------------------------------------------- top-h


def top_h_filter(logits: Array, alpha: float, *, criterion: str = "hf", top_n: int = 100,
                 temperature: float = 1.0, min_tokens_to_keep: int = 1) -> Array:
    """Top-H truncation (``criterion`` 'hf' or 'official'); see :func:`reference.decoding.top_h_filter`."""
    check_params("top_h_filter", alpha=alpha, criterion=criterion, top_n=top_n, temperature=temperature,
                 min_tokens_to_keep=min_tokens_to_keep)
    if _fast.usable(logits):
        z, m = _fast.validated("top_h_filter", logits)
        xt = namespace(z)
        return _fast.top_h(logits, z, m, alpha, criterion, min(top_n, z.shape[-1]), float(temperature),
                           min_tokens_to_keep, TOP_H_PROBABILITY_FLOOR, lambda x, t: _divide(x, t, xt))
    xp, z = _validated("top_h_filter", logits)
    v = z.shape[-1]
    n_top = min(top_n, v)
    order = _order(z, xp)
    zc = _divide(z - xp.max(z, axis=-1, keepdims=True), float(temperature), xp)
    top = order[..., :n_top]
    if criterion == "hf":
        q = softmax(xp.take_along_axis(zc, top, axis=-1), xp)
    else:
        q = xp.take_along_axis(softmax(zc, xp), top, axis=-1)
    positive = q > TOP_H_PROBABILITY_FLOOR  # the spec's zero: the same in every precision
    terms = xp.where(positive, -q * xp.log(xp.where(positive, q, xp.ones_like(q))), xp.zeros_like(q))
    cum = xp.cumulative_sum(terms, axis=-1)
    tau = alpha * cum[..., -1:]
    n = xp.clip(_count((cum <= tau) & positive, xp), max(1, min(min_tokens_to_keep, v)), v)
    return _apply(logits, _first_n(z, order, n, xp), xp)


