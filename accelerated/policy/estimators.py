"""Accelerated ``estimators`` group of the ``policy`` family: RLOO, OPO and GRPO pass@k advantages without
a loop over groups and without host syncs (traceable by ``torch.compile(fullgraph=True)``).

Group statistics come from :class:`accelerated.policy._common.Segments`: a stable sort by group id
(and by reward for pass@k), ``searchsorted`` for each entry's first/last sorted index, and segmented
scans (``ceil(log2 N)`` vectorised steps) for per-group float64 sums. RLOO and OPO work on deviations
from the group's first reward, so a constant group gives exactly 0 without a test; the best and
second-best rewards of a group are the last two entries of its segment sorted by reward.
"""

from __future__ import annotations

from typing import Any

from accelerated._xp import Array, detach, device, from_compute, namespace
from accelerated.policy._common import Segments, safe_div
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_floating, check_mask, check_params, check_same_shape, checked

__all__ = ["grpo_passk_advantages", "opo_advantages", "rloo_advantages"]


def _grouped(fn: str, rewards: Array, group_ids: Array, xp: Any) -> None:
    check_same_shape(fn, rewards=rewards, group_ids=group_ids)
    if rewards.ndim != 1:
        raise ShapeError(fn, "rewards", "a 1-D array of shape (N,)", f"shape {tuple(rewards.shape)}")
    check_floating(fn, "rewards", rewards, xp)
    if checked():
        check_finite(fn, "rewards", rewards, xp)
    if not xp.isdtype(group_ids.dtype, "integral"):
        raise DTypeError(fn, "group_ids", "an integer dtype", f"dtype {group_ids.dtype}")


def rloo_advantages(rewards: Array, group_ids: Array, *, singleton: str = "reward") -> Array:
    """RLOO leave-one-out advantages; see :func:`reference.policy.rloo_advantages`."""
    xp = namespace(rewards, group_ids)
    check_params("rloo_advantages", singleton=singleton)
    _grouped("rloo_advantages", rewards, group_ids, xp)
    if rewards.shape[0] == 0:
        return from_compute(xp.zeros_like(rewards), rewards, xp)
    r = xp.astype(detach(rewards), xp.float64)
    seg = Segments(group_ids, xp)
    dev_sorted, dev = seg.deviations(r)  # r − first reward of the group: exactly 0 in a constant group
    k = seg.count_o
    centred = dev - seg.total_o(dev_sorted) / k
    adv = safe_div(k, k - 1.0, xp) * centred
    alone = r if singleton == "reward" else xp.zeros_like(r)
    return from_compute(xp.where(k == 1.0, alone, adv), rewards, xp)


def opo_advantages(rewards: Array, mask: Array, group_ids: Array, *, singleton: str = "formula") -> Array:
    """OPO length-weighted baseline advantages; see :func:`reference.policy.opo_advantages`."""
    xp = namespace(rewards, mask, group_ids)
    check_params("opo_advantages", singleton=singleton)
    _grouped("opo_advantages", rewards, group_ids, xp)
    if mask.ndim != 2 or mask.shape[0] != rewards.shape[0]:
        raise ShapeError("opo_advantages", "mask", f"an array of shape (N, T) with N = {rewards.shape[0]}",
                         f"shape {tuple(mask.shape)}")
    check_mask("opo_advantages", "mask", mask, xp)
    if rewards.shape[0] == 0:
        return from_compute(xp.zeros_like(rewards), rewards, xp)
    r = xp.astype(detach(rewards), xp.float64)
    seg = Segments(group_ids, xp)
    dev_sorted, dev = seg.deviations(r)
    lengths = seg.sort(xp.sum(xp.astype(mask != 0, xp.float64), axis=-1))
    weight = seg.total_o(lengths)
    weighted = safe_div(seg.total_o(lengths * dev_sorted), weight, xp)
    base = xp.where(weight > 0, weighted, seg.total_o(dev_sorted) / seg.count_o)
    adv = dev - base
    single = seg.count_o == 1.0
    return from_compute(xp.where(single, r if singleton == "reward" else xp.zeros_like(r), adv), rewards, xp)


def grpo_passk_advantages(rewards: Array, group_ids: Array, *, scale: str = "none", eps: float = 1e-6) -> Array:
    """GRPO pass@k advantages; see :func:`reference.policy.grpo_passk_advantages`."""
    xp = namespace(rewards, group_ids)
    check_params("grpo_passk_advantages", scale=scale, eps=eps)
    _grouped("grpo_passk_advantages", rewards, group_ids, xp)
    n = rewards.shape[0]
    if n == 0:
        return from_compute(xp.zeros_like(rewards), rewards, xp)
    r = xp.astype(detach(rewards), xp.float64)
    seg = Segments(group_ids, xp, key=r)  # sorted by (group, reward): the best is the last of its segment
    rs = seg.sort(r)
    single = seg.count == 1.0
    index = xp.arange(n, device=device(rs))
    second = xp.take(rs, xp.clip(seg.end - 1, 0, None))
    gap = xp.take(rs, seg.end) - second
    best = (index == seg.end) & ~single & (gap > 0)
    if scale == "std":
        dev = rs - xp.take(rs, seg.start)
        mean = seg.total(dev) / seg.count
        ss = seg.total((dev - mean) ** 2)
        std = xp.sqrt(ss / xp.clip(seg.count - 1.0, 1.0, None))
        gap = safe_div(gap, std + eps, xp)
    adv = xp.where(best, gap, xp.zeros_like(rs))
    return from_compute(seg.unsort(adv), rewards, xp)
