"""Case strategies of the ``categorical`` entropies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases.categorical._common import lifted
from conformance.strategies import Case, generic_case, representable
from spec.model import MethodSpec

__all__ = ["CASES"]


@st.composite
def _entropy_from_logits(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    if small:
        case.params["temperature"] = draw(st.sampled_from([0.125, 0.5, 1.0, 1.5, 8.0]), label="temperature")
    return case


@st.composite
def _top_p(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    z = np.asarray(case.inputs["logits"], dtype=np.float64)
    if small and z.size:
        # Gradient cases: no tied logits. A tie at the cut makes the support jump between tied tokens
        # (a kink whose one-sided slopes are too small for the finite-difference kink detector).
        z = representable(z + np.arange(z.shape[-1]) / 8.0, dtype)
        rows = z.reshape(-1, z.shape[-1])
        assume(all(len(set(r[np.isfinite(r)].tolist())) == int(np.isfinite(r).sum()) for r in rows))
        case.inputs["logits"] = z
    return case


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "entropy": lifted(("probs",)),
    "entropy_from_logits": _entropy_from_logits,
    "renyi_entropy": lifted(("probs",)),
    "tsallis_entropy": lifted(("probs",)),
    "top_p_renormalized_entropy": _top_p,
}
