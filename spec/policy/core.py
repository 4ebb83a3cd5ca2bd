"""Specs of the ``policy`` family: policy losses, advantages, KL penalties and aggregation.

Foundation pieces shared by the RL-for-LLM losses of the catalogue: the loss aggregation modes of
verl/TRL (:func:`aggregate`), the PPO-clip surrogate with clip-higher and dual-clip, the GRPO group
advantage, the per-token KL estimators k1/abs/k2/k3, and the two covariance-selected interventions
of "The Entropy Mechanism of RL for Reasoning LMs" (Clip-Cov and KL-Cov).

The small NumPy formulas in this module (``_ppo_tokens``, ``_covariance``, ...) are written from the
formulas for the *properties* and the SymPy *derivations* only; they never call the reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import sympy as sp

from spec.model import (
    Choice,
    Derivation,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    MethodSpec,
    OutputSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    SymbolicProblem,
    default_tolerance,
)
from spec.registry import register
from spec.symbolic import bind, symbols_like

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


def _mask_input() -> InputSpec:
    return InputSpec("mask", "mask", SEQ, "valid-token mask (bool, or numeric 0/1)", dtype="bool")


def _loss_inputs() -> tuple[InputSpec, ...]:
    return (
        InputSpec("log_prob", "log_probs", SEQ, "log π_θ(y_t) of the sampled tokens under the current policy",
                  differentiable=True),
        InputSpec("old_log_prob", "log_probs", SEQ, "log π_old(y_t) (behaviour policy; stop-gradient)",
                  stop_gradient=True),
        InputSpec("advantages", "advantages", SEQ, "per-token advantages (stop-gradient)", stop_gradient=True),
        _mask_input(),
    )


def _loss_mode() -> ParamSpec:
    return ParamSpec("mode", "token-mean", Choice(LOSS_MODES),
                     "aggregation of the per-token loss (see `aggregate`); 'none' returns the (B, T) per-token "
                     "loss, 0 at masked positions; 'seq-mean-token-sum-norm' divides by B·T")


def _clip_params(sensitive: bool) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("clip_low", 0.2, Interval(0.0, 1.0), "ε_low: the ratio is clipped below at 1 − ε_low",
                  sensitive=sensitive),
        ParamSpec("clip_high", 0.2, Interval(0.0, 10.0), "ε_high: the ratio is clipped above at 1 + ε_high "
                  "(DAPO clip-higher: ε_high > ε_low)", sensitive=sensitive),
    )


LOSS_OUTPUT = OutputSpec("loss", "aggregated loss (0-d), or the per-token loss (B, T) when mode='none'")


# --------------------------------------------------------------------------- independent NumPy formulas


def _valid(mask: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(np.asarray(mask) != 0, dtype=bool)


def _rows(x: Any) -> F64:
    a = np.asarray(x, dtype=np.float64)
    return a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1]) if a.ndim else a.reshape(1, 1)


def _np_aggregate(tok: F64, mask: Any, mode: str, max_length: int | None = None) -> float:
    """Aggregation written from the definitions (float64), for properties."""
    x = _rows(tok)
    m = _rows(_valid(mask).astype(np.float64))
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


def _ppo_tokens(lp: F64, old: F64, adv: F64, mask: Any, clip_low: float, clip_high: float,
                dual_clip: float | None = None) -> F64:
    """PPO-clip per-token loss from the formula, 0 at masked positions."""
    valid = _valid(mask)
    ratio = np.exp(np.where(valid, lp - old, 0.0))
    pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    out = np.maximum(pg1, pg2)
    if dual_clip is not None:
        out = np.where(adv < 0, np.minimum(out, -adv * dual_clip), out)
    return np.where(valid, out, 0.0)


def _covariance(lp: F64, adv: F64, mask: Any) -> F64:
    """cov_i = (A_i − mean_m A)(logp_i − mean_m logp), means over the valid tokens (0 if none)."""
    valid = _valid(mask)
    if not valid.any():
        return np.zeros(np.shape(lp))
    return np.asarray((adv - adv[valid].mean()) * (lp - lp[valid].mean()), dtype=np.float64)


def _clip_cov_chosen(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """The tokens Clip-Cov zeroes, evaluated numerically from the formula."""
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    pri = np.asarray(inputs["priority"], dtype=np.float64)
    valid = _valid(inputs["mask"])
    clip_low = float(params.get("clip_low", 0.2))
    clip_high = float(params.get("clip_high", 0.2))
    ratio = np.exp(np.where(valid, lp - old, 0.0))
    pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    cov = _covariance(lp, adv, valid)
    cand = valid & ~(pg2 > pg1) & (cov > float(params.get("cov_low", 1.0))) & (cov < float(params.get("cov_high", 5.0)))
    n = max(int(float(params.get("clip_ratio", 2e-4)) * int(valid.sum())), 1)
    flat = np.flatnonzero(cand.ravel())
    ranked = sorted(flat.tolist(), key=lambda i: (pri.ravel()[i], i))[:n]
    chosen = np.zeros(valid.size, dtype=bool)
    chosen[ranked] = True
    return chosen.reshape(valid.shape)


def _kl_cov_selected(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    valid = _valid(inputs["mask"])
    k_percent = float(params.get("k_percent", 0.2))
    n_valid = int(valid.sum())
    sel = np.zeros(valid.size, dtype=bool)
    if k_percent == 0 or n_valid == 0:
        return sel.reshape(valid.shape)
    n = max(1, int(n_valid * k_percent / 100))
    cov = _covariance(lp, adv, valid).ravel()
    flat = np.flatnonzero(valid.ravel())
    ranked = sorted(flat.tolist(), key=lambda i: (-cov[i], i))[:n]
    sel[ranked] = True
    return sel.reshape(valid.shape)


# --------------------------------------------------------------------------- SymPy helpers


def _sym_aggregate(tok: np.ndarray[Any, Any], mask: Any, mode: str, max_length: int | None = None) -> Any:
    """Aggregate an object array of per-token SymPy expressions (masked tokens dropped)."""
    valid = _valid(mask)
    if mode == "none":
        out = np.empty(tok.shape, dtype=object)
        for idx in np.ndindex(tok.shape):
            out[idx] = tok[idx] if valid[idx] else sp.Integer(0)
        return out
    shape = tok.shape
    t = shape[-1] if shape else 1
    rows_e = tok.reshape(-1, t) if tok.size else np.empty((int(np.prod(shape[:-1])), t), dtype=object)
    rows_m = valid.reshape(rows_e.shape)
    row_sums = [sum((e for e, m in zip(re, rm, strict=True) if m), sp.Integer(0))
                for re, rm in zip(rows_e, rows_m, strict=True)]
    total = sum(row_sums, sp.Integer(0))
    n_rows = rows_e.shape[0]
    if mode == "token-mean":
        n = int(rows_m.sum())
        return total / n if n else sp.Integer(0)
    if mode == "seq-mean-token-sum":
        return total / n_rows if n_rows else sp.Integer(0)
    if mode == "seq-mean-token-mean":
        means = [s / int(rm.sum()) for s, rm in zip(row_sums, rows_m, strict=True) if rm.sum() > 0]
        return sum(means, sp.Integer(0)) / len(means) if means else sp.Integer(0)
    length = t if max_length is None else max_length
    return total / (n_rows * length) if n_rows * length else sp.Integer(0)


def _problem(symbols: dict[str, Any], out: Any, values: dict[Any, float]) -> SymbolicProblem:
    if isinstance(out, np.ndarray):
        return SymbolicProblem(symbols, out, values)
    return SymbolicProblem(symbols, np.array(out, dtype=object), values)


def _ppo_token_expr(lp: Any, old: float, adv: float, clip_low: float, clip_high: float,
                    dual_clip: float | None) -> Any:
    ratio = sp.exp(lp - sp.Float(old))
    a = sp.Float(adv)
    pg1 = -a * ratio
    pg2 = -a * sp.Min(sp.Max(ratio, sp.Float(1.0 - clip_low)), sp.Float(1.0 + clip_high))
    expr = sp.Max(pg1, pg2)
    if dual_clip is not None and adv < 0:
        expr = sp.Min(expr, -a * sp.Float(dual_clip))
    return expr


# =========================================================================== aggregate


def _aggregate_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    x = np.asarray(inputs["values"], dtype=np.float64)
    sym = symbols_like("x", x)
    out = _sym_aggregate(sym, inputs["mask"], str(params["mode"]), params.get("max_length"))
    return _problem({"values": sym}, out, bind(sym, x))


def _agg_empty_mask(ctx: PropertyContext) -> None:
    x = ctx.inputs["values"]
    (out,) = ctx.call(mask=np.zeros(x.shape, dtype=bool))
    assert np.all(np.asarray(out) == 0.0), f"empty mask must give exactly 0, got {out}"


def _agg_masked_irrelevant(ctx: PropertyContext) -> None:
    x = ctx.inputs["values"]
    valid = _valid(ctx.inputs["mask"])
    (a,) = ctx.call()
    (b,) = ctx.call(values=np.where(valid, x, 3.0))
    assert ctx.close(b, a), f"masked-out values changed the result: {a} vs {b}"


def _agg_equal_lengths(ctx: PropertyContext) -> None:
    x = ctx.inputs["values"]
    full = np.ones(x.shape, dtype=bool)
    t = x.shape[-1] if x.ndim else 1
    (tm,) = ctx.call(mask=full, mode="token-mean")
    (stm,) = ctx.call(mask=full, mode="seq-mean-token-mean")
    (sts,) = ctx.call(mask=full, mode="seq-mean-token-sum")
    (norm,) = ctx.call(mask=full, mode="seq-mean-token-sum-norm", max_length=None)
    assert ctx.close(stm, tm, factor=4), f"equal lengths: seq-mean-token-mean {stm} != token-mean {tm}"
    assert ctx.close(norm, tm, factor=4), f"equal full lengths: token-sum-norm {norm} != token-mean {tm}"
    assert ctx.close(np.asarray(sts) / t, tm, factor=4), f"equal lengths: token-sum/T {sts}/{t} != token-mean {tm}"


def _agg_split(ctx: PropertyContext) -> None:
    """A global constant normaliser (B·max_length) makes the loss split-invariant over equal micro-batches."""
    x = ctx.inputs["values"]
    m = _valid(ctx.inputs["mask"])
    if x.ndim != 2 or x.shape[0] == 0:
        return
    y = np.array(-x[::-1], order="C", copy=True)  # a second micro-batch of the same size, exactly representable
    my = np.array(m[::-1], order="C", copy=True)
    length = ctx.params.get("max_length")
    for mode in ("seq-mean-token-sum-norm", "seq-mean-token-sum"):
        (a,) = ctx.call(values=x, mask=m, mode=mode, max_length=length)
        (b,) = ctx.call(values=y, mask=my, mode=mode, max_length=length)
        (ab,) = ctx.call(values=np.concatenate([x, y]), mask=np.concatenate([m, my]), mode=mode, max_length=length)
        expect = (np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64)) / 2
        assert ctx.close(ab, expect, factor=4), f"{mode}: whole batch {ab} != mean of micro-batches {expect}"


def _agg_formula(ctx: PropertyContext) -> None:
    (out,) = ctx.call()
    expect = _np_aggregate(ctx.inputs["values"], ctx.inputs["mask"], ctx.params["mode"], ctx.params.get("max_length"))
    assert ctx.close(out, expect, factor=2), f"aggregate {out} != definition {expect}"


register(MethodSpec(
    id="aggregate",
    family="policy",
    kind="helper",
    summary="Aggregate a (B, T) per-token loss with a mask: token-mean, seq-mean-token-mean, seq-mean-token-sum, "
            "or seq-mean-token-sum-norm (Σ x·m / (B·max_length), Dr. GRPO).",
    papers=(DR_GRPO_2025, DAPO_2025, DEEPSEEKMATH_2024),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"{VERL_CORE} agg_loss (read via the search tool, commits 012be9d and 6e45694 of the "
                        "Entropy-Mechanism fork); TRL GRPOTrainer loss_type grpo/bnpo/dr_grpo (read via the search "
                        "tool)",
        official_code=f"{VERL_CORE}:agg_loss",
        notes="Mapping to TRL loss_type: grpo ≈ seq-mean-token-mean (TRL clamps the row count to ≥ 1, so empty rows "
              "count as 0 in the row mean; we exclude them), bnpo = token-mean on the local batch, dr_grpo = "
              "seq-mean-token-sum-norm with max_length = max_completion_length, dapo = token-mean over the global "
              "accumulated batch.",
        differences=(
            Difference("seq-mean-token-sum-norm normaliser",
                       "Dr. GRPO: divide the token sum by a constant (MAX_TOKENS), independent of lengths",
                       "verl agg_loss divides Σ x·m by T = loss_mask.shape[-1] only (not by B), i.e. verl = B × ours; "
                       "TRL dr_grpo divides by B·max_completion_length = ours",
                       "peer", "max_length"),
            Difference("empty rows in seq-mean-token-mean",
                       "undefined",
                       "verl divides by a zero row count (NaN); TRL clamps the count to 1 (row counts as 0)",
                       "paper", None),
            Difference("empty mask in token-mean",
                       "undefined", "verl masked_mean gives NaN (0/0; some versions add 1e-8 to the count); TRL clamps "
                       "the count to 1", "paper", None),
        ),
    ),
    inputs=(
        InputSpec("values", "values", SEQ, "per-token values (losses)", differentiable=True),
        _mask_input(),
    ),
    params=(
        ParamSpec("mode", "token-mean", Choice(AGG_MODES), "aggregation mode", positional=True, required=True),
        ParamSpec("max_length", None, IntRange(1, None, allow_none=True),
                  "the constant of seq-mean-token-sum-norm (default T); ignored by the other modes"),
    ),
    outputs=(OutputSpec("loss", "the aggregated scalar (0-d)"),),
    properties=(
        Property("definition", "equals the written definition of the mode", _agg_formula),
        Property("empty_mask_zero", "an all-false mask gives exactly 0 in every mode", _agg_empty_mask),
        Property("masked_values_irrelevant", "values at masked positions do not matter", _agg_masked_irrelevant),
        Property("equal_lengths_agree", "full mask: token-mean = seq-mean-token-mean = token-sum-norm = token-sum/T",
                 _agg_equal_lengths),
        Property("micro_batch_split", "token-sum-norm and seq-mean-token-sum are the mean over equal-size "
                 "micro-batches", _agg_split),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_aggregate_problem, wrt=("values",), kinks="none (linear in values)"),
    degenerate=(
        "empty mask (or zero rows, or T = 0) gives exactly 0 in every mode",
        "seq-mean-token-mean excludes rows whose mask is empty from the row mean",
        "seq-mean-token-sum counts empty rows (as 0) in the row mean",
    ),
))


# =========================================================================== ppo_clip_loss


def _ppo_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        tok[idx] = _ppo_token_expr(sym[idx], float(old[idx]), float(adv[idx]), float(params.get("clip_low", 0.2)),
                                   float(params.get("clip_high", 0.2)), params.get("dual_clip"))
    out = _sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return _problem({"log_prob": sym}, out, bind(sym, lp))


def _ppo_reduces_to_pg(ctx: PropertyContext) -> None:
    lp = ctx.inputs["log_prob"]
    adv = ctx.inputs["advantages"]
    (tok,) = ctx.call(old_log_prob=lp, mode="none")
    expect = np.where(_valid(ctx.inputs["mask"]), -adv, 0.0)
    assert ctx.close(tok, expect), f"ρ = 1 must give −A per token: {tok} vs {expect}"


def _ppo_formula(ctx: PropertyContext) -> None:
    p = ctx.params
    (tok,) = ctx.call(mode="none")
    expect = _ppo_tokens(ctx.inputs["log_prob"], ctx.inputs["old_log_prob"], ctx.inputs["advantages"],
                         ctx.inputs["mask"], p.get("clip_low", 0.2), p.get("clip_high", 0.2), p.get("dual_clip"))
    assert ctx.close(tok, expect, factor=2), f"per-token PPO loss {tok} != formula {expect}"
    (agg,) = ctx.call()
    mode = p.get("mode", "token-mean")
    if mode != "none":
        ref = _np_aggregate(np.asarray(tok, dtype=np.float64), ctx.inputs["mask"], mode)
        assert ctx.close(agg, ref, factor=4), f"{mode} of the per-token loss {ref} != loss {agg}"


def _masked_irrelevant_factory(names: tuple[str, ...]) -> Any:
    def check(ctx: PropertyContext) -> None:
        valid = _valid(ctx.inputs["mask"])
        (a,) = ctx.call()
        overrides = {n: np.where(valid, ctx.inputs[n], -0.5 if n in ("log_prob", "old_log_prob") else 2.0)
                     for n in names}
        if "priority" in ctx.inputs:
            overrides["priority"] = np.where(valid, ctx.inputs["priority"], 0.0)
        (b,) = ctx.call(**overrides)
        assert ctx.close(b, a), f"values at masked positions changed the loss: {a} vs {b}"
    return check


def _ppo_bounds(ctx: PropertyContext) -> None:
    p = ctx.params
    adv = ctx.inputs["advantages"]
    valid = _valid(ctx.inputs["mask"])
    (tok,) = ctx.call(mode="none")
    tok = np.asarray(tok, dtype=np.float64)
    b = ctx.budget.scaled(2)
    lower = -adv * (1.0 + p.get("clip_high", 0.2))
    pos = valid & (adv > 0)
    slack = b.atol + b.rtol * np.abs(lower)
    assert np.all(tok[pos] >= lower[pos] - slack[pos]), "A > 0: loss below −A(1+ε_high) (clip-higher bound)"
    c = p.get("dual_clip")
    if c is not None:
        upper = -adv * c
        neg = valid & (adv < 0)
        slack = b.atol + b.rtol * np.abs(upper)
        assert np.all(tok[neg] <= upper[neg] + slack[neg]), "A < 0: dual-clip bound −A·c exceeded"


PPO_DIFFS = (
    Difference("dual clip", "dual-clip PPO (arXiv 1912.09729) bounds the loss of A < 0 tokens by −A·c",
               "verl compute_policy_loss_vanilla always applies it with clip_ratio_c = 3.0; the Entropy-Mechanism fork "
               "and TRL do not", "paper", "dual_clip"),
    Difference("log-ratio clamp", "ρ = exp(logp − old)",
               "verl compute_policy_loss_vanilla clamps logp − old to [−20, 20] before exp (not in clip_cov/kl_cov)",
               "paper", None),
    Difference("clip-higher", "PPO: one ε; DAPO: ε_high > ε_low", "verl clip_ratio_low/clip_ratio_high", "code",
               "clip_high"),
)

register(MethodSpec(
    id="ppo_clip_loss",
    family="policy",
    kind="loss",
    summary="PPO-clip surrogate ℓ = max(−Aρ, −A·clip(ρ, 1−ε_low, 1+ε_high)), optional dual clip min(ℓ, −A·c) for "
            "A < 0, aggregated with a mask.",
    papers=(PPO_2017, DAPO_2025, DUAL_CLIP_2019, DEEPSEEKMATH_2024),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"{VERL_CORE} compute_policy_loss_vanilla / compute_policy_loss (commit 012be9d) and the "
                        "Entropy-Mechanism fork's compute_policy_loss (commit 6e45694), read via the search tool",
        official_code=f"{VERL_CORE}:compute_policy_loss_vanilla",
        notes="old_log_prob and advantages are stop-gradient. The per-token loss is 0 at masked positions whatever "
              "the inputs there (computed with where, so no inf·0).",
        differences=PPO_DIFFS,
    ),
    inputs=_loss_inputs(),
    params=(
        *_clip_params(sensitive=False),
        ParamSpec("dual_clip", None, Interval(1.0, 10.0, low_closed=False, allow_none=True),
                  "dual-clip constant c > 1 (verl clip_ratio_c, default there 3.0); None disables it"),
        _loss_mode(),
    ),
    outputs=(LOSS_OUTPUT,),
    properties=(
        Property("definition", "per-token loss equals the PPO-clip formula and aggregates by `aggregate`",
                 _ppo_formula),
        Property("reduces_to_pg_inside_clip", "ρ = 1 (old = new) gives −A per token", _ppo_reduces_to_pg),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 _masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages"))),
        Property("clip_bounds", "A > 0: ℓ ≥ −A(1+ε_high); A < 0 with dual clip: ℓ ≤ −A·c", _ppo_bounds),
    ),
    tolerance=default_tolerance(2.0),
    derivation=Derivation(_ppo_problem, wrt=("log_prob",),
                          kinks="ρ = 1 ± ε (clip boundaries) and ρ = c (dual clip) for the sign of A involved"),
    stop_gradients=("old_log_prob and advantages are constants",),
    degenerate=("empty mask gives 0", "A = 0 tokens give exactly 0 (also when ρ overflows)"),
))


# =========================================================================== kl_penalty


def _kl_token_expr(lp: Any, ref: Any, kind: str, d_value: float) -> Any:
    d = lp - ref
    if kind == "k1":
        return d
    if kind == "abs":
        return sp.Abs(d)
    if kind == "k2":
        return d**2 / 2
    # k3 with verl's clamps: k = clamp(−d, −20, 20), clamp(exp(k) − k − 1, −10, 10). The outer clamp is the
    # only active one for finite d (exp(k) − k − 1 ≥ 0 and exceeds 10 before |d| reaches 20).
    value = math.expm1(-d_value) + d_value if abs(d_value) < 700 else math.inf
    if value >= 10.0:
        return sp.Integer(10)
    return sp.exp(-d) + d - 1


def _kl_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    ref = np.asarray(inputs["ref_log_prob"], dtype=np.float64)
    s_lp = symbols_like("lp", lp)
    s_ref = symbols_like("ref", ref)
    out = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        out[idx] = _kl_token_expr(s_lp[idx], s_ref[idx], str(params["kind"]), float(lp[idx] - ref[idx]))
    return _problem({"log_prob": s_lp, "ref_log_prob": s_ref}, out, {**bind(s_lp, lp), **bind(s_ref, ref)})


def _kl_zero_at_equal(ctx: PropertyContext) -> None:
    (out,) = ctx.call(ref_log_prob=ctx.inputs["log_prob"])
    assert np.all(np.asarray(out) == 0.0), f"penalty must be exactly 0 at d = 0, got {out}"


def _kl_sign(ctx: PropertyContext) -> None:
    (out,) = ctx.call()
    out = np.asarray(out, dtype=np.float64)
    kind = ctx.params["kind"]
    if kind in ("abs", "k2", "k3"):
        assert np.all(out >= 0), f"{kind} must be >= 0: {out}"
    if kind == "k3":
        assert np.all(out <= 10.0), f"k3 is clamped to <= 10: {out}"


def _kl_formula(ctx: PropertyContext) -> None:
    (out,) = ctx.call()
    d = ctx.inputs["log_prob"] - ctx.inputs["ref_log_prob"]
    kind = ctx.params["kind"]
    with np.errstate(over="ignore"):
        expect = {"k1": d, "abs": np.abs(d), "k2": 0.5 * d * d,
                  "k3": np.minimum(np.expm1(np.clip(-d, -20, 20)) - np.clip(-d, -20, 20), 10.0)}[kind]
    assert ctx.close(out, expect, factor=2), f"{kind}: {out} != {expect}"


def _kl_swap(ctx: PropertyContext) -> None:
    kind = ctx.params["kind"]
    (a,) = ctx.call()
    (b,) = ctx.call(log_prob=ctx.inputs["ref_log_prob"], ref_log_prob=ctx.inputs["log_prob"])
    if kind == "k1":
        assert ctx.close(b, -np.asarray(a)), "k1 must be antisymmetric"
    elif kind in ("abs", "k2"):
        assert ctx.close(b, a), f"{kind} must be symmetric"


register(MethodSpec(
    id="kl_penalty",
    family="policy",
    kind="regularizer",
    summary="Per-token KL estimators of KL(π‖π_ref) from d = logp − ref_logp: k1 = d, abs = |d|, k2 = d²/2, "
            "k3 = exp(−d) + d − 1 (verl's clamps: output ≤ 10).",
    papers=(SCHULMAN_K3_2020, DEEPSEEKMATH_2024),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"{VERL_CORE} kl_penalty (commit 012be9d: k3 = clamp(exp(k) − k − 1, −10, 10) with "
                        "k = clamp(ref − logp, −20, 20); the Entropy-Mechanism fork has only the outer clamp), read "
                        "via the search tool",
        official_code=f"{VERL_CORE}:kl_penalty",
        notes="verl names: 'kl'/'k1', 'abs', 'mse'/'k2', 'low_var_kl'/'k3'. The clamps are always applied (as in "
              "verl): since exp(k) − k − 1 ≥ 0 and reaches 10 at d ≈ −2.61 and d ≈ 11.0, k3 = min(exp(−d) + d − 1, 10) "
              "for every finite d and its gradient is 0 where the clamp is active. Computed as expm1(−d) + d for "
              "accuracy near d = 0.",
        differences=(
            Difference("k3 clamp", "Schulman's k3 = (r − 1) − log r, r = π_ref/π, unbounded",
                       "verl clamps the log-ratio to [−20, 20] and the estimate to [−10, 10]", "code", None),
        ),
    ),
    inputs=(
        InputSpec("log_prob", "log_probs", SEQ, "log π(y_t)", differentiable=True),
        InputSpec("ref_log_prob", "log_probs", SEQ, "log π_ref(y_t)", differentiable=True),
    ),
    params=(ParamSpec("kind", "k3", Choice(("k1", "abs", "k2", "k3")), "which estimator", positional=True,
                      required=True),),
    outputs=(OutputSpec("penalty", "elementwise penalty, same shape as the inputs", shape=SEQ),),
    properties=(
        Property("definition", "equals the written formula of the kind", _kl_formula),
        Property("zero_at_equal", "all kinds are exactly 0 at d = 0", _kl_zero_at_equal),
        Property("sign_and_clamp", "abs, k2, k3 >= 0 and k3 <= 10", _kl_sign),
        Property("symmetry", "k1 antisymmetric, abs and k2 symmetric in (logp, ref)", _kl_swap),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_kl_problem, wrt=("log_prob", "ref_log_prob"),
                          kinks="abs at d = 0; k3 where exp(−d) + d − 1 = 10 (d ≈ −2.61, d ≈ 11.0)"),
    degenerate=("no parameters; every finite input is valid",),
))


# =========================================================================== group_advantages


def _group_stats(r: F64, g: npt.NDArray[np.int64]) -> tuple[F64, F64, npt.NDArray[np.int64]]:
    mean = np.zeros(r.shape)
    std = np.ones(r.shape)
    size = np.zeros(r.shape, dtype=np.int64)
    for gid in np.unique(g):
        sel = g == gid
        size[sel] = sel.sum()
        if sel.sum() > 1:
            mean[sel] = r[sel].mean()
            std[sel] = r[sel].std(ddof=1)
    return mean, std, size


def _adv_zero_sum(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    a = np.asarray(a, dtype=np.float64)
    g = np.asarray(ctx.inputs["group_ids"])
    for gid in np.unique(g):
        sel = g == gid
        if sel.sum() < 2:
            continue
        scale = float(np.abs(a[sel]).sum()) + 1.0
        assert abs(float(a[sel].sum())) <= 4 * (ctx.budget.atol + ctx.budget.rtol * scale), \
            f"group {gid}: advantages sum to {a[sel].sum()}, not 0"


def _adv_singletons(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    _, _, size = _group_stats(r, g)
    one = size == 1
    eps = ctx.params.get("eps", 1e-6)
    expect = r / (1.0 + eps) if ctx.params.get("scale", "std") == "std" else r
    assert ctx.close(np.asarray(a)[one], expect[one]), "singleton groups: verl uses mean 0, std 1"


def _adv_constant_groups(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    const = np.full(r.shape, 0.75)
    (a,) = ctx.call(rewards=const)
    _, _, size = _group_stats(const, g)
    assert np.all(np.asarray(a)[size > 1] == 0.0), "all-equal rewards in a group must give A = 0 exactly"


def _adv_scale(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    if np.any(np.abs(r) > 1e3):
        return
    (a,) = ctx.call()
    (b,) = ctx.call(rewards=2.0 * r)
    (c,) = ctx.call(rewards=-r)
    a = np.asarray(a, dtype=np.float64)
    assert ctx.close(c, -a), "A(−r) must equal −A(r)"
    _, std, size = _group_stats(r, g)
    eps = ctx.params.get("eps", 1e-6)
    if ctx.params.get("scale", "std") == "none":
        assert ctx.close(b, 2.0 * a, factor=2), "scale='none': A(2r) must equal 2·A(r)"
        return
    multi = size > 1
    # (r−m)/(2s+eps)·2 vs (r−m)/(s+eps): they differ by |A|·eps/(2s+eps) ("up to eps")
    slack = np.abs(a) * eps / np.maximum(2 * std + eps, 1e-300)
    diff = np.abs(np.asarray(b, dtype=np.float64) - a)
    bud = ctx.budget.scaled(4)
    ok = diff <= bud.atol + bud.rtol * np.abs(a) + slack
    assert np.all(ok[multi]), f"scale='std': A(2r) != A(r) beyond eps effects: {a} vs {b}"


def _adv_permutation(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    g = ctx.inputs["group_ids"]
    perm = ctx.rng.permutation(r.shape[0])
    (a,) = ctx.call()
    (b,) = ctx.call(rewards=r[perm], group_ids=g[perm])
    assert ctx.close(b, np.asarray(a)[perm], factor=2), "not permutation-equivariant"


def _adv_formula(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    (a,) = ctx.call()
    mean, std, _ = _group_stats(r, g)
    eps = ctx.params.get("eps", 1e-6)
    centred = r - mean
    for gid in np.unique(g):  # exact 0 for constant groups (see `degenerate`)
        sel = g == gid
        if sel.sum() > 1 and np.all(r[sel] == r[sel][0]):
            centred[sel] = 0.0
    if ctx.params.get("scale", "std") == "none":
        expect = centred
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            expect = np.where(centred == 0, 0.0, centred / (std + eps))
    assert ctx.close(a, expect, factor=4), f"{a} != {expect}"


register(MethodSpec(
    id="group_advantages",
    family="policy",
    kind="advantage",
    summary="GRPO group-relative advantage A_i = (r_i − mean_G r)/(std_G r + eps) (unbiased std, verl convention); "
            "scale='none' gives Dr. GRPO's centred rewards r_i − mean_G r.",
    papers=(DEEPSEEKMATH_2024, DR_GRPO_2025),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"{VERL_CORE} compute_grpo_outcome_advantage (commit 012be9d) and the Entropy-Mechanism fork "
                        "(commit 6e45694), read via the search tool; TRL GRPOTrainer advantage code (std over the "
                        "group, eps 1e-4) as found in public copies",
        official_code=f"{VERL_CORE}:compute_grpo_outcome_advantage",
        notes="Computed under stop-gradient (not differentiable). std is torch.std's default, the unbiased (n − 1) "
              "estimator, as in verl and TRL. Groups of size 1 follow verl: mean 0 and std 1, so A = r/(1 + eps) "
              "(scale='std') or A = r (scale='none'). Groups whose rewards are all equal give exactly A = 0 (the "
              "centred value is set to 0 rather than left to rounding noise). The scale flag mirrors verl's "
              "norm_adv_by_std_in_grpo.",
        differences=(
            Difference("eps", "GRPO: (r − mean)/std", "verl adds eps = 1e-6 to std; TRL adds 1e-4", "code", "eps"),
            Difference("std normalisation", "GRPO divides by std", "Dr. GRPO / verl norm_adv_by_std_in_grpo=False "
                       "only centres", "paper", "scale"),
            Difference("groups of size 1", "undefined (G ≥ 2)", "verl: mean 0, std 1 (A = r/(1+eps)); torch.std of "
                       "one value would be NaN", "code", None),
        ),
    ),
    inputs=(
        InputSpec("rewards", "rewards", ("N",), "scalar reward per response"),
        InputSpec("group_ids", "group_ids", ("N",), "integer group (prompt) id per response", dtype="int"),
    ),
    params=(
        ParamSpec("scale", "std", Choice(("std", "none")), "'std' (GRPO) or 'none' (Dr. GRPO, centred only)"),
        ParamSpec("eps", 1e-6, Interval(0.0, 1.0), "added to the group std (verl epsilon)"),
    ),
    outputs=(OutputSpec("advantages", "advantage per response, shape (N,)", shape=("N",)),),
    properties=(
        Property("definition", "equals the group formula with verl's conventions", _adv_formula),
        Property("zero_sum_per_group", "Σ_i A_i = 0 within each group of size ≥ 2", _adv_zero_sum),
        Property("singletons", "groups of size 1 give r/(1+eps) (std) or r (none), as verl", _adv_singletons),
        Property("constant_groups_zero", "all-equal rewards in a group of size ≥ 2 give exactly 0",
                 _adv_constant_groups),
        Property("scale_and_sign", "A(−r) = −A(r); A(2r) = A(r) up to eps (std) or 2A(r) (none)", _adv_scale),
        Property("permutation_equivariance", "permuting responses permutes advantages", _adv_permutation),
    ),
    tolerance=default_tolerance(2.0),
    derivation=None,
    stop_gradients=("the whole output (advantages are constants)",),
    degenerate=(
        "N = 0 gives an empty output",
        "a group of size 1 gets mean 0 and std 1 (verl)",
        "a group with all-equal rewards gets A = 0 exactly, also with eps = 0",
    ),
))


# =========================================================================== clip_cov_loss


def _clip_cov_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    chosen = _clip_cov_chosen(inputs, params)  # a data-dependent selection: a constant
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        tok[idx] = sp.Integer(0) if chosen[idx] else _ppo_token_expr(
            sym[idx], float(old[idx]), float(adv[idx]), float(params.get("clip_low", 0.2)),
            float(params.get("clip_high", 0.2)), None)
    out = _sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return _problem({"log_prob": sym}, out, bind(sym, lp))


def _clip_cov_vs_ppo(ctx: PropertyContext) -> None:
    p = ctx.params
    i = ctx.inputs
    valid = _valid(i["mask"])
    ppo = _ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], p.get("clip_low", 0.2),
                      p.get("clip_high", 0.2))
    (empty,) = ctx.call(mode="none", cov_low=1.0, cov_high=1.0)
    assert ctx.close(empty, ppo, factor=2), "an empty covariance window must give plain PPO-clip"
    (tok,) = ctx.call(mode="none")
    tok = np.asarray(tok, dtype=np.float64)
    differs = ~ctx.budget.scaled(2).allows(tok, ppo)
    n = max(int(p.get("clip_ratio", 2e-4) * int(valid.sum())), 1)
    assert not np.any(differs & ~valid), "masked tokens must stay 0"
    assert int(differs.sum()) <= n, f"more than n = {n} tokens changed ({int(differs.sum())})"
    assert np.all(tok[differs] == 0.0), "changed tokens must be exactly 0"


def _clip_cov_selection(ctx: PropertyContext) -> None:
    """The zeroed tokens are the n smallest-priority candidates (checked where the decision is clear)."""
    if ctx.dtype != "float64" or _near_clip_cov_boundary(ctx.inputs, ctx.params):
        return  # boundary decisions may flip with rounding; the value comparison with nudges covers them
    (tok,) = ctx.call(mode="none")
    chosen = _clip_cov_chosen(ctx.inputs, ctx.params)
    tok = np.asarray(tok, dtype=np.float64)
    assert np.all(tok[chosen] == 0.0), "chosen tokens must be zeroed"
    ppo = _ppo_tokens(ctx.inputs["log_prob"], ctx.inputs["old_log_prob"], ctx.inputs["advantages"],
                      ctx.inputs["mask"], ctx.params.get("clip_low", 0.2), ctx.params.get("clip_high", 0.2))
    assert ctx.close(tok[~chosen], ppo[~chosen]), "tokens that are not chosen keep the PPO-clip loss"


def _near(x: F64, t: float) -> bool:
    return bool(np.any(np.abs(x - t) <= 1e-9 * (1.0 + abs(t))))


def _near_clip_cov_boundary(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    valid = _valid(inputs["mask"])
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    cov = _covariance(lp, np.asarray(inputs["advantages"], dtype=np.float64), valid)[valid]
    ratio = np.exp(lp - np.asarray(inputs["old_log_prob"], dtype=np.float64))[valid]
    return (_near(cov, float(params.get("cov_low", 1.0))) or _near(cov, float(params.get("cov_high", 5.0)))
            or _near(ratio, 1.0 - float(params.get("clip_low", 0.2)))
            or _near(ratio, 1.0 + float(params.get("clip_high", 0.2))))


def _clip_cov_ratio_zero(ctx: PropertyContext) -> None:
    """clip_ratio = 0 still zeroes one token when a candidate exists (n = max(int(0), 1) = 1)."""
    (a,) = ctx.call(mode="none", clip_ratio=0.0)
    (b,) = ctx.call(mode="none", clip_ratio=1e-9)
    assert ctx.close(a, b), "clip_ratio 0 and 1e-9 must both mean n = 1"


register(MethodSpec(
    id="clip_cov_loss",
    family="policy",
    kind="loss",
    summary="Clip-Cov: PPO-clip loss with the gradient (and value) of n = max(int(r·Σm), 1) randomly chosen "
            "high-covariance tokens removed; covariance (A − mean A)(logp − mean logp) over valid tokens.",
    papers=(ENTROPY_MECHANISM_2025, PPO_2017),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{OFFICIAL_COV} compute_policy_loss_clip_cov (commit 6e45694) and {VERL_CORE} "
                        "compute_policy_loss_clip_cov (commit 012be9d), both read via the search tool; they agree",
        official_code=f"{OFFICIAL_COV}:compute_policy_loss_clip_cov",
        notes="Candidates: valid tokens with cov_low < cov < cov_high (both strict, as the code) that are not already "
              "PPO-clipped (pg2 > pg1, strict). n = max(int(clip_ratio·Σm), 1) (Python float product then int, as the "
              "code). The code draws the n tokens with torch.randperm over the candidates in row-major order; here "
              "priority keys (one per token, in [0, 1)) replace it: the n candidates with the smallest keys, ties to "
              "the lowest flat index — i.i.d. uniform keys give the same distribution (a uniform random n-subset). "
              "Chosen tokens get corr = 0: loss and gradient 0 there, and they stay in the aggregation denominator. "
              "The covariance uses the masked mean over ALL valid tokens of the call (micro-batch dependent) and is "
              "only compared (no gradient).",
        differences=(
            Difference("random choice", "uniformly random r·N tokens in the window",
                       "torch.randperm (global RNG state)", "paper", "priority"),
            Difference("PPO clipping", "the paper describes Clip-Cov as detaching high-covariance tokens from the "
                       "policy-gradient loss", "the code also applies PPO clipping and excludes already-clipped "
                       "tokens from the candidates", "code", None),
            Difference("detach in cov", "Cov(logp, A) centred over the batch",
                       "the code centres logp with masked_mean(log_prob.detach()) but multiplies by the undetached "
                       "log_prob; as it is only compared, no gradient flows — we detach everything", "code", None),
            Difference("upstream verl defaults", "r = 2e-4, ω_low = 1, ω_high = 5",
                       "upstream verl asserts clip_cov_ratio > 0; the fork accepts 0 (n is still 1)", "code", None),
        ),
    ),
    inputs=(
        *_loss_inputs(),
        InputSpec("priority", "priority", SEQ, "random priority keys in [0, 1), one per token (replaces randperm)"),
    ),
    params=(
        ParamSpec("clip_ratio", 2e-4, Interval(0.0, 1.0), "r: fraction of valid tokens to zero (n = max(int(r·Σm), 1))",
                  sensitive=True),
        ParamSpec("cov_low", 1.0, Interval(None, None), "ω_low (strict lower bound of the window)", sensitive=True),
        ParamSpec("cov_high", 5.0, Interval(None, None), "ω_high (strict upper bound of the window)", sensitive=True),
        *_clip_params(sensitive=True),
        _loss_mode(),
    ),
    outputs=(LOSS_OUTPUT,),
    properties=(
        Property("ppo_with_n_zeroed", "empty window = PPO-clip; otherwise PPO-clip with at most n tokens set to 0",
                 _clip_cov_vs_ppo),
        Property("selection", "the zeroed tokens are the n smallest-priority candidates", _clip_cov_selection),
        Property("clip_ratio_floor", "n = max(int(r·Σm), 1): r = 0 behaves as a tiny r", _clip_cov_ratio_zero),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 _masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages"))),
    ),
    tolerance=default_tolerance(2.0),
    derivation=Derivation(_clip_cov_problem, wrt=("log_prob",),
                          kinks="PPO clip boundaries; the selection is piecewise constant in log_prob (treated as a "
                                "constant; it jumps where cov or ρ crosses a threshold)"),
    stop_gradients=("old_log_prob and advantages", "the covariance and the selection (no gradient through them)",
                    "chosen tokens: corr = 0 removes their gradient"),
    degenerate=("empty mask gives 0 (nothing is chosen)",
                "no candidate: plain PPO-clip",
                "fewer candidates than n: all candidates are zeroed"),
))


# =========================================================================== kl_cov_loss


def _kl_cov_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    sel = _kl_cov_selected(inputs, params)
    coef = float(params.get("coef", 1.0))
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        e = -sp.Float(float(adv[idx])) * sp.exp(sym[idx] - sp.Float(float(old[idx])))
        if sel[idx]:
            e = e + sp.Float(coef) * sp.Abs(sym[idx] - sp.Float(float(old[idx])))
        tok[idx] = e
    out = _sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return _problem({"log_prob": sym}, out, bind(sym, lp))


def _pg_tokens(i: Mapping[str, Any]) -> F64:
    valid = _valid(i["mask"])
    ratio = np.exp(np.where(valid, i["log_prob"] - i["old_log_prob"], 0.0))
    adv = i["advantages"]
    return np.where(valid & (adv != 0), -adv * ratio, 0.0)


def _kl_cov_vs_pg(ctx: PropertyContext) -> None:
    pg = _pg_tokens(ctx.inputs)
    (a,) = ctx.call(mode="none", coef=0.0)
    assert ctx.close(a, pg, factor=2), "coef = 0 must give vanilla PG −Aρ"
    (b,) = ctx.call(mode="none", k_percent=0.0)
    assert ctx.close(b, pg, factor=2), "k_percent = 0 selects nothing: vanilla PG"
    (tok,) = ctx.call(mode="none")
    tok = np.asarray(tok, dtype=np.float64)
    valid = _valid(ctx.inputs["mask"])
    differs = ~ctx.budget.scaled(2).allows(tok, pg)
    kp = ctx.params.get("k_percent", 0.2)
    n = max(1, int(int(valid.sum()) * kp / 100)) if kp and valid.any() else 0
    assert int(differs.sum()) <= n, f"more than n = {n} tokens penalised"
    bud = ctx.budget.scaled(2)
    assert np.all(tok >= pg - (bud.atol + bud.rtol * np.abs(pg))), "the KL term is non-negative"


def _kl_cov_selection(ctx: PropertyContext) -> None:
    if ctx.dtype != "float64":
        return
    valid = _valid(ctx.inputs["mask"])
    cov = np.sort(_covariance(ctx.inputs["log_prob"], ctx.inputs["advantages"], valid)[valid])
    gaps = np.diff(cov)
    if np.any((gaps > 0) & (gaps <= 1e-9 * (1.0 + np.abs(cov[1:])))):
        return  # near-ties (not exact ties) may be ordered differently by rounding
    sel = _kl_cov_selected(ctx.inputs, ctx.params)
    (tok,) = ctx.call(mode="none")
    coef = ctx.params.get("coef", 1.0)
    i = ctx.inputs
    expect = _pg_tokens(i) + np.where(sel, coef * np.abs(i["log_prob"] - i["old_log_prob"]), 0.0)
    assert ctx.close(tok, expect, factor=2), "penalised tokens are the top-n covariance tokens"


register(MethodSpec(
    id="kl_cov_loss",
    family="policy",
    kind="loss",
    summary="KL-Cov: vanilla ratio policy gradient −Aρ (no clipping) plus coef·|logp − old| on the top "
            "n = max(1, int(N_valid·k_percent/100)) tokens by covariance.",
    papers=(ENTROPY_MECHANISM_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{OFFICIAL_COV} compute_policy_loss_kl_cov (commit 6e45694) and {VERL_CORE} "
                        "compute_policy_loss_kl_cov (commit 012be9d), read via the search tool",
        official_code=f"{OFFICIAL_COV}:compute_policy_loss_kl_cov",
        notes="Selection: torch.topk(largest) over the covariance of the valid tokens (means over valid tokens, all "
              "detached); ties here go to the lowest flat index (torch.topk's tie order is unspecified). No selection "
              "when N_valid = 0 or k_percent = 0 (the code's `k = min(k_percent, N_valid); if k != 0`). n ≤ N_valid "
              "for k_percent ≤ 100 (the domain), so topk never overflows.",
        differences=(
            Difference("k_percent scale", "k = 2e-3 (2e-4 for 32B) as a fraction",
                       "the fork takes k_percent = 0.2 and divides by 100; upstream verl takes kl_cov_ratio = "
                       "0.0002 as a fraction (kl_cov_ratio = k_percent/100) with n = max(1, int(N·kl_cov_ratio))",
                       "code", "k_percent"),
            Difference("min(k_percent, N) quirk", "n = max(1, int(N·k/100))",
                       "the fork computes n with k = min(k_percent, N_valid), which differs only when N_valid < "
                       "k_percent (tiny batches); we follow upstream verl and the formula", "paper", None),
        ),
    ),
    inputs=_loss_inputs(),
    params=(
        ParamSpec("k_percent", 0.2, Interval(0.0, 100.0), "percentage of valid tokens penalised (0 = none)",
                  sensitive=True),
        ParamSpec("coef", 1.0, Interval(0.0, 100.0), "β (the code's ppo_kl_coef)"),
        _loss_mode(),
    ),
    outputs=(LOSS_OUTPUT,),
    properties=(
        Property("reduces_to_pg", "coef = 0 or k_percent = 0 gives −Aρ; at most n tokens change, upward",
                 _kl_cov_vs_pg),
        Property("selection", "penalised tokens are the top-n by covariance (ties: lowest index)", _kl_cov_selection),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 _masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages"))),
    ),
    tolerance=default_tolerance(2.0),
    derivation=Derivation(_kl_cov_problem, wrt=("log_prob",),
                          kinks="|logp − old| at logp = old on selected tokens; the selection is piecewise constant"),
    stop_gradients=("old_log_prob and advantages", "the covariance and the selection"),
    degenerate=("empty mask gives 0", "k_percent = 0 or coef = 0: vanilla PG"),
))
