"""Reference (NumPy float64) ``estimators`` group of the ``policy`` family: outcome-reward advantage
estimators with a group baseline (RLOO, OPO, GRPO pass@k), one advantage per response.

Group conventions as in :func:`reference.policy.group_advantages`: ``group_ids`` are any integers (not
contiguous, not sorted), a group of size one is defined (each estimator says how), a group of size ≥ 2
whose rewards are all equal gets exactly ``A = 0``. Computed under stop-gradient; ``N = 0`` gives an
empty output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from reference._math import F64
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_mask, check_params, check_same_shape

__all__ = ["grpo_passk_advantages", "opo_advantages", "rloo_advantages"]


def _grouped(fn: str, rewards: Any, group_ids: Any) -> tuple[F64, npt.NDArray[np.int64]]:
    r_raw = np.asarray(rewards)
    g = np.asarray(group_ids)
    check_same_shape(fn, rewards=r_raw, group_ids=g)
    if r_raw.ndim != 1:
        raise ShapeError(fn, "rewards", "a 1-D array of shape (N,)", f"shape {r_raw.shape}")
    check_finite(fn, "rewards", r_raw, np)
    if not np.issubdtype(g.dtype, np.integer):
        raise DTypeError(fn, "group_ids", "an integer dtype", f"dtype {g.dtype}")
    return np.asarray(r_raw, dtype=np.float64), np.asarray(g, dtype=np.int64)


def rloo_advantages(rewards: npt.ArrayLike, group_ids: npt.ArrayLike, *, singleton: str = "reward") -> F64:
    r"""RLOO: REINFORCE with the leave-one-out baseline of the group.

    .. math:: A_i = r_i - \frac{1}{k-1}\sum_{j \ne i,\ j \in G(i)} r_j = \frac{k}{k-1}\,(r_i - \bar r_{G(i)})

    for a group of ``k ≥ 2`` responses. Paper: Back to Basics: Revisiting REINFORCE Style Optimization
    for Learning from Human Feedback in LLMs (2024, arXiv:2402.14740). Official code compared: verl 0.9.1
    ``compute_rloo_outcome_advantage`` (registry ``rloo``) and ``compute_rloo_vectorized_outcome_advantage``
    (``rloo_vectorized``).

    Groups of size one (the paper needs k ≥ 2): ``singleton="reward"`` gives ``A = r`` (no baseline;
    verl ``rloo``), ``singleton="zero"`` gives ``A = 0`` (verl ``rloo_vectorized``). A group of size ≥ 2
    with all-equal rewards gives exactly 0. ``rewards`` and ``group_ids`` have shape ``(N,)``.
    """
    check_params("rloo_advantages", singleton=singleton)
    r, g = _grouped("rloo_advantages", rewards, group_ids)
    out = np.zeros(r.shape, dtype=np.float64)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        vals = r[idx]
        k = idx.size
        if k == 1:
            out[idx] = vals if singleton == "reward" else 0.0
        elif np.all(vals == vals[0]):
            out[idx] = 0.0
        else:
            out[idx] = k / (k - 1) * (vals - vals.mean())
    return out


def opo_advantages(rewards: npt.ArrayLike, mask: npt.ArrayLike, group_ids: npt.ArrayLike, *,
                   singleton: str = "formula") -> F64:
    r"""OPO: the length-weighted ("optimal") reward baseline of the group.

    .. math:: A_i = r_i - b_{G(i)},\qquad b_G = \frac{\sum_{j\in G} \ell_j r_j}{\sum_{j \in G} \ell_j},
              \qquad \ell_j = \sum_t m_{j,t}

    (the response length ``ℓ`` stands for the squared gradient norm of the optimal baseline). Paper:
    On-Policy RL with Optimal Reward Baseline (2025, arXiv:2505.23585). Official code compared: verl 0.9.1
    ``compute_opo_outcome_advantage``.

    Groups of size one: ``singleton="formula"`` applies the formula (``b = r``, so ``A = 0``);
    ``singleton="reward"`` uses verl's baseline 0 (``A = r``). A group whose responses are all empty
    (``Σ ℓ = 0``) uses the unweighted mean, the limit of equal weights (verl: 0/0 = NaN). A group of size
    ≥ 2 with all-equal rewards gives exactly 0. ``rewards``/``group_ids``: ``(N,)``; ``mask``: ``(N, T)``,
    bool or numeric 0/1.
    """
    check_params("opo_advantages", singleton=singleton)
    r, g = _grouped("opo_advantages", rewards, group_ids)
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] != r.shape[0]:
        raise ShapeError("opo_advantages", "mask", f"an array of shape (N, T) with N = {r.shape[0]}",
                         f"shape {m.shape}")
    check_mask("opo_advantages", "mask", m, np)
    lengths = (m != 0).sum(axis=-1).astype(np.float64)
    out = np.zeros(r.shape, dtype=np.float64)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        vals, w = r[idx], lengths[idx]
        if idx.size == 1 and singleton == "reward":
            out[idx] = vals
        elif np.all(vals == vals[0]):
            out[idx] = 0.0
        else:
            base = float((w * vals).sum() / w.sum()) if w.sum() > 0 else float(vals.mean())
            out[idx] = vals - base
    return out


def grpo_passk_advantages(rewards: npt.ArrayLike, group_ids: npt.ArrayLike, *, scale: str = "none",
                          eps: float = 1e-6) -> F64:
    r"""GRPO pass@k (max@k with k = group size): only the best response of a group gets an advantage,

    .. math:: A_{i^*} = r_{(1)} - r_{(2)},\qquad A_i = 0\ (i \ne i^*)

    with ``r_(1) ≥ r_(2)`` the two largest rewards of the group and ``i*`` the index of the largest: the
    leave-one-out control variate of the max (``max_j r_j − max_{j≠i} r_j``, zero except for the best).
    ``scale="std"`` divides by ``std_G(r) + eps`` (unbiased std; verl's default
    ``norm_adv_by_std_in_grpo=True``). Paper: Optimizing Language Models for Inference Time Objectives
    using Reinforcement Learning (2025, arXiv:2503.19595). Official code compared: verl 0.9.1
    ``compute_grpo_passk_outcome_advantage``.

    Ties for the maximum give ``r_(1) − r_(2) = 0``: every advantage is 0 whichever tied index is "best"
    (so no tie rule changes a value). A group of size one gets ``A = 0`` (no other response to compare
    with; verl raises). ``rewards`` and ``group_ids`` have shape ``(N,)``.
    """
    check_params("grpo_passk_advantages", scale=scale, eps=eps)
    r, g = _grouped("grpo_passk_advantages", rewards, group_ids)
    out = np.zeros(r.shape, dtype=np.float64)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        if idx.size < 2:
            continue
        vals = r[idx]
        order = np.argsort(vals, kind="stable")
        gap = float(vals[order[-1]] - vals[order[-2]])
        if gap == 0.0:
            continue
        if scale == "std":
            denom = float(vals.std(ddof=1)) + eps
            gap = gap / denom if denom > 0 else 0.0
        out[idx[order[-1]]] = gap
    return out
