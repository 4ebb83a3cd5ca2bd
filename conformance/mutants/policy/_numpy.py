"""A small NumPy PPO-family implementation with switchable bugs, for the ``policy`` mutants.

Written from the formulas (not the reference code); input validation reuses the shared checks so a
mutant is only ever caught for its planted bug, never for a missing error. Each switch is one plausible
bug named after a pitfall of the catalogue or a known code-vs-paper difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from reference.policy._common import sequences
from spec.errors import DomainError
from spec.validate import check_params

F64 = npt.NDArray[np.float64]


def aggregate(tok: F64, valid: Any, mode: str, max_length: int | None = None, *, bug: str = "") -> F64:
    x = np.where(valid, tok, 0.0).reshape(-1, tok.shape[-1])
    m = np.asarray(valid, dtype=np.float64).reshape(x.shape)
    b, t = x.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        if mode == "none":
            return np.asarray(np.where(valid, tok, 0.0), dtype=np.float64)
        if mode == "token-mean":
            n = m.sum()
            return np.asarray(x.sum() / n if n > 0 or bug == "empty_nan" else 0.0)
        if mode == "seq-mean-token-sum":
            return np.asarray(x.sum(axis=1).mean() if b else 0.0)
        if mode == "seq-mean-token-mean":
            rows = m.sum(axis=1)
            means = np.where(rows > 0, x.sum(axis=1) / np.where(rows > 0, rows, 1.0), 0.0)
            kept = float(b) if bug == "empty_rows_as_zero" else float((rows > 0).sum())
            return np.asarray(means.sum() / kept if kept > 0 else 0.0)
        length = t if max_length is None else max_length
        denom = length if bug == "norm_by_T" else b * length
        return np.asarray(x.sum() / denom if denom > 0 else 0.0)


def ppo_tokens(lp: F64, old: F64, adv: F64, valid: Any, clip_low: float, clip_high: float,
               dual_clip: float | None, bug: str = "") -> F64:
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.exp(np.where(valid, lp - old, 0.0))
        pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    low = 1.0 - (clip_high if bug == "same_bound" else clip_low)
    pg2 = -adv * np.clip(ratio, low, 1.0 + clip_high)
    tok = np.minimum(pg1, pg2) if bug == "min" else np.maximum(pg1, pg2)
    if dual_clip is not None and bug != "no_dual_clip":
        tok = np.where(adv < 0, np.minimum(tok, -adv * dual_clip), tok)
    return np.asarray(np.where(valid, tok, 0.0), dtype=np.float64)


def ppo_clip_loss(bug: str) -> Any:
    def fn(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, clip_low: float = 0.2,
           clip_high: float = 0.2, dual_clip: float | None = None, mode: str = "token-mean") -> F64:
        check_params("ppo_clip_loss", clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip, mode=mode)
        a, valid = sequences("ppo_clip_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob,
                             advantages=advantages)
        tok = ppo_tokens(a["log_prob"], a["old_log_prob"], a["advantages"], valid, clip_low, clip_high, dual_clip,
                         bug)
        return aggregate(tok, valid, mode)
    return fn


def covariance(lp: F64, adv: F64, valid: Any, bug: str = "") -> F64:
    if not valid.any():
        return np.zeros(lp.shape)
    if bug == "uncentred":
        return np.asarray(adv * lp, dtype=np.float64)
    return np.asarray((adv - adv[valid].mean()) * (lp - lp[valid].mean()), dtype=np.float64)


def clip_cov_loss(bug: str) -> Any:
    def fn(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, priority: Any, *, clip_ratio: float = 2e-4,
           cov_low: float = 1.0, cov_high: float = 5.0, clip_low: float = 0.2, clip_high: float = 0.2,
           mode: str = "token-mean") -> F64:
        check_params("clip_cov_loss", clip_ratio=clip_ratio, cov_low=cov_low, cov_high=cov_high, clip_low=clip_low,
                     clip_high=clip_high, mode=mode)
        a, valid = sequences("clip_cov_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob,
                             advantages=advantages, priority=priority)
        lp, old, adv, pri = a["log_prob"], a["old_log_prob"], a["advantages"], a["priority"]
        if np.any((pri < 0) | (pri >= 1)):
            raise DomainError("clip_cov_loss", "priority", "keys in [0, 1)", "a key outside [0, 1)")
        tok = ppo_tokens(lp, old, adv, valid, clip_low, clip_high, None)
        with np.errstate(over="ignore", invalid="ignore"):
            ratio = np.exp(np.where(valid, lp - old, 0.0))
            pg1 = np.where(adv == 0, 0.0, -adv * ratio)
        pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
        cov = covariance(lp, adv, valid)
        inside = ((cov >= cov_low) & (cov <= cov_high)) if bug == "inclusive" else ((cov > cov_low) & (cov < cov_high))
        cand = valid & inside & (True if bug == "keep_clipped" else ~(pg2 > pg1))
        n_valid = int(valid.sum())
        n = max(round(clip_ratio * n_valid) if bug == "round" else int(clip_ratio * n_valid), 1)
        idx = np.flatnonzero(cand.ravel())
        keys = pri.ravel()[idx]
        if bug == "highest_priority":
            order = idx[np.lexsort((idx, -keys))]
        elif bug == "ignore_priority":
            order = idx
        else:
            order = idx[np.lexsort((idx, keys))]
        flat = tok.ravel().copy()
        flat[order[:n]] = 0.0
        return aggregate(flat.reshape(tok.shape), valid, mode)
    return fn


def kl_cov_loss(bug: str) -> Any:
    def fn(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, k_percent: float = 0.2,
           coef: float = 1.0, mode: str = "token-mean") -> F64:
        check_params("kl_cov_loss", k_percent=k_percent, coef=coef, mode=mode)
        a, valid = sequences("kl_cov_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob,
                             advantages=advantages)
        lp, old, adv = a["log_prob"], a["old_log_prob"], a["advantages"]
        with np.errstate(over="ignore", invalid="ignore"):
            tok = np.where(adv == 0, 0.0, -adv * np.exp(np.where(valid, lp - old, 0.0)))
        count = valid.size if bug == "all_tokens" else int(valid.sum())
        if k_percent != 0 and valid.any():
            n = max(1, int(count * k_percent / 100))
            cov = covariance(lp, adv, valid, bug).ravel()
            idx = np.flatnonzero(valid.ravel())
            key = cov[idx] if bug == "smallest" else -cov[idx]
            chosen = idx[np.lexsort((idx, key))][:n]
            flat = tok.ravel().copy()
            flat[chosen] += coef * np.abs((lp - old).ravel()[chosen])
            tok = flat.reshape(tok.shape)
        return aggregate(tok, valid, mode)
    return fn
