"""Accelerated ``ppo`` group of the ``policy`` family (array API: Torch, CuPy, NumPy): aggregation,
PPO-clip and the per-token KL estimators.

Same names, signatures, conventions and errors as :mod:`reference.policy` (read its docstrings for the
formulas, papers and code-vs-paper decisions). Elementwise ops and reductions only: every function
traces with ``torch.compile(fullgraph=True)`` (data-dependent checks run only in checked mode).
Outputs keep the input floating dtype; bfloat16/float16 are computed in float32.
"""

from __future__ import annotations

from accelerated._xp import Array, from_compute, namespace, to_compute
from accelerated.policy._common import aggregate_tokens, finish, ppo_terms, prepare, sequences
from spec.validate import check_finite, check_floating, check_params, check_same_shape, checked

__all__ = ["aggregate", "kl_penalty", "ppo_clip_loss"]


# --------------------------------------------------------------------------- aggregate


def aggregate(values: Array, mask: Array, mode: str, *, max_length: int | None = None) -> Array:
    """Masked aggregation of a per-token array; see :func:`reference.policy.aggregate`."""
    xp = namespace(values, mask)
    check_params("aggregate", mode=mode, max_length=max_length)
    valid = sequences("aggregate", xp, mask, values=values)
    x = to_compute(values, xp)
    x = xp.where(valid, x, xp.zeros_like(x))
    return from_compute(aggregate_tokens(x, xp.astype(valid, x.dtype), mode, max_length, xp), values, xp)


# --------------------------------------------------------------------------- ppo_clip_loss


def ppo_clip_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, *, clip_low: float = 0.2,
                  clip_high: float = 0.2, dual_clip: float | None = None, mode: str = "token-mean") -> Array:
    """PPO-clip loss with clip-higher and optional dual clip; see :func:`reference.policy.ppo_clip_loss`."""
    xp = namespace(log_prob, old_log_prob, advantages, mask)
    check_params("ppo_clip_loss", clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip, mode=mode)
    valid = sequences("ppo_clip_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                       advantages=advantages)
    _, _, adv, d = prepare(xp, valid, log_prob, old_log_prob, advantages)
    pg1, pg2 = ppo_terms(adv, xp.exp(d), clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = xp.where(adv < 0, xp.minimum(tok, -adv * dual_clip), tok)
    return finish(tok, valid, mode, log_prob, xp)


# --------------------------------------------------------------------------- kl_penalty


def kl_penalty(log_prob: Array, ref_log_prob: Array, kind: str) -> Array:
    """k1 / abs / k2 / k3 (verl clamps) per token; see :func:`reference.policy.kl_penalty`."""
    xp = namespace(log_prob, ref_log_prob)
    check_params("kl_penalty", kind=kind)
    check_same_shape("kl_penalty", log_prob=log_prob, ref_log_prob=ref_log_prob)
    for name, x in (("log_prob", log_prob), ("ref_log_prob", ref_log_prob)):
        check_floating("kl_penalty", name, x, xp)
        if checked():
            check_finite("kl_penalty", name, x, xp)
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
