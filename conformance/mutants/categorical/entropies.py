"""Mutants of the ``categorical`` entropies: plausible wrong ports, each with one bug."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.categorical._common import F64, log_softmax, logits_in, probs_in, xlogx
from spec.validate import check_params

__all__ = ["MUTANTS"]


# --------------------------------------------------------------------------- entropy


def entropy_base_ignored(probs: Any, *, axis: int = -1, base: float | None = None) -> F64:
    check_params("entropy", base=base)
    p = probs_in("entropy", "probs", probs, axis)
    return np.asarray(-np.sum(xlogx(p), axis=axis))  # bug: `base` accepted but never applied


def entropy_log2(probs: Any, *, axis: int = -1, base: float | None = None) -> F64:
    check_params("entropy", base=base)
    p = probs_in("entropy", "probs", probs, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)  # bug: bits, not nats
    h = -np.sum(terms, axis=axis)
    return np.asarray(h if base is None else h * math.log(2.0) / math.log(base))


def entropy_eps_log(probs: Any, *, axis: int = -1, base: float | None = None) -> F64:
    check_params("entropy", base=base)
    p = probs_in("entropy", "probs", probs, axis)
    h = -np.sum(p * np.log(p + 1e-8), axis=axis)  # bug: log(p + eps) "to avoid log 0"
    return np.asarray(h if base is None else h / math.log(base))


# --------------------------------------------------------------------------- entropy_from_logits


def efl_temperature_ignored(logits: Any, *, axis: int = -1, temperature: float = 1.0) -> F64:
    check_params("entropy_from_logits", temperature=temperature)
    z = logits_in("entropy_from_logits", "logits", logits, axis)
    lp = log_softmax(z)  # bug: temperature accepted but not applied
    return np.asarray(-np.sum(np.where(np.isfinite(lp), np.exp(lp) * np.where(np.isfinite(lp), lp, 0.0), 0.0), -1))


def efl_temperature_multiplied(logits: Any, *, axis: int = -1, temperature: float = 1.0) -> F64:
    check_params("entropy_from_logits", temperature=temperature)
    z = logits_in("entropy_from_logits", "logits", logits, axis)
    lp = log_softmax(z, 1.0 / temperature)  # bug: z * T instead of z / T
    return np.asarray(-np.sum(np.where(np.isfinite(lp), np.exp(lp) * np.where(np.isfinite(lp), lp, 0.0), 0.0), -1))


def efl_no_max_shift(logits: Any, *, axis: int = -1, temperature: float = 1.0) -> F64:
    check_params("entropy_from_logits", temperature=temperature)
    z = logits_in("entropy_from_logits", "logits", logits, axis)
    with np.errstate(all="ignore"):
        e = np.exp(z / temperature)  # bug: no max shift, overflows for large logits / small T
        p = e / np.sum(e, axis=-1, keepdims=True)
        return np.asarray(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1))


def efl_detached_probs(logits: Any, *, axis: int = -1, temperature: float = 1.0) -> Any:
    import torch

    from accelerated._xp import namespace
    from spec.validate import check_finite, check_vocab_axis

    check_params("entropy_from_logits", temperature=temperature)
    check_vocab_axis("entropy_from_logits", "logits", logits, axis)
    check_finite("entropy_from_logits", "logits", logits, namespace(logits), allow_neg_inf=True, axis=axis)
    y = (logits - logits.max(dim=-1, keepdim=True).values.detach()) / temperature
    lse = torch.logsumexp(y, dim=-1)
    p = torch.softmax(y, dim=-1).detach()  # bug: p detached "to save memory": the gradient is wrong
    return lse - (p * torch.where(torch.isinf(y), torch.zeros_like(y), y)).sum(-1)


# --------------------------------------------------------------------------- renyi_entropy


def _support_power_sum(p: F64, alpha: float) -> F64:
    with np.errstate(divide="ignore"):
        return np.asarray(np.sum(np.where(p > 0, np.power(np.where(p > 0, p, 1.0), alpha), 0.0), axis=-1))


def renyi_naive_near_one(probs: Any, alpha: float, *, axis: int = -1) -> F64:
    check_params("renyi_entropy", alpha=alpha)
    p = probs_in("renyi_entropy", "probs", probs, axis)
    if alpha == 1.0:
        return np.asarray(-np.sum(xlogx(p), axis=-1))
    if alpha == 0.0:
        return np.asarray(np.log(np.sum(p > 0, axis=-1).astype(float)))
    if math.isinf(alpha):
        return np.asarray(-np.log(np.max(p, axis=-1)))
    return np.asarray(np.log(_support_power_sum(p, alpha)) / (1.0 - alpha))  # bug: cancels near α = 1


def renyi_zero_counts_all(probs: Any, alpha: float, *, axis: int = -1) -> F64:
    check_params("renyi_entropy", alpha=alpha)
    p = probs_in("renyi_entropy", "probs", probs, axis)
    if alpha == 1.0:
        return np.asarray(-np.sum(xlogx(p), axis=-1))
    if math.isinf(alpha):
        return np.asarray(-np.log(np.max(p, axis=-1)))
    # bug: Σ p^α over all categories, so 0^0 = 1 makes α = 0 count zeros (log K, not log |supp|)
    s = np.sum(np.power(p, alpha), axis=-1)
    if alpha == 0.0:
        return np.asarray(np.log(s))
    return np.asarray(np.log1p(np.sum(p * np.expm1((alpha - 1.0) * np.log(np.where(p > 0, p, 1.0))), -1))
                      / (1.0 - alpha))


def renyi_inf_min(probs: Any, alpha: float, *, axis: int = -1) -> F64:
    check_params("renyi_entropy", alpha=alpha)
    p = probs_in("renyi_entropy", "probs", probs, axis)
    if math.isinf(alpha):  # bug: min-entropy from the smallest positive probability
        return np.asarray(-np.log(np.min(np.where(p > 0, p, 1.0), axis=-1)))
    if alpha == 1.0:
        return np.asarray(-np.sum(xlogx(p), axis=-1))
    if alpha == 0.0:
        return np.asarray(np.log(np.sum(p > 0, axis=-1).astype(float)))
    lp = np.log(np.where(p > 0, p, 1.0))
    return np.asarray(np.log1p(np.sum(np.where(p > 0, p * np.expm1((alpha - 1.0) * lp), 0.0), -1)) / (1.0 - alpha))


# --------------------------------------------------------------------------- tsallis_entropy


def tsallis_wrong_normaliser(probs: Any, q: float, *, axis: int = -1) -> F64:
    check_params("tsallis_entropy", q=q)
    p = probs_in("tsallis_entropy", "probs", probs, axis)
    if q == 1.0:
        return np.asarray(-np.sum(xlogx(p), axis=-1))
    return np.asarray((1.0 - _support_power_sum(p, q)) / (1.0 - q))  # bug: 1 − q instead of q − 1


def tsallis_no_limit(probs: Any, q: float, *, axis: int = -1) -> F64:
    check_params("tsallis_entropy", q=q)
    p = probs_in("tsallis_entropy", "probs", probs, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((1.0 - _support_power_sum(p, q)) / (q - 1.0))  # bug: q = 1 not taken as a limit


def tsallis_eps_log(probs: Any, q: float, *, axis: int = -1) -> F64:
    check_params("tsallis_entropy", q=q)
    p = probs_in("tsallis_entropy", "probs", probs, axis)
    if q == 1.0:
        return np.asarray(-np.sum(p * np.log(p + 1e-8), axis=-1))  # bug: log(p + eps) "to avoid log 0"
    lp = np.log(p + 1e-8)  # the same eps in the expm1 form
    return np.asarray(-np.sum(np.where(p > 0, p * np.expm1((q - 1.0) * lp), 0.0), axis=-1) / (q - 1.0))


# --------------------------------------------------------------------------- top_p_renormalized_entropy


def _top_p(logits: Any, p: float, k: int | None, *, keep_crossing: bool = False, renormalise: bool = True,
           use_k: bool = True, ascending: bool = False) -> F64:
    check_params("top_p_renormalized_entropy", p=p, k=k)
    z = logits_in("top_p_renormalized_entropy", "logits", logits)
    v = z.shape[-1]
    kk = v if (k is None or not use_k) else min(k, v)
    pi = np.exp(log_softmax(z))
    s = np.sort(pi, axis=-1)
    s = s if ascending else s[..., ::-1]
    c = np.cumsum(s, axis=-1)
    keep = (c - s < p) if keep_crossing else (c < p)
    keep[..., kk:] = False
    kept = np.where(keep, s, 0.0)
    mass = np.sum(kept, axis=-1, keepdims=True) if renormalise else 1.0
    q = kept / (mass + 1e-12)
    return np.asarray(-np.sum(np.where(keep, q * np.log(q + 1e-12), 0.0), axis=-1))


def top_p_keeps_crossing(logits: Any, p: float = 0.8, *, k: int | None = None) -> F64:
    return _top_p(logits, p, k, keep_crossing=True)  # bug: HF nucleus rule, keeps the token reaching p


def top_p_not_renormalised(logits: Any, p: float = 0.8, *, k: int | None = None) -> F64:
    return _top_p(logits, p, k, renormalise=False)  # bug: entropy of π on S, not of π/Σ_S π


def top_p_k_ignored(logits: Any, p: float = 0.8, *, k: int | None = None) -> F64:
    return _top_p(logits, p, k, use_k=False)  # bug: the top-k pre-filter is dropped


def top_p_ascending(logits: Any, p: float = 0.8, *, k: int | None = None) -> F64:
    return _top_p(logits, p, k, ascending=True)  # bug: cumulative sum over the least likely tokens first


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "entropy": (
        Mutant("base_ignored", "`base` accepted but the result stays in nats", entropy_base_ignored),
        Mutant("log2_default", "log2 instead of ln when base is None (bits reported as nats)", entropy_log2),
        Mutant("eps_in_log", "-Σ p log(p + 1e-8) instead of 0 log 0 = 0", entropy_eps_log),
    ),
    "entropy_from_logits": (
        Mutant("temperature_ignored", "the temperature is not applied", efl_temperature_ignored),
        Mutant("temperature_multiplied", "z * T instead of z / T", efl_temperature_multiplied),
        Mutant("no_max_shift", "softmax without subtracting the row max (overflow)", efl_no_max_shift),
        Mutant("detached_probs", "p detached in Σ p·y: right values, wrong gradient", efl_detached_probs,
               backend="torch-cpu", dtypes=("float64",)),
    ),
    "renyi_entropy": (
        Mutant("naive_near_one", "log Σ p^α / (1 − α) without expm1: cancellation near α = 1",
               renyi_naive_near_one),
        Mutant("zero_counts_all", "Σ p^α over all categories: 0^0 = 1 at α = 0 counts zeros", renyi_zero_counts_all),
        Mutant("inf_uses_min", "α = ∞ as −log min p instead of −log max p", renyi_inf_min),
    ),
    "tsallis_entropy": (
        Mutant("wrong_normaliser", "(1 − Σ p^q)/(1 − q) instead of /(q − 1)", tsallis_wrong_normaliser),
        Mutant("no_q1_limit", "q = 1 evaluated by the generic formula (0/0)", tsallis_no_limit),
        Mutant("eps_in_log", "log(p + 1e-8) instead of log p on the support", tsallis_eps_log),
    ),
    "top_p_renormalized_entropy": (
        Mutant("keeps_crossing", "keeps the token whose cumsum first reaches p (HF nucleus rule)",
               top_p_keeps_crossing),
        Mutant("not_renormalised", "entropy of π restricted to S, not renormalised", top_p_not_renormalised),
        Mutant("k_ignored", "the top-k pre-filter is ignored", top_p_k_ignored),
        Mutant("ascending", "cumulative sum in ascending probability order", top_p_ascending),
    ),
}
