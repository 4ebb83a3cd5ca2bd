"""Mutants of the ``categorical`` divergences: plausible wrong ports, each with one bug."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.categorical._common import F64, log_softmax, logits_in, probs_in
from spec.validate import check_params, check_same_shape

__all__ = ["MUTANTS"]


def _rel_entr(p: F64, q: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return np.asarray(t)


def _pq(fn: str, p: Any, q: Any, axis: int) -> tuple[F64, F64]:
    pp = probs_in(fn, "p", p, axis)
    check_same_shape(fn, p=pp, q=np.asarray(q))
    return pp, probs_in(fn, "q", q, axis)


# --------------------------------------------------------------------------- kl_divergence


def kl_swapped(p: Any, q: Any, *, axis: int = -1) -> F64:
    pp, qq = _pq("kl_divergence", p, q, axis)
    return np.asarray(np.sum(_rel_entr(qq, pp), axis=-1))  # bug: KL(q ‖ p)


def kl_clipped_q(p: Any, q: Any, *, axis: int = -1) -> F64:
    pp, qq = _pq("kl_divergence", p, q, axis)
    return np.asarray(np.sum(_rel_entr(pp, np.maximum(qq, 1e-12)), axis=-1))  # bug: q clipped: finite, not +inf


def kl_naive(p: Any, q: Any, *, axis: int = -1) -> F64:
    pp, qq = _pq("kl_divergence", p, q, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.sum(pp * np.log(pp / qq), axis=-1))  # bug: 0·log(0/q) is NaN, not 0


# --------------------------------------------------------------------------- kl_divergence_from_logits


def _ab(a: Any, b: Any, axis: int) -> tuple[F64, F64]:
    fn = "kl_divergence_from_logits"
    aa = logits_in(fn, "logits_p", a, axis)
    check_same_shape(fn, logits_p=aa, logits_q=np.asarray(b))
    return aa, logits_in(fn, "logits_q", b, axis)


def _kl_logits(la: F64, lb: F64, support: Any) -> F64:
    with np.errstate(invalid="ignore"):
        t = np.where(support, np.exp(la) * (la - lb), 0.0)
    return np.asarray(np.sum(t, axis=-1))


def kll_swapped(logits_p: Any, logits_q: Any, *, axis: int = -1) -> F64:
    a, b = _ab(logits_p, logits_q, axis)
    return _kl_logits(log_softmax(b), log_softmax(a), np.isfinite(b))  # bug: KL(q ‖ p)


def kll_via_probs(logits_p: Any, logits_q: Any, *, axis: int = -1) -> F64:
    a, b = _ab(logits_p, logits_q, axis)
    pa, pb = np.exp(log_softmax(a)), np.exp(log_softmax(b))  # bug: log of underflowed probabilities
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.sum(np.where(pa > 0, pa * np.log(pa / pb), 0.0), axis=-1))


def kll_temperature_two(logits_p: Any, logits_q: Any, *, axis: int = -1) -> F64:
    a, b = _ab(logits_p, logits_q, axis)
    la, lb = log_softmax(a, 2.0), log_softmax(b, 2.0)  # bug: a distillation temperature left in (T = 2)
    with np.errstate(invalid="ignore"):
        t = np.where(np.isfinite(a), np.exp(la) * (la - lb), 0.0)
    return np.asarray(np.sum(t, axis=-1))


# --------------------------------------------------------------------------- js_divergence


def _js_terms(x: F64, m: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.sum(np.where(x > 0, x * (np.log(np.where(x > 0, x, 1.0)) - np.log(m)), 0.0), -1))


def js_one_sided(p: Any, q: Any, *, axis: int = -1, base: float | None = None) -> F64:
    check_params("js_divergence", base=base)
    pp, qq = _pq("js_divergence", p, q, axis)
    js = _js_terms(pp, (pp + qq) / 2)  # bug: KL(p ‖ m) only
    return np.asarray(js if base is None else js / math.log(base))


def js_base_ignored(p: Any, q: Any, *, axis: int = -1, base: float | None = None) -> F64:
    check_params("js_divergence", base=base)
    pp, qq = _pq("js_divergence", p, q, axis)
    m = (pp + qq) / 2
    return np.asarray(0.5 * _js_terms(pp, m) + 0.5 * _js_terms(qq, m))  # bug: `base` never applied


def js_unhalved_mixture(p: Any, q: Any, *, axis: int = -1, base: float | None = None) -> F64:
    check_params("js_divergence", base=base)
    pp, qq = _pq("js_divergence", p, q, axis)
    m = pp + qq  # bug: the mixture is not halved
    js = 0.5 * _js_terms(pp, m) + 0.5 * _js_terms(qq, m)
    return np.asarray(js if base is None else js / math.log(base))


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "kl_divergence": (
        Mutant("swapped", "KL(q ‖ p) instead of KL(p ‖ q)", kl_swapped),
        Mutant("clipped_q", "q clipped at 1e-12: finite where p > 0 = q (spec: +inf)", kl_clipped_q),
        Mutant("naive_zero_p", "Σ p log(p/q) without 0 log 0 = 0 (NaN at p = q = 0)", kl_naive),
    ),
    "kl_divergence_from_logits": (
        Mutant("swapped", "KL(softmax b ‖ softmax a)", kll_swapped),
        Mutant("via_probabilities", "log of softmax probabilities (underflow gives inf/NaN)", kll_via_probs),
        Mutant("temperature_left_in", "a distillation temperature T = 2 left in", kll_temperature_two),
    ),
    "js_divergence": (
        Mutant("one_sided", "KL(p ‖ m) only, not ½KL(p ‖ m) + ½KL(q ‖ m)", js_one_sided),
        Mutant("base_ignored", "`base` accepted but the result stays in nats", js_base_ignored),
        Mutant("unhalved_mixture", "m = p + q instead of (p + q)/2", js_unhalved_mixture),
    ),
}
