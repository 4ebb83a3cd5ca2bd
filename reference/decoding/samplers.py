"""Reference (NumPy float64) peers' samplers: llama.cpp's greedy, top-nσ, XTC and dynamic temperature.

Semantics pinned to llama.cpp ``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd (see each
docstring for the line-level rule and for where we differ). Every row carries the whole vocabulary; a candidate
removed by an earlier step is a ``-inf`` logit. Randomness is an input (one uniform per row). Sorts are stable
descending, so ties go to the lowest vocabulary index (llama.cpp's ``std::partial_sort`` leaves tied order
unspecified). Rows are independent.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.decoding._common import _keep, _logits, _rowwise
from spec.validate import check_params

__all__ = [
    "greedy_decode",
    "top_n_sigma_sampling",
]

I64 = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- greedy_decode


def greedy_decode(logits: npt.ArrayLike) -> I64:
    r"""Greedy decoding ``ŷ = argmax_v z_v`` per row (int64), ties to the **lowest index**.

    The limit of temperature sampling as ``T -> 0``; the decoder of "The Hyperfitting Phenomenon:
    Sharpening and Stabilizing LLMs for Open-Ended Text Generation" (2024, arXiv:2412.04318).
    Peer: llama.cpp ``llama_sampler_greedy_apply`` scans the candidates in token order with a strict
    ``>`` (the first maximum wins), as do ``torch.argmax`` / ``numpy.argmax``. A ``-inf`` entry is never
    returned (a row has at least one finite logit).

    Errors: NaN / ``+inf`` logits or a row of only ``-inf`` (:class:`DomainError`), ``V = 0``
    (:class:`ShapeError`). Output: int64 indices of shape ``logits.shape[:-1]``.
    """
    z = _logits("greedy_decode", logits)
    out = np.empty(z.shape[:-1], dtype=np.int64)
    for idx in np.ndindex(*z.shape[:-1]):
        row = z[idx]
        best = 0
        for j in range(1, row.shape[-1]):
            if row[j] > row[best]:
                best = j
        out[idx] = best
    return out


# --------------------------------------------------------------------------- top_n_sigma_sampling


def top_n_sigma_sampling(logits: npt.ArrayLike, n: float, *, zero: str = "identity") -> F64:
    r"""Top-nσ truncation: keep ``z_v >= M - n·σ``, ``M = max z``, ``σ`` the population standard deviation.

    From "Top-nσ: Not All Logits Are You Need" (2024, arXiv:2411.07641); peer llama.cpp
    ``llama_sampler_top_n_sigma_apply`` (src/llama-sampling.cpp at e19fb5f1a30c): over the finite logits
    (``-inf`` entries excluded, llama.cpp #13344) ``μ = mean z``, ``σ = sqrt(mean (z - μ)²)``; logits with
    ``z < M - n σ`` become ``-inf`` (strict: a logit equal to the threshold is kept); kept logits are returned
    unchanged. The kept set is invariant to shifts and positive scalings of the logits, so temperature before
    or after does not change it. ``σ = 0`` (all finite logits equal) keeps them all. The deviations are divided by their largest magnitude before squaring, so
    ``σ`` neither underflows (logits of size 1e-27) nor overflows (1e300).

    Difference (flag ``zero``): llama.cpp disables the sampler for ``n <= 0`` (its CLI default is ``n = -1``),
    so ``n = 0`` is the identity by default (``zero="identity"``); ``zero="keep_max"`` gives the rule's limit,
    the tokens tied at the max. ``n`` must be a finite float ``>= 0`` (llama.cpp's negative values: use 0).

    Errors: NaN / ``+inf`` logits or a row of only ``-inf`` (:class:`DomainError`), ``n < 0``, NaN or inf
    (:class:`ParameterError`).
    """
    check_params("top_n_sigma_sampling", n=n, zero=zero)
    z = _logits("top_n_sigma_sampling", logits)

    def row(r: F64) -> F64:
        if n == 0:
            return r.copy() if zero == "identity" else _keep(r, r == np.max(r))
        f = r[np.isfinite(r)]
        dev = f - float(np.mean(f))
        big = float(np.max(np.abs(dev)))  # scaled before squaring, so tiny or huge logits neither under- nor overflow
        sigma = big * float(np.sqrt(np.mean((dev / big) ** 2))) if big > 0 else 0.0
        return _keep(r, r >= float(np.max(f)) - n * sigma)

    return _rowwise(z, row)
