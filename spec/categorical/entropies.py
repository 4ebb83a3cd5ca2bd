"""Specs of the ``categorical`` entropies: Shannon (of probabilities and of logits), Rényi, Tsallis and
SIREN's top-p renormalised entropy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.categorical._common import (
    AXIS,
    BASE,
    DYNMOLE_2025,
    ENTROPY_MECHANISM_2025,
    HYPERFITTING_2024,
    LOGITS_DIFF,
    RENYI_1961,
    SHANNON_1948,
    SIREN_2025,
    TEMPERATURE,
    TSALLIS_1988,
    axis_rows,
    logit_rows_expr,
    out_shape,
    row_shift,
    unit,
)
from spec.model import (
    Branch,
    Derivation,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    MethodSpec,
    OutputSpec,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    Scale,
    SymbolicProblem,
    default_tolerance,
)
from spec.registry import register
from spec.scales import log_size

__all__: list[str] = []

SIREN_EPS = 1e-12


def _top_p_support(row: np.ndarray[Any, Any], p: float, k: int | None) -> list[int]:
    """SIREN's support: descending logits (lowest index first on ties), keep while the cumsum c_j < p."""
    finite = np.isfinite(row)
    m = float(np.max(row[finite]))
    e = np.where(finite, np.exp(np.where(finite, row - m, 0.0)), 0.0)
    pi = e / np.sum(e)
    kk = row.size if k is None else min(int(k), row.size)
    order = sorted(range(row.size), key=lambda i: (-row[i], i))
    out: list[int] = []
    for j, i in enumerate(order[:kk]):
        after = math.fsum(float(pi[t]) for t in order[j + 1:])
        if not 1.0 - after < p:  # c_j = 1 − (mass after j): exact at p = 1
            break
        out.append(i)
    return out


def _rows64(x: Any) -> np.ndarray[Any, Any]:
    a = np.asarray(x, dtype=np.float64)
    return a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)


def _tsallis_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    v = max(int(np.shape(inputs["probs"])[-1]) if np.ndim(inputs["probs"]) else 1, 2)
    q = float(params.get("q", 2.0))
    return max(1.0, math.log(v) if q == 1.0 else (1.0 - v ** (1.0 - q)) / (q - 1.0))


#: S_q of the uniform distribution over V categories (the maximum), at least 1.
TSALLIS_SCALE = Scale("max(1, (1 − V^(1−q))/(q − 1)) (log V at q = 1), the uniform maximum", _tsallis_scale)


def _zeros_not_one_hot(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    r = _rows64(inputs["probs"])
    return bool(np.any((np.max(r, axis=-1) < 1.0) & np.any(r == 0, axis=-1)))


def _finite_alpha(low: float, high: float) -> Any:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        a = float(params.get("alpha", params.get("q", 2.0)))
        return low < a < high

    return hit


def _param_is(name: str, value: float) -> Any:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        return bool(float(params.get(name, math.nan)) == value)

    return hit


def _top_p_sizes(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """Per row: (|S| with k, |S| without k, number of finite logits)."""
    z = _rows64(inputs["logits"])
    p = float(params.get("p", 0.8))
    k = params.get("k")
    return [(len(_top_p_support(r, p, k)), len(_top_p_support(r, p, None)), int(np.isfinite(r).sum()))
            for r in z if r.size]


def _cut_mid(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(0 < s < n - 1 for s, _, n in _top_p_sizes(inputs, params))


def _k_cuts(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    return any(s < s_no_k for s, s_no_k, _ in _top_p_sizes(inputs, params))


BRANCHES: dict[str, tuple[Branch, ...]] = {
    "entropy": (
        Branch("zeros (0 log 0)", "a row that is not one-hot has exact zeros", _zeros_not_one_hot),
        Branch("log base", "`base` is given (output divided by log base)",
               lambda i, p, o: p.get("base") is not None),
    ),
    "entropy_from_logits": (
        Branch("masked logits", "some logits are -inf (probability 0)",
               lambda i, p, o: bool(np.any(np.isneginf(np.asarray(i["logits"]))))),
        Branch("temperature != 1", "the logits are rescaled", lambda i, p, o: float(p.get("temperature", 1.0)) != 1.0),
    ),
    "renyi_entropy": (
        Branch("alpha = 1", "the Shannon limit", _param_is("alpha", 1.0)),
        Branch("alpha = inf", "the min-entropy limit", _param_is("alpha", math.inf)),
        Branch("alpha = 0", "the Hartley limit (log of the support size)", _param_is("alpha", 0.0)),
        Branch("0 < alpha < 1", "finite order below 1", _finite_alpha(0.0, 1.0)),
        Branch("1 < alpha < inf", "finite order above 1", _finite_alpha(1.0, math.inf)),
    ),
    "tsallis_entropy": (
        Branch("q = 1", "the Shannon limit", _param_is("q", 1.0)),
        Branch("0 < q < 1", "index below 1", _finite_alpha(0.0, 1.0)),
        Branch("q > 1", "index above 1", _finite_alpha(1.0, math.inf)),
    ),
    "top_p_renormalized_entropy": (
        Branch("cut mid-distribution", "0 < |S| < (finite tokens) − 1 in some row", _cut_mid),
        Branch("k cuts before p", "the top-k pre-filter removes tokens the p cut would keep", _k_cuts),
    ),
}


# --------------------------------------------------------------------------- entropy


def _entropy_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    p = np.asarray(inputs["probs"], dtype=np.float64)
    sym = symbols_like("p", p)
    ax = int(params.get("axis", -1))
    rows, vals = axis_rows(sym, ax), axis_rows(p, ax)
    # 0·log 0 = 0: zero entries contribute nothing (their derivative, -inf, is a domain boundary).
    out = [sum((-s * sp.log(s) for s, v in zip(r, vr, strict=True) if v > 0), sp.Integer(0))
           for r, vr in zip(rows, vals, strict=True)]
    base = params.get("base")
    if base is not None:
        out = [o / sp.log(sp.Float(base)) for o in out]
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(out_shape(p, ax)), bind(sym, p))


def _entropy_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    k = ctx.inputs["probs"].shape[-1]
    u = unit(ctx.params)
    hi = math.log(k) / u
    lo_b, hi_b = (0.0, hi) if u > 0 else (hi, 0.0)
    slack = ctx.budget.atol + ctx.budget.rtol * abs(hi)
    assert np.all(h >= lo_b - slack) and np.all(h <= hi_b + slack), f"H outside [{lo_b}, {hi_b}]: {h}"


def _entropy_permutation(ctx: PropertyContext) -> None:
    p = ctx.inputs["probs"]
    perm = ctx.rng.permutation(p.shape[-1])
    (h,) = ctx.call()
    (hp,) = ctx.call(probs=p[..., perm])
    assert ctx.close(hp, h, factor=2), f"not permutation invariant: {h} vs {hp}"


def _entropy_uniform(ctx: PropertyContext) -> None:
    p = ctx.inputs["probs"]
    k = p.shape[-1]
    if k & (k - 1):
        ctx.skip("K is not a power of two (1/K would not be exact, so the row would leave the simplex)")
    (h,) = ctx.call(probs=np.full(p.shape, 1.0 / k))
    u = unit(ctx.params)
    assert ctx.close(h, np.full(h.shape, math.log(k) / u)), f"uniform entropy {h} != log K"


def _entropy_one_hot(ctx: PropertyContext) -> None:
    p = np.zeros(ctx.inputs["probs"].shape)
    p[..., -1] = 1.0
    (h,) = ctx.call(probs=p)
    assert np.all(np.abs(h) <= ctx.budget.atol), f"one-hot entropy {h} != 0"


register(MethodSpec(
    id="entropy",
    family="categorical",
    kind="estimator",
    summary="Shannon entropy H(p) = -Σ p log p of probability vectors (0·log 0 = 0).",
    papers=(SHANNON_1948,),
    provenance=Provenance(
        confidence="standard",
        checked_against="textbook definition; scipy.stats.entropy (scipy 1.17.1) on normalised input, "
                        "mpmath closed forms (tests/test_categorical_reference.py)",
        notes="Unlike scipy.stats.entropy, input is not renormalised: rows off the simplex raise "
              "DomainError (scipy issue #12553).",
    ),
    inputs=(InputSpec("probs", "probs", ("...", "V"), "probability vectors, categories on `axis`",
                      differentiable=True),),
    params=(AXIS, BASE),
    outputs=(OutputSpec("entropy", "entropy per row, in nats (or units of `base`)", shape=("...",),
                       scale=log_size("probs", base="base")),),
    properties=(
        Property("bounds", "0 <= H <= log K", _entropy_bounds),
        Property("permutation_invariance", "H is invariant to permuting the categories", _entropy_permutation),
        Property("uniform_maximum", "the uniform distribution has H = log K", _entropy_uniform),
        Property("one_hot_zero", "a one-hot row has H = 0", _entropy_one_hot),
    ),
    branches=BRANCHES['entropy'],
    tolerance=default_tolerance(),
    derivation=Derivation(_entropy_problem, wrt=("probs",), kinks="p_k = 0 (derivative -inf); not drawn"),
    degenerate=("a one-hot row gives exactly 0",),
))


# --------------------------------------------------------------------------- entropy_from_logits


def _entropy_from_logits_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    z = np.asarray(inputs["logits"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sym = symbols_like("z", z)
    out = []
    for r, vr in zip(axis_rows(sym, ax), axis_rows(z, ax), strict=True):
        logp, _ = logit_rows_expr(r, vr, float(params.get("temperature", 1.0)))
        out.append(sum((-sp.exp(lp) * lp for lp in logp if lp is not None), sp.Integer(0)))
    return SymbolicProblem({"logits": sym}, np.array(out, dtype=object).reshape(out_shape(z, ax)), bind(sym, z))


def _efl_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    v = ctx.inputs["logits"].shape[-1]
    hi = math.log(v)
    assert np.all(h >= -ctx.slack()) and np.all(h <= hi + ctx.slack()), f"H outside [0, log V={hi}]: {h}"


def _efl_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    zs = z + row_shift(z, ctx.dtype)
    (h,) = ctx.call()
    (hs,) = ctx.call(logits=zs)
    assert ctx.close(hs, h, factor=2), f"not invariant to a per-row logit shift: {h} vs {hs}"


def _efl_permutation(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    perm = ctx.rng.permutation(z.shape[-1])
    (h,) = ctx.call()
    (hp,) = ctx.call(logits=z[..., perm])
    assert ctx.close(hp, h, factor=2), f"not permutation invariant: {h} vs {hp}"


def _efl_temperature(ctx: PropertyContext) -> None:
    t = float(ctx.params.get("temperature", 1.0))
    if not 1e-3 <= t <= 1e3:
        ctx.skip("temperature outside [1e-3, 1e3] (doubling it changes H by less than rounding)")
    (h1,) = ctx.call(temperature=t)
    (h2,) = ctx.call(temperature=2.0 * t)
    assert np.all(h2 >= h1 - ctx.slack(2)), f"H(z/T) decreased when T doubled: {h1} -> {h2}"


def _efl_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    (h,) = ctx.call(logits=np.full(z.shape, 0.5))
    assert ctx.close(h, np.full(h.shape, math.log(z.shape[-1]))), f"constant logits: {h} != log V"


def _neginf_row_nan(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """verl's Σ softmax(z)·z: a row with a -inf logit is NaN (0·(−inf))."""
    z = np.asarray(inputs["logits"], dtype=np.float64)
    bad = np.any(np.isneginf(z), axis=-1)
    if not np.any(bad):
        return None
    (ours,) = reference(inputs, params)
    return (np.where(bad, math.nan, ours),)


register(MethodSpec(
    id="entropy_from_logits",
    family="categorical",
    kind="estimator",
    summary="Shannon entropy of softmax(z/T): H = logsumexp(y) − Σ softmax(y)·y, y = z/T (nats).",
    papers=(ENTROPY_MECHANISM_2025, HYPERFITTING_2024),
    provenance=Provenance(
        confidence="standard",
        checked_against="textbook definition; scipy.stats.entropy(scipy.special.softmax(z)) and torch "
                        "log_softmax (tests/test_categorical_parity.py); the logsumexp form is the verl form "
                        "quoted by the catalogue (verl.utils.torch_functional.entropy_from_logits, not re-read)",
        official_code="Sachithx/EntroPE:models/GPT2EntropyModel.py (not re-read)",
        notes="Stable form: the row max is subtracted before dividing by T, so any T > 0 is safe; -inf "
              "logits are masked categories. Reductions over tokens (mean_token_entropy) are left to the "
              "caller (per-token output).",
        differences=(
            Difference("masked (-inf) logits", "a -inf logit is a category of probability 0 (0·log 0 = 0)",
                       "verl 0.9.1 utils.torch_functional.entropy_from_logits computes logsumexp(z) − Σ softmax(z)·z: "
                       "0·(−inf) = NaN on any row with a -inf logit", default="paper", name="neginf_row_nan",
                       other=_neginf_row_nan),
        ),
    ),
    inputs=(LOGITS_DIFF,),
    params=(AXIS, TEMPERATURE),
    outputs=(OutputSpec("entropy", "entropy per row in nats", shape=("...",), scale=log_size("logits")),),
    properties=(
        Property("bounds", "0 <= H <= log V", _efl_bounds),
        Property("shift_invariance", "adding a per-row constant to the logits leaves H unchanged", _efl_shift),
        Property("permutation_invariance", "permuting the vocabulary leaves H unchanged", _efl_permutation),
        Property("temperature_monotone", "H(softmax(z/T)) is non-decreasing in T", _efl_temperature),
        Property("uniform_maximum", "constant logits give H = log V", _efl_uniform),
    ),
    branches=BRANCHES['entropy_from_logits'],
    tolerance=default_tolerance(),
    derivation=Derivation(_entropy_from_logits_problem, wrt=("logits",),
                          kinks="none for finite logits (-inf entries are constants)"),
    degenerate=("-inf entries have probability 0 and contribute 0; a row of only -inf raises DomainError",
                "T -> 0 tends to log(number of tied maxima); a unique maximum gives 0"),
    aliases=("mean_token_entropy", "conditional_token_entropy"),
))


# --------------------------------------------------------------------------- renyi_entropy


def _renyi_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    p = np.asarray(inputs["probs"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    alpha = float(params["alpha"])
    sym = symbols_like("p", p)
    out: list[Any] = []
    for r, vr in zip(axis_rows(sym, ax), axis_rows(p, ax), strict=True):
        sup = [s for s, v in zip(r, vr, strict=True) if v > 0]
        if alpha == 1.0:
            out.append(sum((-s * sp.log(s) for s in sup), sp.Integer(0)))
        elif alpha == 0.0:
            out.append(sp.log(sp.Integer(len(sup))))
        elif math.isinf(alpha):
            out.append(-sp.log(r[int(np.argmax(vr))]))  # the argmax is a data-dependent constant
        else:
            # On the simplex log Σ p^α = log(1 + Σ (p^α − p)). The second form is the one whose α -> 1
            # limit is -Σ p log p for every p; the reference evaluates it while Σ p^α > 1/2 and the first
            # (log-sum-exp) form below, so off the simplex — where finite differences probe — the
            # derivation follows the same branch (chosen numerically: a data-dependent constant).
            a = sp.Float(alpha)
            vals = [float(v) for v in vr if v > 0]
            powers = [sp.exp(a * sp.log(s)) for s in sup]  # s^α, written so derivatives avoid s^(α-1)
            if sum(v**alpha - v for v in vals) > -0.5:
                out.append(sp.log(1 + sum((x - s for x, s in zip(powers, sup, strict=True)), sp.Integer(0)))
                           / (1 - a))
            else:
                out.append(sp.log(sum(powers, sp.Integer(0))) / (1 - a))
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(out_shape(p, ax)), bind(sym, p))


def _renyi_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    hi = math.log(ctx.inputs["probs"].shape[-1])
    assert np.all(h >= -ctx.slack()) and np.all(h <= hi + ctx.slack()), f"H_alpha outside [0, log K]: {h}"


def _renyi_monotone(ctx: PropertyContext) -> None:
    a = float(ctx.params["alpha"])
    if math.isinf(a):
        ctx.skip("alpha = inf has no larger order")
    (h1,) = ctx.call(alpha=a)
    (h2,) = ctx.call(alpha=2.0 * a + 0.5)
    assert np.all(h2 <= h1 + ctx.slack(2)), f"H_alpha increased with alpha: {h1} -> {h2}"


def _renyi_order(ctx: PropertyContext) -> None:
    hs = [ctx.call(alpha=a)[0] for a in (math.inf, 2.0, 1.0, 0.0)]
    for lo, hi in itertools.pairwise(hs):
        assert np.all(lo <= hi + ctx.slack(2)), f"H_inf <= H_2 <= H_1 <= H_0 violated: {hs}"


def _near(ctx: PropertyContext, a: Any, b: Any, delta: float) -> bool:
    """|a − b| within the budget plus the first-order change over a step ``delta`` (|dH/dα| <= log² K)."""
    k = ctx.inputs["probs"].shape[-1]
    allowed = ctx.slack(2) + delta * (1.0 + math.log(max(k, 2)) ** 2)
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= allowed))


def _renyi_limit(ctx: PropertyContext) -> None:
    (h1,) = ctx.call(alpha=1.0)
    for d in (1e-9, 1e-6, 1e-3):
        (h_lo,) = ctx.call(alpha=1.0 - d)
        (h_hi,) = ctx.call(alpha=1.0 + d)
        assert _near(ctx, h_lo, h1, d) and _near(ctx, h_hi, h1, d), \
            f"not continuous at alpha=1 (step {d}): {h_lo}, {h1}, {h_hi}"


def _renyi_shannon(ctx: PropertyContext) -> None:
    p = ctx.inputs["probs"]
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    (h1,) = ctx.call(alpha=1.0)
    assert ctx.close(h1, expected, 2), f"alpha=1 is not the Shannon entropy: {h1} vs {expected}"


register(MethodSpec(
    id="renyi_entropy",
    family="categorical",
    kind="estimator",
    summary="Rényi entropy H_α(p) = log(Σ p^α)/(1−α); α=1 Shannon, α=0 Hartley, α=∞ min-entropy (nats).",
    papers=(RENYI_1961,),
    provenance=Provenance(
        confidence="standard",
        checked_against="textbook definition; mpmath 60-digit closed forms incl. the three limits "
                        "(tests/test_categorical_reference.py)",
        notes="The limits α ∈ {0, 1, ∞} are taken explicitly. Σ p^α − 1 is summed as Σ p·expm1((α−1) log p) "
              "(no cancellation near α = 1); log Σ p^α by log-sum-exp when Σ p^α < 1/2 (large α).",
    ),
    inputs=(InputSpec("probs", "probs", ("...", "V"), "probability vectors, categories on `axis`",
                      differentiable=True),),
    params=(ParamSpec("alpha", 2.0, Interval(0.0, None, allow_inf=True), "order α >= 0 (inf allowed)",
                      positional=True, required=True), AXIS),
    outputs=(OutputSpec("entropy", "Rényi entropy per row in nats", shape=("...",), scale=log_size("probs")),),
    properties=(
        Property("bounds", "0 <= H_α <= log K", _renyi_bounds),
        Property("monotone_in_alpha", "H_α is non-increasing in α", _renyi_monotone),
        Property("order", "H_∞ <= H_2 <= H_1 <= H_0", _renyi_order),
        Property("continuity_at_1", "H_α -> Shannon entropy as α -> 1", _renyi_limit),
        Property("shannon_at_1", "α = 1 gives -Σ p log p", _renyi_shannon),
    ),
    branches=BRANCHES['renyi_entropy'],
    tolerance=default_tolerance(),
    derivation=Derivation(_renyi_problem, wrt=("probs",),
                          kinks="p_k = 0 (not differentiated; derivative infinite for α <= 1); α = ∞ at tied "
                                "maxima; α = 0 is piecewise constant"),
    degenerate=("α = 0 gives log |supp p| (zero gradient)", "α = ∞ gives -log max p",
                "a one-hot row gives 0 for every α"),
))


# --------------------------------------------------------------------------- tsallis_entropy


def _tsallis_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    p = np.asarray(inputs["probs"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    q = float(params["q"])
    sym = symbols_like("p", p)
    out: list[Any] = []
    for r, vr in zip(axis_rows(sym, ax), axis_rows(p, ax), strict=True):
        sup = [s for s, v in zip(r, vr, strict=True) if v > 0]
        if q == 1.0:
            out.append(sum((-s * sp.log(s) for s in sup), sp.Integer(0)))
        else:
            # Σ (p − p^q)/(q − 1) = (1 − Σ p^q)/(q − 1) on the simplex; this form (the reference's) has
            # the Shannon limit as q -> 1 for every p, also off the simplex where finite differences probe.
            qq = sp.Float(q)
            out.append(sum((s - sp.exp(qq * sp.log(s)) for s in sup), sp.Integer(0)) / (qq - 1))
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(out_shape(p, ax)), bind(sym, p))


def _tsallis_bounds(ctx: PropertyContext) -> None:
    q = float(ctx.params["q"])
    k = ctx.inputs["probs"].shape[-1]
    hi = math.log(k) if q == 1.0 else (1.0 - k ** (1.0 - q)) / (q - 1.0)
    (s,) = ctx.call()
    assert np.all(s >= -ctx.slack()) and np.all(s <= hi + ctx.slack(2)), f"S_q outside [0, {hi}]: {s}"


def _tsallis_limit(ctx: PropertyContext) -> None:
    (s1,) = ctx.call(q=1.0)
    for d in (1e-9, 1e-6, 1e-3):
        (s_lo,) = ctx.call(q=1.0 - d)
        (s_hi,) = ctx.call(q=1.0 + d)
        assert _near(ctx, s_lo, s1, d) and _near(ctx, s_hi, s1, d), \
            f"not continuous at q=1 (step {d}): {s_lo}, {s1}, {s_hi}"


def _tsallis_gini(ctx: PropertyContext) -> None:
    p = ctx.inputs["probs"]
    (s2,) = ctx.call(q=2.0)
    expected = 1.0 - np.sum(p * p, axis=-1)
    assert ctx.close(s2, expected, 2), f"q=2 is not the Gini impurity 1-Σp²: {s2} vs {expected}"


register(MethodSpec(
    id="tsallis_entropy",
    family="categorical",
    kind="estimator",
    summary="Tsallis entropy S_q(p) = (1 − Σ p^q)/(q − 1); q=1 Shannon, q=2 Gini impurity.",
    papers=(TSALLIS_1988, DYNMOLE_2025),
    provenance=Provenance(
        confidence="standard",
        checked_against="textbook definition; mpmath closed forms and the Gini case q=2 "
                        "(tests/test_categorical_reference.py)",
        official_code="TUDB-Labs/MoE-PEFT:moe_peft (DynMoLE; body and eps not verified per the catalogue)",
        notes="Standard definition without eps; sums over the support (0^q = 0). q = 1 taken explicitly; "
              "the expm1 form -Σ p·expm1((q−1) log p)/(q−1) has no cancellation near q = 1.",
    ),
    inputs=(InputSpec("probs", "probs", ("...", "V"), "probability vectors, categories on `axis`",
                      differentiable=True),),
    params=(ParamSpec("q", 2.0, Interval(0.0, None), "entropic index q >= 0", positional=True, required=True), AXIS),
    outputs=(OutputSpec("entropy", "Tsallis entropy per row", shape=("...",), scale=TSALLIS_SCALE),),
    properties=(
        Property("bounds", "0 <= S_q <= (1 − K^{1−q})/(q − 1) (uniform maximum)", _tsallis_bounds),
        Property("continuity_at_1", "S_q -> Shannon entropy as q -> 1", _tsallis_limit),
        Property("gini_at_2", "q = 2 gives 1 − Σ p²", _tsallis_gini),
    ),
    branches=BRANCHES['tsallis_entropy'],
    tolerance=default_tolerance(),
    derivation=Derivation(_tsallis_problem, wrt=("probs",), kinks="p_k = 0 (not differentiated)"),
    degenerate=("q = 0 gives |supp p| − 1", "a one-hot row gives 0 for every q"),
))


# --------------------------------------------------------------------------- top_p_renormalized_entropy

def _top_p_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    z = np.asarray(inputs["logits"], dtype=np.float64)
    p = float(params.get("p", 0.8))
    k = params.get("k")
    sym = symbols_like("z", z)
    v = z.shape[-1]
    out: list[Any] = []
    eps = sp.Float(SIREN_EPS)
    for rs, rz in zip(sym.reshape(-1, v), z.reshape(-1, v), strict=True):
        support = _top_p_support(rz, p, k)  # a data-dependent constant
        logp, _ = logit_rows_expr(rs, rz)
        pis = {i: sp.exp(logp[i]) for i in support if logp[i] is not None}  # π = 0 entries add 0
        mass = sum(pis.values(), sp.Integer(0))
        qs = [pis[i] / (mass + eps) for i in support]
        out.append(sum((-q * sp.log(q + eps) for q in qs), sp.Integer(0)))
    return SymbolicProblem({"logits": sym}, np.array(out, dtype=object).reshape(z.shape[:-1]), bind(sym, z))


def _tp_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    hi = math.log(ctx.inputs["logits"].shape[-1])
    assert np.all(h >= -ctx.slack()) and np.all(h <= hi + ctx.slack()), f"H_topp outside [0, log V]: {h}"


def _tp_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    (h,) = ctx.call()
    (hs,) = ctx.call(logits=z + row_shift(z, ctx.dtype))
    # a shift can move a cumulative sum across p by rounding: compare with p nudged both ways too
    p = float(ctx.params.get("p", 0.8))
    alts = [h] + [ctx.call(p=min(1.0, max(0.0, p + d)))[0] for d in (-1e-4, 1e-4)]
    ok = np.zeros(h.shape, dtype=bool)
    for a in alts:
        ok |= ctx.budget.scaled(2).allows(np.asarray(hs, dtype=np.float64), np.asarray(a, dtype=np.float64))
    assert np.all(ok), f"not invariant to a per-row logit shift: {h} vs {hs}"


def _tp_p_zero(ctx: PropertyContext) -> None:
    (h,) = ctx.call(p=0.0)
    assert np.all(h == 0), f"p = 0 must give an empty support and H = 0: {h}"


def _tp_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    v = z.shape[-1]
    p = float(ctx.params.get("p", 0.8))
    k = ctx.params.get("k")
    if v & (v - 1):
        ctx.skip("V is not a power of two (1/V and its cumulative sums are exact only then)")
    kk = v if k is None else min(int(k), v)
    if any(abs(p - j / v) < 1e-3 for j in range(v + 1)):
        ctx.skip("p on a cumulative-sum boundary j/V: the cut depends on rounding")
    cut = sum(1 for j in range(1, kk + 1) if j / v < p)
    (h,) = ctx.call(logits=np.zeros(z.shape))
    qv = (1.0 / v) / (cut / v + SIREN_EPS)  # the code's eps in the normaliser and in the log
    expected = -cut * qv * math.log(qv + SIREN_EPS) if cut > 0 else 0.0
    assert ctx.close(h, np.full(h.shape, expected), 2), f"uniform logits: H = log(cut={cut}) expected, got {h}"


register(MethodSpec(
    id="top_p_renormalized_entropy",
    family="categorical",
    kind="estimator",
    summary="SIREN top-p entropy: entropy of softmax renormalised on the tokens before the cumsum reaches p.",
    papers=(SIREN_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="Linn3a/siren verl/verl/workers/actor/dp_actor.py efficient_top_p_sampling (commit "
                        "5cb224de, read via the code index): torch.topk(logits, k); cumsum of softmax over the "
                        "top-k; cutoff = torch.searchsorted(cumsum, p) (left side) -> keep arange < cutoff, so "
                        "the crossing token is excluded; q = π·mask/(Σ + 1e-12); H = -Σ q log(q + 1e-12); "
                        "actor config defaults entropy_topk=10000, entropy_topp=0.8. Paper text beyond the "
                        "abstract (top-p mask + peak-entropy mask + self-anchor) not read.",
        official_code="Linn3a/siren:verl/verl/workers/actor/dp_actor.py",
        differences=(
            Difference("crossing token", "nucleus (top-p) mask, conventionally keeps the token that reaches p",
                       "searchsorted-left cut: the token whose cumsum first reaches p is excluded (also a token "
                       "whose cumsum equals p exactly)", default="code", flag=None, name="paper_keeps_crossing_token"),
            Difference("k default", "no top-k stage",
                       "function default k=15000, actor config entropy_topk=10000; torch.topk raises for k > V",
                       default="paper", flag="k", name="code_k_15000", params={"k": 15000}),
            Difference("p default", "p = 0.8 (config entropy_topp)", "function default p=0.95",
                       default="code", flag="p", name="paper_p_0_8", params={"p": 0.8}),
            Difference("eps", "exact renormalisation", "1e-12 in the normaliser and inside the log",
                       default="code", flag=None, name="paper_exact_renormalisation"),
        ),
        notes="Implements the code's form. k=None means all V; k > V is clipped. The code's no_grad full "
              "entropy (logging output) is entropy_from_logits. Ties: lowest index first; H depends only on "
              "the sorted probability values, so the tie policy never changes the result.",
    ),
    inputs=(InputSpec("logits", "logits", ("...", "V"), "next-token logits (already divided by the rollout "
                      "temperature), vocabulary on the last axis", differentiable=True, allow_neg_inf=True),),
    params=(
        ParamSpec("p", 0.8, Interval(0.0, 1.0), "cumulative-probability threshold (entropy_topp)", sensitive=True,
                  positional=True),
        ParamSpec("k", None, IntRange(1, None, allow_none=True), "top-k pre-filter; None = all V; clipped to V"),
    ),
    outputs=(OutputSpec("entropy", "renormalised top-p entropy per row in nats", shape=("...",),
                       scale=log_size("logits")),),
    properties=(
        Property("bounds", "0 <= H_topp <= log |S| <= log V", _tp_bounds),
        Property("shift_invariance", "invariant to a per-row logit shift", _tp_shift),
        Property("p_zero", "p = 0 gives an empty support and H = 0", _tp_p_zero),
        Property("uniform", "uniform logits over V = 2^n give log(cut), cut = #{j : j/V < p}", _tp_uniform),
    ),
    branches=BRANCHES['top_p_renormalized_entropy'],
    tolerance=default_tolerance(),
    derivation=Derivation(_top_p_problem, wrt=("logits",),
                          kinks="where a cumulative sum crosses p (the support S changes); S is held constant"),
    stop_gradients=("the support S (a piecewise-constant selection) carries no gradient",),
    degenerate=("p = 0 or max π >= p gives S = ∅ and H = 0 with zero gradient",
                "a one-hot row gives 0", "k > V is clipped to V"),
))

