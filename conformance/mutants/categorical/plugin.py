"""Mutants of the ``categorical`` plug-in estimators: plausible wrong ports, each with one bug.

Each mutant first calls the reference (validation only, so errors match), then computes its value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.categorical._common import F64
from reference.categorical import plugin as R

__all__ = ["MUTANTS"]


# --------------------------------------------------------------------------- plugin_entropy_log2


def _pe(probs: Any, eps: float, reduction: str, *, log: Any = np.log2, renormalise: bool = False,
        clamp: bool = True) -> F64:
    p = np.asarray(probs, dtype=np.float64)
    pt = np.maximum(p, eps) if clamp else p
    if renormalise:
        pt = pt / np.sum(pt, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = -np.sum(np.where(pt > 0, pt * log(np.where(pt > 0, pt, 1.0)), 0.0), axis=-1)
    if reduction == "none":
        return np.asarray(rows)
    return np.asarray(float(np.mean(rows)) if rows.size else 0.0)


def pe_nats(probs: Any, *, eps: float = 1e-5, reduction: str = "mean") -> F64:
    R.plugin_entropy_log2(probs, eps=eps, reduction=reduction)
    return _pe(probs, eps, reduction, log=np.log)  # bug: natural log, not log2


def pe_renormalised(probs: Any, *, eps: float = 1e-5, reduction: str = "mean") -> F64:
    R.plugin_entropy_log2(probs, eps=eps, reduction=reduction)
    return _pe(probs, eps, reduction, renormalise=True)  # bug: clamped vector renormalised (not the code)


def pe_unclamped(probs: Any, *, eps: float = 1e-5, reduction: str = "mean") -> F64:
    R.plugin_entropy_log2(probs, eps=eps, reduction=reduction)
    return _pe(probs, eps, reduction, clamp=False)  # bug: eps never applied


# --------------------------------------------------------------------------- hellinger_distance


def he_no_half(p: Any, q: Any, *, axis: int = -1) -> F64:
    R.hellinger_distance(p, q, axis=axis)
    d = np.sqrt(np.asarray(p, dtype=np.float64)) - np.sqrt(np.asarray(q, dtype=np.float64))
    return np.asarray(np.sqrt(np.sum(d * d, axis=axis)))  # bug: ‖√p − √q‖ without the 1/√2 (range [0, √2])


def he_squared(p: Any, q: Any, *, axis: int = -1) -> F64:
    R.hellinger_distance(p, q, axis=axis)
    bc = np.sum(np.sqrt(np.asarray(p, dtype=np.float64) * np.asarray(q, dtype=np.float64)), axis=axis)
    return np.asarray(np.clip(1.0 - bc, 0.0, 1.0))  # bug: the squared distance 1 − BC (no square root)


def he_bhattacharyya_distance(p: Any, q: Any, *, axis: int = -1) -> F64:
    R.hellinger_distance(p, q, axis=axis)
    bc = np.sum(np.sqrt(np.asarray(p, dtype=np.float64) * np.asarray(q, dtype=np.float64)), axis=axis)
    with np.errstate(divide="ignore"):
        return np.asarray(np.minimum(-np.log(bc), 1.0))  # bug: the Bhattacharyya distance −log BC


# --------------------------------------------------------------------------- plugin_mutual_information_categorical


def _mi(counts: Any, base: float | None, cell: Any) -> F64:
    c = np.asarray(counts, dtype=np.float64)
    tables = c.reshape(-1, c.shape[-2], c.shape[-1])
    out = np.zeros(tables.shape[0])
    for i, t in enumerate(tables):
        n = float(np.sum(t))
        if n == 0:
            continue
        r, k = np.sum(t, axis=1), np.sum(t, axis=0)
        out[i] = max(sum(cell(float(t[x, y]), n, float(r[x]), float(k[y])) for x, y in zip(*np.nonzero(t),
                                                                                          strict=True)), 0.0)
    mi = out.reshape(c.shape[:-2])
    return np.asarray(mi if base is None else mi / math.log(base))


def mi_no_n(counts: Any, *, base: float | None = None) -> F64:
    R.plugin_mutual_information_categorical(counts, base=base)
    return _mi(counts, base, lambda c, n, r, k: c / n * math.log(c / (r * k)))  # bug: p_x p_y from counts, not /N²


def mi_row_marginal_twice(counts: Any, *, base: float | None = None) -> F64:
    R.plugin_mutual_information_categorical(counts, base=base)
    return _mi(counts, base, lambda c, n, r, k: c / n * math.log(c * n / (r * r)))  # bug: p_x p_x


def mi_base_ignored(counts: Any, *, base: float | None = None) -> F64:
    R.plugin_mutual_information_categorical(counts, base=base)
    return _mi(counts, None, lambda c, n, r, k: c / n * math.log(c * n / (r * k)))  # bug: `base` never applied


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "plugin_entropy_log2": (
        Mutant("natural_log", "nats instead of bits", pe_nats),
        Mutant("renormalised", "the clamped vector renormalised before the entropy", pe_renormalised),
        Mutant("unclamped", "eps never applied (0 log 0 = 0 instead of the clamp)", pe_unclamped),
    ),
    "hellinger_distance": (
        Mutant("no_half", "‖√p − √q‖ without the 1/√2", he_no_half),
        Mutant("squared", "1 − BC, the squared distance", he_squared),
        Mutant("bhattacharyya_distance", "−log BC (Bhattacharyya distance) clipped at 1", he_bhattacharyya_distance),
    ),
    "plugin_mutual_information_categorical": (
        Mutant("missing_n", "log(C/(r c)) without the N (marginals not normalised)", mi_no_n),
        Mutant("row_marginal_twice", "p_x p_x instead of p_x p_y", mi_row_marginal_twice),
        Mutant("base_ignored", "`base` accepted but the result stays in nats", mi_base_ignored),
    ),
}


# --------------------------------------------------------------------------- jensen_shannon_groups


def _jsg(counts: Any, weights: str, base: float | None, *, count_empty: bool = False,
         mixture_uniform: bool = False) -> F64:
    c = np.asarray(counts, dtype=np.float64)
    stacks = c.reshape(-1, c.shape[-2], c.shape[-1])
    out = np.zeros(stacks.shape[0])
    for i, table in enumerate(stacks):
        n = np.sum(table, axis=1)
        keep = np.ones_like(n, dtype=bool) if count_empty else n > 0
        if np.sum(n > 0) < 2:
            continue
        p = np.where(n[keep][:, None] > 0, table[keep] / np.where(n[keep] > 0, n[keep], 1.0)[:, None], 0.0)
        g = int(np.sum(keep))
        pi = n[keep] / np.sum(n[keep]) if weights == "size" else np.full(g, 1.0 / g)
        m = np.mean(p, axis=0) if mixture_uniform else pi @ p
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(p > 0, pi[:, None] * p * (np.log(np.where(p > 0, p, 1.0)) - np.log(m[None, :])), 0.0)
        out[i] = max(float(np.sum(t)), 0.0)
    js = out.reshape(c.shape[:-2])
    return np.asarray(js if base is None else js / math.log(base))


def jsg_empty_counted(counts: Any, *, weights: str = "uniform", base: float | None = None) -> F64:
    R.jensen_shannon_groups(counts, weights=weights, base=base)
    return _jsg(counts, weights, base, count_empty=True)  # bug: empty groups keep a weight 1/G


def jsg_mixture_uniform(counts: Any, *, weights: str = "uniform", base: float | None = None) -> F64:
    R.jensen_shannon_groups(counts, weights=weights, base=base)
    return _jsg(counts, weights, base, mixture_uniform=True)  # bug: M unweighted even with size weights


def jsg_base_ignored(counts: Any, *, weights: str = "uniform", base: float | None = None) -> F64:
    R.jensen_shannon_groups(counts, weights=weights, base=base)
    return _jsg(counts, weights, None)  # bug: `base` never applied


MUTANTS["jensen_shannon_groups"] = (
    Mutant("empty_group_counted", "empty groups keep a uniform weight 1/G (and a zero histogram)", jsg_empty_counted),
    Mutant("mixture_unweighted", "the mixture M is the plain mean of the groups even with size weights",
           jsg_mixture_uniform),
    Mutant("base_ignored", "`base` accepted but the result stays in nats", jsg_base_ignored),
)
