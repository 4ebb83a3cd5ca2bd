"""Case strategies of the ``categorical`` losses (cross_entropy).

The target is class indices in ``[0, V)`` — with no, some or (in a fifth of index draws) every entry
equal to ``ignore_index`` — or probability vectors of the logits' shape (a third of the draws).
Class weights are present in most draws and label smoothing is mostly interior ``(0, 1)``, so the
regimes where ports went wrong (weighted means, smoothing with weights, all-ignored batches) are
the common case, not the edge. Reduction ``mean`` is drawn half of the time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases.categorical._common import interior, lead_shape, regime
from conformance.strategies import Case, class_index, dims_for, logits, probs, weights
from spec.model import MethodSpec

__all__ = ["CASES"]

IGNORE = -100


@st.composite
def _cross_entropy(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    v = int(dims["V"])
    lead = lead_shape(dims)
    z = draw(logits((*lead, v), dtype, allow_neg_inf=not small), label="logits")
    target: Any
    if regime(draw, [(2, "index"), (1, "soft")], "target_kind") == "soft":
        target = draw(probs((*lead, v), dtype), label="target")
    else:
        ignored = regime(draw, [(2, "some"), (1, "none"), (1, "all")], "ignored")
        if ignored == "all":
            target = np.full(lead, IGNORE, dtype=np.int64)
        else:
            target = draw(class_index(lead, v, IGNORE, allow_ignore=ignored == "some"), label="target")
    weight = None if regime(draw, [(2, "weighted"), (1, "none")], "weight_kind") == "none" else draw(
        weights((v,), dtype), label="weight")
    smoothing = regime(draw, [(3, "interior"), (2, "zero"), (1, "one")], "smoothing_kind")
    eps = interior(draw, 0.0, 1.0, "label_smoothing") if smoothing == "interior" else float(smoothing == "one")
    reduction = regime(draw, [(2, "mean"), (1, "none"), (1, "sum")], "reduction")
    return Case({"logits": z, "target": target, "weight": weight},
                {"label_smoothing": eps, "reduction": reduction}, dims)


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "cross_entropy": _cross_entropy,
}
