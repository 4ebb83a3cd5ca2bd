"""Mutants of the ``reweighting`` group (Lp-Reg, STEER): plausible wrong versions written from the formulas
(not the reference), each with one planted bug; validation reuses the shared checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.policy import _numpy as N
from reference.policy._common import sequences
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


# --------------------------------------------------------------------------- lp_reg_policy_loss


def _lp_reg(bug: str) -> Any:
    def lp_reg_policy_loss(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, proxy_log_prob: Any, *,
                           neg_k_percent: float = 0.01, pos_k_percent: float = 0.0, coef: float = 1.0,
                           clip_low: float = 0.2, clip_high: float = 0.2, mode: str = "token-mean") -> Any:
        fn = "lp_reg_policy_loss"
        check_params(fn, neg_k_percent=neg_k_percent, pos_k_percent=pos_k_percent, coef=coef, clip_low=clip_low,
                     clip_high=clip_high, mode=mode)
        a, valid = sequences(fn, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                             proxy_log_prob=proxy_log_prob)
        lp, old, adv, proxy = a["log_prob"], a["old_log_prob"], a["advantages"], a["proxy_log_prob"]
        tok = N.ppo_tokens(lp, old, adv, valid, clip_low, clip_high, None).ravel()
        with np.errstate(over="ignore", invalid="ignore"):
            pg1 = np.where(adv == 0, 0.0, -adv * np.exp(np.where(valid, lp - old, 0.0))).ravel()
        c = np.clip(proxy - lp, -20.0, 20.0).ravel()
        k3 = np.clip(np.expm1(c) - c, -10.0, 10.0)
        flat_lp, flat_adv, flat_proxy, v = lp.ravel(), adv.ravel(), proxy.ravel(), valid.ravel()
        for side, pct in ((flat_adv < 0, neg_k_percent), (flat_adv > 0, pos_k_percent)):
            idx = np.flatnonzero(v & side)
            count = int(v.sum()) if bug == "count_all_valid" else idx.size
            k = max(1, int(count * pct))
            if idx.size == 0 or (k < 1 if bug == "k_one_applies" else k <= 1):
                continue
            sign = -1.0 if bug == "highest" else 1.0
            order = idx[np.lexsort((idx, sign * flat_lp[idx]))][:k]
            below = flat_lp[order] <= flat_proxy[order] if bug == "non_strict" else flat_lp[order] < flat_proxy[order]
            chosen = order[below]
            base = tok[chosen] if bug == "keeps_clip" else pg1[chosen]
            tok[chosen] = base + coef * k3[chosen]
        return N.aggregate(tok.reshape(lp.shape), valid, mode)
    return lp_reg_policy_loss


MUTANTS["lp_reg_policy_loss"] = (
    Mutant("k_one_applies", "regularises also when k = 1 (drops the code's `if k > 1`)", _lp_reg("k_one_applies")),
    Mutant("highest_log_probs", "selects the k highest log-probs (topk largest=True)", _lp_reg("highest")),
    Mutant("keeps_clip", "regularised tokens keep the PPO clip (max(pg1, pg2) + β·k3) instead of −Aρ + β·k3",
           _lp_reg("keeps_clip")),
    Mutant("non_strict_proxy", "log π ≤ proxy instead of the strict <", _lp_reg("non_strict")),
    Mutant("count_all_valid", "k from all valid tokens instead of the negative ones", _lp_reg("count_all_valid")),
)
