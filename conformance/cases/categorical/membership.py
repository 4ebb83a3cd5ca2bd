"""Case strategies and curated hard cases of the ``categorical`` membership scores.

* ``token_self_information``: the generic logits/ids (holes, ties, ignored ids), the log base drawn
  like the other categorical methods (mostly nats/bits).
* ``min_k_prob``: generic (short rows, where the official ``int(0.2·n)`` is 0, are the common case
  with T <= 6; empty masks occur).
* ``min_k_plus_plus``: logits of magnitude <= 4 (and exact ties, -inf holes). Larger gaps make the
  standardised score ``(log p_y − μ)/σ`` explode as σ → 0 (σ ~ e^{−gap/2}): beyond a gap of ~90 the
  float32 probabilities underflow (σ = 0 there, a finite ~1e40 score in float64), and above ~20 the
  score leaves float16's range. That is the score's own range, not an implementation difference;
  large-gap rows are covered in float64 by the curated cases and the tests.
* ``dc_pdd_score``: the cap ``a`` log-uniform in (1e-3, 3), so that it binds for some first occurrences
  and not for others (α = p·log(1/f) is at most log(Σ cnt + V) ~ 3 here).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.categorical._common import base_param, interior, regime
from conformance.strategies import Case, class_index, dims_for, generic_case, logits
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

NINF = -math.inf


@st.composite
def _tsi(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    case.params["base"] = base_param(draw)
    return case


@st.composite
def _mkpp(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    lead = tuple(int(d) for d in dims.get("...", ()))
    shape = (*lead, int(dims["T"]), int(dims["V"]))
    scale = regime(draw, [(2, 4.0), (1, 1.0)], "logit_scale")
    z = draw(logits(shape, dtype, scale=scale), label="logits")
    t = draw(class_index(shape[:-1], int(dims["V"])), label="target")
    params: dict[str, Any] = {p.name: p.default for p in spec.params if p.required}
    params["ratio"] = regime(draw, [(3, "interior"), (1, 0.2), (1, 1.0)], "ratio_kind")
    if params["ratio"] == "interior":
        params["ratio"] = interior(draw, 0.0, 1.0, "ratio")
    params["negate"] = bool(regime(draw, [(3, False), (1, True)], "negate"))
    return Case({"logits": z, "target": t}, params, dims)


@st.composite
def _dc(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    case.params["a"] = interior(draw, 1e-3, 3.0, "a", log=True)
    return case


CASES: dict[str, Callable[..., Any]] = {
    "token_self_information": _tsi,
    "min_k_plus_plus": _mkpp,
    "dc_pdd_score": _dc,
}

# mpmath (40 digits), rounded to float64, as every literal below
LN4 = 1.3862943611198906
SOFTPLUS_1 = 1.3132616875182228  # log(1 + e)
SQRT3 = 1.7320508075688772
LOG_HALF, LOG_FIFTH, LOG_09 = -0.6931471805599453, -1.6094379124341003, -0.10536051565782628
LN3 = 1.0986122886681098

CURATED: dict[str, tuple[Curated, ...]] = {
    "token_self_information": (
        Curated("uniform", "equal logits: −log(1/4) = ln 4 nats = 2 bits",
                {"logits": [[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0]], "target": [2, 0]}, {"base": 2.0},
                expected={"info": [2.0, 2.0]}),
        Curated("masked_and_ignored", "a -inf target logit gives +inf; an ignored id gives exactly 0",
                {"logits": [[0.0, NINF], [1.0, 1.0]], "target": [1, -100]}, {"base": None},
                expected={"info": [math.inf, 0.0]}),
        Curated("large_logits", "logits ~1e3: −log softmax(1000, 1001)[0] = log(1 + e) (mpmath)",
                {"logits": [[1000.0, 1001.0]], "target": [0]}, {"base": None}, expected={"info": [SOFTPLUS_1]}),
    ),
    "min_k_prob": (
        Curated("short_row", "n = 4 < 5: the official k = int(0.8) = 0 averages an empty slice (NaN); k = 1 "
                "gives the minimum", {"log_probs": [[-1.0, -2.0, -3.0, -4.0]]}, {"ratio": 0.2},
                expected={"score": [-4.0]}),
        Curated("two_lowest", "n = 10, k = 2: mean(−10, −9); negate gives the DC-PDD script's +9.5",
                {"log_probs": [[-1.0, -7.0, -3.0, -10.0, -5.0, -6.0, -2.0, -8.0, -9.0, -4.0]]},
                {"ratio": 0.2, "negate": True}, expected={"score": [9.5]}),
        Curated("float_floor", "n = 15: 0.2·15 = 3.0000000000000004 in float64, k = 3: mean(−15, −14, −13)/4",
                {"log_probs": [[-(i + 1) / 4.0 for i in range(15)]]}, {"ratio": 0.2},
                expected={"score": [-3.5]}),
        Curated("float_floor_below", "n = 100, ratio 0.29: 28.999999999999996 → k = 28 (Python int()): "
                "mean of −100 … −73 = −86.5",
                {"log_probs": [[-(i + 1.0) for i in range(100)]]}, {"ratio": 0.29}, expected={"score": [-86.5]}),
        Curated("mask", "masked tokens do not count; an all-masked row scores 0",
                {"log_probs": [[-1.0, -8.0, -2.0], [-1.0, -1.0, -1.0]],
                 "mask": [[True, False, True], [False, False, False]]}, {"ratio": 0.5},
                expected={"score": [-2.0, 0.0]}),
    ),
    "min_k_plus_plus": (
        Curated("two_classes", "p = (¼, ¾): z = −√3 for class 0, 1/√3 for class 1 (Bernoulli: z = ∓√(p̄/p)); "
                "k = max(1, ⌊0.6⌋) = 1 → −√3",
                {"logits": [[[0.0, LN3], [0.0, LN3], [0.0, LN3]]], "target": [[0, 1, 1]]}, {"ratio": 0.2},
                expected={"score": [-SQRT3]}),
        Curated("two_classes_mean", "ratio 1: (−√3 + 2/√3)/3 = −1/(3√3) (mpmath)",
                {"logits": [[[0.0, LN3], [0.0, LN3], [0.0, LN3]]], "target": [[0, 1, 1]]}, {"ratio": 1.0},
                expected={"score": [-0.1924500897298753]}),
        Curated("zero_variance_and_holes", "equal finite logits: σ = 0 gives 0 (the code: 0/0); a -inf target "
                "logit gives −inf; an ignored row scores 0",
                {"logits": [[[2.0, 2.0, NINF]], [[0.0, NINF, 1.0]], [[0.0, 0.0, 0.0]]],
                 "target": [[1], [1], [-100]]}, {"ratio": 0.2},
                expected={"score": [0.0, NINF, 0.0]}),
    ),
    "dc_pdd_score": (
        Curated("smoothed", "counts (10, 0, 3): f = (11, 1, 4)/16; FOS = positions 0, 1, 3; "
                "α = (min(½ ln 16, 1), 0.2 ln 4, 0.9 ln(16/11)); mean (mpmath)",
                {"log_probs": [[LOG_HALF, LOG_FIFTH, LOG_HALF, LOG_09]], "input_ids": [[1, 2, 1, 0]],
                 "counts": [10.0, 0.0, 3.0]}, {"a": 1.0}, expected={"score": [0.5381609922404159]}),
        Curated("raw_counts", "the script's index: log(1/cnt); unseen id 1 gives +inf, capped at a = 1: "
                "(1 − 0.2 ln 3 − 0.9 ln 10)/3 (mpmath)",
                {"log_probs": [[LOG_HALF, LOG_FIFTH, LOG_HALF, LOG_09]], "input_ids": [[1, 2, 1, 0]],
                 "counts": [10.0, 0.0, 3.0]}, {"a": 1.0, "frequency": "raw_counts"},
                expected={"score": [-0.430683013809421]}),
        Curated("capped_and_empty", "default a = 0.01 binds for every first occurrence (β = a, negated by the "
                "script); an all-ignored row scores 0 (the script: NaN)",
                {"log_probs": [[LOG_HALF, LOG_HALF, LOG_09], [LOG_HALF, LOG_HALF, LOG_HALF]],
                 "input_ids": [[0, 1, 0], [-100, -100, -100]], "counts": [1.0, 1.0, 6.0]}, {"negate": True},
                expected={"score": [-0.01, 0.0]}),
    ),
}
