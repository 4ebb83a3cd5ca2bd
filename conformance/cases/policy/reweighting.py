"""Case strategies and curated hard cases of the ``reweighting`` group (Lp-Reg, STEER).

``lp_reg_proxy_logprob``: logits ``(N, V)`` from the generic logits strategy (ties, −inf holes, large
magnitudes) with labels that are never ``ignore_index`` (the method has none): the argmax half the time
(kept under the min-p rule), a uniform token otherwise (often filtered).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import params
from conformance.strategies import Case, logits
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


def _i(x: Any) -> Any:
    return np.array(x, dtype=np.int64)


# --------------------------------------------------------------------------- lp_reg_proxy_logprob


def _proxy_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(0, 3) if small else st.integers(1, 6)) if draw(st.integers(0, 11)) else 0
        v = draw(st.integers(1, 5 if small else 9))
        z = draw(logits((n, v), dtype), label="logits")
        finite = np.where(np.isfinite(z), z, -np.inf)
        top = np.argmax(finite, axis=-1) if n else np.zeros(0, dtype=np.int64)
        anyone = np.array(draw(st.lists(st.integers(0, v - 1), min_size=n, max_size=n)), dtype=np.int64)
        pick = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        labels = np.where(pick, top, anyone).astype(np.int64)
        return Case({"logits": z, "labels": labels}, params(draw, spec), {"N": n, "V": v})
    return build()


CASES["lp_reg_proxy_logprob"] = _proxy_case

_LN2, _LN4 = math.log(2.0), math.log(4.0)

CURATED["lp_reg_proxy_logprob"] = (
    Curated("tie at the min-p threshold", "κ = 1: both maxima satisfy p ≥ 1·max p (≥, not >) and survive; token 2 is "
            "filtered: label 0 reads log(1/2), label 2 reads −1e4 − 1 − log 2",
            {"logits": _a([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]), "labels": _i([0, 2])}, {"min_p": 1.0},
            {"proxy_log_prob": _a([-_LN2, -1e4 - 1.0 - _LN2])}),
    Curated("filter at T = 1, temperature after", "p = (0.2, 0.8), κ = 0.3: 0.2 < 0.24 is filtered at T = 1 (at T = 2 "
            "it would survive); z' = (−1e4, log 4)/2: label 1 reads 0, label 0 reads −5000 − log 2",
            {"logits": _a([[0.0, _LN4], [0.0, _LN4]]), "labels": _i([1, 0])}, {"min_p": 0.3, "temperature": 2.0},
            {"proxy_log_prob": _a([0.0, -5000.0 - _LN2])}),
    Curated("fixed rule filters the whole row", "p = 1/4 each < κ = 0.5: every logit becomes −1e4, uniform proxy",
            {"logits": _a([[0.0, 0.0, 0.0, 0.0]]), "labels": _i([3])}, {"min_p": 0.5, "rule": "fixed"},
            {"proxy_log_prob": _a([-_LN4])}),
    Curated("soft filter writes the row minimum", "p ∝ (1, 4, 1/4), κ = 0.5: tokens 0 and 2 filtered and set to the "
            "minimum logit −log 4: z' = (−log 4, log 4, −log 4), label 1 reads log(4/4.5), label 0 −log 18",
            {"logits": _a([[0.0, _LN4, -_LN4], [0.0, _LN4, -_LN4]]), "labels": _i([1, 0])},
            {"min_p": 0.5, "soft": True}, {"proxy_log_prob": _a([math.log(8.0 / 9.0), -math.log(18.0)])}),
    Curated("κ = 0 keeps a −inf token", "p = 0 ≥ 0: nothing is filtered, the −inf label keeps log-prob −inf",
            {"logits": _a([[0.0, -np.inf, 0.0]]), "labels": _i([1])}, {"min_p": 0.0},
            {"proxy_log_prob": _a([-np.inf])}),
)
