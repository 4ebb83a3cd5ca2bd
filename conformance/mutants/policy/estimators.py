"""Mutants of the ``estimators`` group: RLOO, OPO and GRPO pass@k with a wrong baseline, normaliser,
singleton rule or credited response. Written from the formulas (loops over groups); validation reuses
the shared checks so a mutant is only caught for its planted bug."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_mask, check_params, check_same_shape

__all__ = ["MUTANTS"]


def _checked(fn: str, rewards: Any, group_ids: Any) -> tuple[Any, Any]:
    r, g = np.asarray(rewards), np.asarray(group_ids)
    check_same_shape(fn, rewards=r, group_ids=g)
    if r.ndim != 1:
        raise ShapeError(fn, "rewards", "a 1-D array of shape (N,)", f"shape {r.shape}")
    check_finite(fn, "rewards", r, np)
    if not np.issubdtype(g.dtype, np.integer):
        raise DTypeError(fn, "group_ids", "an integer dtype", f"dtype {g.dtype}")
    return r.astype(np.float64), g


def _rloo(bug: str) -> Any:
    def rloo_advantages(rewards: Any, group_ids: Any, *, singleton: str = "reward") -> Any:
        check_params("rloo_advantages", singleton=singleton)
        r, g = _checked("rloo_advantages", rewards, group_ids)
        out = np.zeros(r.shape)
        for gid in np.unique(g):
            sel = g == gid
            v = r[sel]
            k = v.size
            if k == 1:
                out[sel] = 0.0 if (singleton == "zero" or bug == "singleton_zero") else v
            elif bug == "mean_with_self":
                out[sel] = v - v.mean()  # the group mean includes the response itself (GRPO's centring)
            elif bug == "divide_by_k":
                out[sel] = v - (v.sum() - v) / k
            else:
                out[sel] = v - (v.sum() - v) / (k - 1)
        return out
    return rloo_advantages


def _opo(bug: str) -> Any:
    def opo_advantages(rewards: Any, mask: Any, group_ids: Any, *, singleton: str = "formula") -> Any:
        check_params("opo_advantages", singleton=singleton)
        r, g = _checked("opo_advantages", rewards, group_ids)
        m = np.asarray(mask)
        if m.ndim != 2 or m.shape[0] != r.shape[0]:
            raise ShapeError("opo_advantages", "mask", f"an array of shape (N, T) with N = {r.shape[0]}",
                             f"shape {m.shape}")
        check_mask("opo_advantages", "mask", m, np)
        w = (m != 0).sum(axis=-1).astype(np.float64)
        if bug == "padded_length":
            w = np.full(r.shape, float(m.shape[1]))  # every response counted at the padded length T
        out = np.zeros(r.shape)
        for gid in np.unique(g):
            sel = g == gid
            v, wv = r[sel], w[sel]
            if v.size == 1 and (singleton == "reward" or bug == "singleton_reward"):
                out[sel] = v
                continue
            if bug == "inverse_length":
                wv = np.where(wv > 0, 1.0 / np.maximum(wv, 1.0), 0.0)
            base = float(np.dot(wv, v) / wv.sum()) if wv.sum() > 0 else float(v.mean())
            out[sel] = v - base
        return out
    return opo_advantages


def _passk(bug: str) -> Any:
    def grpo_passk_advantages(rewards: Any, group_ids: Any, *, scale: str = "none", eps: float = 1e-6) -> Any:
        check_params("grpo_passk_advantages", scale=scale, eps=eps)
        r, g = _checked("grpo_passk_advantages", rewards, group_ids)
        out = np.zeros(r.shape)
        for gid in np.unique(g):
            idx = np.flatnonzero(g == gid)
            if idx.size < 2:
                continue
            v = r[idx]
            order = np.argsort(v, kind="stable")
            if bug == "gap_to_min":
                gap = v[order[-1]] - v[order[0]]
            elif bug == "distinct_second":
                below = v[v < v.max()]
                gap = v.max() - (below.max() if below.size else v.max())
            else:
                gap = v[order[-1]] - v[order[-2]]
            if scale == "std":
                gap = gap / (v.std(ddof=0 if bug == "biased_std" else 1) + eps)
            out[idx[order[-1]]] = gap
        return out
    return grpo_passk_advantages


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "rloo_advantages": (
        Mutant("mean_with_self", "baseline is the group mean including the response (GRPO centring, no k/(k−1))",
               _rloo("mean_with_self")),
        Mutant("divide_by_k", "leave-one-out sum divided by k instead of k − 1", _rloo("divide_by_k")),
        Mutant("singleton_zero", "a response alone always gets 0 (the vectorised rule) whatever singleton says",
               _rloo("singleton_zero")),
    ),
    "opo_advantages": (
        Mutant("padded_length", "weights are the padded length T for every response (plain mean)",
               _opo("padded_length")),
        Mutant("inverse_length", "weights 1/ℓ (per-token averaging) instead of ℓ", _opo("inverse_length")),
        Mutant("singleton_reward", "a response alone keeps A = r (verl) even with singleton='formula'",
               _opo("singleton_reward")),
    ),
    "grpo_passk_advantages": (
        Mutant("gap_to_min", "the best response gets r_max − r_min instead of r_max − r_second",
               _passk("gap_to_min")),
        Mutant("distinct_second", "second best taken among values below the max (np.unique style): a tie at "
               "the top must give 0", _passk("distinct_second")),
        Mutant("biased_std", "population (n) std instead of torch.std's unbiased (n − 1) with scale='std'",
               _passk("biased_std")),
    ),
}
