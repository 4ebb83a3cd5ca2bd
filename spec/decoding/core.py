"""Specs of the ``decoding`` family: truncation filters, temperature and sampling.

Every filter maps logits ``(..., V)`` to logits of the same shape: kept entries are returned
unchanged, removed entries become ``-inf`` (HF's ``filter_value``). Defaults, boundary rules and
``min_tokens_to_keep`` guards are pinned to transformers 5.23.0 ``generation/logits_process.py``
(read locally); the sort order is a stable descending sort of the logits (lowest index first among
ties). ``sample`` is the inverse-CDF foundation sampler with supplied uniforms.

The small NumPy helpers below are written from the formulas for the *properties* only; they never
call the reference. Property inputs that this module constructs are small integers (exact in every
dtype, bfloat16 included), so shifts by an integer and scalings by 2 are exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import sympy as sp

from spec.model import (
    Choice,
    Derivation,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    MethodSpec,
    OutputSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    SymbolicProblem,
    default_tolerance,
)
from spec.registry import register

F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# --------------------------------------------------------------------------- papers and sources

HOLTZMAN_2019 = Paper("The Curious Case of Neural Text Degeneration", 2019, "1904.09751")
FAN_2018 = Paper("Hierarchical Neural Story Generation", 2018, "1805.04833")
MINP_2024 = Paper("Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs", 2024, "2407.01082")
MEISTER_2022 = Paper("Locally Typical Sampling", 2022, "2202.00666")
HEWITT_2022 = Paper("Truncation Sampling as Language Model Desmoothing", 2022, "2210.15191")
TOP_H_2025 = Paper("Top-H Decoding: Adapting the Creativity and Coherence with Bounded Entropy in Text Generation",
                   2025, "2509.02510")
ACKLEY_1985 = Paper("A Learning Algorithm for Boltzmann Machines", 1985)

HF = "transformers 5.23.0 src/transformers/generation/logits_process.py"
HF_CODE = "huggingface/transformers:src/transformers/generation/logits_process.py"

# --------------------------------------------------------------------------- shared declarations

LOGITS = InputSpec("logits", "logits", ("...", "V"), "scores, vocabulary on the last axis; -inf entries are "
                   "legal (already removed), a row of only -inf is not", allow_neg_inf=True)
MIN_KEEP = ParamSpec("min_tokens_to_keep", 1, IntRange(1, None),
                     "the most probable tokens that are always kept (HF default 1)")
FILTER_OUT = OutputSpec("logits", "input logits with removed entries set to -inf (kept entries unchanged)",
                        shape=("...", "V"))

NEG_INF = -math.inf


def _threshold(doc: str, name: str, domain: Interval, default: object = None, *, required: bool = True) -> ParamSpec:
    return ParamSpec(name, default, domain, doc, sensitive=True, positional=True, required=required)


# --------------------------------------------------------------------------- property helpers


def _out(ctx: PropertyContext, **overrides: Any) -> F64:
    (y,) = ctx.call(**overrides)
    return np.asarray(y, dtype=np.float64)


def _kept(y: F64) -> BoolArray:
    """Kept = finite output (a kept ``-inf`` input is indistinguishable from a removed one)."""
    return np.asarray(np.isfinite(y))


def _int_logits(ctx: PropertyContext, low: int = -6, high: int = 6) -> F64:
    """Small-integer logits with the drawn shape and the drawn ``-inf`` pattern (exact in bf16)."""
    z = ctx.inputs["logits"]
    ints = ctx.rng.integers(low, high + 1, size=z.shape).astype(np.float64)
    return np.asarray(np.where(np.isneginf(z), NEG_INF, ints))


def _rows(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return a.reshape(-1, a.shape[-1]) if a.size else a.reshape(0, max(a.shape[-1], 0))


def _slack(ctx: PropertyContext, factor: float = 4.0) -> float:
    return factor * (ctx.budget.atol + ctx.budget.rtol)


def _log_softmax(z: F64) -> F64:
    m = np.max(z, axis=-1, keepdims=True)
    s = z - m
    return np.asarray(s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True)))


def _entropy_rows(z: F64) -> F64:
    logp = _log_softmax(z)
    p = np.exp(logp)
    return np.asarray(-np.sum(np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0), axis=-1))


def _values_unchanged(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = _out(ctx)
    assert y.shape == z.shape, f"output shape {y.shape} != input shape {z.shape}"
    ok = (y == z) | np.isneginf(y)
    assert np.all(ok), "a kept entry was changed (filters must return z or -inf)"


def _shift_invariance(ctx: PropertyContext) -> None:
    z = _int_logits(ctx)
    y = _out(ctx, logits=z)
    ys = _out(ctx, logits=z + 3.0)
    assert np.array_equal(_kept(y), _kept(ys)), "kept set changed under the logit shift z -> z + 3"
    assert np.array_equal(np.where(_kept(y), y + 3.0, NEG_INF), ys), "kept values are not shifted by 3"


def _argmax_kept(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = _out(ctx)
    if z.size == 0:
        return
    top = np.argmax(z, axis=-1)[..., None]
    assert np.all(np.take_along_axis(_kept(y), top, axis=-1)), "the most probable token was removed"


def _top_set(ctx: PropertyContext) -> None:
    """Every kept logit is >= every removed finite logit (the kept set is a top set)."""
    z = _rows(ctx.inputs["logits"])
    kept = _rows(_kept(_out(ctx)))
    for zr, kr in zip(z, kept, strict=True):
        removed = np.isfinite(zr) & ~kr
        if kr.any() and removed.any():
            assert zr[kr].min() >= zr[removed].max(), f"removed logit {zr[removed].max()} above kept {zr[kr].min()}"


def _min_keep(ctx: PropertyContext) -> None:
    z = _rows(ctx.inputs["logits"])
    kept = _rows(_kept(_out(ctx)))
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    need = np.minimum(m, np.isfinite(z).sum(axis=-1))
    assert np.all(kept.sum(axis=-1) >= need), f"fewer than min_tokens_to_keep={m} tokens kept"


def _nested(name: str, smaller: float, *, positive: bool = False) -> Any:
    """The kept set at ``name * smaller`` is contained in the kept set at ``name``."""

    def check(ctx: PropertyContext) -> None:
        value = float(ctx.params[name])
        if positive and value * smaller <= 0:
            return
        big = _kept(_out(ctx))
        small = _kept(_out(ctx, **{name: value * smaller}))
        assert np.all(~small | big), f"kept sets not nested in {name}: {value * smaller} keeps more than {value}"

    return check


def _nested_rev(name: str, factor: float, cap: float) -> Any:
    """The kept set at a larger ``name`` is contained in the kept set at ``name``."""

    def check(ctx: PropertyContext) -> None:
        value = float(ctx.params[name])
        bigger = max(value, min(value * factor, cap)) if value > 0 else cap
        base = _kept(_out(ctx))
        strict = _kept(_out(ctx, **{name: bigger}))
        assert np.all(~strict | base), f"kept sets not nested in {name}: {bigger} keeps a token {value} removes"

    return check


# --------------------------------------------------------------------------- temperature_scale


def _temperature_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    t = sp.Float(float(params["temperature"]))
    sym = np.array([sp.Symbol(f"z_{i}", real=True) for i in range(z.size)], dtype=object).reshape(z.shape)
    out = np.array([s / t for s in sym.ravel()], dtype=object).reshape(z.shape)
    values = {s: float(v) for s, v in zip(sym.ravel(), z.ravel(), strict=True)}
    return SymbolicProblem({"logits": sym}, out, values)


def _temperature_identity(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = _out(ctx, temperature=1.0)
    assert np.array_equal(y, z), "temperature 1 is not the identity"


def _temperature_dyadic(ctx: PropertyContext) -> None:
    z = _int_logits(ctx, -64, 64)
    for t in (0.5, 2.0, 4.0):
        y = _out(ctx, logits=z, temperature=t)
        assert np.array_equal(y, z / t), f"z / {t} is not exact on small-integer logits"


def _temperature_argmax(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = _out(ctx)
    assert np.array_equal(np.isneginf(y), np.isneginf(z)), "-inf entries must stay -inf and only those"
    if z.size == 0:
        return
    top = z == np.max(z, axis=-1, keepdims=True)
    ymax = np.max(y, axis=-1, keepdims=True)
    assert np.all(~top | (y == ymax)), "a maximal logit is no longer maximal after scaling"


def _temperature_entropy(ctx: PropertyContext) -> None:
    z = _int_logits(ctx)
    hs = [_entropy_rows(_out(ctx, logits=z, temperature=t)) for t in (0.5, 1.0, 2.0)]
    slack = _slack(ctx)
    assert np.all(hs[0] <= hs[1] + slack) and np.all(hs[1] <= hs[2] + slack), "entropy not non-decreasing in T"


register(MethodSpec(
    id="temperature_scale",
    family="decoding",
    kind="decoding",
    summary="Temperature scaling z / T of logits (T > 0; -inf stays -inf).",
    papers=(ACKLEY_1985,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{HF} TemperatureLogitsWarper (read locally): scores / temperature, ValueError unless "
                        "temperature is a float > 0",
        official_code=HF_CODE,
        notes="T = 0 raises ParameterError (as HF raises ValueError): the T -> 0 limit is greedy decoding, which has "
              "no finite-logits form; vLLM (T < 1e-5) and llama.cpp (T <= 0) switch to greedy instead. Position in "
              "the sampler chain is the caller's choice: transformers 5.23.0 generation/utils.py (read locally) "
              "applies temperature -> top_h -> top_k -> top_p (only if < 1) -> min_p -> typical (only if < 1) -> "
              "epsilon -> eta; llama.cpp's default chain applies temperature last.",
    ),
    inputs=(InputSpec("logits", "logits", ("...", "V"), "scores, vocabulary on the last axis (-inf legal)",
                      differentiable=True, allow_neg_inf=True),),
    params=(ParamSpec("temperature", None, Interval(0.0, None, low_closed=False), "temperature T > 0 (finite)",
                      positional=True, required=True),),
    outputs=(OutputSpec("logits", "z / T, same shape and dtype", shape=("...", "V")),),
    properties=(
        Property("identity", "T = 1 returns the logits unchanged", _temperature_identity),
        Property("dyadic_exact", "z / T is exact for small-integer z and T in {1/2, 2, 4}", _temperature_dyadic),
        Property("argmax_and_inf", "maximal logits stay maximal; -inf entries stay -inf", _temperature_argmax),
        Property("entropy_monotone", "H(softmax(z/T)) is non-decreasing in T", _temperature_entropy),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_temperature_problem, wrt=("logits",), kinks="none (linear)"),
    degenerate=(
        "temperature = 0 -> ParameterError (greedy decoding has no logits form; use argmax)",
        "temperature = inf or NaN -> ParameterError",
        "a row of only -inf -> DomainError; NaN logits -> DomainError",
        "|z| / T beyond the dtype's range overflows to +-inf (IEEE)",
    ),
))


# --------------------------------------------------------------------------- top_k_filter


def _topk_count(ctx: PropertyContext) -> None:
    z = _rows(ctx.inputs["logits"])
    kept = _rows(_kept(_out(ctx)))
    v = z.shape[-1]
    k_eff = min(max(int(ctx.params["k"]), int(ctx.params.get("min_tokens_to_keep", 1))), v)
    finite = np.isfinite(z).sum(axis=-1)
    n = kept.sum(axis=-1)
    if ctx.params.get("ties", "keep") == "exact":
        assert np.all(n == np.minimum(k_eff, finite)), f"ties='exact' must keep exactly {k_eff} tokens: {n}"
    else:
        assert np.all(n >= np.minimum(k_eff, finite)), f"ties='keep' keeps at least {k_eff} tokens: {n}"
        for zr, kr in zip(z, kept, strict=True):
            kth = np.sort(zr)[::-1][k_eff - 1]
            assert np.array_equal(kr, np.isfinite(zr) & (zr >= kth)), "ties='keep' must keep every z >= k-th value"


def _topk_exact_lowest_index(ctx: PropertyContext) -> None:
    z = np.zeros((2, 4))  # all tied: exact keeps the k lowest indices
    y = _out(ctx, logits=z, k=2, ties="exact", min_tokens_to_keep=1)
    assert np.array_equal(_kept(y), np.array([[True, True, False, False]] * 2)), "ties must go to the lowest index"
    y = _out(ctx, logits=z, k=2, ties="keep", min_tokens_to_keep=1)
    assert _kept(y).all(), "ties='keep' must keep every tied token"


def _topk_identity(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = _out(ctx, k=z.shape[-1])
    assert np.array_equal(y, z), "k >= V must be the identity"


def _topk_temperature(ctx: PropertyContext) -> None:
    z = _int_logits(ctx)
    base = _kept(_out(ctx, logits=z))
    for scale in (0.5, 2.0):
        assert np.array_equal(_kept(_out(ctx, logits=z * scale)), base), f"kept set changed under z * {scale}"


def _topk_nested(ctx: PropertyContext) -> None:
    k = int(ctx.params["k"])
    small = _kept(_out(ctx))
    big = _kept(_out(ctx, k=k + 1))
    assert np.all(~small | big), f"kept(k={k}) not contained in kept(k={k + 1})"


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
                                "ties"),),
    ),
    inputs=(LOGITS,),
    params=(
        ParamSpec("k", None, IntRange(1, None), "number of most probable tokens kept", positional=True, required=True),
        ParamSpec("ties", "keep", Choice(("keep", "exact")), "ties policy at the k-th value"),
        MIN_KEEP,
    ),
    outputs=(FILTER_OUT,),
    properties=(
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("count", "exact keeps min(k_eff, #finite); keep keeps every z >= the k-th value", _topk_count),
        Property("lowest_index_ties", "exact breaks ties by the lowest index; keep keeps all ties",
                 _topk_exact_lowest_index),
        Property("k_ge_v_identity", "k >= V is the identity", _topk_identity),
        Property("nested_in_k", "kept(k) is contained in kept(k + 1)", _topk_nested),
        Property("temperature_invariance", "the kept set is invariant to z -> z * c, c > 0", _topk_temperature),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
        Property("argmax_kept", "the most probable token is always kept", _argmax_kept),
    ),
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
    z = _rows(ctx.inputs["logits"])
    kept = _rows(_kept(_out(ctx)))
    slack = _slack(ctx)
    for zr, kr in zip(z, kept, strict=True):
        probs = np.exp(_log_softmax(zr))
        mass = probs[kr].sum()
        assert mass >= min(p, probs[np.isfinite(zr)].sum()) - slack, f"kept mass {mass} < p = {p}"
        if kr.sum() > m:
            assert mass - probs[kr].min() < p + slack, f"kept set is not minimal: {mass - probs[kr].min()} >= p = {p}"


def _topp_p1(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    assert np.array_equal(_out(ctx, p=1.0), z), "p = 1 must keep every finite logit"


def _topp_p0(ctx: PropertyContext) -> None:
    z = _rows(ctx.inputs["logits"])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    kept = _rows(_kept(_out(ctx, p=0.0)))
    assert np.all(kept.sum(axis=-1) == np.minimum(m, np.isfinite(z).sum(axis=-1))), \
        "p = 0 must keep exactly min_tokens_to_keep tokens"


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
                                "the bare HF warper also drops tokens whose probability underflows to 0", "paper"),),
    ),
    inputs=(LOGITS,),
    params=(_threshold("nucleus mass p in [0, 1]", "p", Interval(0.0, 1.0)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("argmax_kept", "the most probable token is always kept", _argmax_kept),
        Property("top_set", "kept logits are >= removed finite logits", _top_set),
        Property("mass", "kept mass >= p and minimal (the crossing token is included)", _topp_mass),
        Property("nested_in_p", "kept(p / 2) is contained in kept(p)", _nested("p", 0.5)),
        Property("p_one_identity", "p = 1 keeps every finite logit", _topp_p1),
        Property("p_zero", "p = 0 keeps exactly min_tokens_to_keep tokens", _topp_p0),
        Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", _min_keep),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
    ),
    degenerate=(
        "p = 0: exactly min_tokens_to_keep most probable tokens (never all -inf, cf. transformers #19839)",
        "p = 1: identity (every finite logit kept)",
        "a row of only -inf, NaN logits -> DomainError; NaN or out-of-range p -> ParameterError",
    ),
))


# --------------------------------------------------------------------------- min_p_filter


def _minp_threshold(ctx: PropertyContext) -> None:
    min_p = float(ctx.params["min_p"])
    if min_p == 0:
        return
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    z = _rows(ctx.inputs["logits"])
    kept = _rows(_kept(_out(ctx)))
    slack = _slack(ctx) * (1 + np.abs(z).max(initial=0.0, where=np.isfinite(z)))
    log_t = math.log(min_p)
    for zr, kr in zip(z, kept, strict=True):
        rel = zr - zr.max()
        assert np.all(kr | ~(rel > log_t + slack)), "a token with p >= min_p * p_max was removed"
        order = np.argsort(-zr, kind="stable")
        forced = np.zeros_like(kr)
        forced[order[:m]] = True
        assert np.all(~kr | forced | ~(rel < log_t - slack)), "a token with p < min_p * p_max was kept"


def _minp_zero(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    assert np.array_equal(_out(ctx, min_p=0.0), z), "min_p = 0 must be the identity"


def _minp_one(ctx: PropertyContext) -> None:
    z = _int_logits(ctx)
    kept = _kept(_out(ctx, logits=z, min_p=1.0, min_tokens_to_keep=1))
    if z.size:
        assert np.array_equal(kept, z == z.max(axis=-1, keepdims=True)), "min_p = 1 keeps exactly the max ties"


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
    ),
    inputs=(LOGITS,),
    params=(_threshold("relative threshold min_p in [0, 1]", "min_p", Interval(0.0, 1.0)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("argmax_kept", "the most probable token is always kept", _argmax_kept),
        Property("top_set", "kept logits are >= removed finite logits", _top_set),
        Property("threshold", "p >= min_p * p_max kept, p < min_p * p_max removed (away from the boundary)",
                 _minp_threshold),
        Property("nested_in_min_p", "kept(min(2 min_p, 1)) is contained in kept(min_p)",
                 _nested_rev("min_p", 2.0, 1.0)),
        Property("min_p_zero_identity", "min_p = 0 is the identity", _minp_zero),
        Property("min_p_one", "min_p = 1 keeps exactly the tokens tied at the max", _minp_one),
        Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", _min_keep),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
    ),
    degenerate=(
        "min_p = 0: identity; min_p = 1: only the tokens tied at the max (plus forced ones)",
        "a row of only -inf, NaN logits -> DomainError; NaN or out-of-range min_p -> ParameterError",
    ),
))


# --------------------------------------------------------------------------- typical_filter


def _typical_mass(ctx: PropertyContext) -> None:
    mass = float(ctx.params.get("mass", 0.9))
    z = _rows(ctx.inputs["logits"])
    kept = _rows(_kept(_out(ctx)))
    slack = _slack(ctx)
    for zr, kr in zip(z, kept, strict=True):
        got = np.exp(_log_softmax(zr))[kr].sum()
        assert got >= mass - slack, f"typical set mass {got} < mass = {mass}"


def _typical_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    flat = np.where(np.isneginf(z), NEG_INF, 1.0)
    kept = _kept(_out(ctx, logits=flat))
    assert np.array_equal(kept, np.isfinite(flat)), "equal logits must all be kept (all scores tie)"


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
              "kept or removed together (forced tokens: lowest index first). Logits closer than the working "
              "precision can be ordered differently in float32 and float64 (conformance draws them on a 1/64 grid). "
              "The most probable token may be removed.",
    ),
    inputs=(LOGITS,),
    params=(_threshold("typical mass in (0, 1)", "mass", Interval(0.0, 1.0, low_closed=False, high_closed=False),
                       0.9, required=False), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("mass", "the kept (typical) set has mass >= mass", _typical_mass),
        Property("uniform_keeps_all", "equal logits: every token kept", _typical_uniform),
        Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", _min_keep),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
    ),
    degenerate=(
        "mass must lie in (0, 1) (HF); 0 and 1 -> ParameterError",
        "all-equal finite logits: every finite token kept",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))


# --------------------------------------------------------------------------- epsilon / eta


def _guarded(zr: F64, m: int) -> BoolArray:
    kth = np.sort(zr)[::-1][min(m, zr.shape[-1]) - 1]
    return np.asarray(zr >= kth)


def _prob_threshold(eta: bool) -> Any:
    def check(ctx: PropertyContext) -> None:
        eps = float(ctx.params["epsilon"])
        m = int(ctx.params.get("min_tokens_to_keep", 1))
        z = _rows(ctx.inputs["logits"])
        kept = _rows(_kept(_out(ctx)))
        for zr, kr in zip(z, kept, strict=True):
            logp = _log_softmax(zr)
            log_t = math.log(eps)
            if eta:
                log_t = min(log_t, 0.5 * math.log(eps) - float(_entropy_rows(zr)))
            slack = _slack(ctx) * (1 + np.abs(logp).max(initial=0.0, where=np.isfinite(logp)))
            assert np.all(kr | ~(logp > log_t + slack)), "a token above the threshold was removed"
            assert np.all(~kr | _guarded(zr, m) | ~(logp < log_t - slack)), "a token below the threshold was kept"

    return check


def _epsilon_guard(ctx: PropertyContext) -> None:
    z = _rows(ctx.inputs["logits"])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    kept = _rows(_kept(_out(ctx, epsilon=0.999)))
    for zr, kr in zip(z, kept, strict=True):
        assert np.all(kr | ~(_guarded(zr, m) & np.isfinite(zr))), "tokens >= the m-th largest logit must survive"


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
    ),
    inputs=(LOGITS,),
    params=(_threshold("absolute probability threshold in (0, 1)", "epsilon",
                       Interval(0.0, 1.0, low_closed=False, high_closed=False)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("argmax_kept", "the most probable token is always kept", _argmax_kept),
        Property("top_set", "kept logits are >= removed finite logits", _top_set),
        Property("threshold", "p > eps kept, p < eps removed unless guarded (away from the boundary)",
                 _prob_threshold(eta=False)),
        Property("guard", "tokens >= the min_tokens_to_keep-th largest logit always survive", _epsilon_guard),
        Property("nested_in_epsilon", "kept(min(2 eps, 0.999)) is contained in kept(eps)",
                 _nested_rev("epsilon", 2.0, 0.999)),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
    ),
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
    ),
    inputs=(LOGITS,),
    params=(_threshold("eta hyperparameter epsilon in (0, 1)", "epsilon",
                       Interval(0.0, 1.0, low_closed=False, high_closed=False)), MIN_KEEP),
    outputs=(FILTER_OUT,),
    properties=(
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("argmax_kept", "the most probable token is always kept", _argmax_kept),
        Property("top_set", "kept logits are >= removed finite logits", _top_set),
        Property("threshold", "p > eta kept, p < eta removed unless guarded; eta <= eps",
                 _prob_threshold(eta=True)),
        Property("nested_in_epsilon", "kept(min(2 eps, 0.999)) is contained in kept(eps)",
                 _nested_rev("epsilon", 2.0, 0.999)),
        Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", _min_keep),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
    ),
    degenerate=(
        "epsilon must lie in (0, 1) (HF); 0, 1 and NaN -> ParameterError",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))


# --------------------------------------------------------------------------- top_h_filter


def _toph_count(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    kept = _rows(_kept(_out(ctx)))
    n_top = min(int(ctx.params.get("top_n", 100)), z.shape[-1])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    assert np.all(kept.sum(axis=-1) <= max(n_top, m)), "more than max(top_n, min_tokens_to_keep) tokens kept"


def _toph_alpha_one(ctx: PropertyContext) -> None:
    z = _int_logits(ctx)
    n_top = min(int(ctx.params.get("top_n", 100)), z.shape[-1])
    kept = _rows(_kept(_out(ctx, logits=z, alpha=1.0, temperature=1.0)))
    finite = np.isfinite(_rows(z)).sum(axis=-1)
    assert np.all(kept.sum(axis=-1) >= np.minimum(n_top, finite)), "alpha = 1 must keep all top_n candidates"


def _toph_uniform(ctx: PropertyContext) -> None:
    """Uniform over 8 tokens, top_n = 8: S(m) = (m/8) log 8 and tau = alpha log 8 give k = floor(8 alpha)."""
    z = np.zeros((2, 8))
    for alpha, k in ((0.45, 3), (0.7, 5), (0.1, 1)):
        for criterion in ("hf", "official"):
            kept = _kept(_out(ctx, logits=z, alpha=alpha, top_n=8, temperature=1.0, min_tokens_to_keep=1,
                              criterion=criterion))
            expect = np.zeros((2, 8), dtype=bool)
            expect[:, :k] = True
            assert np.array_equal(kept, expect), f"uniform, alpha={alpha}, {criterion}: kept {kept.sum(-1)} != {k}"


def _toph_criteria_close(ctx: PropertyContext) -> None:
    """With every token among the candidates the two criteria coincide (no renormalisation)."""
    z = _int_logits(ctx)
    v = z.shape[-1]
    a = _kept(_out(ctx, logits=z, top_n=v, criterion="hf"))
    b = _kept(_out(ctx, logits=z, top_n=v, criterion="official"))
    ra, rb = _rows(a), _rows(b)
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
              "candidates end the prefix (HF: NaN terms; official: never breaks). temperature only shapes the "
              "criterion (official); the output keeps unscaled logits. min_tokens_to_keep forces the most probable "
              "tokens (HF 5.23.0 ignores it; PR #47262 open). Kept sets do not depend on the log base.",
        differences=(Difference("entropy criterion",
                                "paper's ECMM constraint (normalised vs unnormalised truncated entropy not checked)",
                                "official: un-renormalised top_n probabilities, tau = alpha * S(top_n); HF: "
                                "renormalised top_n, tau = alpha * H(q)", "peer", "criterion"),),
    ),
    inputs=(LOGITS,),
    params=(
        _threshold("entropy budget alpha in (0, 1]", "alpha", Interval(0.0, 1.0, low_closed=False)),
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
        Property("values_unchanged", "outputs are the input logits or -inf", _values_unchanged),
        Property("argmax_kept", "the most probable token is always kept", _argmax_kept),
        Property("top_set", "kept logits are >= removed finite logits", _top_set),
        Property("count", "at most max(top_n, min_tokens_to_keep) tokens kept", _toph_count),
        Property("nested_in_alpha", "kept(alpha / 2) is contained in kept(alpha)",
                 _nested("alpha", 0.5, positive=True)),
        Property("alpha_one", "alpha = 1 keeps every top_n candidate", _toph_alpha_one),
        Property("uniform", "uniform over 8 tokens keeps floor(8 alpha) (both criteria)", _toph_uniform),
        Property("criteria_agree_without_truncation", "top_n >= V: hf and official agree (up to one token)",
                 _toph_criteria_close),
        Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", _min_keep),
        Property("shift_invariance", "the kept set is invariant to z -> z + c", _shift_invariance),
    ),
    degenerate=(
        "alpha = 1: all min(top_n, V) candidates with positive probability kept",
        "alpha in (0, 1] (HF and official); 0, NaN -> ParameterError; temperature must be > 0",
        "one-hot criterion distribution (others underflow or -inf): only the argmax (and forced tokens)",
        "a row of only -inf, NaN logits -> DomainError",
    ),
))


# --------------------------------------------------------------------------- sample


def _sample_valid(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    (tok,) = ctx.call()
    tok = np.asarray(tok)
    assert tok.shape == z.shape[:-1], f"token shape {tok.shape} != {z.shape[:-1]}"
    assert np.issubdtype(tok.dtype, np.integer), f"tokens must be integers, got {tok.dtype}"
    if tok.size:
        assert np.all((tok >= 0) & (tok < z.shape[-1])), "token index out of range"
        picked = np.take_along_axis(z, tok[..., None].astype(np.int64), axis=-1)
        assert np.all(np.isfinite(picked)), "sample returned a -inf position"


def _sample_zero(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    (tok,) = ctx.call(logits=z, uniforms=np.zeros(z.shape[:-1]))
    if z.size:
        first = np.argmax(np.isfinite(z), axis=-1)
        assert np.array_equal(np.asarray(tok), first), "u = 0 must return the first finite position"


def _sample_monotone(ctx: PropertyContext) -> None:
    u = ctx.inputs["uniforms"]
    (a,) = ctx.call(uniforms=u * 0.5)
    (b,) = ctx.call()
    assert np.all(np.asarray(a) <= np.asarray(b)), "the token index is not monotone in u"


def _sample_uniform_rows(ctx: PropertyContext) -> None:
    """Equal logits over 8 tokens: u = j/16 gives token floor(8 u) exactly."""
    u = np.arange(16) / 16.0
    z = np.zeros((16, 8))
    (tok,) = ctx.call(logits=z, uniforms=u)
    assert np.array_equal(np.asarray(tok), np.arange(16) // 2), f"uniform inverse CDF wrong: {tok}"


def _sample_rows_independent(ctx: PropertyContext) -> None:
    z = _rows(ctx.inputs["logits"])
    u = ctx.inputs["uniforms"].reshape(-1)
    if u.size == 0:
        return
    (full,) = ctx.call(logits=z, uniforms=u)
    for i in range(min(3, u.size)):
        (one,) = ctx.call(logits=z[i:i + 1], uniforms=u[i:i + 1])
        assert int(np.asarray(one)[0]) == int(np.asarray(full)[i]), "a row's token depends on the batch"


def _sample_single_finite(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    v = z.shape[-1]
    pos = ctx.rng.integers(0, v, size=z.shape[:-1])
    one = np.where(np.arange(v) == pos[..., None], 0.0, NEG_INF)
    (tok,) = ctx.call(logits=one)
    assert np.array_equal(np.asarray(tok), pos), "a row with one finite logit must return it for every u"


register(MethodSpec(
    id="sample",
    family="decoding",
    kind="decoding",
    summary="Inverse-CDF sampling of softmax(logits) in vocabulary order from supplied uniforms (int64 indices).",
    papers=(),
    provenance=Provenance(
        confidence="standard",
        checked_against="inverse CDF (first position whose cumulative probability exceeds u); parity-tested against "
                        "an independent numpy.searchsorted implementation",
        notes="Never returns a -inf position; u = 0 returns the first finite position and u beyond the final "
              "cumulative value by round-off the last finite position (the exact-arithmetic inverse CDF, so "
              "underflowed probabilities do not make float32 and float64 disagree). Rows are independent, so "
              "the batch size cannot change a token (cf. vLLM PR #50979). The cumulative sum is float64 for "
              "float64 input, float32 otherwise.",
    ),
    inputs=(LOGITS, InputSpec("uniforms", "uniforms", ("...",), "one uniform in [0, 1) per row", sensitive=True)),
    params=(),
    outputs=(OutputSpec("tokens", "sampled int64 index per row", discrete=True, shape=("...",)),),
    properties=(
        Property("valid_token", "indices in [0, V) at finite logits, int64, shape logits.shape[:-1]", _sample_valid),
        Property("u_zero_first", "u = 0 returns the first finite position", _sample_zero),
        Property("monotone_in_u", "the index is non-decreasing in u", _sample_monotone),
        Property("uniform_rows", "equal logits over 8 tokens: token = floor(8 u)", _sample_uniform_rows),
        Property("rows_independent", "a row's token does not depend on the rest of the batch",
                 _sample_rows_independent),
        Property("single_finite", "a row with one finite logit always returns it", _sample_single_finite),
    ),
    degenerate=(
        "u = 0: the first finite position; u at or above the final cumulative value (round-off): the last finite "
        "position",
        "a row of only -inf, NaN logits or uniforms -> DomainError; uniforms outside [0, 1) -> DomainError",
        "uniforms.shape != logits.shape[:-1] -> ShapeError",
    ),
))
