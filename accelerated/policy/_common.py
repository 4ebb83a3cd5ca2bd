"""Helpers shared by the accelerated ``policy`` groups: validation of sequence inputs, the aggregation
modes, the PPO terms and masked means (array API; traceable by ``torch.compile``: no host syncs)."""

from __future__ import annotations

from typing import Any

from accelerated._xp import Array, detach, from_compute, rows, to_compute
from spec.errors import ShapeError
from spec.validate import check_finite, check_mask, check_same_shape

__all__ = ["aggregate_tokens", "finish", "masked_mean", "ppo_terms", "prepare", "safe_div", "sequences"]


def sequences(fn: str, xp: Any, mask: Array, **floats: Array) -> Array:
    """Same checks, same order, as the reference; returns the boolean valid mask."""
    shape = check_same_shape(fn, **floats, mask=mask)
    if len(shape) == 0:
        raise ShapeError(fn, next(iter(floats)), "an array of shape (B, T)", "a 0-d array")
    for name, a in floats.items():
        check_finite(fn, name, a, xp)  # the dtype check always runs; the value checks only in checked mode
    check_mask(fn, "mask", mask, xp)
    return mask != 0


def safe_div(num: Array, den: Array, xp: Any) -> Array:
    """``num / den`` where ``den > 0``, else 0 (no NaN, no inf)."""
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), xp.zeros_like(num))


def aggregate_tokens(tok: Array, w: Array, mode: str, max_length: int | None, xp: Any) -> Array:
    """Aggregate a per-token array that is 0 at masked positions; ``w`` is the mask as floats."""
    x = rows(tok, xp)
    m = rows(w, xp)
    n_rows, t = x.shape
    if mode == "token-mean":
        return safe_div(xp.sum(x), xp.sum(m), xp)
    if mode == "seq-mean-token-sum":
        total = xp.sum(x)
        return total / n_rows if n_rows > 0 else total * 0.0  # keeps the autograd graph
    if mode == "seq-mean-token-mean":
        row_n = xp.sum(m, axis=-1)
        row_means = safe_div(xp.sum(x, axis=-1), row_n, xp)
        kept = xp.sum(xp.astype(row_n > 0, x.dtype))
        return safe_div(xp.sum(row_means), kept, xp)
    length = t if max_length is None else max_length
    total = xp.sum(x)
    return total / (n_rows * length) if n_rows * length > 0 else total * 0.0


def finish(tok: Array, valid: Array, mode: str, like: Array, xp: Any) -> Array:
    tok = xp.where(valid, tok, xp.zeros_like(tok))
    if mode == "none":
        return from_compute(tok, like, xp)
    return from_compute(aggregate_tokens(tok, xp.astype(valid, tok.dtype), mode, None, xp), like, xp)


def prepare(xp: Any, valid: Array, log_prob: Array, old_log_prob: Array, advantages: Array) -> tuple[Array, ...]:
    """``(lp, old, adv, d)`` in the compute dtype; ``old`` and ``adv`` detached; ``d = lp − old`` (0 if masked)."""
    lp = to_compute(log_prob, xp)
    old = to_compute(detach(old_log_prob), xp)
    adv = to_compute(detach(advantages), xp)
    d = xp.where(valid, lp - old, xp.zeros_like(lp))  # masked positions never reach exp (no inf, no NaN gradient)
    return lp, old, adv, d


def ppo_terms(adv: Array, ratio: Array, clip_low: float, clip_high: float, xp: Any) -> tuple[Array, Array]:
    pg1 = xp.where(adv == 0, xp.zeros_like(ratio), -adv * ratio)  # 0 for A = 0 even if ρ overflows
    pg2 = -adv * xp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return pg1, pg2


def masked_mean(x: Array, valid: Array, n_valid: Array, xp: Any) -> Array:
    """Mean of ``x`` over ``valid`` with ``n_valid`` an array (0 gives 0: no host sync, no NaN)."""
    total = xp.sum(xp.where(valid, x, xp.zeros_like(x)))
    return safe_div(total, xp.astype(n_valid, total.dtype), xp)


# =========================================================================== segment reductions (estimators group)
# Family-private helpers of the ``estimators`` groups (added with issue 8): per-group statistics without a
# Python loop over groups. Entries are sorted by group id (and a key) with stable argsorts; segmented
# Hillis–Steele scans (``ceil(log2 N)`` vectorised steps, a number fixed by the shape) give each entry the
# first and last index of its segment and sums restricted to one group each (no global prefix sum whose
# rounding would swamp a small group). Deterministic: no scatter, no atomics.


def segment_masks(seg: Array, xp: Any) -> list[tuple[int, Array]]:
    """For each doubling step, whether entry ``i`` and entry ``i − step`` are in the same segment."""
    from accelerated._xp import device

    n = seg.shape[0]
    out = []
    step = 1
    while step < n:
        out.append((step, xp.concat([xp.zeros((step,), dtype=xp.bool, device=device(seg)),
                                     seg[step:] == seg[: n - step]])))
        step *= 2
    return out


def segment_scan(x: Array, masks: list[tuple[int, Array]], op: str, xp: Any) -> Array:
    """Inclusive scan of ``x`` restarted at every segment; ``op`` is ``"add"`` or ``"first"``."""
    n = x.shape[0]
    for step, same in masks:
        shifted = xp.concat([x[:step], x[: n - step]])  # the first ``step`` entries are never used
        x = xp.where(same, shifted + x if op == "add" else shifted, x)
    return x


class Segments:
    """Entries sorted by group id (then by ``key`` when given): ``perm`` (sorted → original). In sorted
    order: ``start``/``end`` (first and last sorted index of each entry's group) and ``count`` (group size,
    float64), found by segmented "first" scans forward and backward; the same for the entries in their
    original order: ``start_o``, ``end_o``, ``count_o``; ``inverse`` (original → sorted position)."""

    def __init__(self, group_ids: Array, xp: Any, key: Array | None = None) -> None:
        g = xp.astype(group_ids, xp.int64)
        if key is None:
            self.perm = xp.argsort(g, stable=True)
        else:
            by_key = xp.argsort(key, stable=True)
            self.perm = xp.take(by_key, xp.argsort(xp.take(g, by_key), stable=True))
        seg = xp.take(g, self.perm)
        self.xp = xp
        self.forward = segment_masks(seg, xp)
        index = xp.argsort(self.perm, stable=True)  # the inverse permutation: sorted position of each entry
        self.inverse = index
        position = xp.take(index, self.perm)  # 0, 1, ..., N − 1 (in the integer dtype of the permutation)
        self.start = segment_scan(position, self.forward, "first", xp)
        backward = segment_masks(xp.flip(seg, axis=0), xp)
        self.end = xp.flip(segment_scan(xp.flip(position, axis=0), backward, "first", xp), axis=0)
        self.count = xp.astype(self.end - self.start + 1, xp.float64)
        self.start_o = xp.take(self.start, index)
        self.end_o = xp.take(self.end, index)
        self.count_o = xp.take(self.count, index)

    def sort(self, x: Array) -> Array:
        return self.xp.take(x, self.perm)

    def unsort(self, x_sorted: Array) -> Array:
        return self.xp.take(x_sorted, self.inverse)

    def scan(self, x_sorted: Array) -> Array:
        return segment_scan(x_sorted, self.forward, "add", self.xp)

    def total(self, x_sorted: Array) -> Array:
        """The sum of ``x`` over each entry's group, sorted order, accumulated inside the group only."""
        return self.xp.take(self.scan(x_sorted), self.end)

    def total_o(self, x_sorted: Array) -> Array:
        """The same sums for the entries in their original order."""
        return self.xp.take(self.scan(x_sorted), self.end_o)

    def deviations(self, x: Array) -> tuple[Array, Array]:
        """``x − x_first`` (the group's first sorted entry) in sorted and in original order: a shift that
        makes a constant group exactly 0 and keeps the sums small."""
        xs = self.sort(x)
        return xs - self.xp.take(xs, self.start), x - self.xp.take(xs, self.start_o)
