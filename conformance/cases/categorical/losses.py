"""Case strategies of the ``categorical`` losses (cross_entropy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases.categorical._common import lead_shape
from conformance.strategies import Case, class_index, dims_for, logits, probs, weights
from spec.model import MethodSpec

__all__ = ["CASES"]


@st.composite
def _cross_entropy(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    v = int(dims["V"])
    lead = lead_shape(dims)
    if not lead:  # a 0-d class-index target does not survive the backends' np.ascontiguousarray (-> 1-d)
        lead = (1,)
        dims["..."] = lead
    z = draw(logits((*lead, v), dtype, allow_neg_inf=not small), label="logits")
    soft = draw(st.booleans(), label="probability_target")
    if soft:
        target: Any = draw(probs((*lead, v), dtype), label="target")
    else:
        if draw(st.integers(0, 7), label="all_ignored") == 0:
            target = np.full(lead, -100, dtype=np.int64)
        else:
            target = draw(class_index(lead, v), label="target")
    weight = draw(st.one_of(st.none(), weights((v,), dtype)), label="weight")
    params = {
        "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]), label="label_smoothing"),
        "reduction": draw(st.sampled_from(["none", "mean", "sum"]), label="reduction"),
    }
    return Case({"logits": z, "target": target, "weight": weight}, params, dims)



CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "cross_entropy": _cross_entropy,
}
