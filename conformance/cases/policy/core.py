"""Case strategies for the ``policy`` family that the generic builder cannot express.

- Policy losses: ``old_log_prob`` is drawn *near* ``log_prob`` (log-ratios on a small dyadic grid,
  so ρ is often exactly 1 or close to the clip boundaries, as in PPO practice), sometimes
  independently; advantages are GRPO-like (few distinct values, exact zeros).
- Clip-Cov: priority keys are dyadic multiples of 2^-8 (exact in every dtype, so ties are the same
  on every backend), and covariance windows are drawn where covariances actually fall.
- Group advantages: rewards and group ids of one length, binary or real rewards, singleton groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.strategies import Case, advantages, group_ids, log_probs, mask, param_value, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES"]

_LOG_RATIOS = (0.0, 0.0, 0.125, -0.125, 0.25, -0.25, 0.5, -0.5, 1.0, -1.0, 0.1875, -0.3125)


def _dims(draw: st.DrawFn, small: bool) -> tuple[int, int]:
    b = draw(st.integers(0 if not small else 1, 2 if small else 3))
    t = draw(st.integers(1, 4 if small else 6))
    return b, t


@st.composite
def _loss_inputs(draw: st.DrawFn, dtype: str, small: bool) -> dict[str, Any]:
    b, t = _dims(draw, small)
    shape = (b, t)
    n = b * t
    lp = draw(log_probs(shape, dtype), label="log_prob")
    if draw(st.integers(0, 4)) == 0:
        old = draw(log_probs(shape, dtype), label="old_log_prob")
    else:
        delta = np.array(draw(st.lists(st.sampled_from(_LOG_RATIOS), min_size=n, max_size=n)),
                         dtype=np.float64).reshape(shape)
        old = representable(lp - delta, dtype)
    if draw(st.booleans()):
        pool = [0.0, 1.0, -1.0, *draw(st.lists(st.floats(-3.0, 3.0, allow_nan=False, width=16), min_size=1,
                                                max_size=3))]
        adv = representable(np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)),
                                     dtype=np.float64).reshape(shape), dtype)
    else:
        adv = draw(advantages(shape, dtype), label="advantages")
    return {"log_prob": lp, "old_log_prob": old, "advantages": adv, "mask": draw(mask(shape), label="mask")}


def _params(draw: st.DrawFn, spec: MethodSpec, **fixed: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name in fixed:
            out[p.name] = fixed[p.name]
        elif p.drawn:
            out[p.name] = draw(param_value(p), label=p.name)
    return out


def ppo_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(_loss_inputs(dtype, small))
        return Case(inputs, _params(draw, spec))
    return build()


@st.composite
def _priority(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    n = int(np.prod(shape))
    if draw(st.booleans()):
        keys = draw(st.permutations(list(range(256))))[:n]  # distinct keys
    else:
        keys = draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))  # ties possible
    return np.array(keys, dtype=np.float64).reshape(shape) / 256.0


def clip_cov_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(_loss_inputs(dtype, small))
        inputs["priority"] = draw(_priority(inputs["log_prob"].shape), label="priority")
        low = draw(st.one_of(st.sampled_from([-1.0, 0.0, 0.25, 1.0]), st.floats(-2.0, 3.0, allow_nan=False)),
                   label="cov_low")
        high = low + draw(st.one_of(st.sampled_from([0.0, 1.0, 4.0]), st.floats(0.0, 6.0, allow_nan=False)),
                          label="cov_width")
        ratio = draw(st.one_of(st.sampled_from([0.0, 2e-4, 0.1, 0.25, 0.5, 1.0]), st.floats(0.0, 1.0)),
                     label="clip_ratio")
        return Case(inputs, _params(draw, spec, cov_low=low, cov_high=high, clip_ratio=ratio))
    return build()


def kl_cov_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(_loss_inputs(dtype, small))
        k = draw(st.one_of(st.sampled_from([0.0, 0.2, 10.0, 25.0, 50.0, 100.0]), st.floats(0.0, 100.0)),
                 label="k_percent")
        return Case(inputs, _params(draw, spec, k_percent=k))
    return build()


def group_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(0, 6 if small else 12))
        if draw(st.booleans()):
            rewards = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)), dtype=np.float64)
        else:
            rewards = draw(reals((n,), dtype), label="rewards")
        gids = draw(group_ids((n,)), label="group_ids")
        return Case({"rewards": representable(rewards, dtype), "group_ids": gids}, _params(draw, spec))
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "ppo_clip_loss": ppo_cases,
    "clip_cov_loss": clip_cov_cases,
    "kl_cov_loss": kl_cov_cases,
    "group_advantages": group_cases,
}
