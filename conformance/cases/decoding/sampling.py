"""Case strategies and curated cases of ``temperature_scale`` and ``sample``.

``temperature_scale``: in float64 ``T`` is drawn over the whole domain (dyadic values, values near 1,
arbitrary positive floats down to tiny ones: ``z / T`` overflowing to ``±inf`` is IEEE behaviour on
both sides). In lower precision the drawn ``T`` keeps ``|z| / T`` below half the dtype's largest
value: the spec's degenerate list documents overflow of the *output dtype*, which the float64
reference cannot show. Gradient cases (``small``) have no ``-inf`` and ``T`` in ``[1/16, 16]`` (a
``-inf`` or overflowed output makes every finite difference NaN).

``sample``: uniforms per row are drawn relative to the row's cumulative distribution: strictly
inside a step (mostly), within 1e-4 of a step boundary, exactly 0, or the largest value below 1.
No special case for 0-d batches, and no guard around the steps: ``u`` within round-off of an interior
step ``C_j`` (float32 cumulative sums are exact to about 2^-23 near 1) is drawn too. The spec states the
rule for it: ``uniforms`` is ``sensitive`` and the token output ``monotone``, so the harness accepts any
token between the reference's at ``u`` nudged down and up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.decoding._draws import batch_and_vocab, logits_for
from conformance.strategies import Case, largest_below_one, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]

NEG = -math.inf
_MAX = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38, "bfloat16": 3.3895313892515355e38,
        "float16": 65504.0}


@st.composite
def _temperature_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype, allow_neg_inf=not small), label="logits")
    if small:
        t = draw(st.one_of(st.sampled_from([0.5, 2.0, 0.25]), st.floats(1 / 16, 16.0)), label="temperature")
    else:
        t = draw(st.one_of(st.sampled_from([0.5, 2.0, 0.25, 4.0, 1.0]), st.floats(0.05, 0.95), st.floats(1.05, 20.0),
                           st.floats(1e-300, 1e3, allow_subnormal=False)), label="temperature")
        if dtype != "float64":
            fin = np.abs(z[np.isfinite(z)])
            top = float(fin.max()) if fin.size else 0.0
            t = max(t, 2.0 * top / _MAX[dtype], 1e-30)
    return Case({"logits": z}, {"temperature": float(t)}, {"...": batch, "V": v})


@st.composite
def _sample_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    rows = z.reshape(-1, v)
    top = largest_below_one(dtype)
    us = []
    for r in rows:
        e = np.exp(r - np.max(r))
        cum = np.cumsum(e / e.sum())[:-1]
        kind = draw(st.sampled_from(["mid", "mid", "mid", "near", "on", "zero", "top", "mid", "any"]))
        steps = [0.0, *[float(c) for c in cum if 0 < c < 1], 1.0]
        if kind == "zero":
            u = 0.0
        elif kind == "top":
            u = top
        elif kind == "near" and len(steps) > 2:
            u = draw(st.sampled_from(steps[1:-1])) * (1.0 + draw(st.sampled_from([1e-4, -1e-4])))
        elif kind == "on" and len(steps) > 2:  # exactly on a cumulative step, as rounded in float64
            u = draw(st.sampled_from(steps[1:-1]))
        elif kind == "mid":
            j = draw(st.integers(0, len(steps) - 2))
            u = steps[j] + draw(st.floats(0.1, 0.9)) * (steps[j + 1] - steps[j])
        else:
            u = draw(st.floats(0.0, top))
        us.append(u)
    u_arr = np.minimum(representable(np.array(us, dtype=np.float64), dtype), top).reshape(batch)
    return Case({"logits": z, "uniforms": u_arr}, {}, {"...": batch, "V": v})


CASES: dict[str, Callable[..., Any]] = {"temperature_scale": _temperature_case, "sample": _sample_case}

CURATED: dict[str, tuple[Curated, ...]] = {
    "temperature_scale": (
        Curated("T = 1/2", "z / (1/2) = 2 z exactly", {"logits": [[1.0, -2.0, NEG], [0.5, 4.0, 3.0]]},
                {"temperature": 0.5}, {"logits": [[2.0, -4.0, NEG], [1.0, 8.0, 6.0]]}),
        Curated("T = 4", "z / 4 exactly (dyadic)", {"logits": [3.0, -6.0, 0.0, NEG]}, {"temperature": 4.0},
                {"logits": [0.75, -1.5, 0.0, NEG]}),
        Curated("tiny T", "T = 2^-10: z / T = z * 2^10 exactly (within float16's range)", {"logits": [1.0, -0.5, 0.0]},
                {"temperature": 2.0**-10}, {"logits": [1024.0, -512.0, 0.0]}),
        Curated("huge T", "T = 2^20: z / T = z * 2^-20 exactly", {"logits": [1024.0, -2.0]},
                {"temperature": 2.0**20}, {"logits": [2.0**-10, -(2.0**-19)]}),
    ),
    "sample": (
        Curated("u = 0", "u = 0 returns the first finite position (index 1 after a -inf)",
                {"logits": [[NEG, 0.0, 0.0]], "uniforms": [0.0]}, {}, {"tokens": [1]}),
        Curated("u just below 1, -inf last", "p = 1/2, 1/2, 0 (last is -inf): u = 1 - 2^-8 (exact in every dtype) "
                "falls in the second step; never the -inf index 2 nor V = 3",
                {"logits": [[0.0, 0.0, NEG]], "uniforms": [1.0 - 2.0**-8]}, {}, {"tokens": [1]}),
        Curated("uniform quarters", "four equal logits: C = 1/4, 1/2, 3/4, 1; u = 1/4 (= C_0, not > C_0) gives 1, "
                "u = 0.3 gives 1, u = 0.76 gives 3", {"logits": [[0.0] * 4] * 3, "uniforms": [0.25, 0.3, 0.76]},
                {}, {"tokens": [1, 1, 3]}),
        Curated("rounded cumulative sum, -inf last", "ten equal logits then -inf: in float64 the cumulative sum of "
                "ten 0.1s is 1 - 2^-53, equal to u = 1 - 2^-53 (the largest float64 below 1); exactly, C_9 = 1 > u, so "
                "the token is 9 — never the -inf index 10 that a right-side search of the rounded sums returns "
                "without a clamp to the last finite token",
                {"logits": [[0.0] * 10 + [NEG]], "uniforms": [1.0 - 2.0**-53]}, {}, {"tokens": [9]}),
        Curated("last finite", "p = 1/2, 0 (-inf), 1/2: u = 0.9 > C_0 = 1/2 picks index 2 (after the -inf)",
                {"logits": [[0.0, NEG, 0.0]], "uniforms": [0.9]}, {}, {"tokens": [2]}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


def hf_temperature() -> Callable[..., Any]:
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper

    def temperature_scale(logits: Any, temperature: float) -> Any:
        scores = logits.reshape(-1, logits.shape[-1])
        ids = torch.zeros((scores.shape[0], 1), dtype=torch.long)
        return TemperatureLogitsWarper(temperature)(ids, scores).reshape(logits.shape)

    return temperature_scale


PEERS = {
    "temperature_scale": (Peer("transformers TemperatureLogitsWarper", "transformers", hf_temperature,
                               backend="torch-cpu", dtypes=("float64", "float32")),),
}
