"""Mutants of the ``reweighting`` group (Lp-Reg, STEER): plausible wrong versions written from the formulas
(not the reference), each with one planted bug; validation reuses the shared checks."""

from __future__ import annotations

import math
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


# --------------------------------------------------------------------------- steer_token_weights


def _steer_weights(bug: str) -> Any:
    def steer_token_weights(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, entropy: Any, *,
                            w_min: float = 0.8, w_max: float = 1.2, linear: bool = False) -> Any:
        fn = "steer_token_weights"
        check_params(fn, w_min=w_min, w_max=w_max, linear=linear)
        a, valid = sequences(fn, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                             entropy=entropy)
        e = np.exp(a["log_prob"])
        x = np.clip(e, 1e-8, 1.0 - 1e-8)
        f = x * (1.0 - x) * (np.where(x == e, a["log_prob"], np.log(x)) + a["entropy"])
        omega = a["advantages"] / np.clip(np.exp(a["old_log_prob"]), 1e-8, 1.0) * f
        if bug != "signed_omega":
            omega = np.abs(omega)
        if not valid.any():
            return np.zeros(omega.shape)
        pool = omega if bug == "stats_over_padding" else omega[valid]
        lo, hi = float(pool.min()), float(pool.max())
        if linear:
            if hi > lo:
                ramp = (omega - lo) * ((w_max - w_min) / (hi - lo))
                w = np.clip(w_min + ramp if bug == "increasing" else w_max - ramp, w_min, w_max)
            else:
                w = np.full(omega.shape, (w_min + w_max) / 2)
        else:
            k = -math.log(w_min) / (hi if bug == "no_floor" and hi > 0 else max(hi, 0.02))
            w = np.clip(np.exp(-k * omega), w_min, 1.0)
        return np.where(valid, w, 0.0)
    return steer_token_weights


MUTANTS["steer_token_weights"] = (
    Mutant("signed_omega", "ranks by the signed Ω (no absolute value)", _steer_weights("signed_omega")),
    Mutant("stats_over_padding", "min and max of |Ω| taken over padded tokens too",
           _steer_weights("stats_over_padding")),
    Mutant("increasing_map", "linear map increasing in |Ω| (large predicted entropy change up-weighted)",
           _steer_weights("increasing")),
    Mutant("no_floor", "exponential map without the 0.02 floor of max |Ω|", _steer_weights("no_floor")),
)


# --------------------------------------------------------------------------- steer_policy_loss


def _steer_loss(bug: str) -> Any:
    weights = _steer_weights("")

    def steer_policy_loss(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, entropy: Any, *,
                          w_min: float = 0.8, w_max: float = 1.2, linear: bool = False, clip_low: float = 0.2,
                          clip_high: float = 0.28, dual_clip: float | None = 10.0, mode: str = "token-mean") -> Any:
        fn = "steer_policy_loss"
        check_params(fn, w_min=w_min, w_max=w_max, linear=linear, clip_low=clip_low, clip_high=clip_high,
                     dual_clip=dual_clip, mode=mode)
        a, valid = sequences(fn, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                             entropy=entropy)
        w = weights(a["log_prob"], a["old_log_prob"], a["advantages"], valid, a["entropy"], w_min=w_min,
                    w_max=w_max, linear=linear)
        c = None if bug == "no_dual_clip" else dual_clip
        tok = N.ppo_tokens(a["log_prob"], a["old_log_prob"], a["advantages"], valid, clip_low, clip_high, c)
        if bug == "weights_normalised":
            wv = w[valid]
            w = w / wv.mean() if wv.size else w
        return N.aggregate(tok * w, valid, mode, bug="norm_by_T" if bug == "norm_by_T" else "")
    return steer_policy_loss


MUTANTS["steer_policy_loss"] = (
    Mutant("no_dual_clip", "drops the dual clip (A < 0 tokens are not capped at −A·c)", _steer_loss("no_dual_clip")),
    Mutant("weights_normalised", "divides the weights by their mean over valid tokens (a re-normalised weighting)",
           _steer_loss("weights_normalised")),
    Mutant("norm_by_T", "seq-mean-token-sum-norm divides by T only (verl's agg_loss) instead of B·T",
           _steer_loss("norm_by_T")),
)
