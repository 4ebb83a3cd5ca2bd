"""Reference (NumPy float64) ``reweighting`` group of the ``policy`` family: Lp-Reg and STEER.

Conventions (masks, aggregation modes, empty masks) are in :mod:`reference.policy._common`; the per-token
losses aggregate through the same ``aggregate`` as ``ppo_clip_loss``. Selections rank with ties to the lowest
flat index (the forks use ``torch.topk``, whose tie order is unspecified).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.policy._common import finish, ppo_terms, sequences
from reference.policy.ppo import kl_penalty
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_index, check_params

__all__ = ["lp_reg_policy_loss", "lp_reg_proxy_logprob", "steer_policy_loss", "steer_token_weights"]


# --------------------------------------------------------------------------- lp_reg_proxy_logprob


def lp_reg_proxy_logprob(logits: npt.ArrayLike, labels: npt.ArrayLike, *, min_p: float = 0.02, rule: str = "minp",
                         soft: bool = False, temperature: float = 1.0, fill_logit: float = -1e4) -> F64:
    r"""Lp-Reg's proxy log-probability of the sampled tokens (a filtered, renormalised min-p distribution).

    .. math::
        p = \mathrm{softmax}(z),\quad
        \mathrm{keep}_v = [p_v \ge \kappa \max_u p_u]\ (\text{rule="minp"})\ \text{or}\ [p_v \ge \kappa]\
        (\text{rule="fixed"}),\\
        z'_v = z_v\ \text{if kept, else}\ \text{fill}\ (\text{or}\ \min_u z_u\ \text{if soft}),\quad
        \log\pi_{proxy}(o) = \mathrm{log\_softmax}(z'/T)_o

    The filter is decided at ``T = 1`` and the temperature divides the modified logits afterwards, as
    ``apply_min_p`` followed by ``logits.div_(temperature)`` in the official code. ``soft`` applies to the
    min-p rule only (the fixed rule always writes ``fill_logit``, as the code).

    Paper: Huang et al., "Low-probability Tokens Sustain Exploration in Reinforcement Learning with
    Verifiable Reward" (2025, arXiv:2510.03222): the proxy filters presumed noise and renormalises over
    the survivors. Official code: CarlanLark/Lp-Reg-dev ``verl/workers/actor/dp_actor.py::apply_min_p``
    (commit 33b27e2). Difference: the paper gives filtered tokens probability 0; the code writes the
    logit −1e4 (``fill_logit``), which leaves the survivors' values unchanged and gives a filtered label a
    finite value ≈ (−1e4 − max z)/T.

    Conventions: ``logits`` ``(N, V)`` (−inf entries allowed, never a whole row), ``labels`` ``(N,)``
    integers in ``[0, V)``. Computed without gradient. Returns ``(N,)`` float64.

    Papers:

    - Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward
      (2025, arXiv:2510.03222)
    """
    fn = "lp_reg_proxy_logprob"
    check_params(fn, min_p=min_p, rule=rule, soft=soft, temperature=temperature, fill_logit=fill_logit)
    z_raw, lab = np.asarray(logits), np.asarray(labels)
    if z_raw.ndim != 2:
        raise ShapeError(fn, "logits", "a 2-D array of shape (N, V)", f"shape {z_raw.shape}")
    if lab.shape != z_raw.shape[:1]:
        raise ShapeError(fn, "labels", f"shape {z_raw.shape[:1]} (one label per row of logits)", f"shape {lab.shape}")
    check_finite(fn, "logits", z_raw, np, allow_neg_inf=True)
    if not np.issubdtype(lab.dtype, np.integer):
        raise DTypeError(fn, "labels", "an integer dtype", f"dtype {lab.dtype}")
    check_index(fn, "labels", lab, np, low=0, high=z_raw.shape[1])
    z = np.asarray(z_raw, dtype=np.float64)
    out = np.zeros(z.shape[0], dtype=np.float64)
    for i in range(z.shape[0]):
        row = z[i]
        p = np.exp(row - row.max())
        p = p / p.sum()
        threshold = min_p * p.max() if rule == "minp" else min_p
        keep = p >= threshold
        fill = row.min() if (soft and rule == "minp") else fill_logit
        scaled = np.where(keep, row, fill) / temperature
        top = scaled.max()
        with np.errstate(divide="ignore"):
            out[i] = scaled[int(lab[i])] - top - np.log(np.exp(scaled - top).sum())
    return out


# --------------------------------------------------------------------------- lp_reg_policy_loss


def lp_reg_policy_loss(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                       mask: npt.ArrayLike, proxy_log_prob: npt.ArrayLike, *, neg_k_percent: float = 0.01,
                       pos_k_percent: float = 0.0, coef: float = 1.0, clip_low: float = 0.2, clip_high: float = 0.2,
                       mode: str = "token-mean") -> F64:
    r"""Lp-Reg policy loss: PPO-clip with a k3 pull toward the min-p proxy on the lowest-probability tokens.

    1. ``ρ = exp(logp − old)``, ``ℓ = max(−Aρ, −A·clip(ρ, 1−ε_low, 1+ε_high))`` (``ppo_clip_loss``).
    2. Among the valid tokens with ``A < 0``: ``n`` of them, ``k = max(1, int(n·neg_k_percent))``; if
       ``k > 1`` the ``k`` of lowest ``logp`` (ties: lowest flat index) are candidates; the same with
       ``A > 0`` and ``pos_k_percent``.
    3. A candidate with ``logp < proxy_log_prob`` (strict, detached) is regularised:
       ``ℓ = −Aρ + coef·k3``, **unclipped**, with verl's ``low_var_kl``
       ``k3 = clip(e^c − c − 1, −10, 10)``, ``c = clip(proxy − logp, −20, 20)`` (``kl_penalty(kind="k3")``).
    4. ``L = aggregate(ℓ, mask, mode)``.

    Paper: Huang et al., "Low-probability Tokens Sustain Exploration in Reinforcement Learning with
    Verifiable Reward" (2025, arXiv:2510.03222), on a PPO-clip / DAPO base (arXiv:1707.06347,
    arXiv:2503.14476). Official code: CarlanLark/Lp-Reg-dev ``verl/trainer/ppo/core_algos.py::
    compute_policy_loss_lp_reg`` (commit 33b27e2), recipe defaults ρ = 0.01, positive side off, β = 1.
    Differences: ``torch.topk`` leaves tie order unspecified (lowest flat index here); the fork's k3 has
    no log-ratio clamp (same values for finite inputs).

    Stop-gradients: ``old_log_prob``, ``advantages``, ``proxy_log_prob`` and the selection.

    Papers:

    - Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward
      (2025, arXiv:2510.03222)
    - Proximal Policy Optimization Algorithms (2017, arXiv:1707.06347)
    - DAPO: An Open-Source LLM Reinforcement Learning System at Scale (2025, arXiv:2503.14476)
    """
    fn = "lp_reg_policy_loss"
    check_params(fn, neg_k_percent=neg_k_percent, pos_k_percent=pos_k_percent, coef=coef, clip_low=clip_low,
                 clip_high=clip_high, mode=mode)
    a, valid = sequences(fn, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                         proxy_log_prob=proxy_log_prob)
    lp, old, adv, proxy = a["log_prob"], a["old_log_prob"], a["advantages"], a["proxy_log_prob"]
    pg1, pg2 = ppo_terms(lp, old, adv, valid, clip_low, clip_high)
    tok = np.maximum(pg1, pg2).ravel()
    flat_lp, flat_adv, flat_proxy = lp.ravel(), adv.ravel(), proxy.ravel()
    k3 = kl_penalty(lp, proxy, "k3").ravel()
    flat_pg1 = pg1.ravel()
    for side, pct in ((flat_adv < 0, neg_k_percent), (flat_adv > 0, pos_k_percent)):
        idx = np.flatnonzero(valid.ravel() & side)
        k = max(1, int(len(idx) * pct))
        if len(idx) == 0 or k <= 1:
            continue
        for i in sorted(idx.tolist(), key=lambda j: (flat_lp[j], j))[:k]:
            if flat_lp[i] < flat_proxy[i]:
                tok[i] = flat_pg1[i] + coef * k3[i]
    return finish(tok.reshape(lp.shape), valid, mode)


# --------------------------------------------------------------------------- steer_token_weights


def steer_token_weights(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                        mask: npt.ArrayLike, entropy: npt.ArrayLike, *, w_min: float = 0.8, w_max: float = 1.2,
                        linear: bool = False) -> F64:
    r"""STEER token weights from the first-order estimate of each token's entropy change.

    .. math::
        x = \mathrm{clip}(e^{\log\pi}, 10^{-8}, 1 - 10^{-8}),\quad
        \Omega = \Bigl|\frac{A}{\mathrm{clip}(e^{\log\pi_{old}}, 10^{-8}, 1)}\, x(1-x)(\log x + H)\Bigr|

    with ``m_min, m_max`` the min and max of ``Ω`` over **all valid tokens**:

    - ``linear=False`` (the paper's λ = exp(−k|Ω|)): ``k = −log(w_min)/max(m_max, 0.02)``,
      ``w = clip(exp(−kΩ), w_min, 1)``;
    - ``linear=True`` (the code's run_linear.sh): ``w = clip(w_max − (Ω − m_min)(w_max − w_min)/(m_max −
      m_min), w_min, w_max)``, or ``(w_min + w_max)/2`` when ``m_max = m_min``;

    then ``w ← w·mask`` (an empty mask gives zeros).

    Paper: Hao et al., "Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective" (2025,
    arXiv:2510.10150). Official code: zz-haooo/STEER ``verl/trainer/ppo/core_algos.py::
    compute_token_weights`` (commit b31df71). Differences: the function default and run_linear.sh use the
    linear map (``linear=True`` here); the code sets non-finite Ω to 0 (unreachable with the finite inputs
    required here); where the clip is inactive ``log x`` is ``logp`` itself (the code's ``log(exp(logp))``
    differs by rounding, which the min-max map can amplify when ``H ≈ −logp``). Computed under stop-gradient.

    Papers:

    - Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective (2025, arXiv:2510.10150)
    """
    fn = "steer_token_weights"
    check_params(fn, w_min=w_min, w_max=w_max, linear=linear)
    a, valid = sequences(fn, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                         entropy=entropy)
    e = np.exp(a["log_prob"])
    x = np.clip(e, 1e-8, 1.0 - 1e-8)
    log_x = np.where(x == e, a["log_prob"], np.log(x))  # log(exp(logp)) = logp where the clip is inactive
    f = x * (1.0 - x) * (log_x + a["entropy"])
    p_old = np.clip(np.exp(a["old_log_prob"]), 1e-8, 1.0)
    omega = np.abs(a["advantages"] / p_old * f)
    out = np.zeros(omega.shape, dtype=np.float64)
    if not valid.any():
        return out
    lo, hi = float(omega[valid].min()), float(omega[valid].max())
    for idx in zip(*np.nonzero(valid), strict=True):
        o = float(omega[idx])
        if linear:
            w = w_max - (o - lo) * ((w_max - w_min) / (hi - lo)) if hi > lo else (w_min + w_max) / 2
            out[idx] = min(max(w, w_min), w_max)
        else:
            k = -math.log(w_min) / max(hi, 0.02)
            out[idx] = min(max(math.exp(-k * o), w_min), 1.0)
    return out


# --------------------------------------------------------------------------- steer_policy_loss


def steer_policy_loss(log_prob: npt.ArrayLike, old_log_prob: npt.ArrayLike, advantages: npt.ArrayLike,
                      mask: npt.ArrayLike, entropy: npt.ArrayLike, *, w_min: float = 0.8, w_max: float = 1.2,
                      linear: bool = False, clip_low: float = 0.2, clip_high: float = 0.28,
                      dual_clip: float | None = 10.0, mode: str = "token-mean") -> F64:
    r"""STEER policy loss: dual-clip PPO with clip-higher, reweighted token by token.

    .. math::
        \ell = \max(-A\rho, -A\,\mathrm{clip}(\rho, 1-\varepsilon_{low}, 1+\varepsilon_{high})),\quad
        \ell \leftarrow \min(\ell, -Ac)\ \text{if}\ A < 0,\quad
        L = \mathrm{aggregate}(\ell \cdot \mathrm{sg}(w), m, \text{mode})

    with ``w = steer_token_weights(...)`` (λ = exp(−k|Ω|) by default, the code's linear map with
    ``linear=True``). ``dual_clip=None`` turns the dual clip off.

    Paper: Hao et al., "Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective" (2025,
    arXiv:2510.10150); PPO (2017, arXiv:1707.06347) with DAPO's clip-higher (2025, arXiv:2503.14476).
    Official code: zz-haooo/STEER ``compute_policy_loss_with_entropy`` (commit b31df71); scripts: ε = 0.2 /
    0.28, c = 10 (function default 3). Differences: the fork clamps ``logp − old`` to [−20, 20] (not here,
    as ``ppo_clip_loss``); the weight map (see ``steer_token_weights``).

    Stop-gradients: ``old_log_prob``, ``advantages``, ``entropy`` and the weights — the gradient is
    ``w ⊙ ∇ℓ``.

    Papers:

    - Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective (2025, arXiv:2510.10150)
    - Proximal Policy Optimization Algorithms (2017, arXiv:1707.06347)
    - DAPO: An Open-Source LLM Reinforcement Learning System at Scale (2025, arXiv:2503.14476)
    """
    fn = "steer_policy_loss"
    check_params(fn, w_min=w_min, w_max=w_max, linear=linear, clip_low=clip_low, clip_high=clip_high,
                 dual_clip=dual_clip, mode=mode)
    a, valid = sequences(fn, mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages,
                         entropy=entropy)
    w = steer_token_weights(a["log_prob"], a["old_log_prob"], a["advantages"], valid, a["entropy"], w_min=w_min,
                            w_max=w_max, linear=linear)
    lp, old, adv = a["log_prob"], a["old_log_prob"], a["advantages"]
    pg1, pg2 = ppo_terms(lp, old, adv, valid, clip_low, clip_high)
    tok = np.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = np.where(adv < 0, np.minimum(tok, -adv * dual_clip), tok)
    return finish(tok * w, valid, mode)
