"""Mutants of the ``reweighting`` group (Lp-Reg, STEER): plausible wrong versions written from the formulas
(not the reference), each with one planted bug; validation reuses the shared checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from spec.errors import ShapeError
from spec.validate import check_finite, check_params

__all__ = ["MUTANTS"]

MUTANTS: dict[str, tuple[Mutant, ...]] = {}


# --------------------------------------------------------------------------- lp_reg_proxy_logprob


def _proxy(bug: str) -> Any:
    def lp_reg_proxy_logprob(logits: Any, labels: Any, *, min_p: float = 0.02, rule: str = "minp",
                             soft: bool = False, temperature: float = 1.0, fill_logit: float = -1e4) -> Any:
        fn = "lp_reg_proxy_logprob"
        check_params(fn, min_p=min_p, rule=rule, soft=soft, temperature=temperature, fill_logit=fill_logit)
        z = np.asarray(logits, dtype=np.float64)
        lab = np.asarray(labels)
        if z.ndim != 2 or lab.shape != z.shape[:1]:
            raise ShapeError(fn, "logits", "(N, V) with labels (N,)", f"shape {z.shape}")
        check_finite(fn, "logits", z, np, allow_neg_inf=True)
        if z.shape[0] == 0:
            return np.zeros(0)
        t_filter = temperature if bug == "filter_after_temperature" else 1.0
        s = z / t_filter
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
        thr = min_p * p.max(axis=-1, keepdims=True) if rule == "minp" else min_p
        keep = p > thr if bug == "strict" else p >= thr
        fill = z.min(axis=-1, keepdims=True) if (soft and rule == "minp") else np.full((z.shape[0], 1), fill_logit)
        if bug == "neg_inf_fill":
            fill = np.full((z.shape[0], 1), -np.inf) if not (soft and rule == "minp") else fill
        zp = np.where(keep, z, fill) / temperature
        if bug == "no_renormalise":
            zp = z / temperature
        with np.errstate(divide="ignore", invalid="ignore"):
            ls = zp - zp.max(axis=-1, keepdims=True)
            ls = ls - np.log(np.exp(ls).sum(axis=-1, keepdims=True))
            out = np.take_along_axis(ls, lab.astype(np.int64)[:, None], axis=-1)[:, 0]
        if bug == "no_renormalise":
            out = np.where(np.take_along_axis(keep, lab.astype(np.int64)[:, None], axis=-1)[:, 0], out, fill_logit)
        return out
    return lp_reg_proxy_logprob


MUTANTS["lp_reg_proxy_logprob"] = (
    Mutant("filter_after_temperature", "decides the filter on softmax(z/T) instead of softmax(z) at T = 1",
           _proxy("filter_after_temperature")),
    Mutant("strict_threshold", "keeps p > κ·max p (strict), dropping tokens exactly at the threshold",
           _proxy("strict")),
    Mutant("neg_inf_fill", "writes −inf at filtered tokens instead of the code's −1e4 (paper-style zero mass)",
           _proxy("neg_inf_fill")),
    Mutant("no_renormalise", "keeps the policy's own log-prob at kept tokens (no renormalisation over survivors)",
           _proxy("no_renormalise")),
)
