"""Case strategies of the ``advantages`` group (group_advantages): rewards and group ids of one length,
binary rewards (constant groups) or real ones, singleton groups."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import params
from conformance.strategies import Case, group_ids, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]


def group_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 6 if small else 12) if draw(st.integers(0, 9)) else st.just(0))
        if draw(st.booleans()):
            rewards = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)), dtype=np.float64)
        else:
            rewards = draw(reals((n,), dtype), label="rewards")
        gids = draw(group_ids((n,)), label="group_ids")
        return Case({"rewards": representable(rewards, dtype), "group_ids": gids}, params(draw, spec), {"N": n})
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {"group_advantages": group_cases}

CURATED: dict[str, tuple[Curated, ...]] = {}
