"""Mutants of the ``advantages`` group: GRPO group advantages with a wrong std, eps or singleton rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_params, check_same_shape

__all__ = ["MUTANTS"]


def _group_advantages(bug: str) -> Any:
    def group_advantages(rewards: Any, group_ids: Any, *, scale: str = "std", eps: float = 1e-6) -> Any:
        check_params("group_advantages", scale=scale, eps=eps)
        r, g = np.asarray(rewards), np.asarray(group_ids)
        check_same_shape("group_advantages", rewards=r, group_ids=g)
        if r.ndim != 1:
            raise ShapeError("group_advantages", "rewards", "a 1-D array of shape (N,)", f"shape {r.shape}")
        check_finite("group_advantages", "rewards", r, np)
        if not np.issubdtype(g.dtype, np.integer):
            raise DTypeError("group_advantages", "group_ids", "an integer dtype", f"dtype {g.dtype}")
        out = np.zeros(r.shape)
        for gid in np.unique(g):
            sel = g == gid
            v = r[sel].astype(np.float64)
            if v.size == 1:
                mean, std = (float(v[0]), 1.0) if bug == "singleton_centred" else (0.0, 1.0)
            else:
                mean, std = float(v.mean()), float(v.std(ddof=0 if bug == "biased_std" else 1))
            centred = np.zeros(v.size) if v.size > 1 and np.all(v == v[0]) else v - mean
            denom = std if bug == "no_eps" else std + eps
            out[sel] = centred if scale == "none" else np.where(centred == 0, 0.0, centred / (denom or 1.0))
        return out
    return group_advantages


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "group_advantages": (
        Mutant("biased_std", "population (n) std instead of torch.std's unbiased (n − 1)",
               _group_advantages("biased_std")),
        Mutant("no_eps", "divides by std without verl's eps", _group_advantages("no_eps")),
        Mutant("singleton_centred", "a group of size one is centred on its own reward (A = 0) instead of verl's "
               "mean 0, std 1", _group_advantages("singleton_centred")),
    ),
}
