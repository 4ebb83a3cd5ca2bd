"""Reference (NumPy float64) stateful peers' samplers: llama.cpp's mirostat v2 and mirostat (v1).

Semantics pinned to llama.cpp ``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd. State is
an input and an output (``mu`` per row, in bits; start at ``2 tau``); randomness is an input (one uniform per row,
consumed by an inverse CDF in vocabulary order, or in the stable descending order with ``order="sorted"`` as
llama.cpp's ``std::discrete_distribution`` over its sorted candidates). Ties go to the lowest index.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.decoding._common import _log_softmax, _logits, _order
from reference.decoding.samplers import _uniforms
from spec.errors import ShapeError
from spec.validate import check_finite, check_params

__all__ = [
    "mirostat_v2",
]

I64 = npt.NDArray[np.int64]
LN2 = math.log(2.0)
NEG_INF = -math.inf


def _mu(fn: str, mu: npt.ArrayLike, z: F64) -> F64:
    m = as_f64(mu)
    if tuple(m.shape) != tuple(z.shape[:-1]):
        raise ShapeError(fn, "mu", f"shape {tuple(z.shape[:-1])} (logits.shape[:-1])", f"shape {tuple(m.shape)}")
    check_finite(fn, "mu", m, np)
    return m


def _draw(logq: F64, u: float, walk: npt.NDArray[np.intp]) -> int:
    """Inverse CDF along ``walk``: the first finite position whose cumulative probability exceeds ``u`` (``u = 0``:
    the first finite one), clamped to the last finite one (exact-arithmetic CDF, as :func:`sample`)."""
    finite = [int(j) for j in walk if np.isfinite(logq[j])]
    acc = 0.0
    for j in finite:
        acc += math.exp(logq[j])
        if acc > u or u == 0:
            return j
    return finite[-1]


# --------------------------------------------------------------------------- mirostat_v2


def mirostat_v2(logits: npt.ArrayLike, uniforms: npt.ArrayLike, mu: npt.ArrayLike, *, tau: float = 5.0,
                eta: float = 0.1, order: str = "vocab") -> tuple[I64, F64]:
    r"""Mirostat v2: surprise-threshold truncation with a feedback-controlled threshold ``mu``.

    From "Mirostat: A Neural Text Decoding Algorithm that Directly Controls Perplexity" (2020,
    arXiv:2007.14966) as implemented by llama.cpp ``llama_sampler_mirostat_v2_apply`` (src/llama-sampling.cpp at
    e19fb5f1a30c). Per row, with ``p = softmax(z)``:

    1. keep ``K = {v : -log2 p_v <= mu}`` (a prefix of the descending order); if ``K`` is empty keep the first
       maximum alone; ``-inf`` entries are never kept;
    2. ``q = softmax`` over ``K``; draw ``x`` by the inverse CDF of ``q`` with the row's uniform, walking the
       vocabulary order (``order="vocab"``, as :func:`sample`) or the stable descending order
       (``order="sorted"``, llama.cpp's ``std::discrete_distribution`` over its sorted candidates);
    3. ``mu' = mu - eta (-log2 q_x - tau)``.

    State in and out: returns ``(tokens, new_mu)``; initialise ``mu = 2 tau`` (llama.cpp's init/reset) and feed
    ``new_mu`` back on the next call. Surprises are compared in log space (``log p_v >= -mu ln 2``).

    Errors: NaN / ``+inf`` logits or a row of only ``-inf``, NaN ``mu``, NaN uniforms or uniforms outside
    ``[0, 1)`` (:class:`DomainError`); ``uniforms`` or ``mu`` not of shape ``logits.shape[:-1]``
    (:class:`ShapeError`); negative, NaN or infinite ``tau`` / ``eta`` (:class:`ParameterError`).
    """
    check_params("mirostat_v2", tau=tau, eta=eta, order=order)
    z = _logits("mirostat_v2", logits)
    u = _uniforms("mirostat_v2", uniforms, z)
    m = _mu("mirostat_v2", mu, z)
    tokens = np.empty(z.shape[:-1], dtype=np.int64)
    new_mu = np.empty(z.shape[:-1], dtype=np.float64)
    for idx in np.ndindex(*z.shape[:-1]):
        r = z[idx]
        logp = _log_softmax(r)
        keep = np.isfinite(r) & (logp >= -float(m[idx]) * LN2)
        if not keep.any():
            keep = np.arange(r.shape[-1]) == int(np.argmax(r))
        logq = _log_softmax(np.where(keep, r, NEG_INF))
        walk = _order(r) if order == "sorted" else np.arange(r.shape[-1])
        x = _draw(logq, float(u[idx]), walk)
        tokens[idx] = x
        new_mu[idx] = float(m[idx]) - eta * (-logq[x] / LN2 - tau)
    return tokens, new_mu
