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


_STEPS = 2**16  # interior() keeps 1/_STEPS away from both ends


def _unit(draw: st.DrawFn, label: str) -> float:
    """A draw spread evenly over [0, 1). Hypothesis' integer/float/sampled_from draws favour small
    values, endpoints and "nasty" floats (denormals), which would make the edge regimes the common
    case (measured over 200 ``ci`` draws: 84% of ``integers(0, 2^16 − 1)`` fall in the lowest fifth);
    drawn bytes are close to uniform but still favour all-zero/all-one patterns, so two such draws are
    added modulo 1, and the regime weights hold as written. All-zero bytes (the shrink target) give 0:
    the first regime."""
    a, b = (int.from_bytes(draw(st.binary(min_size=4, max_size=4), label=label), "little") for _ in range(2))
    return ((a + b) % 2**32) / 2.0**32


def regime(draw: st.DrawFn, weights: Sequence[tuple[int, T]], label: str) -> T:
    """One of the values, drawn with the given integer weights (the first is the shrink target)."""
    u = _unit(draw, label) * sum(w for w, _ in weights)
    for weight, value in weights:
        if u < weight:
            return value
        u -= weight
    return weights[-1][1]


def interior(draw: st.DrawFn, low: float, high: float, label: str, *, log: bool = False) -> float:
    """A float strictly inside ``(low, high)``, uniform (log-uniform when ``log``), never a denormal."""
    u = min(max(_unit(draw, label), 1.0 / _STEPS), 1.0 - 1.0 / _STEPS)
    if log:
        return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return float(low + u * (high - low))


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
