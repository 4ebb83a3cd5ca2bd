"""Specs of the ``covariance`` group of the ``policy`` family: Clip-Cov and KL-Cov (covariance-selected
interventions on the policy gradient, "The Entropy Mechanism of RL for Reasoning LMs").

Selection rule across dtypes. Both methods select tokens by comparing covariances
``cov_i = (A_i − mean A)(logp_i − mean logp)``. The selection is specified on the *exact* covariances of
the given inputs: exact ties are broken by the lowest flat index, and the window bounds of Clip-Cov are
strict. When the covariances are not exactly representable, an implementation computing them in
another precision or order may order *near*-ties (or a value within rounding of a bound) differently,
and the spec makes no promise there. Conformance therefore draws Clip-Cov/KL-Cov inputs whose
covariances are exact in every dtype (dyadic centred values around dyadic means, see
``conformance/cases/policy/covariance.py``): exact ties and covariances exactly on a window bound are
drawn *on purpose* (they are the hard cases and are decided identically everywhere), while the
rounding-level near-ties that no spec can order are not. :func:`exact_covariances` says whether a case
has this property; the selection properties run exactly then.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import (
    Branch,
    Choice,
    Derivation,
    Difference,
    InputSpec,
    Interval,
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
    EMPTY_MASK,
    ENTROPY_MECHANISM_2025,
    F64,
    KL_COV_SCALE,
    OFFICIAL_COV,
    PPO_2017,
    PPO_LOSS_SCALE,
    SEQ,
    VERL_CORE,
    clip_params,
    covariance,
    loss_inputs,
    loss_mode,
    loss_output,
    masked_irrelevant_factory,
    ppo_tokens,
    valid_mask,
)
from spec.registry import register

__all__: list[str] = []


def exact_covariances(inputs: Mapping[str, Any]) -> bool:
    """Whether the covariances of the valid tokens come out identical in float32 and float64 arithmetic
    (then every comparison, tie and window decision is the same in every dtype)."""
    valid = valid_mask(inputs["mask"])
    if not valid.any():
        return True
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    c64 = covariance(lp, adv, valid)[valid]
    lp32, adv32 = lp.astype(np.float32)[valid], adv.astype(np.float32)[valid]
    n = np.float32(valid.sum())
    c32 = (adv32 - adv32.sum(dtype=np.float32) / n) * (lp32 - lp32.sum(dtype=np.float32) / n)
    return bool(np.array_equal(c32.astype(np.float64), c64)) and bool(np.all(lp32 == lp[valid]))


def _clip_cov_chosen(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """The tokens Clip-Cov zeroes, evaluated numerically from the formula."""
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    pri = np.asarray(inputs["priority"], dtype=np.float64)
    valid = valid_mask(inputs["mask"])
    clip_low = float(params.get("clip_low", 0.2))
    clip_high = float(params.get("clip_high", 0.2))
    ratio = np.exp(np.where(valid, lp - old, 0.0))
    pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    cov = covariance(lp, adv, valid)
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
    valid = valid_mask(inputs["mask"])
    k_percent = float(params.get("k_percent", 0.2))
    n_valid = int(valid.sum())
    sel = np.zeros(valid.size, dtype=bool)
    if k_percent == 0 or n_valid == 0:
        return sel.reshape(valid.shape)
    n = max(1, int(n_valid * k_percent / 100))
    cov = covariance(lp, adv, valid).ravel()
    flat = np.flatnonzero(valid.ravel())
    ranked = sorted(flat.tolist(), key=lambda i: (-cov[i], i))[:n]
    sel[ranked] = True
    return sel.reshape(valid.shape)




# =========================================================================== clip_cov_loss


def _clip_cov_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.policy._symbolic import ppo_token_expr, problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    chosen = _clip_cov_chosen(inputs, params)  # a data-dependent selection: a constant
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        tok[idx] = sp.Integer(0) if chosen[idx] else ppo_token_expr(
            sym[idx], float(old[idx]), float(adv[idx]), float(params.get("clip_low", 0.2)),
            float(params.get("clip_high", 0.2)), None)
    out = sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return problem({"log_prob": sym}, out, bind(sym, lp))


def _clip_cov_vs_ppo(ctx: PropertyContext) -> None:
    p = ctx.params
    i = ctx.inputs
    valid = valid_mask(i["mask"])
    ppo = ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], p.get("clip_low", 0.2),
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
    if not exact_covariances(ctx.inputs):
        ctx.skip("covariances not exact in float32: the window decision is made on rounded values")
    if _near_ratio_boundary(ctx.inputs, ctx.params, ctx.dtype):
        ctx.skip("a ratio within rounding of a clip bound: the PPO-clipped test may flip")
    (tok,) = ctx.call(mode="none")
    chosen = _clip_cov_chosen(ctx.inputs, ctx.params)
    tok = np.asarray(tok, dtype=np.float64)
    assert np.all(tok[chosen] == 0.0), "chosen tokens must be zeroed"
    ppo = ppo_tokens(ctx.inputs["log_prob"], ctx.inputs["old_log_prob"], ctx.inputs["advantages"],
                      ctx.inputs["mask"], ctx.params.get("clip_low", 0.2), ctx.params.get("clip_high", 0.2))
    assert ctx.close(tok[~chosen], ppo[~chosen]), "tokens that are not chosen keep the PPO-clip loss"


def _near_ratio_boundary(inputs: Mapping[str, Any], params: Mapping[str, Any], dtype: str) -> bool:
    valid = valid_mask(inputs["mask"])
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    ratio = np.exp(lp - np.asarray(inputs["old_log_prob"], dtype=np.float64))[valid]
    tol = 1e-9 if dtype == "float64" else 1e-5
    return any(bool(np.any(np.abs(ratio - t) <= tol * (1.0 + abs(t))))
               for t in (1.0 - float(params.get("clip_low", 0.2)), 1.0 + float(params.get("clip_high", 0.2))))


def _clip_cov_ratio_zero(ctx: PropertyContext) -> None:
    """clip_ratio = 0 still zeroes one token when a candidate exists (n = max(int(0), 1) = 1)."""
    (a,) = ctx.call(mode="none", clip_ratio=0.0)
    (b,) = ctx.call(mode="none", clip_ratio=1e-9)
    assert ctx.close(a, b), "clip_ratio 0 and 1e-9 must both mean n = 1"


def _candidates(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    valid = valid_mask(inputs["mask"])
    with np.errstate(over="ignore"):
        ratio = np.exp(np.where(valid, lp - old, 0.0))
        pg1 = np.where(adv == 0, 0.0, -adv * ratio)
    pg2 = -adv * np.clip(ratio, 1.0 - float(params.get("clip_low", 0.2)), 1.0 + float(params.get("clip_high", 0.2)))
    unclipped = valid & ~(pg2 > pg1)
    cov = covariance(lp, adv, valid)
    inside = (cov > float(params.get("cov_low", 1.0))) & (cov < float(params.get("cov_high", 5.0)))
    return unclipped, cov, inside


def _window_splits(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    unclipped, _, inside = _candidates(inputs, params)
    return bool(np.any(unclipped & inside) and np.any(unclipped & ~inside))


def _more_candidates_than_n(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    unclipped, _, inside = _candidates(inputs, params)
    n_valid = int(valid_mask(inputs["mask"]).sum())
    n = max(int(float(params.get("clip_ratio", 2e-4)) * n_valid), 1)
    return int((unclipped & inside).sum()) > n


def _cov_on_bound(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    valid = valid_mask(inputs["mask"])
    _, cov, _ = _candidates(inputs, params)
    bounds = (float(params.get("cov_low", 1.0)), float(params.get("cov_high", 5.0)))
    return bool(np.any(valid & np.isin(cov, bounds)))


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
        *loss_inputs(),
        InputSpec("priority", "priority", SEQ, "random priority keys in [0, 1), one per token (replaces randperm)"),
    ),
    params=(
        ParamSpec("clip_ratio", 2e-4, Interval(0.0, 1.0), "r: fraction of valid tokens to zero (n = max(int(r·Σm), 1))",
                  sensitive=True),
        ParamSpec("cov_low", 1.0, Interval(None, None), "ω_low (strict lower bound of the window)"),
        ParamSpec("cov_high", 5.0, Interval(None, None), "ω_high (strict upper bound of the window)"),
        *clip_params(sensitive=True),
        loss_mode(),
    ),
    outputs=(loss_output(PPO_LOSS_SCALE),),
    branches=(
        Branch("some tokens selected", "at least one candidate is chosen (its loss and gradient are zeroed)",
               lambda i, p, o: bool(_clip_cov_chosen(i, p).any())),
        Branch("candidates on both sides of the window", "valid unclipped tokens with covariance inside the window "
               "and others outside it (at or beyond a bound)", _window_splits),
        Branch("more candidates than n", "the priority keys decide which candidates are chosen",
               _more_candidates_than_n),
        Branch("covariance on a window bound", "a valid token whose covariance equals cov_low or cov_high exactly "
               "(strict bounds leave it out)", _cov_on_bound),
        EMPTY_MASK,
    ),
    properties=(
        Property("ppo_with_n_zeroed", "empty window = PPO-clip; otherwise PPO-clip with at most n tokens set to 0",
                 _clip_cov_vs_ppo),
        Property("selection", "the zeroed tokens are the n smallest-priority candidates", _clip_cov_selection),
        Property("clip_ratio_floor", "n = max(int(r·Σm), 1): r = 0 behaves as a tiny r", _clip_cov_ratio_zero),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages"))),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_clip_cov_problem, wrt=("log_prob",),
                          kinks="the PPO clip boundaries ρ = 1 ± ε (see ppo_clip_loss: exactly on a bound the "
                                "derivative is one-sided and any value between the one-sided derivatives is correct); "
                                "the selection is piecewise constant in log_prob (treated as a "
                                "constant; it jumps where cov or ρ crosses a threshold)"),
    stop_gradients=("old_log_prob and advantages", "the covariance and the selection (no gradient through them)",
                    "chosen tokens: corr = 0 removes their gradient"),
    degenerate=("empty mask gives 0 (nothing is chosen)",
                "a covariance exactly on cov_low or cov_high is outside the (strict) window; one within rounding "
                "of a bound is unspecified (conformance draws exact covariances)",
                "no candidate: plain PPO-clip",
                "fewer candidates than n: all candidates are zeroed"),
))


# =========================================================================== kl_cov_loss


def _kl_cov_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.policy._symbolic import problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

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
    out = sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return problem({"log_prob": sym}, out, bind(sym, lp))


def _pg_tokens(i: Mapping[str, Any]) -> F64:
    valid = valid_mask(i["mask"])
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
    valid = valid_mask(ctx.inputs["mask"])
    differs = ~ctx.budget.scaled(2).allows(tok, pg)
    kp = ctx.params.get("k_percent", 0.2)
    n = max(1, int(int(valid.sum()) * kp / 100)) if kp and valid.any() else 0
    assert int(differs.sum()) <= n, f"more than n = {n} tokens penalised"
    bud = ctx.budget.scaled(2)
    assert np.all(tok >= pg - (bud.atol + bud.rtol * np.abs(pg))), "the KL term is non-negative"


def _kl_cov_selection(ctx: PropertyContext) -> None:
    if not exact_covariances(ctx.inputs):
        valid = valid_mask(ctx.inputs["mask"])
        cov = np.sort(covariance(ctx.inputs["log_prob"], ctx.inputs["advantages"], valid)[valid])
        gaps = np.diff(cov)
        if ctx.dtype != "float64" or np.any((gaps > 0) & (gaps <= 1e-9 * (1.0 + np.abs(cov[1:])))):
            ctx.skip("covariances are rounded and near-tied: the order of near-ties is not specified")
    sel = _kl_cov_selected(ctx.inputs, ctx.params)
    (tok,) = ctx.call(mode="none")
    coef = ctx.params.get("coef", 1.0)
    i = ctx.inputs
    expect = _pg_tokens(i) + np.where(sel, coef * np.abs(i["log_prob"] - i["old_log_prob"]), 0.0)
    assert ctx.close(tok, expect, factor=2), "penalised tokens are the top-n covariance tokens"


def _kl_n(inputs: Mapping[str, Any], params: Mapping[str, Any], count: int | None = None) -> int:
    n_valid = int(valid_mask(inputs["mask"]).sum()) if count is None else count
    k = float(params.get("k_percent", 0.2))
    return 0 if k == 0 or n_valid == 0 else max(1, int(n_valid * k / 100))


def _kl_strict_subset(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return 0 < _kl_n(inputs, params) < int(valid_mask(inputs["mask"]).sum())


def _kl_tie_at_cut(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    valid = valid_mask(inputs["mask"])
    n = _kl_n(inputs, params)
    if not 0 < n < int(valid.sum()):
        return False
    cov = np.sort(covariance(np.asarray(inputs["log_prob"], dtype=np.float64),
                             np.asarray(inputs["advantages"], dtype=np.float64), valid)[valid])[::-1]
    return bool(cov[n - 1] == cov[n])


def _kl_padding_changes_n(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    size = int(np.size(inputs["mask"]))
    return _kl_n(inputs, params) not in (0, _kl_n(inputs, params, size)) and _kl_n(inputs, params) < size


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
    inputs=loss_inputs(),
    params=(
        ParamSpec("k_percent", 0.2, Interval(0.0, 100.0), "percentage of valid tokens penalised (0 = none)",
                  sensitive=True),
        ParamSpec("coef", 1.0, Interval(0.0, 100.0), "β (the code's ppo_kl_coef)"),
        loss_mode(),
    ),
    outputs=(loss_output(KL_COV_SCALE),),
    branches=(
        Branch("k selects a strict subset", "0 < n < N_valid: the covariance order decides which tokens are "
               "penalised", _kl_strict_subset),
        Branch("tie at the k-th covariance", "the n-th and (n+1)-th largest covariances are equal (the lowest flat "
               "index wins)", _kl_tie_at_cut),
        Branch("padding changes n", "fewer valid tokens than tokens and int(N_valid·k/100) differs from "
               "int(N·k/100)", _kl_padding_changes_n),
        EMPTY_MASK,
    ),
    properties=(
        Property("reduces_to_pg", "coef = 0 or k_percent = 0 gives −Aρ; at most n tokens change, upward",
                 _kl_cov_vs_pg),
        Property("selection", "penalised tokens are the top-n by covariance (ties: lowest index)", _kl_cov_selection),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages"))),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_kl_cov_problem, wrt=("log_prob",),
                          kinks="|logp − old| at logp = old on selected tokens (subgradient: any value in "
                                "[−coef, coef] added to −Aρ is correct); the selection is piecewise constant"),
    stop_gradients=("old_log_prob and advantages", "the covariance and the selection"),
    degenerate=("empty mask gives 0", "k_percent = 0 or coef = 0: vanilla PG",
                "exact covariance ties: lowest flat index first; covariances that differ only by rounding (not "
                "exactly representable) may be ordered either way by an implementation computing in another "
                "precision — unspecified (see the module docstring; conformance draws exact covariances)"),
))


# =========================================================================== token_covariance_score


def _cov_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    valid = valid_mask(inputs["mask"])
    if not valid.any():
        return 1.0
    lp = np.abs(np.asarray(inputs["log_prob"], dtype=np.float64)[valid])
    adv = np.abs(np.asarray(inputs["advantages"], dtype=np.float64)[valid])
    return max(1.0, 4.0 * float(lp.max()) * float(adv.max()))


#: |cov_i| <= |A_i − Ā|·|logp_i − mean logp| <= 4·max|A|·max|logp|, and the rounding of both centred factors
#: (the means included) is relative to max|A| and max|logp|.
COV_SCALE = Scale("max(1, 4·max|A_t|·max|logp_t| over valid tokens): a bound of |cov_t| and of the size the "
                  "rounding of the centred factors is relative to", _cov_scale)


def _cov_shift(ctx: PropertyContext) -> None:
    """cov is invariant to a common shift of the valid log-probs and of the advantages."""
    i = ctx.inputs
    (a,) = ctx.call()
    (b,) = ctx.call(log_prob=i["log_prob"] - 0.5, advantages=i["advantages"] + 0.25)
    assert ctx.close(b, a, factor=4), "a common shift of logp or A must not change the covariance"


def _cov_constant_advantage(ctx: PropertyContext) -> None:
    """A constant advantage gives cov = 0 exactly (A − Ā = 0)."""
    (a,) = ctx.call(advantages=np.full(np.shape(ctx.inputs["advantages"]), 1.5))
    assert np.all(np.asarray(a) == 0.0), "constant advantages must give exactly 0"


def _cov_bilinear(ctx: PropertyContext) -> None:
    """cov is linear in A (doubling A doubles cov exactly) and odd in A."""
    (a,) = ctx.call()
    (b,) = ctx.call(advantages=-2.0 * np.asarray(ctx.inputs["advantages"], dtype=np.float64))
    assert np.array_equal(np.asarray(b, dtype=np.float64), -2.0 * np.asarray(a, dtype=np.float64) + 0.0), \
        "cov(−2A) must be −2·cov(A) exactly"


def _cov_mean_identity(ctx: PropertyContext) -> None:
    """Σ_valid cov_i = Σ_valid (A_i − Ā)·logp_i (the centring of logp drops out of the sum)."""
    i = ctx.inputs
    valid = valid_mask(i["mask"])
    if not valid.any():
        ctx.skip("empty mask")
    (a,) = ctx.call()
    adv = np.asarray(i["advantages"], dtype=np.float64)[valid]
    lp = np.asarray(i["log_prob"], dtype=np.float64)[valid]
    expect = float(((adv - adv.mean()) * lp).sum())
    got = float(np.asarray(a, dtype=np.float64)[valid].sum())
    assert abs(got - expect) <= ctx.slack(4 * int(valid.sum())), f"Σ cov = {got}, expected {expect}"


def _masked_tokens(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    valid = valid_mask(inputs["mask"])
    return bool(valid.any() and not valid.all())


def _both_signs(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    c = np.asarray(outputs[0], dtype=np.float64)
    return bool(np.any(c > 0) and np.any(c < 0))


register(MethodSpec(
    id="token_covariance_score",
    family="policy",
    kind="estimator",
    summary="Per-token covariance score cov_t = (A_t − mean A)(logp_t − mean logp), means over the valid tokens of "
            "the call, 0 at masked tokens; the selection score of Clip-Cov and KL-Cov (no gradient).",
    papers=(ENTROPY_MECHANISM_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{OFFICIAL_COV} compute_policy_loss_clip_cov / compute_policy_loss_kl_cov (commit "
                        f"6e45694) and {VERL_CORE} (commit 012be9d), read via the search tool",
        official_code=f"{OFFICIAL_COV}:compute_policy_loss_kl_cov",
        notes="The fork's kl_cov computes cov = (A_v − mean A_v)(logp_v − mean logp_v) over the valid tokens "
              "(detached); clip_cov centres with masked_mean over response_mask and multiplies by the undetached "
              "log_prob (only compared, so no gradient flows). Both give this score; clip_cov_loss and "
              "kl_cov_loss use this helper. The means are over the valid tokens of the call, so the score depends "
              "on the micro-batch.",
        differences=(
            Difference("detach", "Cov(logp, A) (a statistic, no gradient)",
                       "clip_cov multiplies by the undetached log_prob (the graph exists but is only compared)",
                       "code", None),
        ),
    ),
    inputs=(
        InputSpec("log_prob", "log_probs", SEQ, "log π_θ(y_t) of the sampled tokens (detached)"),
        InputSpec("advantages", "advantages", SEQ, "per-token advantages"),
        InputSpec("mask", "mask", SEQ, "valid-token mask (bool, or numeric 0/1)", dtype="bool"),
    ),
    params=(),
    outputs=(OutputSpec("cov", "(B, T) covariance scores, 0 at masked tokens", shape=SEQ, scale=COV_SCALE),),
    branches=(
        Branch("padding excluded", "some tokens are masked: the means run over the valid tokens only",
               _masked_tokens),
        Branch("scores of both signs", "positive and negative covariances", _both_signs),
        EMPTY_MASK,
    ),
    properties=(
        Property("shift_invariant", "a common shift of logp or A leaves cov unchanged", _cov_shift),
        Property("constant_advantage", "constant advantages give exactly 0", _cov_constant_advantage),
        Property("linear_in_advantage", "cov(−2A) = −2·cov(A) exactly", _cov_bilinear),
        Property("sum_identity", "Σ_valid cov = Σ_valid (A − Ā)·logp", _cov_mean_identity),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "advantages"))),
    ),
    tolerance=default_tolerance(),
    stop_gradients=("everything: the score is a detached statistic (used only for selection)",),
    degenerate=("empty mask: all zeros", "one valid token: 0 (both factors are centred to 0)"),
))


# =========================================================================== entropy_change_covariance


def np_entropy(z: Any) -> Any:
    """Softmax entropy of each row of ``z`` (float64; −inf entries have p = 0), from the definition."""
    z = np.asarray(z, dtype=np.float64)
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=-1, keepdims=True)
    p = e / s
    logp = np.where(p > 0, z - m - np.log(s), 0.0)
    return -(p * logp).sum(axis=-1)


def _ecc_delta(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    a = np.asarray(inputs["advantages"], dtype=np.float64)
    eta = float(params.get("eta", 1.0))
    if str(params.get("update", "npg")) == "pg":
        m = np.max(z, axis=-1, keepdims=True)
        e = np.exp(z - m)
        return eta * a * e / e.sum(axis=-1, keepdims=True)
    return eta * a


def _ecc_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    if z.size == 0:
        return 1.0
    d = np.abs(_ecc_delta(inputs, params))
    fin = z[np.isfinite(z)]
    spread = min(float(fin.max() - fin.min()), 100.0) if fin.size else 0.0
    return max(1.0, float(d.max())) * (1.0 + math.log(z.shape[-1]) + spread)


ECC_SCALE = Scale("max(1, max|Δz|)·(1 + log V + min(range of finite logits, 100)): a bound of "
                  "|Cov(log π, Δz)| (|log π| of the entries that carry probability is at most log V + the range)",
                  _ecc_scale)


def _ecc_first_order(ctx: PropertyContext) -> None:
    """−Cov(log π, Δz) is the derivative of H(softmax(z + t·Δz)) at t = 0: it equals a float64 central difference
    of the softmax entropy (written independently), in every dtype."""
    z = np.asarray(ctx.inputs["logits"], dtype=np.float64)
    if z.size == 0:
        ctx.skip("empty")
    fin = z[np.isfinite(z)]
    if fin.size and float(fin.max() - fin.min()) > 60.0:
        ctx.skip("logit range too large for a float64 finite difference of H")
    d = np.where(np.isfinite(z), _ecc_delta(ctx.inputs, ctx.params), 0.0)
    dmax = max(1.0, float(np.max(np.abs(d))))
    h = 1e-5 / dmax
    expect = (np_entropy(z + h * d) - np_entropy(z - h * d)) / (2 * h)
    (est,) = ctx.call()
    tol = ctx.slack(4) + 1e-7 * dmax * (1.0 + math.log(z.shape[-1])) ** 2
    err = np.abs(np.asarray(est, dtype=np.float64) - expect)
    assert np.all(err <= tol), f"estimate {np.asarray(est).ravel()[:4]} vs dH/dt {expect.ravel()[:4]} (tol {tol:.3g})"


def _ecc_constant_update(ctx: PropertyContext) -> None:
    """NPG with a constant advantage (Δz = c: a shift of the logits) changes nothing."""
    (a,) = ctx.call(advantages=np.full(np.shape(ctx.inputs["advantages"]), 1.5), update="npg")
    assert np.all(np.abs(np.asarray(a, dtype=np.float64)) <= ctx.slack(4)), "a constant logit shift must give 0"


def _ecc_linear_eta(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    (b,) = ctx.call(eta=0.5 * float(ctx.params.get("eta", 1.0)))
    assert ctx.close(2.0 * np.asarray(b, dtype=np.float64), a, factor=4), "the estimate must be linear in η"


def _ecc_shift(ctx: PropertyContext) -> None:
    z = np.asarray(ctx.inputs["logits"], dtype=np.float64)
    (a,) = ctx.call()
    (b,) = ctx.call(logits=z - 0.5)
    assert ctx.close(b, a, factor=8), "a common shift of the logits must not change the estimate"


def _ecc_hit(kind: str) -> Any:
    def hit(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
        z = np.asarray(i["logits"])
        out = np.asarray(o[0], dtype=np.float64)
        if kind == "pg":
            return str(p.get("update", "npg")) == "pg" and z.size > 0
        if kind == "neg_inf":
            return bool(np.any(np.isneginf(z)))
        if kind == "up":
            return bool(np.any(out > 1e-9))
        return bool(np.any(out < -1e-9))
    return hit


register(MethodSpec(
    id="entropy_change_covariance",
    family="policy",
    kind="estimator",
    summary="First-order entropy change of a softmax policy under a logit update Δz: ΔH ≈ −Cov_{a~π}(log π(a), Δz_a), "
            "with Δz = η·A (natural PG) or η·π·A (vanilla PG).",
    papers=(ENTROPY_MECHANISM_2025,),
    provenance=Provenance(
        confidence="paper",
        checked_against="the paper's Lemma (entropy dynamics of softmax policies) and its PG / NPG corollaries "
                        "(arXiv:2505.22617, §3); no official code (the fork computes only the token covariance "
                        "score); checked against the exact derivative dH(softmax(z + ηD))/dη at η = 0 with mpmath "
                        "(tests/policy/test_covariance.py)",
        official_code=None,
        notes="H(π^{k+1}) − H(π^k) ≈ −Cov_{a~π^k}(log π^k(a), z^{k+1}_a − z^k_a); vanilla policy gradient on a "
              "softmax policy moves the logits by η·π(a)·A(a), natural policy gradient by η·A(a). The estimate "
              "is exactly the derivative in η at η = 0 (the property first_order checks the O(η²) remainder). "
              "Computed in the centred form Σ π (log π − E log π)(Δz − E Δz); −inf logits (π = 0) contribute 0.",
        differences=(
            Difference("update rule", "Δz = η·π·A (PG) and Δz = η·A (NPG)", "no code", "paper", "update"),
        ),
    ),
    inputs=(
        InputSpec("logits", "logits", ("...", "V"), "current logits z (categories last); −inf entries allowed",
                  allow_neg_inf=True),
        InputSpec("advantages", "values", ("...", "V"), "per-action advantages A(a) (or the logit update itself "
                  "with update='npg', eta=1)"),
    ),
    params=(
        ParamSpec("eta", 1.0, Interval(0.0, 100.0), "step size η"),
        ParamSpec("update", "npg", Choice(("npg", "pg")), "npg: Δz = η·A; pg: Δz = η·π·A"),
    ),
    outputs=(OutputSpec("delta_entropy", "the first-order entropy change per row (...)", shape=("...",),
                        scale=ECC_SCALE),),
    branches=(
        Branch("vanilla PG update", "update = 'pg' (Δz = η·π·A)", _ecc_hit("pg")),
        Branch("-inf logits", "zero-probability actions (contribute 0)", _ecc_hit("neg_inf")),
        Branch("entropy rises", "a row with a positive estimate", _ecc_hit("up")),
        Branch("entropy falls", "a row with a negative estimate", _ecc_hit("down")),
    ),
    properties=(
        Property("first_order", "equals dH(softmax(z + tΔz))/dt at t = 0 (float64 central difference)",
                 _ecc_first_order),
        Property("constant_update", "a constant NPG update (a logit shift) gives 0", _ecc_constant_update),
        Property("linear_in_eta", "halving η halves the estimate", _ecc_linear_eta),
        Property("shift_invariant", "a common logit shift changes nothing", _ecc_shift),
    ),
    tolerance=default_tolerance(),
    degenerate=("one category (V = 1): 0", "a row of only −inf logits is an error (no distribution)"),
))
