"""Specs of the ``categorical`` family: entropies and divergences of categorical distributions."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np
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
from spec.symbolic import bind, symbols_like

SHANNON_1948 = Paper("A Mathematical Theory of Communication", 1948)
RENYI_1961 = Paper("On Measures of Entropy and Information", 1961)
TSALLIS_1988 = Paper("Possible generalization of Boltzmann-Gibbs statistics", 1988)
DYNMOLE_2025 = Paper("DynMoLE: Boosting Mixture of LoRA Experts Fine-Tuning with a Hybrid Routing Mechanism", 2025,
                     "2504.00661")
KULLBACK_1951 = Paper("On Information and Sufficiency", 1951)
LIN_1991 = Paper("Divergence measures based on the Shannon entropy", 1991)
SIREN_2025 = Paper("Rethinking Entropy Regularization in Large Reasoning Models", 2025, "2509.25133")
ENTROPY_MECHANISM_2025 = Paper("The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models", 2025,
                               "2505.22617")
HYPERFITTING_2024 = Paper("The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text "
                          "Generation", 2024, "2412.04318")
INCEPTION_2016 = Paper("Rethinking the Inception Architecture for Computer Vision", 2016, "1512.00567")

AXIS = ParamSpec("axis", -1, IntRange(-64, 63), "axis holding the categories", drawn=False)
BASE = ParamSpec("base", None, Interval(0.0, None, low_closed=False, allow_none=True, exclude=(1.0,)),
                 "logarithm base; None means natural log (nats)")
TEMPERATURE = ParamSpec("temperature", 1.0, Interval(0.0, None, low_closed=False),
                        "the logits are divided by it before the softmax")

LOGITS_DIFF = InputSpec("logits", "logits", ("...", "V"), "unnormalised scores, categories on `axis`; -inf masks",
                        differentiable=True, allow_neg_inf=True)


def _rows(x: np.ndarray[Any, Any], axis: int = -1) -> np.ndarray[Any, Any]:
    """``x`` with ``axis`` moved last and the rest flattened: shape ``(rows, K)``."""
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def _out_shape(x: np.ndarray[Any, Any], axis: int = -1) -> tuple[int, ...]:
    return tuple(np.moveaxis(x, axis, -1).shape[:-1])


def _unit(params: Mapping[str, Any]) -> float:
    base = params.get("base")
    return 1.0 if base is None else math.log(float(base))


def _fits(x: np.ndarray[Any, Any], dtype: str) -> bool:
    """Every finite value of ``x`` is exactly representable in ``dtype`` (properties build exact inputs)."""
    a = np.asarray(x, dtype=np.float64)
    a = a[np.isfinite(a)]
    if dtype == "float64":
        return True
    if dtype in ("float32", "float16"):
        with np.errstate(over="ignore"):
            b = a.astype(dtype).astype(np.float64)
        return bool(np.all(b == a))
    f = a.astype(np.float32)
    return bool(np.all(f.astype(np.float64) == a) and np.all((f.view(np.uint32) & 0xFFFF) == 0))


def _exact_sum(row: np.ndarray[Any, Any], c: float) -> bool:
    """``row + c`` is computed without rounding in float64 (checked in exact rational arithmetic)."""
    return all(Fraction(float(x)) + Fraction(c) == Fraction(float(x) + c) for x in row if math.isfinite(x))


def _row_shift(z: np.ndarray[Any, Any], dtype: str) -> np.ndarray[Any, Any]:
    """A per-row constant (last axis) such that ``z + c`` stays exact in ``dtype``; 0 if none is found."""
    rows = z.reshape(-1, z.shape[-1]) if z.size else z.reshape(0, max(z.shape[-1], 1))
    shifts = np.zeros(rows.shape[0])
    for r in range(rows.shape[0]):
        for c in (1.0, -1.0, 0.5, -0.5, 2.0, 0.25, 3.0, -4.0, 16.0):
            if _exact_sum(rows[r], c) and _fits(rows[r] + c, dtype):
                shifts[r] = c
                break
    return shifts.reshape((*z.shape[:-1], 1)) if z.size else np.zeros((*z.shape[:-1], 1))


def _slack(ctx: PropertyContext, ref: float | np.ndarray[Any, Any] = 0.0, factor: float = 1.0) -> Any:
    return factor * (ctx.budget.atol + ctx.budget.rtol * np.abs(ref))


# --------------------------------------------------------------------------- entropy


def _entropy_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    p = np.asarray(inputs["probs"], dtype=np.float64)
    sym = symbols_like("p", p)
    ax = int(params.get("axis", -1))
    rows, vals = _rows(sym, ax), _rows(p, ax)
    # 0·log 0 = 0: zero entries contribute nothing (their derivative, -inf, is a domain boundary).
    out = [sum((-s * sp.log(s) for s, v in zip(r, vr, strict=True) if v > 0), sp.Integer(0))
           for r, vr in zip(rows, vals, strict=True)]
    base = params.get("base")
    if base is not None:
        out = [o / sp.log(sp.Float(base)) for o in out]
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(_out_shape(p, ax)), bind(sym, p))


def _entropy_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    k = ctx.inputs["probs"].shape[-1]
    unit = _unit(ctx.params)
    hi = math.log(k) / unit
    lo_b, hi_b = (0.0, hi) if unit > 0 else (hi, 0.0)
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
    if k & (k - 1):  # 1/k must be exact in every dtype to stay on the simplex: powers of two only
        return
    (h,) = ctx.call(probs=np.full(p.shape, 1.0 / k))
    unit = _unit(ctx.params)
    assert ctx.close(h, np.full(h.shape, math.log(k) / unit)), f"uniform entropy {h} != log K"


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
    outputs=(OutputSpec("entropy", "entropy per row, in nats (or units of `base`)", shape=("...",)),),
    properties=(
        Property("bounds", "0 <= H <= log K", _entropy_bounds),
        Property("permutation_invariance", "H is invariant to permuting the categories", _entropy_permutation),
        Property("uniform_maximum", "the uniform distribution has H = log K", _entropy_uniform),
        Property("one_hot_zero", "a one-hot row has H = 0", _entropy_one_hot),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_entropy_problem, wrt=("probs",), kinks="p_k = 0 (derivative -inf); not drawn"),
    degenerate=("a one-hot row gives exactly 0",),
))


# --------------------------------------------------------------------------- entropy_from_logits


def _logit_rows_expr(sym_row: Any, val_row: np.ndarray[Any, Any], temperature: float = 1.0) -> tuple[list[Any], Any]:
    """log-softmax expressions of one row of logit symbols (finite entries only).

    The row is written in differences ``(z_i − z_r)/T`` from the symbol ``z_r`` of the (numeric) row
    maximum: by shift invariance this is the same function of ``z`` (so the same gradient), and the
    lambdified values cannot overflow. Returns ``(log_p per entry or None for -inf entries, log Σ exp)``.
    """
    finite = np.isfinite(val_row)
    ref = sym_row[int(np.argmax(np.where(finite, val_row, -np.inf)))]
    t = sp.Float(temperature)
    ys = [(s - ref) / t if f else None for s, f in zip(sym_row, finite, strict=True)]
    lse = sp.log(sum((sp.exp(y) for y in ys if y is not None), sp.Integer(0)))
    return [None if y is None else y - lse for y in ys], lse


def _entropy_from_logits_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sym = symbols_like("z", z)
    out = []
    for r, vr in zip(_rows(sym, ax), _rows(z, ax), strict=True):
        logp, _ = _logit_rows_expr(r, vr, float(params.get("temperature", 1.0)))
        out.append(sum((-sp.exp(lp) * lp for lp in logp if lp is not None), sp.Integer(0)))
    return SymbolicProblem({"logits": sym}, np.array(out, dtype=object).reshape(_out_shape(z, ax)), bind(sym, z))


def _efl_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    v = ctx.inputs["logits"].shape[-1]
    hi = math.log(v)
    assert np.all(h >= -_slack(ctx)) and np.all(h <= hi + _slack(ctx, hi)), f"H outside [0, log V={hi}]: {h}"


def _efl_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        return
    zs = z + _row_shift(z, ctx.dtype)
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
        return
    (h1,) = ctx.call(temperature=t)
    (h2,) = ctx.call(temperature=2.0 * t)
    assert np.all(h2 >= h1 - _slack(ctx, h1, 2)), f"H(z/T) decreased when T doubled: {h1} -> {h2}"


def _efl_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    (h,) = ctx.call(logits=np.full(z.shape, 0.5))
    assert ctx.close(h, np.full(h.shape, math.log(z.shape[-1]))), f"constant logits: {h} != log V"


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
    ),
    inputs=(LOGITS_DIFF,),
    params=(AXIS, TEMPERATURE),
    outputs=(OutputSpec("entropy", "entropy per row in nats", shape=("...",)),),
    properties=(
        Property("bounds", "0 <= H <= log V", _efl_bounds),
        Property("shift_invariance", "adding a per-row constant to the logits leaves H unchanged", _efl_shift),
        Property("permutation_invariance", "permuting the vocabulary leaves H unchanged", _efl_permutation),
        Property("temperature_monotone", "H(softmax(z/T)) is non-decreasing in T", _efl_temperature),
        Property("uniform_maximum", "constant logits give H = log V", _efl_uniform),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_entropy_from_logits_problem, wrt=("logits",),
                          kinks="none for finite logits (-inf entries are constants)"),
    degenerate=("-inf entries have probability 0 and contribute 0; a row of only -inf raises DomainError",
                "T -> 0 tends to log(number of tied maxima); a unique maximum gives 0"),
    aliases=("mean_token_entropy", "conditional_token_entropy"),
))


# --------------------------------------------------------------------------- renyi_entropy


def _renyi_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    p = np.asarray(inputs["probs"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    alpha = float(params["alpha"])
    sym = symbols_like("p", p)
    out: list[Any] = []
    for r, vr in zip(_rows(sym, ax), _rows(p, ax), strict=True):
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
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(_out_shape(p, ax)), bind(sym, p))


def _renyi_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    hi = math.log(ctx.inputs["probs"].shape[-1])
    assert np.all(h >= -_slack(ctx)) and np.all(h <= hi + _slack(ctx, hi)), f"H_alpha outside [0, log K]: {h}"


def _renyi_monotone(ctx: PropertyContext) -> None:
    a = float(ctx.params["alpha"])
    if math.isinf(a):
        return
    (h1,) = ctx.call(alpha=a)
    (h2,) = ctx.call(alpha=2.0 * a + 0.5)
    assert np.all(h2 <= h1 + _slack(ctx, h1, 2)), f"H_alpha increased with alpha: {h1} -> {h2}"


def _renyi_order(ctx: PropertyContext) -> None:
    hs = [ctx.call(alpha=a)[0] for a in (math.inf, 2.0, 1.0, 0.0)]
    for lo, hi in itertools.pairwise(hs):
        assert np.all(lo <= hi + _slack(ctx, hi, 2)), f"H_inf <= H_2 <= H_1 <= H_0 violated: {hs}"


def _near(ctx: PropertyContext, a: Any, b: Any, delta: float) -> bool:
    """|a − b| within the budget plus the first-order change over a step ``delta`` (|dH/dα| <= log² K)."""
    k = ctx.inputs["probs"].shape[-1]
    allowed = _slack(ctx, b, 2) + delta * (1.0 + math.log(max(k, 2)) ** 2)
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
    outputs=(OutputSpec("entropy", "Rényi entropy per row in nats", shape=("...",)),),
    properties=(
        Property("bounds", "0 <= H_α <= log K", _renyi_bounds),
        Property("monotone_in_alpha", "H_α is non-increasing in α", _renyi_monotone),
        Property("order", "H_∞ <= H_2 <= H_1 <= H_0", _renyi_order),
        Property("continuity_at_1", "H_α -> Shannon entropy as α -> 1", _renyi_limit),
        Property("shannon_at_1", "α = 1 gives -Σ p log p", _renyi_shannon),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_renyi_problem, wrt=("probs",),
                          kinks="p_k = 0 (not differentiated; derivative infinite for α <= 1); α = ∞ at tied "
                                "maxima; α = 0 is piecewise constant"),
    degenerate=("α = 0 gives log |supp p| (zero gradient)", "α = ∞ gives -log max p",
                "a one-hot row gives 0 for every α"),
))


# --------------------------------------------------------------------------- tsallis_entropy


def _tsallis_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    p = np.asarray(inputs["probs"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    q = float(params["q"])
    sym = symbols_like("p", p)
    out: list[Any] = []
    for r, vr in zip(_rows(sym, ax), _rows(p, ax), strict=True):
        sup = [s for s, v in zip(r, vr, strict=True) if v > 0]
        if q == 1.0:
            out.append(sum((-s * sp.log(s) for s in sup), sp.Integer(0)))
        else:
            # Σ (p − p^q)/(q − 1) = (1 − Σ p^q)/(q − 1) on the simplex; this form (the reference's) has
            # the Shannon limit as q -> 1 for every p, also off the simplex where finite differences probe.
            qq = sp.Float(q)
            out.append(sum((s - sp.exp(qq * sp.log(s)) for s in sup), sp.Integer(0)) / (qq - 1))
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(_out_shape(p, ax)), bind(sym, p))


def _tsallis_bounds(ctx: PropertyContext) -> None:
    q = float(ctx.params["q"])
    k = ctx.inputs["probs"].shape[-1]
    hi = math.log(k) if q == 1.0 else (1.0 - k ** (1.0 - q)) / (q - 1.0)
    (s,) = ctx.call()
    assert np.all(s >= -_slack(ctx)) and np.all(s <= hi + _slack(ctx, hi, 2)), f"S_q outside [0, {hi}]: {s}"


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
    outputs=(OutputSpec("entropy", "Tsallis entropy per row", shape=("...",)),),
    properties=(
        Property("bounds", "0 <= S_q <= (1 − K^{1−q})/(q − 1) (uniform maximum)", _tsallis_bounds),
        Property("continuity_at_1", "S_q -> Shannon entropy as q -> 1", _tsallis_limit),
        Property("gini_at_2", "q = 2 gives 1 − Σ p²", _tsallis_gini),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_tsallis_problem, wrt=("probs",), kinks="p_k = 0 (not differentiated)"),
    degenerate=("q = 0 gives |supp p| − 1", "a one-hot row gives 0 for every q"),
))


# --------------------------------------------------------------------------- kl_divergence


def _kl_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    p = np.asarray(inputs["p"], dtype=np.float64)
    q = np.asarray(inputs["q"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sp_, sq_ = symbols_like("p", p), symbols_like("q", q)
    out: list[Any] = []
    for rp, rq, vp, vq in zip(_rows(sp_, ax), _rows(sq_, ax), _rows(p, ax), _rows(q, ax), strict=True):
        terms: list[Any] = []
        for a, b, va, vb in zip(rp, rq, vp, vq, strict=True):
            if va > 0:
                terms.append(sp.oo if vb == 0 else a * sp.log(a / b))
        out.append(sum(terms, sp.Integer(0)))
    return SymbolicProblem({"p": sp_, "q": sq_}, np.array(out, dtype=object).reshape(_out_shape(p, ax)),
                           {**bind(sp_, p), **bind(sq_, q)})


def _kl_nonneg(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    assert np.all(d >= -_slack(ctx)), f"KL < 0: {d}"


def _kl_self(ctx: PropertyContext) -> None:
    p = ctx.inputs["p"]
    (d,) = ctx.call(q=p)
    assert np.all(np.abs(d) <= _slack(ctx)), f"KL(p‖p) != 0: {d}"


def _kl_uniform(ctx: PropertyContext) -> None:
    p = ctx.inputs["p"]
    k = p.shape[-1]
    if k & (k - 1):
        return
    (d,) = ctx.call(q=np.full(p.shape, 1.0 / k))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    assert ctx.close(d, math.log(k) - h, 2), f"KL(p‖uniform) != log K − H(p): {d}"


register(MethodSpec(
    id="kl_divergence",
    family="categorical",
    kind="estimator",
    summary="KL(p‖q) = Σ p log(p/q) with 0·log(0/q) = 0 and +inf where p > 0 = q (scipy rel_entr).",
    papers=(KULLBACK_1951,),
    provenance=Provenance(
        confidence="standard",
        checked_against="scipy.special.rel_entr (scipy 1.17.1) summed, incl. the p>0=q -> inf and p=0 cases; "
                        "torch.nn.functional.kl_div (tests/test_categorical_parity.py)",
        notes="Inputs must lie on the simplex (no renormalisation, unlike scipy.stats.entropy(p, q)).",
    ),
    inputs=(InputSpec("p", "probs", ("...", "V"), "probability vectors", differentiable=True),
            InputSpec("q", "probs", ("...", "V"), "reference probability vectors", differentiable=True)),
    params=(AXIS,),
    outputs=(OutputSpec("kl", "KL divergence per row in nats (may be +inf)", shape=("...",)),),
    properties=(
        Property("nonnegative", "KL >= 0 (Gibbs)", _kl_nonneg),
        Property("self_zero", "KL(p‖p) = 0", _kl_self),
        Property("uniform_reference", "KL(p‖uniform) = log K − H(p)", _kl_uniform),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_kl_problem, wrt=("p", "q"), kinks="p_k = 0 or q_k = 0 (boundary of the simplex)"),
    degenerate=("p_k > 0 = q_k gives +inf (documented, never NaN)", "p_k = 0 contributes 0 whatever q_k"),
))


# --------------------------------------------------------------------------- kl_divergence_from_logits


def _kl_logits_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    a = np.asarray(inputs["logits_p"], dtype=np.float64)
    b = np.asarray(inputs["logits_q"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sa, sb = symbols_like("a", a), symbols_like("b", b)
    out: list[Any] = []
    for ra, rb, va, vb in zip(_rows(sa, ax), _rows(sb, ax), _rows(a, ax), _rows(b, ax), strict=True):
        la, _ = _logit_rows_expr(ra, va)
        lb, _ = _logit_rows_expr(rb, vb)
        terms: list[Any] = []
        for x, y in zip(la, lb, strict=True):
            if x is None:
                continue
            terms.append(sp.oo if y is None else sp.exp(x) * (x - y))
        out.append(sum(terms, sp.Integer(0)))
    return SymbolicProblem({"logits_p": sa, "logits_q": sb},
                           np.array(out, dtype=object).reshape(_out_shape(a, ax)), {**bind(sa, a), **bind(sb, b)})


def _kll_nonneg(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    assert np.all(d >= -_slack(ctx)), f"KL < 0: {d}"


def _kll_self(ctx: PropertyContext) -> None:
    a = ctx.inputs["logits_p"]
    (d,) = ctx.call(logits_q=a)
    assert np.all(np.abs(d) <= _slack(ctx)), f"KL(p‖p) != 0: {d}"


def _kll_shift(ctx: PropertyContext) -> None:
    a, b = ctx.inputs["logits_p"], ctx.inputs["logits_q"]
    if a.size == 0:
        return
    (d,) = ctx.call()
    (ds,) = ctx.call(logits_p=a + _row_shift(a, ctx.dtype), logits_q=b + _row_shift(b, ctx.dtype))
    assert ctx.close(ds, d, 2), f"not invariant to per-row logit shifts: {d} vs {ds}"


register(MethodSpec(
    id="kl_divergence_from_logits",
    family="categorical",
    kind="estimator",
    summary="KL(softmax(a)‖softmax(b)) = Σ softmax(a)(log_softmax(a) − log_softmax(b)) (nats).",
    papers=(KULLBACK_1951,),
    provenance=Provenance(
        confidence="standard",
        checked_against="torch.nn.functional.kl_div(log_softmax(b), log_softmax(a), log_target=True) summed "
                        "over the class axis (torch 2.13, tests/test_categorical_parity.py)",
        notes="The support of softmax(a) is {a_v > -inf} (independent of underflow): +inf when a_v is finite "
              "where b_v = -inf.",
    ),
    inputs=(InputSpec("logits_p", "logits", ("...", "V"), "logits of p", differentiable=True, allow_neg_inf=True),
            InputSpec("logits_q", "logits", ("...", "V"), "logits of q", differentiable=True, allow_neg_inf=True)),
    params=(AXIS,),
    outputs=(OutputSpec("kl", "KL divergence per row in nats (may be +inf)", shape=("...",)),),
    properties=(
        Property("nonnegative", "KL >= 0", _kll_nonneg),
        Property("self_zero", "KL(p‖p) = 0", _kll_self),
        Property("shift_invariance", "invariant to per-row shifts of either logit vector", _kll_shift),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_kl_logits_problem, wrt=("logits_p", "logits_q"),
                          kinks="none for finite logits; b_v = -inf with finite a_v gives +inf"),
    degenerate=("a_v finite where b_v = -inf gives +inf", "a_v = -inf contributes 0"),
))


# --------------------------------------------------------------------------- js_divergence


def _js_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    p = np.asarray(inputs["p"], dtype=np.float64)
    q = np.asarray(inputs["q"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sp_, sq_ = symbols_like("p", p), symbols_like("q", q)
    out: list[Any] = []
    half = sp.Rational(1, 2)
    for rp, rq, vp, vq in zip(_rows(sp_, ax), _rows(sq_, ax), _rows(p, ax), _rows(q, ax), strict=True):
        terms: list[Any] = []
        for a, b, va, vb in zip(rp, rq, vp, vq, strict=True):
            # x log 2 + x log x − x log(p + q), as separate terms: SymPy then differentiates x log x to
            # log x + 1 (no 1/x or (p + q)², which overflow/underflow for denormal probabilities)
            for x, vx in ((a, va), (b, vb)):
                if vx > 0:
                    terms += [half * x * sp.log(2), half * x * sp.log(x), -half * x * sp.log(a + b)]
        out.append(sum(terms, sp.Integer(0)))
    base = params.get("base")
    if base is not None:
        out = [o / sp.log(sp.Float(base)) for o in out]
    return SymbolicProblem({"p": sp_, "q": sq_}, np.array(out, dtype=object).reshape(_out_shape(p, ax)),
                           {**bind(sp_, p), **bind(sq_, q)})


def _js_bounds(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    hi = math.log(2.0) / _unit(ctx.params)
    lo_b, hi_b = (0.0, hi) if hi > 0 else (hi, 0.0)
    assert np.all(d >= lo_b - _slack(ctx, hi)) and np.all(d <= hi_b + _slack(ctx, hi)), \
        f"JS outside [{lo_b}, {hi_b}]: {d}"


def _js_symmetric(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    (dr,) = ctx.call(p=ctx.inputs["q"], q=ctx.inputs["p"])
    assert ctx.close(dr, d, 2), f"JS not symmetric: {d} vs {dr}"


def _js_self(ctx: PropertyContext) -> None:
    (d,) = ctx.call(q=ctx.inputs["p"])
    assert np.all(np.abs(d) <= _slack(ctx)), f"JS(p, p) != 0: {d}"


def _js_disjoint(ctx: PropertyContext) -> None:
    shape = ctx.inputs["p"].shape
    if shape[-1] < 2:
        return
    p = np.zeros(shape)
    q = np.zeros(shape)
    p[..., 0] = 1.0
    q[..., -1] = 1.0
    (d,) = ctx.call(p=p, q=q)
    hi = math.log(2.0) / _unit(ctx.params)
    assert ctx.close(d, np.full(d.shape, hi)), f"disjoint supports give JS = log 2, got {d}"


register(MethodSpec(
    id="js_divergence",
    family="categorical",
    kind="estimator",
    summary="Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2; 0 <= JS <= log 2.",
    papers=(LIN_1991,),
    provenance=Provenance(
        confidence="standard",
        checked_against="scipy.spatial.distance.jensenshannon(p, q, base=base)**2 (scipy 1.17.1; scipy returns "
                        "the distance, i.e. the square root), tests/test_categorical_parity.py",
        notes="Always finite. Output in nats unless `base` is given.",
    ),
    inputs=(InputSpec("p", "probs", ("...", "V"), "probability vectors", differentiable=True),
            InputSpec("q", "probs", ("...", "V"), "probability vectors", differentiable=True)),
    params=(AXIS, BASE),
    outputs=(OutputSpec("js", "JS divergence per row", shape=("...",)),),
    properties=(
        Property("bounds", "0 <= JS <= log 2", _js_bounds),
        Property("symmetric", "JS(p, q) = JS(q, p)", _js_symmetric),
        Property("self_zero", "JS(p, p) = 0", _js_self),
        Property("disjoint_maximum", "disjoint one-hot rows give log 2", _js_disjoint),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_js_problem, wrt=("p", "q"), kinks="p_k = 0 or q_k = 0 (boundary of the simplex)"),
    degenerate=("disjoint supports give exactly log 2",),
    aliases=("jensen_shannon_groups",),
))


# --------------------------------------------------------------------------- cross_entropy


def _ce_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    t = np.asarray(inputs["target"])
    w_in = inputs.get("weight")
    v = z.shape[-1]
    w = np.ones(v) if w_in is None else np.asarray(w_in, dtype=np.float64)
    eps = sp.Float(float(params.get("label_smoothing", 0.0)))
    ignore = int(params.get("ignore_index", -100))
    reduction = params.get("reduction", "mean")
    sym = symbols_like("z", z)
    index = np.issubdtype(t.dtype, np.integer)
    rows_s, rows_z = sym.reshape(-1, v), z.reshape(-1, v)
    rows_t = t.reshape(-1) if index else np.asarray(t, dtype=np.float64).reshape(-1, v)
    losses: list[Any] = []
    denom = 0.0
    for r in range(rows_z.shape[0]):
        logp, _ = _logit_rows_expr(rows_s[r], rows_z[r])
        nll = [sp.oo if lp is None else -lp for lp in logp]

        def wsum(coef: np.ndarray[Any, Any], nll: list[Any] = nll) -> Any:
            return sum((sp.Float(float(c)) * x for c, x in zip(coef, nll, strict=True) if c != 0), sp.Integer(0))

        if index:
            y = int(rows_t[r])
            if y == ignore:
                losses.append(sp.Integer(0))
                continue
            denom += float(w[y])
            main = sp.Integer(0) if w[y] == 0 or float(eps) == 1.0 else (1 - eps) * sp.Float(float(w[y])) * nll[y]
            smooth = wsum(w) if float(eps) > 0 else sp.Integer(0)
            losses.append(main + eps / v * smooth)
        else:
            coef = w * ((1.0 - float(eps)) * rows_t[r] + float(eps) / v)
            losses.append(wsum(coef))
            denom += 1.0
    if reduction == "none":
        out: Any = np.array(losses, dtype=object).reshape(z.shape[:-1])
    elif reduction == "sum":
        out = sum(losses, sp.Integer(0))
    else:
        out = sum(losses, sp.Integer(0)) / sp.Float(denom) if denom > 0 else sp.Integer(0)
    return SymbolicProblem({"logits": sym}, out, bind(sym, z))


def _ce_nonneg(ctx: PropertyContext) -> None:
    (loss,) = ctx.call()
    assert np.all(loss >= -_slack(ctx)), f"cross-entropy < 0: {loss}"


def _ce_constant_logits(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    t = np.asarray(ctx.inputs["target"])
    if ctx.inputs.get("weight") is not None or not np.issubdtype(t.dtype, np.integer):
        return
    ignore = int(ctx.params.get("ignore_index", -100))
    (loss,) = ctx.call(logits=np.full(z.shape, 0.25), reduction="none")
    expected = np.where(t != ignore, math.log(z.shape[-1]), 0.0)
    assert ctx.close(loss, expected, 2), f"constant logits must give log V per kept row: {loss}"


def _ce_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        return
    (loss,) = ctx.call()
    (ls,) = ctx.call(logits=z + _row_shift(z, ctx.dtype))
    assert ctx.close(ls, loss, 4), f"not invariant to a per-row logit shift: {loss} vs {ls}"


def _ce_ge_entropy(ctx: PropertyContext) -> None:
    t = np.asarray(ctx.inputs["target"])
    if np.issubdtype(t.dtype, np.integer) or ctx.inputs.get("weight") is not None:
        return
    (loss,) = ctx.call(label_smoothing=0.0, reduction="none")
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0), axis=-1)
    assert np.all(loss >= h - _slack(ctx, h, 4)), f"CE(t, softmax z) = H(t) + KL must be >= H(t): {loss} < {h}"


def _ce_reductions(ctx: PropertyContext) -> None:
    (per,) = ctx.call(reduction="none")
    (total,) = ctx.call(reduction="sum")
    scale = float(np.sum(np.abs(per[np.isfinite(per)]))) if per.size else 0.0
    if np.all(np.isfinite(per)):
        assert abs(float(total) - float(np.sum(per))) <= _slack(ctx, scale, 4) + 1e-6 * scale, \
            f"sum reduction {total} != Σ none {np.sum(per)}"


register(MethodSpec(
    id="cross_entropy",
    family="categorical",
    kind="loss",
    summary="Cross-entropy of softmax(logits) (classes last) vs class indices or probabilities; torch semantics.",
    papers=(HYPERFITTING_2024, INCEPTION_2016),
    provenance=Provenance(
        confidence="standard",
        checked_against="torch.nn.functional.cross_entropy (torch 2.13.0) with the class axis moved: reductions "
                        "none/mean/sum, weight, ignore_index, label_smoothing, probability targets "
                        "(tests/test_categorical_parity.py); torch's label-smoothing+weight+mean definition "
                        "(aten LossNLL.cpp cross_entropy_loss_label_smoothing: the smoothing term is divided "
                        "by the same Σ w_{y_n} as the NLL term) reproduced by a hand formula in the tests",
        differences=(
            Difference("all-ignored mean", "library contract: a mean over zero total weight is 0",
                       "torch returns NaN when every target is ignored (0/0; pytorch issue #116349)",
                       default="paper", flag=None),
            Difference("zero-coefficient -inf logits", "0·log 0 = 0",
                       "torch gives NaN for a -inf logit whose weight (or smoothed target probability) is 0",
                       default="paper", flag=None),
        ),
        notes="Deviations from torch (both documented, never NaN): mean with a zero denominator (all targets "
              "ignored, all target weights 0, empty batch) returns 0 instead of NaN; 0·∞ = 0 for masked logits "
              "with zero coefficient. Class axis is the LAST axis (torch: dim 1).",
    ),
    inputs=(
        InputSpec("logits", "logits", ("...", "V"), "class scores, classes on the last axis", differentiable=True,
                  allow_neg_inf=True),
        InputSpec("target", "class_index", ("...",), "class indices (int) or, with shape (..., V), probabilities",
                  dtype="int"),
        InputSpec("weight", "weights", ("V",), "non-negative per-class weights", optional=True, positional=False),
    ),
    params=(
        ParamSpec("ignore_index", -100, IntRange(-(2**63), 2**63 - 1), "class-index targets equal to it are ignored",
                  drawn=False),
        ParamSpec("label_smoothing", 0.0, Interval(0.0, 1.0), "ε: the target is mixed with the uniform ε/C"),
        ParamSpec("reduction", "mean", Choice(("none", "mean", "sum")), "how per-row losses are reduced"),
    ),
    outputs=(OutputSpec("loss", "per-row losses (reduction='none') or a scalar"),),
    properties=(
        Property("nonnegative", "CE >= 0", _ce_nonneg),
        Property("constant_logits", "constant logits give log V per kept row (no weights)", _ce_constant_logits),
        Property("shift_invariance", "invariant to a per-row logit shift", _ce_shift),
        Property("gibbs", "for probability targets CE(t, softmax z) = H(t) + KL(t‖softmax z) >= H(t)",
                 _ce_ge_entropy),
        Property("sum_of_none", "reduction='sum' equals the sum of reduction='none'", _ce_reductions),
    ),
    tolerance=default_tolerance(2.0),
    derivation=Derivation(_ce_problem, wrt=("logits",), kinks="none for finite logits"),
    degenerate=("mean over a zero total weight (all ignored / empty batch / zero weights) returns 0, not NaN",
                "a -inf target logit (with positive weight) gives +inf"),
))


# --------------------------------------------------------------------------- top_p_renormalized_entropy

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


def _top_p_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    p = float(params.get("p", 0.8))
    k = params.get("k")
    sym = symbols_like("z", z)
    v = z.shape[-1]
    out: list[Any] = []
    eps = sp.Float(SIREN_EPS)
    for rs, rz in zip(sym.reshape(-1, v), z.reshape(-1, v), strict=True):
        support = _top_p_support(rz, p, k)  # a data-dependent constant
        logp, _ = _logit_rows_expr(rs, rz)
        pis = {i: sp.exp(logp[i]) for i in support if logp[i] is not None}  # π = 0 entries add 0
        mass = sum(pis.values(), sp.Integer(0))
        qs = [pis[i] / (mass + eps) for i in support]
        out.append(sum((-q * sp.log(q + eps) for q in qs), sp.Integer(0)))
    return SymbolicProblem({"logits": sym}, np.array(out, dtype=object).reshape(z.shape[:-1]), bind(sym, z))


def _tp_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    hi = math.log(ctx.inputs["logits"].shape[-1])
    assert np.all(h >= -_slack(ctx)) and np.all(h <= hi + _slack(ctx, hi)), f"H_topp outside [0, log V]: {h}"


def _tp_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        return
    (h,) = ctx.call()
    (hs,) = ctx.call(logits=z + _row_shift(z, ctx.dtype))
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
        return  # 1/V exact (and its cumulative sums) only for powers of two
    kk = v if k is None else min(int(k), v)
    if any(abs(p - j / v) < 1e-3 for j in range(v + 1)):
        return  # p on a cumulative-sum boundary: the cut depends on rounding
    cut = sum(1 for j in range(1, kk + 1) if j / v < p)
    (h,) = ctx.call(logits=np.zeros(z.shape))
    expected = math.log(cut) if cut > 0 else 0.0
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
                       "whose cumsum equals p exactly)", default="code", flag=None),
            Difference("k default", "no top-k stage",
                       "function default k=15000, actor config entropy_topk=10000; torch.topk raises for k > V",
                       default="paper", flag="k"),
            Difference("p default", "p = 0.8 (config entropy_topp)", "function default p=0.95",
                       default="code", flag="p"),
            Difference("eps", "exact renormalisation", "1e-12 in the normaliser and inside the log",
                       default="code", flag=None),
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
    outputs=(OutputSpec("entropy", "renormalised top-p entropy per row in nats", shape=("...",)),),
    properties=(
        Property("bounds", "0 <= H_topp <= log |S| <= log V", _tp_bounds),
        Property("shift_invariance", "invariant to a per-row logit shift", _tp_shift),
        Property("p_zero", "p = 0 gives an empty support and H = 0", _tp_p_zero),
        Property("uniform", "uniform logits over V = 2^n give log(cut), cut = #{j : j/V < p}", _tp_uniform),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_top_p_problem, wrt=("logits",),
                          kinks="where a cumulative sum crosses p (the support S changes); S is held constant"),
    stop_gradients=("the support S (a piecewise-constant selection) carries no gradient",),
    degenerate=("p = 0 or max π >= p gives S = ∅ and H = 0 with zero gradient",
                "a one-hot row gives 0", "k > V is clipped to V"),
))
