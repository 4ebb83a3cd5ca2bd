"""Accelerated ``reweighting`` group of the ``policy`` family (array API: Torch, CuPy, NumPy): Lp-Reg and STEER.

Same names, signatures, conventions and errors as :mod:`reference.policy.reweighting` (read its docstrings for
the formulas, papers and code-vs-paper decisions). No Python loops over rows or tokens; selections rank with two
sort (ties to the lowest flat index, by a running count) and keep their counts as arrays, so every function traces with
``torch.compile(fullgraph=True)`` in unchecked mode. bfloat16/float16 are computed in float32.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, device, from_compute, namespace, to_compute
from accelerated.policy._common import finish, ppo_terms, prepare, sequences
from accelerated.policy.ppo import kl_penalty
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_index, check_params

__all__ = ["lp_reg_policy_loss", "lp_reg_proxy_logprob", "steer_policy_loss", "steer_token_weights"]


# --------------------------------------------------------------------------- lp_reg_proxy_logprob


def lp_reg_proxy_logprob(logits: Array, labels: Array, *, min_p: float = 0.02, rule: str = "minp",
                         soft: bool = False, temperature: float = 1.0, fill_logit: float = -1e4) -> Array:
    """Lp-Reg's filtered min-p proxy log-probability; see :func:`reference.policy.lp_reg_proxy_logprob`.

    Paper: "Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward"
    (2025, arXiv:2510.03222). Fully detached; a few ``(N, V)`` temporaries (no autograd graph is kept).
    """
    fn = "lp_reg_proxy_logprob"
    xp = namespace(logits, labels)
    check_params(fn, min_p=min_p, rule=rule, soft=soft, temperature=temperature, fill_logit=fill_logit)
    if logits.ndim != 2:
        raise ShapeError(fn, "logits", "a 2-D array of shape (N, V)", f"shape {tuple(logits.shape)}")
    if tuple(labels.shape) != tuple(logits.shape[:1]):
        raise ShapeError(fn, "labels", f"shape {tuple(logits.shape[:1])} (one label per row of logits)",
                         f"shape {tuple(labels.shape)}")
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True)
    if not xp.isdtype(labels.dtype, "integral"):
        raise DTypeError(fn, "labels", "an integer dtype", f"dtype {labels.dtype}")
    check_index(fn, "labels", labels, xp, low=0, high=int(logits.shape[1]))
    z = to_compute(detach(logits), xp)
    if z.shape[0] == 0:
        return from_compute(xp.zeros((0,), dtype=z.dtype), logits, xp)
    top = xp.max(z, axis=-1, keepdims=True)
    e = xp.exp(z - top)
    p = e / xp.sum(e, axis=-1, keepdims=True)
    threshold = min_p * xp.max(p, axis=-1, keepdims=True) if rule == "minp" else min_p
    keep = p >= threshold
    if soft and rule == "minp":
        fill = xp.broadcast_to(xp.min(z, axis=-1, keepdims=True), z.shape)
    else:
        fill = xp.full_like(z, fill_logit)
    scaled = xp.where(keep, z, fill) / temperature
    shifted = scaled - xp.max(scaled, axis=-1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(shifted), axis=-1))
    picked = xp.take_along_axis(shifted, xp.astype(labels, xp.int64)[:, None], axis=-1)[:, 0]
    return from_compute(picked - lse, logits, xp)


# --------------------------------------------------------------------------- lp_reg_policy_loss


def _lowest_k(lp: Array, side: Array, pct: float, xp: Any) -> Array:
    """The k = max(1, int(n·pct)) entries of ``side`` with the lowest ``lp`` (ties: lowest flat index), only when
    k > 1 (as the official code); ``n``, ``k`` stay arrays (no host sync).

    One sort gives the k-th smallest value; entries below it are taken, and entries equal to it are taken in flat
    order (a running count) until k are chosen — the stable rank < k without a second argsort."""
    size = math.prod(side.shape)
    if math.floor(size * pct) <= 1:  # k ≤ 1 for every possible n: nothing is ever selected (shape-static)
        return xp.zeros_like(side)
    n = xp.sum(xp.astype(side, xp.int64))
    k = xp.clip(xp.floor(xp.astype(n, xp.float64) * pct), 1.0, None)  # the float64 product, as Python's int()
    flat_side = xp.reshape(side, (-1,))
    flat = xp.where(flat_side, xp.reshape(lp, (-1,)), xp.full((size,), math.inf, dtype=lp.dtype, device=device(lp)))
    kth = xp.take(xp.sort(flat), xp.reshape(xp.astype(xp.clip(k - 1.0, 0.0, float(size - 1)), xp.int64), (1,)))
    below = flat_side & (flat < kth)
    tie = flat_side & (flat == kth)
    room = k - xp.astype(xp.sum(xp.astype(below, xp.int64)), xp.float64)
    tie_rank = xp.astype(xp.cumulative_sum(xp.astype(tie, xp.int64)), xp.float64)  # 1-based, in flat order
    chosen = (below | (tie & (tie_rank <= room))) & (k > 1.0)
    return xp.reshape(chosen, side.shape)


def lp_reg_policy_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, proxy_log_prob: Array,
                       *, neg_k_percent: float = 0.01, pos_k_percent: float = 0.0, coef: float = 1.0,
                       clip_low: float = 0.2, clip_high: float = 0.2, mode: str = "token-mean") -> Array:
    """Lp-Reg loss (PPO-clip + k3 toward the proxy on the lowest-probability tokens); see
    :func:`reference.policy.lp_reg_policy_loss` ("Low-probability Tokens Sustain Exploration in Reinforcement
    Learning with Verifiable Reward", 2025, arXiv:2510.03222)."""
    fn = "lp_reg_policy_loss"
    xp = namespace(log_prob, old_log_prob, advantages, mask, proxy_log_prob)
    check_params(fn, neg_k_percent=neg_k_percent, pos_k_percent=pos_k_percent, coef=coef, clip_low=clip_low,
                 clip_high=clip_high, mode=mode)
    valid = sequences(fn, xp, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                      proxy_log_prob=proxy_log_prob)
    lp, _, adv, d = prepare(xp, valid, log_prob, old_log_prob, advantages)
    proxy = to_compute(detach(proxy_log_prob), xp)
    ratio = xp.exp(d)
    pg1, pg2 = ppo_terms(adv, ratio, clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    lp_d = detach(lp)
    chosen = _lowest_k(lp_d, valid & (adv < 0), neg_k_percent, xp) | _lowest_k(lp_d, valid & (adv > 0),
                                                                               pos_k_percent, xp)
    chosen = chosen & (lp_d < proxy)
    safe_lp = xp.where(valid, lp, proxy)  # masked positions: c = 0, no overflow reaches the graph
    reg = pg1 + coef * kl_penalty(safe_lp, proxy, "k3")
    tok = xp.where(chosen, reg, tok)
    return finish(tok, valid, mode, log_prob, xp)


# --------------------------------------------------------------------------- steer_token_weights


def _steer_weights(lp: Array, old: Array, adv: Array, ent: Array, valid: Array, w_min: float, w_max: float,
                   linear: bool, xp: Any) -> Array:
    """The weights in the compute dtype (detached inputs); min/max of |Ω| over the valid tokens without a host sync."""
    e = xp.exp(lp)
    x = xp.clip(e, 1e-8, 1.0 - 1e-8)
    log_x = xp.where(x == e, lp, xp.log(x))  # log(exp(logp)) = logp where the clip is inactive
    f = x * (1.0 - x) * (log_x + ent)
    p_old = xp.clip(xp.exp(old), 1e-8, 1.0)
    omega = xp.abs(adv / p_old * f)
    omega = xp.where(xp.isfinite(omega), omega, xp.zeros_like(omega))  # the code's non-finite → 0
    lo = xp.min(xp.where(valid, omega, xp.full_like(omega, math.inf)))
    hi = xp.max(xp.where(valid, omega, xp.full_like(omega, -math.inf)))
    if linear:
        spread = hi > lo
        scale = (w_max - w_min) / xp.where(spread, hi - lo, xp.ones_like(hi))
        w = xp.where(spread, xp.clip(w_max - (omega - lo) * scale, w_min, w_max),
                     xp.full_like(omega, (w_min + w_max) / 2))
    else:
        k = -math.log(w_min) / xp.maximum(hi, xp.full_like(hi, 0.02))
        w = xp.clip(xp.exp(-k * omega), w_min, 1.0)
    return xp.where(valid, w, xp.zeros_like(w))


def steer_token_weights(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, entropy: Array, *,
                        w_min: float = 0.8, w_max: float = 1.2, linear: bool = False) -> Array:
    """STEER token weights (first-order entropy-change estimate); see :func:`reference.policy.steer_token_weights`
    ("Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective", 2025, arXiv:2510.10150)."""
    fn = "steer_token_weights"
    xp = namespace(log_prob, old_log_prob, advantages, mask, entropy)
    check_params(fn, w_min=w_min, w_max=w_max, linear=linear)
    valid = sequences(fn, xp, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                      entropy=entropy)
    # float64 whatever the input dtype: the clip 1 − 1e-8 rounds to 1 in float32 (x(1 − x) = 0) and the min-max
    # normalisation amplifies any rounding of Ω; the weights are elementwise over (B, T) (cheap next to the logits)
    lp, old, adv, ent = (xp.astype(detach(t), xp.float64) for t in (log_prob, old_log_prob, advantages, entropy))
    if math.prod(lp.shape) == 0:
        return from_compute(xp.zeros_like(lp), log_prob, xp)
    return from_compute(_steer_weights(lp, old, adv, ent, valid, w_min, w_max, linear, xp), log_prob, xp)


# --------------------------------------------------------------------------- steer_policy_loss


def steer_policy_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, entropy: Array, *,
                      w_min: float = 0.8, w_max: float = 1.2, linear: bool = False, clip_low: float = 0.2,
                      clip_high: float = 0.28, dual_clip: float | None = 10.0, mode: str = "token-mean") -> Array:
    """STEER: detached token weights times dual-clip PPO; see :func:`reference.policy.steer_policy_loss`
    ("Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective", 2025, arXiv:2510.10150)."""
    fn = "steer_policy_loss"
    xp = namespace(log_prob, old_log_prob, advantages, mask, entropy)
    check_params(fn, w_min=w_min, w_max=w_max, linear=linear, clip_low=clip_low, clip_high=clip_high,
                 dual_clip=dual_clip, mode=mode)
    valid = sequences(fn, xp, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                      entropy=entropy)
    _, _, adv, d = prepare(xp, valid, log_prob, old_log_prob, advantages)
    pg1, pg2 = ppo_terms(adv, xp.exp(d), clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = xp.where(adv < 0, xp.minimum(tok, -adv * dual_clip), tok)
    if math.prod(tok.shape) > 0:
        lp64, old64, adv64, ent64 = (xp.astype(detach(t), xp.float64)
                                     for t in (log_prob, old_log_prob, advantages, entropy))
        w = _steer_weights(lp64, old64, adv64, ent64, valid, w_min, w_max, linear, xp)
        tok = tok * xp.astype(w, tok.dtype)
    return finish(tok, valid, mode, log_prob, xp)
