"""Accelerated (array API: Torch, CuPy, NumPy) implementations of the ``policy`` family.

Same names, signatures, conventions and errors as :mod:`reference.policy` (read its docstrings for
the formulas, papers and code-vs-paper decisions). One implementation per method, written against
the array API through ``array-api-compat``; no Python loops over rows, tokens or groups:

- aggregation and per-token losses are masked elementwise ops and reductions;
- Clip-Cov / KL-Cov selections rank tokens with two stable argsorts (``rank = argsort(argsort(key))``),
  so ties go to the lowest flat index exactly like the reference; the number of selected tokens
  ``n`` is a host integer (one device sync, as the official code's ``.item()``);
- group statistics sort by ``(group id, reward)`` and reduce each segment with a float64 segmented
  scan (``ceil(log2(largest group))`` vectorised steps — no global prefix sum, whose rounding would
  swamp small-variance groups).

Outputs keep the input floating dtype; bfloat16/float16 are computed in float32 (group advantages
in float64). ``old_log_prob`` and ``advantages`` are detached on Torch; so are the covariance and the
selections.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat

from accelerated._xp import from_compute, is_torch, namespace, to_compute
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_mask, check_params, check_same_shape

__all__ = ["aggregate", "clip_cov_loss", "group_advantages", "kl_cov_loss", "kl_penalty", "ppo_clip_loss"]

Array = Any


def _detach(x: Array) -> Array:
    """Stop-gradient on Torch tensors; identity elsewhere."""
    return x.detach() if is_torch(x) else x


def _device(x: Array) -> Any:
    return array_api_compat.device(x)


def _sequences(fn: str, xp: Any, mask: Array, **floats: Array) -> Array:
    """Same checks, same order, as the reference; returns the boolean valid mask."""
    shape = check_same_shape(fn, **floats, mask=mask)
    if len(shape) == 0:
        raise ShapeError(fn, next(iter(floats)), "an array of shape (B, T)", "a 0-d array")
    for name, a in floats.items():
        check_finite(fn, name, a, xp)
    check_mask(fn, "mask", mask, xp)
    return mask != 0


def _rows(x: Array, xp: Any) -> Array:
    return xp.reshape(x, (math.prod(x.shape[:-1]), x.shape[-1]))


def _safe_div(num: Array, den: Array, xp: Any) -> Array:
    """``num / den`` where ``den > 0``, else 0 (no NaN, no inf)."""
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), xp.zeros_like(num))


def _aggregate(tok: Array, w: Array, mode: str, max_length: int | None, xp: Any) -> Array:
    """Aggregate a per-token array that is 0 at masked positions; ``w`` is the mask as floats."""
    x = _rows(tok, xp)
    m = _rows(w, xp)
    n_rows, t = x.shape
    if mode == "token-mean":
        return _safe_div(xp.sum(x), xp.sum(m), xp)
    if mode == "seq-mean-token-sum":
        total = xp.sum(x)
        return total / n_rows if n_rows > 0 else total * 0.0  # keeps the autograd graph
    if mode == "seq-mean-token-mean":
        row_n = xp.sum(m, axis=-1)
        row_means = _safe_div(xp.sum(x, axis=-1), row_n, xp)
        kept = xp.sum(xp.astype(row_n > 0, x.dtype))
        return _safe_div(xp.sum(row_means), kept, xp)
    length = t if max_length is None else max_length
    total = xp.sum(x)
    return total / (n_rows * length) if n_rows * length > 0 else total * 0.0


def _finish(tok: Array, valid: Array, mode: str, like: Array, xp: Any) -> Array:
    tok = xp.where(valid, tok, xp.zeros_like(tok))
    if mode == "none":
        return from_compute(tok, like, xp)
    return from_compute(_aggregate(tok, xp.astype(valid, tok.dtype), mode, None, xp), like, xp)


def _prepare(xp: Any, valid: Array, log_prob: Array, old_log_prob: Array, advantages: Array) -> tuple[Array, ...]:
    lp = to_compute(log_prob, xp)
    old = to_compute(_detach(old_log_prob), xp)
    adv = to_compute(_detach(advantages), xp)
    zero = xp.zeros_like(lp)
    d = xp.where(valid, lp - old, zero)  # masked positions never reach exp (no inf, no NaN gradient)
    return lp, old, adv, d


def _ppo_terms(adv: Array, ratio: Array, clip_low: float, clip_high: float, xp: Any) -> tuple[Array, Array]:
    pg1 = xp.where(adv == 0, xp.zeros_like(ratio), -adv * ratio)  # 0 for A = 0 even if ρ overflows
    pg2 = -adv * xp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return pg1, pg2


def _masked_mean(x: Array, valid: Array, n_valid: int, xp: Any) -> Array:
    return xp.sum(xp.where(valid, x, xp.zeros_like(x))) / n_valid


def _segmented_scan(x: Array, seg: Array, longest: int, xp: Any) -> Array:
    """Inclusive scan of ``x`` restarted at every segment (``seg`` sorted): Hillis–Steele doubling.

    ``ceil(log2(longest))`` vectorised steps; each partial sum only adds values of its own segment,
    so a small-variance group is not swamped by the rounding error of a global prefix sum.
    """
    n = x.shape[0]
    step = 1
    while step < longest:
        shifted = xp.concat([xp.zeros((step,), dtype=x.dtype, device=_device(x)), x[: n - step]])
        same = xp.concat([xp.zeros((step,), dtype=xp.bool, device=_device(x)), seg[step:] == seg[: n - step]])
        x = x + xp.where(same, shifted, xp.zeros_like(shifted))
        step *= 2
    return x


def _rank(key: Array, xp: Any) -> Array:
    """Rank of every entry of a flat ``key`` in a stable ascending order (ties: lowest index first)."""
    order = xp.argsort(key, stable=True)
    return xp.argsort(order, stable=True)


# --------------------------------------------------------------------------- aggregate


def aggregate(values: Array, mask: Array, mode: str, *, max_length: int | None = None) -> Array:
    """Masked aggregation of a per-token array; see :func:`reference.policy.aggregate`."""
    xp = namespace(values, mask)
    check_params("aggregate", mode=mode, max_length=max_length)
    valid = _sequences("aggregate", xp, mask, values=values)
    x = to_compute(values, xp)
    x = xp.where(valid, x, xp.zeros_like(x))
    return from_compute(_aggregate(x, xp.astype(valid, x.dtype), mode, max_length, xp), values, xp)


# --------------------------------------------------------------------------- ppo_clip_loss


def ppo_clip_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, *, clip_low: float = 0.2,
                  clip_high: float = 0.2, dual_clip: float | None = None, mode: str = "token-mean") -> Array:
    """PPO-clip loss with clip-higher and optional dual clip; see :func:`reference.policy.ppo_clip_loss`."""
    xp = namespace(log_prob, old_log_prob, advantages, mask)
    check_params("ppo_clip_loss", clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip, mode=mode)
    valid = _sequences("ppo_clip_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                       advantages=advantages)
    _, _, adv, d = _prepare(xp, valid, log_prob, old_log_prob, advantages)
    pg1, pg2 = _ppo_terms(adv, xp.exp(d), clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = xp.where(adv < 0, xp.minimum(tok, -adv * dual_clip), tok)
    return _finish(tok, valid, mode, log_prob, xp)


# --------------------------------------------------------------------------- kl_penalty


def kl_penalty(log_prob: Array, ref_log_prob: Array, kind: str) -> Array:
    """k1 / abs / k2 / k3 (verl clamps) per token; see :func:`reference.policy.kl_penalty`."""
    xp = namespace(log_prob, ref_log_prob)
    check_params("kl_penalty", kind=kind)
    check_same_shape("kl_penalty", log_prob=log_prob, ref_log_prob=ref_log_prob)
    check_finite("kl_penalty", "log_prob", log_prob, xp)
    check_finite("kl_penalty", "ref_log_prob", ref_log_prob, xp)
    d = to_compute(log_prob, xp) - to_compute(ref_log_prob, xp)
    if kind == "k1":
        out = d
    elif kind == "abs":
        out = xp.abs(d)
    elif kind == "k2":
        out = 0.5 * d * d
    else:
        k = xp.clip(-d, -20.0, 20.0)
        out = xp.clip(xp.expm1(k) - k, -10.0, 10.0)
    return from_compute(out, log_prob, xp)


# --------------------------------------------------------------------------- group_advantages


def group_advantages(rewards: Array, group_ids: Array, *, scale: str = "std", eps: float = 1e-6) -> Array:
    """GRPO / Dr. GRPO group advantages without a loop over groups; see
    :func:`reference.policy.group_advantages`.

    Sorts by (group id, reward) with two stable argsorts; per-segment sums come from a float64
    segmented scan (log2 of the largest group vectorised steps; two passes: mean, then squared
    deviations); constant groups are detected exactly from the first and last sorted reward.
    """
    xp = namespace(rewards, group_ids)
    check_params("group_advantages", scale=scale, eps=eps)
    check_same_shape("group_advantages", rewards=rewards, group_ids=group_ids)
    if rewards.ndim != 1:
        raise ShapeError("group_advantages", "rewards", "a 1-D array of shape (N,)", f"shape {tuple(rewards.shape)}")
    check_finite("group_advantages", "rewards", rewards, xp)
    if not xp.isdtype(group_ids.dtype, "integral"):
        raise DTypeError("group_advantages", "group_ids", "an integer dtype", f"dtype {group_ids.dtype}")
    n = int(rewards.shape[0])
    if n == 0:
        return from_compute(xp.zeros_like(rewards), rewards, xp)
    dev = _device(rewards)
    f64 = xp.float64
    r = xp.astype(_detach(rewards), f64)
    g = xp.astype(group_ids, xp.int64)

    by_reward = xp.argsort(r, stable=True)
    perm = xp.take(by_reward, xp.argsort(xp.take(g, by_reward), stable=True))
    gs = xp.take(g, perm)
    rs = xp.take(r, perm)

    first = xp.ones((1,), dtype=xp.bool, device=dev)
    new = xp.concat([first, gs[1:] != gs[:-1]])
    seg = xp.cumulative_sum(xp.astype(new, xp.int64)) - 1
    starts = xp.nonzero(new)[0]
    ends = xp.concat([starts[1:], xp.asarray([n], dtype=starts.dtype, device=dev)])
    count = xp.astype(ends - starts, f64)
    longest = int(xp.max(ends - starts))

    mean_seg = xp.take(_segmented_scan(rs, seg, longest, xp), ends - 1) / count
    mean = xp.take(mean_seg, seg)
    ss = xp.take(_segmented_scan((rs - mean) ** 2, seg, longest, xp), ends - 1)
    std_seg = xp.sqrt(ss / xp.clip(count - 1.0, 1.0, None))
    const_seg = xp.take(rs, ends - 1) == xp.take(rs, starts)  # sorted by reward inside the group
    single_seg = count == 1.0

    single = xp.take(single_seg, seg)
    mean = xp.where(single, xp.zeros_like(mean), mean)
    std = xp.where(single, xp.ones_like(mean), xp.take(std_seg, seg))
    constant = xp.take(const_seg, seg) & ~single
    centred = xp.where(constant, xp.zeros_like(rs), rs - mean)
    adv_sorted = centred if scale == "none" else _safe_div(centred, std + eps, xp)
    adv = xp.take(adv_sorted, xp.argsort(perm, stable=True))
    return from_compute(adv, rewards, xp)


# --------------------------------------------------------------------------- clip_cov_loss


def clip_cov_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, priority: Array, *,
                  clip_ratio: float = 2e-4, cov_low: float = 1.0, cov_high: float = 5.0, clip_low: float = 0.2,
                  clip_high: float = 0.2, mode: str = "token-mean") -> Array:
    """Clip-Cov with priority keys instead of randperm; see :func:`reference.policy.clip_cov_loss`."""
    xp = namespace(log_prob, old_log_prob, advantages, mask, priority)
    check_params("clip_cov_loss", clip_ratio=clip_ratio, cov_low=cov_low, cov_high=cov_high, clip_low=clip_low,
                 clip_high=clip_high, mode=mode)
    valid = _sequences("clip_cov_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                       advantages=advantages, priority=priority)
    if bool(xp.any((priority < 0) | (priority >= 1))):
        raise DomainError("clip_cov_loss", "priority", "keys in [0, 1)", "a key outside [0, 1)")
    lp, _, adv, d = _prepare(xp, valid, log_prob, old_log_prob, advantages)
    pg1, pg2 = _ppo_terms(adv, xp.exp(d), clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    n_valid = int(xp.sum(xp.astype(valid, xp.int64)))
    if n_valid > 0:
        lp_d = _detach(lp)
        cov = (adv - _masked_mean(adv, valid, n_valid, xp)) * (lp_d - _masked_mean(lp_d, valid, n_valid, xp))
        clipped = _detach(pg2) > _detach(pg1)
        candidates = valid & ~clipped & (cov > cov_low) & (cov < cov_high)
        n = max(int(clip_ratio * n_valid), 1)
        pri = to_compute(priority, xp)
        key = xp.where(candidates, pri, xp.full_like(pri, 2.0))  # non-candidates after every key in [0, 1)
        rank = xp.reshape(_rank(xp.reshape(key, (-1,)), xp), key.shape)
        chosen = candidates & (rank < n)
        tok = xp.where(chosen, xp.zeros_like(tok), tok)
    return _finish(tok, valid, mode, log_prob, xp)


# --------------------------------------------------------------------------- kl_cov_loss


def kl_cov_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, *, k_percent: float = 0.2,
                coef: float = 1.0, mode: str = "token-mean") -> Array:
    """KL-Cov (top-covariance |log-ratio| penalty on vanilla PG); see :func:`reference.policy.kl_cov_loss`."""
    xp = namespace(log_prob, old_log_prob, advantages, mask)
    check_params("kl_cov_loss", k_percent=k_percent, coef=coef, mode=mode)
    valid = _sequences("kl_cov_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                       advantages=advantages)
    lp, _, adv, d = _prepare(xp, valid, log_prob, old_log_prob, advantages)
    tok, _ = _ppo_terms(adv, xp.exp(d), 0.0, 0.0, xp)
    n_valid = int(xp.sum(xp.astype(valid, xp.int64)))
    if k_percent != 0 and n_valid > 0:
        lp_d = _detach(lp)
        cov = (adv - _masked_mean(adv, valid, n_valid, xp)) * (lp_d - _masked_mean(lp_d, valid, n_valid, xp))
        n = max(1, int(n_valid * k_percent / 100))
        key = xp.where(valid, -cov, xp.full_like(cov, math.inf))  # descending cov; masked tokens last
        rank = xp.reshape(_rank(xp.reshape(key, (-1,)), xp), key.shape)
        selected = valid & (rank < n)
        tok = xp.where(selected, tok + coef * xp.abs(d), tok)
    return _finish(tok, valid, mode, log_prob, xp)
