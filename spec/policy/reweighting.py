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
from spec.policy._common import (
    F64,
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
