"""Reference (NumPy float64) truncation filters: top-k, top-p, min-p, typical, epsilon, eta, Top-H.

Conventions shared by every filter (sort order, ties, ``min_tokens_to_keep``, log space) are in
:mod:`reference.decoding._common`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.decoding._common import (
    _entropy,
    _first,
    _guard_kth,
    _keep,
    _log_softmax,
    _log_threshold,
    _logits,
    _order,
    _rowwise,
    _softmax,
)
from spec.decoding.truncation import TOP_H_PROBABILITY_FLOOR
from spec.validate import check_params

__all__ = ["epsilon_filter", "eta_filter", "min_p_filter", "top_h_filter", "top_k_filter", "top_p_filter",
           "typical_filter"]


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
    - Zero-probability candidates stop the prefix, as HF's NaN ``0 · log 0`` terms do (the official
      loop never breaks on them and fails). "Zero" is ``q <= 2^-100``
      (:data:`spec.decoding.TOP_H_PROBABILITY_FLOOR`) in every precision, so a candidate that
      underflows in float32 (``e^-104``) but not in float64 is treated alike.
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
        pos = q > TOP_H_PROBABILITY_FLOOR  # below the floor counts as zero in every precision
        terms[pos] = -q[pos] * np.log(q[pos])
        cum = np.cumsum(terms)
        tau = alpha * cum[-1]
        n = 0
        for m in range(n_top):  # the prefix: stop at the first zero-probability or over-budget token
            if not (pos[m] and cum[m] <= tau):
                break
            n = m + 1
        kept = _first(order, max(n, 1), v) | _first(order, min(min_tokens_to_keep, v), v)
        return _keep(r, kept)

    return _rowwise(z, row)


