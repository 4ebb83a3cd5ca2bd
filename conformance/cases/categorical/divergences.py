"""Case strategies of the ``categorical`` divergences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases.categorical._common import lead_shape, lift, lifted
from conformance.strategies import Case, dims_for, generic_case, logits, probs
from spec.model import MethodSpec

__all__ = ["CASES"]


@st.composite
def _kl_divergence(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    shape = (*lead_shape(dims), int(dims["V"]))
    p = draw(probs(shape, dtype), label="p")
    positive = small or draw(st.integers(0, 4), label="q_zeros") > 0
    q = draw(probs(shape, dtype, positive=positive), label="q")
    if small:  # probs(positive=True) can still return one-hot rows: keep gradient cases finite
        assume(not bool(np.any((p > 0) & (q == 0))))
        p, q = lift(p, dtype), lift(q, dtype)
    return Case({"p": p, "q": q}, {}, dims)


@st.composite
def _kl_from_logits(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    if small:
        b = case.inputs["logits_q"]
        case.inputs["logits_q"] = draw(logits(tuple(b.shape), dtype, allow_neg_inf=False), label="logits_q")
    return case



CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "kl_divergence": _kl_divergence,
    "kl_divergence_from_logits": _kl_from_logits,
    "js_divergence": lifted(("p", "q")),
}
