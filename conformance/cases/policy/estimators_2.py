"""Case strategies of the ``estimators_2`` group (gae_advantages, reinforce_plus_plus_advantages,
remax_advantages, reinforce_loss): (B, T) token rewards that are outcome-style (one reward on the last
valid token) or dense, values, masks with observation gaps, empty rows and single valid tokens, group
ids per row and greedy baseline rewards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import case, dims, loss_inputs, params, seq_mask
from conformance.strategies import Case, group_ids, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

GRID = [0.0, 1.0, -1.0, 0.5, 2.0]


@st.composite
def _mask(draw: st.DrawFn, shape: tuple[int, int]) -> Any:
    """Observation gaps, a single valid token, empty rows and empty masks are each drawn on purpose."""
    b, t = shape
    style = draw(st.sampled_from(["gap", "gap", "one", "empty_row", "empty", "seq", "seq"]))
    if b * t == 0:
        return np.ones(shape, dtype=bool)
    if style == "gap" and t >= 3:  # an observation gap inside a row
        m = draw(seq_mask(shape)) if draw(st.booleans()) else np.ones(shape, dtype=bool)
        row = draw(st.integers(0, b - 1))
        m[row, 0] = m[row, t - 1] = True
        m[row, draw(st.integers(1, t - 2))] = False
        return m
    if style == "one":  # exactly one valid token in the batch
        m = np.zeros(shape, dtype=bool)
        m[draw(st.integers(0, b - 1)), draw(st.integers(0, t - 1))] = True
        return m
    if style == "empty_row" and b >= 2:
        m = np.ones(shape, dtype=bool)
        m[draw(st.integers(0, b - 1))] = False
        return m
    if style == "empty":
        return np.zeros(shape, dtype=bool)
    return draw(seq_mask(shape))


@st.composite
def _rewards(draw: st.DrawFn, m: Any, dtype: str) -> Any:
    b, t = m.shape
    if draw(st.booleans()):  # outcome reward on the last valid token (and junk at masked positions)
        r = np.zeros((b, t))
        for i in range(b):
            idx = np.flatnonzero(m[i])
            if idx.size:
                r[i, idx[-1]] = draw(st.sampled_from(GRID))
        r = np.where(m, r, draw(st.sampled_from([0.0, 5.0])))
        return representable(r, dtype)
    if draw(st.booleans()):
        return np.array(draw(st.lists(st.sampled_from(GRID), min_size=b * t, max_size=b * t)),
                        dtype=np.float64).reshape((b, t))
    return draw(reals((b, t), dtype, low=-3.0, high=3.0))


def token_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    names = {i.name for i in spec.inputs}

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        b, t = dims(draw, small)
        if t < 3 and draw(st.booleans()):
            t = 3  # room for an observation gap
        m = draw(_mask((b, t)), label="mask")
        inputs: dict[str, Any] = {"rewards": draw(_rewards(m, dtype), label="rewards")}
        fixed: dict[str, Any] = {}
        if "values" in names:
            inputs["values"] = draw(reals((b, t), dtype, low=-3.0, high=3.0), label="values")
        if "baseline_rewards" in names:
            base = np.array(draw(st.lists(st.sampled_from(GRID), min_size=b, max_size=b)), dtype=np.float64)
            inputs["baseline_rewards"] = representable(base, dtype)
        inputs["mask"] = m
        if "group_ids" in names:
            inputs["group_ids"] = draw(group_ids((b,)), label="group_ids")
            style = draw(st.integers(0, 2)) if b >= 2 else 2
            if style == 1:  # a row alone in its group next to a group of the others
                inputs["group_ids"] = np.array([3] * (b - 1) + [99], dtype=np.int64)
                fixed["baseline"] = "group"
            if style == 0:  # one group of rows with equal sequence rewards
                inputs["group_ids"] = np.full((b,), 4, dtype=np.int64)
                value = draw(st.sampled_from(GRID))
                r = np.zeros((b, t))
                for i in range(b):
                    idx = np.flatnonzero(m[i])
                    if idx.size:
                        r[i, idx[-1]] = value
                inputs["rewards"] = representable(r, dtype) if all(m.any(axis=-1)) else r * 0.0
                fixed["baseline"] = "group"
        order = [i.name for i in spec.inputs]
        return case({k: inputs[k] for k in order}, params(draw, spec, **fixed))
    return build()


def loss_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        x = draw(loss_inputs(dtype, small))
        m = x["mask"].copy()
        if m.shape[0] >= 2 and m.any() and draw(st.integers(0, 2)) == 0:
            m[draw(st.integers(0, m.shape[0] - 1))] = False  # an empty row next to non-empty ones
            m[int(np.argmax(x["mask"].any(axis=-1)))] |= x["mask"][int(np.argmax(x["mask"].any(axis=-1)))]
        return case({"log_prob": x["log_prob"], "advantages": x["advantages"], "mask": m}, params(draw, spec))
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "gae_advantages": token_cases,
    "reinforce_plus_plus_advantages": token_cases,
    "remax_advantages": token_cases,
    "reinforce_loss": loss_cases,
}


def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


_T, _F = True, False
_W = 1.0 / np.sqrt(4.0 / 3.0 + 1e-8)  # whitening of (1, −1, 1, −1)/... see the REINFORCE++ case

CURATED: dict[str, tuple[Curated, ...]] = {
    "gae_advantages": (
        Curated("two steps with a gap", "row (r, V) = ((0, 9, 1), (0.5, 7, 0.25)), mask (1, 0, 1), γ = 0.5, λ = 0.5: "
                "last δ = 1 − 0.25 = 0.75 = A; first δ = 0 + 0.5·0.25 − 0.5 = −0.375, A = −0.375 + 0.25·0.75 "
                "= −0.1875; returns A + V = (0.3125, 0, 1)",
                {"rewards": _a([[0.0, 9.0, 1.0]]), "values": _a([[0.5, 7.0, 0.25]]), "mask": np.array([[_T, _F, _T]])},
                {"gamma": 0.5, "lam": 0.5, "whiten": False},
                {"advantages": _a([[-0.1875, 0.0, 0.75]]), "returns": _a([[0.3125, 0.0, 1.0]])}),
    ),
    "reinforce_plus_plus_advantages": (
        Curated("undiscounted returns whitened", "rows (0, 1) and (0, −1), γ = 1: G = (1, 1), (−1, −1); mean 0, "
                "unbiased var 4/3: A = ±1/sqrt(4/3 + 1e-8)",
                {"rewards": _a([[0.0, 1.0], [0.0, -1.0]]), "mask": np.ones((2, 2), dtype=bool),
                 "group_ids": np.array([0, 0])}, {"baseline": "none", "gamma": 1.0},
                {"advantages": _a([[_W, _W], [-_W, -_W]]), "returns": _a([[1.0, 1.0], [-1.0, -1.0]])}),
    ),
    "remax_advantages": (
        Curated("spread rewards", "row rewards (1, 2, 4), greedy reward 3: sequence credit R − b = 4 everywhere; "
                "reward-to-go (7, 6, 4) − 3 = (4, 3, 1)",
                {"rewards": _a([[1.0, 2.0, 4.0]]), "baseline_rewards": _a([3.0]), "mask": np.ones((1, 3), bool)},
                {"credit": "reward_to_go"}, {"advantages": _a([[4.0, 3.0, 1.0]]), "returns": _a([[7.0, 6.0, 4.0]])}),
    ),
    "reinforce_loss": (
        Curated("sequence sums", "rows: A = 2 on log π (−1, −0.5) → 3; A = −1 on (−2, masked) → −2; mean 0.5",
                {"log_prob": _a([[-1.0, -0.5], [-2.0, -4.0]]), "advantages": _a([[2.0, 2.0], [-1.0, -1.0]]),
                 "mask": np.array([[_T, _T], [_T, _F]])}, {"mode": "seq-mean-token-sum"}, {"loss": _a(0.5)}),
    ),
}
