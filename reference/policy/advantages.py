"""Reference (NumPy float64) ``advantages`` group of the ``policy`` family: GRPO group advantages."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_params, check_same_shape

__all__ = ["group_advantages"]


def group_advantages(rewards: npt.ArrayLike, group_ids: npt.ArrayLike, *, scale: str = "std",
                     eps: float = 1e-6) -> F64:
    r"""GRPO group-relative advantages.

    .. math:: A_i = \frac{r_i - \bar r_{G(i)}}{s_{G(i)} + \varepsilon}\ (\text{scale="std"}),\qquad
              A_i = r_i - \bar r_{G(i)}\ (\text{scale="none"})

    with ``s`` the *unbiased* (n − 1) standard deviation of the group, as ``torch.std`` in verl and
    TRL. Papers: DeepSeekMath/GRPO (2024, arXiv:2402.03300); Dr. GRPO (2025, arXiv:2503.20783) drops
    the std (``scale="none"``, verl ``norm_adv_by_std_in_grpo=False``). Official code: verl
    ``compute_grpo_outcome_advantage`` (``eps = 1e-6``; TRL uses 1e-4).

    Conventions (verl's): a group of size 1 gets mean 0 and std 1, so ``A = r/(1+eps)`` (or ``r``);
    a group of size ≥ 2 whose rewards are all equal gets exactly ``A = 0`` (also with ``eps = 0``).
    Group ids are any integers (not necessarily contiguous or sorted). Computed under stop-gradient.
    ``rewards`` and ``group_ids`` have shape ``(N,)``; ``N = 0`` gives an empty output.
    """
    check_params("group_advantages", scale=scale, eps=eps)
    r_raw = np.asarray(rewards)
    g = np.asarray(group_ids)
    check_same_shape("group_advantages", rewards=r_raw, group_ids=g)
    if r_raw.ndim != 1:
        raise ShapeError("group_advantages", "rewards", "a 1-D array of shape (N,)", f"shape {r_raw.shape}")
    check_finite("group_advantages", "rewards", r_raw, np)
    if not np.issubdtype(g.dtype, np.integer):
        raise DTypeError("group_advantages", "group_ids", "an integer dtype", f"dtype {g.dtype}")
    r = np.asarray(r_raw, dtype=np.float64)
    out = np.zeros(r.shape, dtype=np.float64)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        vals = r[idx]
        if idx.size == 1:
            mean, std = 0.0, 1.0
        else:
            mean = float(vals.mean())
            std = float(vals.std(ddof=1))
        constant = idx.size > 1 and bool(np.all(vals == vals[0]))
        centred = np.zeros(idx.size) if constant else vals - mean
        if scale == "none":
            out[idx] = centred
        else:
            denom = std + eps
            out[idx] = centred / denom if denom > 0 else 0.0
    return out
