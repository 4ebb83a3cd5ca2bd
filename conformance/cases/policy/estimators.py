"""Case strategies of the ``estimators`` group (rloo_advantages, opo_advantages, grpo_passk_advantages):
rewards and group ids of one length, binary rewards (constant groups, ties at the top) or real ones,
singleton groups; for OPO a (N, T) mask with empty rows and unequal lengths."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import params
from conformance.strategies import Case, group_ids, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]


def outcome_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    with_mask = any(i.name == "mask" for i in spec.inputs)

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 6 if small else 12) if draw(st.integers(0, 9)) else st.just(0))
        style = draw(st.sampled_from(["binary", "grid", "real"]))
        if style == "binary":
            rewards = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)), dtype=np.float64)
        elif style == "grid":
            rewards = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, -1.0, 2.0]), min_size=n, max_size=n)),
                               dtype=np.float64)
        else:
            rewards = draw(reals((n,), dtype), label="rewards")
        gids = draw(group_ids((n,)), label="group_ids")
        inputs: dict[str, Any] = {"rewards": representable(rewards, dtype), "group_ids": gids}
        dims = {"N": n}
        if with_mask:
            t = draw(st.integers(0, 5)) if draw(st.integers(0, 9)) == 0 else draw(st.integers(1, 5))
            lengths = np.array(draw(st.lists(st.integers(0, t), min_size=n, max_size=n)), dtype=np.int64)
            if n and draw(st.integers(0, 4)) == 0:
                lengths[gids == gids[0]] = 0  # a group of empty responses
            m = np.arange(t) < lengths[:, None] if n else np.zeros((0, t), dtype=bool)
            if draw(st.booleans()) and n and t:
                m = m[:, ::-1].copy()  # left-padded: only the count matters
            inputs = {"rewards": inputs["rewards"], "mask": m, "group_ids": gids}
            dims["T"] = t
        return Case(inputs, params(draw, spec), dims)
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "rloo_advantages": outcome_cases,
    "opo_advantages": outcome_cases,
    "grpo_passk_advantages": outcome_cases,
}


def _a(x: list[float]) -> Any:
    return np.array(x, dtype=np.float64)


def _g(x: list[int]) -> Any:
    return np.array(x, dtype=np.int64)


def _m(lengths: list[int], t: int) -> Any:
    return np.arange(t) < np.array(lengths)[:, None]


_S3 = math.sqrt(1.0 / 3.0)  # unbiased std of (1, 0, 0)

CURATED: dict[str, tuple[Curated, ...]] = {
    "rloo_advantages": (
        Curated("leave one out", "group 5 = (1, 0, 0, 1): A_1 = 1 − (0+0+1)/3 = 2/3, A_2 = 0 − 2/3; group −2 = "
                "(3, 1): ±2; group 9 alone: A = r = 4",
                {"rewards": _a([1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 4.0]), "group_ids": _g([5, 5, 5, 5, -2, -2, 9])}, {},
                {"advantages": _a([2 / 3, -2 / 3, -2 / 3, 2 / 3, 2.0, -2.0, 4.0])}),
        Curated("singleton zero and a constant group", "rloo_vectorized: a response alone gets 0; (0.5, 0.5) gets 0",
                {"rewards": _a([7.0, 0.5, 0.5]), "group_ids": _g([1, 2, 2])}, {"singleton": "zero"},
                {"advantages": _a([0.0, 0.0, 0.0])}),
    ),
    "opo_advantages": (
        Curated("length-weighted baseline", "lengths (1, 3) and rewards (1, 0): b = (1·1 + 3·0)/4 = 1/4, A = (3/4, "
                "−1/4); a singleton gives 0 (formula)",
                {"rewards": _a([1.0, 0.0, 5.0]), "mask": _m([1, 3, 2], 3), "group_ids": _g([0, 0, 4])}, {},
                {"advantages": _a([0.75, -0.25, 0.0])}),
        Curated("empty group and verl singletons", "all-empty group (2, 0): plain mean 1, A = ±1; singleton "
                "'reward': A = r = −3",
                {"rewards": _a([2.0, 0.0, -3.0]), "mask": _m([0, 0, 1], 2), "group_ids": _g([1, 1, 3])},
                {"singleton": "reward"}, {"advantages": _a([1.0, -1.0, -3.0])}),
    ),
    "grpo_passk_advantages": (
        Curated("best gets the gap", "(0.25, 1, 0.5): best 1, second 0.5: A = (0, 0.5, 0); tie at the top (1, 1, 0) "
                "gives 0; a singleton gives 0",
                {"rewards": _a([0.25, 1.0, 0.5, 1.0, 1.0, 0.0, 9.0]), "group_ids": _g([3, 3, 3, 8, 8, 8, 1])}, {},
                {"advantages": _a([0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0])}),
        Curated("std scaled", "(1, 0, 0): gap 1, unbiased std 1/sqrt(3): A_best = 1/(1/sqrt(3) + 1e-6)",
                {"rewards": _a([0.0, 1.0, 0.0]), "group_ids": _g([2, 2, 2])}, {"scale": "std", "eps": 1e-6},
                {"advantages": _a([0.0, 1.0 / (_S3 + 1e-6), 0.0])}),
    ),
}
