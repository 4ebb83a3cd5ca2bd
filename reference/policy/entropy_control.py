"""Reference (NumPy float64) ``entropy_control`` group of the ``policy`` family: SIREN's peak-entropy quantile
mask and self-anchored entropy regulariser; EPO's phase weight, entropy smoothing penalty and policy loss.

Sequence inputs are ``(B, T)`` with a ``mask`` of the same shape (see :mod:`reference.policy._common`);
every aggregation goes through :func:`reference.policy.aggregate`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.policy._common import Bool, sequences
from reference.policy.ppo import aggregate, ppo_clip_loss
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_params

__all__ = [
    "epo_entropy_smoothing_penalty",
    "epo_phase_weight",
    "epo_policy_loss",
    "peak_entropy_quantile_mask",
    "siren_entropy_loss",
]


# --------------------------------------------------------------------------- helpers


def _lerp(a: F64, b: F64, w: F64) -> F64:
    """torch.lerp's formula (the interpolation of torch.quantile): exact at both ends."""
    return np.where(w < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))


def row_quantile(x: F64, valid: Bool, q: float) -> F64:
    """Per-row ``torch.nanquantile(where(valid, x, nan), q, dim=-1)`` (linear interpolation at
    ``pos = q·(n − 1)`` over the row's ``n`` valid entries), in float64; NaN for a row without valid entries."""
    out = np.full(x.shape[:-1], np.nan)
    for idx in np.ndindex(x.shape[:-1]):
        vals = np.sort(x[idx][valid[idx]])
        n = vals.size
        if n == 0:
            continue
        pos = q * (n - 1)
        lo = math.floor(pos)
        hi = math.ceil(pos)
        out[idx] = float(_lerp(vals[lo: lo + 1], vals[hi: hi + 1], np.array([pos - lo]))[0])
    return out


def peak_mask(h: F64, valid: Bool, q: float, double_mask: bool, restrict: bool) -> tuple[F64, Bool]:
    """``(entropies to aggregate, kept set)``: one or two rounds of ``H > row quantile``."""
    with np.errstate(invalid="ignore"):
        keep = h > row_quantile(h, valid, q)[..., None]
    if restrict:
        keep &= valid
    if not double_mask:
        return h, np.asarray(keep, dtype=bool)
    masked = np.where(keep, h, 0.0)
    with np.errstate(invalid="ignore"):
        keep2 = masked > row_quantile(masked, valid, q)[..., None]
    if restrict:
        keep2 &= valid
    return masked, np.asarray(keep2, dtype=bool)


# --------------------------------------------------------------------------- peak_entropy_quantile_mask


def peak_entropy_quantile_mask(entropy: npt.ArrayLike, mask: npt.ArrayLike, *, quantile: float = 0.8,
                               double_mask: bool = False, restrict_to_mask: bool = True) -> Bool:
    r"""SIREN's peak-entropy mask: the tokens whose entropy exceeds their sequence's ``q``-quantile.

    ``bound_b = nanquantile(H_b over the valid tokens, q)`` per row (linear interpolation at
    ``pos = q·(n_b − 1)``: ``lerp(v_⌊pos⌋, v_⌈pos⌉, pos − ⌊pos⌋)``), ``keep = H > bound_b`` (strict),
    AND-ed with the mask when ``restrict_to_mask`` (the code does not AND it). ``double_mask`` repeats
    the step on ``where(keep, H, 0)`` (the official ``experiment_type='siren'`` path). A row without
    valid tokens keeps nothing; all-equal valid entropies keep nothing.

    Paper: "Rethinking Entropy Regularization in Large Reasoning Models" (2025, arXiv:2509.25133),
    official code ``mask_by_quantile`` in Linn3a/siren ``verl/verl/workers/actor/dp_actor.py``
    (commit fa59a8d), which computes the quantile with ``torch.nanquantile`` in float32; the bound is
    computed here in float64 with torch's ``lerp`` formula.

    Papers:

    - Rethinking Entropy Regularization in Large Reasoning Models (2025, arXiv:2509.25133)
    """
    fn = "peak_entropy_quantile_mask"
    check_params(fn, quantile=quantile, double_mask=double_mask, restrict_to_mask=restrict_to_mask)
    a, valid = sequences(fn, mask, entropy=entropy)
    _, keep = peak_mask(a["entropy"], valid, quantile, double_mask, restrict_to_mask)
    return keep


# --------------------------------------------------------------------------- siren_entropy_loss


def siren_aggregate(h: F64, keep: Bool, mode: str, empty_rows: str) -> float:
    """``aggregate(h, keep, mode)``; with ``empty_rows='zero'`` a seq-mean-token-mean row without kept tokens
    counts as 0 in the mean over all rows (the fork's ``agg_loss``)."""
    value = float(aggregate(h, keep, mode))
    if mode == "seq-mean-token-mean" and empty_rows == "zero" and keep.size:
        k2 = keep.reshape(-1, keep.shape[-1])
        value = value * float(k2.any(axis=-1).sum()) / k2.shape[0]
    return value


def siren_entropy_loss(entropy: npt.ArrayLike, mask: npt.ArrayLike, *, anchor: npt.ArrayLike | None = None,
                       old_entropy: npt.ArrayLike | None = None, coef: float = 1.0, quantile: float = 0.8,
                       double_mask: bool = True, restrict_to_mask: bool = True, mode: str = "seq-mean-token-mean",
                       empty_rows: str = "zero") -> tuple[F64, F64]:
    r"""SIREN's self-anchored selective entropy regulariser; returns ``(loss, anchor)``.

    ``H_sel = aggregate(H', M, mode)`` with ``(H', M)`` from :func:`peak_entropy_quantile_mask`
    (``double_mask``: ``H' = where(M1, H, 0)`` and ``M = M2``, the official 'siren' path; otherwise
    ``H' = H``, ``M = M1``); ``loss = coef·(H_sel − anchor)²``.

    State: ``anchor`` (0-d) is an input and an output. ``anchor=None`` is the first step: the anchor
    is ``H_sel`` of ``old_entropy`` (the old policy's entropies, as the official trainer at global
    step 1) with ONE mask (as the trainer), or of the current ``entropy`` when ``old_entropy`` is None;
    it is computed without gradient. The returned anchor is passed back unchanged afterwards (the
    code keeps it constant). Stop-gradients: masks, anchor, ``old_entropy``.

    ``empty_rows='zero'`` reproduces the fork's ``agg_loss`` (seq-mean-token-mean over all rows, a row
    without kept tokens counting 0); ``'exclude'`` is our ``aggregate``. The fork adds
    ``entropy_coeff·loss`` to the PPO loss (``entropy_coeff = 0.005`` in ``exp_scripts/siren.sh``);
    the entropies are its top-p entropies (``top_p_renormalized_entropy``, p = 0.8).

    Paper: "Rethinking Entropy Regularization in Large Reasoning Models" (2025, arXiv:2509.25133);
    official code Linn3a/siren ``dp_actor.py`` ``update_policy`` and ``ray_trainer.py`` (commit fa59a8d).

    Papers:

    - Rethinking Entropy Regularization in Large Reasoning Models (2025, arXiv:2509.25133)
    """
    fn = "siren_entropy_loss"
    check_params(fn, coef=coef, quantile=quantile, double_mask=double_mask, restrict_to_mask=restrict_to_mask,
                 mode=mode, empty_rows=empty_rows)
    a, valid = sequences(fn, mask, entropy=entropy, old_entropy=old_entropy) if old_entropy is not None \
        else sequences(fn, mask, entropy=entropy)
    if anchor is not None:
        anc = np.asarray(anchor)
        if anc.ndim != 0:
            raise ShapeError(fn, "anchor", "a 0-d array (the anchor state)", f"shape {anc.shape}")
        check_finite(fn, "anchor", anc, np)
        anchor_value = float(anc)
    else:
        src = a["old_entropy"] if old_entropy is not None else a["entropy"]
        h0, k0 = peak_mask(src, valid, quantile, False, restrict_to_mask)
        anchor_value = siren_aggregate(h0, k0, mode, empty_rows)
    h, keep = peak_mask(a["entropy"], valid, quantile, double_mask, restrict_to_mask)
    h_sel = siren_aggregate(h, keep, mode, empty_rows)
    return np.asarray(coef * (h_sel - anchor_value) ** 2), np.asarray(anchor_value)


# --------------------------------------------------------------------------- epo_phase_weight


def epo_phase_weight(epoch: npt.ArrayLike, *, max_epochs: int = 150, lambda_slow: float = 2.0,
                     lambda_fast: float = 3.0) -> F64:
    r"""EPO's two-phase weight of the entropy smoothing penalty, elementwise in ``epoch``.

    With ``K = max_epochs``, ``h = K // 2`` and ``k`` clamped to ``[0, K]``:
    ``β = 1 − 0.2·(1 − e^{−λ_slow·k/h})`` for ``k ≤ h`` (1 when ``h = 0``) and
    ``β = 0.8·e^{−λ_fast·(k − h)/(K − h)}`` for ``k > h``; ``K = 0`` gives 1. The schedule jumps at
    ``k = h`` (0.8 + 0.2·e^{−λ_slow} at h, about 0.8·e^{−λ_fast/(K − h)} just after).

    Paper: "EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning"
    (2025, arXiv:2509.22576); official code ``_calculate_epoch_based_entropy_weight`` in WujiangXu/EPO
    ``verl/workers/actor/dp_actor.py`` (commit 5b6fa98), whose ``update_policy`` hard-codes
    ``max_epochs = 150`` (λ_slow = 2, λ_fast = 3 are literals there). Epochs may be fractional here;
    integer epochs give float64 weights.

    Papers:

    - EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning (2025, arXiv:2509.22576)
    """
    fn = "epo_phase_weight"
    check_params(fn, max_epochs=max_epochs, lambda_slow=lambda_slow, lambda_fast=lambda_fast)
    e = np.asarray(epoch)
    if np.issubdtype(e.dtype, np.integer):
        e = e.astype(np.float64)  # the code's epochs are ints
    check_finite(fn, "epoch", e, np)
    e = e.astype(np.float64)
    out = np.empty(e.shape)
    h = max_epochs // 2
    for idx in np.ndindex(e.shape):
        if max_epochs <= 0:
            out[idx] = 1.0
            continue
        k = min(max(float(e[idx]), 0.0), float(max_epochs))
        if k <= h:
            out[idx] = 1.0 if h == 0 else 1.0 - 0.2 * (1.0 - math.exp(-lambda_slow * k / h))
        else:
            out[idx] = 0.8 * math.exp(-lambda_fast * (k - h) / (max_epochs - h))
    return out


# --------------------------------------------------------------------------- epo_entropy_smoothing_penalty


def check_rollout_steps(fn: str, steps: Any, b: int, s: int, xp: Any) -> None:
    """``rollout_step``: an integer array of shape ``(B,)`` with values in ``[0, S)`` (values in checked mode)."""
    if tuple(int(d) for d in steps.shape) != (b,):
        raise ShapeError(fn, "rollout_step", f"shape ({b},) (one step per row of 'entropy')",
                         f"shape {tuple(steps.shape)}")
    if not xp.isdtype(steps.dtype, "integral"):
        raise DTypeError(fn, "rollout_step", "an integer dtype", f"dtype {steps.dtype}")


def epo_entropy_smoothing_penalty(entropy: npt.ArrayLike, mask: npt.ArrayLike, entropy_history: npt.ArrayLike,
                                  rollout_step: npt.ArrayLike, *, mask_mode: str = "token", min_ratio: float = 0.8,
                                  max_ratio: float = 1.2, out_range_penalty: float = 0.1, weight: float = 1.0,
                                  seq_mean: str = "all") -> F64:
    r"""EPO's entropy smoothing penalty mask ``P`` (B, T).

    ``H̄_i = entropy_history[rollout_step_i]``; token mode: ``P_it = 0`` if
    ``min_ratio·H̄_i < H_it < max_ratio·H̄_i`` (strict) else ``weight·out_range_penalty``; seq mode:
    the same test on the row mean (``seq_mean='all'``: over all T positions, padding included, as the
    code's ``entropy.mean(dim=-1)``; ``'valid'``: over the valid tokens), broadcast to the row. 0 at
    masked tokens. ``weight`` is ``epo_phase_weight`` (the code's ``enable_smooth_weights``). P is a
    constant (no gradient). The caller keeps the history and the gate of ``update_policy`` (apply only
    when some rollout step ≥ ``max_step // 2``).

    Differences: the code returns ``ones`` for an empty history (a single value where two are
    unpacked: a crash) — a non-empty history is required here; the band is decided in float64.

    Paper: "EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning"
    (2025, arXiv:2509.22576); official code ``generate_entropy_penalty`` in WujiangXu/EPO (commit 5b6fa98).

    Papers:

    - EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning (2025, arXiv:2509.22576)
    """
    fn = "epo_entropy_smoothing_penalty"
    check_params(fn, mask_mode=mask_mode, min_ratio=min_ratio, max_ratio=max_ratio,
                 out_range_penalty=out_range_penalty, weight=weight, seq_mean=seq_mean)
    a, valid = sequences(fn, mask, entropy=entropy)
    h = a["entropy"]
    if h.ndim != 2:
        raise ShapeError(fn, "entropy", "an array of shape (B, T)", f"shape {h.shape}")
    hist = np.asarray(entropy_history)
    if hist.ndim != 1 or hist.shape[0] == 0:
        raise ShapeError(fn, "entropy_history", "a non-empty 1-d array (one mean entropy per rollout step)",
                         f"shape {hist.shape}")
    check_finite(fn, "entropy_history", hist, np)
    steps = np.asarray(rollout_step)
    check_rollout_steps(fn, steps, h.shape[0], hist.shape[0], np)
    if np.any((steps < 0) | (steps >= hist.shape[0])):
        raise DomainError(fn, "rollout_step", f"steps in [0, {hist.shape[0]})", "a step outside that range")
    hbar = hist.astype(np.float64)[steps.astype(np.int64)][:, None]
    if mask_mode == "seq":
        if seq_mean == "all":
            stat = h.mean(axis=-1, keepdims=True)
        else:
            n = valid.sum(axis=-1, keepdims=True)
            stat = np.where(valid, h, 0.0).sum(axis=-1, keepdims=True) / np.maximum(n, 1)
    else:
        stat = h
    inside = (min_ratio * hbar < stat) & (stat < max_ratio * hbar)
    return np.where(valid & ~np.broadcast_to(inside, h.shape), weight * out_range_penalty, 0.0)


# --------------------------------------------------------------------------- epo_policy_loss


def epo_policy_loss(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                    mask: npt.ArrayLike, entropy: npt.ArrayLike, *, penalty: npt.ArrayLike | None = None,
                    entropy_coeff: float = 0.001, smooth_coeff: float = 1.0, clip_low: float = 0.2,
                    clip_high: float = 0.2, dual_clip: float | None = 3.0, mode: str = "token-mean") -> F64:
    r"""EPO's policy loss ``L = L_PPO − c_H·[agg(H, m) − c_s·agg(P, m)]``.

    ``L_PPO`` = :func:`reference.policy.ppo_clip_loss` with the dual clip on (``clip_ratio_c = 3``, as
    the code's ``compute_policy_loss``); every term is aggregated with the same ``mode`` through
    :func:`reference.policy.aggregate`. ``P`` (``penalty``, from :func:`epo_entropy_smoothing_penalty`)
    is a constant: the smoothing term shifts the value, not the gradient. ``penalty=None`` is the
    code's ``entropy_smooth=False``. Stop-gradients: ``old_log_prob``, ``advantages``, ``penalty``.
    Defaults: ``c_H = 0.001``, ``c_s = 1``, ε = 0.2, token-mean (``ppo_trainer.yaml``).

    Paper: "EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning"
    (2025, arXiv:2509.22576); official code ``update_policy`` in WujiangXu/EPO (commit 5b6fa98).

    Papers:

    - EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning (2025, arXiv:2509.22576)
    """
    fn = "epo_policy_loss"
    check_params(fn, entropy_coeff=entropy_coeff, smooth_coeff=smooth_coeff, clip_low=clip_low, clip_high=clip_high,
                 dual_clip=dual_clip, mode=mode)
    arrays = {"log_prob": log_prob, "old_log_prob": old_log_prob, "advantages": advantages, "entropy": entropy}
    if penalty is not None:
        arrays["penalty"] = penalty
    a, valid = sequences(fn, mask, **arrays)
    pg = float(ppo_clip_loss(a["log_prob"], a["old_log_prob"], a["advantages"], valid, clip_low=clip_low,
                             clip_high=clip_high, dual_clip=dual_clip, mode=mode))
    ent = float(aggregate(a["entropy"], valid, mode))
    if penalty is not None:
        ent -= smooth_coeff * float(aggregate(a["penalty"], valid, mode))
    return np.asarray(pg - entropy_coeff * ent)
