"""Reference (NumPy float64) ``estimators_2`` group of the ``policy`` family: per-token advantage
estimators (GAE, REINFORCE++ and its group-baseline variant, ReMax) and the REINFORCE loss.

Sequence inputs are ``(B, T)`` with a ``mask`` of the same shape (bool or numeric 0/1). The valid tokens
of a row, in order, are its trajectory: a masked position (padding, or an observation token inside a
multi-turn response) is skipped — it neither receives nor passes on a reward, value or TD error, and the
recursion carries across it (verl's convention for observation tokens). Every per-token output is 0 at
masked positions. Advantages are computed under stop-gradient.

Whitening (GAE's ``whiten``, REINFORCE++'s global normalisation, verl ``masked_whiten``): over the valid tokens
of the whole batch, ``(x − mean)/sqrt(var + 1e-8)`` with the unbiased (n − 1) variance; with fewer than two
valid tokens the centred value is 0 and so is the output (verl raises).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.policy._common import Bool, finish, sequences
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_params

__all__ = ["gae_advantages", "reinforce_loss", "reinforce_plus_plus_advantages", "remax_advantages"]

WHITEN_EPS = 1e-8


def _two_d(fn: str, valid: Bool) -> None:
    if valid.ndim != 2:
        raise ShapeError(fn, "mask", "an array of shape (B, T)", f"shape {valid.shape}")


def _per_row(fn: str, name: str, x: Any, b: int, *, integer: bool = False) -> Any:
    a = np.asarray(x)
    if a.shape != (b,):
        raise ShapeError(fn, name, f"an array of shape (B,) with B = {b}", f"shape {a.shape}")
    if integer:
        if not np.issubdtype(a.dtype, np.integer):
            raise DTypeError(fn, name, "an integer dtype", f"dtype {a.dtype}")
        return np.asarray(a, dtype=np.int64)
    check_finite(fn, name, a, np)
    return np.asarray(a, dtype=np.float64)


def _whiten(x: F64, valid: Bool) -> F64:
    """``(x − mean)/sqrt(var + 1e-8)`` over the valid entries (unbiased var); 0 at masked positions."""
    n = int(valid.sum())
    if n < 2:
        return np.zeros(x.shape)
    vals = x[valid]
    mean = vals.sum() / n
    var = ((vals - mean) ** 2).sum() / (n - 1)
    return np.where(valid, (x - mean) / np.sqrt(var + WHITEN_EPS), 0.0)


def gae_advantages(rewards: npt.ArrayLike, values: npt.ArrayLike, mask: npt.ArrayLike, *, gamma: float = 1.0,
                   lam: float = 1.0, whiten: bool = False) -> tuple[F64, F64]:
    r"""Generalized Advantage Estimation, per token, and the λ-returns.

    .. math:: \delta_t = r_t + \gamma V_{t+1} - V_t,\qquad A_t = \delta_t + \gamma\lambda A_{t+1},
              \qquad R_t = A_t + V_t

    over the valid tokens of each row (``t + 1`` is the next *valid* token; past the last one ``V = 0``
    and ``A = 0``: the response ends the episode). Paper: High-Dimensional Continuous Control Using
    Generalized Advantage Estimation (2015, arXiv:1506.02438). Official code compared: verl 0.9.1
    ``compute_gae_advantage_return`` (gamma = lam = 1 in its algorithm config, the defaults here).

    ``whiten=True`` whitens the advantages over the valid tokens of the batch, as verl always
    does (the returns stay unwhitened, as in verl). Returns ``(advantages, returns)``, both ``(B, T)`` and
    0 at masked positions.
    """
    check_params("gae_advantages", gamma=gamma, lam=lam, whiten=whiten)
    a, valid = sequences("gae_advantages", mask, rewards=rewards, values=values)
    _two_d("gae_advantages", valid)
    r, v = a["rewards"], a["values"]
    adv = np.zeros(r.shape)
    for b in range(r.shape[0]):
        next_value, last = 0.0, 0.0
        for t in reversed(range(r.shape[1])):
            if not valid[b, t]:
                continue
            delta = r[b, t] + gamma * next_value - v[b, t]
            last = delta + gamma * lam * last
            adv[b, t] = last
            next_value = v[b, t]
    returns = np.where(valid, adv + v, 0.0)
    if whiten:
        adv = _whiten(adv, valid)
    return adv, returns


def reinforce_plus_plus_advantages(rewards: npt.ArrayLike, mask: npt.ArrayLike, group_ids: npt.ArrayLike, *,
                                   baseline: str = "none", gamma: float = 1.0) -> tuple[F64, F64]:
    r"""REINFORCE++ advantages: returns normalised over the global batch.

    ``baseline="none"`` (REINFORCE++): the discounted return over the valid tokens,
    :math:`G_t = r_t + \gamma G_{t+1}`, whitened over the valid tokens of the batch.
    ``baseline="group"`` (REINFORCE++ w/ baseline): the sequence reward :math:`R = \sum_t r_t` minus the
    mean over its group (a group of size one: mean 0, as verl; all-equal rewards: exactly 0), broadcast to
    the valid tokens and whitened the same way (``gamma`` is not used).

    Paper: REINFORCE++: Stabilizing Critic-Free Policy Optimization with Global Advantage Normalization
    (2025, arXiv:2501.03262). Official code compared: verl 0.9.1
    ``compute_reinforce_plus_plus_outcome_advantage`` and
    ``compute_reinforce_plus_plus_baseline_outcome_advantage``. The per-token KL penalty the paper folds
    into the reward is the caller's (it is part of ``rewards``).

    Returns ``(advantages, returns)``, both ``(B, T)``, 0 at masked positions; ``returns`` is ``G_t``
    (``"none"``) or the sequence reward ``R`` at every valid token (``"group"``). ``group_ids`` ``(B,)``
    (integers) is used only by ``"group"``.
    """
    check_params("reinforce_plus_plus_advantages", baseline=baseline, gamma=gamma)
    a, valid = sequences("reinforce_plus_plus_advantages", mask, rewards=rewards)
    _two_d("reinforce_plus_plus_advantages", valid)
    g = _per_row("reinforce_plus_plus_advantages", "group_ids", group_ids, valid.shape[0], integer=True)
    r = a["rewards"]
    if baseline == "none":
        ret = np.zeros(r.shape)
        for b in range(r.shape[0]):
            running = 0.0
            for t in reversed(range(r.shape[1])):
                if valid[b, t]:
                    running = r[b, t] + gamma * running
                    ret[b, t] = running
        return _whiten(ret, valid), ret
    score = np.where(valid, r, 0.0).sum(axis=-1)
    centred = np.zeros(score.shape)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        vals = score[idx]
        if idx.size == 1:
            centred[idx] = vals
        elif not np.all(vals == vals[0]):
            centred[idx] = vals - vals.mean()
    tiled = np.where(valid, centred[:, None], 0.0)
    return _whiten(tiled, valid), np.where(valid, score[:, None], 0.0)


def remax_advantages(rewards: npt.ArrayLike, baseline_rewards: npt.ArrayLike, mask: npt.ArrayLike, *,
                     credit: str = "sequence") -> tuple[F64, F64]:
    r"""ReMax advantages: the reward minus the reward of the greedy response to the same prompt.

    .. math:: A_t = R - b\ (\text{credit="sequence"}),\qquad A_t = G_t - b\ (\text{credit="reward_to_go"})

    at every valid token, with :math:`R = \sum_t r_t` the sequence reward, :math:`G_t = \sum_{s \ge t} r_s`
    the reward-to-go (valid tokens only) and ``b`` = ``baseline_rewards`` ``(B,)``, the reward of the greedy
    decoding. Paper: ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method for Aligning
    Large Language Models (2023, arXiv:2310.10505). Official code compared: verl 0.9.1
    ``compute_remax_outcome_advantage`` (reward-to-go). The two agree when the reward sits on the last
    valid token (an outcome reward). Returns ``(advantages, returns)``, both ``(B, T)``, 0 at masked
    positions; ``returns`` is ``R`` or ``G_t``.
    """
    check_params("remax_advantages", credit=credit)
    a, valid = sequences("remax_advantages", mask, rewards=rewards)
    _two_d("remax_advantages", valid)
    base = _per_row("remax_advantages", "baseline_rewards", baseline_rewards, valid.shape[0])
    r = np.where(valid, a["rewards"], 0.0)
    if credit == "sequence":
        ret = np.broadcast_to(r.sum(axis=-1)[:, None], r.shape)
    else:
        ret = np.cumsum(r[:, ::-1], axis=-1)[:, ::-1]
    ret = np.where(valid, ret, 0.0)
    return np.where(valid, ret - base[:, None], 0.0), ret


def reinforce_loss(log_prob: npt.ArrayLike, advantages: npt.ArrayLike, mask: npt.ArrayLike, *,
                   mode: str = "seq-mean-token-sum") -> F64:
    r"""REINFORCE loss with a baseline folded into the advantage: :math:`L = -\,\mathrm{sg}(A)\,\log\pi`.

    Per token ``−A_t·log π(y_t)``, aggregated by ``mode`` (see :func:`reference.policy.aggregate`); the
    default ``"seq-mean-token-sum"`` is the per-sequence ``−(R − b)·Σ_t log π`` averaged over sequences.
    Paper: Policy Gradient-Driven Noise Mask (2024, arXiv:2406.14568), whose policy loss this is
    (``−(R − b)·Σ log π(m|x)`` with ``sg(R − b)``). Official code compared: verl 0.9.1
    ``compute_policy_loss_reinforce`` (without its optional rollout importance weights).
    ``advantages`` are a stop-gradient input. ``mode="none"`` returns the per-token loss.
    """
    check_params("reinforce_loss", mode=mode)
    a, valid = sequences("reinforce_loss", mask, log_prob=log_prob, advantages=advantages)
    tok = np.where(a["advantages"] == 0, 0.0, -a["advantages"] * a["log_prob"])
    return finish(tok, valid, mode)
