"""Mutants (plausible wrong versions the ``ci`` profile must kill) of the ``classification`` family, group
``losses``: linear_cross_entropy with a wrong normaliser, an off-by-one shift and a softcap without the scale."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from reference.classification.losses import linear_cross_entropy as _ref

__all__ = ["MUTANTS"]

MUTANTS: dict[str, tuple[Mutant, ...]] = {}


# --------------------------------------------------------------------------- linear_cross_entropy


def _lce(embeddings: Any, classifier: Any, targets: Any, *, bias: Any = None, ignore_index: int = -100,
         softcap: float | None = None, reduction: str = "mean", shift: int = 0, mean_over_rows: bool = False,
         shift_off_by_one: bool = False, softcap_unscaled: bool = False, **filter_opts: Any) -> Any:
    # validation (same errors) by the reference on the untouched arguments
    _ref(embeddings, classifier, targets, bias=bias, ignore_index=ignore_index, softcap=softcap,
         reduction=reduction, shift=shift, **filter_opts)
    e = np.asarray(embeddings, dtype=np.float64)
    c = np.asarray(classifier, dtype=np.float64)
    t = np.asarray(targets)
    n = e.shape[0]
    k = int(shift)
    rows = n - k
    z = e[:rows] @ c.T + (0.0 if bias is None else np.asarray(bias, dtype=np.float64))
    if softcap is not None:
        z = np.tanh(z) * float(softcap) if softcap_unscaled else float(softcap) * np.tanh(z / float(softcap))
    tg = t[k:]
    if shift_off_by_one and k:
        tg = t[k - 1: n - 1]  # pairs row i with target i + k - 1
    keep = tg != ignore_index
    safe = np.where(keep, tg, 0)
    if rows:
        m = z.max(-1, keepdims=True)
        lse = (np.log(np.exp(z - m).sum(-1, keepdims=True)) + m)[:, 0]
        nll = np.where(keep, lse - z[np.arange(rows), safe], 0.0)
    else:
        nll = np.zeros(0)
    if reduction == "none":
        return nll
    if reduction == "sum":
        return np.asarray(nll.sum())
    denom = rows if mean_over_rows else int(keep.sum())
    return np.asarray(nll.sum() / denom if denom else 0.0)


def _mean_over_rows(*a: Any, **kw: Any) -> Any:
    return _lce(*a, mean_over_rows=True, **kw)


def _shift_off_by_one(*a: Any, **kw: Any) -> Any:
    return _lce(*a, shift_off_by_one=True, **kw)


def _softcap_unscaled(*a: Any, **kw: Any) -> Any:
    return _lce(*a, softcap_unscaled=True, **kw)


MUTANTS["linear_cross_entropy"] = (
    Mutant("mean_over_rows", "reduction='mean' divides by all rows instead of the kept ones", _mean_over_rows),
    Mutant("shift_off_by_one", "row i is paired with target i + shift − 1", _shift_off_by_one),
    Mutant("softcap_unscaled", "softcap as s·tanh(z) instead of s·tanh(z / s)", _softcap_unscaled),
)
