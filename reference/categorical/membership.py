"""Reference (NumPy float64) membership-inference scores of the ``categorical`` family: per-token
self-information, Min-K% Prob, Min-K%++ and DC-PDD.

Conventions shared by the group: the sequence is the last axis ``T``; log-probabilities and logits are
aligned with the tokens they score (the caller applies the causal shift); positions are excluded by a
``mask`` or ``ignore_index`` ids. Min-K% rules average the ``k = max(1, ⌊ratio·n⌋)`` lowest per-token
scores of the ``n`` kept tokens (the official code's ``int(ratio·n)`` is 0 for short inputs and then
averages an empty slice to NaN); a row with no kept token scores 0. Scores are oriented as in the
papers (higher = member); ``negate=True`` gives the DC-PDD script's values.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.categorical._common import shifted_log_softmax
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_index, check_mask, check_params, check_same_shape, check_vocab_axis

__all__ = [
    "dc_pdd_score",
    "min_k_plus_plus",
    "min_k_prob",
    "token_self_information",
]


def _ids(fn: str, name: str, x: npt.ArrayLike, high: int, ignore_index: int) -> npt.NDArray[np.int64]:
    arr = np.asarray(x)
    check_index(fn, name, arr, np, low=0, high=high, ignore=ignore_index)
    return np.asarray(arr, dtype=np.int64)


def _log_probs(fn: str, x: npt.ArrayLike) -> F64:
    lp = as_f64(x) if np.issubdtype(np.asarray(x).dtype, np.floating) else np.asarray(x)
    if lp.ndim == 0:
        raise ShapeError(fn, "log_probs", "an array with a sequence axis (..., T)", "a 0-d array")
    check_finite(fn, "log_probs", lp, np)
    if np.any(lp > 0):
        raise DomainError(fn, "log_probs", "log-probabilities <= 0", f"a maximum of {float(np.max(lp))!r}")
    return np.asarray(lp, dtype=np.float64)


def _min_k_mean(scores: F64, kept: npt.NDArray[np.bool_], ratio: float) -> F64:
    """Row-wise mean of the ``max(1, ⌊ratio·n⌋)`` lowest kept scores; 0 for a row without kept entries."""
    flat = scores.reshape(-1, scores.shape[-1]) if scores.shape[-1] else scores.reshape(-1, 0)
    keep = kept.reshape(flat.shape)
    out = np.zeros(flat.shape[0])
    for r in range(flat.shape[0]):
        row = np.sort(flat[r][keep[r]])
        n = row.size
        if n == 0:
            continue
        k = max(1, int(n * ratio))  # Python's int(n * ratio), as the official code
        out[r] = float(np.mean(row[:k]))
    return out.reshape(scores.shape[:-1])


# --------------------------------------------------------------------------- token_self_information


def token_self_information(logits: npt.ArrayLike, target: npt.ArrayLike, *, ignore_index: int = -100,
                           base: float | None = None) -> F64:
    r"""Per-token self-information ``I_t = −log p(x_t | x_<t) = −log softmax(z_t)[x_t]``.

    In nats, or in units of ``base``. ``logits`` ``(..., V)`` are aligned with ``target`` ``(...)``
    (``logits[t]`` scores ``target[t]``); positions with ``target == ignore_index`` give 0 (as torch's
    ``cross_entropy(reduction="none")``, which LLMLingua's ``get_ppl(granularity="token")`` calls on the
    shifted, attention-masked tokens); a ``-inf`` target logit gives ``+inf``.

    Papers:

    - LLMLingua: Compressing Prompts for Accelerated Inference of Large Language Models (2023, arXiv:2310.05736)
    - LLMLingua-2: Data Distillation for Efficient and Faithful Task-Agnostic Prompt Compression
      (2024, arXiv:2403.12968)

    LLMLingua-2 replaces this baseline (LLMLingua's, Selective-Context's) by a token classifier.
    Difference: the official code shifts and drops masked positions (a shorter 1-D output); here the
    inputs are aligned and ignored positions keep their place with a 0. (The accelerated Torch path
    computes ``logsumexp(z) − z_y`` with the chunked row kernel, like torch's ``cross_entropy``: its
    absolute error is ~ulp(max |z|); the NumPy paths shift by the row max first.)
    """
    fn = "token_self_information"
    z = as_f64(logits)
    check_params(fn, ignore_index=ignore_index, base=base)
    ax = check_vocab_axis(fn, "logits", z, -1)
    check_finite(fn, "logits", z, np, allow_neg_inf=True, axis=ax)
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise DTypeError(fn, "target", "an integer dtype", f"dtype {t.dtype}")
    if t.shape != z.shape[:-1]:
        raise ShapeError(fn, "target", f"shape {z.shape[:-1]} (logits without the class axis)", f"shape {t.shape}")
    y = _ids(fn, "target", t, z.shape[-1], ignore_index)
    kept = y != ignore_index
    lp = shifted_log_softmax(z, -1) if z.size else z
    safe = np.where(kept, y, 0)
    ly = np.take_along_axis(lp, safe[..., None], axis=-1)[..., 0] if z.size else np.zeros(y.shape)
    info = np.where(kept, -ly, 0.0)
    if base is not None:
        info = info / math.log(base)
    return np.asarray(info, dtype=np.float64)


# --------------------------------------------------------------------------- min_k_prob


def min_k_prob(log_probs: npt.ArrayLike, *, mask: npt.ArrayLike | None = None, ratio: float = 0.2,
               negate: bool = False) -> F64:
    r"""Min-K% Prob: the mean of the ``k = max(1, ⌊ratio·n⌋)`` lowest token log-probabilities.

    ``log_probs`` ``(..., T)`` are ``log p(x_t | x_<t)``; ``mask`` selects the ``n`` tokens that count
    (None: all). A row with no kept token scores 0. Higher means member (the paper's orientation and
    mink-plus-plus' ``run.py``); ``negate=True`` returns ``−score``, DC-PDD's ``pred["min_20% prob"]``
    (larger for non-members).

    Papers:

    - Detecting Pretraining Data from Large Language Models (2023, arXiv:2310.16789)
    - Pretraining Data Detection for Large Language Models: A Divergence-based Calibration Method
      (2024, arXiv:2409.14781), ``com_det_sco.py`` baseline

    Difference: the official code uses ``k = int(0.2·n)``, which is 0 for ``n < 5`` and gives the mean
    of an empty slice (NaN); here ``k >= 1``.
    """
    fn = "min_k_prob"
    check_params(fn, ratio=ratio, negate=negate)
    lp = _log_probs(fn, log_probs)
    if mask is None:
        kept = np.ones(lp.shape, dtype=bool)
    else:
        m = np.asarray(mask)
        check_same_shape(fn, log_probs=lp, mask=m)
        check_mask(fn, "mask", m, np)
        kept = m.astype(bool)
    score = _min_k_mean(lp, kept, ratio)
    return np.asarray(-score if negate else score, dtype=np.float64)


# --------------------------------------------------------------------------- min_k_plus_plus


def _standardised(z: F64, y: npt.NDArray[np.int64], kept: npt.NDArray[np.bool_]) -> F64:
    """Per-token ``(log p_y − μ)/σ`` with ``μ = Σ p log p``, ``σ² = Σ p (log p − μ)²`` (shifted logits)."""
    v = z.shape[-1]
    rows, ys, ks = z.reshape(-1, v), y.reshape(-1), kept.reshape(-1)
    out = np.zeros(ys.shape)
    for r in range(rows.shape[0]):
        if not ks[r]:
            continue
        row = rows[r]
        fin = np.isfinite(row)
        d = row[fin] - np.max(row[fin])  # log p = d − log Σ exp d; μ and y_t − μ are free of the constant
        p = np.exp(d - math.log(float(np.sum(np.exp(d)))))
        spread = float(-np.min(d))
        if not math.isfinite(row[ys[r]]):
            out[r] = -math.inf
            continue
        if spread == 0:
            continue  # σ = 0: every finite logit equal
        # the score is invariant to scaling log p about μ: dividing the gaps by their spread keeps σ² from
        # underflowing for tiny gaps (d ~ 1e-38 in float32 would square to 0)
        e = d / spread
        mu = float(np.sum(p * e))
        var = float(np.sum(p * (e - mu) ** 2))
        if var > 0:
            out[r] = (float(row[ys[r]] - np.max(row[fin])) / spread - mu) / math.sqrt(var)
    return out.reshape(y.shape)


def min_k_plus_plus(logits: npt.ArrayLike, target: npt.ArrayLike, *, ratio: float = 0.2,
                    ignore_index: int = -100, negate: bool = False) -> F64:
    r"""Min-K%++: the Min-K% mean of the standardised token scores ``(log p(x_t) − μ_t) / σ_t``.

    ``logits`` ``(..., T, V)`` are aligned with ``target`` ``(..., T)``; ``μ_t = Σ_v p_v log p_v`` and
    ``σ_t² = Σ_v p_v (log p_v − μ_t)²`` are the mean and variance of ``log p`` under ``p = softmax(z_t)``
    (σ is the standard deviation, as in the paper and the code). The ``k = max(1, ⌊ratio·n⌋)`` lowest
    scores of the ``n`` positions with ``target != ignore_index`` are averaged; a row without kept
    positions scores 0. Higher means member; ``negate=True`` gives DC-PDD's ``−mean``.

    Papers:

    - Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large Language Models
      (2024, arXiv:2404.02936)
    - Pretraining Data Detection for Large Language Models: A Divergence-based Calibration Method
      (2024, arXiv:2409.14781), ``com_det_sco.py`` baseline

    Differences from the official code (mink-plus-plus ``run.py``): the variance is centred (the code's
    ``Σ p (log p)² − μ²`` is the same value with cancellation); ``σ = 0`` (all finite logits equal)
    gives a per-token score of 0, not 0/0; ``k >= 1``. A ``-inf`` target logit scores ``−inf``.
    """
    fn = "min_k_plus_plus"
    check_params(fn, ratio=ratio, ignore_index=ignore_index, negate=negate)
    z = as_f64(logits)
    if z.ndim < 2:
        raise ShapeError(fn, "logits", "an array of shape (..., T, V)", f"shape {z.shape}")
    check_vocab_axis(fn, "logits", z, -1)
    check_finite(fn, "logits", z, np, allow_neg_inf=True, axis=-1)
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise DTypeError(fn, "target", "an integer dtype", f"dtype {t.dtype}")
    if t.shape != z.shape[:-1]:
        raise ShapeError(fn, "target", f"shape {z.shape[:-1]} (logits without the class axis)", f"shape {t.shape}")
    y = _ids(fn, "target", t, z.shape[-1], ignore_index)
    kept = y != ignore_index
    zs = _standardised(z, np.where(kept, y, 0), kept)
    score = _min_k_mean(zs, kept, ratio)
    return np.asarray(-score if negate else score, dtype=np.float64)


# --------------------------------------------------------------------------- dc_pdd_score


def dc_pdd_score(log_probs: npt.ArrayLike, input_ids: npt.ArrayLike, counts: npt.ArrayLike, *, a: float = 0.01,
                 ignore_index: int = -100, frequency: str = "smoothed", negate: bool = False) -> F64:
    r"""DC-PDD: ``β = mean_{t ∈ FOS} min(p_t · log(1 / f_{x_t}), a)``, ``p_t = exp(log_probs_t)``.

    ``FOS`` = the first occurrence of each id among the kept positions (``input_ids != ignore_index``)
    of a row; ``f_v = (cnt_v + 1) / (Σ cnt + V)`` is the Laplace-smoothed frequency of token ``v`` in the
    reference corpus (``counts`` ``(V,)``). ``α_t`` is probability × self-information (not a log-prob);
    ``α = 0`` where ``p = 0``. An empty ``FOS`` scores 0. Higher means member (the paper's ``β``);
    ``negate=True`` gives the script's ``pred["DC-PDD"] = −mean``.

    Paper: Pretraining Data Detection for Large Language Models: A Divergence-based Calibration Method
    (2024, arXiv:2409.14781); code ``zhang-wei-chao/DC-PDD`` ``com_det_sco.py``.

    Differences: ``cal_met`` indexes ``fre_dis``, the raw counts, although ``__main__`` computes the
    smoothed ``fre_dis_smo`` (``frequency="raw_counts"`` reproduces the index: ``log(1/cnt)``, ``+inf``
    for an unseen token, capped at ``a``); ``--a`` is parsed as a string there; ``np.mean`` of an empty
    selection is NaN there.
    """
    fn = "dc_pdd_score"
    check_params(fn, a=a, ignore_index=ignore_index, frequency=frequency, negate=negate)
    lp = _log_probs(fn, log_probs)
    c = as_f64(counts)
    if c.ndim != 1 or c.shape[0] == 0:
        raise ShapeError(fn, "counts", "a non-empty 1-D array (V,)", f"shape {c.shape}")
    check_finite(fn, "counts", c, np)
    if np.any(c < 0):
        raise DomainError(fn, "counts", "counts >= 0", f"a minimum of {float(np.min(c))!r}")
    ids_arr = np.asarray(input_ids)
    check_same_shape(fn, log_probs=lp, input_ids=ids_arr)
    if not np.issubdtype(ids_arr.dtype, np.integer):
        raise DTypeError(fn, "input_ids", "an integer dtype", f"dtype {ids_arr.dtype}")
    ids = _ids(fn, "input_ids", ids_arr, c.shape[0], ignore_index)
    f = (c + 1.0) / (float(np.sum(c)) + c.shape[0]) if frequency == "smoothed" else c
    flat_lp = lp.reshape(-1, lp.shape[-1]) if lp.shape[-1] else lp.reshape(-1, 0)
    flat_ids = ids.reshape(flat_lp.shape)
    out = np.zeros(flat_lp.shape[0])
    for r in range(flat_lp.shape[0]):
        seen: set[int] = set()
        alphas: list[float] = []
        for t in range(flat_lp.shape[1]):
            v = int(flat_ids[r, t])
            if v == ignore_index or v in seen:
                continue
            seen.add(v)
            p = math.exp(float(flat_lp[r, t]))
            info = math.inf if f[v] == 0 else -math.log(float(f[v]))
            alpha = 0.0 if p == 0 else p * info
            alphas.append(min(alpha, a))
        out[r] = sum(alphas) / len(alphas) if alphas else 0.0
    score = out.reshape(lp.shape[:-1])
    return np.asarray(-score if negate else score, dtype=np.float64)
