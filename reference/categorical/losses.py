"""Reference (NumPy float64) losses of the ``categorical`` family: cross-entropy (torch semantics,
classes on the last axis).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.categorical._common import shifted_log_softmax
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
]


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
        check_simplex(fn, "target", target, np, axis=-1)
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

    Papers:

    - The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text Generation
      (2024, arXiv:2412.04318)
    - Rethinking the Inception Architecture for Computer Vision (2016, arXiv:1512.00567)
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
    nll = -shifted_log_softmax(z, z.ndim - 1)  # ℓ_{n,c} >= 0, +inf at -inf logits

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
        # ε/C inside the coefficient: a denormal ε gives ε/C = 0, and 0·∞ = 0 at -inf logits
        smooth = weighted(np.broadcast_to((eps / n_cls) * w, z.shape)) if eps > 0 else np.zeros_like(main)
        loss = np.where(valid, main + smooth, 0.0)
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
