"""Spec of the ``advantages`` group of the ``policy`` family: the GRPO group-relative advantage."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import (
    Branch,
    Choice,
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
    default_tolerance,
)
from spec.policy._common import DEEPSEEKMATH_2024, DR_GRPO_2025, F64, VERL_CORE
from spec.registry import register

__all__: list[str] = []


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
    groups = [g == gid for gid in np.unique(g) if int((g == gid).sum()) >= 2]
    if not groups:
        ctx.skip("no group of size >= 2")
    for sel in groups:
        # the sum cancels terms of size |A|: its rounding is relative to Σ|A| (output units)
        tol = ctx.slack(4) * (float(np.abs(a[sel]).sum()) + 1.0)
        assert abs(float(a[sel].sum())) <= tol, f"group {g[sel][0]}: advantages sum to {a[sel].sum()}, not 0"


def _adv_singletons(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    _, _, size = _group_stats(r, g)
    one = size == 1
    if not one.any():
        ctx.skip("no group of size one")
    eps = ctx.params.get("eps", 1e-6)
    expect = r / (1.0 + eps) if ctx.params.get("scale", "std") == "std" else r
    assert ctx.close(np.asarray(a)[one], expect[one]), "singleton groups: verl uses mean 0, std 1"


def _adv_constant_groups(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    const = np.full(r.shape, 0.75)
    _, _, size = _group_stats(const, g)
    if not np.any(size > 1):
        ctx.skip("no group of size >= 2")
    (a,) = ctx.call(rewards=const)
    assert np.all(np.asarray(a)[size > 1] == 0.0), "all-equal rewards in a group must give A = 0 exactly"


def _adv_scale(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    g = np.asarray(ctx.inputs["group_ids"])
    if np.any(np.abs(r) > 1e3):
        ctx.skip("rewards above 1e3: doubling them leaves the drawn range")
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
    ok = diff <= bud.atol + bud.rtol * np.maximum(np.abs(a), np.abs(np.asarray(b, dtype=np.float64))) + slack
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
            denom = std + eps  # a denominator that is 0 (std underflows, eps = 0) gives 0: see `degenerate`
            expect = np.where((centred == 0) | (denom == 0), 0.0, centred / np.where(denom == 0, 1.0, denom))
    assert ctx.close(a, expect, factor=4), f"{a} != {expect}"


def _sizes(inputs: Mapping[str, Any]) -> npt.NDArray[np.int64]:
    g = np.asarray(inputs["group_ids"])
    _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    return np.asarray(counts[inverse], dtype=np.int64)


def _groups(inputs: Mapping[str, Any]) -> list[F64]:
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    g = np.asarray(inputs["group_ids"])
    return [r[g == gid] for gid in np.unique(g)]


def _non_constant_group(inputs: Mapping[str, Any]) -> bool:
    return any(v.size >= 2 and np.any(v != v[0]) for v in _groups(inputs))


def _constant_group(inputs: Mapping[str, Any]) -> bool:
    return any(v.size >= 2 and np.all(v == v[0]) for v in _groups(inputs))


def _advantage_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    if params.get("scale", "std") == "none":
        return max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
    largest = int(np.max(_sizes(inputs))) if r.size else 1
    return max(1.0, float(np.sqrt(max(largest - 1, 1))), float(np.max(np.abs(r))) if r.size else 0.0)


#: |A_i| ≤ sqrt(G − 1) for a group of G ≥ 2 (the unbiased std), |A| = |r|/(1 + eps) for a singleton; centred
#: rewards (scale='none') are of the size of the rewards.
ADVANTAGE_SCALE = Scale("scale='std': max(1, sqrt(G_max − 1), largest |r|) (|A| ≤ sqrt(G − 1) in a group of G ≥ 2, "
                        "|r|/(1+eps) alone); scale='none': max(1, largest |r|)", _advantage_scale)


def _zero_std_nan(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """verl with eps = 0: a group of two or more equal rewards gives (r − mean)/0 = 0/0 = NaN."""
    if params.get("scale", "std") != "std" or float(params.get("eps", 1e-6)) != 0.0:
        return None
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    g = np.asarray(inputs["group_ids"])
    bad = np.zeros(r.shape, dtype=bool)
    for label in np.unique(g):
        members = g == label
        if members.sum() >= 2 and np.all(r[members] == r[members][0]):
            bad |= members
    if not np.any(bad):
        return None
    (ours,) = reference(inputs, params)
    return (np.where(bad, math.nan, ours),)


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
            Difference("eps", "GRPO: (r − mean)/std", "verl adds eps = 1e-6 to std; TRL adds 1e-4", "code", "eps",
                       name="trl_eps", params={"eps": 1e-4}),
            Difference("std normalisation", "GRPO divides by std", "Dr. GRPO / verl norm_adv_by_std_in_grpo=False "
                       "only centres", "paper", "scale", name="dr_grpo_centred", params={"scale": "none"}),
            Difference("groups of size 1", "undefined (G ≥ 2)", "verl: mean 0, std 1 (A = r/(1+eps)); torch.std of "
                       "one value would be NaN", "code", None, name="singleton_std_nan"),
            Difference("zero std with eps = 0", "undefined (0/0)",
                       "verl (and TRL) divide 0 by 0: NaN for a group of equal rewards when eps = 0; we return A = 0",
                       "paper", None, name="zero_std_nan", other=_zero_std_nan),
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
    outputs=(OutputSpec("advantages", "advantage per response, shape (N,)", shape=("N",), scale=ADVANTAGE_SCALE),),
    branches=(
        Branch("group of size one", "a response alone in its group (verl: mean 0, std 1)",
               lambda i, p, o: bool(np.any(_sizes(i) == 1))),
        Branch("non-constant group", "a group of size >= 2 whose rewards differ (the std is used)",
               lambda i, p, o: _non_constant_group(i)),
        Branch("constant group", "a group of size >= 2 whose rewards are all equal (A = 0 exactly)",
               lambda i, p, o: _constant_group(i)),
    ),
    properties=(
        Property("definition", "equals the group formula with verl's conventions", _adv_formula),
        Property("zero_sum_per_group", "Σ_i A_i = 0 within each group of size ≥ 2", _adv_zero_sum),
        Property("singletons", "groups of size 1 give r/(1+eps) (std) or r (none), as verl", _adv_singletons),
        Property("constant_groups_zero", "all-equal rewards in a group of size ≥ 2 give exactly 0",
                 _adv_constant_groups),
        Property("scale_and_sign", "A(−r) = −A(r); A(2r) = A(r) up to eps (std) or 2A(r) (none)", _adv_scale),
        Property("permutation_equivariance", "permuting responses permutes advantages", _adv_permutation),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages are constants)",),
    degenerate=(
        "N = 0 gives an empty output",
        "a group of size 1 gets mean 0 and std 1 (verl)",
        "a group with all-equal rewards gets A = 0 exactly, also with eps = 0",
        "a group whose std underflows to 0 (rewards ~1e-230 apart) with eps = 0 gets A = 0, not ±inf (the "
        "exact value would be ±1/sqrt(2) for two rewards: a known limit of the plain two-pass formula)",
    ),
))


