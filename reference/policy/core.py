"""Reference (NumPy float64) implementations of the ``policy`` family.

Sequence inputs are ``(B, T)`` arrays (any leading dimensions are flattened into rows; a 1-D input
is one row) with a ``mask`` of the same shape, boolean or numeric 0/1. Masked positions never
influence a result: per-token losses are 0 there whatever the inputs hold (they must still be
finite: NaN is rejected everywhere).

Aggregation modes (``aggregate`` and the ``mode`` of every loss), with ``m`` the mask:

- ``"token-mean"``: ``Σ x·m / Σ m`` over the whole batch (DAPO; TRL ``bnpo``/``dapo``);
- ``"seq-mean-token-mean"``: mean over rows of ``Σ_t x·m / Σ_t m``; rows with an empty mask are
  *excluded* from the row mean (verl would produce NaN; TRL ``grpo`` counts them as 0);
- ``"seq-mean-token-sum"``: mean over all rows of ``Σ_t x·m`` (empty rows count as 0);
- ``"seq-mean-token-sum-norm"``: ``Σ x·m / (B·max_length)``, ``max_length`` default ``T`` — Dr. GRPO's
  constant normaliser as in TRL ``dr_grpo`` (``B·max_completion_length``). verl's ``agg_loss``
  divides by ``T`` only, i.e. verl's value is ``B`` times ours. The losses use ``max_length = T``.

Every mode returns exactly 0 for an empty mask (or no rows), never NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from reference._math import F64
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import check_finite, check_mask, check_params, check_same_shape

__all__ = ["aggregate", "clip_cov_loss", "group_advantages", "kl_cov_loss", "kl_penalty", "ppo_clip_loss"]

Bool = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- validation / helpers


def _sequences(fn: str, mask: Any, **floats: Any) -> tuple[dict[str, F64], Bool]:
    """Check shapes, finiteness and the mask; return float64 copies and the boolean valid mask."""
    arrays = {k: np.asarray(v) for k, v in floats.items()}
    m = np.asarray(mask)
    shape = check_same_shape(fn, **arrays, mask=m)
    if len(shape) == 0:
        raise ShapeError(fn, next(iter(arrays)), "an array of shape (B, T)", "a 0-d array")
    for name, a in arrays.items():
        check_finite(fn, name, a, np)
    check_mask(fn, "mask", m, np)
    return {k: np.asarray(a, dtype=np.float64) for k, a in arrays.items()}, np.asarray(m != 0)


def _rows(x: Any) -> Any:
    """``(..., T)`` as ``(rows, T)``."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _aggregate(tok: F64, valid: Bool, mode: str, max_length: int | None) -> F64:
    """Aggregate a per-token array that is already 0 at masked positions."""
    x = _rows(tok)
    m = _rows(valid)
    n_rows, t = x.shape
    if mode == "token-mean":
        n = int(m.sum())
        out = x.sum() / n if n > 0 else 0.0
    elif mode == "seq-mean-token-sum":
        out = x.sum(axis=-1).mean() if n_rows > 0 else 0.0
    elif mode == "seq-mean-token-mean":
        row_means = [x[i].sum() / m[i].sum() for i in range(n_rows) if m[i].sum() > 0]
        out = sum(row_means) / len(row_means) if row_means else 0.0
    else:  # seq-mean-token-sum-norm
        length = t if max_length is None else max_length
        out = x.sum() / (n_rows * length) if n_rows * length > 0 else 0.0
    return np.asarray(out, dtype=np.float64)


def _finish(tok: F64, valid: Bool, mode: str) -> F64:
    tok = np.where(valid, tok, 0.0)
    if mode == "none":
        return np.asarray(tok, dtype=np.float64)
    return _aggregate(tok, valid, mode, None)


def _ppo_terms(lp: F64, old: F64, adv: F64, valid: Bool, clip_low: float, clip_high: float) -> tuple[F64, F64]:
    """``pg1 = −A·ρ`` (0 where A = 0, even if ρ overflows) and ``pg2 = −A·clip(ρ, 1−ε_low, 1+ε_high)``."""
    with np.errstate(over="ignore"):
        ratio = np.exp(np.where(valid, lp - old, 0.0))
        pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return pg1, pg2


def _masked_mean(x: F64, valid: Bool) -> float:
    return float(x[valid].sum() / valid.sum())


# --------------------------------------------------------------------------- aggregate


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
    arrays, valid = _sequences("aggregate", mask, values=values)
    x = np.where(valid, arrays["values"], 0.0)
    return _aggregate(x, valid, mode, max_length)


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
    a, valid = _sequences("ppo_clip_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages)
    lp, old, adv = a["log_prob"], a["old_log_prob"], a["advantages"]
    pg1, pg2 = _ppo_terms(lp, old, adv, valid, clip_low, clip_high)
    tok = np.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = np.where(adv < 0, np.minimum(tok, -adv * dual_clip), tok)
    return _finish(tok, valid, mode)


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


# --------------------------------------------------------------------------- group_advantages


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


# --------------------------------------------------------------------------- clip_cov_loss


def clip_cov_loss(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                  mask: npt.ArrayLike, priority: npt.ArrayLike, *, clip_ratio: float = 2e-4,
                  cov_low: float = 1.0, cov_high: float = 5.0, clip_low: float = 0.2, clip_high: float = 0.2,
                  mode: str = "token-mean") -> F64:
    r"""Clip-Cov: PPO-clip with the n highest-priority high-covariance tokens detached (set to 0).

    1. ``ρ = exp(logp − old)``, ``pg1 = −Aρ``, ``pg2 = −A·clip(ρ, 1−ε_low, 1+ε_high)``; a valid token is
       *PPO-clipped* when ``pg2 > pg1``.
    2. ``cov_i = (A_i − mean_m A)·(logp_i − mean_m logp)``, means over the valid tokens of this call
       (stop-gradient, used only for selection).
    3. Candidates: valid, not PPO-clipped, ``cov_low < cov_i < cov_high`` (both strict, as the code).
    4. ``n = max(int(clip_ratio·Σm), 1)``; the chosen tokens are the ``n`` candidates with the
       smallest ``priority`` keys (ties: lowest flat index); all candidates if fewer than ``n``.
    5. ``corr = 0`` at chosen tokens, 1 elsewhere; ``L = aggregate(max(pg1, pg2)·corr, m, mode)`` —
       chosen tokens stay in the denominator.

    Paper: Cui et al., "The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models" (2025, arXiv:2505.22617). Official code: ``compute_policy_loss_clip_cov`` in
    LiyuanLucasLiu/Entropy-Mechanism-of-RL (same in upstream verl). Differences: the code picks the
    ``n`` tokens with ``torch.randperm``; ``priority`` (one i.i.d. uniform key per token) replaces it
    and gives the same distribution while being reproducible on every backend. Defaults follow the
    code (r = 2e-4, ω = (1, 5), ε = 0.2). ``clip_ratio = 0`` still gives ``n = 1`` (as the fork).

    Stop-gradients: ``old_log_prob``, ``advantages``, the covariance and the selection.
    ``mode="none"`` returns the per-token loss (0 at masked and chosen tokens).
    """
    check_params("clip_cov_loss", clip_ratio=clip_ratio, cov_low=cov_low, cov_high=cov_high, clip_low=clip_low,
                 clip_high=clip_high, mode=mode)
    a, valid = _sequences("clip_cov_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob,
                          advantages=advantages, priority=priority)
    lp, old, adv, pri = a["log_prob"], a["old_log_prob"], a["advantages"], a["priority"]
    if np.any((pri < 0) | (pri >= 1)):
        raise DomainError("clip_cov_loss", "priority", "keys in [0, 1)", "a key outside [0, 1)")
    pg1, pg2 = _ppo_terms(lp, old, adv, valid, clip_low, clip_high)
    tok = np.maximum(pg1, pg2)
    n_valid = int(valid.sum())
    if n_valid > 0:
        cov = (adv - _masked_mean(adv, valid)) * (lp - _masked_mean(lp, valid))
        clipped = (pg2 > pg1) & valid
        candidates = valid & ~clipped & (cov > cov_low) & (cov < cov_high)
        n = max(int(clip_ratio * n_valid), 1)
        flat_pri = pri.ravel()
        ranked = sorted(np.flatnonzero(candidates.ravel()).tolist(), key=lambda i: (flat_pri[i], i))
        corr = np.ones(tok.size)
        for i in ranked[:n]:
            corr[i] = 0.0
        tok = np.where(corr.reshape(tok.shape) == 0.0, 0.0, tok)
    return _finish(tok, valid, mode)


# --------------------------------------------------------------------------- kl_cov_loss


def kl_cov_loss(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                mask: npt.ArrayLike, *, k_percent: float = 0.2, coef: float = 1.0,
                mode: str = "token-mean") -> F64:
    r"""KL-Cov: vanilla ratio policy gradient plus an |log-ratio| penalty on the top-covariance tokens.

    1. ``pg_i = −A_i ρ_i`` on every token (no PPO clipping).
    2. ``cov_i = (A_i − mean A)(logp_i − mean logp)`` over the valid tokens (stop-gradient).
    3. If ``k_percent > 0`` and there is a valid token: the top ``n = max(1, int(N_valid·k_percent/100))``
       valid tokens by ``cov`` (ties: lowest flat index) get ``pg_i += coef·|logp_i − old_i|``.
    4. ``L = aggregate(pg, m, mode)``.

    Paper: Cui et al. (2025, arXiv:2505.22617), ``k = 2e-3`` (``k_percent = 0.2``). Official code:
    ``compute_policy_loss_kl_cov`` in LiyuanLucasLiu/Entropy-Mechanism-of-RL (``torch.topk``, tie order
    unspecified; no selection when ``N_valid = 0``; its ``k = min(k_percent, N_valid)`` changes ``n``
    only when ``N_valid < k_percent`` — we use the formula, as upstream verl, whose ``kl_cov_ratio`` is
    ``k_percent/100``). ``n ≤ N_valid`` because ``k_percent ≤ 100``.

    Stop-gradients: ``old_log_prob``, ``advantages``, the covariance and the selection; ``|·|`` has a
    kink at ``logp = old``. ``mode="none"`` returns the per-token loss (0 at masked tokens).
    """
    check_params("kl_cov_loss", k_percent=k_percent, coef=coef, mode=mode)
    a, valid = _sequences("kl_cov_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages)
    lp, old, adv = a["log_prob"], a["old_log_prob"], a["advantages"]
    pg1, _ = _ppo_terms(lp, old, adv, valid, 0.0, 0.0)
    tok = pg1.copy()
    n_valid = int(valid.sum())
    if k_percent != 0 and n_valid > 0:
        cov = ((adv - _masked_mean(adv, valid)) * (lp - _masked_mean(lp, valid))).ravel()
        n = max(1, int(n_valid * k_percent / 100))
        ranked = sorted(np.flatnonzero(valid.ravel()).tolist(), key=lambda i: (-cov[i], i))
        flat = tok.ravel()
        absd = np.abs(lp - old).ravel()
        for i in ranked[:n]:
            flat[i] = flat[i] + coef * absd[i]
        tok = flat.reshape(tok.shape)
    return _finish(tok, valid, mode)
