"""Helpers shared by the ``categorical`` case modules: weighted regime choice, parameter draws that
stay mostly in the interior, and the lifting of probabilities for gradient cases.

Lifting (``0.9 p + 0.1/|supp p|`` on the support) is kept for gradient cases only: central
differences with step 1e-6 are inaccurate next to the ``log p`` singularity (p ~ 1e-5), and
denormal probabilities overflow the lambdified SymPy derivatives. Values/properties cases keep
exact zeros and tiny probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st

from conformance.strategies import Case, generic_case, representable
from spec.model import MethodSpec

__all__ = ["base_param", "interior", "lead_shape", "lift", "lifted_case", "regime"]

T = TypeVar("T")


def regime(draw: st.DrawFn, weights: Sequence[tuple[int, T]], label: str) -> T:
    """One of the values, drawn with the given integer weights (the first is the shrink target)."""
    pool = [value for weight, value in weights for _ in range(weight)]
    return draw(st.sampled_from(pool), label=label)


def interior(draw: st.DrawFn, low: float, high: float, label: str, *, log: bool = False) -> float:
    """A float strictly inside ``(low, high)`` (log-uniform when ``log``)."""
    if log:
        return float(math.exp(draw(st.floats(math.log(low), math.log(high), exclude_min=True, exclude_max=True),
                                   label=label)))
    return float(draw(st.floats(low, high, exclude_min=True, exclude_max=True), label=label))


def base_param(draw: st.DrawFn) -> float | None:
    """A log base: nats (None), bits, 10, or an interior base in (0.1, 20) away from 1."""
    kind = regime(draw, [(3, "none"), (2, "two"), (1, "ten"), (4, "interior")], "base_kind")
    if kind == "none":
        return None
    if kind == "two":
        return 2.0
    if kind == "ten":
        return 10.0
    b = interior(draw, 0.1, 20.0, "base", log=True)
    return b if abs(math.log(b)) > 0.05 else 2.0


def lift(p: np.ndarray, dtype: str) -> np.ndarray:
    """``0.9 p + 0.1/|supp p|`` on the support of each row (zeros stay zero), rounded to ``dtype``."""
    if p.size == 0:
        return p
    support = p > 0
    lifted = 0.9 * p + 0.1 * support / np.maximum(support.sum(-1, keepdims=True), 1)
    return representable(lifted, dtype)


@st.composite
def lifted_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool, names: tuple[str, ...],
                params: Callable[[st.DrawFn, bool], dict[str, Any]] | None = None) -> Case:
    """The generic case, its probability inputs lifted for gradient cases, ``params`` drawn by ``params``."""
    case = draw(generic_case(spec, dtype, small))
    if small:
        for name in names:
            case.inputs[name] = lift(np.asarray(case.inputs[name], dtype=np.float64), dtype)
    if params is not None:
        case.params.update(params(draw, small))
    return case


def lead_shape(dims: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(d) for d in dims.get("...", ()))
