"""Accelerated ``advantages`` group of the ``policy`` family: GRPO / Dr. GRPO group advantages without a
loop over groups and without host syncs (traceable by ``torch.compile(fullgraph=True)``).

Sorts by (group id, reward) with two stable argsorts; every per-group statistic comes from segmented
scans (Hillis–Steele doubling, ``ceil(log2 N)`` vectorised steps, a number fixed by the shape, with the
same-segment masks built once): "first value" scans forward and backward give each entry the first and
last index of its segment, and a forward ``+`` scan read at the segment's last index gives its sum.
Sums are float64 and restricted to one group each, so a
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


def _masks(seg: Array, xp: Any) -> list[tuple[int, Array]]:
    """For each doubling step, whether entry ``i`` and entry ``i − step`` are in the same segment."""
    n = seg.shape[0]
    out = []
    step = 1
    while step < n:
        out.append((step, xp.concat([xp.zeros((step,), dtype=xp.bool, device=device(seg)),
                                     seg[step:] == seg[: n - step]])))
        step *= 2
    return out


def _scan(x: Array, masks: list[tuple[int, Array]], combine: Callable[[Array, Array], Array], xp: Any) -> Array:
    """Inclusive scan of ``x`` with ``combine(earlier, later)``, restarted at every segment."""
    n = x.shape[0]
    for step, same in masks:
        shifted = xp.concat([x[:step], x[: n - step]])  # the first ``step`` entries are never used
        x = xp.where(same, combine(shifted, x), x)
    return x


def _first(earlier: Array, later: Array) -> Array:
    return earlier


def _add(earlier: Array, later: Array) -> Array:
    return earlier + later


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
    n = rewards.shape[0]
    if n == 0:
        return from_compute(xp.zeros_like(rewards), rewards, xp)
    f64 = xp.float64
    r = xp.astype(detach(rewards), f64)
    g = xp.astype(group_ids, xp.int64)

    by_reward = xp.argsort(r, stable=True)
    perm = xp.take(by_reward, xp.argsort(xp.take(g, by_reward), stable=True))
    seg = xp.take(g, perm)
    rs = xp.take(r, perm)

    forward = _masks(seg, xp)
    backward = _masks(xp.flip(seg, axis=0), xp)
    index = xp.arange(n, device=device(rs))
    start = _scan(index, forward, _first, xp)  # first index of each entry's segment
    end = xp.flip(_scan(xp.flip(index, axis=0), backward, _first, xp), axis=0)  # its last index
    count = xp.astype(end - start + 1, f64)
    mean = xp.take(_scan(rs, forward, _add, xp), end) / count  # segment sum: the scan at the segment's end
    ss = xp.take(_scan((rs - mean) ** 2, forward, _add, xp), end)
    std = xp.sqrt(ss / xp.clip(count - 1.0, 1.0, None))
    single = count == 1.0
    constant = (xp.take(rs, end) == xp.take(rs, start)) & ~single  # sorted by reward inside the group
    mean = xp.where(single, xp.zeros_like(mean), mean)
    std = xp.where(single, xp.ones_like(std), std)
    centred = xp.where(constant, xp.zeros_like(rs), rs - mean)
    adv_sorted = centred if scale == "none" else safe_div(centred, std + eps, xp)
    adv = xp.take(adv_sorted, xp.argsort(perm, stable=True))
    return from_compute(adv, rewards, xp)
