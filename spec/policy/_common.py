"""Declarations and NumPy formulas shared by the ``policy`` spec groups (not a group: no methods).

Papers, the sequence-loss inputs and parameters, the natural output scales of the losses, and small
NumPy formulas written from the definitions for the *properties* (they never call the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import (
    Branch,
    Choice,
    InputSpec,
    Interval,
    OutputSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Scale,
)
from spec.properties import rows

F64 = npt.NDArray[np.float64]

# --------------------------------------------------------------------------- papers

PPO_2017 = Paper("Proximal Policy Optimization Algorithms", 2017, "1707.06347")
DEEPSEEKMATH_2024 = Paper("DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models",
                          2024, "2402.03300")
DR_GRPO_2025 = Paper("Understanding R1-Zero-Like Training: A Critical Perspective", 2025, "2503.20783")
DAPO_2025 = Paper("DAPO: An Open-Source LLM Reinforcement Learning System at Scale", 2025, "2503.14476")
DUAL_CLIP_2019 = Paper("Mastering Complex Control in MOBA Games with Deep Reinforcement Learning", 2019,
                       "1912.09729")
ENTROPY_MECHANISM_2025 = Paper("The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models",
                               2025, "2505.22617")
SCHULMAN_K3_2020 = Paper("Approximating KL Divergence (J. Schulman, blog note)", 2020,
                         url="http://joschu.net/blog/kl-approx.html")

VERL_CORE = "volcengine/verl verl/trainer/ppo/core_algos.py"
OFFICIAL_COV = "LiyuanLucasLiu/Entropy-Mechanism-of-RL verl/trainer/ppo/core_algos.py"

# --------------------------------------------------------------------------- shared declarations

AGG_MODES: tuple[str, ...] = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
LOSS_MODES: tuple[str, ...] = (*AGG_MODES, "none")

SEQ = ("B", "T")


def mask_input() -> InputSpec:
    return InputSpec("mask", "mask", SEQ, "valid-token mask (bool, or numeric 0/1)", dtype="bool")


def loss_inputs() -> tuple[InputSpec, ...]:
    return (
        InputSpec("log_prob", "log_probs", SEQ, "log π_θ(y_t) of the sampled tokens under the current policy",
                  differentiable=True),
        InputSpec("old_log_prob", "log_probs", SEQ, "log π_old(y_t) (behaviour policy; stop-gradient)",
                  stop_gradient=True),
        InputSpec("advantages", "advantages", SEQ, "per-token advantages (stop-gradient)", stop_gradient=True),
        mask_input(),
    )


def loss_mode() -> ParamSpec:
    return ParamSpec("mode", "token-mean", Choice(LOSS_MODES),
                     "aggregation of the per-token loss (see `aggregate`); 'none' returns the (B, T) per-token "
                     "loss, 0 at masked positions; 'seq-mean-token-sum-norm' divides by B·T")


def clip_params(sensitive: bool) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("clip_low", 0.2, Interval(0.0, 1.0), "ε_low: the ratio is clipped below at 1 − ε_low",
                  sensitive=sensitive),
        ParamSpec("clip_high", 0.2, Interval(0.0, 10.0), "ε_high: the ratio is clipped above at 1 + ε_high "
                  "(DAPO clip-higher: ε_high > ε_low)", sensitive=sensitive),
    )




# --------------------------------------------------------------------------- independent NumPy formulas


def valid_mask(mask: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(np.asarray(mask) != 0, dtype=bool)


def np_aggregate(tok: F64, mask: Any, mode: str, max_length: int | None = None) -> float:
    """Aggregation written from the definitions (float64), for properties."""
    x = rows(np.asarray(tok, dtype=np.float64))
    m = rows(valid_mask(mask).astype(np.float64))
    if mode == "token-mean":
        n = m.sum()
        return float((x * m).sum() / n) if n > 0 else 0.0
    if mode == "seq-mean-token-sum":
        return float((x * m).sum(axis=-1).mean()) if x.shape[0] else 0.0
    if mode == "seq-mean-token-mean":
        means = [float((xr * mr).sum() / mr.sum()) for xr, mr in zip(x, m, strict=True) if mr.sum() > 0]
        return float(np.mean(means)) if means else 0.0
    length = x.shape[-1] if max_length is None else max_length
    denom = x.shape[0] * length
    return float((x * m).sum() / denom) if denom > 0 else 0.0


def ppo_tokens(lp: F64, old: F64, adv: F64, mask: Any, clip_low: float, clip_high: float,
               dual_clip: float | None = None) -> F64:
    """PPO-clip per-token loss from the formula, 0 at masked positions."""
    valid = valid_mask(mask)
    ratio = np.exp(np.where(valid, lp - old, 0.0))
    pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    out = np.maximum(pg1, pg2)
    if dual_clip is not None:
        out = np.where(adv < 0, np.minimum(out, -adv * dual_clip), out)
    return np.where(valid, out, 0.0)


def covariance(lp: F64, adv: F64, mask: Any) -> F64:
    """cov_i = (A_i − mean_m A)(logp_i − mean_m logp), means over the valid tokens (0 if none)."""
    valid = valid_mask(mask)
    if not valid.any():
        return np.zeros(np.shape(lp))
    return np.asarray((adv - adv[valid].mean()) * (lp - lp[valid].mean()), dtype=np.float64)


def masked_irrelevant_factory(names: tuple[str, ...]) -> Any:
    def check(ctx: PropertyContext) -> None:
        valid = valid_mask(ctx.inputs["mask"])
        if valid.all():
            ctx.skip("no masked position")
        (a,) = ctx.call()
        overrides = {n: np.where(valid, ctx.inputs[n], -0.5 if n in ("log_prob", "old_log_prob") else 2.0)
                     for n in names}
        if "priority" in ctx.inputs:
            overrides["priority"] = np.where(valid, ctx.inputs["priority"], 0.0)
        (b,) = ctx.call(**overrides)
        assert ctx.close(b, a), f"values at masked positions changed the loss: {a} vs {b}"
    return check



# --------------------------------------------------------------------------- natural scales of the losses


def _ratio(inputs: Mapping[str, Any]) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    valid = valid_mask(inputs["mask"])
    d = np.where(valid, np.asarray(inputs["log_prob"], dtype=np.float64)
                 - np.asarray(inputs["old_log_prob"], dtype=np.float64), 0.0)
    with np.errstate(over="ignore"):
        return np.exp(d), d, valid


def _largest(x: F64, valid: npt.NDArray[np.bool_]) -> float:
    x = x[valid & np.isfinite(x)]
    return float(np.max(np.abs(x))) if x.size else 0.0


def _ppo_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    ratio, _, valid = _ratio(inputs)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    return max(1.0, _largest(np.abs(adv) * np.maximum(ratio, 1.0 + float(params.get("clip_high", 0.2))), valid))


def _kl_cov_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    ratio, d, valid = _ratio(inputs)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    return max(1.0, _largest(np.abs(adv) * ratio + float(params.get("coef", 1.0)) * np.abs(d), valid))


#: PPO-type losses (ppo_clip_loss, clip_cov_loss): every per-token loss is bounded by |A|·max(ρ, 1 + ε_high),
#: and the rounding of ρ = exp(logp − old) is relative to it.
PPO_LOSS_SCALE = Scale("max(1, largest |A_t|·max(ρ_t, 1 + clip_high) over valid tokens), ρ = exp(logp − old): the "
                       "largest possible |per-token loss|", _ppo_scale)
#: KL-Cov: the per-token loss is −Aρ plus coef·|logp − old| on selected tokens.
KL_COV_SCALE = Scale("max(1, largest |A_t|·ρ_t + coef·|logp_t − old_t| over valid tokens): the largest possible "
                     "|per-token loss|", _kl_cov_scale)


def loss_output(scale: Scale) -> OutputSpec:
    return OutputSpec("loss", "aggregated loss (0-d), or the per-token loss (B, T) when mode='none'", scale=scale)


# --------------------------------------------------------------------------- branch predicates


def _empty_mask(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return not bool(valid_mask(inputs["mask"]).any())


EMPTY_MASK = Branch("empty mask", "no valid token in the batch (the loss must be exactly 0)", _empty_mask)


def some_empty_rows(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    m = rows(valid_mask(inputs["mask"]))
    return bool(m.shape[0] >= 2 and (~m.any(axis=-1)).any() and m.any())


def clip_sides(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[bool, bool]:
    """(some valid token with A > 0 and ρ > 1 + ε_high, some valid token with A < 0 and ρ < 1 − ε_low)."""
    ratio, _, valid = _ratio(inputs)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    hi = 1.0 + float(params.get("clip_high", 0.2))
    lo = 1.0 - float(params.get("clip_low", 0.2))
    return bool(np.any(valid & (adv > 0) & (ratio > hi))), bool(np.any(valid & (adv < 0) & (ratio < lo)))


def per_token_definition(description: str, tokens: Any) -> Property:
    """The ``definition`` property every policy loss shares: ``mode='none'`` equals ``tokens(inputs, params)``
    (the per-token formula) and every other mode is that per-token loss aggregated by ``aggregate``."""

    def check(ctx: PropertyContext) -> None:
        (tok,) = ctx.call(mode="none")
        expect = tokens(ctx.inputs, ctx.params)
        assert ctx.close(tok, expect, factor=2), f"per-token loss {tok} != definition {expect}"
        mode = ctx.params.get("mode", "token-mean")
        if mode != "none":
            (agg,) = ctx.call()
            ref = np_aggregate(np.asarray(tok, dtype=np.float64), ctx.inputs["mask"], mode)
            assert ctx.close(agg, ref, factor=4), f"{mode} of the per-token loss {ref} != loss {agg}"

    return Property("definition", description, check)
