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

from reference.decoding._common import _logits

__all__ = [
    "greedy_decode",
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
