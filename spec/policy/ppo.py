"""Specs of the ``ppo`` group of the ``policy`` family: loss aggregation, the PPO-clip surrogate and the
per-token KL estimators.

The NumPy formulas used by the properties live in :mod:`spec.policy._common` (written from the
definitions, never calling the reference); SymPy is imported only inside the derivation builders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.model import (
    Branch,
    Choice,
    Derivation,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    MethodSpec,
    OutputSpec,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    Scale,
    SymbolicProblem,
    default_tolerance,
)
from spec.policy._common import (
    AGG_MODES,
    DAPO_2025,
    DEEPSEEKMATH_2024,
    DR_GRPO_2025,
    DUAL_CLIP_2019,
    EMPTY_MASK,
    PPO_2017,
    PPO_LOSS_SCALE,
    SCHULMAN_K3_2020,
    SEQ,
    VERL_CORE,
    clip_params,
    clip_sides,
    loss_inputs,
    loss_mode,
    loss_output,
    mask_input,
    masked_irrelevant_factory,
    np_aggregate,
    per_token_definition,
    ppo_tokens,
    some_empty_rows,
    valid_mask,
)
from spec.registry import register
from spec.scales import finite_magnitude

# --------------------------------------------------------------------------- the other forms of the differences


def verl_agg_loss(x: Any, m: Any, mode: str) -> Any:
    """verl 0.9.1 ``trainer.ppo.core_algos.agg_loss`` (dp_size = 1), transcribed: token-mean Σ x·m / Σ m;
    seq-mean-token-sum[-norm] Σ_rows (Σ_t x·m) / #non-empty rows [/ T]; seq-mean-token-mean Σ_rows
    (Σ_t x·m)/(Σ_t m + 1e-8) over the non-empty rows / #non-empty rows. A zero denominator gives NaN."""
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    xm = np.where(m > 0, x * m, 0.0)
    count = m.sum(axis=-1)
    nonempty = float(np.sum(count > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        if mode == "token-mean":
            return np.asarray(xm.sum() / m.sum())
        if mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
            out = np.sum(np.where(count > 0, xm.sum(axis=-1), 0.0)) / nonempty
            return np.asarray(out / m.shape[-1] if mode == "seq-mean-token-sum-norm" else out)
        rows = xm.sum(axis=-1) / (count + 1e-8)
        return np.asarray(np.sum(np.where(count > 0, rows, 0.0)) / nonempty)


def _verl_agg(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """The other form ``verl_agg_loss``: verl's aggregation of our per-token values (``aggregate``'s input, or a
    policy loss's ``mode='none'`` output); None where it equals ours."""
    mode = str(params.get("mode", "token-mean"))
    if mode == "none" or params.get("max_length") is not None:
        return None
    x = (inputs["values"] if "values" in inputs else reference(inputs, {**params, "mode": "none"})[0])
    theirs = verl_agg_loss(x, inputs["mask"], mode)
    (ours,) = reference(inputs, params)
    return None if np.allclose(theirs, ours, rtol=1e-15, atol=0.0) else (theirs,)


def _verl_log_ratio_clamp(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """verl compute_policy_loss_vanilla: ρ = exp(clamp(logp − old, −20, 20))."""
    lp, old = np.asarray(inputs["log_prob"], dtype=np.float64), np.asarray(inputs["old_log_prob"], dtype=np.float64)
    d = lp - old
    if not np.any(np.abs(d) > 20):
        return None
    return reference({**inputs, "log_prob": old + np.clip(d, -20.0, 20.0)}, params)


def _single_epsilon(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """PPO with one ε: the upper clip uses ε_low too."""
    low, high = params.get("clip_low", 0.2), params.get("clip_high", 0.2)
    return None if low == high else reference(inputs, {**params, "clip_high": low})


def _unclamped_k3(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """Schulman's k3 = exp(−d) + d − 1 without verl's clamps."""
    if params.get("kind") != "k3":
        return None
    d = np.asarray(inputs["log_prob"], dtype=np.float64) - np.asarray(inputs["ref_log_prob"], dtype=np.float64)
    with np.errstate(over="ignore"):
        k3 = np.expm1(-d) + d
    (ours,) = reference(inputs, params)
    return None if np.array_equal(k3, ours) else (k3,)


__all__: list[str] = []


# =========================================================================== aggregate


def _aggregate_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    from spec.policy._symbolic import problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    x = np.asarray(inputs["values"], dtype=np.float64)
    sym = symbols_like("x", x)
    out = sym_aggregate(sym, inputs["mask"], str(params["mode"]), params.get("max_length"))
    return problem({"values": sym}, out, bind(sym, x))


def _agg_empty_mask(ctx: PropertyContext) -> None:
    x = ctx.inputs["values"]
    (out,) = ctx.call(mask=np.zeros(x.shape, dtype=bool))
    assert np.all(np.asarray(out) == 0.0), f"empty mask must give exactly 0, got {out}"


def _agg_masked_irrelevant(ctx: PropertyContext) -> None:
    x = ctx.inputs["values"]
    valid = valid_mask(ctx.inputs["mask"])
    if valid.all():
        ctx.skip("no masked position")
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
    m = valid_mask(ctx.inputs["mask"])
    if x.ndim != 2 or x.shape[0] == 0:
        ctx.skip("needs a (B, T) batch with B >= 1 to split")
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
    expect = np_aggregate(ctx.inputs["values"], ctx.inputs["mask"], ctx.params["mode"], ctx.params.get("max_length"))
    assert ctx.close(out, expect, factor=2), f"aggregate {out} != definition {expect}"


def _agg_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    x = np.asarray(inputs["values"], dtype=np.float64)[valid_mask(inputs["mask"])]
    return max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0


#: A mean of values is of the size of the largest value it averages.
AGGREGATE_SCALE = Scale("max(1, largest |values| at valid positions)", _agg_scale)


def _agg_empty_rows(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return params.get("mode") == "seq-mean-token-mean" and some_empty_rows(inputs, params, outputs)


def _agg_norm_rows(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    m = valid_mask(inputs["mask"])
    return params.get("mode") == "seq-mean-token-sum-norm" and m.ndim == 2 and m.shape[0] >= 2 and bool(m.any())


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
                       "verl 0.9.1 agg_loss divides by #non-empty rows × T (T = loss_mask.shape[-1]; older verl "
                       "divided by T only); TRL dr_grpo divides by B·max_completion_length = ours",
                       "peer", "max_length", name="constant_normaliser"),
            Difference("empty rows and empty batches",
                       "Σ x·m / Σ m per row; empty rows count in seq-mean-token-sum (as 0), a batch without a valid "
                       "token gives 0",
                       "verl 0.9.1 agg_loss averages the seq-mean modes over the non-empty rows only, adds 1e-8 to "
                       "the row counts of seq-mean-token-mean and divides 0 by 0 (NaN) for a batch without a valid "
                       "token; TRL clamps counts to 1", "paper", None, name="verl_agg_loss", other=_verl_agg),
        ),
    ),
    inputs=(
        InputSpec("values", "values", SEQ, "per-token values (losses)", differentiable=True),
        mask_input(),
    ),
    params=(
        ParamSpec("mode", "token-mean", Choice(AGG_MODES), "aggregation mode", positional=True, required=True),
        ParamSpec("max_length", None, IntRange(1, None, allow_none=True),
                  "the constant of seq-mean-token-sum-norm (default T); ignored by the other modes"),
    ),
    outputs=(OutputSpec("loss", "the aggregated scalar (0-d)", scale=AGGREGATE_SCALE),),
    branches=(
        EMPTY_MASK,
        Branch("empty rows in seq-mean-token-mean", "mode seq-mean-token-mean with an empty row next to a non-empty "
               "one (the empty row must be left out of the row mean)", _agg_empty_rows),
        Branch("token-sum-norm over several rows", "mode seq-mean-token-sum-norm with B >= 2 and a valid token (the "
               "normaliser is B·max_length, not T)", _agg_norm_rows),
    ),
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
    from spec.policy._symbolic import ppo_token_expr, problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        tok[idx] = ppo_token_expr(sym[idx], float(old[idx]), float(adv[idx]), float(params.get("clip_low", 0.2)),
                                  float(params.get("clip_high", 0.2)), params.get("dual_clip"))
    out = sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return problem({"log_prob": sym}, out, bind(sym, lp))


def _ppo_reduces_to_pg(ctx: PropertyContext) -> None:
    lp = ctx.inputs["log_prob"]
    adv = ctx.inputs["advantages"]
    (tok,) = ctx.call(old_log_prob=lp, mode="none")
    expect = np.where(valid_mask(ctx.inputs["mask"]), -adv, 0.0)
    assert ctx.close(tok, expect), f"ρ = 1 must give −A per token: {tok} vs {expect}"


def _ppo_token_formula(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    return ppo_tokens(inputs["log_prob"], inputs["old_log_prob"], inputs["advantages"], inputs["mask"],
                      params.get("clip_low", 0.2), params.get("clip_high", 0.2), params.get("dual_clip"))


def _ppo_bounds(ctx: PropertyContext) -> None:
    p = ctx.params
    adv = ctx.inputs["advantages"]
    valid = valid_mask(ctx.inputs["mask"])
    (tok,) = ctx.call(mode="none")
    tok = np.asarray(tok, dtype=np.float64)
    b = ctx.budget.scaled(2)
    lower = -adv * (1.0 + p.get("clip_high", 0.2))
    pos = valid & (adv > 0)
    if not pos.any() and (p.get("dual_clip") is None or not np.any(valid & (adv < 0))):
        ctx.skip("no valid token with A > 0, and no A < 0 token under a dual clip")
    slack = b.atol + b.rtol * np.abs(lower)
    assert np.all(tok[pos] >= lower[pos] - slack[pos]), "A > 0: loss below −A(1+ε_high) (clip-higher bound)"
    c = p.get("dual_clip")
    if c is not None:
        upper = -adv * c
        neg = valid & (adv < 0)
        slack = b.atol + b.rtol * np.abs(upper)
        assert np.all(tok[neg] <= upper[neg] + slack[neg]), "A < 0: dual-clip bound −A·c exceeded"


def _dual_clip_active(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    c = params.get("dual_clip")
    if c is None:
        return False
    valid = valid_mask(inputs["mask"])
    d = np.asarray(inputs["log_prob"], dtype=np.float64) - np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    with np.errstate(over="ignore"):
        return bool(np.any(valid & (adv < 0) & (np.exp(d) > float(c))))


PPO_DIFFS = (
    Difference("dual clip", "dual-clip PPO (arXiv 1912.09729) bounds the loss of A < 0 tokens by −A·c",
               "verl compute_policy_loss_vanilla always applies it with clip_ratio_c = 3.0; the Entropy-Mechanism fork "
               "and TRL do not", "paper", "dual_clip", name="verl_dual_clip", params={"dual_clip": 3.0}),
    Difference("log-ratio clamp", "ρ = exp(logp − old)",
               "verl compute_policy_loss_vanilla clamps logp − old to [−20, 20] before exp (not in clip_cov/kl_cov)",
               "paper", None, name="verl_log_ratio_clamp", other=_verl_log_ratio_clamp),
    Difference("clip-higher", "PPO: one ε; DAPO: ε_high > ε_low", "verl clip_ratio_low/clip_ratio_high", "code",
               "clip_high", name="single_epsilon", other=_single_epsilon),
    Difference("aggregation", "the paper's token-mean / sequence means over the mask",
               "verl 0.9.1 compute_policy_loss_vanilla aggregates with agg_loss: seq-mean modes over the non-empty "
               "rows only, 1e-8 added to row counts, NaN for a batch without a valid token (see aggregate)", "paper",
               None, name="verl_agg_loss", other=_verl_agg),
    Difference("stop-gradient inputs", "old_log_prob and advantages are constants of the surrogate",
               "verl does not detach them (its trainer never passes tensors that require grad there)", "paper", None,
               name="verl_undetached_inputs", other=lambda reference, inputs, params: None,
               undetached=("old_log_prob", "advantages")),
)

#: Where the PPO loss has no derivative with respect to log_prob (documented for the gradient check).
PPO_KINKS = ("ρ = 1 + ε_high for A > 0 and ρ = 1 − ε_low for A < 0 (clip boundaries: the derivative jumps from −Aρ "
             "to 0; exactly on the bound the SymPy Max/Min derivative is half-weighted and one-sided finite "
             "differences disagree, so there is no gradient to compare there — any value between the one-sided "
             "derivatives is correct); ρ = c for A < 0 with dual clip (jump from −Aρ to 0). ρ = 1 ± ε exactly is "
             "reachable with dyadic inputs only when log(1 ± ε) is representable, i.e. practically only through the "
             "drawn log-ratio grid; tokens with A = 0 are flat")

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
    inputs=loss_inputs(),
    params=(
        *clip_params(sensitive=False),
        ParamSpec("dual_clip", None, Interval(1.0, 10.0, low_closed=False, allow_none=True),
                  "dual-clip constant c > 1 (verl clip_ratio_c, default there 3.0); None disables it"),
        loss_mode(),
    ),
    outputs=(loss_output(PPO_LOSS_SCALE),),
    branches=(
        Branch("clipped above", "a valid token with A > 0 and ρ > 1 + ε_high (the clipped term wins)",
               lambda i, p, o: clip_sides(i, p)[0]),
        Branch("clipped below", "a valid token with A < 0 and ρ < 1 − ε_low (the clipped term wins)",
               lambda i, p, o: clip_sides(i, p)[1]),
        Branch("dual clip active", "dual_clip set and a valid token with A < 0 and ρ > c (the loss is −A·c)",
               _dual_clip_active),
        EMPTY_MASK,
    ),
    properties=(
        per_token_definition("per-token loss equals the PPO-clip formula and aggregates by `aggregate`",
                             _ppo_token_formula),
        Property("reduces_to_pg_inside_clip", "ρ = 1 (old = new) gives −A per token", _ppo_reduces_to_pg),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages"))),
        Property("clip_bounds", "A > 0: ℓ ≥ −A(1+ε_high); A < 0 with dual clip: ℓ ≤ −A·c", _ppo_bounds),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_ppo_problem, wrt=("log_prob",),
                          kinks=PPO_KINKS),
    stop_gradients=("old_log_prob and advantages are constants",),
    degenerate=("empty mask gives 0", "A = 0 tokens give exactly 0 (also when ρ overflows)"),
))


# =========================================================================== kl_penalty


def _kl_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    from spec.policy._symbolic import kl_token_expr, problem
    from spec.symbolic import bind, symbols_like

    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    ref = np.asarray(inputs["ref_log_prob"], dtype=np.float64)
    s_lp = symbols_like("lp", lp)
    s_ref = symbols_like("ref", ref)
    out = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        out[idx] = kl_token_expr(s_lp[idx], s_ref[idx], str(params["kind"]), float(lp[idx] - ref[idx]))
    return problem({"log_prob": s_lp, "ref_log_prob": s_ref}, out, {**bind(s_lp, lp), **bind(s_ref, ref)})


def _k3_raw(inputs: Mapping[str, Any]) -> Any:
    d = np.asarray(inputs["log_prob"], dtype=np.float64) - np.asarray(inputs["ref_log_prob"], dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.expm1(-d) + d


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
    if kind == "k3":
        ctx.skip("k3 has no symmetry in (logp, ref)")
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
                       "verl clamps the log-ratio to [−20, 20] and the estimate to [−10, 10]", "code", None,
                       name="unclamped_k3", other=_unclamped_k3),
        ),
    ),
    inputs=(
        InputSpec("log_prob", "log_probs", SEQ, "log π(y_t)", differentiable=True),
        InputSpec("ref_log_prob", "log_probs", SEQ, "log π_ref(y_t)", differentiable=True),
    ),
    params=(ParamSpec("kind", "k3", Choice(("k1", "abs", "k2", "k3")), "which estimator", positional=True,
                      required=True),),
    outputs=(OutputSpec("penalty", "elementwise penalty, same shape as the inputs", shape=SEQ,
                        scale=finite_magnitude("log_prob", "ref_log_prob")),),
    branches=(
        Branch("k3 clamp active", "kind k3 with some d = logp − ref where exp(−d) + d − 1 > 10 (the output is 10)",
               lambda i, p, o: p.get("kind") == "k3" and bool(np.any(_k3_raw(i) > 10.0))),
        Branch("k3 inside the clamp", "kind k3 with some d ≠ 0 where exp(−d) + d − 1 < 10",
               lambda i, p, o: p.get("kind") == "k3" and bool(np.any((_k3_raw(i) > 0) & (_k3_raw(i) < 10.0)))),
    ),
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


