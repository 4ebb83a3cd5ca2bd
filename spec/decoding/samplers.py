"""Specs of the peers' samplers (the ``samplers`` group of ``decoding``): llama.cpp's greedy, top-nσ,
XTC and dynamic-temperature samplers.

Semantics are pinned to llama.cpp ``src/llama-sampling.cpp`` at commit
e19fb5f1a30ce42690ad7093ddbd382ac287c9fd (read with the search tools; renamed ``src/llama-sampler.cpp`` later with the
same sampler semantics). llama.cpp keeps a *candidate array* that earlier samplers shrink; here every row carries the
whole vocabulary and a removed candidate is a ``-inf`` logit, so "candidates" are the finite entries unless a spec
says otherwise. Randomness is an input (uniforms); ties in a sort go to the lowest vocabulary index (llama.cpp's
``std::partial_sort`` leaves their order unspecified). Property helpers are NumPy code written from the definitions,
never the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.decoding._filters import (
    CUT_MID,
    FILTER_OUT,
    LOGITS,
    MIN_KEEP,
    NEG_INF,
    NEG_INF_CUT,
    BoolArray,
    int_logits,
    kept,
    kept_of,
    log_softmax_row,
    min_keep,
    nested,
    shift_invariance,
    threshold,
    truncation_properties,
    values_unchanged,
)
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
)
from spec.properties import out, rows
from spec.registry import register

__all__ = ["LLAMA_CPP", "LLAMA_CPP_CODE"]

LLAMA_CPP = "llama.cpp src/llama-sampling.cpp at e19fb5f1a30ce42690ad7093ddbd382ac287c9fd"
LLAMA_CPP_CODE = "ggml-org/llama.cpp:src/llama-sampling.cpp"
HYPERFITTING_2024 = Paper("The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text Generation",
                          2024, "2412.04318")


def _tokens(ctx: PropertyContext, **overrides: Any) -> np.ndarray:
    (tok, *_) = ctx.call(**overrides)
    return np.asarray(tok)


# --------------------------------------------------------------------------- greedy_decode


def _greedy_first_max(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    tok = _tokens(ctx)
    assert tok.shape == z.shape[:-1], f"token shape {tok.shape} != {z.shape[:-1]}"
    assert np.issubdtype(tok.dtype, np.integer), f"tokens must be integers, got {tok.dtype}"
    zr, tr = rows(z), tok.reshape(-1)
    for r, t in zip(zr, tr, strict=True):
        first = int(np.flatnonzero(r == np.max(r))[0])
        assert int(t) == first, f"token {int(t)} is not the lowest index of the maximum ({first}) in {r}"


def _greedy_monotone_invariance(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    base = _tokens(ctx, logits=z)
    for transformed in (z * 2.0 + 3.0, z / 4.0 - 1.0):
        assert np.array_equal(_tokens(ctx, logits=transformed), base), "argmax changed under z -> a z + b, a > 0"


def _greedy_fixed(ctx: PropertyContext) -> None:
    z = np.array([[NEG_INF, 1.0, 1.0], [2.0, NEG_INF, 2.0], [-5.0, -4.0, NEG_INF], [0.0, 0.0, 0.0]])
    assert np.array_equal(_tokens(ctx, logits=z), [1, 0, 1, 0]), "ties must go to the lowest index, never to -inf"


def _tie_at_max(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    return any(int(np.sum(r == np.max(r))) > 1 for r in z)


def _max_after_neg_inf(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    tok = np.asarray(outputs[0]).reshape(-1)
    return any(bool(np.isneginf(r[:int(t)]).any()) for r, t in zip(z, tok, strict=True))


def _max_interior(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    tok = np.asarray(outputs[0]).reshape(-1)
    return any(0 < int(t) < r.size - 1 for r, t in zip(z, tok, strict=True))


register(MethodSpec(
    id="greedy_decode",
    family="decoding",
    kind="decoding",
    summary="Greedy decoding: the argmax of the logits per row (int64), ties to the lowest index.",
    papers=(HYPERFITTING_2024,),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"{LLAMA_CPP} llama_sampler_greedy_apply (scan with a strict '>', so the first maximum "
                        "wins) and llama_sampler_temp_impl (temp <= 0 keeps the first maximum); torch.argmax "
                        "(first occurrence)",
        official_code=LLAMA_CPP_CODE,
        notes="Ties go to the lowest vocabulary index, as llama.cpp's greedy sampler scans the unsorted candidate "
              "array (token order) with a strict comparison, and as torch/numpy argmax return the first "
              "occurrence; GPU top-k kernels may return another tied index. Hyperfitting decodes its hyperfitted "
              "models greedily (its n-gram blocking constraint is a separate logits processor, not part of this "
              "rule).",
    ),
    inputs=(LOGITS,),
    params=(),
    outputs=(OutputSpec("tokens", "argmax index per row (int64), shape logits.shape[:-1]", discrete=True,
                        shape=("...",)),),
    properties=(
        Property("first_max", "the token is the lowest index holding the row maximum", _greedy_first_max),
        Property("increasing_invariance", "the token is invariant to z -> a z + b, a > 0",
                 _greedy_monotone_invariance),
        Property("fixed_rows", "ties to the lowest index; a -inf entry is never chosen", _greedy_fixed),
    ),
    branches=(
        Branch("tie at the max", "a row holds its maximum at two or more positions", _tie_at_max),
        Branch("-inf before the max", "the chosen token comes after a -inf entry", _max_after_neg_inf),
        Branch("interior max", "the chosen token is neither the first nor the last position", _max_interior),
    ),
    degenerate=(
        "ties: the lowest index",
        "a row of only -inf, NaN or +inf logits -> DomainError; V = 0 -> ShapeError",
    ),
))


# --------------------------------------------------------------------------- top_n_sigma_sampling

TOP_N_SIGMA_2024 = Paper("Top-nσ: Not All Logits Are You Need", 2024, "2411.07641")


def _sigma_threshold_rows(z: np.ndarray, n: float) -> np.ndarray:
    """``max z - n sigma`` per row over the finite logits (population std), from the definition."""
    out_rows = []
    for r in rows(z):
        f = r[np.isfinite(r)]
        out_rows.append(float(f.max() - n * np.sqrt(np.mean((f - f.mean()) ** 2))))
    return np.asarray(out_rows)


def _sigma_rule(ctx: PropertyContext) -> None:
    """Kept iff z >= max z - n sigma, away from the threshold by the rounding of sigma."""
    n = float(ctx.params["n"])
    z = rows(ctx.inputs["logits"])
    if n == 0 or z.shape[0] == 0:
        ctx.skip("n = 0 (checked by n_zero) or an empty batch")
    ks = rows(kept(out(ctx)))
    thr = _sigma_threshold_rows(z, n)
    for zr, kr, t in zip(z, ks, thr, strict=True):
        slack = ctx.slack(2.0) * (1.0 + n)
        assert np.all(kr | ~(zr > t + slack)), f"a token above max - n sigma = {t} was removed"
        assert np.all(~kr | ~(zr < t - slack)), f"a token below max - n sigma = {t} was kept"


def _sigma_n_zero(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    assert np.array_equal(out(ctx, logits=z, n=0.0, zero="identity"), z), "n = 0 (llama.cpp) must be the identity"
    ks = kept(out(ctx, logits=z, n=0.0, zero="keep_max"))
    assert np.array_equal(ks, z == z.max(axis=-1, keepdims=True)), "n = 0 (paper limit) keeps exactly the max ties"


def _sigma_scale_invariance(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    base = kept_of(ctx, logits=z)
    for c in (0.5, 2.0):
        assert np.array_equal(kept_of(ctx, logits=z * c), base), f"kept set changed under z * {c}"


def _sigma_fixed(ctx: PropertyContext) -> None:
    """[4, 2, 0, -2, -inf]: mean 1, sigma sqrt(5) (finite entries only); n = 1 keeps z >= 4 - 2.236: {4, 2}."""
    z = np.array([[4.0, 2.0, 0.0, -2.0, NEG_INF]])
    ks = kept(out(ctx, logits=z, n=1.0, zero="identity"))
    assert np.array_equal(ks, [[True, True, False, False, False]]), f"-inf must not enter mean/sigma: {ks}"


def _sigma_noop(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    """n > 0 and a row where every finite logit survives (the threshold is below the minimum)."""
    if float(params["n"]) <= 0:
        return False
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    k = rows(kept(outputs[0]))
    return any(np.isfinite(zr).sum() > 1 and bool(np.all(kr == np.isfinite(zr))) for zr, kr in zip(z, k, strict=True))


def _sigma_zero(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return float(params["n"]) == 0.0


register(MethodSpec(
    id="top_n_sigma_sampling",
    family="decoding",
    kind="decoding",
    summary="Top-nσ truncation: keep logits >= max z - n·σ(z) over the finite logits (population std).",
    papers=(TOP_N_SIGMA_2024,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{LLAMA_CPP} llama_sampler_top_n_sigma_apply: no-op when n <= 0 or fewer than 2 "
                        "candidates; max, mean and sqrt(mean square deviation) over the entries != -inf; sets "
                        "logit = -inf where logit < max - n*std (strict, so the threshold itself is kept); then a "
                        "sorting softmax that only reorders (values unchanged)",
        official_code=LLAMA_CPP_CODE,
        notes="Returns the filtered logits (kept entries unchanged, removed ones -inf); sample separately. The kept "
              "set is invariant to shifts and positive scalings of the logits (temperature), so the position of "
              "temperature in a chain does not matter for it. -inf entries are excluded from the mean and the std "
              "(llama.cpp #13344, fixed before e19fb5f). A row whose finite logits are all equal has sigma = 0 and "
              "keeps them all. llama.cpp accumulates the mean and std in float32; here float64 for float64 input, "
              "float32 otherwise.",
        differences=(Difference("n = 0", "keep only the tokens tied at the max (the limit of the rule)",
                                "llama.cpp: n <= 0 disables the sampler (its CLI default n = -1); the default "
                                "here, so n = 0 is the identity", "peer", "zero"),),
    ),
    inputs=(LOGITS,),
    params=(
        threshold("n in [0, inf): the number of standard deviations below the max that is kept", "n",
                  Interval(0.0, None)),
        ParamSpec("zero", "identity", Choice(("identity", "keep_max")),
                  "n = 0: 'identity' (llama.cpp, disabled) or 'keep_max' (the paper's limit: the max ties)"),
    ),
    outputs=(FILTER_OUT,),
    properties=(
        Property("sigma_rule", "kept iff z >= max z - n sigma (finite logits, population std)", _sigma_rule),
        Property("n_zero", "n = 0: identity ('identity') or exactly the max ties ('keep_max')", _sigma_n_zero),
        Property("scale_invariance", "the kept set is invariant to z -> c z, c > 0", _sigma_scale_invariance),
        Property("neg_inf_excluded", "-inf entries do not enter the mean and sigma (llama.cpp #13344)", _sigma_fixed),
        Property("nested_in_n", "kept(n / 2) is contained in kept(n)", nested("n", 0.5)),
        *truncation_properties(),
    ),
    branches=(CUT_MID, NEG_INF_CUT, Branch("no cut", "n > 0 keeps every finite logit of a row", _sigma_noop),
              Branch("n = 0", "n = 0 (identity or the max ties)", _sigma_zero)),
    degenerate=(
        "n = 0: identity (zero='identity', llama.cpp) or the max ties (zero='keep_max')",
        "all finite logits equal: sigma = 0, all kept; one finite logit: kept",
        "a row of only -inf, NaN logits -> DomainError; n < 0, NaN or inf -> ParameterError",
    ),
))


# --------------------------------------------------------------------------- xtc_sampling

UNIFORMS = InputSpec("uniforms", "uniforms", ("...",), "one uniform in [0, 1) per row (the engine's random draw)",
                     sensitive=True)


def _xtc_expected_row(zr: np.ndarray, u: float, params: Mapping[str, Any]) -> BoolArray | None:
    """Kept mask of one row from the definition, or None when a probability is within 1e-5 (relative) of the
    threshold."""
    prob, t, m = float(params["probability"]), float(params["threshold"]), int(params.get("min_tokens_to_keep", 1))
    fin: BoolArray = np.asarray(np.isfinite(zr))
    if prob <= 0 or t > 0.5 or fin.sum() < 2 or u > prob:
        return fin
    p = np.exp(log_softmax_row(zr))
    if np.any(np.abs(p[fin] - t) < 1e-5 * max(t, 1e-300)):
        return None
    order = np.argsort(-zr, kind="stable")
    above = [j for j in order if fin[j] and p[j] >= t]
    if len(above) < 2 or fin.sum() - (len(above) - 1) < m:
        return fin
    keep: BoolArray = fin.copy()
    keep[above[:-1]] = False
    return keep


def _xtc_rule(ctx: PropertyContext) -> None:
    z = rows(ctx.inputs["logits"])
    u = np.asarray(ctx.inputs["uniforms"], dtype=np.float64).reshape(-1)
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    ks = rows(kept(out(ctx)))
    ran = False
    for zr, ur, kr in zip(z, u, ks, strict=True):
        if abs(ur - float(ctx.params["probability"])) < 1e-6:
            continue  # the coin within rounding of the probability
        want = _xtc_expected_row(zr, float(ur), ctx.params)
        if want is not None:
            ran = True
            assert np.array_equal(kr, want), f"kept {kr}, expected {want} (u = {ur})"
    if not ran:
        ctx.skip("every row within rounding of a decision")


def _xtc_coin(ctx: PropertyContext) -> None:
    """u above the probability, probability 0 or a threshold above 1/2 leave the logits unchanged."""
    z = ctx.inputs["logits"]
    u = ctx.inputs["uniforms"]
    assert np.array_equal(out(ctx, probability=0.0), z), "probability = 0 must be the identity"
    assert np.array_equal(out(ctx, threshold=0.75), z), "threshold > 0.5 must be the identity"
    if float(ctx.params["probability"]) < 0.9:
        top = np.full(np.shape(u), 0.95)
        assert np.array_equal(out(ctx, uniforms=top), z), "u > probability must be the identity"


def _xtc_fixed(ctx: PropertyContext) -> None:
    """Four equal logits (p = 1/4 exactly) and threshold 1/4: all reach it, only the last in sort order (the highest
    index among the ties) survives; the same with threshold 0.3 removes nothing (nobody reaches it)."""
    z = np.zeros((1, 4))
    u = np.zeros(1)
    ks = kept(out(ctx, logits=z, uniforms=u, probability=1.0, threshold=0.25, min_tokens_to_keep=1))
    assert np.array_equal(ks, [[False, False, False, True]]), f"p == threshold must count as reaching it: {ks}"
    ks = kept(out(ctx, logits=z, uniforms=u, probability=1.0, threshold=0.3, min_tokens_to_keep=1))
    assert ks.all(), "no token reaches the threshold: identity"


def _xtc_rows(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    u = np.asarray(inputs["uniforms"], dtype=np.float64).reshape(-1)
    return list(zip(z, u, rows(kept(outputs[0])), strict=True))


def _xtc_removed(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(bool(np.any(np.isfinite(zr) & ~kr)) for zr, _, kr in _xtc_rows(inputs, params, outputs))


def _xtc_removed_with_inf(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(bool(np.any(np.isfinite(zr) & ~kr)) and bool(np.isneginf(zr).any())
               for zr, _, kr in _xtc_rows(inputs, params, outputs))


def _xtc_count_above(zr: np.ndarray, t: float) -> int:
    return int(np.sum(np.exp(log_softmax_row(zr))[np.isfinite(zr)] >= t))


def _xtc_coin_says_no(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    prob, t = float(params["probability"]), float(params["threshold"])
    return t <= 0.5 and any(ur > prob and _xtc_count_above(zr, t) >= 2 for zr, ur, _ in _xtc_rows(inputs, params,
                                                                                                     outputs))


def _xtc_min_keep_binds(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    prob, t, m = float(params["probability"]), float(params["threshold"]), int(params.get("min_tokens_to_keep", 1))
    return t <= 0.5 and any(ur <= prob and (c := _xtc_count_above(zr, t)) >= 2 and np.isfinite(zr).sum() - (c - 1) < m
                            for zr, ur, _ in _xtc_rows(inputs, params, outputs))


register(MethodSpec(
    id="xtc_sampling",
    family="decoding",
    kind="decoding",
    summary="XTC (exclude top choices): with chance `probability`, remove every token with p >= threshold except "
            "the least probable of them.",
    papers=(),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{LLAMA_CPP} llama_sample_xtc_apply: no-op if probability <= 0, threshold > 0.5 or fewer "
                        "than 2 candidates; chance = U(0, 1) (float); no-op if chance > probability; sorting "
                        "softmax; pos_last = last index of the leading run with p >= threshold; if size - pos_last "
                        ">= min_keep and pos_last > 0 the first pos_last candidates are dropped",
        official_code=LLAMA_CPP_CODE,
        notes="Randomness is an input: one uniform per row stands for llama.cpp's mt19937 draw (u > probability: "
              "no-op). Removal is all-or-nothing: when it would leave fewer than min_tokens_to_keep candidates "
              "nothing is removed. The sort is stable descending by logit, so among tied tokens at the end of the "
              "above-threshold run the one with the highest index survives (llama.cpp's partial_sort leaves tied "
              "order unspecified). p >= threshold is decided in log space (log p >= log threshold). Semantics from "
              "text-generation-webui's XTC (the reference cited by llama.cpp PR #6335), not re-read here.",
        differences=(Difference("candidates", "the tokens still in play",
                                "llama.cpp counts every entry of its candidate array, -inf logits written by earlier "
                                "samplers included, in 'fewer than 2 candidates' and in min_keep; here only finite "
                                "logits count (a -inf entry has p = 0 and can never be kept meaningfully)", "paper"),),
    ),
    inputs=(LOGITS, UNIFORMS),
    params=(
        threshold("chance that the exclusion applies to a row, in [0, 1]", "probability", Interval(0.0, 1.0)),
        threshold("probability a token must reach to count as a top choice, in [0, 1] (> 0.5: no-op)", "threshold",
                  Interval(0.0, 1.0)),
        MIN_KEEP,
    ),
    outputs=(FILTER_OUT,),
    properties=(
        Property("xtc_rule", "kept set equals the definition (above-threshold tokens but the last dropped)", _xtc_rule),
        Property("no_op_cases", "probability 0, threshold > 1/2 and u > probability are the identity", _xtc_coin),
        Property("exact_threshold", "p == threshold reaches it; the highest tied index survives", _xtc_fixed),
        Property("values_unchanged", "outputs are the input logits or -inf", values_unchanged),
        Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", min_keep),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", shift_invariance),
    ),
    branches=(
        Branch("top choices removed", "a row drops its above-threshold tokens but one", _xtc_removed),
        Branch("-inf entries and a removal", "a row with -inf entries drops top choices", _xtc_removed_with_inf),
        Branch("coin says no", "two tokens reach the threshold but u > probability", _xtc_coin_says_no),
        Branch("min_tokens_to_keep binds", "the removal would leave fewer than min_tokens_to_keep tokens",
               _xtc_min_keep_binds),
    ),
    degenerate=(
        "probability = 0, threshold > 0.5, fewer than 2 finite logits or u > probability: identity",
        "fewer than two tokens reach the threshold: identity; threshold = 0: every finite token reaches it, only the "
        "least probable (highest index among ties) survives",
        "a row of only -inf, NaN logits or uniforms -> DomainError; uniforms outside [0, 1) -> DomainError; "
        "uniforms.shape != logits.shape[:-1] -> ShapeError",
    ),
))


# --------------------------------------------------------------------------- dynamic_temperature


def dyn_temperatures(z: Any, params: Mapping[str, Any]) -> np.ndarray:
    """The per-row temperature of ``dynamic_temperature`` from its definition (NaN where the row is left as is)."""
    t, delta, expo = float(params["temperature"]), float(params.get("delta", 0.0)), float(params.get("exponent", 1.0))
    out_t = []
    for r in rows(np.asarray(z, dtype=np.float64)):
        if delta <= 0:
            out_t.append(t)
            continue
        n = int(np.isfinite(r).sum()) if params.get("candidates", "finite") == "finite" else r.size
        if n <= 1:
            out_t.append(float("nan"))
            continue
        sh = r - r.max()
        e = np.exp(sh)
        rest = float(np.sum(np.sort(e)[:-1]))
        h = float(np.log1p(rest) - np.sum(np.where(np.isfinite(sh), e * np.where(np.isfinite(sh), sh, 0.0), 0.0))
                  / (1.0 + rest))  # accurate on peaked rows (the max's own -p log p term kept)
        lo, hi = max(0.0, t - delta), t + delta
        out_t.append(lo + (hi - lo) * (h / np.log(n)) ** expo)
    return np.asarray(out_t)


def _dyn_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    fin = np.abs(z[np.isfinite(z)])
    if fin.size == 0:
        return 1.0
    ts = dyn_temperatures(z, params)
    ts = ts[np.isfinite(ts) & (ts > 0)]
    return max(1.0, float(fin.max()) / float(ts.min())) if ts.size else max(1.0, float(fin.max()))


def _dyn_definition(ctx: PropertyContext) -> None:
    """Rows with T > 0 are z / T; rows with T = 0 keep only their first maximum; no-op rows are unchanged."""
    z = rows(ctx.inputs["logits"])
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    y = rows(out(ctx))
    ts = dyn_temperatures(z, ctx.params)
    for zr, yr, t in zip(z, y, ts, strict=True):
        assert np.array_equal(np.isneginf(zr) & ~np.isneginf(yr), np.zeros_like(zr, dtype=bool)), "-inf must stay -inf"
        if np.isnan(t):
            assert np.array_equal(yr, zr), "a row with at most one candidate must be left unchanged"
        elif t <= 0:
            first = int(np.argmax(zr))
            want = np.full_like(zr, NEG_INF)
            want[first] = zr[first]
            assert np.array_equal(yr, want), f"T = 0 must keep only the first maximum: {yr}"
        elif t > 1e-6:
            fin = np.isfinite(zr)
            assert ctx.close(yr[fin], zr[fin] / t, 8.0), f"row is not z / T with T = {t}: {yr} vs {zr / t}"


def _dyn_bounds(ctx: PropertyContext) -> None:
    """Uniform rows reach T_max; a row with one finite logit among several entries reaches T_min ('vocab')."""
    t, delta = float(ctx.params["temperature"]), float(ctx.params.get("delta", 0.0))
    if delta <= 0 or t + delta < 1e-3:
        ctx.skip("delta = 0 (plain temperature) or a tiny T_max")
    z = np.zeros((1, 4))
    y = out(ctx, logits=z + 2.0)
    assert ctx.close(y, (z + 2.0) / (t + delta), 4.0), f"a uniform row must use T_max = {t + delta}: {y}"
    one = np.array([[NEG_INF, 2.0, NEG_INF]])
    y = out(ctx, logits=one, candidates="vocab", exponent=1.0)
    lo = max(0.0, t - delta)
    want = np.array([[NEG_INF, 2.0 if lo == 0 else 2.0 / lo, NEG_INF]])
    assert ctx.close(np.where(np.isfinite(want), y, 0.0), np.where(np.isfinite(want), want, 0.0), 4.0) and \
        np.array_equal(np.isfinite(y), np.isfinite(want)), f"H = 0 must use T_min = {lo}: {y}"
    assert np.array_equal(out(ctx, logits=one, candidates="finite"), one), "one finite candidate: no-op ('finite')"


def _dyn_delta_zero(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    y = out(ctx, logits=z, temperature=0.5, delta=0.0)
    assert np.array_equal(y, z / 0.5), "delta = 0 must be plain temperature z / t"
    y0 = rows(out(ctx, logits=z, temperature=0.0, delta=0.0))
    for zr, yr in zip(rows(z), y0, strict=True):
        assert int(np.isfinite(yr).sum()) == 1 and yr[int(np.argmax(zr))] == zr.max(), "t = 0: greedy (first max)"


def _dyn_branch(kind: str) -> Any:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        t, delta = float(params["temperature"]), float(params.get("delta", 0.0))
        ts = dyn_temperatures(inputs["logits"], params)
        lo, hi = max(0.0, t - delta), t + delta
        if kind == "interior":
            return delta > 0 and bool(np.any((ts > lo + 1e-9) & (ts < hi - 1e-9)))
        if kind == "greedy":
            return bool(np.any(ts <= 0)) and np.size(inputs["logits"]) > 0
        if kind == "t_min_zero":
            return delta > 0 and lo == 0 and bool(np.any(ts > 0))
        z = np.asarray(inputs["logits"], dtype=np.float64)
        return delta > 0 and bool(np.any(np.isneginf(z)))

    return hit


register(MethodSpec(
    id="dynamic_temperature",
    family="decoding",
    kind="decoding",
    summary="Entropy-scaled temperature (llama.cpp temp_ext): T = T_min + (T_max - T_min)·(H/H_max)^exponent, "
            "output z / T (T <= 0: greedy).",
    papers=(),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{LLAMA_CPP} llama_sampler_temp_ext_apply and llama_sampler_temp_impl: delta > 0: "
                        "min_temp = max(0, temp - delta), max_temp = temp + delta; no-op if the candidate array has "
                        "<= 1 entries; max_entropy = -log(1 / size); softmax (sorting); entropy over p > 0; "
                        "dyn_temp = min_temp + (max_temp - min_temp) * powf(entropy / max_entropy, exponent); then "
                        "temp_impl(dyn_temp): <= 0 keeps the first maximum (others -inf, the max unchanged), else "
                        "logit / temp. delta <= 0: temp_impl(temp)",
        official_code=LLAMA_CPP_CODE,
        notes="Returns the scaled logits (sample separately). The catalogue cites arXiv 2309.02772 for the idea "
              "(not re-read here) and text-generation-webui's dynatemp_low/high/exponent (min_temp and max_temp "
              "given directly; not re-read). Unlike temperature_scale (which raises at T = 0), T = 0 here is "
              "llama.cpp's greedy step: only the first maximum (lowest index among ties) is kept, unscaled. The "
              "entropy is computed in float64 for float64 input and float32 otherwise (llama.cpp: float32).",
        differences=(Difference("H_max (candidate count)", "log of the number of candidates still in play",
                                "llama.cpp: log of the candidate-array size, which counts -inf entries written by "
                                "earlier samplers (top-n-sigma, logit bias) but not tokens dropped by top-k / top-p "
                                "/ min-p (they shrink the array); 'finite' (default) reproduces its default chain, "
                                "candidates='vocab' the -inf-writing predecessors", "peer", "candidates"),),
    ),
    inputs=(LOGITS,),
    params=(
        ParamSpec("temperature", None, Interval(0.0, None), "base temperature t >= 0 (0 with delta = 0: greedy)",
                  positional=True, required=True),
        ParamSpec("delta", 0.0, Interval(0.0, None), "half-range: T in [max(0, t - delta), t + delta]; 0 = plain t"),
        ParamSpec("exponent", 1.0, Interval(0.0, None), "exponent of the normalised entropy (0: always T_max)"),
        ParamSpec("candidates", "finite", Choice(("finite", "vocab")),
                  "what H_max = log(n) counts: finite logits (default) or every vocabulary entry"),
    ),
    outputs=(OutputSpec("logits", "z / T per row (T = 0: the first maximum kept, others -inf)", shape=("...", "V"),
                        scale=Scale("max(1, largest finite |z| / the smallest positive row temperature)",
                                    _dyn_scale)),),
    properties=(
        Property("definition", "each row is z / T(H), greedy at T = 0, unchanged with <= 1 candidate",
                 _dyn_definition),
        Property("bounds", "a uniform row uses T_max; H = 0 uses T_min", _dyn_bounds),
        Property("delta_zero", "delta = 0 is plain temperature; t = 0 with delta = 0 is greedy", _dyn_delta_zero),
    ),
    branches=(
        Branch("interior T", "a row's temperature lies strictly between T_min and T_max", _dyn_branch("interior")),
        Branch("greedy", "a row's temperature is 0 (greedy step)", _dyn_branch("greedy")),
        Branch("T_min = 0", "delta >= t: the range reaches 0 and a row still has T > 0", _dyn_branch("t_min_zero")),
        Branch("-inf entries", "delta > 0 on logits with -inf entries", _dyn_branch("neg_inf")),
    ),
    degenerate=(
        "delta = 0: z / t, greedy at t = 0; at most one candidate with delta > 0: unchanged (not even divided by t)",
        "T_min = 0 and H = 0 (exponent > 0): greedy; exponent = 0: always T_max (0^0 = 1)",
        "T_min = 0 with an entropy below float32's range (finite logit gaps beyond ~87) is ill-conditioned: float32 "
        "sees H = 0 (greedy) where float64 sees T ~ 1e-36",
        "a row of only -inf, NaN logits -> DomainError; negative, NaN or inf parameters -> ParameterError",
    ),
))
