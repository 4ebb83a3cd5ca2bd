"""Accelerated ``entropy_advantages`` group of the ``policy`` family (array API): CANON and EMPG without a Python
loop over groups or steps and without host syncs (traceable by ``torch.compile(fullgraph=True)``).

CANON sorts the responses by (group id, metric, original index) with two stable argsorts; each response's
group bounds come from ``searchsorted`` on the sorted ids, its position in the group from its sorted index,
and the half-sums from one float64 prefix sum read at the group bounds. The metric is computed in float64 on
every backend (exact ties decide identically to the reference; see :mod:`spec.policy.entropy_advantages`).
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, device, from_compute, namespace
from accelerated.policy._common import safe_div
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_mask, check_params, check_same_shape

__all__ = ["canon_advantage", "canon_advantage_scheduled", "empg_advantage"]


def _canon_checks(fn: str, xp: Any, rewards: Array, group_ids: Array, entropy: Array, mask: Array) -> None:
    check_same_shape(fn, rewards=rewards, group_ids=group_ids)
    if rewards.ndim != 1:
        raise ShapeError(fn, "rewards", "a 1-D array of shape (B,)", f"shape {tuple(rewards.shape)}")
    check_same_shape(fn, entropy=entropy, mask=mask)
    if entropy.ndim != 2 or entropy.shape[0] != rewards.shape[0]:
        raise ShapeError(fn, "entropy", f"shape ({rewards.shape[0]}, T) (one row per response)",
                         f"shape {tuple(entropy.shape)}")
    check_finite(fn, "rewards", rewards, xp)
    if not xp.isdtype(group_ids.dtype, "integral"):
        raise DTypeError(fn, "group_ids", "an integer dtype", f"dtype {group_ids.dtype}")
    check_finite(fn, "entropy", entropy, xp)
    check_mask(fn, "mask", mask, xp)


def _canon(xp: Any, rewards: Array, group_ids: Array, entropy: Array, mask: Array, metric: str, inter: Any,
           intra: Any, alpha: float, beta: float, max_length: float) -> Array:
    """CANON advantages (B, T) in float64 (``inter``/``intra`` may be 0-d arrays: the annealed schedule)."""
    f64 = xp.float64
    r = xp.astype(detach(rewards), f64)
    mf = xp.astype(mask != 0, f64)
    if metric == "length":
        key = xp.sum(mf, axis=-1)
    else:
        key = xp.sum(xp.astype(detach(entropy), f64) * mf, axis=-1) / (xp.sum(mf, axis=-1) + 1e-8)
    g = xp.astype(group_ids, xp.int64)
    n = r.shape[0]
    by_key = xp.argsort(key, stable=True)
    perm = xp.take(by_key, xp.argsort(xp.take(g, by_key), stable=True))  # group, then metric, then index
    gs = xp.take(g, perm)
    rs = xp.take(r, perm)
    start = xp.searchsorted(gs, gs, side="left")
    end = xp.searchsorted(gs, gs, side="right")
    size = end - start
    mid = size // 2
    pos = xp.arange(n, device=device(rs)) - start
    high = pos >= mid
    zero = xp.zeros((1,), dtype=f64, device=device(rs))
    cs = xp.concat([zero, xp.cumulative_sum(rs)])
    split = start + mid
    low_sum = xp.take(cs, split) - xp.take(cs, start)
    high_sum = xp.take(cs, end) - xp.take(cs, split)
    single = size == 1
    mu_l = xp.where(single, xp.zeros_like(rs), safe_div(low_sum, xp.astype(mid, f64), xp))
    mu_h = xp.where(single, xp.zeros_like(rs), safe_div(high_sum, xp.astype(size - mid, f64), xp))
    if metric == "length":
        inter_high = alpha * rs - mu_l + beta
        inter_low = rs - alpha * mu_h - beta
    else:
        inter_high = rs - alpha * mu_l + beta
        inter_low = alpha * rs - mu_h - beta
    adv_high = (inter * inter_high + intra * (rs - mu_h)) / max_length
    adv_low = (inter * inter_low + intra * (rs - mu_l)) / max_length
    adv_sorted = xp.where(high, adv_high, adv_low)
    adv = xp.take(adv_sorted, xp.argsort(perm, stable=True))
    return adv[:, None] * mf


# --------------------------------------------------------------------------- canon_advantage


def canon_advantage(rewards: Array, group_ids: Array, entropy: Array, mask: Array, *, metric: str = "entropy",
                    mu: float = 1.0, alpha: float = 1.0, beta: float = 0.0, max_length: int = 8192) -> Array:
    """CANON conditional advantage; see :func:`reference.policy.canon_advantage` ("Conditional Advantage Estimation
    for Reinforcement Learning in Large Reasoning Models", 2025, arXiv:2509.23962)."""
    fn = "canon_advantage"
    xp = namespace(rewards, group_ids, entropy, mask)
    check_params(fn, metric=metric, mu=mu, alpha=alpha, beta=beta, max_length=max_length)
    _canon_checks(fn, xp, rewards, group_ids, entropy, mask)
    if rewards.shape[0] == 0:
        return from_compute(xp.zeros(entropy.shape, dtype=entropy.dtype), entropy, xp)
    adv = _canon(xp, rewards, group_ids, entropy, mask, metric, mu, 1.0 - mu, alpha, beta, float(max_length))
    return from_compute(adv, entropy, xp)


# --------------------------------------------------------------------------- canon_advantage_scheduled


def _cosine_restart(step: int, high: float, low: float, total: int = 150, warmup: int = 30, cycles: int = 3) -> float:
    if step < warmup:
        return high * (step + 1) / warmup
    cycle_length = (total - warmup) // cycles
    cycle_epoch = (step - warmup) % cycle_length
    return low + 0.5 * (high - low) * (1 + math.cos(math.pi * cycle_epoch / cycle_length))


def canon_advantage_scheduled(rewards: Array, group_ids: Array, entropy: Array, mask: Array, *,
                              schedule: str = "cosine_restart", step: int = 0, max_length: int = 8192) -> Array:
    """CANON with scheduled weights; see :func:`reference.policy.canon_advantage_scheduled` ("Conditional Advantage
    Estimation for Reinforcement Learning in Large Reasoning Models", 2025, arXiv:2509.23962). The annealed weight
    (batch-mean reward) stays an array: no host sync."""
    fn = "canon_advantage_scheduled"
    xp = namespace(rewards, group_ids, entropy, mask)
    check_params(fn, schedule=schedule, step=step, max_length=max_length)
    _canon_checks(fn, xp, rewards, group_ids, entropy, mask)
    if rewards.shape[0] == 0:
        return from_compute(xp.zeros(entropy.shape, dtype=entropy.dtype), entropy, xp)
    mean_of_all: Any
    if schedule == "annel":
        mean_of_all = 1.0 - xp.mean(xp.astype(detach(rewards), xp.float64))
    elif schedule == "cosine_restart":
        mean_of_all = _cosine_restart(step, 0.6, 0.0)
    else:
        mean_of_all = 1.0 - _cosine_restart(step, 1.0, 0.4)
    adv = _canon(xp, rewards, group_ids, entropy, mask, "entropy", 1.0 - mean_of_all, mean_of_all, 1.0, 0.0,
                 float(max_length))
    return from_compute(adv, entropy, xp)


# --------------------------------------------------------------------------- empg_advantage


def empg_advantage(step_entropy: Array, advantages: Array, trajectory_ids: Array, *, k: float = 1.0, k_f: float = 1.0,
                   zeta: float = 0.1, normalize: str = "std") -> Array:
    """EMPG step advantages; see :func:`reference.policy.empg_advantage` ("Harnessing Uncertainty: Entropy-Modulated
    Policy Gradients for Long-Horizon LLM Agents", 2025, arXiv:2509.09265). The next step of each step comes from one
    stable argsort of the trajectory ids (no loop over steps); computed in float64 (S is small)."""
    fn = "empg_advantage"
    xp = namespace(step_entropy, advantages, trajectory_ids)
    check_params(fn, k=k, k_f=k_f, zeta=zeta, normalize=normalize)
    check_same_shape(fn, step_entropy=step_entropy, advantages=advantages, trajectory_ids=trajectory_ids)
    if step_entropy.ndim != 1:
        raise ShapeError(fn, "step_entropy", "a 1-D array of shape (S,)", f"shape {tuple(step_entropy.shape)}")
    check_finite(fn, "step_entropy", step_entropy, xp)
    check_finite(fn, "advantages", advantages, xp)
    if not xp.isdtype(trajectory_ids.dtype, "integral"):
        raise DTypeError(fn, "trajectory_ids", "an integer dtype", f"dtype {trajectory_ids.dtype}")
    s = step_entropy.shape[0]
    if s == 0:
        return from_compute(xp.zeros_like(advantages), advantages, xp)
    f64 = xp.float64
    h = xp.astype(detach(step_entropy), f64)
    a = xp.astype(detach(advantages), f64)
    h_norm = (h - xp.min(h)) / (xp.max(h) - xp.min(h) + 1e-8)
    g_raw = xp.exp(-k * h_norm)
    g = g_raw / (xp.mean(g_raw) + 1e-8)
    f = xp.exp(-k_f * h_norm)
    tid = xp.astype(trajectory_ids, xp.int64)
    perm = xp.argsort(tid, stable=True)  # by trajectory, steps in their order
    ts = xp.take(tid, perm)
    dev = device(h)
    nxt_pos = xp.clip(xp.arange(s, device=dev) + 1, 0, s - 1)
    has_sorted = xp.concat([ts[1:] == ts[:-1], xp.zeros((1,), dtype=xp.bool, device=dev)])
    bonus_sorted = xp.where(has_sorted, zeta * xp.take(f, xp.take(perm, nxt_pos)), xp.zeros_like(h))
    bonus = xp.take(bonus_sorted, xp.argsort(perm, stable=True))
    out = g * a + bonus
    if normalize == "mean":
        out = out - xp.mean(out)
    elif normalize == "std":
        centred = out - xp.mean(out)
        out = centred / (xp.sqrt(xp.mean(centred * centred)) + 1e-8)
    return from_compute(out, advantages, xp)
