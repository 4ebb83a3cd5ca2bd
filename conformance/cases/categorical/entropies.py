"""Case strategies of the ``categorical`` entropies.

Parameters are drawn mostly from the interior where the method is non-trivial, edges a minority:
Rényi ``alpha`` and Tsallis ``q`` cover the limits (0, 1, inf) and both sides of 1; the temperature
is log-uniform in [0.1, 10] with extreme values a minority; top-p ``p`` cuts mid-distribution in
~85% of draws and ``k`` is bounded by the drawn vocabulary size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases.categorical._common import base_param, interior, lifted_case, regime
from conformance.strategies import Case, generic_case, representable
from spec.model import MethodSpec

__all__ = ["CASES"]


def _entropy(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("probs",), lambda draw, small: {"base": base_param(draw)})


def _temperature(draw: st.DrawFn, small: bool) -> dict[str, Any]:
    if small:  # SymPy's lambdified derivative of exp((z_i − z_r)/T) is not evaluable for T ~ 1e-300
        return {"temperature": draw(st.sampled_from([0.125, 0.5, 1.0, 1.5, 8.0]), label="temperature")}
    kind = regime(draw, [(2, "one"), (6, "interior"), (1, "tiny"), (1, "huge")], "temperature_kind")
    if kind == "one":
        return {"temperature": 1.0}
    if kind == "tiny":
        return {"temperature": draw(st.sampled_from([1e-3, 1e-8, 1e-30]), label="temperature")}
    if kind == "huge":
        return {"temperature": draw(st.sampled_from([1e3, 1e8]), label="temperature")}
    return {"temperature": interior(draw, 0.1, 10.0, "temperature", log=True)}


def _entropy_from_logits(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, (), _temperature)


def _alpha(draw: st.DrawFn, small: bool) -> dict[str, Any]:
    kind = regime(draw, [(5, "below_one"), (5, "above_one"), (4, "one"), (3, "inf"), (3, "zero")], "alpha_kind")
    value = {"one": 1.0, "inf": math.inf, "zero": 0.0}.get(kind)
    if value is None:
        value = interior(draw, 0.05, 0.95, "alpha") if kind == "below_one" else interior(draw, 1.05, 8.0, "alpha")
    return {"alpha": value}


def _renyi(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("probs",), _alpha)


def _q(draw: st.DrawFn, small: bool) -> dict[str, Any]:
    kind = regime(draw, [(5, "below_one"), (5, "above_one"), (3, "one"), (2, "two"), (2, "zero")], "q_kind")
    value = {"one": 1.0, "two": 2.0, "zero": 0.0}.get(kind)
    if value is None:
        value = interior(draw, 0.05, 0.95, "q") if kind == "below_one" else interior(draw, 1.05, 6.0, "q")
    return {"q": value}


def _tsallis(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("probs",), _q)


@st.composite
def _top_p(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    z = np.asarray(case.inputs["logits"], dtype=np.float64)
    v = int(z.shape[-1])
    kind = regime(draw, [(17, "interior"), (2, "one"), (1, "zero")], "p_kind")
    case.params["p"] = interior(draw, 0.05, 0.95, "p") if kind == "interior" else (1.0 if kind == "one" else 0.0)
    case.params["k"] = None if draw(st.integers(0, 4), label="k_none") < 2 else draw(st.integers(1, v), label="k")
    if small and z.size:
        # Gradient cases: no tied logits. A tie at the cut makes the support jump between tied tokens
        # (a kink whose one-sided slopes are too small for the finite-difference kink detector).
        z = representable(z + np.arange(v) / 8.0, dtype)
        rows = z.reshape(-1, v)
        assume(all(len(set(r[np.isfinite(r)].tolist())) == int(np.isfinite(r).sum()) for r in rows))
        case.inputs["logits"] = z
    return case


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "entropy": _entropy,
    "entropy_from_logits": _entropy_from_logits,
    "renyi_entropy": _renyi,
    "tsallis_entropy": _tsallis,
    "top_p_renormalized_entropy": _top_p,
}
