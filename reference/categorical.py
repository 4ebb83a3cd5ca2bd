"""Reference (NumPy float64) implementations of the ``categorical`` family."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64, xlogy
from spec.validate import check_params, check_simplex, check_vocab_axis

__all__ = ["entropy"]


def entropy(probs: npt.ArrayLike, *, axis: int = -1, base: float | None = None) -> F64:
    r"""Shannon entropy of probability vectors.

    .. math:: H(p) = -\sum_k p_k \log p_k, \qquad 0 \log 0 = 0

    in nats, or in units of ``base`` (``H / log(base)``; ``base=2`` gives bits).

    Paper: C. E. Shannon, "A Mathematical Theory of Communication" (1948).
    Peer: ``scipy.stats.entropy(p, base=base, axis=axis)`` on already-normalised ``p``.

    Conventions: categories on ``axis`` (default last); rows must be non-negative and sum to 1
    within :func:`spec.validate.simplex_atol` — unlike scipy, nothing is renormalised silently.
    Output has the input shape without ``axis``.
    """
    p = as_f64(probs)
    check_params("entropy", base=base)
    ax = check_vocab_axis("entropy", "probs", p, axis)
    check_simplex("entropy", "probs", p, np, axis=ax)
    h = -np.sum(xlogy(p, p), axis=ax)
    if base is not None:
        h = h / math.log(base)
    return np.asarray(h, dtype=np.float64)
