"""Mutants of the ``categorical`` losses (cross_entropy): the weighting, ignore and smoothing bugs that
survived earlier harnesses, plus accumulation in the input dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.categorical._common import F64, log_softmax
from reference.categorical.losses import _check_ce_target  # validation only, so errors match
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_vocab_axis

__all__ = ["MUTANTS"]


def _inputs(logits: Any, target: Any, weight: Any, ignore_index: int, label_smoothing: float,
            reduction: str) -> tuple[F64, Any, bool, F64]:
    fn = "cross_entropy"
    z = np.asarray(logits, dtype=np.float64)
    check_params(fn, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
    check_vocab_axis(fn, "logits", z, -1)
    t = np.asarray(target)
    is_index = _check_ce_target(fn, t, z, ignore_index)
    v = z.shape[-1]
    w = np.ones(v) if weight is None else np.asarray(weight, dtype=np.float64)
    if w.shape != (v,):
        raise ShapeError(fn, "weight", f"shape ({v},) (one weight per class)", f"shape {w.shape}")
    check_finite(fn, "weight", w, np)
    if np.any(w < 0):
        raise DomainError(fn, "weight", "non-negative class weights", f"a minimum of {float(np.min(w))!r}")
    check_finite(fn, "logits", z, np, allow_neg_inf=True, axis=-1)
    return z, t, is_index, w


def _dot(coef: F64, nll: F64) -> F64:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.sum(np.where(coef == 0, 0.0, coef * nll), axis=-1))


def _ce(logits: Any, target: Any, weight: Any, ignore_index: int, eps: float, reduction: str, *,
        denom_count: bool = False, smooth_ignored: bool = False, all_ignored_nan: bool = False,
        smooth_unweighted: bool = False, soft_no_smoothing: bool = False) -> F64:
    z, t, is_index, w = _inputs(logits, target, weight, ignore_index, eps, reduction)
    v = z.shape[-1]
    nll = -log_softmax(z)
    if is_index:
        valid = t != ignore_index
        safe = np.where(valid, t, 0)
        w_y = np.where(valid, w[safe], 0.0)
        onehot = np.eye(v)[safe]
        main = _dot((1.0 - eps) * w_y[..., None] * onehot, nll)
        smooth = _dot(np.broadcast_to(np.ones(v) if smooth_unweighted else w, z.shape), nll) if eps > 0 else 0.0
        loss = np.where(valid, main, 0.0) + np.where(valid | smooth_ignored, eps / v * smooth, 0.0)
        denom = float(np.sum(valid)) if denom_count else float(np.sum(w_y))
    else:
        e = 0.0 if soft_no_smoothing else eps
        loss = _dot(w * ((1.0 - e) * t + e / v), nll)
        denom = float(loss.size)
    if reduction == "none":
        return np.asarray(loss, dtype=np.float64)
    total = float(np.sum(loss))
    if reduction == "sum":
        return np.asarray(total)
    if denom == 0:
        return np.asarray(np.nan if all_ignored_nan else 0.0)
    return np.asarray(total / denom)


def ce_denominator_count(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                         label_smoothing: float = 0.0, reduction: str = "mean") -> F64:
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, denom_count=True)


def ce_smoothing_on_ignored(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                            label_smoothing: float = 0.0, reduction: str = "mean") -> F64:
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, smooth_ignored=True)


def ce_all_ignored_nan(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                       label_smoothing: float = 0.0, reduction: str = "mean") -> F64:
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, all_ignored_nan=True)


def ce_smoothing_unweighted(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                            label_smoothing: float = 0.0, reduction: str = "mean") -> F64:
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, smooth_unweighted=True)


def ce_soft_no_smoothing(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                         label_smoothing: float = 0.0, reduction: str = "mean") -> F64:
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, soft_no_smoothing=True)


def ce_bf16_accumulation(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                         label_smoothing: float = 0.0, reduction: str = "mean") -> Any:
    """A Torch port computing the log-softmax and the sums in the input dtype (bfloat16)."""
    import torch

    from accelerated._xp import namespace

    fn = "cross_entropy"
    check_params(fn, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
    check_vocab_axis(fn, "logits", logits, -1)
    xp = namespace(logits)
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True, axis=-1)
    from accelerated.categorical.losses import _check_ce_target as check_target

    is_index = check_target(fn, target, logits, ignore_index, xp)
    v = logits.shape[-1]
    if weight is not None:
        if tuple(weight.shape) != (v,):
            raise ShapeError(fn, "weight", f"shape ({v},) (one weight per class)", f"shape {tuple(weight.shape)}")
        check_finite(fn, "weight", weight, xp)
        if bool((weight < 0).any()):
            raise DomainError(fn, "weight", "non-negative class weights", f"a minimum of {float(weight.min())!r}")
    w = torch.ones(v, dtype=logits.dtype) if weight is None else weight.to(logits.dtype)
    m = logits.max(dim=-1, keepdim=True).values
    lse = m + torch.log(torch.exp(logits - m).sum(-1, keepdim=True))  # bug: summed and rounded in bfloat16
    nll = lse - logits
    nll = torch.where(torch.isinf(nll) & (w == 0), torch.zeros_like(nll), nll)
    eps = label_smoothing
    if is_index:
        valid = target != ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
        w_y = torch.where(valid, w[safe], torch.zeros((), dtype=logits.dtype))
        ny = nll.gather(-1, safe[..., None])[..., 0]
        main = torch.where(w_y * (1 - eps) == 0, torch.zeros_like(ny), (1 - eps) * w_y * ny)
        wn = torch.where(w == 0, torch.zeros_like(nll), w * nll)  # 0·∞ = 0
        smooth = wn.sum(-1) if eps > 0 else torch.zeros_like(ny)
        loss = torch.where(valid, main + eps / v * smooth, torch.zeros_like(ny))
        denom = w_y.sum()
    else:
        coef = w * ((1 - eps) * target.to(logits.dtype) + eps / v)
        loss = torch.where(coef == 0, torch.zeros_like(nll), coef * nll).sum(-1)
        denom = torch.tensor(float(loss.numel()), dtype=logits.dtype)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return torch.where(denom > 0, loss.sum() / torch.where(denom > 0, denom, torch.ones_like(denom)),
                       torch.zeros_like(denom))


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "cross_entropy": (
        Mutant("mean_over_count", "mean divides by the number of non-ignored rows, not by Σ w_y",
               ce_denominator_count),
        Mutant("smoothing_on_ignored", "ignored rows still get the label-smoothing term", ce_smoothing_on_ignored),
        Mutant("all_ignored_nan", "mean over an all-ignored batch is 0/0 = NaN (spec: 0)", ce_all_ignored_nan),
        Mutant("smoothing_unweighted", "the smoothing term Σ_c ℓ_c ignores the class weights",
               ce_smoothing_unweighted),
        Mutant("soft_targets_unsmoothed", "label smoothing not applied to probability targets",
               ce_soft_no_smoothing),
        Mutant("bf16_accumulation", "log-softmax and sums in bfloat16 (no float32 accumulation)",
               ce_bf16_accumulation, backend="torch-cpu", dtypes=("bfloat16",)),
    ),
}
