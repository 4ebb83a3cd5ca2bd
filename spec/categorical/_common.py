"""Helpers shared by the ``categorical`` spec groups: common parameters, papers, row helpers,
exact per-row logit shifts for invariance properties, and the SymPy log-softmax of a logit row.

SymPy is imported inside the derivation helpers only (importing a spec must not import it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from spec.model import InputSpec, Interval, IntRange, Paper, ParamSpec

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


def axis_rows(x: np.ndarray[Any, Any], axis: int = -1) -> np.ndarray[Any, Any]:
    """``x`` with ``axis`` moved last and the rest flattened: shape ``(rows, K)``."""
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def out_shape(x: np.ndarray[Any, Any], axis: int = -1) -> tuple[int, ...]:
    return tuple(np.moveaxis(x, axis, -1).shape[:-1])


def unit(params: Mapping[str, Any]) -> float:
    base = params.get("base")
    return 1.0 if base is None else math.log(float(base))


def fits(x: np.ndarray[Any, Any], dtype: str) -> bool:
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


def exact_sum(row: np.ndarray[Any, Any], c: float) -> bool:
    """``row + c`` is computed without rounding in float64 (checked in exact rational arithmetic)."""
    return all(Fraction(float(x)) + Fraction(c) == Fraction(float(x) + c) for x in row if math.isfinite(x))


def row_shift(z: np.ndarray[Any, Any], dtype: str) -> np.ndarray[Any, Any]:
    """A per-row constant (last axis) such that ``z + c`` stays exact in ``dtype``; 0 if none is found."""
    rows = z.reshape(-1, z.shape[-1]) if z.size else z.reshape(0, max(z.shape[-1], 1))
    shifts = np.zeros(rows.shape[0])
    for r in range(rows.shape[0]):
        for c in (1.0, -1.0, 0.5, -0.5, 2.0, 0.25, 3.0, -4.0, 16.0):
            if exact_sum(rows[r], c) and fits(rows[r] + c, dtype):
                shifts[r] = c
                break
    return shifts.reshape((*z.shape[:-1], 1)) if z.size else np.zeros((*z.shape[:-1], 1))



def logit_rows_expr(sym_row: Any, val_row: np.ndarray[Any, Any], temperature: float = 1.0) -> tuple[list[Any], Any]:
    """log-softmax expressions of one row of logit symbols (finite entries only).

    The row is written in differences ``(z_i − z_r)/T`` from the symbol ``z_r`` of the (numeric) row
    maximum: by shift invariance this is the same function of ``z`` (so the same gradient), and the
    lambdified values cannot overflow. Returns ``(log_p per entry or None for -inf entries, log Σ exp)``.
    """
    import sympy as sp

    finite = np.isfinite(val_row)
    ref = sym_row[int(np.argmax(np.where(finite, val_row, -np.inf)))]
    t = sp.Float(temperature)
    ys = [(s - ref) / t if f else None for s, f in zip(sym_row, finite, strict=True)]
    lse = sp.log(sum((sp.exp(y) for y in ys if y is not None), sp.Integer(0)))
    return [None if y is None else y - lse for y in ys], lse



# --------------------------------------------------------------------------- property bundle of symmetric divergences


def symmetric_divergence_properties(symbol: str, disjoint_value: Any, disjoint_text: str) -> tuple[Any, ...]:
    """The properties every symmetric divergence of two probability inputs ``p``, ``q`` shares: symmetry,
    zero on ``(p, p)`` and a known value on disjoint one-hot rows (``disjoint_value(params)``)."""
    from spec.model import Property, PropertyContext

    def symmetric(ctx: PropertyContext) -> None:
        (d,) = ctx.call()
        (r,) = ctx.call(p=ctx.inputs["q"], q=ctx.inputs["p"])
        assert ctx.close(r, d, 2), f"{symbol} not symmetric: {d} vs {r}"

    def self_zero(ctx: PropertyContext) -> None:
        (d,) = ctx.call(q=ctx.inputs["p"])
        assert np.all(np.abs(d) <= ctx.slack()), f"{symbol}(p, p) != 0: {d}"

    def disjoint(ctx: PropertyContext) -> None:
        shape = ctx.inputs["p"].shape
        if shape[-1] < 2:
            ctx.skip("V = 1: no disjoint supports")
        p, q = np.zeros(shape), np.zeros(shape)
        p[..., 0] = 1.0
        q[..., -1] = 1.0
        (d,) = ctx.call(p=p, q=q)
        want = float(disjoint_value(ctx.params))
        assert ctx.close(d, np.full(d.shape, want)), f"disjoint supports give {symbol} = {want}, got {d}"

    return (Property("symmetric", f"{symbol}(p, q) = {symbol}(q, p)", symmetric),
            Property("self_zero", f"{symbol}(p, p) = 0", self_zero),
            Property("disjoint_maximum", f"disjoint one-hot rows give {disjoint_text}", disjoint))
