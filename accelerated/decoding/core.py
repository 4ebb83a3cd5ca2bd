"""Accelerated (array API: Torch, CuPy, NumPy) implementations of the ``decoding`` family.

Same names, signatures, conventions and errors as :mod:`reference.decoding` (see its docstrings for
the rules and their provenance). One vectorised implementation per method, no loops over rows or
tokens: sorts are stable (ties resolved to the lowest index, as in the reference), and "the first
``n`` tokens of the sort order" is selected without a scatter by comparing each token with the
``n``-th entry of the order (value, then index). Filters return the *input* array's values where
kept and ``-inf`` elsewhere, in the input dtype; bfloat16/float16 decisions are computed in float32.
Rows are independent, so the batch shape never changes a row's result.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat

from accelerated._xp import compute_dtype, from_compute, namespace, to_compute
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_vocab_axis

__all__ = [
    "epsilon_filter",
    "eta_filter",
    "min_p_filter",
    "sample",
    "temperature_scale",
    "top_h_filter",
    "top_k_filter",
    "top_p_filter",
    "typical_filter",
]

Array = Any


# --------------------------------------------------------------------------- helpers


def _validated(fn: str, logits: Array) -> tuple[Any, Array]:
    xp = namespace(logits)
    check_vocab_axis(fn, "logits", logits)
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True)
    return xp, _detach(to_compute(logits, xp))


def _detach(x: Array) -> Array:
    """Decisions never carry gradients (no-op for non-Torch arrays)."""
    return x.detach() if array_api_compat.is_torch_array(x) else x


def _index(z: Array, xp: Any) -> Array:
    v = z.shape[-1]
    return xp.arange(v, dtype=xp.int64, device=array_api_compat.device(z))


def _order(key: Array, xp: Any) -> Array:
    """Stable descending order of ``key`` along the last axis (lowest index first among ties)."""
    return xp.argsort(-key, axis=-1, stable=True)


def _first_n(key: Array, order: Array, n: Array, xp: Any) -> Array:
    """Mask of the first ``n`` (per row, ``1 <= n <= V``, int64 of shape ``key.shape[:-1]``) entries of
    ``order`` (the stable descending order of ``key``), computed without a scatter: token ``i`` is
    among them iff ``key_i > key_t`` or (``key_i == key_t`` and ``i <= t``), ``t = order[n - 1]``."""
    t = xp.take_along_axis(order, xp.expand_dims(n - 1, axis=-1), axis=-1)
    kt = xp.take_along_axis(key, t, axis=-1)
    idx = _index(key, xp)
    return (key > kt) | ((key == kt) & (idx <= t))


def _full_n(z: Array, value: int, xp: Any) -> Array:
    return xp.full(z.shape[:-1], value, dtype=xp.int64, device=array_api_compat.device(z))


def _log_softmax(z: Array, xp: Any) -> Array:
    """Shift-exact log-softmax along the last axis: ``(z - max) - log Σ exp(z - max)``."""
    s = z - xp.max(z, axis=-1, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=-1, keepdims=True))


def _softmax(z: Array, xp: Any) -> Array:
    """Shift-exact softmax along the last axis: ``exp(z - max) / Σ exp(z - max)``."""
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def _entropy(logp: Array, xp: Any) -> Array:
    """``-Σ p log p`` per row with ``0 · log 0 = 0`` (keepdims)."""
    p = xp.exp(logp)
    safe = xp.where(p > 0, logp, xp.zeros_like(logp))
    return -xp.sum(p * safe, axis=-1, keepdims=True)


def _guard_kth(z: Array, m: int, xp: Any) -> Array:
    """HF's epsilon/eta guard: logits >= the ``m``-th largest (ties kept)."""
    m = min(m, z.shape[-1])
    kth = xp.sort(z, axis=-1, descending=True)[..., m - 1: m]
    return z >= kth


def _divide(x: Array, t: float, xp: Any) -> Array:
    """``x / t``; a ``t`` that is not a normal number of ``x``'s dtype (e.g. 1e-50 for float32,
    which would round to 0 and give 0/0 = NaN) is applied in float64 and the result cast back."""
    fi = xp.finfo(x.dtype)
    if float(fi.smallest_normal) <= t <= float(fi.max):
        return x / t
    return xp.astype(xp.astype(x, xp.float64) / t, x.dtype)


def _apply(logits: Array, kept: Array, xp: Any) -> Array:
    neg = xp.asarray(-math.inf, dtype=logits.dtype, device=array_api_compat.device(logits))
    return xp.where(kept, logits, neg)


def _count(mask: Array, xp: Any) -> Array:
    return xp.sum(xp.astype(mask, xp.int64), axis=-1)


# --------------------------------------------------------------------------- temperature


def temperature_scale(logits: Array, temperature: float) -> Array:
    """``z / T``; see :func:`reference.decoding.temperature_scale`. Differentiable in ``logits``."""
    check_params("temperature_scale", temperature=temperature)
    xp = namespace(logits)
    check_vocab_axis("temperature_scale", "logits", logits)
    check_finite("temperature_scale", "logits", logits, xp, allow_neg_inf=True)
    z = to_compute(logits, xp)
    return from_compute(_divide(z, float(temperature), xp), logits, xp)


# --------------------------------------------------------------------------- top-k


def top_k_filter(logits: Array, k: int, *, ties: str = "keep", min_tokens_to_keep: int = 1) -> Array:
    """Top-k truncation; see :func:`reference.decoding.top_k_filter`."""
    check_params("top_k_filter", k=k, ties=ties, min_tokens_to_keep=min_tokens_to_keep)
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
    xp, z = _validated("top_p_filter", logits)
    if p == 1.0:
        return _apply(logits, z == z, xp)  # identity (a new array); z has no NaN
    v = z.shape[-1]
    order = _order(z, xp)
    if p == 0.0:
        n = _full_n(z, min(min_tokens_to_keep, v), xp)
    else:
        probs = _softmax(xp.take_along_axis(z, order, axis=-1), xp)
        tail = xp.flip(xp.cumulative_sum(xp.flip(probs, axis=-1), axis=-1), axis=-1)
        n = xp.clip(_count(tail > 1.0 - p, xp), min_tokens_to_keep, v)
    return _apply(logits, _first_n(z, order, n, xp), xp)


# --------------------------------------------------------------------------- min-p


def min_p_filter(logits: Array, min_p: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Min-p truncation (``z - max z < log min_p`` removed); see :func:`reference.decoding.min_p_filter`."""
    check_params("min_p_filter", min_p=min_p, min_tokens_to_keep=min_tokens_to_keep)
    xp, z = _validated("min_p_filter", logits)
    log_t = -math.inf if min_p == 0 else math.log(min_p)
    removed = (z - xp.max(z, axis=-1, keepdims=True)) < log_t
    forced = _first_n(z, _order(z, xp), _full_n(z, min(min_tokens_to_keep, z.shape[-1]), xp), xp)
    return _apply(logits, ~removed | forced, xp)


# --------------------------------------------------------------------------- typical


def typical_filter(logits: Array, mass: float = 0.9, *, min_tokens_to_keep: int = 1) -> Array:
    """Locally typical truncation, HF rule; see :func:`reference.decoding.typical_filter`."""
    check_params("typical_filter", mass=mass, min_tokens_to_keep=min_tokens_to_keep)
    xp, z = _validated("typical_filter", logits)
    v = z.shape[-1]
    logp = _log_softmax(z, xp)
    score = xp.abs(-logp - _entropy(logp, xp))
    key = -score  # ascending score == descending key; stable: lowest index first among ties
    order = _order(key, xp)
    cum = xp.cumulative_sum(xp.take_along_axis(_softmax(z, xp), order, axis=-1), axis=-1)
    last = xp.clip(_count(cum < mass, xp), None, v - 1)
    thr = xp.take_along_axis(xp.take_along_axis(score, order, axis=-1), xp.expand_dims(last, axis=-1), axis=-1)
    removed = score > thr
    forced = _first_n(key, order, _full_n(z, min(min_tokens_to_keep, v), xp), xp)
    return _apply(logits, ~removed | forced, xp)


# --------------------------------------------------------------------------- epsilon / eta


def epsilon_filter(logits: Array, epsilon: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Epsilon truncation (``log p < log ε`` removed); see :func:`reference.decoding.epsilon_filter`."""
    check_params("epsilon_filter", epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)
    xp, z = _validated("epsilon_filter", logits)
    removed = _log_softmax(z, xp) < math.log(epsilon)
    return _apply(logits, ~removed | _guard_kth(z, min_tokens_to_keep, xp), xp)


def eta_filter(logits: Array, epsilon: float, *, min_tokens_to_keep: int = 1) -> Array:
    """Eta truncation, ``η = min(ε, √ε e^{-H})``; see :func:`reference.decoding.eta_filter`."""
    check_params("eta_filter", epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)
    xp, z = _validated("eta_filter", logits)
    logp = _log_softmax(z, xp)
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
    xp, z = _validated("top_h_filter", logits)
    v = z.shape[-1]
    n_top = min(top_n, v)
    order = _order(z, xp)
    zc = _divide(z - xp.max(z, axis=-1, keepdims=True), float(temperature), xp)
    top = order[..., :n_top]
    if criterion == "hf":
        q = _softmax(xp.take_along_axis(zc, top, axis=-1), xp)
    else:
        q = xp.take_along_axis(_softmax(zc, xp), top, axis=-1)
    positive = q > 0
    terms = xp.where(positive, -q * xp.log(xp.where(positive, q, xp.ones_like(q))), xp.zeros_like(q))
    cum = xp.cumulative_sum(terms, axis=-1)
    tau = alpha * cum[..., -1:]
    n = xp.clip(_count((cum <= tau) & positive, xp), max(1, min(min_tokens_to_keep, v)), v)
    return _apply(logits, _first_n(z, order, n, xp), xp)


# --------------------------------------------------------------------------- sample


def sample(logits: Array, uniforms: Array) -> Array:
    """Inverse-CDF sampling with supplied uniforms (int64); see :func:`reference.decoding.sample`.

    Rows are independent (per-row softmax and cumulative sum), so the batch size cannot change a
    row's token. The cumulative sum is float64 for float64 logits and float32 otherwise; ``u = 0``
    gives the first finite position and round-off beyond the last sum the last finite position.
    """
    xp = namespace(logits, uniforms)
    check_vocab_axis("sample", "logits", logits)
    check_finite("sample", "logits", logits, xp, allow_neg_inf=True)
    if tuple(uniforms.shape) != tuple(logits.shape[:-1]):
        raise ShapeError("sample", "uniforms", f"shape {tuple(logits.shape[:-1])} (logits.shape[:-1])",
                         f"shape {tuple(uniforms.shape)}")
    check_finite("sample", "uniforms", uniforms, xp)
    if bool(xp.any((uniforms < 0) | (uniforms >= 1))):
        raise DomainError("sample", "uniforms", "values in [0, 1)", "a value outside [0, 1)")
    z = _detach(to_compute(logits, xp))
    u = xp.astype(_detach(uniforms), compute_dtype(logits, xp))
    p = _softmax(z, xp)
    cum = xp.cumulative_sum(p, axis=-1)
    v = z.shape[-1]
    idx = _index(z, xp)
    finite = z > -math.inf
    uu = xp.expand_dims(u, axis=-1)
    hit = finite & ((cum > uu) | (uu == 0))  # u = 0: the first finite position (exact-arithmetic CDF)
    first = xp.min(xp.where(hit, idx, xp.full_like(idx, v)), axis=-1)
    last = xp.max(xp.where(finite, idx, xp.full_like(idx, -1)), axis=-1)  # clamp: last finite position
    return xp.astype(xp.where(first == v, last, first), xp.int64)
