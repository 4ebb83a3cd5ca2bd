"""Mutants of the ``entropy_control`` group (SIREN, EPO): plausible wrong rules, written from the formulas."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from reference.policy._common import sequences
from spec.validate import check_params

__all__ = ["MUTANTS"]


def _quantile(x: Any, valid: Any, q: float, bug: str) -> Any:
    out = np.full(x.shape[:-1], np.nan)
    for idx in np.ndindex(x.shape[:-1]):
        vals = x[idx] if bug == "nan_ignored" else x[idx][valid[idx]]
        if vals.size == 0:
            continue
        out[idx] = np.quantile(vals, q, method="lower") if bug == "lower" else np.quantile(vals, q)
    return out


def _peak(h: Any, valid: Any, q: float, dm: bool, rs: bool, bug: str) -> tuple[Any, Any]:
    with np.errstate(invalid="ignore"):
        b = _quantile(h, valid, q, bug)[..., None]
        keep = h >= b if bug == "inclusive" else h > b
    if rs:
        keep &= valid
    if not dm:
        return h, keep
    masked = np.where(keep, h, 0.0)
    with np.errstate(invalid="ignore"):
        b2 = _quantile(masked, valid, q, bug)[..., None]
        keep2 = masked >= b2 if bug == "inclusive" else masked > b2
    if rs:
        keep2 &= valid
    return masked, keep2


def peak_mutant(bug: str) -> Any:
    def fn(entropy: Any, mask: Any, *, quantile: float = 0.8, double_mask: bool = False,
           restrict_to_mask: bool = True) -> Any:
        check_params("peak_entropy_quantile_mask", quantile=quantile, double_mask=double_mask,
                     restrict_to_mask=restrict_to_mask)
        a, valid = sequences("peak_entropy_quantile_mask", mask, entropy=entropy)
        q = 1.0 - quantile if bug == "complement" else quantile
        return _peak(a["entropy"], valid, q, double_mask, restrict_to_mask, bug)[1]
    return fn


def _agg_rows(h: Any, keep: Any, mode: str, empty_rows: str) -> float:
    x = np.where(keep, h, 0.0).reshape(-1, h.shape[-1]) if h.size else np.zeros((0, 1))
    k = np.asarray(keep, dtype=np.float64).reshape(x.shape)
    if x.shape[0] == 0:
        return 0.0
    if mode == "token-mean":
        return float(x.sum() / k.sum()) if k.sum() else 0.0
    if mode == "seq-mean-token-sum":
        return float(x.sum(axis=1).mean())
    if mode == "seq-mean-token-sum-norm":
        return float(x.sum() / x.size)
    n = k.sum(axis=1)
    means = np.where(n > 0, x.sum(axis=1) / np.where(n > 0, n, 1.0), 0.0)
    kept = x.shape[0] if empty_rows == "zero" else int((n > 0).sum())
    return float(means.sum() / kept) if kept else 0.0


def siren_mutant(bug: str) -> Any:
    def fn(entropy: Any, mask: Any, *, anchor: Any = None, old_entropy: Any = None, coef: float = 1.0,
           quantile: float = 0.8, double_mask: bool = True, restrict_to_mask: bool = True,
           mode: str = "seq-mean-token-mean", empty_rows: str = "zero") -> tuple[Any, Any]:
        check_params("siren_entropy_loss", coef=coef, quantile=quantile, double_mask=double_mask,
                     restrict_to_mask=restrict_to_mask, mode=mode, empty_rows=empty_rows)
        arrays = {"entropy": entropy} if old_entropy is None else {"entropy": entropy, "old_entropy": old_entropy}
        a, valid = sequences("siren_entropy_loss", mask, **arrays)
        er = ("exclude" if empty_rows == "zero" else "zero") if bug == "empty_rows_swapped" else empty_rows
        if anchor is not None:
            anc = float(np.asarray(anchor))
        else:
            src = a["old_entropy"] if (old_entropy is not None and bug != "anchor_from_current") else a["entropy"]
            h0, k0 = _peak(src, valid, quantile, double_mask and bug == "anchor_double_masked", restrict_to_mask, "")
            anc = _agg_rows(h0, k0, mode, er)
        if bug == "unmasked":
            h, keep = a["entropy"], valid
        else:
            h, keep = _peak(a["entropy"], valid, quantile, double_mask, restrict_to_mask, "")
        h_sel = _agg_rows(h, keep, mode, er)
        loss = -coef * h_sel if bug == "entropy_bonus" else coef * (h_sel - anc) ** 2
        return np.asarray(loss), np.asarray(anc)
    return fn


def phase_mutant(bug: str) -> Any:
    import math

    def fn(epoch: Any, *, max_epochs: int = 150, lambda_slow: float = 2.0, lambda_fast: float = 3.0) -> Any:
        check_params("epo_phase_weight", max_epochs=max_epochs, lambda_slow=lambda_slow, lambda_fast=lambda_fast)
        e = np.asarray(epoch, dtype=np.float64)
        if np.any(~np.isfinite(e)):
            from spec.errors import DomainError
            raise DomainError("epo_phase_weight", "epoch", "finite values", "NaN")
        out = np.ones(e.shape)
        h = max_epochs // 2
        for idx in np.ndindex(e.shape):
            if max_epochs <= 0:
                continue
            k = float(e[idx]) if bug == "no_clamp" else min(max(float(e[idx]), 0.0), float(max_epochs))
            first = (k < h) if bug == "strict_half" else (k <= h)
            if first:
                denom = max_epochs if bug == "progress_over_K" else h
                out[idx] = 1.0 if h == 0 else 1.0 - 0.2 * (1.0 - math.exp(-lambda_slow * k / denom))
            else:
                out[idx] = 0.8 * math.exp(-lambda_fast * (k - h) / (max_epochs - h))
        return out
    return fn


def penalty_mutant(bug: str) -> Any:
    from reference.policy.entropy_control import epo_entropy_smoothing_penalty as ref

    def fn(entropy: Any, mask: Any, entropy_history: Any, rollout_step: Any, *, mask_mode: str = "token",
           min_ratio: float = 0.8, max_ratio: float = 1.2, out_range_penalty: float = 0.1, weight: float = 1.0,
           seq_mean: str = "all") -> Any:
        ref(entropy, mask, entropy_history, rollout_step, mask_mode=mask_mode, min_ratio=min_ratio,
            max_ratio=max_ratio, out_range_penalty=out_range_penalty, weight=weight, seq_mean=seq_mean)  # validation
        h = np.asarray(entropy, dtype=np.float64)
        valid = np.asarray(mask) != 0
        hbar = np.asarray(entropy_history, dtype=np.float64)[np.asarray(rollout_step).astype(np.int64)][:, None]
        if mask_mode == "seq":
            use_all = (seq_mean == "all") != (bug == "seq_valid_mean")
            if use_all:
                stat = h.mean(axis=-1, keepdims=True)
            else:
                stat = np.where(valid, h, 0.0).sum(-1, keepdims=True) / np.maximum(valid.sum(-1, keepdims=True), 1)
        else:
            stat = h
        if bug == "inclusive":
            inside = (min_ratio * hbar <= stat) & (stat <= max_ratio * hbar)
        else:
            inside = (min_ratio * hbar < stat) & (stat < max_ratio * hbar)
        out_of = inside if bug == "inverted" else ~np.broadcast_to(inside, h.shape)
        pen = out_range_penalty if bug == "no_weight" else weight * out_range_penalty
        return np.where(valid & out_of, pen, 0.0)
    return fn


def epo_loss_mutant(bug: str) -> Any:
    from reference.policy.ppo import aggregate, ppo_clip_loss

    def fn(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, entropy: Any, *, penalty: Any = None,
           entropy_coeff: float = 0.001, smooth_coeff: float = 1.0, clip_low: float = 0.2, clip_high: float = 0.2,
           dual_clip: float | None = 3.0, mode: str = "token-mean") -> Any:
        check_params("epo_policy_loss", entropy_coeff=entropy_coeff, smooth_coeff=smooth_coeff, clip_low=clip_low,
                     clip_high=clip_high, dual_clip=dual_clip, mode=mode)
        arrays = {"log_prob": log_prob, "old_log_prob": old_log_prob, "advantages": advantages, "entropy": entropy}
        if penalty is not None:
            arrays["penalty"] = penalty
        a, valid = sequences("epo_policy_loss", mask, **arrays)
        pg = float(ppo_clip_loss(a["log_prob"], a["old_log_prob"], a["advantages"], valid, clip_low=clip_low,
                                 clip_high=clip_high, dual_clip=None if bug == "no_dual_clip" else dual_clip,
                                 mode=mode))
        ent_mode = "token-mean" if bug == "entropy_token_mean" else mode
        ent = float(aggregate(a["entropy"], valid, ent_mode))
        if penalty is not None:
            sign = -1.0 if bug == "penalty_sign" else 1.0
            ent -= sign * smooth_coeff * float(aggregate(a["penalty"], valid, mode))
        return np.asarray(pg + entropy_coeff * ent if bug == "bonus_sign" else pg - entropy_coeff * ent)
    return fn


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "epo_phase_weight": (
        Mutant("strict_half", "k < h for the first phase (k = h falls into the second: 0.8 instead of 0.8271)",
               phase_mutant("strict_half")),
        Mutant("no_clamp", "epochs beyond K keep decaying (no clamp to [0, K])", phase_mutant("no_clamp")),
        Mutant("progress_over_K", "first-phase progress k/K instead of k/h", phase_mutant("progress_over_K")),
    ),
    "epo_entropy_smoothing_penalty": (
        Mutant("inclusive_band", "κ_l·H̄ ≤ H ≤ κ_r·H̄ (edges not penalised)", penalty_mutant("inclusive")),
        Mutant("inverted", "penalises the tokens inside the band", penalty_mutant("inverted")),
        Mutant("seq_valid_mean", "seq mode averages the valid tokens when the code's all-T mean is asked (and the "
               "reverse)", penalty_mutant("seq_valid_mean")),
        Mutant("phase_weight_ignored", "the weight β_k is not applied", penalty_mutant("no_weight")),
    ),
    "epo_policy_loss": (
        Mutant("no_dual_clip", "the dual clip is never applied", epo_loss_mutant("no_dual_clip")),
        Mutant("penalty_sign", "adds c_s·agg(P) to the entropy term instead of subtracting it",
               epo_loss_mutant("penalty_sign")),
        Mutant("bonus_sign", "L_PPO + c_H·(…) (entropy penalised instead of rewarded)", epo_loss_mutant("bonus_sign")),
        Mutant("entropy_token_mean", "the entropy term always token-mean (not the loss's mode)",
               epo_loss_mutant("entropy_token_mean")),
    ),
    "peak_entropy_quantile_mask": (
        Mutant("inclusive_bound", "H ≥ bound instead of the code's strict H > bound", peak_mutant("inclusive")),
        Mutant("lower_interpolation", "quantile without interpolation (the lower order statistic)",
               peak_mutant("lower")),
        Mutant("padding_in_quantile", "the row quantile includes masked entropies (no NaN fill)",
               peak_mutant("nan_ignored")),
        Mutant("complement_quantile", "keeps above the (1 − q)-quantile (q read as the kept fraction)",
               peak_mutant("complement")),
    ),
    "siren_entropy_loss": (
        Mutant("unmasked_entropy", "aggregates every valid token's entropy (no peak mask)", siren_mutant("unmasked")),
        Mutant("empty_rows_swapped", "the other empty-row convention of seq-mean-token-mean",
               siren_mutant("empty_rows_swapped")),
        Mutant("anchor_from_current", "first step anchors at the current entropies although old ones are given",
               siren_mutant("anchor_from_current")),
        Mutant("plain_entropy_bonus", "−coef·H_sel (the naive bonus) instead of the anchored square",
               siren_mutant("entropy_bonus")),
    ),
}
