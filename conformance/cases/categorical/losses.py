"""Case strategies of the ``categorical`` losses (cross_entropy).

The target is class indices in ``[0, V)`` — with no, some or (in a fifth of index draws) every entry
equal to ``ignore_index`` — or probability vectors of the logits' shape (a third of the draws).
Class weights are present in most draws and label smoothing is mostly interior ``(0, 1)``, so the
regimes where ports went wrong (weighted means, smoothing with weights, all-ignored batches) are
the common case, not the edge. Reduction ``mean`` is drawn half of the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.categorical._common import interior, regime
from conformance.strategies import Case, class_index, dims_for, logits, probs, weights
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]

IGNORE = -100


@st.composite
def _cross_entropy(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    v = int(dims["V"])
    # mostly several rows (a mix of ignored and kept targets needs two), sometimes one row or a 0-d batch
    shape_kind = regime(draw, [(6, "rows"), (2, "grid"), (1, "scalar")], "batch_kind")
    top = 3 if small else 6
    lead: tuple[int, ...] = {"rows": (draw(st.integers(2, top), label="n"),),
                             "grid": (draw(st.integers(1, 3), label="b"), draw(st.integers(2, 3), label="t")),
                             "scalar": ()}[shape_kind]
    dims["..."] = lead
    z = draw(logits((*lead, v), dtype, allow_neg_inf=not small), label="logits")
    target: Any
    if regime(draw, [(2, "index"), (1, "soft")], "target_kind") == "soft":
        target = draw(probs((*lead, v), dtype), label="target")
    else:
        ignored = regime(draw, [(3, "some"), (1, "none"), (1, "all")], "ignored")
        target = draw(class_index(lead, v, IGNORE, allow_ignore=False), label="target")
        if ignored == "all":
            target = np.full(lead, IGNORE, dtype=np.int64)
        elif ignored == "some" and target.size >= 2:
            flat = target.reshape(-1).copy()
            drop = draw(st.lists(st.booleans(), min_size=flat.size, max_size=flat.size), label="drop")
            drop[draw(st.integers(0, flat.size - 1), label="kept")] = False  # at least one kept ...
            drop[(drop.index(False) + 1) % flat.size] = True  # ... and at least one ignored
            flat[np.array(drop)] = IGNORE
            target = flat.reshape(lead)
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


LN2 = 0.6931471805599453  # mpmath, 40 digits, rounded to float64 (as every literal below)
LN3 = 1.0986122886681098
NINF = -math.inf

CURATED: dict[str, tuple[Curated, ...]] = {
    "cross_entropy": (
        Curated("all_ignored_mean", "every target ignored: the mean over zero total weight is 0 (torch: NaN)",
                {"logits": [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], "target": np.array([IGNORE, IGNORE]), "weight": None},
                {"label_smoothing": 0.0, "reduction": "mean"}, expected={"loss": 0.0}),
        Curated("weighted_mean", "uniform logits (ℓ = ln 3), targets (0, 2, ignored), w = (1, 2, 3): "
                "(1 + 3) ln 3 / (1 + 3) = ln 3 — dividing by the count of kept rows would give 2 ln 3",
                {"logits": [[0.0] * 3] * 3, "target": np.array([0, 2, IGNORE]), "weight": [1.0, 2.0, 3.0]},
                {"label_smoothing": 0.0, "reduction": "mean"}, expected={"loss": LN3}),
        Curated("smoothing_with_weights", "ε = 0.3, w = (1, 2, 3), y = 0: 0.7·w_0·ℓ_0 + 0.1·Σ w_c ℓ_c "
                "(torch's definition, mpmath)", {"logits": [[0.0, 1.0, 2.0]], "target": np.array([0]),
                                                 "weight": [1.0, 2.0, 3.0]},
                {"label_smoothing": 0.3, "reduction": "none"}, expected={"loss": [2.3298877537776943]}),
        Curated("soft_targets_smoothed", "probability target (¼, ¾), ε = 0.5: t' = (0.375, 0.625), Σ t' ℓ (mpmath)",
                {"logits": [[0.0, 1.0]], "target": [[0.25, 0.75]], "weight": None},
                {"label_smoothing": 0.5, "reduction": "none"}, expected={"loss": [0.6882616875182228]}),
        Curated("ignored_row_unsmoothed", "ε = 0.2: the ignored row adds nothing (no smoothing term); "
                "sum = 0.8 ℓ_2 + (0.2/3) Σ ℓ of row 0 (mpmath)",
                {"logits": [[0.0, 1.0, 2.0], [5.0, 0.0, 0.0]], "target": np.array([2, IGNORE]), "weight": None},
                {"label_smoothing": 0.2, "reduction": "sum"}, expected={"loss": 0.6076059644443803}),
        Curated("masked_zero_weight", "a -inf logit with weight 0 contributes 0·∞ = 0 (torch: NaN): "
                "0.7 ln 2 + 0.1 (ln 2 + ln 2) = 0.9 ln 2", {"logits": [[0.0, NINF, 0.0]], "target": np.array([0]),
                                                           "weight": [1.0, 0.0, 1.0]},
                {"label_smoothing": 0.3, "reduction": "none"}, expected={"loss": [0.6238324625039507]}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


def torch_cross_entropy() -> Callable[..., Any]:
    from torch.nn.functional import cross_entropy

    return cross_entropy


PEERS = {
    "cross_entropy": (
        Peer("torch.nn.functional.cross_entropy", "torch", torch_cross_entropy, backend="torch-cpu",
             dtypes=("float64", "float32", "bfloat16"), class_axis=1, expect="conventions",
             accept=("cross_entropy:all_ignored_nan", "cross_entropy:neginf_zero_coefficient_nan"),
             reading="a mean over zero total weight and 0·(−inf) are NaN in torch; we return 0 (a defined "
                     "limit, never NaN) — torch's NaN poisons a training step on an all-padding batch"),
    ),
}
