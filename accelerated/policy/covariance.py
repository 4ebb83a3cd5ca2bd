"""Accelerated ``covariance`` group of the ``policy`` family: the token covariance score, Clip-Cov and KL-Cov
(array API).

Selections rank tokens with two stable argsorts (``rank = argsort(argsort(key))``), so ties go to the
lowest flat index exactly like the reference. The count of selected tokens ``n`` stays an array (no
``.item()``): every function traces with ``torch.compile(fullgraph=True)``. Covariances are computed
in the compute dtype (float64 for float64 inputs, float32 otherwise) and detached, like the selections
and ``old_log_prob``/``advantages``. See :mod:`spec.policy.covariance` for the selection rule across
dtypes (exact covariances decide identically everywhere; rounding-level near-ties are unspecified).
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, from_compute, namespace, to_compute
from accelerated.policy._common import finish, masked_mean, ppo_terms, prepare, sequences
from spec.errors import DomainError
from spec.validate import check_params, checked

__all__ = ["clip_cov_loss", "entropy_change_covariance", "kl_cov_loss", "token_covariance_score"]


def _rank(key: Array, xp: Any) -> Array:
    """Rank of every entry of a flat ``key`` in a stable ascending order (ties: lowest index first)."""
    order = xp.argsort(key, stable=True)
    return xp.argsort(order, stable=True)


def _covariance(lp: Array, adv: Array, valid: Array, n_valid: Array, xp: Any) -> Array:
    """The token covariance score (detached; means over the valid tokens; arbitrary at masked tokens) — the one
    helper behind :func:`token_covariance_score`, Clip-Cov and KL-Cov."""
    lp_d = detach(lp)
    adv_d = detach(adv)
    return (adv_d - masked_mean(adv_d, valid, n_valid, xp)) * (lp_d - masked_mean(lp_d, valid, n_valid, xp))


def token_covariance_score(log_prob: Array, advantages: Array, mask: Array) -> Array:
    """``(A − Ā)(logp − mean logp)`` over the valid tokens, 0 where masked, detached; see
    :func:`reference.policy.token_covariance_score`."""
    xp = namespace(log_prob, advantages, mask)
    valid = sequences("token_covariance_score", xp, mask, log_prob=log_prob, advantages=advantages)
    lp = to_compute(detach(log_prob), xp)
    adv = to_compute(detach(advantages), xp)
    n_valid = xp.sum(xp.astype(valid, xp.int64))
    cov = _covariance(lp, adv, valid, n_valid, xp)
    return from_compute(xp.where(valid, cov, xp.zeros_like(cov)), log_prob, xp)


def clip_cov_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, priority: Array, *,
                  clip_ratio: float = 2e-4, cov_low: float = 1.0, cov_high: float = 5.0, clip_low: float = 0.2,
                  clip_high: float = 0.2, mode: str = "token-mean") -> Array:
    """Clip-Cov with priority keys instead of randperm; see :func:`reference.policy.clip_cov_loss`."""
    xp = namespace(log_prob, old_log_prob, advantages, mask, priority)
    check_params("clip_cov_loss", clip_ratio=clip_ratio, cov_low=cov_low, cov_high=cov_high, clip_low=clip_low,
                 clip_high=clip_high, mode=mode)
    valid = sequences("clip_cov_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                      advantages=advantages, priority=priority)
    if checked() and bool(xp.any((priority < 0) | (priority >= 1))):
        raise DomainError("clip_cov_loss", "priority", "keys in [0, 1)", "a key outside [0, 1)")
    lp, _, adv, d = prepare(xp, valid, log_prob, old_log_prob, advantages)
    pg1, pg2 = ppo_terms(adv, xp.exp(d), clip_low, clip_high, xp)
    tok = xp.maximum(pg1, pg2)
    n_valid = xp.sum(xp.astype(valid, xp.int64))
    cov = _covariance(lp, adv, valid, n_valid, xp)
    clipped = detach(pg2) > detach(pg1)
    candidates = valid & ~clipped & (cov > cov_low) & (cov < cov_high)
    # n = max(int(clip_ratio·Σm), 1): the float64 product, floored, as the Python expression of the code
    n = xp.clip(xp.floor(clip_ratio * xp.astype(n_valid, xp.float64)), 1.0, None)
    pri = to_compute(priority, xp)
    key = xp.where(candidates, pri, xp.full_like(pri, 2.0))  # non-candidates after every key in [0, 1)
    rank = xp.reshape(_rank(xp.reshape(key, (-1,)), xp), key.shape)
    chosen = candidates & (xp.astype(rank, xp.float64) < n)
    tok = xp.where(chosen, xp.zeros_like(tok), tok)
    return finish(tok, valid, mode, log_prob, xp)


def kl_cov_loss(log_prob: Array, old_log_prob: Array, advantages: Array, mask: Array, *, k_percent: float = 0.2,
                coef: float = 1.0, mode: str = "token-mean") -> Array:
    """KL-Cov (top-covariance |log-ratio| penalty on vanilla PG); see :func:`reference.policy.kl_cov_loss`."""
    xp = namespace(log_prob, old_log_prob, advantages, mask)
    check_params("kl_cov_loss", k_percent=k_percent, coef=coef, mode=mode)
    valid = sequences("kl_cov_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                      advantages=advantages)
    lp, _, adv, d = prepare(xp, valid, log_prob, old_log_prob, advantages)
    tok, _ = ppo_terms(adv, xp.exp(d), 0.0, 0.0, xp)
    if k_percent != 0:
        n_valid = xp.sum(xp.astype(valid, xp.int64))
        cov = _covariance(lp, adv, valid, n_valid, xp)
        # n = max(1, int(N_valid·k_percent/100)) in float64, as the Python expression; no selection if N_valid = 0
        n = xp.clip(xp.floor(xp.astype(n_valid, xp.float64) * k_percent / 100), 1.0, None)
        key = xp.where(valid, -cov, xp.full_like(cov, math.inf))  # descending cov; masked tokens last
        rank = xp.reshape(_rank(xp.reshape(key, (-1,)), xp), key.shape)
        selected = valid & (xp.astype(rank, xp.float64) < n)
        tok = xp.where(selected, tok + coef * xp.abs(d), tok)
    return finish(tok, valid, mode, log_prob, xp)


def entropy_change_covariance(logits: Array, advantages: Array, *, eta: float = 1.0, update: str = "npg") -> Array:
    """−Cov_{a~π}(log π(a), Δz_a) per row, Δz = η·A or η·π·A; see
    :func:`reference.policy.entropy_change_covariance`."""
    from accelerated._xp import log_softmax
    from spec.validate import check_finite, check_same_shape, check_vocab_axis

    fn = "entropy_change_covariance"
    xp = namespace(logits, advantages)
    check_params(fn, eta=eta, update=update)
    check_vocab_axis(fn, "logits", logits)
    check_same_shape(fn, logits=logits, advantages=advantages)
    check_finite(fn, "logits", logits, xp, allow_neg_inf=True)
    check_finite(fn, "advantages", advantages, xp)
    z = to_compute(logits, xp)
    a = to_compute(advantages, xp)
    logp = log_softmax(z, xp)
    p = xp.exp(logp)
    pos = p > 0
    zero = xp.zeros_like(p)
    d = eta * (p * a if update == "pg" else a)
    lp = xp.where(pos, logp, zero)
    e_l = xp.sum(p * lp, axis=-1, keepdims=True)
    e_d = xp.sum(p * d, axis=-1, keepdims=True)
    cov = xp.sum(xp.where(pos, p * (lp - e_l) * (d - e_d), zero), axis=-1)
    return from_compute(-cov, logits, xp)
