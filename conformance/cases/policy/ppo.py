"""Case strategies of the ``ppo`` group (aggregate, ppo_clip_loss, kl_penalty).

- aggregate: masks with an empty row next to non-empty ones a third of the time (the seq-mean modes
  differ there), several rows, ``max_length`` around ``T``;
- ppo_clip_loss: log-ratios on both sides of both clip bounds (see ``_draws``), dual-clip constants
  below the largest drawn ratio;
- kl_penalty: ``ref_log_prob`` near ``log_prob`` (d = 0 exactly, inside and beyond the k3 clamp at
  d ≈ −2.61) or independent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import case, dims, loss_inputs, params
from conformance.strategies import Case, log_probs, mask, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def aggregate_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        b, t = dims(draw, small)
        if b < 2 and draw(st.booleans()):
            b = 2
        m = draw(mask((b, t)), label="mask")
        if b >= 2 and draw(st.integers(0, 2)) == 0:
            m[draw(st.integers(0, b - 1))] = False  # an empty row among others
            m[draw(st.integers(0, b - 1)), draw(st.integers(0, t - 1))] = True
        values = draw(reals((b, t), dtype), label="values")
        mode = draw(st.sampled_from(AGG_MODES), label="mode")
        length = draw(st.one_of(st.none(), st.integers(max(1, t - 2), t + 3)), label="max_length")
        return case({"values": values, "mask": m}, {"mode": mode, "max_length": length})
    return build()


def ppo_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(loss_inputs(dtype, small))
        dual = draw(st.one_of(st.none(), st.sampled_from([1.5, 2.0, 3.0]), st.floats(1.01, 10.0)), label="dual_clip")
        return case(inputs, params(draw, spec, dual_clip=dual))
    return build()


_KL_DELTAS = (0.0, 0.0, 0.5, -0.5, 1.0, -1.0, -3.0, -5.0, 2.5, -2.5, 0.0625)


def kl_penalty_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        b, t = dims(draw, small)
        shape = (b, t)
        lp = draw(log_probs(shape, dtype), label="log_prob")
        if draw(st.integers(0, 3)) == 0:
            ref = draw(log_probs(shape, dtype), label="ref_log_prob")
        else:
            delta = np.array(draw(st.lists(st.sampled_from(_KL_DELTAS), min_size=b * t, max_size=b * t)))
            ref = representable(lp - delta.reshape(shape), dtype)
        kind = draw(st.sampled_from(["k1", "abs", "k2", "k3", "k3", "k3"]), label="kind")
        return Case({"log_prob": lp, "ref_log_prob": ref}, {"kind": kind}, {"B": b, "T": t})
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "aggregate": aggregate_cases,
    "ppo_clip_loss": ppo_cases,
    "kl_penalty": kl_penalty_cases,
}

F = np.float64
T_, F_ = True, False


def _a(x: Any) -> Any:
    return np.array(x, dtype=F)


CURATED: dict[str, tuple[Curated, ...]] = {}
