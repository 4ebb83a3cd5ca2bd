"""Specs of the truncation filters: top-k, top-p, min-p, typical, epsilon, eta and Top-H.

Every filter maps logits ``(..., V)`` to logits of the same shape: kept entries are returned
unchanged, removed entries become ``-inf`` (HF's ``filter_value``). Defaults, boundary rules and
``min_tokens_to_keep`` guards are pinned to transformers 5.23.0 ``generation/logits_process.py``
(read locally); the sort order is a stable descending sort of the logits (lowest index first among
ties). The property bundle every filter shares lives in :mod:`spec.decoding._filters`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.decoding._filters import (
    CUT_MID,
    F64,
    FILTER_OUT,
    HEWITT_2022,
    HF,
    HF_CODE,
    LOGITS,
    MIN_KEEP,
    NEG_INF,
    NEG_INF_CUT,
    THRESHOLD_UNDERFLOW,
    TIE_AT_CUT,
    TIE_ORDER,
    _drops_underflow,
    decision_slack,
    entropy_rows,
    guarded,
    in_dtype,
    int_logits,
    kept,
    log_softmax_row,
    min_keep_binds,
    nested,
    nested_rev,
    stable_desc,
    threshold,
    truncation_properties,
)
from spec.model import (
    Branch,
    Choice,
    Difference,
    Interval,
    IntRange,
    MethodSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
)
from spec.properties import out, rows
from spec.registry import register

__all__ = ["TOP_H_PROBABILITY_FLOOR", "TYPICAL_ORDER_RESOLUTION", "TYPICAL_SCORE_RESOLUTION"]

HOLTZMAN_2019 = Paper("The Curious Case of Neural Text Degeneration", 2019, "1904.09751")
FAN_2018 = Paper("Hierarchical Neural Story Generation", 2018, "1805.04833")
MINP_2024 = Paper("Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs", 2024, "2407.01082")
MEISTER_2022 = Paper("Locally Typical Sampling", 2022, "2202.00666")
TOP_H_2025 = Paper("Top-H Decoding: Adapting the Creativity and Coherence with Bounded Entropy in Text Generation",
                   2025, "2509.02510")


# --------------------------------------------------------------------------- top_k_filter


def _topk_count(ctx: PropertyContext) -> None:
    z = rows(ctx.inputs["logits"])
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    ks = rows(kept(out(ctx)))
    v = z.shape[-1]
    k_eff = min(max(int(ctx.params["k"]), int(ctx.params.get("min_tokens_to_keep", 1))), v)
    finite = np.isfinite(z).sum(axis=-1)
    n = ks.sum(axis=-1)
    if ctx.params.get("ties", "keep") == "exact":
        assert np.all(n == np.minimum(k_eff, finite)), f"ties='exact' must keep exactly {k_eff} tokens: {n}"
    else:
        assert np.all(n >= np.minimum(k_eff, finite)), f"ties='keep' keeps at least {k_eff} tokens: {n}"
        for zr, kr in zip(z, ks, strict=True):
            kth = np.sort(zr)[::-1][k_eff - 1]
            assert np.array_equal(kr, np.isfinite(zr) & (zr >= kth)), "ties='keep' must keep every z >= k-th value"


def _topk_exact_lowest_index(ctx: PropertyContext) -> None:
    z = np.zeros((2, 4))  # all tied: exact keeps the k lowest indices
    y = out(ctx, logits=z, k=2, ties="exact", min_tokens_to_keep=1)
    assert np.array_equal(kept(y), np.array([[True, True, False, False]] * 2)), "ties must go to the lowest index"
    y = out(ctx, logits=z, k=2, ties="keep", min_tokens_to_keep=1)
    assert kept(y).all(), "ties='keep' must keep every tied token"


def _topk_identity(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if ctx.params.get("min_tokens_to_keep", 1) > z.shape[-1]:
        ctx.skip("min_tokens_to_keep > V")
    y = out(ctx, k=z.shape[-1])
    assert np.array_equal(y, z), "k >= V must be the identity"


def _topk_temperature(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    base = kept(out(ctx, logits=z))
    for scale in (0.5, 2.0):
        assert np.array_equal(kept(out(ctx, logits=z * scale)), base), f"kept set changed under z * {scale}"


def _topk_nested(ctx: PropertyContext) -> None:
    k = int(ctx.params["k"])
    if max(k, int(ctx.params.get("min_tokens_to_keep", 1))) >= ctx.inputs["logits"].shape[-1]:
        ctx.skip("k_eff >= V: both sides are the identity")
    small = kept(out(ctx))
    big = kept(out(ctx, k=k + 1))
    assert np.all(~small | big), f"kept(k={k}) not contained in kept(k={k + 1})"


def _topk_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    """Tokens k alone keeps (ties='keep': every finite z >= the k-th value)."""
    k = min(int(params["k"]), zr.shape[-1])
    kth = np.sort(zr)[::-1][k - 1]
    n = int(np.sum(np.isfinite(zr) & (zr >= kth)))
    return min(k, n) if params.get("ties", "keep") == "exact" else n


register(MethodSpec(
    id="top_k_filter",
    family="decoding",
    kind="decoding",
    summary="Top-k truncation with a named ties policy ('keep' like HF, or 'exact' with lowest-index tie-break).",
    papers=(FAN_2018,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} TopKLogitsWarper (read locally): top_k = max(top_k, min_tokens_to_keep), clipped to "
                        "V; removes scores < topk(scores, k)[..., -1] (ties kept)",
        official_code=HF_CODE,
        notes="ties='exact' reproduces FlashInfer/Triton kernels that keep exactly k (vLLM PR #50979 batch-size "
              "dependence); the tie-break there is the lowest index.",
        differences=(Difference("ties at the k-th value", "keep exactly k (kernels)", "HF keeps all ties", "peer",
                                "ties", name="exact_k", params={"ties": "exact"}), TIE_ORDER),
    ),
    inputs=(LOGITS,),
    params=(
        ParamSpec("k", None, IntRange(1, None), "number of most probable tokens kept", positional=True, required=True),
        ParamSpec("ties", "keep", Choice(("keep", "exact")), "ties policy at the k-th value"),
        MIN_KEEP,
    ),
    outputs=(FILTER_OUT,),
    properties=(
        Property("count", "exact keeps min(k_eff, #finite); keep keeps every z >= the k-th value", _topk_count),
        Property("lowest_index_ties", "exact breaks ties by the lowest index; keep keeps all ties",
                 _topk_exact_lowest_index),
        Property("k_ge_v_identity", "k >= V is the identity", _topk_identity),
        Property("nested_in_k", "kept(k) is contained in kept(k + 1)", _topk_nested),
        Property("temperature_invariance", "the kept set is invariant to z -> z * c, c > 0", _topk_temperature),
        *truncation_properties(),
    ),
    branches=(CUT_MID, TIE_AT_CUT, min_keep_binds(_topk_rule_count)),
    degenerate=(
        "k >= V: identity",
        "k = 1: greedy up to ties (ties='keep' keeps every token tied at the max; 'exact' the lowest index)",
        "a row of only -inf, NaN logits -> DomainError; k < 1 -> ParameterError",
    ),
))



# --------------------------------------------------------------------------- top_p_filter


def _topp_mass(ctx: PropertyContext) -> None:
    """Kept mass >= p, and dropping the last kept token leaves mass < p (HF's inclusive crossing token)."""
    p = float(ctx.params["p"])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    z = rows(ctx.inputs["logits"])
    if not 0.0 < p < 1.0 or z.shape[0] == 0:
        ctx.skip("p = 0 or 1 (checked by p_zero / p_one_identity) or an empty batch")
    k_all = rows(kept(out(ctx)))
    slack = decision_slack(ctx, z.shape[-1])
    for zr, kr in zip(z, k_all, strict=True):
        probs = np.exp(log_softmax_row(zr))
        mass = probs[kr].sum()
        assert mass >= min(p, probs[np.isfinite(zr)].sum()) - slack, f"kept mass {mass} < p = {p}"
        if kr.sum() > m:
            assert mass - probs[kr].min() < p + slack, f"kept set is not minimal: {mass - probs[kr].min()} >= p = {p}"


def _topp_p1(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    assert np.array_equal(out(ctx, p=1.0), z), "p = 1 must keep every finite logit"


def _topp_p0(ctx: PropertyContext) -> None:
    z = rows(ctx.inputs["logits"])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    ks = rows(kept(out(ctx, p=0.0)))
    assert np.all(ks.sum(axis=-1) == np.minimum(m, np.isfinite(z).sum(axis=-1))), \
        "p = 0 must keep exactly min_tokens_to_keep tokens"


def _topp_exact_boundary(ctx: PropertyContext) -> None:
    """Equal logits have exactly representable masses 1/V in every dtype (shift-exact softmax): p equal to
    the mass of the first j tokens keeps exactly j, p just above keeps j + 1 (transformers #18976)."""
    for v, p, n in ((4, 0.25, 1), (4, 0.5, 2), (4, 0.75, 3), (8, 0.375, 3), (4, 0.5 + 2.0**-20, 3)):
        ks = kept(out(ctx, logits=np.zeros((1, v)), p=p, min_tokens_to_keep=1))
        assert int(ks.sum()) == n, f"{v} equal logits, p = {p}: kept {int(ks.sum())}, expected {n}"


def _topp_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    """Tokens the mass rule alone keeps: those whose preceding (descending) mass is < p."""
    p = float(params["p"])
    probs = np.sort(np.exp(log_softmax_row(zr)))[::-1]
    before = np.concatenate([[0.0], np.cumsum(probs)[:-1]])
    return int(np.sum(before < p)) if 0 < p < 1 else (0 if p == 0 else int(np.isfinite(zr).sum()))


register(MethodSpec(
    id="top_p_filter",
    family="decoding",
    kind="decoding",
    summary="Top-p (nucleus) truncation: the smallest most-probable set whose mass reaches p (crossing token kept).",
    papers=(HOLTZMAN_2019,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} TopPLogitsWarper (read locally): ascending sort, cumsum(softmax) <= 1 - top_p removed, "
                        "last min_tokens_to_keep forced kept; domain 0 <= top_p <= 1",
        official_code=HF_CODE,
        notes="Crossing token included; exact-equality case keeps no extra token (transformers #18976/#18984). "
              "p = 1 returns the input (HF generate skips the warper at top_p = 1.0: generation/utils.py, read "
              "locally); p = 0 keeps exactly "
              "min_tokens_to_keep tokens. Sort order among ties: lowest index first (HF's torch.sort is unstable).",
        differences=(Difference("top_p = 1", "keep every token of nonzero probability",
                                "the bare HF warper also drops tokens whose probability underflows to 0", "paper",
                                name="hf_drops_underflow", accepts=_drops_underflow), TIE_ORDER),
    ),
    inputs=(LOGITS,),
    params=(threshold("nucleus mass p in [0, 1]", "p", Interval(0.0, 1.0)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("mass", "kept mass >= p and minimal (the crossing token is included)", _topp_mass),
        Property("nested_in_p", "kept(p / 2) is contained in kept(p)", nested("p", 0.5)),
        Property("p_one_identity", "p = 1 keeps every finite logit", _topp_p1),
        Property("p_zero", "p = 0 keeps exactly min_tokens_to_keep tokens", _topp_p0),
        Property("exact_boundary", "p equal to an exact cumulative mass keeps no extra token", _topp_exact_boundary),
        *truncation_properties(),
    ),
    branches=(CUT_MID, TIE_AT_CUT, NEG_INF_CUT, min_keep_binds(_topp_rule_count)),
    degenerate=(
        "p = 0: exactly min_tokens_to_keep most probable tokens (never all -inf, cf. transformers #19839)",
        "p = 1: identity (every finite logit kept)",
        "a row of only -inf, NaN logits -> DomainError; NaN or out-of-range p -> ParameterError",
    ),
))


# --------------------------------------------------------------------------- min_p_filter


def _minp_threshold(ctx: PropertyContext) -> None:
    min_p = float(ctx.params["min_p"])
    z = rows(ctx.inputs["logits"])
    if min_p == 0 or z.shape[0] == 0:
        ctx.skip("min_p = 0 (checked by min_p_zero_identity) or an empty batch")
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    ks = rows(kept(out(ctx)))
    slack = ctx.slack(2.0)  # z - max z is computed in the logits' units
    log_t = math.log(min_p)
    for zr, kr in zip(z, ks, strict=True):
        rel = zr - zr.max()
        assert np.all(kr | ~(rel > log_t + slack)), "a token with p >= min_p * p_max was removed"
        order = np.argsort(-zr, kind="stable")
        forced = np.zeros_like(kr)
        forced[order[:m]] = True
        assert np.all(~kr | forced | ~(rel < log_t - slack)), "a token with p < min_p * p_max was kept"


def _minp_zero(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    assert np.array_equal(out(ctx, min_p=0.0), z), "min_p = 0 must be the identity"


def _minp_one(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    ks = kept(out(ctx, logits=z, min_p=1.0, min_tokens_to_keep=1))
    assert np.array_equal(ks, z == z.max(axis=-1, keepdims=True)), "min_p = 1 keeps exactly the max ties"


def _minp_inclusive(ctx: PropertyContext) -> None:
    """A token exactly at min_p * p_max is kept: z - max z = log(1/2) exactly against min_p = 1/2 in
    float64 and float32. 16-bit dtypes cannot hold log(1/2): there min_p sits 0.1% below the ratio of
    the rounded logits (a clear margin at float32 compute precision)."""
    z = np.array([[0.0, math.log(0.5), math.log(0.25)]])
    min_p = 0.5
    if ctx.dtype in ("float16", "bfloat16"):
        min_p = math.exp(float(in_dtype(z, ctx.dtype)[0, 1])) * (1 - 1e-3)
    ks = kept(out(ctx, logits=z, min_p=min_p, min_tokens_to_keep=1))
    assert np.array_equal(ks, [[True, True, False]]), f"p = min_p * p_max ({min_p}) must be kept: {ks}"


def _minp_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    """Tokens the threshold alone keeps: p_v >= min_p * p_max."""
    min_p = float(params["min_p"])
    if min_p == 0:
        return int(np.isfinite(zr).sum())
    return int(np.sum(zr - zr.max() >= math.log(min_p)))


register(MethodSpec(
    id="min_p_filter",
    family="decoding",
    kind="decoding",
    summary="Min-p truncation: remove tokens with p < min_p * max p.",
    papers=(MINP_2024,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} MinPLogitsWarper (read locally): probs < min_p * probs.amax removed; topk(probs, "
                        "min_tokens_to_keep) indices forced kept; domain 0 <= min_p <= 1",
        official_code=HF_CODE,
        notes="Compared as z - max z < log(min_p) (the same inequality, no underflow). The forced tokens are "
              "exactly min_tokens_to_keep (HF scatters topk indices), ties to the lowest index. Not invariant to "
              "temperature (vLLM applies it after temperature, llama.cpp before).",
        differences=(TIE_ORDER, THRESHOLD_UNDERFLOW),
    ),
    inputs=(LOGITS,),
    params=(threshold("relative threshold min_p in [0, 1]", "min_p", Interval(0.0, 1.0)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("threshold", "p >= min_p * p_max kept, p < min_p * p_max removed (away from the boundary)",
                 _minp_threshold),
        Property("nested_in_min_p", "kept(min(2 min_p, 1)) is contained in kept(min_p)",
                 nested_rev("min_p", 2.0, 1.0)),
        Property("min_p_zero_identity", "min_p = 0 is the identity", _minp_zero),
        Property("min_p_one", "min_p = 1 keeps exactly the tokens tied at the max", _minp_one),
        Property("threshold_inclusive", "a token exactly at min_p * p_max is kept", _minp_inclusive),
        *truncation_properties(),
    ),
    branches=(CUT_MID, NEG_INF_CUT, min_keep_binds(_minp_rule_count)),
    degenerate=(
        "min_p = 0: identity; min_p = 1: only the tokens tied at the max (plus forced ones)",
        "a row of only -inf, NaN logits -> DomainError; NaN or out-of-range min_p -> ParameterError",
    ),
))


# --------------------------------------------------------------------------- typical_filter


def _typical_mass(ctx: PropertyContext) -> None:
    mass = float(ctx.params.get("mass", 0.9))
    z = rows(ctx.inputs["logits"])
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    ks = rows(kept(out(ctx)))
    slack = decision_slack(ctx, z.shape[-1])
    for zr, kr in zip(z, ks, strict=True):
        got = np.exp(log_softmax_row(zr))[kr].sum()
        assert got >= mass - slack, f"typical set mass {got} < mass = {mass}"


def _typical_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    flat = np.where(np.isneginf(z), NEG_INF, 1.0)
    ks = kept(out(ctx, logits=flat))
    assert np.array_equal(ks, np.isfinite(flat)), "equal logits must all be kept (all scores tie)"


#: Two tokens whose typicality scores differ by less than this times (1 + H + max |log p|) are
#: *unordered*: scores are differences of O(|log p|) numbers, so float32 computes them to about 2^-23 of
#: that magnitude and may rank such a pair either way (two logits 1e-9 apart; or two tokens on either
#: side of H, whose scores agree to first order). A comparison rule the harness can apply: accept the
#: reference's output on the input with each unordered pair made exactly equal (kept or removed together).
TYPICAL_SCORE_RESOLUTION = 2.0**-18
#: Former name (logit gaps): logits closer than 2^-20 x max(1, |z|) are always unordered.
TYPICAL_ORDER_RESOLUTION = 2.0**-20


def _typical_near_tie(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    """Two distinct finite logits of a row within 2^-8 of each other, yet resolved (above the resolution)."""
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    for zr in z:
        f = np.sort(zr[np.isfinite(zr)])
        gaps = np.diff(f)
        scale = np.maximum(1.0, np.abs(f[1:]))
        if np.any((gaps > TYPICAL_ORDER_RESOLUTION * scale) & (gaps < 2.0**-8 * scale)):
            return True
    return False


def _typical_scores(zr: F64) -> F64:
    logp = log_softmax_row(zr)
    return np.asarray(np.abs(-logp - entropy_rows(zr)))


def _typical_minimal(ctx: PropertyContext) -> None:
    """Without ties in the score, dropping the least typical kept token must fall below ``mass``."""
    mass = float(ctx.params.get("mass", 0.9))
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    z = rows(ctx.inputs["logits"])
    ks = rows(kept(out(ctx)))
    ran = False
    for zr, kr in zip(z, ks, strict=True):
        if kr.sum() <= m:
            continue
        score = _typical_scores(zr)
        worst = np.max(score[kr])
        if np.sum(kr & (score == worst)) != 1:
            continue  # a tie in the score: tied tokens are kept together
        ran = True
        probs = np.exp(log_softmax_row(zr))
        rest = probs[kr & (score < worst)].sum()
        assert rest < mass + decision_slack(ctx, z.shape[-1]), f"typical set not minimal: {rest} >= mass = {mass}"
    if not ran:
        ctx.skip("no row keeps more than min_tokens_to_keep tokens with a unique least typical one")


def _typical_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    mass = float(params.get("mass", 0.9))
    score = _typical_scores(zr)
    order = np.argsort(score, kind="stable")
    cum = np.cumsum(np.exp(log_softmax_row(zr))[order])
    last = min(int(np.sum(cum < mass)), zr.shape[-1] - 1)
    return int(np.sum(score <= score[order[last]]))


def _typical_mode_removed(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    k = rows(kept(outputs[0]))
    if z.shape[0] == 0:
        return False
    top = np.argmax(z, axis=-1)[:, None]
    return bool(np.any(~np.take_along_axis(k, top, axis=-1)))


register(MethodSpec(
    id="typical_filter",
    family="decoding",
    kind="decoding",
    summary="Locally typical truncation: keep the tokens whose surprisal is closest to the entropy, up to mass.",
    papers=(MEISTER_2022,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} TypicalLogitsWarper (read locally): score |-log p - H| sorted ascending, last_ind = "
                        "#(cumsum < mass) clamped to V-1, remove score > score[last_ind], first min_tokens_to_keep "
                        "forced; default mass 0.9, domain 0 < mass < 1",
        official_code=HF_CODE,
        notes="Rule as after transformers #27165 (which reverted #26579). Equal logits tie in the score and are "
              "kept or removed together (forced tokens: lowest index first). The most probable token may be removed. "
              "Ordering resolution (TYPICAL_SCORE_RESOLUTION): the order is that of *computed* scores, so two "
              "tokens whose scores differ by less than 2^-18 x (1 + H + max |log p|) are unordered: float32 and "
              "float64 may rank them differently and keep different sets (e.g. logits 0 and 1e-9, or two tokens "
              "on either side of H), and both are conforming. Such inputs are ill-conditioned for every "
              "implementation, HF's included. Conformance draws near-ties of logits down to 2^-10 apart (branch "
              "'near-tie in the score') and, until the harness applies the rule, no unordered score pairs.",
        differences=(TIE_ORDER,),
    ),
    inputs=(LOGITS,),
    params=(threshold("typical mass in (0, 1)", "mass", Interval(0.0, 1.0, low_closed=False, high_closed=False),
                       0.9, required=False), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("mass", "the kept (typical) set has mass >= mass", _typical_mass),
        Property("uniform_keeps_all", "equal logits: every token kept", _typical_uniform),
        Property("minimal", "removing the least typical kept token (beyond the forced ones) leaves mass < mass",
                 _typical_minimal),
        *truncation_properties(mode_kept=False),
    ),
    branches=(CUT_MID, Branch("mode removed", "the most probable token is not typical enough", _typical_mode_removed),
              min_keep_binds(_typical_rule_count),
              Branch("near-tie in the score", "two logits of a row closer than 2^-8 but resolved in float32",
                     _typical_near_tie)),
    degenerate=(
        "mass must lie in (0, 1) (HF); 0 and 1 -> ParameterError",
        "all-equal finite logits: every finite token kept",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))


# --------------------------------------------------------------------------- epsilon / eta




def _prob_threshold(eta: bool) -> Any:
    def check(ctx: PropertyContext) -> None:
        eps = float(ctx.params["epsilon"])
        m = int(ctx.params.get("min_tokens_to_keep", 1))
        z = rows(ctx.inputs["logits"])
        if z.shape[0] == 0:
            ctx.skip("empty batch")
        ks = rows(kept(out(ctx)))
        for zr, kr in zip(z, ks, strict=True):
            logp = log_softmax_row(zr)
            log_t = math.log(eps)
            if eta:
                log_t = min(log_t, 0.5 * math.log(eps) - float(entropy_rows(zr)))
            slack = ctx.slack(2.0)  # log p is computed in the logits' units
            assert np.all(kr | ~(logp > log_t + slack)), "a token above the threshold was removed"
            assert np.all(~kr | guarded(zr, m) | ~(logp < log_t - slack)), "a token below the threshold was kept"

    return check


def _epsilon_inclusive(ctx: PropertyContext) -> None:
    """Logits [log 2, 0, 0] give p = 1/2, 1/4, 1/4 and [log 4, 0, 0, 0, 0] give 1/2, 1/8 x 4 with log p
    exact in float64 and float32 (log 4 = 2 log 2, log 8 = log 2 + log 4 round exactly); epsilon = the
    small probability is exactly at the threshold, so every token stays (not saved by the guard: the
    small ones are not the largest)."""
    for z, eps in (([math.log(2.0), 0.0, 0.0], 0.25), ([math.log(4.0), 0.0, 0.0, 0.0, 0.0], 0.125)):
        if ctx.dtype in ("float16", "bfloat16"):  # log 2 is not representable: 0.1% below the rounded p
            big = float(in_dtype(z[0], ctx.dtype))
            eps = 1.0 / (math.exp(big) + len(z) - 1) * (1 - 1e-3)
        ks = kept(out(ctx, logits=np.array([z]), epsilon=eps, min_tokens_to_keep=1))
        assert ks.all(), f"logits {z}, epsilon = {eps}: p = epsilon exactly must be kept, kept {ks}"


def _epsilon_guard(ctx: PropertyContext) -> None:
    z = rows(ctx.inputs["logits"])
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    ks = rows(kept(out(ctx, epsilon=0.999)))
    for zr, kr in zip(z, ks, strict=True):
        assert np.all(kr | ~(guarded(zr, m) & np.isfinite(zr))), "tokens >= the m-th largest logit must survive"


def _eta_log_threshold(zr: F64, eps: float) -> float:
    return min(math.log(eps), 0.5 * math.log(eps) - float(entropy_rows(zr)))


def _epsilon_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    return int(np.sum(log_softmax_row(zr) >= math.log(float(params["epsilon"]))))


def _eta_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    return int(np.sum(log_softmax_row(zr) >= _eta_log_threshold(zr, float(params["epsilon"]))))


def _eta_entropy_binds(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    eps = float(params["epsilon"])
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    k = rows(kept(outputs[0]))
    return any(_eta_log_threshold(zr, eps) < math.log(eps) and bool(np.any(np.isfinite(zr) & ~kr))
               for zr, kr in zip(z, k, strict=True))


register(MethodSpec(
    id="epsilon_filter",
    family="decoding",
    kind="decoding",
    summary="Epsilon truncation: remove tokens with probability < epsilon.",
    papers=(HEWITT_2022,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} EpsilonLogitsWarper (read locally): probs < epsilon removed unless scores >= "
                        "topk(scores, min_tokens_to_keep)[..., -1]; domain 0 < epsilon < 1",
        official_code=HF_CODE,
        notes="Compared in log space (log p < log eps). The min_tokens_to_keep guard keeps ties with the m-th "
              "largest logit (HF's guard is by value).",
        differences=(TIE_ORDER,),
    ),
    inputs=(LOGITS,),
    params=(threshold("absolute probability threshold in (0, 1)", "epsilon",
                       Interval(0.0, 1.0, low_closed=False, high_closed=False)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("threshold", "p > eps kept, p < eps removed unless guarded (away from the boundary)",
                 _prob_threshold(eta=False)),
        Property("guard", "tokens >= the min_tokens_to_keep-th largest logit always survive", _epsilon_guard),
        Property("threshold_inclusive", "p exactly equal to epsilon is kept", _epsilon_inclusive),
        Property("nested_in_epsilon", "kept(min(2 eps, 0.999)) is contained in kept(eps)",
                 nested_rev("epsilon", 2.0, 0.999)),
        *truncation_properties(),
    ),
    branches=(CUT_MID, min_keep_binds(_epsilon_rule_count)),  # ties are removed or kept together: no tie at a cut
    degenerate=(
        "epsilon must lie in (0, 1) (HF); 0, 1 and NaN -> ParameterError",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))

register(MethodSpec(
    id="eta_filter",
    family="decoding",
    kind="decoding",
    summary="Eta truncation: remove tokens with p < min(eps, sqrt(eps) * exp(-H(p))).",
    papers=(HEWITT_2022,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} EtaLogitsWarper (read locally): eta = min(epsilon, sqrt(epsilon) * exp(-entropy)) with "
                        "entropy = Categorical(logits).entropy(); same guard as epsilon; domain 0 < epsilon < 1",
        official_code=HF_CODE,
        notes="HF's docstring writes sqrt(epsilon * e^-H); the code (and the paper) use sqrt(epsilon) * e^-H, "
              "which is followed. H in nats, -inf entries contribute 0.",
        differences=(TIE_ORDER,),
    ),
    inputs=(LOGITS,),
    params=(threshold("eta hyperparameter epsilon in (0, 1)", "epsilon",
                       Interval(0.0, 1.0, low_closed=False, high_closed=False)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("threshold", "p > eta kept, p < eta removed unless guarded; eta <= eps",
                 _prob_threshold(eta=True)),
        Property("nested_in_epsilon", "kept(min(2 eps, 0.999)) is contained in kept(eps)",
                 nested_rev("epsilon", 2.0, 0.999)),
        *truncation_properties(),
    ),
    branches=(CUT_MID, Branch("entropy term binds", "sqrt(eps) * exp(-H) < eps in a row that removes a token",
                              _eta_entropy_binds),
              min_keep_binds(_eta_rule_count)),
    degenerate=(
        "epsilon must lie in (0, 1) (HF); 0, 1 and NaN -> ParameterError",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))


# --------------------------------------------------------------------------- top_h_filter


def _toph_count(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    ks = rows(kept(out(ctx)))
    n_top = min(int(ctx.params.get("top_n", 100)), z.shape[-1])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    assert np.all(ks.sum(axis=-1) <= max(n_top, m)), "more than max(top_n, min_tokens_to_keep) tokens kept"


#: Top-H candidates with probability <= this count as zero probability (they end the prefix) in every
#: precision: float32 underflows below ~1e-45 where float64 does not, and a precision-dependent "zero"
#: made float32 and float64 keep different sets (e.g. logits [0 x 6, 104] at alpha = 1).
TOP_H_PROBABILITY_FLOOR = 2.0**-100


def _toph_terms(zr: F64, params: Mapping[str, Any]) -> F64:
    """The criterion's entropy terms -q log q of the top_n candidates in stable descending order."""
    n_top = min(int(params.get("top_n", 100)), zr.shape[-1])
    t = float(params.get("temperature", 1.0))
    order = stable_desc(zr)[:n_top]
    with np.errstate(over="ignore"):
        logq = log_softmax_row((zr - zr.max()) / t)
    logq = log_softmax_row(logq[order]) if params.get("criterion", "hf") == "hf" else logq[order]
    q = np.exp(logq)
    pos = q > TOP_H_PROBABILITY_FLOOR
    return np.asarray(np.where(pos, -q * np.where(pos, logq, 0.0), np.nan))


def _toph_rule_count(zr: F64, params: Mapping[str, Any]) -> int:
    """The longest prefix with positive q and partial entropy <= alpha * total (at least 1)."""
    terms = _toph_terms(zr, params)
    cum = np.cumsum(np.nan_to_num(terms))
    tau = float(params["alpha"]) * cum[-1]
    ok = (cum <= tau) & ~np.isnan(terms)
    return max(1, int(np.argmin(ok)) if not ok.all() else ok.size)


def _toph_budget(ctx: PropertyContext) -> None:
    """The kept prefix's partial entropy is within alpha x the total, and one more candidate would exceed it."""
    z = rows(ctx.inputs["logits"])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    ks = rows(kept(out(ctx)))
    ran = False
    for zr, kr in zip(z, ks, strict=True):
        n = int(kr.sum())
        terms = _toph_terms(zr, ctx.params)
        if n <= max(1, m) or np.isnan(terms[:n]).any() or n > terms.size:
            continue
        ran = True
        cum = np.cumsum(terms[:n])
        total = float(np.nansum(terms))
        tau = float(ctx.params["alpha"]) * total
        slack = decision_slack(ctx, terms.size) * (1.0 + total)
        assert cum[-1] <= tau + slack, f"kept prefix entropy {cum[-1]} > alpha * total = {tau}"
        if n < terms.size and not np.isnan(terms[n]):
            assert cum[-1] + terms[n] > tau - slack, f"one more candidate stays within the budget {tau}: not maximal"
    if not ran:
        ctx.skip("no row keeps more than max(1, min_tokens_to_keep) tokens")


def _toph_top_n_binds(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    k = rows(kept(outputs[0]))
    n_top = int(params.get("top_n", 100))
    return any(int(np.isfinite(zr).sum()) > n_top and kr.sum() > 1 for zr, kr in zip(z, k, strict=True))


def _toph_alpha_one(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    n_top = min(int(ctx.params.get("top_n", 100)), z.shape[-1])
    ks = rows(kept(out(ctx, logits=z, alpha=1.0, temperature=1.0)))
    finite = np.isfinite(rows(z)).sum(axis=-1)
    assert np.all(ks.sum(axis=-1) >= np.minimum(n_top, finite)), "alpha = 1 must keep all top_n candidates"


def _toph_uniform(ctx: PropertyContext) -> None:
    """Uniform over 8 tokens, top_n = 8: S(m) = (m/8) log 8 and tau = alpha log 8 give k = floor(8 alpha)."""
    z = np.zeros((2, 8))
    for alpha, k in ((0.45, 3), (0.7, 5), (0.1, 1)):
        for criterion in ("hf", "official"):
            ks = kept(out(ctx, logits=z, alpha=alpha, top_n=8, temperature=1.0, min_tokens_to_keep=1,
                              criterion=criterion))
            expect = np.zeros((2, 8), dtype=bool)
            expect[:, :k] = True
            assert np.array_equal(ks, expect), f"uniform, alpha={alpha}, {criterion}: kept {ks.sum(-1)} != {k}"


def _toph_criteria_close(ctx: PropertyContext) -> None:
    """With every token among the candidates the two criteria coincide (no renormalisation)."""
    z = int_logits(ctx)
    v = z.shape[-1]
    a = kept(out(ctx, logits=z, top_n=v, criterion="hf"))
    b = kept(out(ctx, logits=z, top_n=v, criterion="official"))
    ra, rb = rows(a), rows(b)
    diff = np.abs(ra.sum(axis=-1) - rb.sum(axis=-1))
    assert np.all(diff <= 1), "hf and official criteria differ by more than one token when top_n >= V"
    nested = np.all(~ra | rb, axis=-1) | np.all(~rb | ra, axis=-1)
    assert np.all(nested), "hf and official kept sets are not nested"


register(MethodSpec(
    id="top_h_filter",
    family="decoding",
    kind="decoding",
    summary="Top-H truncation: the longest most-probable prefix whose partial entropy stays <= alpha x entropy.",
    papers=(TOP_H_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{HF} TopHLogitsWarper (read locally: top-100 renormalised, cumsum(-q log q) <= top_h * "
                        "H(q), first kept, no min_tokens_to_keep); ErfanBaghaei/Top-H-Decoding logit_processor.py "
                        "TopH_LogitsProcessor (read at commits 0a41f1e0 and 07441551: un-renormalised top_n probs in "
                        "bits, tau = alpha * S(top_n), break when S(m+1) > tau, batch size 1; the later commit "
                        "references an undefined `bias`)",
        official_code="ErfanBaghaei/Top-H-Decoding:logit_processor.py",
        notes="alpha = 1 keeps all top_n candidates (official: IndexError; HF: round-off). Zero-probability "
              "(q <= 2^-100 in every precision) candidates end the prefix (HF: NaN terms; official: never "
              "breaks). temperature only shapes the "
              "criterion (official); the output keeps unscaled logits. min_tokens_to_keep forces the most probable "
              "tokens (HF 5.23.0 ignores it; PR #47262 open). Kept sets do not depend on the log base.",
        differences=(Difference("entropy criterion",
                                "paper's ECMM constraint (normalised vs unnormalised truncated entropy not checked)",
                                "official: un-renormalised top_n probabilities, tau = alpha * S(top_n); HF: "
                                "renormalised top_n, tau = alpha * H(q)", "peer", "criterion",
                                name="official_criterion", params={"criterion": "official"}), TIE_ORDER),
    ),
    inputs=(LOGITS,),
    params=(
        threshold("entropy budget alpha in (0, 1]", "alpha", Interval(0.0, 1.0, low_closed=False)),
        ParamSpec("criterion", "hf", Choice(("hf", "official")),
                  "'hf': renormalised top_n (transformers); 'official': un-renormalised (official code)"),
        ParamSpec("top_n", 100, IntRange(1, None), "candidates considered (clipped to V)"),
        ParamSpec("temperature", 1.0, Interval(0.0, None, low_closed=False),
                  "temperature of the criterion distribution (official code); outputs stay unscaled",
                  sensitive=True),
        MIN_KEEP,
    ),
    outputs=(FILTER_OUT,),
    properties=(
        Property("count", "at most max(top_n, min_tokens_to_keep) tokens kept", _toph_count),
        Property("budget", "partial entropy of the kept prefix <= alpha x total, and maximal", _toph_budget),
        Property("nested_in_alpha", "kept(alpha / 2) is contained in kept(alpha)", nested("alpha", 0.5)),
        Property("alpha_one", "alpha = 1 keeps every top_n candidate", _toph_alpha_one),
        Property("uniform", "uniform over 8 tokens keeps floor(8 alpha) (both criteria)", _toph_uniform),
        Property("criteria_agree_without_truncation", "top_n >= V: hf and official agree (up to one token)",
                 _toph_criteria_close),
        *truncation_properties(),
    ),
    branches=(CUT_MID, Branch("top_n binds", "a row has more finite tokens than top_n and keeps more than one",
                              _toph_top_n_binds),
              min_keep_binds(_toph_rule_count)),
    degenerate=(
        "alpha = 1: all min(top_n, V) candidates with probability > TOP_H_PROBABILITY_FLOOR (2^-100) kept",
        "alpha in (0, 1] (HF and official); 0, NaN -> ParameterError; temperature must be > 0",
        "one-hot criterion distribution (others underflow or -inf): only the argmax (and forced tokens)",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))


