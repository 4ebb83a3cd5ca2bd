"""Accelerated losses of the ``categorical`` family (array API: Torch, CuPy, NumPy): cross-entropy.

With class-index targets on Torch the loss is computed by the fused row kernels of
:mod:`accelerated.torch_fast` (``logsumexp_rows``, ``dot_rows``) without an ``(N, V)`` log-softmax
and without an up-front scan of the logits: in checked mode the logits are scanned only when the
small per-row ``logsumexp`` is non-finite (raising the reference's exact error).
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, from_compute, is_torch, namespace, needs_grad, to_compute
from accelerated.categorical._common import quiet, shifted_log_softmax
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import (
    check_finite,
    check_floating,
    check_index,
    check_params,
    check_same_shape,
    check_simplex,
    check_vocab_axis,
    checked,
)

__all__ = ["cross_entropy"]


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
        check_simplex(fn, "target", target, xp, axis=-1)
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
    if checked() and bool(xp.any(w < 0)):
        raise DomainError(fn, "weight", "non-negative class weights", f"a minimum of {float(xp.min(w))!r}")
    return detach(w) if w.dtype == dtype else xp.astype(detach(w), dtype)


def _reduce(loss: Array, denom: Array | float, reduction: str, xp: Any) -> Array:
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    if isinstance(denom, float):
        return total / denom if denom > 0 else xp.zeros_like(total)  # never inf·0 = NaN
    pos = denom > 0
    return xp.where(pos, total / xp.where(pos, denom, xp.ones_like(denom)), xp.zeros_like(total))


def _ce_index_fast(z: Array, target: Array, w: Array | None, ignore_index: int, eps: float, xp: Any
                   ) -> tuple[Array, Array] | None:
    """Torch class-index path: ``lse − z[y]`` by a gather, no ``(N, V)`` log-softmax. None = fall back."""
    from accelerated.torch_fast import ce_rows_grad, chunked_autograd, dot_rows, logsumexp_rows, logsumexp_stats

    # With autograd in eager mode the loss is computed on detached logits and its gradient is attached
    # by the chunked custom backward (no (N, V) temporary); a compiled graph differentiates the formula.
    grad = needs_grad(z) and chunked_autograd()
    zz = z
    if grad:
        zz = detach(z)
        lse, m, logs = logsumexp_stats(zz)
    else:
        lse = logsumexp_rows(z)
    if checked() and not bool(xp.all(xp.isfinite(lse))):  # NaN, +inf or an all -inf row: the full check raises
        check_finite("cross_entropy", "logits", z, xp, allow_neg_inf=True, axis=-1)
        return None
    cdt = lse.dtype
    valid = target != ignore_index
    safe_t = xp.where(valid, target, xp.zeros_like(target))
    zy = xp.take_along_axis(zz, safe_t[..., None], axis=-1)[..., 0]
    nll = lse - (zy if zy.dtype == cdt else xp.astype(zy, cdt))
    zero = xp.zeros_like(nll)
    if w is None:
        wy = xp.astype(valid, cdt)
    else:
        wy = xp.where(valid, xp.reshape(xp.take(w, xp.reshape(safe_t, (-1,))), tuple(safe_t.shape)), zero)
    coef = (1.0 - eps) * wy  # 0·∞ = 0 (zero weight, ignored row or ε = 1 at a -inf target logit)
    loss = xp.where(coef == 0, zero, coef * nll)
    n_cls = int(z.shape[-1])
    if eps / n_cls > 0:  # a denormal ε can give ε/C = 0: then there is no smoothing term (no 0·∞)
        if w is None:
            smooth = n_cls * lse - xp.sum(zz, axis=-1, dtype=cdt)
        else:
            smooth = xp.sum(w) * lse - dot_rows(zz, xp.broadcast_to(w, tuple(zz.shape)))
        loss = xp.where(valid, loss + (eps / n_cls) * smooth, zero)
    if checked() and bool(xp.any(xp.isnan(loss))):  # 0·(-inf) at a zero-weight masked logit: generic path
        return None
    if grad:
        c = None
        b = coef
        a = coef
        if eps / n_cls > 0:
            c = xp.astype(valid, cdt) * (eps / n_cls)
            a = coef + c * (float(n_cls) if w is None else xp.sum(w))
        loss = ce_rows_grad(z, loss, m, logs, safe_t, a, b, c, w)
    return loss, xp.sum(wy)


def _ce_generic(z: Array, target: Array, is_index: bool, w: Array | None, ignore_index: int, eps: float,
                xp: Any) -> tuple[Array, Array | float]:
    n_cls = int(z.shape[-1])
    nll_all = -shifted_log_softmax(z, xp, z.ndim - 1)  # ℓ_{n,c} >= 0; +inf at -inf logits
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
            loss = xp.where(valid, loss + weighted((eps / n_cls) * wfull), zero)  # ε/C may underflow to 0
        return loss, xp.sum(wy)
    t = target if target.dtype == z.dtype else xp.astype(target, z.dtype)
    coef = (1.0 - eps) * t + eps / n_cls
    if w is not None:
        coef = coef * w
    loss = weighted(coef)
    return loss, float(math.prod(tuple(loss.shape)))


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
    # Unchecked (e.g. under torch.compile) the fast path cannot fall back after the fact, so class
    # weights with label smoothing (where a zero weight on a -inf logit gives 0·∞) take the generic path.
    fast = is_index and is_torch(logits) and (checked() or w is None or eps == 0.0)
    if fast:
        result = _ce_index_fast(logits, target, w, ignore_index, eps, xp)
    else:
        check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=-1)
    if result is None:
        with quiet(logits):
            result = _ce_generic(to_compute(logits, xp), target, is_index, w, ignore_index, eps, xp)
    loss, denom = result
    with quiet(logits):
        out = _reduce(loss, denom, reduction, xp)
    return from_compute(out, logits, xp)
