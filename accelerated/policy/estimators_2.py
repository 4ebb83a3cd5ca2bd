"""Accelerated ``estimators_2`` group of the ``policy`` family: GAE, REINFORCE++ (and its group baseline),
ReMax and the REINFORCE loss (array API; traceable by ``torch.compile(fullgraph=True)``: no host syncs).

The backward recursions of GAE and REINFORCE++ loop over the ``T`` time steps (a number fixed by the
shape), vectorised over rows; masked positions carry the recursion state through unchanged. The
advantage estimators compute in float64 (they are stop-gradient constants; the whitening divides by a
batch standard deviation, which would amplify float32 rounding). Group means of REINFORCE++'s baseline
variant use the segment reductions of :class:`accelerated.policy._common.Segments` on deviations from the
group's first reward (no loop over groups; a group of equal rewards gives exactly 0).
"""

from __future__ import annotations

from typing import Any

from accelerated._xp import Array, detach, device, from_compute, namespace, to_compute
from accelerated.policy._common import Segments, finish, safe_div, sequences
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_floating, check_params, checked

__all__ = ["gae_advantages", "reinforce_loss", "reinforce_plus_plus_advantages", "remax_advantages"]

WHITEN_EPS = 1e-8


def _two_d(fn: str, valid: Array) -> None:
    if valid.ndim != 2:
        raise ShapeError(fn, "mask", "an array of shape (B, T)", f"shape {tuple(valid.shape)}")


def _per_row(fn: str, name: str, x: Array, b: int, xp: Any, *, integer: bool = False) -> None:
    if tuple(x.shape) != (b,):
        raise ShapeError(fn, name, f"an array of shape (B,) with B = {b}", f"shape {tuple(x.shape)}")
    if integer:
        if not xp.isdtype(x.dtype, "integral"):
            raise DTypeError(fn, name, "an integer dtype", f"dtype {x.dtype}")
        return
    check_floating(fn, name, x, xp)
    if checked():
        check_finite(fn, name, x, xp)


def _f64(x: Array, xp: Any) -> Array:
    return xp.astype(detach(x), xp.float64)


def _whiten(x: Array, valid: Array, xp: Any) -> Array:
    """``(x − mean)/sqrt(var + 1e-8)`` over the valid entries (unbiased var); 0 if masked or fewer than 2."""
    w = xp.astype(valid, x.dtype)
    n = xp.sum(w)
    mean = safe_div(xp.sum(x * w), n, xp)
    centred = (x - mean) * w
    var = safe_div(xp.sum(centred * centred), n - 1.0, xp)
    keep = valid & (n >= 2.0)
    return xp.where(keep, centred / xp.sqrt(var + WHITEN_EPS), xp.zeros_like(x))


def gae_advantages(rewards: Array, values: Array, mask: Array, *, gamma: float = 1.0, lam: float = 1.0,
                   whiten: bool = False) -> tuple[Array, Array]:
    """GAE advantages and λ-returns; see :func:`reference.policy.gae_advantages`."""
    xp = namespace(rewards, values, mask)
    check_params("gae_advantages", gamma=gamma, lam=lam, whiten=whiten)
    valid = sequences("gae_advantages", xp, mask, rewards=rewards, values=values)
    _two_d("gae_advantages", valid)
    r, v = _f64(rewards, xp), _f64(values, xp)
    b, t = r.shape
    if b * t == 0:
        zero = from_compute(xp.zeros_like(r), rewards, xp)
        return zero, zero
    next_value = xp.zeros((b,), dtype=r.dtype, device=device(r))
    last = xp.zeros((b,), dtype=r.dtype, device=device(r))
    columns = []
    for step in range(t - 1, -1, -1):
        ok = valid[:, step]
        candidate = r[:, step] + gamma * next_value - v[:, step] + (gamma * lam) * last
        last = xp.where(ok, candidate, last)
        next_value = xp.where(ok, v[:, step], next_value)
        columns.append(xp.where(ok, candidate, xp.zeros_like(candidate)))
    adv = xp.stack(columns[::-1], axis=1)
    returns = xp.where(valid, adv + v, xp.zeros_like(adv))
    if whiten:
        adv = _whiten(adv, valid, xp)
    return from_compute(adv, rewards, xp), from_compute(returns, rewards, xp)


def reinforce_plus_plus_advantages(rewards: Array, mask: Array, group_ids: Array, *, baseline: str = "none",
                                   gamma: float = 1.0) -> tuple[Array, Array]:
    """REINFORCE++ advantages and returns; see :func:`reference.policy.reinforce_plus_plus_advantages`."""
    xp = namespace(rewards, mask, group_ids)
    fn = "reinforce_plus_plus_advantages"
    check_params(fn, baseline=baseline, gamma=gamma)
    valid = sequences(fn, xp, mask, rewards=rewards)
    _two_d(fn, valid)
    _per_row(fn, "group_ids", group_ids, valid.shape[0], xp, integer=True)
    r64 = _f64(rewards, xp)
    r = xp.where(valid, r64, xp.zeros_like(r64))
    b, t = r.shape
    if b * t == 0:
        zero = from_compute(xp.zeros_like(r), rewards, xp)
        return zero, zero
    if baseline == "none":
        running = xp.zeros((b,), dtype=r.dtype, device=device(r))
        columns = []
        for step in range(t - 1, -1, -1):
            ok = valid[:, step]
            candidate = r[:, step] + gamma * running
            running = xp.where(ok, candidate, running)
            columns.append(xp.where(ok, candidate, xp.zeros_like(candidate)))
        ret = xp.stack(columns[::-1], axis=1)
        return from_compute(_whiten(ret, valid, xp), rewards, xp), from_compute(ret, rewards, xp)
    score = xp.sum(r, axis=-1)
    seg = Segments(group_ids, xp)
    dev_sorted, dev = seg.deviations(score)  # exactly 0 in a group of equal sequence rewards
    centred = xp.where(seg.count_o == 1.0, score, dev - seg.total_o(dev_sorted) / seg.count_o)
    zeros = xp.zeros_like(r)
    tiled = xp.where(valid, centred[:, None] + zeros, zeros)
    ret = xp.where(valid, score[:, None] + zeros, zeros)
    return from_compute(_whiten(tiled, valid, xp), rewards, xp), from_compute(ret, rewards, xp)


def remax_advantages(rewards: Array, baseline_rewards: Array, mask: Array, *,
                     credit: str = "sequence") -> tuple[Array, Array]:
    """ReMax advantages and returns; see :func:`reference.policy.remax_advantages`."""
    xp = namespace(rewards, baseline_rewards, mask)
    check_params("remax_advantages", credit=credit)
    valid = sequences("remax_advantages", xp, mask, rewards=rewards)
    _two_d("remax_advantages", valid)
    _per_row("remax_advantages", "baseline_rewards", baseline_rewards, valid.shape[0], xp)
    r64 = _f64(rewards, xp)
    zeros = xp.zeros_like(r64)
    r = xp.where(valid, r64, zeros)
    if credit == "sequence":
        ret = xp.sum(r, axis=-1)[:, None] + zeros
    else:
        ret = xp.flip(xp.cumulative_sum(xp.flip(r, axis=-1), axis=-1), axis=-1)
    ret = xp.where(valid, ret, zeros)
    adv = xp.where(valid, ret - _f64(baseline_rewards, xp)[:, None], zeros)
    return from_compute(adv, rewards, xp), from_compute(ret, rewards, xp)


def reinforce_loss(log_prob: Array, advantages: Array, mask: Array, *, mode: str = "seq-mean-token-sum") -> Array:
    """REINFORCE loss −sg(A)·log π; see :func:`reference.policy.reinforce_loss`."""
    xp = namespace(log_prob, advantages, mask)
    check_params("reinforce_loss", mode=mode)
    valid = sequences("reinforce_loss", xp, mask, log_prob=log_prob, advantages=advantages)
    lp = to_compute(log_prob, xp)
    adv = to_compute(detach(advantages), xp)
    tok = xp.where(adv == 0, xp.zeros_like(lp), -adv * lp)
    return finish(tok, valid, mode, log_prob, xp)
