"""Reference (NumPy float64) ``entropy_advantages`` group of the ``policy`` family: CANON and EMPG.

Group ids are any integers; groups of size one are defined (documented per method). Advantages are
stop-gradient constants.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_mask, check_params, check_same_shape

__all__ = ["canon_advantage", "canon_advantage_scheduled", "empg_advantage"]


def _canon_inputs(fn: str, rewards: npt.ArrayLike, group_ids: npt.ArrayLike, entropy: npt.ArrayLike,
                  mask: npt.ArrayLike) -> tuple[F64, npt.NDArray[np.int64], F64, npt.NDArray[np.bool_]]:
    r, g, h, m = (np.asarray(x) for x in (rewards, group_ids, entropy, mask))
    check_same_shape(fn, rewards=r, group_ids=g)
    if r.ndim != 1:
        raise ShapeError(fn, "rewards", "a 1-D array of shape (B,)", f"shape {r.shape}")
    check_same_shape(fn, entropy=h, mask=m)
    if h.ndim != 2 or h.shape[0] != r.shape[0]:
        raise ShapeError(fn, "entropy", f"shape ({r.shape[0]}, T) (one row per response)", f"shape {h.shape}")
    check_finite(fn, "rewards", r, np)
    if not np.issubdtype(g.dtype, np.integer):
        raise DTypeError(fn, "group_ids", "an integer dtype", f"dtype {g.dtype}")
    check_finite(fn, "entropy", h, np)
    check_mask(fn, "mask", m, np)
    return (np.asarray(r, dtype=np.float64), np.asarray(g, dtype=np.int64), np.asarray(h, dtype=np.float64),
            np.asarray(m != 0))


def _canon(r: F64, g: npt.NDArray[np.int64], h: F64, m: npt.NDArray[np.bool_], metric: str, inter: float,
           intra: float, alpha: float, beta: float, max_length: float) -> F64:
    """The code's loop: per group, Python-stable sort by the metric, halves at ⌊G/2⌋, then the two estimates."""
    mf = m.astype(np.float64)
    key = mf.sum(axis=-1) if metric == "length" else (h * mf).sum(axis=-1) / (mf.sum(axis=-1) + 1e-8)
    adv = np.zeros(r.shape, dtype=np.float64)
    members: dict[int, list[int]] = {}
    for i, gid in enumerate(g.tolist()):
        members.setdefault(gid, []).append(i)
    for idx in members.values():
        order = sorted(idx, key=lambda i: float(key[i]))  # stable: ties keep the original order
        mid = len(order) // 2
        low, high = order[:mid], order[mid:]
        if len(order) == 1:
            mu_l = mu_h = 0.0
        else:
            mu_l = sum(float(r[i]) for i in low) / len(low)
            mu_h = sum(float(r[i]) for i in high) / len(high)
        for i in high:
            inter_term = alpha * r[i] - mu_l + beta if metric == "length" else r[i] - alpha * mu_l + beta
            adv[i] = (inter * inter_term + intra * (r[i] - mu_h)) / max_length
        for i in low:
            inter_term = r[i] - alpha * mu_h - beta if metric == "length" else alpha * r[i] - mu_h - beta
            adv[i] = (inter * inter_term + intra * (r[i] - mu_l)) / max_length
    return np.asarray(adv[:, None] * mf, dtype=np.float64)


# --------------------------------------------------------------------------- canon_advantage


def canon_advantage(rewards: npt.ArrayLike, group_ids: npt.ArrayLike, entropy: npt.ArrayLike, mask: npt.ArrayLike,
                    *, metric: str = "entropy", mu: float = 1.0, alpha: float = 1.0, beta: float = 0.0,
                    max_length: int = 8192) -> F64:
    r"""CANON conditional advantage: regroup each prompt's responses by a metric and mix two baselines.

    Per group (prompt) of size ``G``: sort the responses by the metric ``m_i`` (stable, ascending), ``Low`` =
    the first ``⌊G/2⌋``, ``High`` = the rest; ``μ_L``, ``μ_H`` the mean rewards of the halves (both 0 for a
    group of one, as the code). With ``μ`` the inter-group weight:

    - metric ``"entropy"`` (``m_i = Σ_t H·m / (Σ_t m + 10^{-8})``, verl's masked mean):
      High ``A = [μ(r − α μ_L + β) + (1 − μ)(r − μ_H)]/L``, Low ``A = [μ(α r − μ_H − β) + (1 − μ)(r − μ_L)]/L``;
    - metric ``"length"`` (``m_i = Σ_t m``): High ``[μ(α r − μ_L + β) + (1 − μ)(r − μ_H)]/L``,
      Low ``[μ(r − α μ_H − β) + (1 − μ)(r − μ_L)]/L``;

    with ``L = max_length``, broadcast as ``A_i·mask_it``. μ = 1/2, α = 1, β = 0 on an even group gives Dr.
    GRPO's ``(r − mean)/L``.

    Paper: "Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models" (2025,
    arXiv:2509.23962); Dr. GRPO's constant normaliser from "Understanding R1-Zero-Like Training: A Critical
    Perspective" (2025, arXiv:2503.20783). Official code: biuboomc/CANON ``verl/trainer/ppo/core_algos.py::
    compute_dr_entropy_per_token_group_outcome_advantage`` / ``compute_dr_length_on_mean_group_outcome_advantage``
    (commit 7d6f814; ``alpha`` = α of Eq. 8, ``_lambda`` = μ of Eq. 5). Stop-gradient.

    Papers:

    - Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models (2025, arXiv:2509.23962)
    - Understanding R1-Zero-Like Training: A Critical Perspective (2025, arXiv:2503.20783)
    """
    fn = "canon_advantage"
    check_params(fn, metric=metric, mu=mu, alpha=alpha, beta=beta, max_length=max_length)
    r, g, h, m = _canon_inputs(fn, rewards, group_ids, entropy, mask)
    return _canon(r, g, h, m, metric, mu, 1.0 - mu, alpha, beta, float(max_length))


# --------------------------------------------------------------------------- canon_advantage_scheduled


def _cosine_restart(step: int, high: float, low: float, total: int = 150, warmup: int = 30, cycles: int = 3) -> float:
    if step < warmup:
        return high * (step + 1) / warmup
    cycle_length = (total - warmup) // cycles
    cycle_epoch = (step - warmup) % cycle_length
    return low + 0.5 * (high - low) * (1 + math.cos(math.pi * cycle_epoch / cycle_length))


def canon_advantage_scheduled(rewards: npt.ArrayLike, group_ids: npt.ArrayLike, entropy: npt.ArrayLike,
                              mask: npt.ArrayLike, *, schedule: str = "cosine_restart", step: int = 0,
                              max_length: int = 8192) -> F64:
    r"""CANON with scheduled inter/intra weights (entropy metric, α = 1, β = 0).

    With the code's ``m`` (``mean_of_all``): High ``A = [(1 − m)(r − μ_L) + m(r − μ_H)]/L``, Low
    ``A = [(1 − m)(r − μ_H) + m(r − μ_L)]/L`` (the halves, means and broadcast of ``canon_advantage``), and

    - ``"annel"``: ``m = 1 − mean(r)`` over the whole batch (inter weight = the batch accuracy);
    - ``"cosine_restart"``: ``m = cr(step; 0.6, 0)``; ``"cosine_restart_r"``: ``m = 1 − cr(step; 1, 0.4)``;

    ``cr(s; hi, lo) = hi·(s + 1)/30`` for ``s < 30``, else ``lo + ½(hi − lo)(1 + cos(π·((s − 30) mod 40)/40))``
    (the code's ``cosine_annealing_with_restart`` with total 150, warm-up 30, 3 cycles).

    Paper: "Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models" (2025,
    arXiv:2509.23962); Dr. GRPO normaliser (2025, arXiv:2503.20783). Official code: biuboomc/CANON
    ``compute_dr_entropy_per_token_annel_group_outcome_advantage`` and the two ``cosine_with_restart``
    variants (commit 7d6f814). Stop-gradient.

    Papers:

    - Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models (2025, arXiv:2509.23962)
    - Understanding R1-Zero-Like Training: A Critical Perspective (2025, arXiv:2503.20783)
    """
    fn = "canon_advantage_scheduled"
    check_params(fn, schedule=schedule, step=step, max_length=max_length)
    r, g, h, m = _canon_inputs(fn, rewards, group_ids, entropy, mask)
    if schedule == "annel":
        mean_of_all = 1.0 - (float(np.mean(r)) if r.size else 0.0)
    elif schedule == "cosine_restart":
        mean_of_all = _cosine_restart(step, 0.6, 0.0)
    else:
        mean_of_all = 1.0 - _cosine_restart(step, 1.0, 0.4)
    return _canon(r, g, h, m, "entropy", 1.0 - mean_of_all, mean_of_all, 1.0, 0.0, float(max_length))


# --------------------------------------------------------------------------- empg_advantage


def empg_advantage(step_entropy: npt.ArrayLike, advantages: npt.ArrayLike, trajectory_ids: npt.ArrayLike, *,
                   k: float = 1.0, k_f: float = 1.0, zeta: float = 0.1, normalize: str = "std") -> F64:
    r"""EMPG: entropy-modulated step advantages with a future-clarity bonus.

    Over the ``S`` steps of the batch (one entry per agent step, in trajectory order):

    .. math::
        H_n = \frac{H - \min H}{\max H - \min H + 10^{-8}},\quad
        g = \frac{e^{-k H_n}}{\mathrm{mean}(e^{-k H_n}) + 10^{-8}},\quad f = e^{-k_f H_n},\\
        A^{mod}_i = g_i A_i + \zeta f_{next(i)}

    where ``next(i)`` is the next later step with the same trajectory id (no bonus for a trajectory's last
    step); then ``normalize="std"``: ``(A^{mod} − mean)/(std + 10^{-8})`` (population std), ``"mean"``:
    ``A^{mod} − mean``, ``"none"``: ``A^{mod}``.

    Paper: Wang et al., "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM
    Agents" (2025, arXiv:2509.09265), Eqs. 7, 8, 10–12. No official code was found; the project page's
    pseudocode (``compute_empg_advantage``, https://empgseed-seed.github.io) gives g, f and the defaults
    (k = k_f = 1, ζ = 0.1); its copy in WillDreamer/ARLArena centres the step advantages only (``"mean"``).
    Which std Eq. 7 uses is not settled by the sources (population std here). Stop-gradient.

    Papers:

    - Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM Agents (2025, arXiv:2509.09265)
    """
    fn = "empg_advantage"
    check_params(fn, k=k, k_f=k_f, zeta=zeta, normalize=normalize)
    h_raw, a_raw, t = (np.asarray(x) for x in (step_entropy, advantages, trajectory_ids))
    check_same_shape(fn, step_entropy=h_raw, advantages=a_raw, trajectory_ids=t)
    if h_raw.ndim != 1:
        raise ShapeError(fn, "step_entropy", "a 1-D array of shape (S,)", f"shape {h_raw.shape}")
    check_finite(fn, "step_entropy", h_raw, np)
    check_finite(fn, "advantages", a_raw, np)
    if not np.issubdtype(t.dtype, np.integer):
        raise DTypeError(fn, "trajectory_ids", "an integer dtype", f"dtype {t.dtype}")
    h = np.asarray(h_raw, dtype=np.float64)
    a = np.asarray(a_raw, dtype=np.float64)
    s = h.size
    if s == 0:
        return np.zeros(0)
    h_norm = (h - h.min()) / (h.max() - h.min() + 1e-8)
    g_raw = np.exp(-k * h_norm)
    g = g_raw / (g_raw.mean() + 1e-8)
    f = np.exp(-k_f * h_norm)
    out = g * a
    last_seen: dict[int, int] = {}
    for i in range(s - 1, -1, -1):  # walk backwards: the next step of i is the last one seen with its id
        tid = int(t[i])
        if tid in last_seen:
            out[i] = out[i] + zeta * f[last_seen[tid]]
        last_seen[tid] = i
    if normalize == "mean":
        out = out - out.mean()
    elif normalize == "std":
        out = (out - out.mean()) / (out.std() + 1e-8)
    return np.asarray(out, dtype=np.float64)
