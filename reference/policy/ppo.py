"""Reference (NumPy float64) ``ppo`` group of the ``policy`` family: aggregation, PPO-clip, KL estimators.

Conventions (masks, aggregation modes, empty masks) are in :mod:`reference.policy._common`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.policy._common import aggregate_tokens, finish, ppo_terms, sequences
from spec.validate import check_finite, check_params, check_same_shape

__all__ = ["aggregate", "kl_penalty", "ppo_clip_loss"]


def aggregate(values: npt.ArrayLike, mask: npt.ArrayLike, mode: str, *, max_length: int | None = None) -> F64:
    r"""Aggregate a per-token array with a mask into a scalar.

    .. math::
        \text{token-mean} = \frac{\sum_{b,t} x_{bt} m_{bt}}{\sum_{b,t} m_{bt}},\quad
        \text{seq-mean-token-mean} = \frac{1}{|R|}\sum_{b\in R}\frac{\sum_t x_{bt}m_{bt}}{\sum_t m_{bt}},\\
        \text{seq-mean-token-sum} = \frac{1}{B}\sum_b\sum_t x_{bt}m_{bt},\quad
        \text{seq-mean-token-sum-norm} = \frac{\sum_{b,t} x_{bt}m_{bt}}{B\cdot L}

    with ``R`` the rows whose mask is not empty and ``L = max_length`` (default ``T``).

    Papers: DAPO (2025, arXiv:2503.14476) for token-mean; Dr. GRPO, "Understanding R1-Zero-Like
    Training: A Critical Perspective" (2025, arXiv:2503.20783) for the constant normaliser;
    DeepSeekMath/GRPO (2024, arXiv:2402.03300) for seq-mean-token-mean.
    Official code: verl ``agg_loss`` (``verl/trainer/ppo/core_algos.py``). Differences: verl's
    seq-mean-token-sum-norm divides by ``T`` only (ours = TRL ``dr_grpo``: by ``B·max_length``;
    verl = ``B`` × ours); verl yields NaN for empty masks/rows where we return 0 / exclude the row.

    Conventions: ``values`` and ``mask`` share a shape ``(B, T)`` (leading dims flattened into rows);
    masked values never matter; an empty mask (or no rows, or ``T = 0``) gives exactly 0. Returns a
    0-d float64 array.
    """
    check_params("aggregate", mode=mode, max_length=max_length)
    arrays, valid = sequences("aggregate", mask, values=values)
    x = np.where(valid, arrays["values"], 0.0)
    return aggregate_tokens(x, valid, mode, max_length)


# --------------------------------------------------------------------------- ppo_clip_loss


def ppo_clip_loss(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                  mask: npt.ArrayLike, *, clip_low: float = 0.2, clip_high: float = 0.2,
                  dual_clip: float | None = None, mode: str = "token-mean") -> F64:
    r"""PPO-clip policy loss with clip-higher and optional dual clip.

    .. math::
        \rho = e^{\log\pi - \log\pi_{old}},\quad
        \ell = \max\bigl(-A\rho,\; -A\,\mathrm{clip}(\rho, 1-\varepsilon_{low}, 1+\varepsilon_{high})\bigr),\quad
        \ell \leftarrow \min(\ell, -A c)\ \text{if}\ A < 0\ \text{(dual clip)}

    then ``aggregate(ℓ, mask, mode)``; ``mode="none"`` returns ``ℓ`` per token (0 where masked).

    Papers: PPO, Schulman et al. (2017, arXiv:1707.06347); clip-higher from DAPO (2025,
    arXiv:2503.14476); dual clip from Ye et al., "Mastering Complex Control in MOBA Games with Deep
    RL" (2019, arXiv:1912.09729). Official code: verl ``compute_policy_loss_vanilla``. Differences:
    verl applies the dual clip always (``clip_ratio_c = 3``) and clamps ``logp − old`` to [−20, 20];
    here the dual clip is off by default (``dual_clip=None``, like TRL and the Entropy-Mechanism
    fork) and ρ is not clamped (A = 0 tokens give 0 even if ρ overflows).

    Stop-gradients: ``old_log_prob`` and ``advantages``.
    """
    check_params("ppo_clip_loss", clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip, mode=mode)
    a, valid = sequences("ppo_clip_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages)
    lp, old, adv = a["log_prob"], a["old_log_prob"], a["advantages"]
    pg1, pg2 = ppo_terms(lp, old, adv, valid, clip_low, clip_high)
    tok = np.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = np.where(adv < 0, np.minimum(tok, -adv * dual_clip), tok)
    return finish(tok, valid, mode)


# --------------------------------------------------------------------------- kl_penalty


def kl_penalty(log_prob: npt.ArrayLike, ref_log_prob: npt.ArrayLike, kind: str) -> F64:
    r"""Per-token KL penalty estimators, ``d = log_prob − ref_log_prob``.

    - ``"k1"``: ``d`` (verl ``kl``);
    - ``"abs"``: ``|d|``;
    - ``"k2"``: ``d²/2`` (verl ``mse``);
    - ``"k3"``: ``e^{−d} + d − 1`` (verl ``low_var_kl``) with verl's clamps always applied:
      ``k = clip(−d, −20, 20)``, ``clip(e^k − k − 1, −10, 10)``. Since ``e^k − k − 1 ≥ 0`` and reaches
      10 at ``d ≈ −2.61`` and ``d ≈ 11.0`` this is ``min(e^{−d} + d − 1, 10)``: the gradient is 0 where
      the clamp is active. Computed as ``expm1(k) − k`` for accuracy near ``d = 0``.

    Paper: J. Schulman, "Approximating KL Divergence" (2020, http://joschu.net/blog/kl-approx.html);
    k3 is unbiased for KL(π‖π_ref) under samples of π (without the clamp). Official code: verl
    ``kl_penalty`` (``core_algos.py``). Output: elementwise (any shape, 0-d included), float64.
    """
    check_params("kl_penalty", kind=kind)
    lp_raw, ref_raw = np.asarray(log_prob), np.asarray(ref_log_prob)
    check_same_shape("kl_penalty", log_prob=lp_raw, ref_log_prob=ref_raw)
    check_finite("kl_penalty", "log_prob", lp_raw, np)
    check_finite("kl_penalty", "ref_log_prob", ref_raw, np)
    d = np.asarray(lp_raw, dtype=np.float64) - np.asarray(ref_raw, dtype=np.float64)
    if kind == "k1":
        return d
    if kind == "abs":
        return np.abs(d)
    if kind == "k2":
        return 0.5 * d * d
    k = np.clip(-d, -20.0, 20.0)
    return np.asarray(np.clip(np.expm1(k) - k, -10.0, 10.0), dtype=np.float64)
