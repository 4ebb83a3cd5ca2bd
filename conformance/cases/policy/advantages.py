"""Case strategies of the ``advantages`` group (group_advantages): rewards and group ids of one length,
binary rewards (constant groups) or real ones, singleton groups."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.policy._draws import params
from conformance.strategies import Case, group_ids, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]


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

def _a(x: list[float]) -> Any:
    return np.array(x, dtype=np.float64)


def _g(x: list[int]) -> Any:
    return np.array(x, dtype=np.int64)


_S3 = math.sqrt(3.0)  # unbiased std of (1, 0, 1) is sqrt((1/9 + 4/9 + 1/9)/2) = 1/sqrt(3)

CURATED: dict[str, tuple[Curated, ...]] = {
    "group_advantages": (
        Curated("unbiased std and a singleton",
                "group 0 = (1, 0, 1): mean 2/3, unbiased std 1/sqrt(3), A = (r − 2/3)/(1/sqrt(3) + 1e-6); group 3 "
                "alone: mean 0, std 1 (verl), A = 0.5/(1 + 1e-6)",
                {"rewards": _a([1.0, 0.0, 1.0, 0.5]), "group_ids": _g([0, 0, 0, 3])}, {"eps": 1e-6},
                {"advantages": _a([(1 / 3) / (1 / _S3 + 1e-6), (-2 / 3) / (1 / _S3 + 1e-6),
                                   (1 / 3) / (1 / _S3 + 1e-6), 0.5 / (1 + 1e-6)])}),
        Curated("constant groups give exactly 0", "all-equal rewards in groups of size 2 and 3: A = 0 also with "
                "eps = 0 (no 0/0)", {"rewards": _a([0.75, 0.75, 1.0, 1.0, 1.0]), "group_ids": _g([4, 4, 9, 9, 9])},
                {"eps": 0.0}, {"advantages": _a([0.0, 0.0, 0.0, 0.0, 0.0])}),
        Curated("pair with eps = 0", "(0, 1): mean 1/2, unbiased std sqrt(1/2): A = ±(1/2)/sqrt(1/2) = ±1/sqrt(2)",
                {"rewards": _a([0.0, 1.0]), "group_ids": _g([2, 2])}, {"eps": 0.0},
                {"advantages": _a([-1 / math.sqrt(2.0), 1 / math.sqrt(2.0)])}),
        Curated("scale none", "Dr. GRPO centres only: (1, 2, 3) − 2 = (−1, 0, 1); a singleton keeps r",
                {"rewards": _a([1.0, 2.0, 3.0, 5.0]), "group_ids": _g([1, 1, 1, 0])}, {"scale": "none"},
                {"advantages": _a([-1.0, 0.0, 1.0, 5.0])}),
        Curated("group of size one", "alone in its group: r/(1 + eps) = 2/1.5", {"rewards": _a([2.0]),
                "group_ids": _g([7])}, {"eps": 0.5}, {"advantages": _a([4.0 / 3.0])}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


def verl_grpo_advantage() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    def group_advantages(rewards: Any, group_ids: Any, *, scale: str = "std", eps: float = 1e-6) -> Any:
        scores = rewards[:, None]
        adv, _returns = compute_grpo_outcome_advantage(scores, torch.ones_like(scores), group_ids.numpy(),
                                                       epsilon=eps, norm_adv_by_std_in_grpo=scale == "std")
        return adv[:, 0]

    return group_advantages


PEERS = {
    "group_advantages": (
        Peer("verl.trainer.ppo.core_algos.compute_grpo_outcome_advantage", "verl", verl_grpo_advantage,
             backend="torch-cpu", dtypes=("float32",), accept=("group_advantages:zero_std_nan",),
             expect="conventions",
             reading="with epsilon = 0 a group of equal rewards is 0/0 = NaN in verl; every response of such a "
                     "group has advantage 0 (nothing to prefer)"),
        Peer("verl.trainer.ppo.core_algos.compute_grpo_outcome_advantage [float64]", "verl", verl_grpo_advantage,
             backend="torch-cpu", dtypes=("float64",), expect="differs", accept=("group_advantages:zero_std_nan",),
             reading="a group of one response gets mean torch.tensor(0.0) and std torch.tensor(1.0), float32 "
                     "constants: std + eps is rounded to float32 (1 + 1e-6 → 1.00000095), so float64 rewards of "
                     "singleton groups lose ~5e-8 relative; float32 agrees"),
    ),
}
