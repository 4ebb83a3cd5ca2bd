"""Accelerated (array API: Torch, CuPy, NumPy) implementations of the ``categorical`` family.

One implementation per id, written against the array-api-compat namespace of the input. The two
hot paths — :func:`entropy_from_logits` and :func:`cross_entropy` with class-index targets — call the
fused row kernels of :mod:`accelerated.torch_fast` for Torch tensors reduced over the last axis.
Those paths never build ``(N, V)`` temporaries for validation: parameters and shapes are checked
eagerly, the kernels run, and only if the small per-row result is non-finite is the full
:func:`~spec.validate.check_finite` run on the input (raising the reference's exact error).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accelerated._xp import from_compute, is_torch, namespace, to_compute, xlogy
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import (
    check_finite,
    check_floating,
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

Array = Any

#: The eps of the official SIREN code (normaliser and log), see the reference.
SIREN_EPS = 1e-12

#: With autograd on, :func:`entropy_from_logits` uses ``torch_fast.entropy_rows`` only from this
#: temperature up: the kernel's autograd formula divides by ``T`` *before* shifting by the row max, so
#: it loses about ``eps·max|z|/T`` absolute accuracy (measured, float32, |z| ~ 1e3: 2e-3 at T = 0.05,
#: 1e-2 at T = 0.01, 9e-2 at T = 1e-3). Below it the generic path (shift first, then divide) is used;
#: it builds the same autograd graph, so it costs no extra memory. Without autograd the kernel's
#: chunked max-shifted core is accurate for every ``T`` and is always used.
FAST_MIN_TEMPERATURE = 0.05


def _check_simplex(fn: str, name: str, p: Any, xp: Any, *, axis: int = -1) -> None:
    """:func:`spec.validate.check_simplex`, skipping arrays with no elements (an empty *batch*: the
    shared helper reduces ``max`` over an empty array when a non-leading batch dim is 0)."""
    if math.prod(int(d) for d in p.shape) == 0:
        return
    check_simplex(fn, name, p, xp, axis=axis)


def _detach(x: Array) -> Array:
    """Stop-gradient on Torch tensors; identity elsewhere."""
    return x.detach() if is_torch(x) else x


def _needs_grad(x: Array) -> bool:
    """A Torch tensor that will record autograd history."""
    return bool(is_torch(x) and x.requires_grad and _torch_grad_enabled())


def _torch_grad_enabled() -> bool:
    import torch

    return bool(torch.is_grad_enabled())


def _zeros(x: Array, xp: Any) -> Array:
    return xp.zeros_like(x)


def _full(x: Array, value: float, xp: Any) -> Array:
    return xp.full_like(x, value)


def _log_softmax(z: Array, xp: Any, axis: int, temperature: float = 1.0) -> Array:
    """Stable ``log softmax(z / T)``: the (detached) row max is subtracted *before* dividing, so tiny
    ``T`` cannot overflow; ``-inf`` entries stay ``-inf`` (finite rows assumed to hold a finite entry)."""
    m = _detach(xp.max(z, axis=axis, keepdims=True))
    y = z - m
    if temperature != 1.0:
        y = y / temperature
    neg = xp.isinf(y)
    e = xp.exp(y)
    lse = xp.log(xp.sum(e, axis=axis, keepdims=True))
    return xp.where(neg, _full(y, -math.inf, xp), y - lse)


def _support_log(p: Array, xp: Any) -> tuple[Array, Array]:
    """``(p > 0, log p with 0 off the support)`` — safe for autograd (no ``log 0`` in any branch)."""
    pos = p > 0
    safe = xp.where(pos, p, xp.ones_like(p))
    return pos, xp.where(pos, xp.log(safe), _zeros(p, xp))


def _p_expm1(p: Array, logp: Array, d: float, xp: Any) -> Array:
    """``p^(1+d) − p`` without cancellation near ``d = 0`` and without overflow for tiny ``p``."""
    x = d * logp
    big = x > 1.0
    small = xp.expm1(xp.where(big, xp.ones_like(x), x))
    return xp.where(big, xp.exp((1.0 + d) * logp) - p, p * small)


# --------------------------------------------------------------------------- entropies


def entropy(probs: Array, *, axis: int = -1, base: float | None = None) -> Array:
    """Shannon entropy ``-Σ p log p`` of probability vectors; see :func:`reference.categorical.entropy`."""
    xp = namespace(probs)
    check_params("entropy", base=base)
    ax = check_vocab_axis("entropy", "probs", probs, axis)
    _check_simplex("entropy", "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    h = -xp.sum(xlogy(p, p, xp), axis=ax)
    if base is not None:
        h = h / math.log(base)
    return from_compute(h, probs, xp)


def _entropy_from_logits_generic(z: Array, xp: Any, ax: int, temperature: float) -> Array:
    m = _detach(xp.max(z, axis=ax, keepdims=True))
    y = (z - m) / temperature if temperature != 1.0 else z - m
    ys = xp.where(xp.isinf(y), _zeros(y, xp), y)  # -inf logits: p = 0, no 0·inf in value or gradient
    e = xp.exp(y)
    s = xp.sum(e, axis=ax, keepdims=True)  # >= 1: the max entry contributes exp(0)
    p = e / s
    return xp.squeeze(xp.log(s), axis=ax) - xp.sum(p * ys, axis=ax)


def entropy_from_logits(logits: Array, *, axis: int = -1, temperature: float = 1.0) -> Array:
    """Entropy of ``softmax(logits / temperature)``; see :func:`reference.categorical.entropy_from_logits`.

    Torch tensors reduced over the last axis use :func:`accelerated.torch_fast.entropy_rows` (with
    autograd on, only for ``temperature >= FAST_MIN_TEMPERATURE``, see there); the input is scanned
    for NaN/inf only if the per-row result is non-finite (then the precise
    :class:`~spec.errors.DomainError` is raised, or — for valid input the kernel overflowed on, e.g.
    a temperature not representable in float32 — the stable generic path is used). Temperatures
    outside ``[1e-30, 1e30]`` are computed in float64 for float32/16 inputs (the output keeps the
    input dtype).
    """
    fn = "entropy_from_logits"
    xp = namespace(logits)
    check_params(fn, temperature=temperature)
    ax = check_vocab_axis(fn, "logits", logits, axis)
    check_floating(fn, "logits", logits, xp)
    t = float(temperature)
    if is_torch(logits) and ax == logits.ndim - 1 and (t >= FAST_MIN_TEMPERATURE or not _needs_grad(logits)):
        from accelerated.torch_fast import entropy_rows

        h = entropy_rows(logits, temperature=t)
        if bool(xp.all(xp.isfinite(h))):
            return from_compute(h, logits, xp)
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=ax)
    z = to_compute(logits, xp)
    if z.dtype != xp.float64 and not 1e-30 <= t <= 1e30:
        z = xp.astype(z, xp.float64)  # T itself is not representable in float32 (rare): widen
    with np.errstate(all="ignore"):
        h = _entropy_from_logits_generic(z, xp, ax, t)
    return from_compute(h, logits, xp)


def renyi_entropy(probs: Array, alpha: float, *, axis: int = -1) -> Array:
    """Rényi entropy of order ``alpha``; see :func:`reference.categorical.renyi_entropy`."""
    fn = "renyi_entropy"
    xp = namespace(probs)
    check_params(fn, alpha=alpha)
    ax = check_vocab_axis(fn, "probs", probs, axis)
    _check_simplex(fn, "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    a = float(alpha)
    if a == 1.0:
        h = -xp.sum(xlogy(p, p, xp), axis=ax)
    elif a == 0.0:
        h = xp.log(xp.sum(xp.astype(p > 0, p.dtype), axis=ax))
    elif math.isinf(a):
        h = -xp.log(xp.max(p, axis=ax))
    else:
        pos, logp = _support_log(p, xp)
        zero = _zeros(p, xp)
        s_minus_1 = xp.sum(xp.where(pos, _p_expm1(p, logp, a - 1.0, xp), zero), axis=ax)
        alog = xp.where(pos, a * logp, _full(p, -math.inf, xp))
        am = _detach(xp.max(alog, axis=ax, keepdims=True))
        lse = xp.squeeze(am, axis=ax) + xp.log(xp.sum(xp.exp(alog - am), axis=ax))
        near = s_minus_1 > -0.5
        log1p = xp.log1p(xp.where(near, s_minus_1, _zeros(s_minus_1, xp)))
        h = xp.where(near, log1p, lse) / (1.0 - a)
    return from_compute(h, probs, xp)


def tsallis_entropy(probs: Array, q: float, *, axis: int = -1) -> Array:
    """Tsallis entropy of index ``q``; see :func:`reference.categorical.tsallis_entropy`."""
    fn = "tsallis_entropy"
    xp = namespace(probs)
    check_params(fn, q=q)
    ax = check_vocab_axis(fn, "probs", probs, axis)
    _check_simplex(fn, "probs", probs, xp, axis=ax)
    p = to_compute(probs, xp)
    qq = float(q)
    if qq == 1.0:
        s = -xp.sum(xlogy(p, p, xp), axis=ax)
    else:
        pos, logp = _support_log(p, xp)
        s = -xp.sum(xp.where(pos, _p_expm1(p, logp, qq - 1.0, xp), _zeros(p, xp)), axis=ax) / (qq - 1.0)
    return from_compute(s, probs, xp)


# --------------------------------------------------------------------------- divergences


def _rel_entr(p: Array, q: Array, xp: Any) -> Array:
    """``p log(p/q)``; 0 where ``p = 0``; ``+inf`` where ``p > 0 = q``."""
    pos_p, lp = _support_log(p, xp)
    pos_q, lq = _support_log(q, xp)
    terms = xp.where(pos_p, p * (lp - lq), _zeros(p, xp))
    return xp.where(pos_p & ~pos_q, _full(p, math.inf, xp), terms)


def kl_divergence(p: Array, q: Array, *, axis: int = -1) -> Array:
    """``KL(p ‖ q)`` (scipy ``rel_entr`` conventions); see :func:`reference.categorical.kl_divergence`."""
    fn = "kl_divergence"
    xp = namespace(p, q)
    ax = check_vocab_axis(fn, "p", p, axis)
    check_same_shape(fn, p=p, q=q)
    _check_simplex(fn, "p", p, xp, axis=ax)
    _check_simplex(fn, "q", q, xp, axis=ax)
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
    with np.errstate(all="ignore"):
        la = _log_softmax(a, xp, ax)
        lb = _log_softmax(b, xp, ax)
        support = ~xp.isinf(a)
        masked_q = xp.isinf(b)
        diff = xp.where(support & ~masked_q, la - lb, _zeros(la, xp))
        terms = xp.where(support & masked_q, _full(la, math.inf, xp), xp.exp(la) * diff)
        kl = xp.sum(terms, axis=ax)
    return from_compute(kl, logits_p, xp)


def js_divergence(p: Array, q: Array, *, axis: int = -1, base: float | None = None) -> Array:
    """Jensen–Shannon divergence (``jensenshannon(p, q)**2``); see :func:`reference.categorical.js_divergence`."""
    fn = "js_divergence"
    xp = namespace(p, q)
    check_params(fn, base=base)
    ax = check_vocab_axis(fn, "p", p, axis)
    check_same_shape(fn, p=p, q=q)
    _check_simplex(fn, "p", p, xp, axis=ax)
    _check_simplex(fn, "q", q, xp, axis=ax)
    pc = to_compute(p, xp)
    qc = xp.astype(q, pc.dtype) if q.dtype != pc.dtype else q
    _, log_s = _support_log(pc + qc, xp)  # log m = log(p + q) − log 2 (m itself may underflow)

    def half_kl_to_m(x: Array) -> Array:
        pos, lx = _support_log(x, xp)
        return 0.5 * xp.sum(xp.where(pos, x * (math.log(2.0) + lx - log_s), _zeros(x, xp)), axis=ax)

    js = half_kl_to_m(pc) + half_kl_to_m(qc)
    if base is not None:
        js = js / math.log(base)
    return from_compute(js, p, xp)


# --------------------------------------------------------------------------- SIREN top-p entropy


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
    with np.errstate(all="ignore"):
        e = xp.exp(z - _detach(xp.max(z, axis=-1, keepdims=True)))
        pi = e / xp.sum(e, axis=-1, keepdims=True)  # the torch.softmax form: exactly 1/V for uniform logits
        spi = xp.sort(pi, axis=-1, descending=True)
        # c_j = 1 − Σ_{i>j} π_i (reverse exclusive cumsum; exact at p = 1, see the reference)
        tail_incl = xp.flip(xp.cumulative_sum(xp.flip(_detach(spi), axis=-1), axis=-1), axis=-1)
        tail = xp.concat([tail_incl[..., 1:], xp.zeros_like(tail_incl[..., :1])], axis=-1)
        keep = (1.0 - tail) < float(p)
        if kk < v:
            spi = spi[..., :kk]
            keep = keep[..., :kk]
        zero = _zeros(spi, xp)
        kept = xp.where(keep, spi, zero)
        qv = kept / (xp.sum(kept, axis=-1, keepdims=True) + SIREN_EPS)
        h = -xp.sum(xp.where(keep, qv * xp.log(qv + SIREN_EPS), zero), axis=-1)
    return from_compute(h, logits, xp)


# --------------------------------------------------------------------------- cross_entropy


def _check_ce_target(fn: str, target: Array, logits: Array, ignore_index: int, xp: Any) -> bool:
    """Same checks (and messages) as the reference; True for class indices, False for probabilities."""
    lead = tuple(int(d) for d in logits.shape[:-1])
    full = tuple(int(d) for d in logits.shape)
    shape = tuple(int(d) for d in target.shape)
    if xp.isdtype(target.dtype, "integral"):
        if shape != lead:
            raise ShapeError(fn, "target", f"shape {lead} (class indices) or {full} (probabilities)", f"shape {shape}")
        check_index(fn, "target", target, xp, low=0, high=full[-1], ignore=ignore_index)
        return True
    if xp.isdtype(target.dtype, "real floating"):
        if shape == lead and shape != full:
            raise DTypeError(fn, "target", "an integer dtype for class indices of shape logits.shape[:-1]",
                             f"dtype {target.dtype}")
        check_same_shape(fn, logits=logits, target=target)
        _check_simplex(fn, "target", target, xp, axis=-1)
        return False
    raise DTypeError(fn, "target", "integer class indices or floating probabilities", f"dtype {target.dtype}")


def _check_ce_weight(fn: str, weight: Array | None, n_cls: int, xp: Any, dtype: Any) -> Array | None:
    if weight is None:
        return None
    shape = tuple(int(d) for d in weight.shape)
    if shape != (n_cls,):
        raise ShapeError(fn, "weight", f"shape ({n_cls},) (one weight per class)", f"shape {shape}")
    w = weight if xp.isdtype(weight.dtype, "real floating") else xp.astype(weight, dtype)
    check_finite(fn, "weight", w, xp)
    if bool(xp.any(w < 0)):
        raise DomainError(fn, "weight", "non-negative class weights", f"a minimum of {float(xp.min(w))!r}")
    return _detach(w) if w.dtype == dtype else xp.astype(_detach(w), dtype)


def _reduce(loss: Array, denom: Array | float, reduction: str, xp: Any) -> Array:
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    if isinstance(denom, float):
        return total / denom if denom > 0 else total * 0.0
    pos = denom > 0
    return xp.where(pos, total / xp.where(pos, denom, xp.ones_like(denom)), xp.zeros_like(total))


def _ce_index_fast(z: Array, target: Array, w: Array | None, ignore_index: int, eps: float, xp: Any
                   ) -> tuple[Array, Array] | None:
    """Torch class-index path: ``lse − z[y]`` by a gather, no ``(N, V)`` log-softmax. None = fall back."""
    from accelerated.torch_fast import dot_rows, logsumexp_rows

    lse = logsumexp_rows(z)
    if not bool(xp.all(xp.isfinite(lse))):  # NaN, +inf or an all -inf row: the full check raises
        check_finite("cross_entropy", "logits", z, xp, allow_neg_inf=True, axis=-1)
        return None
    cdt = lse.dtype
    valid = target != ignore_index
    safe_t = xp.where(valid, target, xp.zeros_like(target))
    zy = xp.take_along_axis(z, safe_t[..., None], axis=-1)[..., 0]
    nll = lse - (zy if zy.dtype == cdt else xp.astype(zy, cdt))
    zero = xp.zeros_like(nll)
    if w is None:
        wy = xp.astype(valid, cdt)
    else:
        wy = xp.where(valid, xp.reshape(xp.take(w, xp.reshape(safe_t, (-1,))), tuple(safe_t.shape)), zero)
    coef = (1.0 - eps) * wy  # 0·∞ = 0 (zero weight, ignored row or ε = 1 at a -inf target logit)
    loss = xp.where(coef == 0, zero, coef * nll)
    if eps > 0:
        n_cls = int(z.shape[-1])
        if w is None:
            smooth = n_cls * lse - xp.sum(z, axis=-1, dtype=cdt)
        else:
            smooth = xp.sum(w) * lse - dot_rows(z, xp.broadcast_to(w, tuple(z.shape)))
        loss = xp.where(valid, loss + (eps / n_cls) * smooth, zero)
    if bool(xp.any(xp.isnan(loss))):  # 0·(-inf) at a zero-weight masked logit: the generic path handles it
        return None
    return loss, xp.sum(wy)


def _ce_generic(z: Array, target: Array, is_index: bool, w: Array | None, ignore_index: int, eps: float,
                xp: Any) -> tuple[Array, Array | float]:
    n_cls = int(z.shape[-1])
    nll_all = -_log_softmax(z, xp, z.ndim - 1)  # ℓ_{n,c} >= 0; +inf at -inf logits
    zero_all = xp.zeros_like(nll_all)

    def weighted(coef: Array) -> Array:  # Σ_c coef_c ℓ_c with 0·∞ = 0
        return xp.sum(xp.where(coef == 0, zero_all, coef * nll_all), axis=-1)

    if is_index:
        valid = target != ignore_index
        safe_t = xp.where(valid, target, xp.zeros_like(target))
        nll_y = xp.take_along_axis(nll_all, safe_t[..., None], axis=-1)[..., 0]
        zero = xp.zeros_like(nll_y)
        if w is None:
            wy = xp.astype(valid, nll_y.dtype)
        else:
            wy = xp.where(valid, xp.reshape(xp.take(w, xp.reshape(safe_t, (-1,))), tuple(safe_t.shape)), zero)
        coef = (1.0 - eps) * wy
        loss = xp.where(coef == 0, zero, coef * nll_y)
        if eps > 0:
            wfull = xp.ones_like(nll_all) if w is None else xp.broadcast_to(w, tuple(nll_all.shape))
            loss = xp.where(valid, loss + (eps / n_cls) * weighted(wfull), zero)
        return loss, xp.sum(wy)
    t = target if target.dtype == z.dtype else xp.astype(target, z.dtype)
    coef = (1.0 - eps) * t + eps / n_cls
    if w is not None:
        coef = coef * w
    loss = weighted(coef)
    return loss, float(math.prod(int(d) for d in loss.shape))


def cross_entropy(logits: Array, target: Array, *, weight: Array | None = None, ignore_index: int = -100,
                  label_smoothing: float = 0.0, reduction: str = "mean") -> Array:
    """Cross-entropy with ``torch.nn.functional.cross_entropy`` semantics, classes on the LAST axis.

    See :func:`reference.categorical.cross_entropy` (mean over a zero total weight is 0, not NaN;
    ``0·∞ = 0`` for masked logits with zero coefficient). On Torch with class-index targets the loss
    is ``logsumexp_rows(z) − z[y]`` (a gather) plus, for label smoothing, ``C·lse − Σ_v z_v`` (or
    ``Σw·lse − Σ_v w_v z_v``) — no ``(N, V)`` log-softmax and no up-front scan of the logits.
    """
    fn = "cross_entropy"
    xp = namespace(logits)
    check_params(fn, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
    check_vocab_axis(fn, "logits", logits, -1)
    is_index = _check_ce_target(fn, target, logits, ignore_index, xp)
    check_floating(fn, "logits", logits, xp)
    cdt = xp.float64 if logits.dtype == xp.float64 else xp.float32
    w = _check_ce_weight(fn, weight, int(logits.shape[-1]), xp, cdt)
    eps = float(label_smoothing)
    result: tuple[Array, Array | float] | None = None
    if is_index and is_torch(logits):
        result = _ce_index_fast(logits, target, w, ignore_index, eps, xp)
    else:
        check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=-1)
    if result is None:
        with np.errstate(all="ignore"):
            result = _ce_generic(to_compute(logits, xp), target, is_index, w, ignore_index, eps, xp)
    loss, denom = result
    with np.errstate(all="ignore"):
        out = _reduce(loss, denom, reduction, xp)
    return from_compute(out, logits, xp)
