"""Mutants of the truncation filters: small NumPy (or Torch) filters, each with one plausible bug.

Every mutant validates its input like a careful port would (the spec's parameter domains, NaN /
``+inf`` / all ``-inf`` rows), so only the planted bug can get it caught.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from accelerated._xp import namespace
from conformance.mutants import Mutant
from spec.validate import check_finite, check_params, check_vocab_axis

__all__ = ["MUTANTS"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
NEG = -math.inf


def _valid(fn: str, logits: Any, **params: Any) -> F64:
    check_params(fn, **params)
    z = np.asarray(logits)
    check_vocab_axis(fn, "logits", z)
    check_finite(fn, "logits", z, np, allow_neg_inf=True)
    return np.asarray(z, dtype=np.float64)


def _rowwise(z: F64, rule: Callable[[F64], B], dtype: Any) -> Any:
    kept = np.zeros(z.shape, dtype=bool)
    for idx in np.ndindex(*z.shape[:-1]):
        kept[idx] = rule(z[idx])
    return np.where(kept, z, NEG).astype(dtype)


def _probs(r: F64) -> F64:
    e = np.exp(r - r.max())
    return np.asarray(e / e.sum())


def _logp(r: F64) -> F64:
    s = r - r.max()
    return np.asarray(s - np.log(np.sum(np.exp(s))))


def _first(order: Any, n: int, v: int) -> B:
    m = np.zeros(v, dtype=bool)
    m[order[:n]] = True
    return m


def _desc(r: F64) -> Any:
    return np.argsort(-r, kind="stable")


# --------------------------------------------------------------------------- top-k


def _top_k(*, honour_min: bool = True, highest_index: bool = False, strict: bool = False) -> Callable[..., Any]:
    def top_k_filter(logits: Any, k: int, *, ties: str = "keep", min_tokens_to_keep: int = 1) -> Any:
        z = _valid("top_k_filter", logits, k=k, ties=ties, min_tokens_to_keep=min_tokens_to_keep)
        v = z.shape[-1]
        k_eff = min(max(k, min_tokens_to_keep) if honour_min else k, v)

        def rule(r: F64) -> B:
            order = _desc(r)
            if ties == "keep":
                kth = r[order[k_eff - 1]]
                return np.asarray(r > kth) | (np.asarray(r == kth) & (np.arange(v) == order[k_eff - 1])) \
                    if strict else np.asarray(r >= kth)
            if highest_index:
                order = v - 1 - np.argsort(-r[::-1], kind="stable")
            return _first(order, k_eff, v)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return top_k_filter


# --------------------------------------------------------------------------- top-p


def _top_p(*, drop_crossing: bool = False, non_strict: bool = False, honour_min: bool = True) -> Callable[..., Any]:
    def top_p_filter(logits: Any, p: float, *, min_tokens_to_keep: int = 1) -> Any:
        z = _valid("top_p_filter", logits, p=p, min_tokens_to_keep=min_tokens_to_keep)
        v = z.shape[-1]
        if p == 1.0:
            return np.asarray(logits).copy()

        def rule(r: F64) -> B:
            order = _desc(r)
            probs = _probs(r)[order]
            cum = np.cumsum(probs)
            if drop_crossing:
                n = int(np.sum(cum <= p))  # the classic `cumsum > p` removal: drops the crossing token
            else:
                before = cum - probs
                n = int(np.sum(before <= p)) if non_strict else int(np.sum(before < p))
            if honour_min:
                n = max(n, min_tokens_to_keep)
            return _first(order, min(n, v), v)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return top_p_filter


def _top_p_bf16_accumulation(logits: Any, p: float, *, min_tokens_to_keep: int = 1) -> Any:
    """Torch: softmax and cumulative sum in the input dtype (bfloat16) instead of float32."""
    import torch

    check_params("top_p_filter", p=p, min_tokens_to_keep=min_tokens_to_keep)
    check_vocab_axis("top_p_filter", "logits", logits)
    check_finite("top_p_filter", "logits", logits, namespace(logits), allow_neg_inf=True)
    if p == 1.0:
        return logits.clone()
    order = torch.argsort(-logits, dim=-1, stable=True)
    probs = torch.softmax(torch.gather(logits, -1, order), dim=-1)  # bf16 in, bf16 accumulation
    before = torch.cumsum(probs, dim=-1) - probs
    n = (before < p).sum(dim=-1).clamp(min=min_tokens_to_keep, max=logits.shape[-1])
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(logits.shape[-1]).expand_as(order))
    kept = ranks < n.unsqueeze(-1)
    return torch.where(kept, logits, torch.full_like(logits, NEG))


# --------------------------------------------------------------------------- min-p


def _min_p(*, max_logit: bool = False, non_strict: bool = False) -> Callable[..., Any]:
    def min_p_filter(logits: Any, min_p: float, *, min_tokens_to_keep: int = 1) -> Any:
        z = _valid("min_p_filter", logits, min_p=min_p, min_tokens_to_keep=min_tokens_to_keep)
        v = z.shape[-1]

        def rule(r: F64) -> B:
            if max_logit:
                removed = r < min_p * r.max()  # relative to the max *logit*, not the max probability
            else:
                probs = _probs(r)
                thr = min_p * probs.max()
                removed = probs <= thr if non_strict else probs < thr
            return np.asarray(~removed) | _first(_desc(r), min(min_tokens_to_keep, v), v)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return min_p_filter


# --------------------------------------------------------------------------- typical


def _typical(*, descending: bool = False, exclude_crossing: bool = False) -> Callable[..., Any]:
    def typical_filter(logits: Any, mass: float = 0.9, *, min_tokens_to_keep: int = 1) -> Any:
        z = _valid("typical_filter", logits, mass=mass, min_tokens_to_keep=min_tokens_to_keep)
        v = z.shape[-1]

        def rule(r: F64) -> B:
            logp = _logp(r)
            p = np.exp(logp)
            h = -np.sum(np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0))
            score = np.abs(-logp - h)
            order = np.argsort(-score if descending else score, kind="stable")
            cum = np.cumsum(p[order])
            last = int(np.sum(cum < mass)) - (1 if exclude_crossing else 0)
            last = min(max(last, 0), v - 1)
            removed = (score < score[order[last]]) if descending else (score > score[order[last]])
            return np.asarray(~removed) | _first(order, min(min_tokens_to_keep, v), v)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return typical_filter


# --------------------------------------------------------------------------- epsilon / eta


def _guard(r: F64, m: int) -> B:
    return np.asarray(r >= np.sort(r)[::-1][min(m, r.size) - 1])


def _epsilon(*, raw_logits: bool = False, non_strict: bool = False) -> Callable[..., Any]:
    def epsilon_filter(logits: Any, epsilon: float, *, min_tokens_to_keep: int = 1) -> Any:
        z = _valid("epsilon_filter", logits, epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)

        def rule(r: F64) -> B:
            x = r if raw_logits else _logp(r)  # raw logits compared with log(eps): the wrong side of the softmax
            removed = x <= math.log(epsilon) if non_strict else x < math.log(epsilon)
            return np.asarray(~removed) | _guard(r, min_tokens_to_keep)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return epsilon_filter


def _eta(*, form: str) -> Callable[..., Any]:
    def eta_filter(logits: Any, epsilon: float, *, min_tokens_to_keep: int = 1) -> Any:
        z = _valid("eta_filter", logits, epsilon=epsilon, min_tokens_to_keep=min_tokens_to_keep)

        def rule(r: F64) -> B:
            logp = _logp(r)
            p = np.exp(logp)
            h = float(-np.sum(np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0)))
            if form == "no_entropy":
                eta = min(epsilon, math.sqrt(epsilon))
            elif form == "docstring":
                eta = min(epsilon, math.sqrt(epsilon * math.exp(-h)))
            else:  # entropy in bits
                eta = min(epsilon, math.sqrt(epsilon) * math.exp(-h / math.log(2)))
            return np.asarray(~(p < eta)) | _guard(r, min_tokens_to_keep)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return eta_filter


# --------------------------------------------------------------------------- top-h


def _top_h(*, keep_crossing: bool = False, full_entropy: bool = False) -> Callable[..., Any]:
    def top_h_filter(logits: Any, alpha: float, *, criterion: str = "hf", top_n: int = 100, temperature: float = 1.0,
                     min_tokens_to_keep: int = 1) -> Any:
        z = _valid("top_h_filter", logits, alpha=alpha, criterion=criterion, top_n=top_n, temperature=temperature,
                   min_tokens_to_keep=min_tokens_to_keep)
        v = z.shape[-1]
        n_top = min(top_n, v)

        def rule(r: F64) -> B:
            order = _desc(r)
            zc = (r - r.max()) / temperature
            full = _probs(zc)
            q = _probs(zc[order[:n_top]]) if criterion == "hf" else full[order[:n_top]]
            terms = np.where(q > 0, -q * np.log(np.where(q > 0, q, 1.0)), 0.0)
            cum = np.cumsum(terms)
            total = float(-np.sum(np.where(full > 0, full * np.log(np.where(full > 0, full, 1.0)), 0.0))) \
                if full_entropy else cum[-1]
            tau = alpha * total
            n = 0
            for m in range(n_top):
                if not q[m] > 0:
                    break
                if cum[m] > tau:
                    n = m + 1 if keep_crossing else m  # keep_crossing: stops after the token that crosses
                    break
                n = m + 1
            return _first(order, max(n, 1, min(min_tokens_to_keep, v)), v)

        return _rowwise(z, rule, np.asarray(logits).dtype)

    return top_h_filter


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "top_k_filter": (
        Mutant("ignores_min_tokens_to_keep", "k_eff = min(k, V): min_tokens_to_keep never raises k",
               _top_k(honour_min=False)),
        Mutant("exact_ties_highest_index", "ties='exact' breaks ties to the highest index", _top_k(highest_index=True)),
        Mutant("keep_drops_ties", "ties='keep' keeps exactly k (the k-th token only, not its ties)",
               _top_k(strict=True)),
    ),
    "top_p_filter": (
        Mutant("drops_crossing_token", "removes tokens with cumsum > p (the classic bug): the crossing token goes",
               _top_p(drop_crossing=True)),
        Mutant("non_strict_cut", "keeps a token when the mass before it is <= p (keeps one extra at equality)",
               _top_p(non_strict=True)),
        Mutant("ignores_min_tokens_to_keep", "never forces min_tokens_to_keep tokens", _top_p(honour_min=False)),
        Mutant("bf16_accumulation", "softmax and cumsum in the input dtype (bfloat16) instead of float32",
               _top_p_bf16_accumulation, backend="torch-cpu", dtypes=("bfloat16",)),
    ),
    "min_p_filter": (
        Mutant("relative_to_max_logit", "removes z < min_p * max z (the max logit, not the max probability)",
               _min_p(max_logit=True)),
        Mutant("le_threshold", "removes p <= min_p * p_max (tokens exactly at the threshold go)",
               _min_p(non_strict=True)),
    ),
    "typical_filter": (
        Mutant("sorted_descending", "sorts typicality scores descending (least typical first)",
               _typical(descending=True)),
        Mutant("excludes_crossing", "stops before the token whose cumulative mass crosses mass",
               _typical(exclude_crossing=True)),
    ),
    "epsilon_filter": (
        Mutant("raw_logits_threshold", "compares raw logits with log(eps) instead of log-probabilities",
               _epsilon(raw_logits=True)),
        Mutant("le_threshold", "removes log p <= log eps (tokens exactly at eps go)", _epsilon(non_strict=True)),
    ),
    "eta_filter": (
        Mutant("no_entropy_term", "eta = min(eps, sqrt(eps)) without the exp(-H) factor", _eta(form="no_entropy")),
        Mutant("docstring_form", "eta = min(eps, sqrt(eps * exp(-H))) (HF's docstring, not its code)",
               _eta(form="docstring")),
        Mutant("entropy_in_bits", "exp(-H) with H in bits", _eta(form="bits")),
    ),
    "top_h_filter": (
        Mutant("keeps_crossing_token", "stops after the candidate whose partial entropy exceeds the budget",
               _top_h(keep_crossing=True)),
        Mutant("budget_from_full_entropy", "tau = alpha x the entropy of the full distribution, not of the candidates",
               _top_h(full_entropy=True)),
    ),
}
