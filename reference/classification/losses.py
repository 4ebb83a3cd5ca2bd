"""Reference (NumPy float64) implementations of the ``classification`` family, group ``losses``:
fused linear cross-entropy (Cut Cross-Entropy).

Shapes: ``embeddings (N, D)``, ``classifier (V, D)``, ``targets (N,)`` class indices with
``ignore_index``; a mean over zero kept rows is 0, never NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_index, check_params

__all__: list[str] = [
    "linear_cross_entropy",
]


def check_lce_inputs(fn: str, e_shape: tuple[int, ...], c_shape: tuple[int, ...], t_shape: tuple[int, ...],
                     b_shape: tuple[int, ...] | None, shift: int) -> None:
    """Shape rules shared with the accelerated version (same errors, same messages)."""
    if len(e_shape) != 2:
        raise ShapeError(fn, "embeddings", "a 2-d array (N, D)", f"shape {e_shape}")
    if len(c_shape) != 2 or c_shape[0] == 0:
        raise ShapeError(fn, "classifier", "a 2-d array (V, D) with V >= 1", f"shape {c_shape}")
    if c_shape[1] != e_shape[1]:
        raise ShapeError(fn, "classifier", f"shape (V, {e_shape[1]}) (D of embeddings)", f"shape {c_shape}")
    if t_shape != (e_shape[0],):
        raise ShapeError(fn, "targets", f"shape ({e_shape[0]},) (one target per row)", f"shape {t_shape}")
    if b_shape is not None and b_shape != (c_shape[0],):
        raise ShapeError(fn, "bias", f"shape ({c_shape[0]},) (one bias per class)", f"shape {b_shape}")
    if shift != 0 and shift >= e_shape[0]:
        raise DomainError(fn, "shift", f"0 <= shift < N = {e_shape[0]}", repr(shift))


def linear_cross_entropy(embeddings: npt.ArrayLike, classifier: npt.ArrayLike, targets: npt.ArrayLike, *,
                         bias: npt.ArrayLike | None = None, ignore_index: int = -100, softcap: float | None = None,
                         reduction: str = "mean", shift: int = 0, filter_eps: float | None = None,
                         filter_block_rows: int = 16, filter_block_vocab: int = 128) -> F64:
    r"""Cross-entropy of the logits ``z = e cᵀ + b`` against class indices (Cut Cross-Entropy's loss).

    Cut Your Losses in Large-Vocabulary Language Models (Wijmans et al., 2024, arXiv 2411.09009);
    official code ``apple/ml-cross-entropy`` (``cut_cross_entropy/cce.py``, ``utils.py``). The loss is
    exact cross-entropy; CCE's contribution is computing it without the ``(N, V)`` logits::

        z_i   = e_i · cᵀ + b                      (b = 0 without a bias)
        z_i   = s · tanh(z_i / s)                 (only with softcap = s)
        ℓ_i   = logsumexp_v z_iv − z_{i, t_i},    t_i = targets[i + shift],  i = 0 … N − shift − 1
        none  = (ℓ_i · [t_i ≠ ignore_index])_i    (N − shift entries)
        sum   = Σ_i kept ℓ_i,   mean = sum / #kept (0 when nothing is kept)

    ``shift = k`` pairs row ``i`` of the embeddings with target ``i + k`` (next-token prediction with
    unshifted inputs, as ``e[..., :-k]`` against ``targets[..., k:]`` in the official code).

    ``filter_eps`` (with ``filter_block_rows × filter_block_vocab`` tiles) selects CCE's approximate
    backward: a tile's gradient is dropped when every ``|softmax − onehot|`` in it is below
    ``filter_eps``. It never changes the value, so this reference (values only) validates it and
    otherwise ignores it; the accelerated Torch version implements it. Differences from the official
    code: ``filter_eps`` defaults to ``None`` (exact; the code's default ``'auto'`` is
    ``finfo(dtype).eps / 32``); filter tiles follow the natural vocabulary order (the code sorts the
    vocabulary by average logit first); a mean over zero kept rows is 0 (the code returns NaN).
    """
    fn = "linear_cross_entropy"
    check_params(fn, ignore_index=ignore_index, softcap=softcap, reduction=reduction, shift=shift,
                 filter_eps=filter_eps, filter_block_rows=filter_block_rows, filter_block_vocab=filter_block_vocab)
    e_in, c_in, t = np.asarray(embeddings), np.asarray(classifier), np.asarray(targets)
    b_in = None if bias is None else np.asarray(bias)
    for name, arr in (("embeddings", e_in), ("classifier", c_in), ("bias", b_in)):
        if arr is not None and not np.issubdtype(arr.dtype, np.floating):
            raise DTypeError(fn, name, "a real floating dtype", f"dtype {arr.dtype}")
    check_lce_inputs(fn, e_in.shape, c_in.shape, t.shape, None if b_in is None else b_in.shape, int(shift))
    e, c = as_f64(e_in), as_f64(c_in)
    check_finite(fn, "embeddings", e, np)
    check_finite(fn, "classifier", c, np)
    b = None
    if b_in is not None:
        b = as_f64(b_in)
        check_finite(fn, "bias", b, np)
    v = c.shape[0]
    check_index(fn, "targets", t, np, low=0, high=v, ignore=ignore_index)
    n = e.shape[0]
    k = int(shift)
    rows = n - k
    z = e[:rows] @ c.T
    if b is not None:
        z = z + b
    if softcap is not None:
        z = float(softcap) * np.tanh(z / float(softcap))
    tg = t[k:]
    keep = tg != ignore_index
    safe = np.where(keep, tg, 0)
    if rows:
        m = np.max(z, axis=-1, keepdims=True)
        lse = (np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)) + m)[:, 0]
        nll = np.where(keep, lse - z[np.arange(rows), safe], 0.0)
    else:
        nll = np.zeros(0)
    if reduction == "none":
        return nll
    total = float(np.sum(nll))
    if reduction == "sum":
        return np.asarray(total)
    kept = int(np.count_nonzero(keep))
    return np.asarray(total / kept if kept else 0.0)
