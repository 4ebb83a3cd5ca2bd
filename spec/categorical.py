"""Specs of the ``categorical`` family: entropies and divergences of categorical distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from spec.model import (
    Derivation,
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

SHANNON_1948 = Paper("A Mathematical Theory of Communication", 1948)

AXIS = ParamSpec("axis", -1, IntRange(-64, 63), "axis holding the categories", drawn=False)
BASE = ParamSpec("base", None, Interval(0.0, None, low_closed=False, allow_none=True, exclude=(1.0,)),
                 "logarithm base; None means natural log (nats)")


def symbols_like(name: str, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An object array of real SymPy symbols ``name_i`` with the shape of ``values``."""
    flat = [sp.Symbol(f"{name}_{i}", real=True) for i in range(values.size)]
    return np.array(flat, dtype=object).reshape(values.shape)


def bind(symbols: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> dict[Any, float]:
    return {s: float(v) for s, v in zip(symbols.ravel(), np.asarray(values, dtype=np.float64).ravel(), strict=True)}


# --------------------------------------------------------------------------- entropy


def _entropy_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    p = np.asarray(inputs["probs"], dtype=np.float64)
    sym = symbols_like("p", p)
    rows = sym.reshape(-1, p.shape[-1])
    vals = p.reshape(-1, p.shape[-1])
    # 0·log 0 = 0: zero entries contribute nothing (their derivative, -inf, is a domain boundary).
    out = [sum((-s * sp.log(s) for s, v in zip(r, vr, strict=True) if v > 0), sp.Integer(0)) for r, vr in zip(rows, vals, strict=True)]
    base = params.get("base")
    if base is not None:
        out = [o / sp.log(sp.Float(base)) for o in out]
    return SymbolicProblem({"probs": sym}, np.array(out, dtype=object).reshape(p.shape[:-1]), bind(sym, p))


def _entropy_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    k = ctx.inputs["probs"].shape[-1]
    unit = 1.0 if ctx.params.get("base") is None else math.log(ctx.params["base"])
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
    unit = 1.0 if ctx.params.get("base") is None else math.log(ctx.params["base"])
    assert ctx.close(h, np.full(h.shape, math.log(k) / unit)), f"uniform entropy {h} != log K"


register(MethodSpec(
    id="entropy",
    family="categorical",
    kind="estimator",
    summary="Shannon entropy H(p) = -Σ p log p of probability vectors (0·log 0 = 0).",
    papers=(SHANNON_1948,),
    provenance=Provenance(
        confidence="standard",
        checked_against="textbook definition; scipy.stats.entropy (scipy 1.17.1) on normalised input",
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
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_entropy_problem, wrt=("probs",), kinks="p_k = 0 (derivative -inf); not drawn"),
    degenerate=("a one-hot row gives exactly 0",),
))
