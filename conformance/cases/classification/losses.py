"""Case strategies and curated hard cases of the ``classification`` family, group ``losses``
(linear_cross_entropy)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.strategies import Case, generic_case
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


# --------------------------------------------------------------------------- linear_cross_entropy


@st.composite
def _linear_cross_entropy_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    """The generic draw, plus a shift in [0, N) half of the time (shift is not drawn generically: it is
    bounded by N)."""
    case = draw(generic_case(spec, dtype, small))
    n = int(np.shape(case.inputs["targets"])[0])
    if n > 1 and draw(st.booleans()):
        case.params["shift"] = draw(st.integers(1, n - 1), label="shift")
    return case


CASES["linear_cross_entropy"] = _linear_cross_entropy_case

_E = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
_C = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
# logits rows: [1, 0, 0], [0, 2, 0], [1, 1, 0]
_L0 = math.log(math.e + 2.0) - 1.0  # row 0 against class 0
_L1 = math.log(2.0 + math.exp(2.0)) - 2.0  # row 1 against class 1

CURATED["linear_cross_entropy"] = (
    Curated("hand logits, mean", "logits e cᵀ by hand; mean over the two kept rows (row 2 ignored)",
            {"embeddings": _E, "classifier": _C, "targets": np.array([0, 1, -100]), "bias": None}, {},
            {"loss": np.asarray((_L0 + _L1) / 2.0)}),
    Curated("shift 1, none", "row i is scored against target i + 1: rows 0, 1 against targets 1, 2 = class 1, 2",
            {"embeddings": _E, "classifier": _C, "targets": np.array([-100, 1, 2]), "bias": None},
            {"shift": 1, "reduction": "none"},
            {"loss": np.array([math.log(math.e + 2.0) - 0.0, math.log(2.0 + math.exp(2.0)) - 0.0])}),
    Curated("all ignored mean", "no kept row: the mean is 0, not NaN",
            {"embeddings": _E, "classifier": _C, "targets": np.array([-100, -100, -100]), "bias": None}, {},
            {"loss": np.asarray(0.0)}),
    Curated("softcap and bias, sum", "z = s·tanh((e cᵀ + b)/s) with s = 1 and b = (0, 0, 1): row 2 logits "
            "tanh(1), tanh(1), tanh(1) are equal, so its loss is log 3",
            {"embeddings": _E[2:], "classifier": _C, "targets": np.array([2]), "bias": np.array([0.0, 0.0, 1.0])},
            {"softcap": 1.0, "reduction": "sum"}, {"loss": np.asarray(math.log(3.0))}),
)
