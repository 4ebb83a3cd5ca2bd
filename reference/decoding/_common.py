"""Helpers and shared conventions of the ``decoding`` reference implementations.

Truncation filters take logits ``(..., V)`` (vocabulary on the last axis; ``-inf`` entries are
legal, a whole row of ``-inf`` is not) and return logits of the same shape with every removed entry
set to ``-inf`` and every kept entry *unchanged*. ``sample`` turns logits and supplied uniforms into
token indices by the inverse CDF.

Shared conventions (all pinned to transformers 5.23.0 ``generation/logits_process.py``, read
locally, except where a docstring says otherwise):

- **Sort order and ties.** Wherever a rule walks tokens "in order of probability", the order is a
  *stable* descending sort of the logits: among tied logits the lowest vocabulary index comes
  first (is kept first). HF uses ``torch.sort``/``torch.topk``, whose order among ties is
  unspecified; kept *counts* agree with HF, and kept *sets* agree whenever no tie straddles the
  cut. (Typical decoding orders by its typicality score instead; see :func:`typical_filter`.)
- **min_tokens_to_keep** (default 1, as in HF): the rule's own guard is reproduced per filter —
  top-k raises k to it; top-p, min-p, typical and Top-H force-keep exactly that many tokens of
  their sort order; epsilon and eta keep every token whose logit is at least the
  ``min_tokens_to_keep``-th largest (HF's ``scores < topk(scores, m)[..., -1]`` guard, so ties with
  that logit are kept too).
- **Log space.** Probability thresholds are compared in log space (``log p < log t``) with a
  shift-exact ``log_softmax`` (``(z - max) - log Σ exp(z - max)``), so tokens whose probability
  underflows are judged by their log-probability; this agrees with HF's ``p < t`` away from
  underflow.
- **Rows are independent**: each row's result depends on that row only, so batch shape never
  changes a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64, log_softmax, softmax
from spec.validate import check_finite, check_vocab_axis

NEG_INF = -math.inf


# --------------------------------------------------------------------------- helpers


def _logits(fn: str, logits: npt.ArrayLike) -> F64:
    z = as_f64(logits)
    check_vocab_axis(fn, "logits", z)
    check_finite(fn, "logits", z, np, allow_neg_inf=True)
    return z


def _rowwise(z: F64, row_fn: Callable[[F64], F64]) -> F64:
    """Apply ``row_fn`` (a 1-D logits row -> 1-D row) to every row along the last axis."""
    out = np.empty_like(z)
    for idx in np.ndindex(*z.shape[:-1]):
        out[idx] = row_fn(z[idx])
    return out


def _order(key: F64) -> npt.NDArray[np.intp]:
    """Indices sorting ``key`` descending; ties keep vocabulary order (lowest index first)."""
    return np.argsort(-key, kind="stable")


def _log_softmax(z: F64) -> F64:
    """Log-softmax of one row (the shared :func:`reference._math.log_softmax`)."""
    return log_softmax(z)


def _softmax(z: F64) -> F64:
    """Shift-exact softmax of one row (the shared :func:`reference._math.softmax`)."""
    return softmax(z)


def _entropy(logp: F64) -> float:
    """``-Σ p log p`` over the entries with ``p > 0`` (``0 · log 0 = 0``)."""
    p = np.exp(logp)
    pos = p > 0
    return float(-np.sum(p[pos] * logp[pos]))


def _log_threshold(t: float) -> float:
    return NEG_INF if t == 0 else math.log(t)


def _keep(z: F64, kept: npt.NDArray[np.bool_]) -> F64:
    return np.where(kept, z, NEG_INF)


def _guard_kth(z: F64, m: int) -> npt.NDArray[np.bool_]:
    """HF's epsilon/eta guard: tokens whose logit is >= the ``m``-th largest logit (ties kept)."""
    kth = np.sort(z)[::-1][min(m, z.shape[-1]) - 1]
    return np.asarray(z >= kth)


def _first(order: npt.NDArray[np.intp], n: int, size: int) -> npt.NDArray[np.bool_]:
    """Boolean mask of the first ``n`` entries of ``order``."""
    mask = np.zeros(size, dtype=bool)
    mask[order[:n]] = True
    return mask


