"""Case strategies and curated hard cases of the peers' samplers (``greedy_decode``, ...).

Logits come from the shared decoding draws (:mod:`conformance.cases.decoding._draws`: spread reals, exact ties,
near-ties resolved only by float32, large magnitudes, ``-inf`` holes). Curated ``expected`` outputs are derived by
hand in each ``why``, never by running our code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.decoding._draws import batch_and_vocab, logits_for, min_keep, pick, probs_sorted, row0
from conformance.strategies import Case, largest_below_one, representable
from spec.decoding.samplers import dyn_temperatures
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

NEG = -math.inf

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


# --------------------------------------------------------------------------- greedy_decode


@st.composite
def _greedy_decode_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    return Case({"logits": z}, {}, {"...": batch, "V": v})


CASES["greedy_decode"] = _greedy_decode_case
CURATED["greedy_decode"] = (
    Curated("ties and -inf", "row 0: the max 1 sits at 1 and 2 -> lowest index 1 (index 0 is -inf); row 1: 2 at 0 and "
            "2 -> 0; row 2: -4 > -5 and index 2 is -inf -> 1",
            {"logits": [[NEG, 1.0, 1.0], [2.0, NEG, 2.0], [-5.0, -4.0, NEG]]}, {}, {"tokens": [1, 0, 1]}),
    Curated("near tie", "2 + 2^-6 (one bfloat16 step at 2, exact in every dtype) beats 2: the last index wins",
            {"logits": [2.0, -1.0, 2.0 + 2.0**-6]}, {}, {"tokens": 2}),
    Curated("single token", "V = 1: the only index 0", {"logits": [[-3.0], [7.5]]}, {}, {"tokens": [0, 0]}),
)


# --------------------------------------------------------------------------- top_n_sigma_sampling


def _sigma_cuts(zr: Any) -> list[float]:
    """The n at which each finite logit of the row leaves the kept set: (max - z) / sigma."""
    f = zr[np.isfinite(zr)]
    sigma = float(np.sqrt(np.mean((f - f.mean()) ** 2))) if f.size else 0.0
    if sigma == 0:
        return []
    return sorted({float((f.max() - x) / sigma) for x in f if x < f.max()})


@st.composite
def _top_n_sigma_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    cuts = _sigma_cuts(row0(z))
    high = (max(cuts) if cuts else 1.0) * 1.25 + 0.5
    n = draw(pick(cuts, 0.0, high, [0.0, 1.0, 3.0]), label="n")
    zero = draw(st.sampled_from(["identity", "keep_max"]), label="zero")
    return Case({"logits": z}, {"n": float(n), "zero": zero}, {"...": batch, "V": v})


CASES["top_n_sigma_sampling"] = _top_n_sigma_case
CURATED["top_n_sigma_sampling"] = (
    Curated("-inf excluded", "finite [4, 2, 0, -2]: mean 1, sigma = sqrt((9 + 1 + 1 + 9) / 4) = sqrt 5 = 2.236; n = 1: "
            "threshold 1.764 keeps 4 and 2", {"logits": [[4.0, 2.0, 0.0, -2.0, NEG]]}, {"n": 1.0},
            {"logits": [[4.0, 2.0, NEG, NEG, NEG]]}),
    Curated("n between cuts", "[3, 1, 1, -1]: mean 1, sigma = sqrt((4 + 0 + 0 + 4) / 4) = sqrt 2 = 1.414; row 0 "
            "n = 1.4: threshold 3 - 1.980 = 1.020 keeps only 3; row 1 the same logits shifted by 10 (same kept set)",
            {"logits": [[3.0, 1.0, 1.0, -1.0], [13.0, 11.0, 11.0, 9.0]]}, {"n": 1.4},
            {"logits": [[3.0, NEG, NEG, NEG], [13.0, NEG, NEG, NEG]]}),
    Curated("n just past a cut", "same row, n = 1.5: threshold 3 - 2.121 = 0.879 keeps 3, 1, 1",
            {"logits": [[3.0, 1.0, 1.0, -1.0]]}, {"n": 1.5}, {"logits": [[3.0, 1.0, 1.0, NEG]]}),
    Curated("n = 0 llama.cpp", "n <= 0 disables the sampler in llama.cpp: identity", {"logits": [[0.0, 5.0, NEG]]},
            {"n": 0.0}, {"logits": [[0.0, 5.0, NEG]]}),
    Curated("n = 0 paper", "zero='keep_max': only the max ties (5 at 1 and 3)", {"logits": [[0.0, 5.0, NEG, 5.0]]},
            {"n": 0.0, "zero": "keep_max"}, {"logits": [[NEG, 5.0, NEG, 5.0]]}),
    Curated("equal logits", "sigma = 0: every finite logit is kept", {"logits": [[2.0, 2.0, NEG, 2.0]]}, {"n": 2.0},
            {"logits": [[2.0, 2.0, NEG, 2.0]]}),
)


# --------------------------------------------------------------------------- xtc_sampling


@st.composite
def _uniform_for(draw: st.DrawFn, prob: float) -> float:
    """Mostly below the probability (the exclusion applies), sometimes above, near it, 0 or just below 1."""
    kind = draw(st.sampled_from(["below", "below", "below", "above", "near", "zero", "top"]))
    if kind == "zero" or prob <= 0:
        return 0.0
    if kind == "top":
        return largest_below_one("float64")
    if kind == "near":
        return min(max(prob * (1.0 + draw(st.sampled_from([1e-4, -1e-4]))), 0.0), 0.999)
    if kind == "above" and prob < 0.999:
        return prob + draw(st.floats(0.05, 0.95)) * (0.999 - prob)
    return draw(st.floats(0.0, 0.98)) * prob


@st.composite
def _xtc_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small, min_v=2))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    probs = [float(x) for x in probs_sorted(row0(z)) if x <= 0.5]
    t = draw(pick(probs, 0.0, 0.6, [0.0, 0.1, 0.5, 0.55]), label="threshold")
    prob = draw(st.one_of(st.sampled_from([1.0, 0.5, 0.0]), st.floats(0.05, 1.0)), label="probability")
    m = draw(min_keep(v), label="min_tokens_to_keep")
    n = int(np.prod(batch)) if batch else 1
    us = [draw(_uniform_for(prob)) for _ in range(n)]
    u = np.minimum(representable(np.array(us, dtype=np.float64), dtype), largest_below_one(dtype)).reshape(batch)
    return Case({"logits": z, "uniforms": u}, {"probability": float(prob), "threshold": float(t),
                                                "min_tokens_to_keep": m}, {"...": batch, "V": v})


CASES["xtc_sampling"] = _xtc_case
CURATED["xtc_sampling"] = (
    Curated("equal logits at the threshold", "four 0 logits: p = 1/4 each, threshold 1/4 (p >= t): all four are top "
            "choices, the last in sort order (index 3, highest among ties) survives; u = 0 <= probability 1",
            {"logits": [[0.0, 0.0, 0.0, 0.0]], "uniforms": [0.0]}, {"probability": 1.0, "threshold": 0.25},
            {"logits": [[NEG, NEG, NEG, 0.0]]}),
    Curated("two top choices", "logits log(1/2), log(1/4), log(1/8), log(1/8): p = 1/2, 1/4, 1/8, 1/8; threshold 0.2 "
            "-> top choices {0, 1}: drop 0; u = 0.3 <= 0.5",
            {"logits": [[math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]], "uniforms": [0.3]},
            {"probability": 0.5, "threshold": 0.2},
            {"logits": [[NEG, math.log(0.25), math.log(0.125), math.log(0.125)]]}),
    Curated("coin says no", "same row, u = 0.6 > probability 0.5: identity",
            {"logits": [[math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]], "uniforms": [0.6]},
            {"probability": 0.5, "threshold": 0.2},
            {"logits": [[math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]]}),
    Curated("min_tokens_to_keep cancels", "p = 1/2, 1/4, 1/8, 1/8, threshold 0.1: all four are top choices"
            ", removal would leave 1 < min_tokens_to_keep 2: identity",
            {"logits": [[math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]], "uniforms": [0.0]},
            {"probability": 1.0, "threshold": 0.1, "min_tokens_to_keep": 2},
            {"logits": [[math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]]}),
    Curated("-inf not a candidate", "[0, -inf, 0]: p = 1/2, 0, 1/2; threshold 0.5: tokens 0 and 2 are top "
            "choices, drop 0 (the tie goes to the highest index 2)", {"logits": [[0.0, NEG, 0.0]], "uniforms": [0.25]},
            {"probability": 0.5, "threshold": 0.5}, {"logits": [[NEG, NEG, 0.0]]}),
)


# --------------------------------------------------------------------------- dynamic_temperature

_MAX = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38, "bfloat16": 3.3895313892515355e38,
        "float16": 65504.0}


@st.composite
def _dynamic_temperature_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    """Logits from the shared draws; t, delta, exponent over their ranges with the edge values (t = 0, delta = 0,
    delta >= t so T_min = 0, exponent = 0). Two ill-conditioned regions are moved away from, as the spec documents:
    with T_min = 0 the logits are scaled so that no finite gap exceeds 60 (beyond ~87 float32's entropy underflows
    to 0, greedy, where float64 still divides by T ~ 1e-36), and in low precision they are scaled so that z / T stays
    below a quarter of the dtype's largest value (overflow of the output dtype, which the float64 reference cannot
    show)."""
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    t = draw(st.one_of(st.sampled_from([0.8, 1.0, 0.5, 0.0, 1.5]), st.floats(0.05, 3.0)), label="temperature")
    delta = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(0.01, 2.5)), label="delta")
    params = {"temperature": float(t), "delta": float(delta),
              "exponent": float(draw(st.one_of(st.sampled_from([1.0, 0.0, 2.0, 0.5]), st.floats(0.1, 3.0)))),
              "candidates": draw(st.sampled_from(["finite", "vocab"]))}
    fin = z[np.isfinite(z)]
    if fin.size and delta >= t:
        gaps = [float(np.ptp(r[np.isfinite(r)])) for r in z.reshape(-1, v) if np.isfinite(r).any()]
        if max(gaps) > 60.0:
            z = representable(z * (60.0 / max(gaps)), dtype)
    if dtype != "float64" and z.size:
        ts = dyn_temperatures(z, params)
        ts = ts[np.isfinite(ts) & (ts > 0)]
        top = float(np.max(np.abs(z[np.isfinite(z)]))) if np.isfinite(z).any() else 0.0
        if ts.size and top / float(ts.min()) > _MAX[dtype] / 4:
            z = representable(z * (_MAX[dtype] / 4 * float(ts.min()) / top), dtype)
    return Case({"logits": z}, params, {"...": batch, "V": v})


CASES["dynamic_temperature"] = _dynamic_temperature_case
CURATED["dynamic_temperature"] = (
    Curated("uniform row", "four equal logits: H = log 4 = H_max, T = T_max = 0.5 + 0.5 = 1: unchanged values",
            {"logits": [[2.0, 2.0, 2.0, 2.0]]}, {"temperature": 0.5, "delta": 0.5}, {"logits": [[2.0, 2.0, 2.0, 2.0]]}),
    Curated("half entropy", "[0, 0, -inf, -inf] with candidates='vocab': H = log 2, H_max = log 4, ratio 1/2; t = 1, "
            "delta = 0.5, exponent 1: T = 0.5 + 1 * 1/2 = 1: z / 1; with exponent 2, T = 0.5 + 1/4 = 0.75",
            {"logits": [[0.0, 0.0, NEG, NEG], [3.0, 3.0, NEG, NEG]]},
            {"temperature": 1.0, "delta": 0.5, "exponent": 2.0, "candidates": "vocab"},
            {"logits": [[0.0, 0.0, NEG, NEG], [4.0, 4.0, NEG, NEG]]}),
    Curated("one candidate", "delta > 0 and one finite logit ('finite'): unchanged, not divided by t",
            {"logits": [[NEG, 3.0, NEG]]}, {"temperature": 0.5, "delta": 0.25}, {"logits": [[NEG, 3.0, NEG]]}),
    Curated("greedy at H = 0", "'vocab', one finite logit among 3: H = 0, T = T_min = max(0, 0.5 - 1) = 0: greedy "
            "keeps 3 unscaled", {"logits": [[NEG, 3.0, NEG]]},
            {"temperature": 0.5, "delta": 1.0, "candidates": "vocab"}, {"logits": [[NEG, 3.0, NEG]]}),
    Curated("t = 0, delta = 0", "plain greedy: the first maximum (index 1 of the tied 4s) kept, others -inf",
            {"logits": [[1.0, 4.0, 4.0, -2.0]]}, {"temperature": 0.0}, {"logits": [[NEG, 4.0, NEG, NEG]]}),
    Curated("delta = 0", "z / 0.5 = 2 z", {"logits": [[1.0, -3.0, NEG]]}, {"temperature": 0.5},
            {"logits": [[2.0, -6.0, NEG]]}),
)
