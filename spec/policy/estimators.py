"""Spec of the ``estimators`` group of the ``policy`` family: outcome-reward advantage estimators with a
group baseline, one advantage per response (RLOO, OPO, GRPO pass@k).

Checked against verl 0.9.1 (the PyPI wheel ``verl-0.9.1-py3-none-any.whl``, ``verl/version/version`` =
0.9.1), ``verl/trainer/ppo/core_algos.py``; the same functions are unchanged in the volcengine/verl
snapshot b178a3c (2026-01-29, 0.8.0.dev) and commit 012be9d read with the search tool.
"""

from __future__ import annotations

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
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    Scale,
    default_tolerance,
)
from spec.policy._common import F64, VERL_CORE
from spec.registry import register

__all__: list[str] = []

RLOO_2024 = Paper("Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs",
                  2024, "2402.14740")
OPO_2025 = Paper("On-Policy RL with Optimal Reward Baseline", 2025, "2505.23585")
PASSK_2025 = Paper("Optimizing Language Models for Inference Time Objectives using Reinforcement Learning", 2025,
                   "2503.19595")
VERL_091 = f"verl 0.9.1 (PyPI wheel) {VERL_CORE.split(' ', 1)[1]}"

REWARDS = InputSpec("rewards", "rewards", ("N",), "scalar (outcome) reward per response")
GROUPS = InputSpec("group_ids", "group_ids", ("N",), "integer group (prompt) id per response", dtype="int")
ONE_PER_RESPONSE = "advantage per response, shape (N,)"


# --------------------------------------------------------------------------- group helpers (from the definitions)


def _groups(inputs: Mapping[str, Any]) -> list[npt.NDArray[np.int64]]:
    g = np.asarray(inputs["group_ids"])
    return [np.flatnonzero(g == gid) for gid in np.unique(g)]


def _rewards(inputs: Mapping[str, Any]) -> F64:
    return np.asarray(inputs["rewards"], dtype=np.float64)


def _singleton(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(idx.size == 1 for idx in _groups(inputs))


def _varied(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    r = _rewards(inputs)
    return any(idx.size >= 2 and np.any(r[idx] != r[idx][0]) for idx in _groups(inputs))


def _constant(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    r = _rewards(inputs)
    return any(idx.size >= 2 and np.all(r[idx] == r[idx][0]) for idx in _groups(inputs))


SINGLETON = Branch("group of size one", "a response alone in its group", _singleton)
VARIED = Branch("non-constant group", "a group of size >= 2 whose rewards differ", _varied)
CONSTANT = Branch("constant group", "a group of size >= 2 whose rewards are all equal (A = 0 exactly)", _constant)


def _reward_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    r = _rewards(inputs)
    return max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0


#: A baseline-subtracted reward is a difference of rewards: its rounding is relative to the largest |r|.
REWARD_SCALE = Scale("max(1, largest |r|): a difference of rewards (times k/(k−1) ≤ 2 for RLOO)", _reward_scale)


def _permutation(ctx: PropertyContext) -> None:
    r = ctx.inputs["rewards"]
    perm = ctx.rng.permutation(r.shape[0])
    (a,) = ctx.call()
    over = {k: np.asarray(v)[perm] for k, v in ctx.inputs.items()}
    (b,) = ctx.call(**over)
    assert ctx.close(b, np.asarray(a)[perm], factor=2), "not permutation-equivariant"


def _relabel(ctx: PropertyContext) -> None:
    g = np.asarray(ctx.inputs["group_ids"])
    (a,) = ctx.call()
    (b,) = ctx.call(group_ids=(g * 3 - 1000).astype(np.int64))
    assert ctx.close(b, a), "relabelling the groups (g → 3g − 1000) changed the advantages"


def _shift(ctx: PropertyContext) -> None:
    r = _rewards(ctx.inputs)
    if np.any(np.abs(r) > 1e3):
        ctx.skip("rewards above 1e3")
    multi = np.zeros(r.shape, dtype=bool)
    for idx in _groups(ctx.inputs):
        multi[idx] = idx.size >= 2
    if not multi.any():
        ctx.skip("no group of size >= 2")
    (a,) = ctx.call()
    (b,) = ctx.call(rewards=r + 0.5)
    assert ctx.close(np.asarray(b)[multi], np.asarray(a)[multi], factor=4), \
        "a constant added to every reward changed the advantages of groups of size >= 2"


# =========================================================================== rloo_advantages


def _rloo_expected(r: F64, groups: list[npt.NDArray[np.int64]], singleton: str) -> F64:
    out = np.zeros(r.shape)
    for idx in groups:
        k = idx.size
        for i in idx:
            if k == 1:
                out[i] = r[i] if singleton == "reward" else 0.0
            else:
                others = [r[j] for j in idx if j != i]
                out[i] = r[i] - sum(others) / (k - 1)
    return out


def _rloo_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    expect = _rloo_expected(_rewards(ctx.inputs), _groups(ctx.inputs), ctx.params.get("singleton", "reward"))
    assert ctx.close(a, expect, factor=4), f"{a} != leave-one-out {expect}"


def _rloo_zero_sum(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    a = np.asarray(a, dtype=np.float64)
    groups = [idx for idx in _groups(ctx.inputs) if idx.size >= 2]
    if not groups:
        ctx.skip("no group of size >= 2")
    for idx in groups:
        tol = ctx.slack(4) * (float(np.abs(a[idx]).sum()) + 1.0)
        assert abs(float(a[idx].sum())) <= tol, f"RLOO advantages of a group sum to {a[idx].sum()}, not 0"


def _rloo_singletons(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    r = _rewards(ctx.inputs)
    alone = [int(idx[0]) for idx in _groups(ctx.inputs) if idx.size == 1]
    if not alone:
        ctx.skip("no group of size one")
    expect = r[alone] if ctx.params.get("singleton", "reward") == "reward" else np.zeros(len(alone))
    assert np.all(np.asarray(a)[alone] == expect), "singletons: A = r ('reward') or exactly 0 ('zero')"


register(MethodSpec(
    id="rloo_advantages",
    family="policy",
    kind="advantage",
    summary="RLOO advantage A_i = r_i − mean of the other rewards of the group = k/(k−1)·(r_i − mean_G r); "
            "groups of size one give r (verl rloo) or 0 (verl rloo_vectorized).",
    papers=(RLOO_2024,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{VERL_091} compute_rloo_outcome_advantage and compute_rloo_vectorized_outcome_advantage "
                        "(unchanged at volcengine/verl b178a3c); the paper's leave-one-out estimator (arXiv "
                        "2402.14740, eq. for RLOO_k)",
        official_code=f"{VERL_CORE}:compute_rloo_outcome_advantage",
        notes="The paper's baseline for sample i is the mean reward of the other k − 1 samples of the prompt; "
              "verl computes the same as r·k/(k−1) − mean·k/(k−1). verl sums token-level rewards over the "
              "whole row (masked positions included) to get the outcome reward: this method takes that "
              "outcome reward directly and returns one advantage per response (verl broadcasts it over the "
              "response mask). All-equal rewards in a group give exactly 0.",
        differences=(
            Difference("groups of size 1", "undefined (k ≥ 2)", "verl rloo: A = r (no baseline); verl "
                       "rloo_vectorized: A = 0", "code", "singleton"),
        ),
    ),
    inputs=(REWARDS, GROUPS),
    params=(ParamSpec("singleton", "reward", Choice(("reward", "zero")),
                      "a group of size one: 'reward' gives A = r (verl rloo), 'zero' gives A = 0 "
                      "(verl rloo_vectorized)"),),
    outputs=(OutputSpec("advantages", ONE_PER_RESPONSE, shape=("N",), scale=REWARD_SCALE),),
    branches=(SINGLETON, VARIED, CONSTANT),
    properties=(
        Property("definition", "r_i minus the mean of the other rewards of its group", _rloo_definition),
        Property("zero_sum_per_group", "Σ_i A_i = 0 within each group of size ≥ 2", _rloo_zero_sum),
        Property("singletons", "a group of size one gives r or exactly 0 (singleton)", _rloo_singletons),
        Property("shift_invariance", "adding a constant to every reward leaves groups of size ≥ 2 unchanged",
                 _shift),
        Property("permutation_equivariance", "permuting responses permutes advantages", _permutation),
        Property("relabelling", "group ids are labels: an injective relabelling changes nothing", _relabel),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages are constants)",),
    degenerate=("N = 0 gives an empty output", "a group of size one gives r or 0 (singleton)",
                "a group with all-equal rewards gives A = 0 exactly"),
))


# =========================================================================== opo_advantages


def _lengths(inputs: Mapping[str, Any]) -> F64:
    valid: F64 = np.asarray(np.asarray(inputs["mask"]) != 0, dtype=np.float64)
    return np.asarray(valid.sum(axis=-1), dtype=np.float64)


def _opo_expected(r: F64, lengths: F64, groups: list[npt.NDArray[np.int64]], singleton: str) -> F64:
    out = np.zeros(r.shape)
    for idx in groups:
        if idx.size == 1 and singleton == "reward":
            out[idx] = r[idx]
            continue
        w = lengths[idx]
        base = float(np.dot(w, r[idx]) / w.sum()) if w.sum() > 0 else float(np.mean(r[idx]))
        out[idx] = r[idx] - base
    return out


def _opo_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    expect = _opo_expected(_rewards(ctx.inputs), _lengths(ctx.inputs), _groups(ctx.inputs),
                           ctx.params.get("singleton", "formula"))
    assert ctx.close(a, expect, factor=4), f"{a} != r − length-weighted mean {expect}"


def _opo_weighted_zero_sum(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    a = np.asarray(a, dtype=np.float64)
    w = _lengths(ctx.inputs)
    groups = [idx for idx in _groups(ctx.inputs) if idx.size >= 2 and w[idx].sum() > 0]
    if not groups:
        ctx.skip("no group of size >= 2 with a valid token")
    for idx in groups:
        tol = ctx.slack(4) * (float(np.dot(w[idx], np.abs(a[idx]))) + 1.0)
        assert abs(float(np.dot(w[idx], a[idx]))) <= tol, "Σ ℓ_i A_i ≠ 0 in a group"


def _opo_equal_lengths(ctx: PropertyContext) -> None:
    """With every response of the same length the baseline is the plain mean (GRPO's centred reward)."""
    m = np.asarray(ctx.inputs["mask"])
    if m.shape[1] == 0:
        ctx.skip("T = 0")
    (a,) = ctx.call(mask=np.ones(m.shape, dtype=bool))
    r = _rewards(ctx.inputs)
    expect = np.zeros(r.shape)
    for idx in _groups(ctx.inputs):
        keep = idx.size == 1 and ctx.params.get("singleton", "formula") == "reward"
        expect[idx] = r[idx] if keep else r[idx] - r[idx].mean()
    assert ctx.close(a, expect, factor=4), "equal lengths must give r − mean_G r"


def _empty_group(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    w = _lengths(inputs)
    r = _rewards(inputs)
    return any(idx.size >= 2 and w[idx].sum() == 0 and np.any(r[idx] != r[idx][0]) for idx in _groups(inputs))


def _unequal(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    w = _lengths(inputs)
    r = _rewards(inputs)
    return any(idx.size >= 2 and np.any(w[idx] != w[idx][0]) and np.any(r[idx] != r[idx][0])
               for idx in _groups(inputs))


register(MethodSpec(
    id="opo_advantages",
    family="policy",
    kind="advantage",
    summary="OPO advantage A_i = r_i − Σ_G ℓ_j r_j / Σ_G ℓ_j: the reward minus the length-weighted mean reward "
            "of the group (ℓ = valid tokens of the response).",
    papers=(OPO_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{VERL_091} compute_opo_outcome_advantage (unchanged at volcengine/verl b178a3c); the "
                        "paper's optimal baseline b* = E[‖∇ log π‖² r]/E[‖∇ log π‖²] approximated by length",
        official_code=f"{VERL_CORE}:compute_opo_outcome_advantage",
        notes="Lengths are the numbers of valid mask entries of each row (verl: response_mask.sum(-1)). verl sums "
              "token-level rewards over the row to get the outcome reward; this method takes it directly and "
              "returns one advantage per response. A group whose responses are all empty (Σ ℓ = 0) uses the "
              "unweighted mean (the limit of equal weights; verl divides 0 by 0). All-equal rewards give "
              "exactly 0.",
        differences=(
            Difference("groups of size 1", "the formula: b = r, so A = 0", "verl: baseline 0, A = r", "paper",
                       "singleton"),
            Difference("all responses of a group empty", "undefined (0/0)", "verl: NaN", "paper", None),
        ),
    ),
    inputs=(REWARDS, InputSpec("mask", "mask", ("N", "T"), "valid-token mask of each response (bool, or "
                               "numeric 0/1); its row sums are the lengths ℓ", dtype="bool"), GROUPS),
    params=(ParamSpec("singleton", "formula", Choice(("formula", "reward")),
                      "a group of size one: 'formula' gives b = r (A = 0, the paper), 'reward' baseline 0 "
                      "(A = r, verl)"),),
    outputs=(OutputSpec("advantages", ONE_PER_RESPONSE, shape=("N",), scale=REWARD_SCALE),),
    branches=(SINGLETON, VARIED, CONSTANT,
              Branch("unequal lengths", "a non-constant group whose responses differ in length (the weights "
                     "matter)", _unequal),
              Branch("empty group", "a non-constant group of size >= 2 whose responses are all empty (plain "
                     "mean)", _empty_group)),
    properties=(
        Property("definition", "r_i minus the length-weighted mean of its group", _opo_definition),
        Property("weighted_zero_sum", "Σ_i ℓ_i A_i = 0 within each group with a valid token",
                 _opo_weighted_zero_sum),
        Property("equal_lengths_centre", "equal lengths give r − mean_G r", _opo_equal_lengths),
        Property("shift_invariance", "adding a constant to every reward leaves groups of size ≥ 2 unchanged",
                 _shift),
        Property("permutation_equivariance", "permuting responses permutes advantages", _permutation),
        Property("relabelling", "group ids are labels: an injective relabelling changes nothing", _relabel),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages are constants)",),
    degenerate=("N = 0 gives an empty output", "a group of size one gives 0 (formula) or r (singleton='reward')",
                "a group whose responses are all empty uses the unweighted mean",
                "a group with all-equal rewards gives A = 0 exactly"),
))


# =========================================================================== grpo_passk_advantages


def _passk_expected(r: F64, groups: list[npt.NDArray[np.int64]], scale: str, eps: float) -> F64:
    out = np.zeros(r.shape)
    for idx in groups:
        if idx.size < 2:
            continue
        vals = r[idx]
        for pos, i in enumerate(idx):
            others = np.delete(vals, pos)
            out[i] = vals.max() - others.max()  # leave-one-out control variate of the max
        if scale == "std" and np.any(out[idx] != 0):
            out[idx] = out[idx] / (vals.std(ddof=1) + eps)
    return out


def _passk_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    expect = _passk_expected(_rewards(ctx.inputs), _groups(ctx.inputs), ctx.params.get("scale", "none"),
                             ctx.params.get("eps", 1e-6))
    assert ctx.close(a, expect, factor=4), f"{a} != max − leave-one-out max {expect}"


def _passk_one_per_group(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    a = np.asarray(a)
    r = _rewards(ctx.inputs)
    for idx in _groups(ctx.inputs):
        nz = idx[a[idx] != 0]
        assert nz.size <= 1, "more than one response of a group has a non-zero advantage"
        if nz.size:
            assert r[nz[0]] == r[idx].max() and a[nz[0]] > 0, "the non-zero advantage is not the best's, or ≤ 0"


def _passk_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    base = _reward_scale(inputs, params)
    if params.get("scale", "none") == "none":
        return base
    largest = max((idx.size for idx in _groups(inputs)), default=1)
    return max(base, float(np.sqrt(largest)))


def _tie_at_top(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    r = _rewards(inputs)
    return any(idx.size >= 2 and np.sum(r[idx] == r[idx].max()) >= 2 and np.any(r[idx] != r[idx][0])
               for idx in _groups(inputs))


register(MethodSpec(
    id="grpo_passk_advantages",
    family="policy",
    kind="advantage",
    summary="GRPO pass@k advantage: the best response of a group gets r_(1) − r_(2) (the two largest rewards), "
            "every other 0; scale='std' divides by std_G(r) + eps (verl's default).",
    papers=(PASSK_2025,),
    provenance=Provenance(
        confidence="inferred",
        checked_against=f"{VERL_091} compute_grpo_passk_outcome_advantage (unchanged at volcengine/verl b178a3c), "
                        "whose docstring cites arXiv 2503.19595 (Tang, Zheng, Synnaeve, Munos; ICML 2025: title "
                        "and authors confirmed from the arXiv listing and PMLR page); the paper's leave-one-out "
                        "control variate for k-sample objectives (k = n: max_j r_j − max_{j≠i} r_j) from its "
                        "abstract and summaries — its equations were not read, so the unnormalised default is the "
                        "reading of the leave-one-out form, verl's std scaling the flag",
        official_code=f"{VERL_CORE}:compute_grpo_passk_outcome_advantage",
        notes="max_j r_j − max_{j≠i} r_j is 0 for every i except the unique best, where it is r_(1) − r_(2); with "
              "a tie at the top it is 0 for all, so which tied index verl's torch.topk picks never changes a "
              "value. The std is the unbiased group std (torch.std), as in verl. Groups of size one give 0 "
              "(verl raises ValueError: pass@k needs 2 samples).",
        differences=(
            Difference("std normalisation", "the leave-one-out max difference, unnormalised", "verl: divides by "
                       "std_G + eps when norm_adv_by_std_in_grpo (default True)", "paper", "scale"),
            Difference("groups of size 1", "undefined (n ≥ 2)", "verl raises ValueError; here A = 0", "code",
                       None),
        ),
    ),
    inputs=(REWARDS, GROUPS),
    params=(ParamSpec("scale", "none", Choice(("none", "std")),
                      "'none' (the paper) or 'std' (verl norm_adv_by_std_in_grpo=True: divide by std_G + eps)"),
            ParamSpec("eps", 1e-6, Interval(0.0, 1.0), "added to the group std when scale='std' (verl epsilon)")),
    outputs=(OutputSpec("advantages", ONE_PER_RESPONSE, shape=("N",), scale=Scale(
        "scale='none': max(1, largest |r|); 'std': also sqrt(G_max) (r_(1) − r_(2) ≤ sqrt(G)·std)", _passk_scale)),),
    branches=(SINGLETON, VARIED, CONSTANT,
              Branch("tie at the top", "a non-constant group whose maximum is shared (every A = 0)", _tie_at_top)),
    properties=(
        Property("definition", "max_j r_j − max_{j≠i} r_j (÷ std_G + eps with scale='std')", _passk_definition),
        Property("one_per_group", "at most one non-zero advantage per group, positive, at a best response",
                 _passk_one_per_group),
        Property("shift_invariance", "adding a constant to every reward leaves groups of size ≥ 2 unchanged",
                 _shift),
        Property("permutation_equivariance", "permuting responses permutes advantages", _permutation),
        Property("relabelling", "group ids are labels: an injective relabelling changes nothing", _relabel),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages are constants)",),
    degenerate=("N = 0 gives an empty output", "a group of size one gives 0", "a tie at the top gives 0 for all"),
))
