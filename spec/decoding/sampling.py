"""Specs of temperature scaling and inverse-CDF sampling (the ``sampling`` group of ``decoding``).

``temperature_scale`` divides logits by ``T``; ``sample`` is the inverse-CDF foundation sampler with
supplied uniforms. Property helpers are NumPy code written from the definitions (never the
reference); SymPy is imported inside the derivation builder only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from spec.decoding._filters import HF, HF_CODE, LOGITS, NEG_INF, entropy_rows, int_logits
from spec.model import (
    Branch,
    Derivation,
    InputSpec,
    Interval,
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
from spec.properties import out, rows
from spec.registry import register
from spec.scales import magnitude_over

__all__: list[str] = []

ACKLEY_1985 = Paper("A Learning Algorithm for Boltzmann Machines", 1985)


# --------------------------------------------------------------------------- temperature_scale


def _temperature_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    z = np.asarray(inputs["logits"], dtype=np.float64)
    t = sp.Float(float(params["temperature"]))
    sym = np.array([sp.Symbol(f"z_{i}", real=True) for i in range(z.size)], dtype=object).reshape(z.shape)
    expr = np.array([s / t for s in sym.ravel()], dtype=object).reshape(z.shape)
    values = {s: float(v) for s, v in zip(sym.ravel(), z.ravel(), strict=True)}
    return SymbolicProblem({"logits": sym}, expr, values)


def _temperature_identity(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = out(ctx, temperature=1.0)
    assert np.array_equal(y, z), "temperature 1 is not the identity"


def _temperature_dyadic(ctx: PropertyContext) -> None:
    z = int_logits(ctx, -64, 64)
    for t in (0.5, 2.0, 4.0):
        y = out(ctx, logits=z, temperature=t)
        assert np.array_equal(y, z / t), f"z / {t} is not exact on small-integer logits"


def _temperature_argmax(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = out(ctx)
    assert np.array_equal(np.isneginf(y), np.isneginf(z)), "-inf entries must stay -inf and only those"
    if z.size == 0:
        ctx.skip("empty batch")
    top = z == np.max(z, axis=-1, keepdims=True)
    ymax = np.max(y, axis=-1, keepdims=True)
    assert np.all(~top | (y == ymax)), "a maximal logit is no longer maximal after scaling"


def _temperature_entropy(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    hs = [entropy_rows(out(ctx, logits=z, temperature=t)) for t in (0.5, 1.0, 2.0)]
    slack = ctx.slack(4.0)  # an entropy moves by at most 2 |dz| when logits move by dz (output units)
    assert np.all(hs[0] <= hs[1] + slack) and np.all(hs[1] <= hs[2] + slack), "entropy not non-decreasing in T"


def _temp_branch(when: Callable[[float], bool]) -> Callable[[Mapping[str, Any], Mapping[str, Any], tuple[Any, ...]],
                                                             bool]:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        z = rows(np.asarray(inputs["logits"], dtype=np.float64))
        distinct = any(np.unique(zr[np.isfinite(zr)]).size > 1 for zr in z)
        return bool(when(float(params["temperature"])) and distinct)

    return hit


def _temp_neg_inf(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return bool(np.any(np.isneginf(np.asarray(inputs["logits"], dtype=np.float64))))


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
    outputs=(OutputSpec("logits", "z / T, same shape and dtype", shape=("...", "V"),
                        scale=magnitude_over("logits", "temperature")),),
    properties=(
        Property("identity", "T = 1 returns the logits unchanged", _temperature_identity),
        Property("dyadic_exact", "z / T is exact for small-integer z and T in {1/2, 2, 4}", _temperature_dyadic),
        Property("argmax_and_inf", "maximal logits stay maximal; -inf entries stay -inf", _temperature_argmax),
        Property("entropy_monotone", "H(softmax(z/T)) is non-decreasing in T", _temperature_entropy),
    ),
    branches=(
        Branch("sharpening", "T < 1 on a row with two distinct finite logits", _temp_branch(lambda t: t < 1.0)),
        Branch("flattening", "T > 1 on a row with two distinct finite logits", _temp_branch(lambda t: t > 1.0)),
        Branch("-inf entries", "a -inf entry is carried through", _temp_neg_inf),
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
    """u = 0 returns the first finite position: on the drawn logits and on rows with leading -inf."""
    z = ctx.inputs["logits"]
    fixed = np.array([[NEG_INF, 0.0, 1.0], [NEG_INF, NEG_INF, 0.0], [-3.0, 5.0, NEG_INF]])
    for logits in (z, fixed):
        if logits.size == 0:
            continue
        (tok,) = ctx.call(logits=logits, uniforms=np.zeros(logits.shape[:-1]))
        first = np.argmax(np.isfinite(logits), axis=-1)
        assert np.array_equal(np.asarray(tok), first), f"u = 0 must return the first finite position {first}: {tok}"


#: Rows whose float64 or float32 cumulative softmax ends one ulp below 1 (found by direct computation
#: of exp(z - max) / sum), and rows with trailing -inf: u just below 1 must still give the last finite token.
_TOP_ROWS = ([0.0, 2.0], [0.0] * 6, [0.0] * 7, [0.0, 0.0, 0.0, 0.0, 3.0], [0.0, 2.0, NEG_INF],
             [1.0, NEG_INF, 1.0, NEG_INF])


def _largest_below_one(dtype: str) -> float:
    mant = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}[dtype]
    return 1.0 - 2.0 ** -(mant + 1)


def _sample_top(ctx: PropertyContext) -> None:
    """The largest u below 1 returns the last finite position when its probability exceeds 1 - u."""
    u = _largest_below_one(ctx.dtype)
    for row in _TOP_ROWS:
        z = np.array([row])
        (tok,) = ctx.call(logits=z, uniforms=np.array([u]))
        last = int(np.flatnonzero(np.isfinite(z[0]))[-1])
        assert int(np.asarray(tok)[0]) == last, f"u = {u!r} on {row}: token {tok}, expected the last finite {last}"


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
    z = rows(ctx.inputs["logits"])
    u = ctx.inputs["uniforms"].reshape(-1)
    if u.size < 2:
        ctx.skip("fewer than two rows")
    (full,) = ctx.call(logits=z, uniforms=u)
    for i in range(min(3, u.size)):
        (one,) = ctx.call(logits=z[i:i + 1], uniforms=u[i:i + 1])
        assert int(np.asarray(one)[0]) == int(np.asarray(full)[i]), "a row's token depends on the batch"


def _sample_single_finite(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    v = z.shape[-1]
    pos = ctx.rng.integers(0, v, size=z.shape[:-1])
    one = np.where(np.arange(v) == pos[..., None], 0.0, NEG_INF)
    (tok,) = ctx.call(logits=one)
    assert np.array_equal(np.asarray(tok), pos), "a row with one finite logit must return it for every u"


def _picks(inputs: Mapping[str, Any], outputs: tuple[Any, ...]) -> list[tuple[Any, int]]:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    tok = np.asarray(outputs[0]).reshape(-1)
    return [(zr, int(t)) for zr, t in zip(z, tok, strict=True)]


def _picks_last(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(np.isfinite(zr).sum() > 1 and t == np.flatnonzero(np.isfinite(zr))[-1] for zr, t in _picks(inputs,
                                                                                                        outputs))


def _picks_interior(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(np.flatnonzero(np.isfinite(zr))[0] < t < np.flatnonzero(np.isfinite(zr))[-1]
               for zr, t in _picks(inputs, outputs))


def _picks_after_neg_inf(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(bool(np.isneginf(zr[:t]).any()) for zr, t in _picks(inputs, outputs))


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
    outputs=(OutputSpec("tokens", "sampled int64 index per row", discrete=True, shape=("...",), monotone=True),),
    properties=(
        Property("valid_token", "indices in [0, V) at finite logits, int64, shape logits.shape[:-1]", _sample_valid),
        Property("u_zero_first", "u = 0 returns the first finite position", _sample_zero),
        Property("u_top_last", "the largest u below 1 returns the last finite position (p_last > 1 - u)",
                 _sample_top),
        Property("monotone_in_u", "the index is non-decreasing in u", _sample_monotone),
        Property("uniform_rows", "equal logits over 8 tokens: token = floor(8 u)", _sample_uniform_rows),
        Property("rows_independent", "a row's token does not depend on the rest of the batch",
                 _sample_rows_independent),
        Property("single_finite", "a row with one finite logit always returns it", _sample_single_finite),
    ),
    branches=(
        Branch("last finite token", "a row with several finite tokens picks its last finite one", _picks_last),
        Branch("interior token", "a row picks a token that is neither its first nor its last finite one",
               _picks_interior),
        Branch("-inf before the pick", "a row picks a token after a -inf entry", _picks_after_neg_inf),
    ),
    degenerate=(
        "u = 0: the first finite position; u at or above the final cumulative value (round-off): the last finite "
        "position",
        "a row of only -inf, NaN logits or uniforms -> DomainError; uniforms outside [0, 1) -> DomainError",
        "uniforms.shape != logits.shape[:-1] -> ShapeError",
    ),
))
