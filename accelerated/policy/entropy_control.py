"""Accelerated ``entropy_control`` group of the ``policy`` family (array API: Torch, CuPy, NumPy): SIREN's
peak-entropy quantile mask and self-anchored regulariser; EPO's phase weight, smoothing penalty and loss.

Selections (row quantiles, EPO's band tests) are decided in float64 from detached values in every dtype,
with the reference's formulas (torch's ``lerp`` interpolation), so every backend keeps the same tokens.
Row quantiles sort each row once (masked entries as ``+inf``) and gather the two order statistics: no
Python loop over rows or tokens, no host sync (``torch.compile(fullgraph=True)`` traces every function in
unchecked mode). Aggregation goes through the family's one ``aggregate`` core.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, device, from_compute, namespace, rows, to_compute
from accelerated.policy._common import aggregate_tokens, finish, ppo_terms, prepare, sequences
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, checked

__all__ = [
    "epo_entropy_smoothing_penalty",
    "epo_phase_weight",
    "epo_policy_loss",
    "peak_entropy_quantile_mask",
    "siren_entropy_loss",
]


# --------------------------------------------------------------------------- helpers


def _row_quantile(x64: Array, valid: Array, q: float, xp: Any) -> Array:
    """``(..., 1)`` per-row nanquantile over ``valid`` (torch's linear interpolation and lerp formula) of a
    float64 array; ``+inf`` for rows without valid entries (then nothing exceeds it)."""
    s = xp.sort(xp.where(valid, x64, xp.full_like(x64, math.inf)), axis=-1)
    n = xp.sum(xp.astype(valid, xp.float64), axis=-1, keepdims=True)
    pos = q * xp.clip(n - 1.0, 0.0, None)
    lo = xp.floor(pos)
    hi = xp.ceil(pos)
    a = xp.take_along_axis(s, xp.astype(lo, xp.int64), axis=-1)
    b = xp.take_along_axis(s, xp.astype(hi, xp.int64), axis=-1)
    w = pos - lo
    ok = n > 0
    a = xp.where(ok, a, xp.zeros_like(a))
    b = xp.where(ok, b, xp.zeros_like(b))
    bound = xp.where(w < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))
    return xp.where(ok, bound, xp.full_like(bound, math.inf))


def _peak(h64: Array, valid: Array, q: float, restrict: bool, xp: Any) -> Array:
    keep = h64 > _row_quantile(h64, valid, q, xp)
    return keep & valid if restrict else keep


def peak_selection(h: Array, valid: Array, q: float, double_mask: bool, restrict: bool, xp: Any) -> tuple[Array, Array]:
    """``(entropies to aggregate, kept set)`` in the dtype of ``h`` (gradient kept), decided in float64."""
    h64 = xp.astype(detach(h), xp.float64)
    keep = _peak(h64, valid, q, restrict, xp)
    if not double_mask:
        return h, keep
    masked64 = xp.where(keep, h64, xp.zeros_like(h64))
    return xp.where(keep, h, xp.zeros_like(h)), _peak(masked64, valid, q, restrict, xp)


def _siren_aggregate(h: Array, keep: Array, mode: str, empty_rows: str, xp: Any) -> Array:
    w = xp.astype(keep, h.dtype)
    value = aggregate_tokens(xp.where(keep, h, xp.zeros_like(h)), w, mode, None, xp)
    if mode == "seq-mean-token-mean" and empty_rows == "zero" and math.prod(keep.shape) > 0:
        k2 = rows(w, xp)
        nonempty = xp.sum(xp.astype(xp.sum(k2, axis=-1) > 0, h.dtype))
        value = value * nonempty / float(k2.shape[0])
    return value


# --------------------------------------------------------------------------- peak_entropy_quantile_mask


def peak_entropy_quantile_mask(entropy: Array, mask: Array, *, quantile: float = 0.8, double_mask: bool = False,
                               restrict_to_mask: bool = True) -> Array:
    """SIREN's peak-entropy mask; see :func:`reference.policy.peak_entropy_quantile_mask`."""
    fn = "peak_entropy_quantile_mask"
    xp = namespace(entropy, mask)
    check_params(fn, quantile=quantile, double_mask=double_mask, restrict_to_mask=restrict_to_mask)
    valid = sequences(fn, xp, mask, entropy=entropy)
    _, keep = peak_selection(entropy, valid, quantile, double_mask, restrict_to_mask, xp)
    return keep


# --------------------------------------------------------------------------- siren_entropy_loss


def siren_entropy_loss(entropy: Array, mask: Array, *, anchor: Array | float | None = None,
                       old_entropy: Array | None = None, coef: float = 1.0, quantile: float = 0.8,
                       double_mask: bool = True, restrict_to_mask: bool = True, mode: str = "seq-mean-token-mean",
                       empty_rows: str = "zero") -> tuple[Array, Array]:
    """SIREN's self-anchored selective entropy regulariser ``(loss, anchor)``; see
    :func:`reference.policy.siren_entropy_loss`."""
    fn = "siren_entropy_loss"
    xp = namespace(entropy, mask, old_entropy)
    check_params(fn, coef=coef, quantile=quantile, double_mask=double_mask, restrict_to_mask=restrict_to_mask,
                 mode=mode, empty_rows=empty_rows)
    if old_entropy is not None:
        valid = sequences(fn, xp, mask, entropy=entropy, old_entropy=old_entropy)
    else:
        valid = sequences(fn, xp, mask, entropy=entropy)
    h = to_compute(entropy, xp)
    if anchor is not None:
        anc = anchor if hasattr(anchor, "shape") else xp.asarray(float(anchor), dtype=h.dtype, device=device(h))
        if len(anc.shape) != 0:
            raise ShapeError(fn, "anchor", "a 0-d array (the anchor state)", f"shape {tuple(anc.shape)}")
        check_finite(fn, "anchor", anc, namespace(anc))
        anchor_value = xp.astype(detach(anc), h.dtype) if hasattr(anchor, "shape") else anc
    else:
        src = detach(to_compute(old_entropy, xp) if old_entropy is not None else h)
        h0, k0 = peak_selection(src, valid, quantile, False, restrict_to_mask, xp)
        anchor_value = _siren_aggregate(h0, k0, mode, empty_rows, xp)
    hs, keep = peak_selection(h, valid, quantile, double_mask, restrict_to_mask, xp)
    h_sel = _siren_aggregate(hs, keep, mode, empty_rows, xp)
    diff = h_sel - anchor_value
    return from_compute(coef * diff * diff, entropy, xp), from_compute(anchor_value, entropy, xp)


# --------------------------------------------------------------------------- epo_phase_weight


def epo_phase_weight(epoch: Array, *, max_epochs: int = 150, lambda_slow: float = 2.0,
                     lambda_fast: float = 3.0) -> Array:
    """EPO's two-phase penalty weight, elementwise; see :func:`reference.policy.epo_phase_weight`."""
    fn = "epo_phase_weight"
    xp = namespace(epoch)
    check_params(fn, max_epochs=max_epochs, lambda_slow=lambda_slow, lambda_fast=lambda_fast)
    if xp.isdtype(epoch.dtype, "integral"):
        epoch = xp.astype(epoch, xp.float64)  # the code's epochs are ints: float64 weights
    check_finite(fn, "epoch", epoch, xp)
    e = to_compute(epoch, xp)
    if max_epochs <= 0:
        return from_compute(xp.ones_like(e), epoch, xp)
    k = xp.clip(e, 0.0, float(max_epochs))
    h = max_epochs // 2
    first = 1.0 - 0.2 * (1.0 - xp.exp(-lambda_slow * k / h)) if h > 0 else xp.ones_like(k)
    second = 0.8 * xp.exp(-lambda_fast * (k - h) / (max_epochs - h))
    return from_compute(xp.where(k <= h, first, second), epoch, xp)


# --------------------------------------------------------------------------- epo_entropy_smoothing_penalty


def epo_entropy_smoothing_penalty(entropy: Array, mask: Array, entropy_history: Array, rollout_step: Array, *,
                                  mask_mode: str = "token", min_ratio: float = 0.8, max_ratio: float = 1.2,
                                  out_range_penalty: float = 0.1, weight: float = 1.0, seq_mean: str = "all") -> Array:
    """EPO's entropy smoothing penalty mask; see :func:`reference.policy.epo_entropy_smoothing_penalty`.

    The band is decided in float64 from detached values; the history is gathered with ``take``."""
    from reference.policy.entropy_control import check_rollout_steps

    fn = "epo_entropy_smoothing_penalty"
    xp = namespace(entropy, mask, entropy_history, rollout_step)
    check_params(fn, mask_mode=mask_mode, min_ratio=min_ratio, max_ratio=max_ratio,
                 out_range_penalty=out_range_penalty, weight=weight, seq_mean=seq_mean)
    valid = sequences(fn, xp, mask, entropy=entropy)
    if len(entropy.shape) != 2:
        raise ShapeError(fn, "entropy", "an array of shape (B, T)", f"shape {tuple(entropy.shape)}")
    if len(entropy_history.shape) != 1 or int(entropy_history.shape[0]) == 0:
        raise ShapeError(fn, "entropy_history", "a non-empty 1-d array (one mean entropy per rollout step)",
                         f"shape {tuple(entropy_history.shape)}")
    check_finite(fn, "entropy_history", entropy_history, xp)
    s = int(entropy_history.shape[0])
    check_rollout_steps(fn, rollout_step, int(entropy.shape[0]), s, xp)
    if checked() and bool(xp.any((rollout_step < 0) | (rollout_step >= s))):
        raise DomainError(fn, "rollout_step", f"steps in [0, {s})", "a step outside that range")
    h = xp.astype(detach(entropy), xp.float64)
    hbar = xp.expand_dims(xp.take(xp.astype(detach(entropy_history), xp.float64),
                                  xp.astype(rollout_step, xp.int64), axis=0), axis=-1)
    if mask_mode == "seq":
        if seq_mean == "all":
            stat = xp.mean(h, axis=-1, keepdims=True)
        else:
            w = xp.astype(valid, xp.float64)
            stat = xp.sum(h * w, axis=-1, keepdims=True) / xp.clip(xp.sum(w, axis=-1, keepdims=True), 1.0, None)
    else:
        stat = h
    inside = (min_ratio * hbar < stat) & (stat < max_ratio * hbar)
    out = xp.where(valid & ~inside, xp.full_like(h, weight * out_range_penalty), xp.zeros_like(h))
    return from_compute(out, entropy, xp)


# --------------------------------------------------------------------------- epo_policy_loss


def epo_policy_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, entropy: Array, *,
                    penalty: Array | None = None, entropy_coeff: float = 0.001, smooth_coeff: float = 1.0,
                    clip_low: float = 0.2, clip_high: float = 0.2, dual_clip: float | None = 3.0,
                    mode: str = "token-mean") -> Array:
    """EPO's policy loss (dual-clip PPO − c_H·[agg H − c_s·agg P]); see :func:`reference.policy.epo_policy_loss`."""
    fn = "epo_policy_loss"
    xp = namespace(log_prob, old_log_prob, advantages, mask, entropy, penalty)
    check_params(fn, entropy_coeff=entropy_coeff, smooth_coeff=smooth_coeff, clip_low=clip_low, clip_high=clip_high,
                 dual_clip=dual_clip, mode=mode)
    if penalty is not None:
        valid = sequences(fn, xp, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                          entropy=entropy, penalty=penalty)
    else:
        valid = sequences(fn, xp, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                          entropy=entropy)
    _, _, adv, d = prepare(xp, valid, log_prob, old_log_prob, advantages)
    pg1, pg2 = ppo_terms(adv, xp.exp(d), clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = xp.where(adv < 0, xp.minimum(tok, -adv * dual_clip), tok)
    h = to_compute(entropy, xp)
    if penalty is not None:
        # one aggregation of the per-token combination: agg is linear, so this is agg(ℓ) − c_H(agg H − c_s agg P)
        h = h - smooth_coeff * to_compute(detach(penalty), xp)
    combined = tok - entropy_coeff * xp.astype(h, tok.dtype)
    return finish(combined, valid, mode, log_prob, xp)
