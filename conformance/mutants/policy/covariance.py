"""Mutants of the ``covariance`` group: the covariance score, Clip-Cov and KL-Cov selections with plausible wrong
rules."""

from __future__ import annotations

from typing import Any

from conformance.mutants import Mutant
from conformance.mutants.policy import _numpy as N
from spec.validate import check_params

__all__ = ["MUTANTS"]


def _kl_cov_torch_no_detach(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, k_percent: float = 0.2,
                            coef: float = 1.0, mode: str = "token-mean") -> Any:
    """Torch KL-Cov whose |logp − old| penalty uses an undetached ``old_log_prob``."""
    import torch

    from accelerated._xp import namespace
    from accelerated.policy._common import finish, masked_mean, sequences

    check_params("kl_cov_loss", k_percent=k_percent, coef=coef, mode=mode)
    xp = namespace(log_prob, old_log_prob, advantages, mask)
    valid = sequences("kl_cov_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                      advantages=advantages)
    adv = advantages.detach()
    d = torch.where(valid, log_prob - old_log_prob, torch.zeros_like(log_prob))  # old not detached
    tok = torch.where(adv == 0, torch.zeros_like(d), -adv * torch.exp(d.detach() + (log_prob - log_prob.detach())))
    n_valid = valid.sum()
    if k_percent != 0:
        lp = log_prob.detach()
        cov = (adv - masked_mean(adv, valid, n_valid, xp)) * (lp - masked_mean(lp, valid, n_valid, xp))
        n = torch.clamp(torch.floor(n_valid.double() * k_percent / 100), min=1.0)
        key = torch.where(valid, -cov, torch.full_like(cov, float("inf"))).reshape(-1)
        rank = torch.argsort(torch.argsort(key, stable=True), stable=True).reshape(cov.shape)
        tok = torch.where(valid & (rank.double() < n), tok + coef * d.abs(), tok)
    return finish(tok, valid, mode, log_prob, xp)


def _token_covariance(bug: str) -> Any:
    """A NumPy token covariance score with one planted bug (written from the formula)."""
    import numpy as np

    from reference.policy._common import sequences

    def fn(log_prob: Any, advantages: Any, mask: Any) -> Any:
        a, valid = sequences("token_covariance_score", mask, log_prob=log_prob, advantages=advantages)
        lp, adv = a["log_prob"], a["advantages"]
        if not valid.any():
            return np.zeros(lp.shape)
        if bug == "uncentred":
            cov = adv * lp
        elif bug == "padding_in_means":
            cov = (adv - adv.mean()) * (lp - lp.mean())
        elif bug == "centre_advantage_only":
            cov = (adv - adv[valid].mean()) * lp
        else:  # per_row_means
            m = valid.astype(np.float64)
            n = np.maximum(m.sum(axis=-1, keepdims=True), 1.0)
            cov = (adv - (adv * m).sum(-1, keepdims=True) / n) * (lp - (lp * m).sum(-1, keepdims=True) / n)
        return np.where(valid, cov, 0.0)
    return fn


def _entropy_change(bug: str) -> Any:
    import numpy as np

    from reference.policy.covariance import entropy_change_covariance as ref

    def fn(logits: Any, advantages: Any, *, eta: float = 1.0, update: str = "npg") -> Any:
        ref(logits, advantages, eta=eta, update=update)  # validation only
        z = np.asarray(logits, dtype=np.float64)
        a = np.asarray(advantages, dtype=np.float64)
        m = z.max(axis=-1, keepdims=True)
        e = np.exp(z - m)
        p = e / e.sum(axis=-1, keepdims=True)
        pos = p > 0
        lp = np.where(pos, z - m - np.log(e.sum(axis=-1, keepdims=True)), 0.0)
        d = eta * (p * a if update == "pg" and bug != "pg_as_npg" else a)
        w = np.where(pos, 1.0 / pos.sum(axis=-1, keepdims=True), 0.0) if bug == "uniform_weights" else p
        e_l = (w * lp).sum(axis=-1, keepdims=True)
        e_d = (w * d).sum(axis=-1, keepdims=True)
        if bug == "uncentred":
            cov = (w * lp * d).sum(axis=-1)
        else:
            cov = np.where(pos, w * (lp - e_l) * (d - e_d), 0.0).sum(axis=-1)
        return cov if bug == "sign" else -cov
    return fn


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "entropy_change_covariance": (
        Mutant("sign", "+Cov (entropy rises where it falls)", _entropy_change("sign")),
        Mutant("pg_as_npg", "vanilla PG without the π factor in Δz", _entropy_change("pg_as_npg")),
        Mutant("uncentred", "E[log π·Δz] without subtracting E log π·E Δz", _entropy_change("uncentred")),
        Mutant("uniform_weights", "covariance under the uniform distribution instead of π",
               _entropy_change("uniform_weights")),
    ),
    "token_covariance_score": (
        Mutant("uncentred", "A·logp without centring either factor", _token_covariance("uncentred")),
        Mutant("padding_in_means", "the means run over every token, padding included",
               _token_covariance("padding_in_means")),
        Mutant("centre_advantage_only", "(A − Ā)·logp: logp is not centred",
               _token_covariance("centre_advantage_only")),
        Mutant("per_row_means", "centred per sequence instead of over the micro-batch", _token_covariance("per_row")),
    ),
    "clip_cov_loss": (
        Mutant("inclusive_window", "ω_low ≤ cov ≤ ω_high instead of the code's strict bounds",
               N.clip_cov_loss("inclusive")),
        Mutant("highest_priority", "chooses the candidates with the largest priority keys",
               N.clip_cov_loss("highest_priority")),
        Mutant("ignore_priority", "chooses the first candidates in row-major order (no random choice)",
               N.clip_cov_loss("ignore_priority")),
        Mutant("round_count", "n = max(round(r·Σm), 1) instead of int() (floor)", N.clip_cov_loss("round")),
        Mutant("keeps_clipped_candidates", "already PPO-clipped tokens stay candidates",
               N.clip_cov_loss("keep_clipped")),
    ),
    "kl_cov_loss": (
        Mutant("smallest_covariances", "penalises the n *smallest* covariances (topk largest=False)",
               N.kl_cov_loss("smallest")),
        Mutant("k_from_all_tokens", "n from all tokens (padding included) instead of the valid ones",
               N.kl_cov_loss("all_tokens")),
        Mutant("uncentred_covariance", "ranks by A·logp without centring either factor",
               N.kl_cov_loss("uncentred")),
        Mutant("old_log_prob_not_detached", "Torch: the |logp − old| penalty lets gradient reach old_log_prob",
               _kl_cov_torch_no_detach, backend="torch-cpu", dtypes=("float64",)),
    ),
}
