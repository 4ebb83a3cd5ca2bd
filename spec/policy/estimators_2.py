"""Spec of the ``estimators_2`` group of the ``policy`` family: per-token advantage estimators (GAE,
REINFORCE++ with its group-baseline variant, ReMax) and the REINFORCE loss.

Checked against verl 0.9.1 (PyPI wheel ``verl-0.9.1``, ``verl/trainer/ppo/core_algos.py`` and
``verl/utils/torch_functional.py`` masked_whiten); compared with the volcengine/verl snapshot b178a3c
(2026-01-29), where REINFORCE++ still reset its running return at masked tokens.

The valid tokens of a row, in order, are its trajectory: a masked position is skipped (it neither
receives nor passes on reward, value or TD error; the recursion carries across it), verl's rule for
observation tokens. Outputs are 0 at masked positions.
"""

from __future__ import annotations

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
    Paper,
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
    F64,
    LOSS_MODES,
    VERL_CORE,
    mask_input,
    masked_irrelevant_factory,
    np_aggregate,
    some_empty_rows,
    valid_mask,
)
from spec.registry import register

__all__: list[str] = []

GAE_2015 = Paper("High-Dimensional Continuous Control Using Generalized Advantage Estimation", 2015, "1506.02438")
RPP_2025 = Paper("REINFORCE++: Stabilizing Critic-Free Policy Optimization with Global Advantage Normalization",
                 2025, "2501.03262")
REMAX_2023 = Paper("ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method for Aligning Large "
                   "Language Models", 2023, "2310.10505")
NOISE_MASK_2024 = Paper("Policy Gradient-Driven Noise Mask", 2024, "2406.14568")
VERL_091 = f"verl 0.9.1 (PyPI wheel) {VERL_CORE.split(' ', 1)[1]}"
SEQ = ("B", "T")
WHITEN_EPS = 1e-8

TOKEN_REWARDS = InputSpec("rewards", "values", SEQ, "token-level rewards (an outcome reward sits on the last valid "
                          "token; KL penalties may be spread over the tokens)")


# --------------------------------------------------------------------------- independent formulas


def _valid_rows(inputs: Mapping[str, Any]) -> tuple[npt.NDArray[np.bool_], list[npt.NDArray[np.int64]]]:
    valid = valid_mask(inputs["mask"])
    return valid, [np.flatnonzero(row) for row in valid]


def np_whiten(x: F64, valid: npt.NDArray[np.bool_]) -> F64:
    n = int(valid.sum())
    if n < 2:
        return np.zeros(x.shape)
    mean = float(np.mean(x[valid]))
    var = float(np.var(x[valid], ddof=1))
    return np.where(valid, (x - mean) / np.sqrt(var + WHITEN_EPS), 0.0)


def np_gae(inputs: Mapping[str, Any], gamma: float, lam: float) -> F64:
    """A_t = Σ_l (γλ)^l δ_{t+l} as an explicit sum over the valid tokens of each row (not the recursion)."""
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    v = np.asarray(inputs["values"], dtype=np.float64)
    _, idx_rows = _valid_rows(inputs)
    out = np.zeros(r.shape)
    for b, idx in enumerate(idx_rows):
        vals = v[b, idx]
        nxt = np.append(vals[1:], 0.0)
        delta = r[b, idx] + gamma * nxt - vals
        for k in range(idx.size):
            out[b, idx[k]] = sum((gamma * lam) ** l * delta[k + l] for l in range(idx.size - k))
    return out


def np_discounted(inputs: Mapping[str, Any], gamma: float) -> F64:
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    _, idx_rows = _valid_rows(inputs)
    out = np.zeros(r.shape)
    for b, idx in enumerate(idx_rows):
        for k in range(idx.size):
            out[b, idx[k]] = sum(gamma ** l * r[b, idx[k + l]] for l in range(idx.size - k))
    return out


def np_group_centred(inputs: Mapping[str, Any]) -> F64:
    valid = valid_mask(inputs["mask"])
    score = np.where(valid, np.asarray(inputs["rewards"], dtype=np.float64), 0.0).sum(axis=-1)
    g = np.asarray(inputs["group_ids"])
    out = np.zeros(score.shape)
    for gid in np.unique(g):
        sel = g == gid
        out[sel] = score[sel] if sel.sum() == 1 else score[sel] - score[sel].mean()
    return out


def _row_total(inputs: Mapping[str, Any], *names: str) -> float:
    valid = valid_mask(inputs["mask"])
    if not valid.any():
        return 0.0
    total = sum(np.abs(np.asarray(inputs[n], dtype=np.float64)) for n in names)
    return float(np.max(np.where(valid, total, 0.0).sum(axis=-1)))


def _whitened_scale(raw: F64, valid: npt.NDArray[np.bool_], bound: float) -> float:
    n = int(valid.sum())
    if n < 2:
        return 1.0
    var = float(np.var(raw[valid], ddof=1))
    # |z| ≤ sqrt(n − 1); a rounding error ε·bound of the raw values is amplified by 1/std
    return max(1.0, float(np.sqrt(n)), 2.0 * bound / float(np.sqrt(var + WHITEN_EPS)))


def _gap(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    """A masked position between two valid tokens of a row (an observation span)."""
    for row in valid_mask(inputs["mask"]):
        idx = np.flatnonzero(row)
        if idx.size >= 2 and idx[-1] - idx[0] + 1 > idx.size:
            return True
    return False


GAP = Branch("observation gap", "a masked position between two valid tokens (the recursion carries across it)",
             _gap)
EMPTY_ROW = Branch("empty row", "a row without a valid token next to a row with one", some_empty_rows)


def _few_valid(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return int(valid_mask(inputs["mask"]).sum()) == 1


ONE_VALID = Branch("one valid token", "exactly one valid token in the batch: whitening gives 0 (verl raises)",
                   _few_valid)


def _masked_changes(names: tuple[str, ...]) -> Any:
    def check(ctx: PropertyContext) -> None:
        valid = valid_mask(ctx.inputs["mask"])
        if valid.all():
            ctx.skip("no masked position")
        outs = ctx.call()
        over = {n: np.where(valid, ctx.inputs[n], 3.0) for n in names}
        again = ctx.call(**over)
        for a, b in zip(outs, again, strict=True):
            assert ctx.close(b, a), "values at masked positions changed the output"
            assert np.all(np.asarray(a)[~valid] == 0.0), "an output is not 0 at a masked position"
    return check


# =========================================================================== gae_advantages


def _gae_expected(ctx: PropertyContext) -> tuple[F64, F64]:
    gamma, lam = float(ctx.params.get("gamma", 1.0)), float(ctx.params.get("lam", 1.0))
    raw = np_gae(ctx.inputs, gamma, lam)
    valid = valid_mask(ctx.inputs["mask"])
    returns = np.where(valid, raw + np.asarray(ctx.inputs["values"], dtype=np.float64), 0.0)
    adv = np_whiten(raw, valid) if ctx.params.get("whiten", False) else raw
    return adv, returns


def _gae_definition(ctx: PropertyContext) -> None:
    adv, ret = ctx.call()
    exp_adv, exp_ret = _gae_expected(ctx)
    assert ctx.close(adv, exp_adv, factor=4), f"advantages {adv} != Σ (γλ)^l δ {exp_adv}"
    assert ctx.close(ret, exp_ret, factor=4), f"returns {ret} != A + V {exp_ret}"


def _gae_td0(ctx: PropertyContext) -> None:
    """λ = 0 gives the one-step TD error δ_t; λ = 1 gives the discounted return minus V_t."""
    valid = valid_mask(ctx.inputs["mask"])
    v = np.asarray(ctx.inputs["values"], dtype=np.float64)
    gamma = float(ctx.params.get("gamma", 1.0))
    adv0, _ = ctx.call(lam=0.0, whiten=False)
    assert ctx.close(adv0, np_gae(ctx.inputs, gamma, 0.0), factor=4), "λ = 0 must give δ_t"
    adv1, _ = ctx.call(lam=1.0, whiten=False)
    mc = np.where(valid, np_discounted(ctx.inputs, gamma) - v, 0.0)
    assert ctx.close(adv1, mc, factor=8), "λ = 1 must give Σ γ^l r_{t+l} − V_t"


def _gae_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    bound = max(1.0, _row_total(inputs, "rewards", "values", "values"))
    if not params.get("whiten", False):
        return bound
    raw = np_gae(inputs, float(params.get("gamma", 1.0)), float(params.get("lam", 1.0)))
    return _whitened_scale(raw, valid_mask(inputs["mask"]), bound)


def _gae_returns_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    return max(1.0, _row_total(inputs, "rewards", "values", "values", "values"))


register(MethodSpec(
    id="gae_advantages",
    family="policy",
    kind="advantage",
    summary="GAE per token: δ_t = r_t + γV_{t+1} − V_t, A_t = δ_t + γλA_{t+1} over the valid tokens (V = 0 past "
            "the end), returns A_t + V_t; whiten=True whitens A over the batch (verl).",
    papers=(GAE_2015,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{VERL_091} compute_gae_advantage_return and verl/utils/torch_functional.py "
                        "masked_whiten/masked_var/masked_mean (identical at volcengine/verl b178a3c); the paper's "
                        "eq. (16) A = Σ_l (γλ)^l δ_{t+l}",
        official_code=f"{VERL_CORE}:compute_gae_advantage_return",
        notes="verl skips masked (observation) tokens by carrying nextvalues and lastgaelam through them: the "
              "same as treating the valid tokens as the trajectory, which is the definition here. verl leaves "
              "carried values at masked positions (and whitened ones after whitening); here every output is 0 "
              "there. Returns are A + V before whitening, as in verl. Whitening: (A − mean)/sqrt(var + 1e-8) "
              "over the batch's valid tokens with the unbiased variance; verl's masked_mean divides by "
              "(n + 1e-8), a relative difference below 1e-8/n. Defaults γ = λ = 1 are verl's algorithm config.",
        differences=(
            Difference("whitening", "none: GAE is the advantage itself", "verl always whitens the advantages "
                       "over the batch (masked_whiten)", "paper", "whiten"),
            Difference("fewer than two valid tokens with whitening", "not applicable", "verl raises ValueError; "
                       "here the whitened advantage is 0", "code", None),
        ),
    ),
    inputs=(TOKEN_REWARDS,
            InputSpec("values", "values", SEQ, "critic values V(s_t) per token (stop-gradient)"),
            mask_input()),
    params=(ParamSpec("gamma", 1.0, Interval(0.0, 1.0), "discount γ (verl algorithm.gamma, default 1)"),
            ParamSpec("lam", 1.0, Interval(0.0, 1.0), "GAE λ (verl algorithm.lam, default 1)"),
            ParamSpec("whiten", False, Choice((False, True)), "whiten the advantages over the batch's valid "
                      "tokens (verl's form)")),
    outputs=(OutputSpec("advantages", "per-token advantages (B, T), 0 at masked positions", shape=SEQ,
                        scale=Scale("max(1, largest row Σ(|r| + 2|V|)) (a bound on |A|); whitened: also sqrt(n) "
                                    "and that bound over the std of A", _gae_scale)),
             OutputSpec("returns", "per-token λ-returns A + V (B, T), 0 at masked positions", shape=SEQ,
                        scale=Scale("max(1, largest row Σ(|r| + 3|V|))", _gae_returns_scale))),
    branches=(GAP, EMPTY_ROW, EMPTY_MASK, ONE_VALID),
    properties=(
        Property("definition", "A = Σ_l (γλ)^l δ_{t+l} over the valid tokens (whitened if asked); returns A + V",
                 _gae_definition),
        Property("lambda_limits", "λ = 0 gives δ_t; λ = 1 gives the discounted return minus V_t", _gae_td0),
        Property("masked_irrelevant", "rewards and values at masked positions change nothing; outputs are 0 there",
                 _masked_changes(("rewards", "values"))),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages and returns are constants)",),
    degenerate=("an empty mask (or B·T = 0) gives zeros", "whiten with fewer than two valid tokens gives 0"),
))


# =========================================================================== reinforce_plus_plus_advantages


def _rpp_raw(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[F64, F64]:
    valid = valid_mask(inputs["mask"])
    if params.get("baseline", "none") == "none":
        ret = np_discounted(inputs, float(params.get("gamma", 1.0)))
        return ret, ret
    score = np.where(valid, np.asarray(inputs["rewards"], dtype=np.float64), 0.0).sum(axis=-1)
    tiled = np.where(valid, np_group_centred(inputs)[:, None], 0.0)
    return tiled, np.where(valid, score[:, None], 0.0)


def _rpp_definition(ctx: PropertyContext) -> None:
    adv, ret = ctx.call()
    raw, exp_ret = _rpp_raw(ctx.inputs, ctx.params)
    exp_adv = np_whiten(raw, valid_mask(ctx.inputs["mask"]))
    assert ctx.close(adv, exp_adv, factor=4), f"advantages {adv} != whitened {exp_adv}"
    assert ctx.close(ret, exp_ret, factor=4), f"returns {ret} != {exp_ret}"


def _rpp_moments(ctx: PropertyContext) -> None:
    valid = valid_mask(ctx.inputs["mask"])
    raw, _ = _rpp_raw(ctx.inputs, ctx.params)
    if valid.sum() < 2 or np.var(raw[valid], ddof=1) < 1e-4:
        ctx.skip("fewer than two valid tokens or a (near) constant raw advantage")
    adv, _ = ctx.call()
    a = np.asarray(adv, dtype=np.float64)[valid]
    assert abs(float(a.sum())) <= ctx.slack(8) * (float(np.abs(a).sum()) + 1.0), "whitened mean is not 0"
    var = float(np.var(raw[valid], ddof=1))
    assert abs(float(np.var(a, ddof=1)) - var / (var + WHITEN_EPS)) <= ctx.slack(16) * a.size, "whitened var ≠ 1"


def _rpp_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    bound = max(1.0, 2.0 * _row_total(inputs, "rewards"))
    raw, _ = _rpp_raw(inputs, params)
    return _whitened_scale(raw, valid_mask(inputs["mask"]), bound)


def _rpp_returns_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    return max(1.0, _row_total(inputs, "rewards"))


def _row_groups(inputs: Mapping[str, Any]) -> list[npt.NDArray[np.int64]]:
    g = np.asarray(inputs["group_ids"])
    return [np.flatnonzero(g == gid) for gid in np.unique(g)]


def _rpp_singleton(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return params.get("baseline", "none") == "group" and any(i.size == 1 for i in _row_groups(inputs)) and \
        bool(valid_mask(inputs["mask"]).sum() >= 2)


def _rpp_constant(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    if params.get("baseline", "none") != "group":
        return False
    valid = valid_mask(inputs["mask"])
    score = np.where(valid, np.asarray(inputs["rewards"], dtype=np.float64), 0.0).sum(axis=-1)
    return any(i.size >= 2 and np.all(score[i] == score[i][0]) for i in _row_groups(inputs))


register(MethodSpec(
    id="reinforce_plus_plus_advantages",
    family="policy",
    kind="advantage",
    summary="REINFORCE++: discounted returns G_t (baseline='none') or the group-centred sequence reward "
            "(baseline='group', REINFORCE++ w/ baseline), whitened over the batch's valid tokens.",
    papers=(RPP_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{VERL_091} compute_reinforce_plus_plus_outcome_advantage, "
                        "compute_reinforce_plus_plus_baseline_outcome_advantage and masked_whiten; volcengine/verl "
                        "b178a3c (older masked-token rule); the paper's abstract and method summary (global batch "
                        "normalisation; group-mean subtraction for the baseline variant)",
        official_code=f"{VERL_CORE}:compute_reinforce_plus_plus_outcome_advantage",
        notes="The global normalisation is over the valid tokens of the batch (each token one sample), as verl "
              "and OpenRLHF do; the paper's text does not settle token vs response weighting. verl 0.9.1 carries "
              "the running return through masked (observation) tokens, the definition here; verl b178a3c and "
              "earlier reset it at a masked token (same values for right-padded masks). The baseline variant "
              "sums the token rewards of the row (masked positions excluded; verl sums the whole row, where "
              "reward managers put 0) and ignores gamma, as verl. A group of size one keeps its reward (mean 0, "
              "verl); all-equal rewards in a group give exactly 0 before whitening. verl returns the whitened "
              "advantages as 'returns' for the baseline variant; here returns are the sequence reward.",
        differences=(
            Difference("baseline variant, groups of size 1", "k > 1 only", "verl: group mean 0 (the reward itself)",
                       "code", None),
            Difference("fewer than two valid tokens", "not applicable", "verl raises ValueError (masked_var); here "
                       "the advantages are 0", "code", None),
        ),
    ),
    inputs=(TOKEN_REWARDS, mask_input(),
            InputSpec("group_ids", "group_ids", ("B",), "integer group (prompt) id per row; used by "
                      "baseline='group'", dtype="int")),
    params=(ParamSpec("baseline", "none", Choice(("none", "group")), "'none' (REINFORCE++: discounted returns) or "
                      "'group' (REINFORCE++ w/ baseline: group-centred sequence reward)"),
            ParamSpec("gamma", 1.0, Interval(0.0, 1.0), "discount γ of the returns (baseline='none')")),
    outputs=(OutputSpec("advantages", "whitened per-token advantages (B, T), 0 at masked positions", shape=SEQ,
                        scale=Scale("max(1, sqrt(n), 2·(largest row Σ|r|)/std of the raw advantage)", _rpp_scale)),
             OutputSpec("returns", "G_t (baseline='none') or the sequence reward (baseline='group') per valid token",
                        shape=SEQ, scale=Scale("max(1, largest row Σ|r|)", _rpp_returns_scale))),
    branches=(GAP, EMPTY_ROW, ONE_VALID,
              Branch("group of size one", "baseline='group' with a row alone in its group", _rpp_singleton),
              Branch("constant group", "baseline='group' with a group of equal sequence rewards", _rpp_constant)),
    properties=(
        Property("definition", "whitened discounted returns or group-centred rewards; returns as documented",
                 _rpp_definition),
        Property("whitened_moments", "over the valid tokens: mean 0, unbiased variance var/(var + 1e-8)",
                 _rpp_moments),
        Property("masked_irrelevant", "rewards at masked positions change nothing; outputs are 0 there",
                 _masked_changes(("rewards",))),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages and returns are constants)",),
    degenerate=("fewer than two valid tokens give zero advantages", "an empty mask gives zeros"),
))


# =========================================================================== remax_advantages


def _remax_expected(inputs: Mapping[str, Any], credit: str) -> tuple[F64, F64]:
    valid = valid_mask(inputs["mask"])
    r = np.where(valid, np.asarray(inputs["rewards"], dtype=np.float64), 0.0)
    b = np.asarray(inputs["baseline_rewards"], dtype=np.float64)
    ret = np.zeros(r.shape)
    for i in range(r.shape[0]):
        for t in range(r.shape[1]):
            if valid[i, t]:
                ret[i, t] = r[i].sum() if credit == "sequence" else r[i, t:].sum()
    return np.where(valid, ret - b[:, None], 0.0), ret


def _remax_definition(ctx: PropertyContext) -> None:
    adv, ret = ctx.call()
    exp_adv, exp_ret = _remax_expected(ctx.inputs, str(ctx.params.get("credit", "sequence")))
    assert ctx.close(adv, exp_adv, factor=4), f"{adv} != R − b {exp_adv}"
    assert ctx.close(ret, exp_ret, factor=4), f"{ret} != {exp_ret}"


def _remax_outcome(ctx: PropertyContext) -> None:
    """With the reward on the last valid token only, both credit rules agree (verl = paper)."""
    valid = valid_mask(ctx.inputs["mask"])
    r = np.zeros(valid.shape)
    for i, row in enumerate(valid):
        idx = np.flatnonzero(row)
        if idx.size:
            r[i, idx[-1]] = float(np.sum(np.asarray(ctx.inputs["rewards"])[i]))
    if not valid.any():
        ctx.skip("empty mask")
    a_seq, _ = ctx.call(rewards=r, credit="sequence")
    a_togo, _ = ctx.call(rewards=r, credit="reward_to_go")
    assert ctx.close(a_seq, a_togo, factor=2), "an outcome reward must give the same advantages for both credits"


def _remax_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    b = np.asarray(inputs["baseline_rewards"], dtype=np.float64)
    return max(1.0, _row_total(inputs, "rewards") + (float(np.max(np.abs(b))) if b.size else 0.0))


def _remax_dense(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    """A row with a non-zero reward before its last valid token (the two credit rules differ)."""
    valid = valid_mask(inputs["mask"])
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    for i, row in enumerate(valid):
        idx = np.flatnonzero(row)
        if idx.size >= 2 and np.any(r[i, idx[:-1]] != 0):
            return True
    return False


register(MethodSpec(
    id="remax_advantages",
    family="policy",
    kind="advantage",
    summary="ReMax: A_t = R − b at every valid token, b the reward of the greedy response; credit='reward_to_go' "
            "uses G_t = Σ_{s≥t} r_s instead of R (verl).",
    papers=(REMAX_2023,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{VERL_091} compute_remax_outcome_advantage (identical at volcengine/verl b178a3c); the "
                        "paper's Algorithm 1 (gradient Σ_t ∇log π(a_t) · (r(x, a) − r(x, ā)), ā greedy)",
        official_code=f"{VERL_CORE}:compute_remax_outcome_advantage",
        notes="verl's reward-to-go equals the paper's sequence reward when the reward sits on the last valid token "
              "(an outcome reward); they differ when token rewards are spread (e.g. a KL penalty folded into the "
              "reward). verl leaves G_t (not 0) at masked positions before the last valid token; here outputs are "
              "0 at every masked position.",
        differences=(
            Difference("credit of spread token rewards", "the sequence reward R at every token",
                       "verl: the reward-to-go G_t", "paper", "credit"),
        ),
    ),
    inputs=(TOKEN_REWARDS,
            InputSpec("baseline_rewards", "rewards", ("B",), "reward of the greedy response to each row's prompt "
                      "(stop-gradient)"),
            mask_input()),
    params=(ParamSpec("credit", "sequence", Choice(("sequence", "reward_to_go")),
                      "'sequence' (the paper: R at every token) or 'reward_to_go' (verl: G_t)"),),
    outputs=(OutputSpec("advantages", "per-token advantages (B, T), 0 at masked positions", shape=SEQ,
                        scale=Scale("max(1, largest row Σ|r| + largest |b|)", _remax_scale)),
             OutputSpec("returns", "R or G_t per valid token (B, T), 0 at masked positions", shape=SEQ,
                        scale=Scale("max(1, largest row Σ|r|)", _rpp_returns_scale))),
    branches=(GAP, EMPTY_ROW,
              Branch("spread rewards", "a non-zero reward before the last valid token (the credits differ)",
                     _remax_dense)),
    properties=(
        Property("definition", "R − b (or G_t − b) at valid tokens; returns R (or G_t)", _remax_definition),
        Property("outcome_reward_agreement", "an outcome reward gives equal advantages for both credits",
                 _remax_outcome),
        Property("masked_irrelevant", "rewards at masked positions change nothing; outputs are 0 there",
                 _masked_changes(("rewards",))),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages and returns are constants)",),
    degenerate=("an empty mask gives zeros",),
))


# =========================================================================== reinforce_loss


def _reinforce_tokens(inputs: Mapping[str, Any]) -> F64:
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    return np.where(valid_mask(inputs["mask"]), -adv * lp, 0.0)


def _reinforce_definition(ctx: PropertyContext) -> None:
    (out,) = ctx.call()
    mode = str(ctx.params.get("mode", "seq-mean-token-sum"))
    tok = _reinforce_tokens(ctx.inputs)
    expect = tok if mode == "none" else np_aggregate(tok, ctx.inputs["mask"], mode)
    assert ctx.close(out, expect, factor=4), f"{out} != aggregate(−A·log π) {expect}"


def _reinforce_zero_advantage(ctx: PropertyContext) -> None:
    (out,) = ctx.call(advantages=np.zeros(np.shape(ctx.inputs["advantages"])))
    assert np.all(np.asarray(out) == 0.0), "A = 0 must give exactly 0 (no gradient signal)"


def _reinforce_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    tok = np.abs(_reinforce_tokens(inputs))
    if tok.size == 0:
        return 1.0
    return max(1.0, float(np.max(tok.reshape(-1, tok.shape[-1]).sum(axis=-1))) if tok.shape[-1] else 1.0)


def _reinforce_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.policy._symbolic import problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        tok[idx] = -sp.Float(float(adv[idx])) * sym[idx]
    out = sym_aggregate(tok, inputs["mask"], str(params.get("mode", "seq-mean-token-sum")))
    return problem({"log_prob": sym}, out, bind(sym, lp))


register(MethodSpec(
    id="reinforce_loss",
    family="policy",
    kind="loss",
    summary="REINFORCE loss: per token −sg(A_t)·log π(y_t), aggregated (default seq-mean-token-sum: "
            "−(R − b)·Σ_t log π averaged over sequences).",
    papers=(NOISE_MASK_2024,),
    provenance=Provenance(
        confidence="inferred",
        checked_against=f"{VERL_091} compute_policy_loss_reinforce (pg_losses = −A·log π, agg_loss, default "
                        "seq-mean-token-sum); the catalogue entry (policy.md reinforce_loss) for the paper's "
                        "L = −(R − b)·Σ log π(m|x) with sg(R − b); the paper's abstract (arXiv 2406.14568); no "
                        "official code located",
        official_code="",
        notes="The baseline is folded into the advantage input (A = R − b, broadcast over the tokens by the "
              "caller); the advantages are a stop-gradient input. Aggregation is the family's `aggregate` "
              "(empty rows count as 0 in seq-mean-token-sum). verl's optional rollout importance weights (a "
              "multiplicative stop-gradient factor) are not an input here. The paper's Beta-distributed "
              "per-pixel action is the caller's log π.",
        differences=(
            Difference("empty rows in seq-mean modes", "a mean over the sequences of the batch", "verl 0.9.1 "
                       "agg_loss leaves empty rows out of the seq-mean modes (catalogue errata)", "paper", None),
        ),
    ),
    inputs=(InputSpec("log_prob", "log_probs", SEQ, "log π(y_t) of the sampled tokens (or actions)",
                      differentiable=True),
            InputSpec("advantages", "advantages", SEQ, "per-token advantages R − b (stop-gradient)",
                      stop_gradient=True),
            mask_input()),
    params=(ParamSpec("mode", "seq-mean-token-sum", Choice(LOSS_MODES), "aggregation of the per-token loss (see "
                      "`aggregate`); 'none' returns the (B, T) per-token loss"),),
    outputs=(OutputSpec("loss", "aggregated loss (0-d), or the per-token loss (B, T) when mode='none'",
                        scale=Scale("max(1, largest row Σ|A·log π|)", _reinforce_scale)),),
    branches=(EMPTY_MASK, EMPTY_ROW),
    properties=(
        Property("definition", "aggregate(−A·log π) with the family's modes", _reinforce_definition),
        Property("zero_advantage", "A = 0 gives exactly 0", _reinforce_zero_advantage),
        Property("masked_irrelevant", "values at masked positions change nothing",
                 masked_irrelevant_factory(("log_prob", "advantages"))),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_reinforce_problem, wrt=("log_prob",), kinks="none (linear in log_prob)"),
    stop_gradients=("advantages are constants",),
    degenerate=("empty mask gives 0", "A = 0 tokens give exactly 0"),
))
