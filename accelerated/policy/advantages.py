"""Accelerated ``advantages`` group of the ``policy`` family: GRPO / Dr. GRPO group advantages without a
loop over groups and without host syncs (traceable by ``torch.compile(fullgraph=True)``).

Sorts by (group id, reward) with two stable argsorts; every per-group statistic comes from segmented
scans (Hillis–Steele doubling, ``ceil(log2 N)`` vectorised steps, a number fixed by the shape): a
forward ``+`` scan gives each segment's sum at its last element, and a backward "first value" scan
broadcasts that value to the whole segment. Sums are float64 and restricted to one group each, so a
small-variance group is not swamped by the rounding of a global prefix sum. Constant groups are
detected exactly from the first and last sorted reward of the group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accelerated._xp import Array, detach, device, from_compute, namespace
from accelerated.policy._common import safe_div
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_floating, check_params, check_same_shape, checked

__all__ = ["group_advantages"]


def _scan(x: Array, seg: Array, combine: Callable[[Array, Array], Array], xp: Any) -> Array:
    """Inclusive scan of ``x`` with ``combine(earlier, later)``, restarted at every segment (``seg`` sorted)."""
    n = x.shape[0]
    step = 1
    while step < n:
        shifted = xp.concat([x[:step], x[: n - step]])  # the first ``step`` entries are never used
        same = xp.concat([xp.zeros((step,), dtype=xp.bool, device=device(x)), seg[step:] == seg[: n - step]])
        x = xp.where(same, combine(shifted, x), x)
        step *= 2
    return x


def _segment_last(x: Array, seg: Array, xp: Any) -> Array:
    """The value at the last element of each element's segment, broadcast to the segment."""
    return xp.flip(_scan(xp.flip(x, axis=0), xp.flip(seg, axis=0), lambda earlier, later: earlier, xp), axis=0)


def _segment_first(x: Array, seg: Array, xp: Any) -> Array:
    return _scan(x, seg, lambda earlier, later: earlier, xp)


def _segment_sum(x: Array, seg: Array, xp: Any) -> Array:
    return _segment_last(_scan(x, seg, lambda earlier, later: earlier + later, xp), seg, xp)


def group_advantages(rewards: Array, group_ids: Array, *, scale: str = "std", eps: float = 1e-6) -> Array:
    """GRPO / Dr. GRPO group advantages; see :func:`reference.policy.group_advantages`."""
    xp = namespace(rewards, group_ids)
    check_params("group_advantages", scale=scale, eps=eps)
    check_same_shape("group_advantages", rewards=rewards, group_ids=group_ids)
    if rewards.ndim != 1:
        raise ShapeError("group_advantages", "rewards", "a 1-D array of shape (N,)", f"shape {tuple(rewards.shape)}")
    check_floating("group_advantages", "rewards", rewards, xp)
    if checked():
        check_finite("group_advantages", "rewards", rewards, xp)
    if not xp.isdtype(group_ids.dtype, "integral"):
        raise DTypeError("group_advantages", "group_ids", "an integer dtype", f"dtype {group_ids.dtype}")
    if rewards.shape[0] == 0:
        return from_compute(xp.zeros_like(rewards), rewards, xp)
    f64 = xp.float64
    r = xp.astype(detach(rewards), f64)
    g = xp.astype(group_ids, xp.int64)

    by_reward = xp.argsort(r, stable=True)
    perm = xp.take(by_reward, xp.argsort(xp.take(g, by_reward), stable=True))
    seg = xp.take(g, perm)
    rs = xp.take(r, perm)

    count = _segment_sum(xp.ones_like(rs), seg, xp)
    mean = _segment_sum(rs, seg, xp) / count
    ss = _segment_sum((rs - mean) ** 2, seg, xp)
    std = xp.sqrt(ss / xp.clip(count - 1.0, 1.0, None))
    single = count == 1.0
    constant = (_segment_last(rs, seg, xp) == _segment_first(rs, seg, xp)) & ~single  # sorted by reward
    mean = xp.where(single, xp.zeros_like(mean), mean)
    std = xp.where(single, xp.ones_like(std), std)
    centred = xp.where(constant, xp.zeros_like(rs), rs - mean)
    adv_sorted = centred if scale == "none" else safe_div(centred, std + eps, xp)
    adv = xp.take(adv_sorted, xp.argsort(perm, stable=True))
    return from_compute(adv, rewards, xp)
