"""Reference (NumPy float64) ``covariance`` group of the ``policy`` family: the token covariance score and the
losses that select tokens by it, Clip-Cov and KL-Cov."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.policy._common import finish, masked_mean, ppo_terms, sequences
from spec.errors import DomainError
from spec.validate import check_params

__all__ = ["clip_cov_loss", "entropy_change_covariance", "kl_cov_loss", "token_covariance_score"]


def covariance_scores(lp: F64, adv: F64, valid: npt.NDArray[np.bool_]) -> F64:
    """``cov_i = (A_i − mean_m A)(logp_i − mean_m logp)`` with means over the valid tokens; 0 where masked
    (all zeros for an empty mask). The one helper behind :func:`token_covariance_score`, Clip-Cov and KL-Cov."""
    if not valid.any():
        return np.zeros(lp.shape)
    cov = (adv - masked_mean(adv, valid)) * (lp - masked_mean(lp, valid))
    return np.where(valid, cov, 0.0)


def token_covariance_score(log_prob: npt.ArrayLike, advantages: npt.ArrayLike, mask: npt.ArrayLike) -> F64:
    r"""Per-token covariance score of Clip-Cov / KL-Cov.

    ``cov_t = (A_t − Ā)(logp_t − \bar{logp})`` where both means run over the valid tokens (``mask != 0``)
    of *this call* (so the score depends on the micro-batch, as in the official code); 0 at masked
    tokens, all zeros for an empty mask. It is a statistic used only to select tokens: no gradient.

    Paper: Cui et al., "The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models" (2025, arXiv:2505.22617). Official code: ``compute_policy_loss_kl_cov`` (the valid tokens'
    ``(A − A.mean())·(logp − logp.mean())``) and ``compute_policy_loss_clip_cov`` (the same with
    ``masked_mean``) in LiyuanLucasLiu/Entropy-Mechanism-of-RL and upstream verl. Difference: Clip-Cov
    multiplies by the undetached ``log_prob``; as the score is only compared, we detach it.

    Papers:

    - The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models (2025, arXiv:2505.22617)
    """
    a, valid = sequences("token_covariance_score", mask, log_prob=log_prob, advantages=advantages)
    return covariance_scores(a["log_prob"], a["advantages"], valid)


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

    Papers:

    - The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models (2025, arXiv:2505.22617)
    - Proximal Policy Optimization Algorithms (2017, arXiv:1707.06347)
    """
    check_params("clip_cov_loss", clip_ratio=clip_ratio, cov_low=cov_low, cov_high=cov_high, clip_low=clip_low,
                 clip_high=clip_high, mode=mode)
    a, valid = sequences("clip_cov_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob,
                          advantages=advantages, priority=priority)
    lp, old, adv, pri = a["log_prob"], a["old_log_prob"], a["advantages"], a["priority"]
    if np.any((pri < 0) | (pri >= 1)):
        raise DomainError("clip_cov_loss", "priority", "keys in [0, 1)", "a key outside [0, 1)")
    pg1, pg2 = ppo_terms(lp, old, adv, valid, clip_low, clip_high)
    tok = np.maximum(pg1, pg2)
    n_valid = int(valid.sum())
    if n_valid > 0:
        cov = covariance_scores(lp, adv, valid)
        clipped = (pg2 > pg1) & valid
        candidates = valid & ~clipped & (cov > cov_low) & (cov < cov_high)
        n = max(int(clip_ratio * n_valid), 1)
        flat_pri = pri.ravel()
        ranked = sorted(np.flatnonzero(candidates.ravel()).tolist(), key=lambda i: (flat_pri[i], i))
        corr = np.ones(tok.size)
        for i in ranked[:n]:
            corr[i] = 0.0
        tok = np.where(corr.reshape(tok.shape) == 0.0, 0.0, tok)
    return finish(tok, valid, mode)


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

    Papers:

    - The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models (2025, arXiv:2505.22617)
    """
    check_params("kl_cov_loss", k_percent=k_percent, coef=coef, mode=mode)
    a, valid = sequences("kl_cov_loss", mask, log_prob=log_prob, old_log_prob=old_log_prob, advantages=advantages)
    lp, old, adv = a["log_prob"], a["old_log_prob"], a["advantages"]
    pg1, _ = ppo_terms(lp, old, adv, valid, 0.0, 0.0)
    tok = pg1.copy()
    n_valid = int(valid.sum())
    if k_percent != 0 and n_valid > 0:
        cov = covariance_scores(lp, adv, valid).ravel()
        n = max(1, int(n_valid * k_percent / 100))
        ranked = sorted(np.flatnonzero(valid.ravel()).tolist(), key=lambda i: (-cov[i], i))
        flat = tok.ravel()
        absd = np.abs(lp - old).ravel()
        for i in ranked[:n]:
            flat[i] = flat[i] + coef * absd[i]
        tok = flat.reshape(tok.shape)
    return finish(tok, valid, mode)


# --------------------------------------------------------------------------- entropy_change_covariance


def entropy_change_covariance(logits: npt.ArrayLike, advantages: npt.ArrayLike, *, eta: float = 1.0,
                              update: str = "npg") -> F64:
    r"""First-order entropy change of a softmax policy under a logit update.

    .. math::
        H(\pi^{k+1}) - H(\pi^k) \approx -\mathrm{Cov}_{a\sim\pi^k}\big(\log\pi^k(a),\ \Delta z_a\big)
        = -\sum_a \pi_a (\log\pi_a - \mathbb{E}\log\pi)(\Delta z_a - \mathbb{E}\Delta z)

    with ``Δz = η·A`` (``update='npg'``, natural policy gradient) or ``Δz = η·π·A`` (``'pg'``, vanilla
    policy gradient on a softmax policy). It is the exact derivative ``dH(softmax(z + η·D))/dη`` at
    ``η = 0``. Categories on the last axis; ``−inf`` logits (π = 0) contribute nothing.

    Paper: Cui et al., "The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models" (2025, arXiv:2505.22617), §3 (the entropy-dynamics lemma and its PG / NPG corollaries);
    no official code computes it (the fork's covariance is the per-token score, see
    :func:`token_covariance_score`).

    Papers:

    - The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models (2025, arXiv:2505.22617)
    """
    from reference._math import log_softmax
    from spec.validate import check_finite, check_same_shape, check_vocab_axis

    fn = "entropy_change_covariance"
    check_params(fn, eta=eta, update=update)
    z = np.asarray(logits)
    a = np.asarray(advantages)
    check_vocab_axis(fn, "logits", z)
    check_same_shape(fn, logits=z, advantages=a)
    check_finite(fn, "logits", z, np, allow_neg_inf=True)
    check_finite(fn, "advantages", a, np)
    z = z.astype(np.float64)
    a = a.astype(np.float64)
    logp = log_softmax(z)
    p = np.exp(logp)
    pos = p > 0
    d = eta * (p * a if update == "pg" else a)
    lp = np.where(pos, logp, 0.0)
    e_l = np.sum(p * lp, axis=-1, keepdims=True)
    e_d = np.sum(p * d, axis=-1, keepdims=True)
    cov = np.sum(np.where(pos, p * (lp - e_l) * (d - e_d), 0.0), axis=-1)
    return np.asarray(-cov, dtype=np.float64)
