"""Specs of the ``categorical`` divergences: KL (of probabilities and of logits) and Jensen–Shannon.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.categorical._common import (
    AXIS,
    BASE,
    KULLBACK_1951,
    LIN_1991,
    axis_rows,
    logit_rows_expr,
    out_shape,
    row_shift,
    symmetric_divergence_properties,
    unit,
)
from spec.model import (
    Branch,
    Derivation,
    InputSpec,
    MethodSpec,
    OutputSpec,
    Property,
    PropertyContext,
    Provenance,
    SymbolicProblem,
    default_tolerance,
)
from spec.registry import register
from spec.scales import log_size

__all__: list[str] = []


def _any(x: Any) -> bool:
    return bool(np.any(x))


def _out(outputs: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    return np.asarray(outputs[0], dtype=np.float64)


BRANCHES: dict[str, tuple[Branch, ...]] = {
    "kl_divergence": (
        Branch("q = 0 where p > 0 (inf)", "some row diverges to +inf", lambda i, p, o: _any(np.isposinf(_out(o)))),
        Branch("finite with p = 0 entries", "a finite row where p has zeros (0 log(0/q) = 0)",
               lambda i, p, o: _any(np.isfinite(_out(o)) & np.any(np.asarray(i["p"]) == 0, axis=-1))),
    ),
    "kl_divergence_from_logits": (
        Branch("logits_q = -inf where logits_p finite (inf)", "some row diverges to +inf",
               lambda i, p, o: _any(np.isposinf(_out(o)))),
        Branch("masked logits_p", "-inf entries in logits_p (contribute 0)",
               lambda i, p, o: _any(np.isneginf(np.asarray(i["logits_p"])))),
        Branch("finite, non-zero KL", "a finite row with KL > 0",
               lambda i, p, o: _any(np.isfinite(_out(o)) & (_out(o) > 0))),
    ),
    "js_divergence": (
        Branch("partly disjoint supports", "p > 0 = q somewhere",
               lambda i, p, o: _any((np.asarray(i["p"]) > 0) & (np.asarray(i["q"]) == 0))),
        Branch("log base", "`base` is given", lambda i, p, o: p.get("base") is not None),
    ),
}

# --------------------------------------------------------------------------- kl_divergence


def _kl_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    p = np.asarray(inputs["p"], dtype=np.float64)
    q = np.asarray(inputs["q"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sp_, sq_ = symbols_like("p", p), symbols_like("q", q)
    out: list[Any] = []
    for rp, rq, vp, vq in zip(axis_rows(sp_, ax), axis_rows(sq_, ax), axis_rows(p, ax), axis_rows(q, ax), strict=True):
        terms: list[Any] = []
        for a, b, va, vb in zip(rp, rq, vp, vq, strict=True):
            if va > 0:
                terms.append(sp.oo if vb == 0 else a * sp.log(a / b))
        out.append(sum(terms, sp.Integer(0)))
    return SymbolicProblem({"p": sp_, "q": sq_}, np.array(out, dtype=object).reshape(out_shape(p, ax)),
                           {**bind(sp_, p), **bind(sq_, q)})


def _kl_nonneg(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    assert np.all(d >= -ctx.slack()), f"KL < 0: {d}"


def _kl_self(ctx: PropertyContext) -> None:
    p = ctx.inputs["p"]
    (d,) = ctx.call(q=p)
    assert np.all(np.abs(d) <= ctx.slack()), f"KL(p‖p) != 0: {d}"


def _kl_uniform(ctx: PropertyContext) -> None:
    p = ctx.inputs["p"]
    k = p.shape[-1]
    if k & (k - 1):
        ctx.skip("K is not a power of two (a uniform q would not be exact)")
    (d,) = ctx.call(q=np.full(p.shape, 1.0 / k))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    assert ctx.close(d, math.log(k) - h, 2), f"KL(p‖uniform) != log K − H(p): {d}"


def _kl_off_support(ctx: PropertyContext) -> None:
    p = ctx.inputs["p"]
    if p.size == 0 or p.shape[-1] < 2:
        ctx.skip("needs a non-empty batch and V >= 2")
    # q: p's mode moved to the next category, so q = 0 < p there (dyadic moves keep q exact)
    q = np.array(p, dtype=np.float64)
    mode = np.argmax(q, axis=-1)[..., None]
    nxt = (mode + 1) % q.shape[-1]
    np.put_along_axis(q, nxt, np.take_along_axis(q, nxt, -1) + np.take_along_axis(q, mode, -1), -1)
    np.put_along_axis(q, mode, 0.0, -1)
    (d,) = ctx.call(q=q)
    assert np.all(np.isposinf(d)), f"KL(p‖q) must be +inf where q = 0 < p: {d}"


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
    outputs=(OutputSpec("kl", "KL divergence per row in nats (may be +inf)", shape=("...",),
                       scale=log_size("p")),),
    properties=(
        Property("nonnegative", "KL >= 0 (Gibbs)", _kl_nonneg),
        Property("self_zero", "KL(p‖p) = 0", _kl_self),
        Property("uniform_reference", "KL(p‖uniform) = log K − H(p)", _kl_uniform),
        Property("off_support_infinite", "q_k = 0 < p_k gives +inf", _kl_off_support),
    ),
    branches=BRANCHES['kl_divergence'],
    tolerance=default_tolerance(),
    derivation=Derivation(_kl_problem, wrt=("p", "q"), kinks="p_k = 0 or q_k = 0 (boundary of the simplex)"),
    degenerate=("p_k > 0 = q_k gives +inf (documented, never NaN)", "p_k = 0 contributes 0 whatever q_k"),
))


# --------------------------------------------------------------------------- kl_divergence_from_logits


def _kl_logits_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    a = np.asarray(inputs["logits_p"], dtype=np.float64)
    b = np.asarray(inputs["logits_q"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sa, sb = symbols_like("a", a), symbols_like("b", b)
    out: list[Any] = []
    for ra, rb, va, vb in zip(axis_rows(sa, ax), axis_rows(sb, ax), axis_rows(a, ax), axis_rows(b, ax), strict=True):
        la, _ = logit_rows_expr(ra, va)
        lb, _ = logit_rows_expr(rb, vb)
        terms: list[Any] = []
        for x, y in zip(la, lb, strict=True):
            if x is None:
                continue
            terms.append(sp.oo if y is None else sp.exp(x) * (x - y))
        out.append(sum(terms, sp.Integer(0)))
    return SymbolicProblem({"logits_p": sa, "logits_q": sb},
                           np.array(out, dtype=object).reshape(out_shape(a, ax)), {**bind(sa, a), **bind(sb, b)})


def _kll_nonneg(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    assert np.all(d >= -ctx.slack()), f"KL < 0: {d}"


def _kll_self(ctx: PropertyContext) -> None:
    a = ctx.inputs["logits_p"]
    (d,) = ctx.call(logits_q=a)
    assert np.all(np.abs(d) <= ctx.slack()), f"KL(p‖p) != 0: {d}"


def _kll_shift(ctx: PropertyContext) -> None:
    a, b = ctx.inputs["logits_p"], ctx.inputs["logits_q"]
    if a.size == 0:
        ctx.skip("empty batch")
    (d,) = ctx.call()
    (ds,) = ctx.call(logits_p=a + row_shift(a, ctx.dtype), logits_q=b + row_shift(b, ctx.dtype))
    assert ctx.close(ds, d, 2), f"not invariant to per-row logit shifts: {d} vs {ds}"


def _kll_masked_q(ctx: PropertyContext) -> None:
    a, b = ctx.inputs["logits_p"], ctx.inputs["logits_q"]
    if a.size == 0 or a.shape[-1] < 2:
        ctx.skip("needs a non-empty batch and V >= 2")
    # b masked (-inf) at a's mode (finite) and finite everywhere else: +inf in every row
    mode = np.argmax(np.where(np.isfinite(a), a, -np.inf), axis=-1)[..., None]
    bm = np.where(np.isfinite(b), b, 0.0)
    np.put_along_axis(bm, mode, -np.inf, -1)
    (d,) = ctx.call(logits_q=bm)
    assert np.all(np.isposinf(d)), f"KL must be +inf where logits_q = -inf and logits_p is finite: {d}"


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
    outputs=(OutputSpec("kl", "KL divergence per row in nats (may be +inf)", shape=("...",),
                       scale=log_size("logits_p")),),
    properties=(
        Property("nonnegative", "KL >= 0", _kll_nonneg),
        Property("self_zero", "KL(p‖p) = 0", _kll_self),
        Property("shift_invariance", "invariant to per-row shifts of either logit vector", _kll_shift),
        Property("masked_q_infinite", "logits_q = -inf where logits_p is finite gives +inf", _kll_masked_q),
    ),
    branches=BRANCHES['kl_divergence_from_logits'],
    tolerance=default_tolerance(),
    derivation=Derivation(_kl_logits_problem, wrt=("logits_p", "logits_q"),
                          kinks="none for finite logits; b_v = -inf with finite a_v gives +inf"),
    degenerate=("a_v finite where b_v = -inf gives +inf", "a_v = -inf contributes 0"),
))


# --------------------------------------------------------------------------- js_divergence


def _js_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    p = np.asarray(inputs["p"], dtype=np.float64)
    q = np.asarray(inputs["q"], dtype=np.float64)
    ax = int(params.get("axis", -1))
    sp_, sq_ = symbols_like("p", p), symbols_like("q", q)
    out: list[Any] = []
    half = sp.Rational(1, 2)
    for rp, rq, vp, vq in zip(axis_rows(sp_, ax), axis_rows(sq_, ax), axis_rows(p, ax), axis_rows(q, ax), strict=True):
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
    return SymbolicProblem({"p": sp_, "q": sq_}, np.array(out, dtype=object).reshape(out_shape(p, ax)),
                           {**bind(sp_, p), **bind(sq_, q)})


def _js_bounds(ctx: PropertyContext) -> None:
    (d,) = ctx.call()
    hi = math.log(2.0) / unit(ctx.params)
    lo_b, hi_b = (0.0, hi) if hi > 0 else (hi, 0.0)
    assert np.all(d >= lo_b - ctx.slack()) and np.all(d <= hi_b + ctx.slack()), \
        f"JS outside [{lo_b}, {hi_b}]: {d}"


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
    outputs=(OutputSpec("js", "JS divergence per row", shape=("...",), scale=log_size("p", base="base")),),
    properties=(
        Property("bounds", "0 <= JS <= log 2", _js_bounds),
        *symmetric_divergence_properties("JS", lambda params: math.log(2.0) / unit(params), "log 2 (in the base)"),
    ),
    branches=BRANCHES['js_divergence'],
    tolerance=default_tolerance(),
    derivation=Derivation(_js_problem, wrt=("p", "q"), kinks="p_k = 0 or q_k = 0 (boundary of the simplex)"),
    degenerate=("disjoint supports give exactly log 2",),
))


