"""Case strategies and curated hard cases of the peers' samplers (``greedy_decode``, ...).

Logits come from the shared decoding draws (:mod:`conformance.cases.decoding._draws`: spread reals, exact ties,
near-ties resolved only by float32, large magnitudes, ``-inf`` holes). Curated ``expected`` outputs are derived by
hand in each ``why``, never by running our code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.decoding._draws import batch_and_vocab, logits_for
from conformance.strategies import Case
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
