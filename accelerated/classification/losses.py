"""Accelerated losses of the ``classification`` family (array API: Torch, CuPy, NumPy): fused linear
cross-entropy (Cut Cross-Entropy).

On Torch (eager mode) :func:`linear_cross_entropy` runs the chunked kernel of
:mod:`accelerated.classification._lce_torch` (no ``(N, V)`` logits in the forward or the backward);
other arrays, and Torch inside ``torch.compile``, use the materialised formula.
"""

from __future__ import annotations

from typing import Any

from accelerated._xp import Array, detach, from_compute, is_torch, namespace, to_compute
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_index, check_params

__all__ = ["linear_cross_entropy"]


def _check_shapes(fn: str, e: Array, c: Array, t: Array, b: Array | None, shift: int) -> None:
    es, cs, ts = tuple(int(d) for d in e.shape), tuple(int(d) for d in c.shape), tuple(int(d) for d in t.shape)
    if len(es) != 2:
        raise ShapeError(fn, "embeddings", "a 2-d array (N, D)", f"shape {es}")
    if len(cs) != 2 or cs[0] == 0:
        raise ShapeError(fn, "classifier", "a 2-d array (V, D) with V >= 1", f"shape {cs}")
    if cs[1] != es[1]:
        raise ShapeError(fn, "classifier", f"shape (V, {es[1]}) (D of embeddings)", f"shape {cs}")
    if ts != (es[0],):
        raise ShapeError(fn, "targets", f"shape ({es[0]},) (one target per row)", f"shape {ts}")
    if b is not None:
        bs = tuple(int(d) for d in b.shape)
        if bs != (cs[0],):
            raise ShapeError(fn, "bias", f"shape ({cs[0]},) (one bias per class)", f"shape {bs}")
    if shift != 0 and shift >= es[0]:
        raise DomainError(fn, "shift", f"0 <= shift < N = {es[0]}", repr(shift))


def _generic(e: Array, c: Array, b: Array | None, tg: Array, keep: Array, softcap: float | None, xp: Any) -> Array:
    ec, cc = to_compute(e, xp), to_compute(c, xp)
    z = ec @ xp.permute_dims(cc, (1, 0))
    if b is not None:
        z = z + to_compute(b, xp)
    if softcap is not None:
        z = softcap * xp.tanh(z / softcap)
    m = detach(xp.max(z, axis=-1, keepdims=True))
    lse = xp.log(xp.sum(xp.exp(z - m), axis=-1)) + m[:, 0]
    safe = xp.where(keep, tg, xp.zeros_like(tg))
    zy = xp.take_along_axis(z, safe[:, None], axis=-1)[:, 0]
    return xp.where(keep, lse - zy, xp.zeros_like(lse))


def linear_cross_entropy(embeddings: Array, classifier: Array, targets: Array, *, bias: Array | None = None,
                         ignore_index: int = -100, softcap: float | None = None, reduction: str = "mean",
                         shift: int = 0, filter_eps: float | None = None, filter_block_rows: int = 16,
                         filter_block_vocab: int = 128) -> Array:
    """Cross-entropy of ``e cᵀ + b`` without the logits; see :func:`reference.classification.linear_cross_entropy`.

    Torch in eager mode: chunked forward and custom backward (memory ``O(R·V)`` besides the inputs'
    gradients), CCE's tile filter with ``filter_eps``. NumPy/CuPy, and Torch under ``torch.compile``:
    the materialised formula (exact gradient; ``filter_eps`` has no effect there).
    """
    fn = "linear_cross_entropy"
    xp = namespace(embeddings, classifier, bias)
    check_params(fn, ignore_index=ignore_index, softcap=softcap, reduction=reduction, shift=shift,
                 filter_eps=filter_eps, filter_block_rows=filter_block_rows, filter_block_vocab=filter_block_vocab)
    for name, arr in (("embeddings", embeddings), ("classifier", classifier), ("bias", bias)):
        if arr is not None and not xp.isdtype(arr.dtype, "real floating"):
            raise DTypeError(fn, name, "a real floating dtype", f"dtype {arr.dtype}")
    k = int(shift)
    _check_shapes(fn, embeddings, classifier, targets, bias, k)
    check_finite(fn, "embeddings", embeddings, xp)
    check_finite(fn, "classifier", classifier, xp)
    if bias is not None:
        check_finite(fn, "bias", bias, xp)
    v = int(classifier.shape[0])
    check_index(fn, "targets", targets, xp, low=0, high=v, ignore=ignore_index)
    n = int(embeddings.shape[0])
    e = embeddings[: n - k] if k else embeddings
    tg = targets[k:] if k else targets
    keep = tg != ignore_index
    s = None if softcap is None else float(softcap)
    nll: Array
    if is_torch(embeddings) and _eager():
        from accelerated.classification._lce_torch import lce_rows

        eps = None if filter_eps is None else float(filter_eps)
        nll = lce_rows(e, classifier, bias, tg, keep, s, eps, int(filter_block_rows), int(filter_block_vocab))
    else:
        nll = _generic(e, classifier, bias, tg, keep, s, xp)
    if reduction == "none":
        return from_compute(nll, embeddings, xp)
    total = xp.sum(nll)
    if reduction == "mean":
        kept = xp.sum(xp.astype(keep, total.dtype))
        pos = kept > 0
        total = xp.where(pos, total / xp.where(pos, kept, xp.ones_like(kept)), xp.zeros_like(total))
    return from_compute(total, embeddings, xp)


def _eager() -> bool:
    import torch

    return not torch.compiler.is_compiling()
