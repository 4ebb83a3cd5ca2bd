"""Specs of the ``reweighting`` group of the ``policy`` family: token-selective interventions on the PPO loss
that keep low-probability / entropy-changing tokens alive — Lp-Reg (a KL pull toward a filtered min-p proxy on
the lowest-probability negative tokens) and STEER (token weights from a first-order entropy-change estimate).

Both forks are verl forks; their per-token losses aggregate through the one ``aggregate`` of ``policy.ppo``
and their selections rank with a named tie policy (lowest flat index first, where ``torch.topk`` leaves the
order unspecified).
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
    DAPO_2025,
    EMPTY_MASK,
    F64,
    PPO_2017,
    SEQ,
    clip_params,
    loss_inputs,
    loss_mode,
    loss_output,
    masked_irrelevant_factory,
    per_token_definition,
    ppo_tokens,
    valid_mask,
)
from spec.registry import register

__all__: list[str] = []

LP_REG_2025 = Paper("Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward", 2025,
                    "2510.03222")
LP_REG_CODE = "CarlanLark/Lp-Reg-dev"
LP_REG_COMMIT = "33b27e273b14f8eeb14c8a52209fca568b4bd718"
FILL_LOGIT = -1e4


# =========================================================================== lp_reg_proxy_logprob


def np_proxy_logprob(z: F64, labels: Any, min_p: float, rule: str, soft: bool, temperature: float,
                     fill_logit: float) -> F64:
    """The proxy log-probability written from the definition (float64), for properties."""
    z = np.asarray(z, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    if z.shape[0] == 0:
        return np.zeros(0)
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    p = e / e.sum(axis=-1, keepdims=True)
    keep = p >= (min_p * p.max(axis=-1, keepdims=True) if rule == "minp" else min_p)
    fill = np.min(z, axis=-1, keepdims=True) if (soft and rule == "minp") else np.full(m.shape, fill_logit)
    zp = np.where(keep, z, fill) / temperature
    mm = np.max(zp, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        ls = zp - mm - np.log(np.exp(zp - mm).sum(axis=-1, keepdims=True))
    return np.asarray(np.take_along_axis(ls, lab[:, None], axis=-1)[:, 0], dtype=np.float64)


def _proxy_args(ctx_params: Mapping[str, Any]) -> tuple[float, str, bool, float, float]:
    return (float(ctx_params.get("min_p", 0.02)), str(ctx_params.get("rule", "minp")),
            bool(ctx_params.get("soft", False)), float(ctx_params.get("temperature", 1.0)),
            float(ctx_params.get("fill_logit", FILL_LOGIT)))


def _kept(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    if z.shape[0] == 0:
        return np.zeros(z.shape, dtype=bool)
    min_p, rule, _, _, _ = _proxy_args(params)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return np.asarray(p >= (min_p * p.max(axis=-1, keepdims=True) if rule == "minp" else min_p))


def _label_kept(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    keep = _kept(inputs, params)
    lab = np.asarray(inputs["labels"], dtype=np.int64)
    if keep.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(np.take_along_axis(keep, lab[:, None], axis=-1)[:, 0])


def _proxy_definition(ctx: PropertyContext) -> None:
    (out,) = ctx.call()
    expect = np_proxy_logprob(ctx.inputs["logits"], ctx.inputs["labels"], *_proxy_args(ctx.params))
    assert ctx.close(out, expect, factor=2), f"proxy log-prob {out} != definition {expect}"


def _proxy_no_filter(ctx: PropertyContext) -> None:
    """min_p = 0 keeps every token: the proxy is the tempered policy log_softmax(z/T)[label]."""
    if ctx.params.get("rule", "minp") != "minp" and ctx.params.get("rule") != "fixed":
        ctx.skip("unknown rule")
    z = np.asarray(ctx.inputs["logits"], dtype=np.float64)
    (out,) = ctx.call(min_p=0.0)
    t = float(ctx.params.get("temperature", 1.0))
    expect = np_proxy_logprob(z, ctx.inputs["labels"], 0.0, "fixed", False, t, FILL_LOGIT)
    assert ctx.close(out, expect, factor=2), f"min_p = 0 must give log_softmax(z/T)[label]: {out} vs {expect}"


def _proxy_kept_raised(ctx: PropertyContext) -> None:
    """A kept label's proxy log-prob is at least its tempered policy log-prob (mass renormalised over survivors)."""
    z = np.asarray(ctx.inputs["logits"], dtype=np.float64)
    kept = _label_kept(ctx.inputs, ctx.params)
    finite = z[np.isfinite(z)]
    fill = float(ctx.params.get("fill_logit", FILL_LOGIT))
    if not kept.any():
        ctx.skip("no kept label")
    if finite.size and not ctx.params.get("soft", False) and fill > float(finite.min()):
        ctx.skip("the fill logit exceeds a filtered logit: the filtered mass may grow")
    (out,) = ctx.call()
    t = float(ctx.params.get("temperature", 1.0))
    base = np_proxy_logprob(z, ctx.inputs["labels"], 0.0, "fixed", False, t, FILL_LOGIT)
    out = np.asarray(out, dtype=np.float64)
    slack = ctx.slack(4) + ctx.budget.rtol * 4 * np.abs(base)
    assert np.all(out[kept] >= base[kept] - slack[kept]), f"kept labels lost mass: {out} < {base}"


def _proxy_argmax_kept(ctx: PropertyContext) -> None:
    """Under the min-p rule (κ ≤ 1) the most probable token always survives: its proxy log-prob is > fill/T."""
    if ctx.params.get("rule", "minp") != "minp":
        ctx.skip("fixed rule: the argmax may be filtered (κ above max p)")
    z = np.asarray(ctx.inputs["logits"], dtype=np.float64)
    if z.shape[0] == 0:
        ctx.skip("no rows")
    top = np.argmax(z, axis=-1)
    (out,) = ctx.call(labels=top.astype(np.int64))
    t = float(ctx.params.get("temperature", 1.0))
    base = np_proxy_logprob(z, top, 0.0, "fixed", False, t, FILL_LOGIT)
    assert ctx.close(np.maximum(np.asarray(out, dtype=np.float64), base), out, factor=4), \
        f"the argmax lost mass: {out} vs {base}"


def _proxy_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    finite = z[np.isfinite(z)]
    big = float(np.max(np.abs(finite))) if finite.size else 0.0
    v = z.shape[-1] if z.ndim else 1
    return max(1.0, 2.0 * big / float(params.get("temperature", 1.0)) + math.log(max(v, 2)))


#: A kept label's proxy log-prob is of the size of the tempered logit range plus log V; a filtered label's
#: (≈ (fill − max z)/T) is compared relatively.
PROXY_SCALE = Scale("max(1, 2·largest finite |logit|/T + log V); filtered labels (≈ fill/T) are judged by the "
                    "relative part of the budget", _proxy_scale)

register(MethodSpec(
    id="lp_reg_proxy_logprob",
    family="policy",
    kind="estimator",
    summary="Lp-Reg proxy log π_proxy(o): filter the tokens with p_v < κ·max p (min-p rule) or p_v < κ (fixed rule) "
            "by setting their logits to −1e4 (or the row's minimum logit, soft), then log_softmax(z'/T) at the label.",
    papers=(LP_REG_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{LP_REG_CODE} verl/workers/actor/dp_actor.py apply_min_p, _forward_micro_batch and "
                        f"verl/workers/fsdp_workers.py compute_minp_log_prob (commit {LP_REG_COMMIT[:12]}, fetched "
                        "with the search tool), recipe/lp_reg/Qwen3_14b_lp_reg_onpolicy_64gpu.sh (minp_p_threshold "
                        "0.02, minp_old_log_prob=True, temperature 1.0); the paper's abstract and secondary summaries "
                        "(arxiv.org/html/2510.03222v2 via the search tool: filter the presumed-noise tokens below a "
                        "fixed threshold or κ·max p, renormalise over the survivors)",
        official_code=f"{LP_REG_CODE}:verl/workers/actor/dp_actor.py:apply_min_p",
        notes="Computed without gradient (the code detaches the logits). The filter compares softmax(z) at T = 1; the "
              "temperature divides the modified logits afterwards (dp_actor: apply_min_p, then logits.div_(T), then "
              "logprobs_from_logits). With the recipe's minp_old_log_prob=True the proxy is computed once from the "
              "old policy (rollout) logits and used for both the positive and the negative targets. The paper's "
              "equations beyond the abstract were not readable in the stored corpus: the formula is the code's.",
        differences=(
            Difference("filtered tokens", "the paper renormalises over the survivors: a filtered token has proxy "
                       "probability 0 (log −inf)",
                       "the code writes a logit of −1e4 (exp underflows to 0 for the survivors' normaliser, so kept "
                       "tokens get the same value; a filtered label reads ≈ (−1e4 − max z)/T, finite)", "code",
                       "fill_logit"),
            Difference("soft filter", "not in the paper", "minp_soft=True writes the row's minimum logit instead "
                       "(min-p rule only; the fixed rule always writes −1e4)", "code", "soft"),
            Difference("threshold rule", "κ·max p (min-p) or a fixed probability threshold",
                       "regular_type 'minp' (default) or 'fixed'", "code", "rule"),
        ),
    ),
    inputs=(
        InputSpec("logits", "logits", ("N", "V"), "raw (T = 1) logits of the policy at each token (detached)",
                  allow_neg_inf=True),
        InputSpec("labels", "class_index", ("N",), "the sampled token at each position, in [0, V)", dtype="int"),
    ),
    params=(
        ParamSpec("min_p", 0.02, Interval(0.0, 1.0), "κ: the min-p ratio (rule 'minp') or the probability threshold "
                  "(rule 'fixed'); the code's minp_p_threshold", sensitive=True),
        ParamSpec("rule", "minp", Choice(("minp", "fixed")), "'minp': keep p_v ≥ κ·max p; 'fixed': keep p_v ≥ κ "
                  "(the code's regular_type)"),
        ParamSpec("soft", False, Choice((False, True)), "write the row's minimum logit instead of fill_logit "
                  "(min-p rule only; the code's minp_soft)"),
        ParamSpec("temperature", 1.0, Interval(0.25, 10.0), "T: divides the filtered logits (the rollout "
                  "temperature; the filter itself is at T = 1)"),
        ParamSpec("fill_logit", FILL_LOGIT, Interval(-1e4, -100.0), "the logit written at filtered tokens (the "
                  "code's −1e4)"),
    ),
    outputs=(OutputSpec("proxy_log_prob", "log π_proxy(label), shape (N,)", shape=("N",), scale=PROXY_SCALE),),
    branches=(
        Branch("label filtered", "the label's probability is below the threshold (its proxy comes from the fill)",
               lambda i, p, o: bool(np.any(~_label_kept(i, p)))),
        Branch("label kept, others filtered", "a kept label in a row where some token is filtered (renormalised)",
               lambda i, p, o: bool(np.any(_label_kept(i, p) & ~_kept(i, p).all(axis=-1)))
               if np.shape(i["logits"])[0] else False),
        Branch("every token kept", "a row whose tokens all pass the threshold (proxy = tempered policy)",
               lambda i, p, o: bool(np.any(_kept(i, p).all(axis=-1))) if np.shape(i["logits"])[0] else False),
    ),
    properties=(
        Property("definition", "equals the filtered, tempered log-softmax written from the code", _proxy_definition),
        Property("no_filter_at_zero", "min_p = 0 gives log_softmax(z/T)[label]", _proxy_no_filter),
        Property("kept_tokens_raised", "a kept label's proxy log-prob ≥ its tempered policy log-prob",
                 _proxy_kept_raised),
        Property("argmax_kept", "min-p rule: the argmax token is kept and raised", _proxy_argmax_kept),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (the code detaches the logits)",),
    degenerate=(
        "N = 0 gives an empty output",
        "a label at a −inf logit reads −inf when it is kept (min_p = 0) or with soft=True (the row minimum is −inf); "
        "it is filtered (fill) otherwise",
        "rule 'fixed' with κ above every probability of a row filters the whole row: the proxy is uniform over V",
    ),
))


# =========================================================================== lp_reg_policy_loss


def lp_reg_selected(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """The tokens Lp-Reg regularises, from the definition: on each side (A < 0 with ``neg_k_percent``, A > 0 with
    ``pos_k_percent``) the k = max(1, int(n·ρ)) valid tokens of lowest log-prob (ties: lowest flat index), only
    when k > 1, then only those with log_prob < proxy_log_prob."""
    lp = np.asarray(inputs["log_prob"], dtype=np.float64).ravel()
    adv = np.asarray(inputs["advantages"], dtype=np.float64).ravel()
    proxy = np.asarray(inputs["proxy_log_prob"], dtype=np.float64).ravel()
    valid = valid_mask(inputs["mask"]).ravel()
    chosen = np.zeros(lp.size, dtype=bool)
    for side, pct in ((adv < 0, float(params.get("neg_k_percent", 0.01))),
                      (adv > 0, float(params.get("pos_k_percent", 0.0)))):
        idx = np.flatnonzero(valid & side)
        k = max(1, int(idx.size * pct))
        if idx.size == 0 or k <= 1:
            continue
        lowest = sorted(idx.tolist(), key=lambda i: (lp[i], i))[:k]
        chosen[lowest] = True
    chosen &= lp < proxy
    return chosen.reshape(np.shape(inputs["mask"]))


def np_k3(lp: F64, target: F64) -> F64:
    """verl low_var_kl of log π toward a target: k = clip(target − lp, ±20), clip(e^k − k − 1, −10, 10)."""
    k = np.clip(np.asarray(target, dtype=np.float64) - np.asarray(lp, dtype=np.float64), -20.0, 20.0)
    return np.asarray(np.clip(np.expm1(k) - k, -10.0, 10.0), dtype=np.float64)


def lp_reg_tokens(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> F64:
    i = inputs
    base = ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], params.get("clip_low", 0.2),
                      params.get("clip_high", 0.2))
    sel = lp_reg_selected(i, params)
    lp = np.asarray(i["log_prob"], dtype=np.float64)
    adv = np.asarray(i["advantages"], dtype=np.float64)
    with np.errstate(over="ignore"):
        pg1 = np.where(adv == 0, 0.0, -adv * np.exp(lp - np.asarray(i["old_log_prob"], dtype=np.float64)))
    reg = pg1 + float(params.get("coef", 1.0)) * np_k3(lp, i["proxy_log_prob"])
    return np.asarray(np.where(sel, reg, base), dtype=np.float64)


def _lp_reg_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.policy._symbolic import kl_token_expr, ppo_token_expr, problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    proxy = np.asarray(inputs["proxy_log_prob"], dtype=np.float64)
    sel = lp_reg_selected(inputs, params)  # data-dependent and detached: a constant
    coef = float(params.get("coef", 1.0))
    sym = symbols_like("lp", lp)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        if sel[idx]:
            tok[idx] = (-sp.Float(float(adv[idx])) * sp.exp(sym[idx] - sp.Float(float(old[idx])))
                        + sp.Float(coef) * kl_token_expr(sym[idx], sp.Float(float(proxy[idx])), "k3",
                                                          float(lp[idx] - proxy[idx])))
        else:
            tok[idx] = ppo_token_expr(sym[idx], float(old[idx]), float(adv[idx]), float(params.get("clip_low", 0.2)),
                                      float(params.get("clip_high", 0.2)), None)
    out = sym_aggregate(tok, inputs["mask"], str(params.get("mode", "token-mean")))
    return problem({"log_prob": sym}, out, bind(sym, lp))


def _lp_reg_reduces_to_ppo(ctx: PropertyContext) -> None:
    """ρ = 0 on both sides gives k = max(1, 0) = 1 ≤ 1: nothing is regularised, plain PPO-clip."""
    i, p = ctx.inputs, ctx.params
    (tok,) = ctx.call(mode="none", neg_k_percent=0.0, pos_k_percent=0.0)
    expect = ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], p.get("clip_low", 0.2),
                        p.get("clip_high", 0.2))
    assert ctx.close(tok, expect, factor=2), f"ρ = 0 must give PPO-clip: {tok} vs {expect}"


def _lp_reg_proxy_above_raises(ctx: PropertyContext) -> None:
    """A proxy at or below every log-prob selects nothing (the strict comparison): plain PPO-clip."""
    i, p = ctx.inputs, ctx.params
    if not lp_reg_selected(i, p).any():
        ctx.skip("nothing selected")
    (tok,) = ctx.call(mode="none", proxy_log_prob=np.asarray(i["log_prob"], dtype=np.float64))
    expect = ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], p.get("clip_low", 0.2),
                        p.get("clip_high", 0.2))
    assert ctx.close(tok, expect, factor=2), "proxy = log_prob (not below) must select nothing"


def _lp_reg_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    valid = valid_mask(inputs["mask"])
    d = np.where(valid, np.asarray(inputs["log_prob"], dtype=np.float64)
                 - np.asarray(inputs["old_log_prob"], dtype=np.float64), 0.0)
    with np.errstate(over="ignore"):
        bound = np.abs(np.asarray(inputs["advantages"], dtype=np.float64)) * np.maximum(
            np.exp(d), 1.0 + float(params.get("clip_high", 0.2)))
    bound = bound[valid & np.isfinite(bound)]
    return max(1.0, (float(bound.max()) if bound.size else 0.0) + 10.0 * float(params.get("coef", 1.0)))


#: A regularised token adds at most coef·10 (the k3 clamp) to its unclipped −Aρ.
LP_REG_SCALE = Scale("max(1, largest |A_t|·max(ρ_t, 1 + clip_high) over valid tokens + 10·coef): the largest "
                     "possible |per-token loss| (k3 is clamped to 10)", _lp_reg_scale)


def _neg_side(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[int, int]:
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    n = int((valid_mask(inputs["mask"]) & (adv < 0)).sum())
    return n, max(1, int(n * float(params.get("neg_k_percent", 0.01))))


def _cut_by_proxy(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    n, k = _neg_side(inputs, params)
    if n == 0 or k <= 1:
        return False
    lowest = lp_reg_selected({**inputs, "proxy_log_prob": np.full(np.shape(inputs["mask"]), np.inf)}, params)
    return bool(np.any(lowest & ~lp_reg_selected(inputs, params)))


def _k3_clamped(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    sel = lp_reg_selected(inputs, params)
    d = np.asarray(inputs["proxy_log_prob"], dtype=np.float64) - np.asarray(inputs["log_prob"], dtype=np.float64)
    return bool(np.any(sel & (np.expm1(np.minimum(d, 20.0)) - d > 10.0)))


def _tie_at_cut(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    n, k = _neg_side(inputs, params)
    if k <= 1 or k >= n:
        return False
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)[valid_mask(inputs["mask"]) & (adv < 0)]
    s = np.sort(lp)
    return bool(s[k - 1] == s[k])


register(MethodSpec(
    id="lp_reg_policy_loss",
    family="policy",
    kind="loss",
    summary="Lp-Reg: PPO-clip, except that among the valid A < 0 tokens the k = max(1, int(n_neg·ρ)) of lowest "
            "log-prob (only when k > 1) whose log π < log π_proxy get the unclipped −Aρ + β·k3(log π → log π_proxy).",
    papers=(LP_REG_2025, PPO_2017, DAPO_2025),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{LP_REG_CODE} verl/trainer/ppo/core_algos.py compute_policy_loss_lp_reg, kl_penalty "
                        "(low_var_kl) and agg_loss, and verl/workers/actor/dp_actor.py (the loss_mode == 'lp_reg' "
                        f"branch) at commit {LP_REG_COMMIT[:12]}, fetched with the search tool; recipe/lp_reg "
                        "scripts (logp_neg_k_percent 0.01, logp_pos_k_percent 0, ppo_kl_coef 1, kl_type low_var_kl, "
                        "loss_agg_mode token-mean); the paper's abstract (arXiv 2510.03222) via the search tool",
        official_code=f"{LP_REG_CODE}:verl/trainer/ppo/core_algos.py:compute_policy_loss_lp_reg",
        notes="Stop-gradient: old_log_prob, advantages, proxy_log_prob and the selection (the code ranks under "
              "no_grad and compares log_prob.detach()). Selected tokens lose the PPO clip (the code overwrites "
              "pg_losses with −A·ratio + β·k3). k3 is verl's low_var_kl toward the proxy, clamped to [−10, 10]: its "
              "gradient vanishes once proxy − log π > ≈2.61 (the clamp binds). Both sides use the one proxy input (the "
              "recipe's minp_old_log_prob=True gives pos_tgt = neg_tgt). Aggregation through `aggregate`. The paper's "
              "equations beyond the abstract were not readable in the stored corpus: the formula is the code's, as the "
              "catalogue (verified-code).",
        differences=(
            Difference("top-k ties", "the ρ lowest-probability tokens",
                       "torch.topk(largest=False), tie order unspecified; here the lowest flat index wins", "code",
                       None),
            Difference("k3 log-ratio clamp", "Schulman's k3",
                       "the fork's kl_penalty clamps only the output to [−10, 10]; upstream verl also clamps the "
                       "log-ratio to [−20, 20] — identical for finite inputs (the output clamp binds first)", "code",
                       None),
            Difference("positive side", "only negative-advantage tokens are protected",
                       "the code has a symmetric positive branch (logp_pos_k_percent, 0 in the recipes)", "paper",
                       "pos_k_percent"),
        ),
    ),
    inputs=(
        *loss_inputs(),
        InputSpec("proxy_log_prob", "log_probs", SEQ, "log π_proxy(y_t) from lp_reg_proxy_logprob (stop-gradient)",
                  stop_gradient=True),
    ),
    params=(
        ParamSpec("neg_k_percent", 0.01, Interval(0.0, 1.0), "ρ: fraction of the valid A < 0 tokens considered (the "
                  "code's logp_neg_k_percent, a fraction despite its name)", sensitive=True),
        ParamSpec("pos_k_percent", 0.0, Interval(0.0, 1.0), "the same for A > 0 tokens (logp_pos_k_percent; 0 = off)",
                  sensitive=True),
        ParamSpec("coef", 1.0, Interval(0.0, 100.0), "β: weight of the k3 penalty (the code's ppo_kl_coef)"),
        *clip_params(sensitive=True),
        loss_mode(),
    ),
    outputs=(loss_output(LP_REG_SCALE),),
    branches=(
        Branch("tokens regularised", "some valid token is selected and below its proxy (unclipped −Aρ + β·k3)",
               lambda i, p, o: bool(lp_reg_selected(i, p).any())),
        Branch("selection cut by the proxy", "a token among the k lowest has log π ≥ log π_proxy and is left alone",
               _cut_by_proxy),
        Branch("k <= 1 with negatives", "valid A < 0 tokens exist but int(n_neg·ρ) ≤ 1: nothing is regularised",
               lambda i, p, o: _neg_side(i, p)[0] > 0 and _neg_side(i, p)[1] <= 1),
        Branch("k3 clamp active", "a selected token with proxy − log π beyond the clamp (k3 = 10, no gradient)",
               _k3_clamped),
        Branch("tie at the k-th log-prob", "the k-th and (k+1)-th lowest negative log-probs are equal (the lowest "
               "flat index wins)", _tie_at_cut),
        EMPTY_MASK,
    ),
    properties=(
        per_token_definition("per-token loss equals the code's formula and aggregates by `aggregate`",
                             lp_reg_tokens),
        Property("reduces_to_ppo", "ρ = 0 on both sides gives PPO-clip", _lp_reg_reduces_to_ppo),
        Property("strict_proxy_comparison", "proxy = log π selects nothing (log π < proxy is strict)",
                 _lp_reg_proxy_above_raises),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages", "proxy_log_prob"))),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_lp_reg_problem, wrt=("log_prob",),
                          kinks="the PPO clip boundaries of unselected tokens (see ppo_clip_loss); the k3 clamp at "
                                "proxy − log π ≈ 2.61 on selected tokens (derivative jumps to −Aρ); the selection is "
                                "piecewise constant in log_prob (a constant; it jumps where log π crosses the proxy "
                                "or another log-prob)"),
    stop_gradients=("old_log_prob, advantages and proxy_log_prob are constants",
                    "the selection (top-k by log π and log π < proxy) is computed without gradient"),
    degenerate=("empty mask gives 0", "no valid A < 0 token, or int(n_neg·ρ) ≤ 1: plain PPO-clip",
                "tokens with A = 0 are never selected and give 0"),
))


# =========================================================================== steer_token_weights

STEER_2025 = Paper("Rethinking Entropy Interventions in RLVR: An Entropy Change Perspective", 2025, "2510.10150")
STEER_CODE = "zz-haooo/STEER"
STEER_COMMIT = "b31df71652cd103ddc3512656a430c39ba15dd13"


def np_steer_omega(inputs: Mapping[str, Any]) -> F64:
    """|Ω| of the code: |A / clip(e^old, 1e-8, 1) · x(1 − x)(log x + H)|, x = clip(e^logp, 1e-8, 1 − 1e-8);
    non-finite values set to 0."""
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    e = np.exp(lp)
    x = np.clip(e, 1e-8, 1.0 - 1e-8)
    log_x = np.where(x == e, lp, np.log(x))
    f = x * (1.0 - x) * (log_x + np.asarray(inputs["entropy"], dtype=np.float64))
    p_old = np.clip(np.exp(np.asarray(inputs["old_log_prob"], dtype=np.float64)), 1e-8, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        omega = np.asarray(inputs["advantages"], dtype=np.float64) / p_old * f
    return np.asarray(np.abs(np.where(np.isfinite(omega), omega, 0.0)), dtype=np.float64)


def np_steer_weights(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> F64:
    valid = valid_mask(inputs["mask"])
    omega = np_steer_omega(inputs)
    w_min, w_max = float(params.get("w_min", 0.8)), float(params.get("w_max", 1.2))
    if not valid.any():
        return np.zeros(omega.shape)
    lo, hi = float(omega[valid].min()), float(omega[valid].max())
    if params.get("linear", False):
        if hi > lo:
            w = np.clip(w_max - (omega - lo) * ((w_max - w_min) / (hi - lo)), w_min, w_max)
        else:
            w = np.full(omega.shape, (w_min + w_max) / 2)
    else:
        k = -math.log(w_min) / max(hi, 0.02)
        w = np.clip(np.exp(-k * omega), w_min, 1.0)
    return np.asarray(np.where(valid, w, 0.0), dtype=np.float64)


def steer_inputs() -> tuple[InputSpec, ...]:
    return (
        *loss_inputs(),
        InputSpec("entropy", "values", SEQ, "H_t: the current policy's token entropy (stop-gradient)",
                  stop_gradient=True),
    )


def steer_weight_params() -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("w_min", 0.8, Interval(0.0, 1.0, low_closed=False), "the smallest weight (token_weight_min)"),
        ParamSpec("w_max", 1.2, Interval(1.0, 10.0), "the largest weight of the linear map (token_weight_max; the "
                  "exponential map caps at 1)"),
        ParamSpec("linear", False, Choice((False, True)), "False: the paper's λ = exp(−k|Ω|); True: the code's "
                  "min-max linear map onto [w_min, w_max] (run_linear.sh)"),
    )


def _weights_definition(ctx: PropertyContext) -> None:
    (w,) = ctx.call()
    expect = np_steer_weights(ctx.inputs, ctx.params)
    assert ctx.close(w, expect, factor=2), f"STEER weights {w} != definition {expect}"


def _weights_bounds(ctx: PropertyContext) -> None:
    (w,) = ctx.call()
    w = np.asarray(w, dtype=np.float64)
    valid = valid_mask(ctx.inputs["mask"])
    assert np.all(w[~valid] == 0.0), "weights off the mask must be exactly 0"
    lo = float(ctx.params.get("w_min", 0.8))
    hi = float(ctx.params.get("w_max", 1.2)) if ctx.params.get("linear", False) else 1.0
    s = ctx.slack(2)
    assert np.all((w[valid] >= lo - s) & (w[valid] <= hi + s)), f"weights outside [{lo}, {hi}]: {w[valid]}"


def _weights_monotone(ctx: PropertyContext) -> None:
    """w is non-increasing in |Ω| over the valid tokens."""
    valid = valid_mask(ctx.inputs["mask"])
    if valid.sum() < 2:
        ctx.skip("fewer than two valid tokens")
    omega = np_steer_omega(ctx.inputs)[valid]
    (w,) = ctx.call()
    w = np.asarray(w, dtype=np.float64)[valid]
    order = np.argsort(omega, kind="stable")
    steps = np.diff(w[order])
    gaps = np.diff(omega[order])
    # a rounding-level gap in Ω may be ordered either way by another precision: only clear gaps count
    clear = gaps > 1e-6 * (1.0 + np.abs(omega[order][1:]))
    assert np.all(steps[clear] <= ctx.slack(4)), f"weights increase with |Ω|: {w[order]} for Ω {omega[order]}"


def _weights_unit(ctx: PropertyContext) -> None:
    (w,) = ctx.call(w_min=1.0, w_max=1.0)
    expect = valid_mask(ctx.inputs["mask"]).astype(np.float64)
    assert ctx.close(w, expect), "w_min = w_max = 1 must give the mask (plain loss)"


def _weights_adv_scale(ctx: PropertyContext) -> None:
    """The linear map is a min-max normalisation: scaling A by 2 leaves the weights unchanged."""
    if not ctx.params.get("linear", False):
        ctx.skip("the exponential map depends on the size of Ω (its 0.02 floor)")
    (a,) = ctx.call()
    (b,) = ctx.call(advantages=2.0 * np.asarray(ctx.inputs["advantages"], dtype=np.float64))
    assert ctx.close(b, a, factor=4), "linear STEER weights must be invariant to A → 2A"


def _omega_spread(inputs: Mapping[str, Any]) -> tuple[float, float] | None:
    valid = valid_mask(inputs["mask"])
    if not valid.any():
        return None
    omega = np_steer_omega(inputs)[valid]
    return float(omega.min()), float(omega.max())


register(MethodSpec(
    id="steer_token_weights",
    family="policy",
    kind="advantage",
    summary="STEER token weights from the first-order entropy-change estimate |Ω| = |A/p_old·x(1−x)(log x + H)|: "
            "λ = exp(−k|Ω|), k = −log w_min / max(max Ω, 0.02) (paper), or the min-max linear map onto "
            "[w_min, w_max] (code's run_linear.sh); 0 off the mask.",
    papers=(STEER_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{STEER_CODE} verl/trainer/ppo/core_algos.py compute_token_weights (commit "
                        f"{STEER_COMMIT[:12]}, fetched with the search tool), run/run_linear.sh (w 0.8–1.2, "
                        "linear=True) and run/run_exp.sh (w_min 0.8, linear=False); the paper (arXiv 2510.10150v2 "
                        "abstract and the sciencestack summary via the search tool: λ_{i,t} = exp(−k|Ω_{i,t}|))",
        official_code=f"{STEER_CODE}:verl/trainer/ppo/core_algos.py:compute_token_weights",
        notes="Computed under no_grad (a constant). Ω uses x = clip(e^logp, 1e-8, 1 − 1e-8) and p_old = clip(e^old, "
              "1e-8, 1) (the code's variable is named x_one_minus_x_squared but computes x(1 − x)). min and max of "
              "|Ω| are over ALL valid tokens of the call (micro-batch dependent). The code maps non-finite Ω to 0 "
              "(the largest weight); with the finite inputs required here Ω is always finite, so that branch is "
              "unreachable. The exponential map's clip to [w_min, 1] only guards rounding (exp(−k|Ω|) ∈ [w_min, 1] "
              "exactly).",
        differences=(
            Difference("weight map", "λ = exp(−k|Ω|)",
                       "run_linear.sh and the function default linear=True: w = w_max − (Ω − min)(w_max − w_min)/"
                       "(max − min), clipped, (w_min + w_max)/2 when max = min", "paper", "linear"),
            Difference("non-finite Ω", "not discussed", "set to 0, i.e. the largest weight", "code", None),
            Difference("log x", "log π", "log(clip(exp(logp), 1e-8, 1 − 1e-8)); here logp itself where the clip is "
                       "inactive (equal up to rounding: the rounding residual of log(exp(logp)) + H at H = −logp is "
                       "otherwise amplified by the min-max map and differs between math libraries)", "paper", None),
            Difference("precision", "real arithmetic", "the fork computes in the log-probs' dtype (float32 in "
                       "training), where clip(p, ·, 1 − 1e-8) rounds to 1 and x(1 − x) = 0 for p near 1; every "
                       "backend here computes the weights in float64 (elementwise over (B, T), cheap), so all "
                       "dtypes agree with the float64 definition", "paper", None),
        ),
    ),
    inputs=steer_inputs(),
    params=steer_weight_params(),
    outputs=(OutputSpec("weights", "token weights (B, T), 0 at masked positions", shape=SEQ,
                        scale=Scale("max(1, w_max)", lambda i, p: max(1.0, float(p.get("w_max", 1.2))))),),
    branches=(
        Branch("linear: spread", "linear map with max |Ω| > min |Ω| over the valid tokens",
               lambda i, p, o: bool(p.get("linear")) and (s := _omega_spread(i)) is not None and s[1] > s[0]),
        Branch("linear: all Ω equal", "linear map with one value of |Ω| (one valid token, or A = 0): the midpoint",
               lambda i, p, o: bool(p.get("linear")) and (s := _omega_spread(i)) is not None and s[1] == s[0]),
        Branch("exp: the 0.02 floor binds", "exponential map with max |Ω| < 0.02 (k = −log w_min / 0.02)",
               lambda i, p, o: not p.get("linear") and (s := _omega_spread(i)) is not None and s[1] < 0.02),
        Branch("exp: max Ω above the floor", "exponential map with max |Ω| ≥ 0.02 (the largest |Ω| gets w_min)",
               lambda i, p, o: not p.get("linear") and (s := _omega_spread(i)) is not None and s[1] >= 0.02),
        EMPTY_MASK,
    ),
    properties=(
        Property("definition", "equals the code's formula", _weights_definition),
        Property("bounds", "valid weights in [w_min, w_max] (linear) or [w_min, 1] (exp); 0 off the mask",
                 _weights_bounds),
        Property("monotone_in_omega", "weights are non-increasing in |Ω|", _weights_monotone),
        Property("unit_weights", "w_min = w_max = 1 gives the mask", _weights_unit),
        Property("linear_advantage_scale", "linear map: invariant to A → 2A", _weights_adv_scale),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages", "entropy"))),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (computed under no_grad)",),
    degenerate=("empty mask gives all zeros", "one valid token, or all |Ω| equal: the linear map gives "
                "(w_min + w_max)/2; the exponential map gives exp(−k|Ω|) with the 0.02 floor"),
))


# =========================================================================== steer_policy_loss


def steer_tokens(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> F64:
    i, p = inputs, params
    ppo = ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], p.get("clip_low", 0.2),
                     p.get("clip_high", 0.28), p.get("dual_clip", 10.0))
    return np.asarray(ppo * np_steer_weights(i, p), dtype=np.float64)


def _steer_unit(ctx: PropertyContext) -> None:
    """w_min = w_max = 1 is verl's dual-clip PPO with clip-higher."""
    i, p = ctx.inputs, ctx.params
    (tok,) = ctx.call(mode="none", w_min=1.0, w_max=1.0)
    expect = ppo_tokens(i["log_prob"], i["old_log_prob"], i["advantages"], i["mask"], p.get("clip_low", 0.2),
                        p.get("clip_high", 0.28), p.get("dual_clip", 10.0))
    assert ctx.close(tok, expect, factor=2), f"unit weights must give dual-clip PPO: {tok} vs {expect}"


def _steer_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    valid = valid_mask(inputs["mask"])
    d = np.where(valid, np.asarray(inputs["log_prob"], dtype=np.float64)
                 - np.asarray(inputs["old_log_prob"], dtype=np.float64), 0.0)
    with np.errstate(over="ignore"):
        bound = np.abs(np.asarray(inputs["advantages"], dtype=np.float64)) * np.maximum(
            np.exp(d), 1.0 + float(params.get("clip_high", 0.28)))
    bound = bound[valid & np.isfinite(bound)]
    w = max(1.0, float(params.get("w_max", 1.2))) if params.get("linear", False) else 1.0
    return max(1.0, w * (float(bound.max()) if bound.size else 0.0))


def _steer_clip_sides(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    valid = valid_mask(inputs["mask"])
    d = np.asarray(inputs["log_prob"], dtype=np.float64) - np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    with np.errstate(over="ignore"):
        r = np.exp(d)
    c = params.get("dual_clip", 10.0)
    return (bool(np.any(valid & (adv > 0) & (r > 1 + float(params.get("clip_high", 0.28))))),
            bool(np.any(valid & (adv < 0) & (r < 1 - float(params.get("clip_low", 0.2))))),
            c is not None and bool(np.any(valid & (adv < 0) & (r > float(c)))))


register(MethodSpec(
    id="steer_policy_loss",
    family="policy",
    kind="loss",
    summary="STEER loss: verl's dual-clip PPO with clip-higher, each token's loss multiplied by its detached "
            "steer_token_weights weight, aggregated with the mask.",
    papers=(STEER_2025, PPO_2017, DAPO_2025),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{STEER_CODE} verl/trainer/ppo/core_algos.py compute_policy_loss_with_entropy (registered "
                        f"as 'entropy_control'), compute_token_weights and agg_loss (commit {STEER_COMMIT[:12]}, "
                        "fetched with the search tool); run/run_linear.sh and run/run_exp.sh (clip 0.2/0.28, "
                        "clip_ratio_c 10.0)",
        official_code=f"{STEER_CODE}:verl/trainer/ppo/core_algos.py:compute_policy_loss_with_entropy",
        notes="The weights are computed under no_grad from the same log_prob (a constant in the gradient): the "
              "gradient is w ⊙ ∇(dual-clip PPO). That surrogate gradient is not the derivative of the loss value "
              "(which moves with w), so the spec carries no SymPy derivation: the tests compare autograd with the "
              "fork's autograd and with w·∂PPO in closed form. Aggregation through `aggregate` (the fork's agg_loss "
              "differs in its seq-mean-token-sum-norm normaliser, see `aggregate`).",
        differences=(
            Difference("weight map", "λ = exp(−k|Ω|)", "run_linear.sh: linear map (see steer_token_weights)",
                       "paper", "linear"),
            Difference("dual clip constant", "dual-clip PPO with c", "function default clip_ratio_c = 3.0; the run "
                       "scripts set 10.0 (our default); None disables the dual clip", "code", "dual_clip"),
            Difference("log-ratio clamp", "ρ = exp(logp − old)", "the fork clamps logp − old to [−20, 20] before exp "
                       "(as verl); not applied here, as ppo_clip_loss", "paper", None),
        ),
    ),
    inputs=steer_inputs(),
    params=(
        *steer_weight_params(),
        ParamSpec("clip_low", 0.2, Interval(0.0, 1.0), "ε_low: the ratio is clipped below at 1 − ε_low",
                  sensitive=True),
        ParamSpec("clip_high", 0.28, Interval(0.0, 10.0), "ε_high (the STEER scripts' 0.28)", sensitive=True),
        ParamSpec("dual_clip", 10.0, Interval(1.0, 100.0, low_closed=False, allow_none=True),
                  "dual-clip constant c > 1 (the scripts' clip_ratio_c = 10); None disables it", sensitive=True),
        loss_mode(),
    ),
    outputs=(loss_output(Scale("max(1, w·largest |A_t|·max(ρ_t, 1 + clip_high)), w = w_max (linear) or 1 (exp)",
                               _steer_scale)),),
    branches=(
        Branch("clipped above", "a valid token with A > 0 and ρ > 1 + ε_high",
               lambda i, p, o: _steer_clip_sides(i, p)[0]),
        Branch("clipped below", "a valid token with A < 0 and ρ < 1 − ε_low",
               lambda i, p, o: _steer_clip_sides(i, p)[1]),
        Branch("dual clip active", "a valid token with A < 0 and ρ > c (the loss is −A·c·w)",
               lambda i, p, o: _steer_clip_sides(i, p)[2]),
        Branch("weights spread", "valid tokens with different weights",
               lambda i, p, o: (s := _omega_spread(i)) is not None and s[1] > s[0]),
        EMPTY_MASK,
    ),
    properties=(
        per_token_definition("per-token loss = w · dual-clip PPO, aggregated by `aggregate`", steer_tokens),
        Property("unit_weights_is_ppo", "w_min = w_max = 1 gives verl's dual-clip PPO with clip-higher", _steer_unit),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter",
                 masked_irrelevant_factory(("log_prob", "old_log_prob", "advantages", "entropy"))),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("old_log_prob, advantages and entropy are constants",
                    "the weights (computed under no_grad from log_prob): the gradient is w ⊙ ∇(dual-clip PPO)"),
    degenerate=("empty mask gives 0", "A = 0 tokens give exactly 0"),
))
