"""Reference (NumPy float64) peers' samplers: llama.cpp's greedy, top-nσ, XTC and dynamic temperature.

Semantics pinned to llama.cpp ``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd (see each
docstring for the line-level rule and for where we differ). Every row carries the whole vocabulary; a candidate
removed by an earlier step is a ``-inf`` logit. Randomness is an input (one uniform per row). Sorts are stable
descending, so ties go to the lowest vocabulary index (llama.cpp's ``std::partial_sort`` leaves tied order
unspecified). Rows are independent.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.decoding._common import _keep, _log_softmax, _logits, _order, _rowwise
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params

__all__ = [
    "dynamic_temperature",
    "greedy_decode",
    "top_n_sigma_sampling",
    "xtc_sampling",
]

I64 = npt.NDArray[np.int64]


def _uniforms(fn: str, uniforms: npt.ArrayLike, z: F64) -> F64:
    """One uniform in [0, 1) per row (``shape == logits.shape[:-1]``), validated like :func:`sample`'s."""
    u = as_f64(uniforms) if np.issubdtype(np.asarray(uniforms).dtype, np.floating) else np.asarray(uniforms)
    if tuple(u.shape) != tuple(z.shape[:-1]):
        raise ShapeError(fn, "uniforms", f"shape {tuple(z.shape[:-1])} (logits.shape[:-1])", f"shape {tuple(u.shape)}")
    check_finite(fn, "uniforms", u, np)
    if np.any((u < 0) | (u >= 1)):
        raise DomainError(fn, "uniforms", "values in [0, 1)", "a value outside [0, 1)")
    return np.asarray(u, dtype=np.float64)


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
    or after does not change it. ``σ = 0`` (all finite logits equal) keeps them all.
    The deviations are divided by their largest magnitude before squaring, so ``σ`` neither underflows
    (logits of size 1e-27) nor overflows (1e300).

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


# --------------------------------------------------------------------------- xtc_sampling


def xtc_sampling(logits: npt.ArrayLike, uniforms: npt.ArrayLike, probability: float, threshold: float, *,
                 min_tokens_to_keep: int = 1) -> F64:
    r"""XTC, "exclude top choices": remove the above-threshold tokens except the least probable of them.

    Peer: llama.cpp ``llama_sample_xtc_apply`` (src/llama-sampling.cpp at e19fb5f1a30c), after
    text-generation-webui. Per row, with ``u`` the row's uniform (llama.cpp's ``mt19937`` draw):

    1. no-op if ``probability <= 0``, ``threshold > 0.5``, fewer than 2 finite logits, or ``u > probability``;
    2. sort the tokens by logit, descending (stable: ties lowest index first), ``p = softmax(z)``;
    3. ``A`` = the tokens with ``p >= threshold`` (a prefix of the order); if ``|A| >= 2`` and the
       ``#finite - (|A| - 1)`` tokens left are at least ``min_tokens_to_keep``, remove the first ``|A| - 1``
       of them (every top choice but the last, i.e. the least probable, highest index among ties).

    Removal is all-or-nothing (``min_tokens_to_keep`` does not trim it, it cancels it). ``p >= threshold`` is
    compared in log space. Kept logits are returned unchanged, removed ones are ``-inf``; sample separately.
    Difference: llama.cpp counts ``-inf`` entries left in its candidate array by earlier samplers as candidates
    (in step 1 and in ``min_keep``); here only finite logits are candidates.

    Errors: NaN / ``+inf`` logits, a row of only ``-inf``, NaN uniforms or uniforms outside ``[0, 1)``
    (:class:`DomainError`), ``uniforms.shape != logits.shape[:-1]`` (:class:`ShapeError`), parameters
    outside their domains (:class:`ParameterError`).
    """
    check_params("xtc_sampling", probability=probability, threshold=threshold, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("xtc_sampling", logits)
    u = _uniforms("xtc_sampling", uniforms, z)
    out = z.copy()
    log_t = -math.inf if threshold == 0 else math.log(threshold)
    for idx in np.ndindex(*z.shape[:-1]):
        r = z[idx]
        finite = np.isfinite(r)
        if probability <= 0 or threshold > 0.5 or finite.sum() < 2 or u[idx] > probability:
            continue
        logp = _log_softmax(r)
        above = [int(j) for j in _order(r) if finite[j] and logp[j] >= log_t]
        if len(above) >= 2 and int(finite.sum()) - (len(above) - 1) >= min_tokens_to_keep:
            out[idx][above[:-1]] = -math.inf
    return out


# --------------------------------------------------------------------------- dynamic_temperature


def _peaked_entropy(r: F64) -> float:
    """``H(softmax(r))`` accurate on peaked rows: ``log1p(rest) - Σ e^s s / (1 + rest)``, ``s = r - max r``."""
    s = r - np.max(r)
    e = np.exp(s)
    first = int(np.argmax(r))
    rest = float(np.sum(np.delete(e, first)))
    num = float(np.sum(np.where(np.isfinite(s), e * np.where(np.isfinite(s), s, 0.0), 0.0)))
    return math.log1p(rest) - num / (1.0 + rest)


def dynamic_temperature(logits: npt.ArrayLike, temperature: float, *, delta: float = 0.0, exponent: float = 1.0,
                        candidates: str = "finite") -> F64:
    r"""Entropy-scaled temperature (llama.cpp ``temp_ext``, "dynamic temperature").

    Peer: llama.cpp ``llama_sampler_temp_ext_apply`` + ``llama_sampler_temp_impl`` (src/llama-sampling.cpp at
    e19fb5f1a30c). With ``n`` candidates (``candidates="finite"``: the finite logits; ``"vocab"``: every entry,
    as llama.cpp counts ``-inf`` entries left in its array by -inf-writing samplers):

    - ``delta > 0``: if ``n <= 1`` the row is returned unchanged (not even divided by ``t``); otherwise
      ``T_min = max(0, t - delta)``, ``T_max = t + delta``, ``H = -Σ p log p`` (``p = softmax(z)``, ``0 log 0 = 0``),
      ``H_max = log n`` and ``T = T_min + (T_max - T_min)·(H / H_max)^exponent`` (``0^0 = 1``);
    - ``delta = 0``: ``T = t``.

    Then ``z / T`` if ``T > 0``; ``T <= 0`` is llama.cpp's greedy step: the first maximum (lowest index among
    ties) keeps its logit unchanged and every other entry becomes ``-inf``. ``-inf`` stays ``-inf``.
    Difference (flag ``candidates``): llama.cpp's ``H_max`` is the log of its candidate-array size, which counts
    ``-inf`` entries from top-n-σ or logit bias but not tokens dropped by top-k / top-p / min-p (those shrink the
    array); ``"finite"`` (default) reproduces its default chain, ``"vocab"`` the former.

    ``H`` is computed as ``log1p(r) - Σ e^s s / (1 + r)`` (``s = z - max z``, ``r`` the sum of ``e^s`` over all but
    the first maximum), which keeps its relative accuracy on peaked rows where ``log Σ e^s`` rounds to 0 (the
    maximum's own ``-p log p`` term, comparable to the rest when the others sit ~30 below it, would vanish).

    Errors: NaN / ``+inf`` logits or a row of only ``-inf`` (:class:`DomainError`); negative, NaN or infinite
    parameters (:class:`ParameterError`).
    """
    check_params("dynamic_temperature", temperature=temperature, delta=delta, exponent=exponent,
                 candidates=candidates)
    z = _logits("dynamic_temperature", logits)

    def row(r: F64) -> F64:
        t = float(temperature)
        if delta > 0:
            n = int(np.isfinite(r).sum()) if candidates == "finite" else int(r.shape[-1])
            if n <= 1:
                return r.copy()
            lo, hi = max(0.0, t - delta), t + delta
            h = _peaked_entropy(r)
            t = lo + (hi - lo) * (h / math.log(n)) ** exponent
        if t <= 0:
            first = int(np.argmax(r))
            return _keep(r, np.arange(r.shape[-1]) == first)
        return np.asarray(r / t, dtype=np.float64)

    return _rowwise(z, row)
