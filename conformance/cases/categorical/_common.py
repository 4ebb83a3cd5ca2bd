"""Helpers shared by the ``categorical`` case modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.strategies import Case, generic_case, representable
from spec.model import MethodSpec

__all__ = ["lead_shape", "lift", "lifted"]


def lift(p: np.ndarray, dtype: str) -> np.ndarray:
    """``0.9 p + 0.1/|supp p|`` on the support of each row (zeros stay zero), rounded to ``dtype``."""
    if p.size == 0:
        return p
    support = p > 0
    lifted = 0.9 * p + 0.1 * support / np.maximum(support.sum(-1, keepdims=True), 1)
    return representable(lifted, dtype)


def lifted(names: tuple[str, ...]) -> Callable[..., st.SearchStrategy[Case]]:
    @st.composite
    def build(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
        case = draw(generic_case(spec, dtype, small))
        if small:
            for name in names:
                case.inputs[name] = lift(np.asarray(case.inputs[name], dtype=np.float64), dtype)
        return case

    return build


def lead_shape(dims: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(d) for d in dims.get("...", ()))


