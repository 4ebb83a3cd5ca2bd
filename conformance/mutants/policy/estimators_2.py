"""Mutants of the ``estimators_2`` group: GAE, REINFORCE++, ReMax and the REINFORCE loss with a wrong
recursion, masked-token rule, variance, credit or sign. Written from the formulas; validation reuses the
shared checks so a mutant is only caught for its planted bug."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.policy._numpy import aggregate
from reference.policy._common import sequences
from spec.errors import DTypeError, ShapeError
from spec.validate import check_finite, check_params

__all__ = ["MUTANTS"]


def _two_d(fn: str, valid: Any) -> None:
    if valid.ndim != 2:
        raise ShapeError(fn, "mask", "an array of shape (B, T)", f"shape {valid.shape}")


def _whiten(x: Any, valid: Any, ddof: int = 1) -> Any:
    n = int(valid.sum())
    if n < 2:
        return np.zeros(x.shape)
    mean = x[valid].mean()
    var = x[valid].var(ddof=ddof)
    return np.where(valid, (x - mean) / np.sqrt(var + 1e-8), 0.0)


def _gae(bug: str) -> Any:
    def gae_advantages(rewards: Any, values: Any, mask: Any, *, gamma: float = 1.0, lam: float = 1.0,
                       whiten: bool = False) -> Any:
        check_params("gae_advantages", gamma=gamma, lam=lam, whiten=whiten)
        a, valid = sequences("gae_advantages", mask, rewards=rewards, values=values)
        _two_d("gae_advantages", valid)
        r, v = a["rewards"], a["values"]
        adv = np.zeros(r.shape)
        decay = gamma if bug == "no_lambda" else gamma * lam
        for b in range(r.shape[0]):
            nxt, last = 0.0, 0.0
            for t in reversed(range(r.shape[1])):
                if not valid[b, t]:
                    if bug == "masked_resets":
                        nxt, last = 0.0, 0.0
                    continue
                last = r[b, t] + gamma * nxt - v[b, t] + decay * last
                adv[b, t] = last
                nxt = v[b, t]
        returns = np.where(valid, adv + v, 0.0)
        if whiten:
            adv = _whiten(adv, valid, ddof=0 if bug == "population_var" else 1)
            if bug == "population_var":
                returns = np.where(valid, adv + v, 0.0)
        return adv, returns
    return gae_advantages


def _rpp(bug: str) -> Any:
    def reinforce_plus_plus_advantages(rewards: Any, mask: Any, group_ids: Any, *, baseline: str = "none",
                                       gamma: float = 1.0) -> Any:
        fn = "reinforce_plus_plus_advantages"
        check_params(fn, baseline=baseline, gamma=gamma)
        a, valid = sequences(fn, mask, rewards=rewards)
        _two_d(fn, valid)
        g = np.asarray(group_ids)
        if g.shape != (valid.shape[0],):
            raise ShapeError(fn, "group_ids", f"an array of shape (B,) with B = {valid.shape[0]}", f"shape {g.shape}")
        if not np.issubdtype(g.dtype, np.integer):
            raise DTypeError(fn, "group_ids", "an integer dtype", f"dtype {g.dtype}")
        r = np.where(valid, a["rewards"], 0.0)
        ddof = 0 if bug == "population_var" else 1
        if baseline == "none":
            ret = np.zeros(r.shape)
            for b in range(r.shape[0]):
                run = 0.0
                for t in reversed(range(r.shape[1])):
                    if valid[b, t]:
                        run = r[b, t] + (1.0 if bug == "no_discount" else gamma) * run
                        ret[b, t] = run
            return _whiten(ret, valid, ddof), ret
        score = r.sum(axis=-1)
        centred = np.zeros(score.shape)
        for gid in np.unique(g):
            sel = g == gid
            if sel.sum() == 1:
                centred[sel] = 0.0 if bug == "singleton_centred" else score[sel]
            else:
                centred[sel] = score[sel] - score[sel].mean()
        tiled = np.where(valid, centred[:, None], 0.0)
        return _whiten(tiled, valid, ddof), np.where(valid, score[:, None], 0.0)
    return reinforce_plus_plus_advantages


def _remax(bug: str) -> Any:
    def remax_advantages(rewards: Any, baseline_rewards: Any, mask: Any, *, credit: str = "sequence") -> Any:
        check_params("remax_advantages", credit=credit)
        a, valid = sequences("remax_advantages", mask, rewards=rewards)
        _two_d("remax_advantages", valid)
        base = np.asarray(baseline_rewards)
        if base.shape != (valid.shape[0],):
            raise ShapeError("remax_advantages", "baseline_rewards", f"an array of shape (B,) with B = "
                             f"{valid.shape[0]}", f"shape {base.shape}")
        check_finite("remax_advantages", "baseline_rewards", base, np)
        r = a["rewards"] if bug == "unmasked_sum" else np.where(valid, a["rewards"], 0.0)
        if credit == "sequence" and bug != "always_to_go":
            ret = np.broadcast_to(r.sum(axis=-1)[:, None], r.shape)
        else:
            ret = np.cumsum(r[:, ::-1], axis=-1)[:, ::-1]
        ret = np.where(valid, ret, 0.0)
        return np.where(valid, ret - base[:, None], 0.0), ret
    return remax_advantages


def _reinforce(bug: str) -> Any:
    def reinforce_loss(log_prob: Any, advantages: Any, mask: Any, *, mode: str = "seq-mean-token-sum") -> Any:
        check_params("reinforce_loss", mode=mode)
        a, valid = sequences("reinforce_loss", mask, log_prob=log_prob, advantages=advantages)
        sign = 1.0 if bug == "sign" else -1.0
        tok = np.where(valid, sign * a["advantages"] * a["log_prob"], 0.0)
        if bug == "empty_rows_excluded" and mode == "seq-mean-token-sum":
            rows = valid.reshape(-1, valid.shape[-1]).any(axis=-1)
            sums = tok.reshape(-1, tok.shape[-1]).sum(axis=-1)
            return np.asarray(sums[rows].mean() if rows.any() else 0.0)
        return aggregate(tok, valid, mode)
    return reinforce_loss


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "gae_advantages": (
        Mutant("no_lambda", "the recursion decays by γ instead of γλ (λ ignored)", _gae("no_lambda")),
        Mutant("masked_resets", "a masked (observation) token resets the recursion instead of being skipped",
               _gae("masked_resets")),
        Mutant("population_var", "whitening with the population variance, returns from the whitened advantages",
               _gae("population_var")),
    ),
    "reinforce_plus_plus_advantages": (
        Mutant("no_discount", "γ ignored: undiscounted returns", _rpp("no_discount")),
        Mutant("population_var", "whitening with the population (n) variance instead of the unbiased one",
               _rpp("population_var")),
        Mutant("singleton_centred", "baseline='group': a row alone in its group gets 0 instead of its reward",
               _rpp("singleton_centred")),
    ),
    "remax_advantages": (
        Mutant("always_to_go", "reward-to-go used also for credit='sequence'", _remax("always_to_go")),
        Mutant("unmasked_sum", "token rewards at masked positions are summed into R / G_t", _remax("unmasked_sum")),
    ),
    "reinforce_loss": (
        Mutant("sign", "+A·log π: gradient ascent on the loss", _reinforce("sign")),
        Mutant("empty_rows_excluded", "seq-mean-token-sum leaves empty rows out of the mean (verl 0.9.1 agg_loss)",
               _reinforce("empty_rows_excluded")),
    ),
}
