"""Mutants of the ``ppo`` group: aggregation, PPO-clip and KL estimators (plausible bugs from the
catalogue's pitfalls and the verl/TRL differences)."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.policy import _numpy as N
from reference.policy._common import sequences
from spec.validate import check_finite, check_params, check_same_shape

__all__ = ["MUTANTS"]


def _aggregate(bug: str) -> Any:
    def aggregate(values: Any, mask: Any, mode: str, *, max_length: int | None = None) -> Any:
        check_params("aggregate", mode=mode, max_length=max_length)
        a, valid = sequences("aggregate", mask, values=values)
        return N.aggregate(a["values"], valid, mode, max_length, bug=bug)
    return aggregate


def _kl_penalty(bug: str) -> Any:
    def kl_penalty(log_prob: Any, ref_log_prob: Any, kind: str) -> Any:
        check_params("kl_penalty", kind=kind)
        lp, ref = np.asarray(log_prob), np.asarray(ref_log_prob)
        check_same_shape("kl_penalty", log_prob=lp, ref_log_prob=ref)
        check_finite("kl_penalty", "log_prob", lp, np)
        check_finite("kl_penalty", "ref_log_prob", ref, np)
        d = (ref - lp) if bug == "k1_sign" and kind == "k1" else lp - ref
        if kind == "k1":
            return d
        if kind == "abs":
            return np.abs(d)
        if kind == "k2":
            return d * d if bug == "k2_no_half" else 0.5 * d * d
        with np.errstate(over="ignore"):
            raw = np.exp(-d) + d - 1.0
        return raw if bug == "k3_no_clamp" else np.minimum(raw, 10.0)
    return kl_penalty


def _ppo_torch_no_detach(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, clip_low: float = 0.2,
                         clip_high: float = 0.2, dual_clip: float | None = None, mode: str = "token-mean") -> Any:
    """Torch PPO-clip that forgets to detach ``old_log_prob`` (its gradient is −∂ℓ/∂logp, not 0)."""
    import torch

    from accelerated._xp import namespace
    from accelerated.policy._common import finish
    from accelerated.policy._common import sequences as acc_sequences

    check_params("ppo_clip_loss", clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip, mode=mode)
    xp = namespace(log_prob, old_log_prob, advantages, mask)
    valid = acc_sequences("ppo_clip_loss", xp, mask, log_prob=log_prob, old_log_prob=old_log_prob,
                          advantages=advantages)
    adv = advantages.detach()
    ratio = torch.exp(torch.where(valid, log_prob - old_log_prob, torch.zeros_like(log_prob)))
    pg1 = torch.where(adv == 0, torch.zeros_like(ratio), -adv * ratio)
    pg2 = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    tok = torch.maximum(pg1, pg2)
    if dual_clip is not None:
        tok = torch.where(adv < 0, torch.minimum(tok, -adv * dual_clip), tok)
    return finish(tok, valid, mode, log_prob, xp)


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "aggregate": (
        Mutant("empty_rows_as_zero", "seq-mean-token-mean divides by all rows, counting empty rows as 0 (TRL grpo)",
               _aggregate("empty_rows_as_zero")),
        Mutant("norm_by_T", "seq-mean-token-sum-norm divides by T (verl agg_loss) instead of B·max_length",
               _aggregate("norm_by_T")),
        Mutant("empty_mask_nan", "token-mean divides 0 by 0 on an empty mask (NaN, verl masked_mean)",
               _aggregate("empty_nan")),
    ),
    "ppo_clip_loss": (
        Mutant("min_not_max", "pessimistic bound with the wrong sign: min of the two losses instead of max",
               N.ppo_clip_loss("min")),
        Mutant("one_epsilon_both_sides", "clips below at 1 − ε_high (ε_low ignored): clip-higher bound used on both "
               "sides", N.ppo_clip_loss("same_bound")),
        Mutant("no_dual_clip", "dual_clip accepted but never applied", N.ppo_clip_loss("no_dual_clip")),
        Mutant("old_log_prob_not_detached", "Torch: old_log_prob is not detached (the spec makes it a constant)",
               _ppo_torch_no_detach, backend="torch-cpu", dtypes=("float64",)),
    ),
    "kl_penalty": (
        Mutant("k3_no_clamp", "k3 without verl's clamp at 10", _kl_penalty("k3_no_clamp")),
        Mutant("k2_no_half", "k2 = d² instead of d²/2", _kl_penalty("k2_no_half")),
        Mutant("k1_sign", "k1 = ref − logp (sign of the log-ratio flipped)", _kl_penalty("k1_sign")),
    ),
}
