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
    NEG_INF,
    NEG_INF_CUT,
    int_logits,
    kept,
    kept_of,
    nested,
    threshold,
    truncation_properties,
)
from spec.model import (
    Branch,
    Choice,
    Difference,
    Interval,
    MethodSpec,
    OutputSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
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
