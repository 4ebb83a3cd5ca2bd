"""Reference (NumPy float64) implementations of the ``decoding`` family.

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

from reference._math import F64, as_f64
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_vocab_axis

__all__ = [
    "epsilon_filter",
    "eta_filter",
    "min_p_filter",
    "sample",
    "temperature_scale",
    "top_h_filter",
    "top_k_filter",
    "top_p_filter",
    "typical_filter",
]

I64 = npt.NDArray[np.int64]
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
    """Shift-exact log-softmax of one row: ``(z - max) - log Σ exp(z - max)``."""
    s = z - np.max(z)
    return s - math.log(float(np.sum(np.exp(s))))


def _softmax(z: F64) -> F64:
    """Shift-exact softmax of one row: ``exp(z - max) / Σ exp(z - max)`` (exact for equal logits)."""
    e = np.exp(z - np.max(z))
    return np.asarray(e / np.sum(e))


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


# --------------------------------------------------------------------------- temperature


def temperature_scale(logits: npt.ArrayLike, temperature: float) -> F64:
    r"""Temperature scaling ``z / T``.

    Peer: transformers ``TemperatureLogitsWarper`` (``scores / temperature``); temperature itself
    goes back to Boltzmann machines (Ackley, Hinton & Sejnowski, "A Learning Algorithm for
    Boltzmann Machines", 1985).

    Conventions: ``T`` must be a finite float ``> 0``. ``T = 0`` raises :class:`ParameterError`
    (like HF, which raises ``ValueError`` and points to greedy decoding): the ``T -> 0`` limit is
    greedy decoding, which has no finite logits representation, and silently returning a one-hot
    mask would change what later filters see. ``T = inf`` and NaN raise too. ``-inf`` logits stay
    ``-inf``; a result that overflows the dtype is ``±inf`` (IEEE), so keep ``|z| / T`` in range.
    Gradient: ``∂(z/T)/∂z = 1/T`` (the only differentiable method of this family).
    """
    check_params("temperature_scale", temperature=temperature)
    z = _logits("temperature_scale", logits)
    return np.asarray(z / float(temperature), dtype=np.float64)


# --------------------------------------------------------------------------- top-k


def top_k_filter(logits: npt.ArrayLike, k: int, *, ties: str = "keep", min_tokens_to_keep: int = 1) -> F64:
    r"""Top-k truncation: keep the ``k`` largest logits.

    Paper: A. Fan, M. Lewis, Y. Dauphin, "Hierarchical Neural Story Generation" (2018,
    arXiv:1805.04833). Peer: transformers 5.23.0 ``TopKLogitsWarper``.

    ``k_eff = min(max(k, min_tokens_to_keep), V)`` (HF). Ties policy ``ties``:

    - ``"keep"`` (HF, vLLM's PyTorch path): remove tokens with ``z < kth`` where ``kth`` is the
      ``k_eff``-th largest logit, so every token tied with it survives (more than ``k`` may);
    - ``"exact"`` (FlashInfer / Triton kernels): exactly ``k_eff`` tokens, ties broken by the lowest
      vocabulary index.

    ``k >= V`` is the identity. ``-inf`` entries that fall inside the kept set stay ``-inf``.
    """
    check_params("top_k_filter", k=k, ties=ties, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("top_k_filter", logits)
    v = z.shape[-1]
    k_eff = min(max(k, min_tokens_to_keep), v)

    def row(r: F64) -> F64:
        order = _order(r)
        if ties == "keep":
            return _keep(r, r >= r[order[k_eff - 1]])
        return _keep(r, _first(order, k_eff, v))

    return _rowwise(z, row)


# --------------------------------------------------------------------------- top-p


def top_p_filter(logits: npt.ArrayLike, p: float, *, min_tokens_to_keep: int = 1) -> F64:
    r"""Top-p (nucleus) truncation: the smallest most-probable set whose mass reaches ``p``.

    Paper: A. Holtzman, J. Buys, L. Du, M. Forbes, Y. Choi, "The Curious Case of Neural Text
    Degeneration" (2019, arXiv:1904.09751). Peer: transformers 5.23.0 ``TopPLogitsWarper``.

    HF rule, reproduced step by step: sort the probabilities ascending, ``cum`` = their cumulative
    sum, remove tokens with ``cum <= 1 - p``, then force-keep the ``min_tokens_to_keep`` most
    probable. Equivalently a token is kept iff the mass of the tokens strictly before it (in
    descending order) is ``< p``: the token that *crosses* ``p`` is **included**; when the top mass
    equals ``p`` exactly no extra token is kept (transformers #18976).

    Order and ties: stable descending order of the logits (lowest index first among ties).

    Degenerate values: ``p = 0`` keeps exactly the ``min_tokens_to_keep`` most probable tokens
    (HF's result up to round-off; the old all ``-inf`` + NaN behaviour of transformers #19839 cannot
    happen). ``p = 1`` returns the input unchanged, i.e. keeps every finite logit — HF's
    ``generate`` does not install the warper at ``top_p = 1.0``; the bare warper would also drop
    tokens whose probability underflows to 0.
    """
    check_params("top_p_filter", p=p, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("top_p_filter", logits)
    if p == 1.0:
        return z.copy()
    v = z.shape[-1]

    def row(r: F64) -> F64:
        order = _order(r)
        probs = _softmax(r[order])  # descending
        tail = np.cumsum(probs[::-1])[::-1]  # HF's ascending cumulative sum, read in descending order
        n = 0 if p == 0.0 else int(np.sum(tail > 1.0 - p))
        n = min(max(n, min_tokens_to_keep), v)
        return _keep(r, _first(order, n, v))

    return _rowwise(z, row)


# --------------------------------------------------------------------------- min-p


def min_p_filter(logits: npt.ArrayLike, min_p: float, *, min_tokens_to_keep: int = 1) -> F64:
    r"""Min-p truncation: remove tokens with ``p_v < min_p · max_u p_u``.

    Paper: M. N. Nguyen et al., "Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM
    Outputs" (2024, arXiv:2407.01082). Peer: transformers 5.23.0 ``MinPLogitsWarper``.

    Computed as ``z_v - max z < log(min_p)`` (the same inequality as HF's ``p < min_p · p_max``,
    since ``p_v / p_max = exp(z_v - z_max)``), strict, so tokens exactly at the threshold stay. The
    ``min_tokens_to_keep`` most probable tokens are always kept (HF scatters ``topk`` indices:
    exactly that many; here ties go to the lowest index).

    ``min_p = 0`` is the identity; ``min_p = 1`` keeps exactly the tokens tied at the maximum (plus
    the forced ones).
    """
    check_params("min_p_filter", min_p=min_p, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("min_p_filter", logits)
    v = z.shape[-1]
    log_t = _log_threshold(min_p)

    def row(r: F64) -> F64:
        removed = (r - np.max(r)) < log_t
        forced = _first(_order(r), min(min_tokens_to_keep, v), v)
        return _keep(r, ~removed | forced)

    return _rowwise(z, row)


# --------------------------------------------------------------------------- typical


def typical_filter(logits: npt.ArrayLike, mass: float = 0.9, *, min_tokens_to_keep: int = 1) -> F64:
    r"""Locally typical truncation.

    Paper: C. Meister, T. Pimentel, G. Wiher, R. Cotterell, "Locally Typical Sampling" (2022,
    arXiv:2202.00666; first titled "Typical Decoding for Natural Language Generation", which the HF
    docstring cites). Peer: transformers 5.23.0 ``TypicalLogitsWarper`` (HF default ``mass = 0.9``).

    ``log p = log_softmax(z)``, ``H = -Σ p log p``, typicality score ``s_v = |−log p_v − H|``
    (``+inf`` for ``-inf`` logits). Sort tokens by ``s`` ascending, ``cum`` = cumulative probability
    in that order, ``last = min(#{cum < mass}, V - 1)``; remove tokens with ``s > s[last]`` (so ties
    with the boundary score are kept) and force-keep the first ``min_tokens_to_keep`` tokens of the
    order. The kept set is the smallest typical set with mass ``>= mass`` (HF's rule after #27165
    reverted #26579).

    Ties policy: tokens with equal scores (equal logits) are kept or removed together, as in HF;
    the forced tokens among them go to the lowest index. Precision: the order is that of the
    *computed* scores, so logits that differ by less than the working precision (e.g. 0 and 1e-9
    in float32) can be ordered differently in float32 and float64 — an ill-conditioned input for
    every implementation of this rule, HF's included.

    The most probable token can be removed (unlike every other filter here). ``mass`` must lie in
    ``(0, 1)`` (HF); a row whose logits are all equal keeps every token (all scores tie).
    """
    check_params("typical_filter", mass=mass, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("typical_filter", logits)
    v = z.shape[-1]

    def row(r: F64) -> F64:
        logp = _log_softmax(r)
        score = np.abs(-logp - _entropy(logp))
        order = np.argsort(score, kind="stable")  # ascending score; ties: lowest index first
        cum = np.cumsum(_softmax(r)[order])
        last = min(int(np.sum(cum < mass)), v - 1)
        removed = score > score[order[last]]
        forced = _first(order, min(min_tokens_to_keep, v), v)
        return _keep(r, ~removed | forced)

    return _rowwise(z, row)


# --------------------------------------------------------------------------- epsilon / eta


def epsilon_filter(logits: npt.ArrayLike, epsilon: float, *, min_tokens_to_keep: int = 1) -> F64:
    r"""Epsilon truncation: remove tokens with ``p_v < ε``.

    Paper: J. Hewitt, C. D. Manning, P. Liang, "Truncation Sampling as Language Model Desmoothing"
    (2022, arXiv:2210.15191). Peer: transformers 5.23.0 ``EpsilonLogitsWarper``.

    ``log p_v < log ε`` removes (strict). Guard (HF): tokens whose logit is ``>=`` the
    ``min_tokens_to_keep``-th largest logit are never removed, so the argmax (and its ties) always
    survives. ``ε`` must lie in ``(0, 1)`` (HF).
    """
    check_params("epsilon_filter", epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("epsilon_filter", logits)
    log_t = math.log(epsilon)

    def row(r: F64) -> F64:
        removed = _log_softmax(r) < log_t
        return _keep(r, ~removed | _guard_kth(r, min_tokens_to_keep))

    return _rowwise(z, row)


def eta_filter(logits: npt.ArrayLike, epsilon: float, *, min_tokens_to_keep: int = 1) -> F64:
    r"""Eta truncation: remove tokens with ``p_v < η``, ``η = min(ε, √ε · exp(−H(p)))``.

    Paper: J. Hewitt, C. D. Manning, P. Liang, "Truncation Sampling as Language Model Desmoothing"
    (2022, arXiv:2210.15191). Peer: transformers 5.23.0 ``EtaLogitsWarper`` — the code computes
    ``min(ε, sqrt(ε) * exp(-H))`` (its docstring writes ``sqrt(ε · e^{-H})``; the code and the
    paper agree, and are followed).

    ``H`` is the entropy of ``softmax(z)`` in nats (``-inf`` entries contribute 0). Compared in log
    space: ``log p_v < min(log ε, ½ log ε − H)``. Guard as in :func:`epsilon_filter`. Since
    ``η <= ε`` the kept set always contains epsilon_filter's kept set.
    """
    check_params("eta_filter", epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("eta_filter", logits)
    log_eps = math.log(epsilon)

    def row(r: F64) -> F64:
        logp = _log_softmax(r)
        log_t = min(log_eps, 0.5 * log_eps - _entropy(logp))
        return _keep(r, ~(logp < log_t) | _guard_kth(r, min_tokens_to_keep))

    return _rowwise(z, row)


# --------------------------------------------------------------------------- top-h


def top_h_filter(logits: npt.ArrayLike, alpha: float, *, criterion: str = "hf", top_n: int = 100,
                 temperature: float = 1.0, min_tokens_to_keep: int = 1) -> F64:
    r"""Top-H truncation: the longest most-probable prefix whose partial entropy stays within
    ``alpha`` times a reference entropy.

    Paper: "Top-H Decoding: Adapting the Creativity and Coherence with Bounded Entropy in Text
    Generation" (2025, arXiv:2509.02510; NeurIPS 2025 per the HF docstring). Official code
    ``ErfanBaghaei/Top-H-Decoding:logit_processor.py`` (``TopH_LogitsProcessor``); peer
    transformers 5.23.0 ``TopHLogitsWarper``. The two keep different sets; ``criterion`` picks:

    Let ``N = min(top_n, V)``, the ``N`` largest logits in stable descending order (lowest index
    first among ties), and ``zc = (z - max z) / temperature`` (``temperature`` only shapes the
    criterion; the output keeps the *unscaled* logits, as in the official code).

    - ``criterion="hf"`` (default, what ``generate(top_h=...)`` runs): ``q = softmax(zc)`` over the
      top ``N`` only (**renormalised**); ``c_m = Σ_{i<=m} −q_i log q_i``; keep the ``m`` with
      ``c_m <= alpha · H(q)`` (``H(q) = c_N``), and always the first.
    - ``criterion="official"``: ``p = softmax(zc)`` over the full vocabulary, **not** renormalised,
      top ``N`` of it; ``S(m) = Σ_{i<=m} −p_i log p_i``; ``τ = alpha · S(N)`` (the code's
      ``(H₂(p/A) − log₂A)·A`` with ``bias = 0`` is algebraically ``S(N)``); keep
      ``k = min{m >= 1 : S(m+1) > τ}`` = the largest ``m`` with ``S(m) <= τ``, at least 1. The code's
      test ``H/σ + log₂σ > τ/σ + log₂σ`` is ``S(m+1) > τ``.

    Both are computed in nats; the kept set does not depend on the log base (the official code uses
    bits: both sides scale by ``1/ln 2``). Decisions pinned here where the sources break:

    - ``alpha = 1`` keeps all ``N`` candidates (``τ`` is taken as ``alpha`` times the last
      cumulative value, so the boundary is exact); HF may drop the last one by round-off and the
      official loop runs past ``top_n`` (IndexError).
    - Zero-probability candidates (``-inf`` logits or underflow) stop the prefix, as HF's NaN
      ``0 · log 0`` terms do; the official loop never breaks on them (NaN) and fails.
    - ``top_n`` is clipped to ``V`` (the official ``topk`` raises); the official code accepts batch
      size 1 only — here rows are independent.
    - ``min_tokens_to_keep`` (default 1 = both sources): the ``min_tokens_to_keep`` most probable
      tokens are always kept, even beyond ``top_n`` — HF 5.23.0 has no such argument (its first
      token is always kept); this follows the intent of transformers PR #47262 (open).
    """
    check_params("top_h_filter", alpha=alpha, criterion=criterion, top_n=top_n, temperature=temperature,
                 min_tokens_to_keep=min_tokens_to_keep)
    z = _logits("top_h_filter", logits)
    v = z.shape[-1]
    n_top = min(top_n, v)

    def row(r: F64) -> F64:
        order = _order(r)
        zc = (r - np.max(r)) / temperature
        if criterion == "hf":  # renormalised over the top_n candidates
            q = _softmax(zc[order[:n_top]])
        else:  # full-vocabulary probabilities, not renormalised
            q = _softmax(zc)
            q = q[order[:n_top]]
        terms = np.zeros(n_top)
        pos = q > 0
        terms[pos] = -q[pos] * np.log(q[pos])
        cum = np.cumsum(terms)
        tau = alpha * cum[-1]
        n = 0
        for m in range(n_top):  # the prefix: stop at the first zero-probability or over-budget token
            if not (q[m] > 0 and cum[m] <= tau):
                break
            n = m + 1
        kept = _first(order, max(n, 1), v) | _first(order, min(min_tokens_to_keep, v), v)
        return _keep(r, kept)

    return _rowwise(z, row)


# --------------------------------------------------------------------------- sample


def sample(logits: npt.ArrayLike, uniforms: npt.ArrayLike) -> I64:
    r"""Inverse-CDF sampling from ``softmax(logits)`` with supplied uniforms.

    ``p = softmax(z)`` per row, ``C_j = Σ_{i<=j} p_i`` in **vocabulary order**; the token is
    ``F^{-1}(u) = min{j : z_j finite, C_j > u}``. Two cases follow the exact-arithmetic inverse CDF
    (where every finite logit has ``p_j > 0`` and ``C_{V-1} = 1``) rather than the rounded sums:

    - ``u = 0`` returns the **first finite position**, even when its probability underflows to 0 in
      the working precision (so float32 and float64 agree);
    - when round-off leaves ``u >= C_{V-1}``, the result is clamped to the **last finite position**.

    A ``-inf`` position is never returned.

    Randomness is an input: one ``u`` in ``[0, 1)`` per row, ``uniforms.shape == logits.shape[:-1]``.
    Rows are independent, so the batch size cannot change a row's token. The reference computes the
    cumulative sum in float64; the accelerated version uses float64 for float64 input and float32
    otherwise, so tokens agree across backends except where ``u`` lies within round-off of a
    ``C_j``.

    Errors: a row with no finite logit, NaN logits or uniforms (:class:`DomainError`), uniforms
    outside ``[0, 1)`` (:class:`DomainError`), uniforms of the wrong shape (:class:`ShapeError`).
    Output: int64 indices of shape ``logits.shape[:-1]``.
    """
    z = _logits("sample", logits)
    u = as_f64(uniforms) if np.issubdtype(np.asarray(uniforms).dtype, np.floating) else np.asarray(uniforms)
    if tuple(u.shape) != tuple(z.shape[:-1]):
        raise ShapeError("sample", "uniforms", f"shape {tuple(z.shape[:-1])} (logits.shape[:-1])",
                         f"shape {tuple(u.shape)}")
    check_finite("sample", "uniforms", u, np)
    if np.any((u < 0) | (u >= 1)):
        raise DomainError("sample", "uniforms", "values in [0, 1)", "a value outside [0, 1)")
    out = np.empty(z.shape[:-1], dtype=np.int64)
    for idx in np.ndindex(*z.shape[:-1]):
        cum = np.cumsum(_softmax(z[idx]))
        finite = np.flatnonzero(np.isfinite(z[idx]))
        token = int(finite[-1])  # clamp: the last finite position
        for j in finite:
            if cum[j] > u[idx] or u[idx] == 0:
                token = int(j)
                break
        out[idx] = token
    return out
