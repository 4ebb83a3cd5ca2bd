"""Case strategies and curated hard cases of the ``entropy_advantages`` group (CANON, EMPG).

CANON: B responses in groups from the shared ``group_ids`` strategy (singletons, odd and even groups), binary or
real rewards, dyadic token entropies (multiples of 1/4 in [0, 4]: every masked sum, hence every mean, is exact in
float64, so ties are exact) with repeated rows one draw in two (ties across the split), and the shared
right-padded / random sequence masks (empty responses included).

EMPG: S steps in trajectories from the ``group_ids`` strategy (one-step trajectories included), the outcome
advantage constant within a trajectory (as broadcast by the caller) or free, step entropies dyadic in [0, 4] or
all equal one draw in six.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import params, seq_mask
from conformance.strategies import Case, group_ids, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


def _g(x: Any) -> Any:
    return np.array(x, dtype=np.int64)


# --------------------------------------------------------------------------- CANON (both ids)


@st.composite
def canon_inputs(draw: st.DrawFn, dtype: str, small: bool) -> dict[str, Any]:
    b = draw(st.integers(1, 6 if small else 12)) if draw(st.integers(0, 11)) else 0
    t = draw(st.integers(1, 3 if small else 5))
    if draw(st.booleans()):
        rewards = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=b, max_size=b)), dtype=np.float64)
    else:
        rewards = draw(reals((b,), dtype), label="rewards")
    gids = draw(group_ids((b,)), label="group_ids")
    ent = np.array(draw(st.lists(st.integers(0, 16), min_size=b * t, max_size=b * t)), dtype=np.float64)
    ent = ent.reshape((b, t)) / 4.0
    if b >= 2 and draw(st.booleans()):  # repeated rows: exact metric ties
        src = np.array(draw(st.lists(st.integers(0, b - 1), min_size=b, max_size=b)), dtype=np.int64)
        ent = ent[src]
    m = draw(seq_mask((b, t)), label="mask")
    return {"rewards": representable(rewards, dtype), "group_ids": gids, "entropy": representable(ent, dtype),
            "mask": m}


def _canon_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(canon_inputs(dtype, small))
        b, t = inputs["entropy"].shape
        return Case(inputs, params(draw, spec), {"B": b, "T": t})
    return build()


CASES["canon_advantage"] = _canon_case

STEPS = (0, 1, 28, 29, 30, 31, 49, 50, 69, 70, 71, 109, 149, 150, 151, 189, 400)


def _canon_scheduled_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    """As canon_advantage, with the step drawn across the warm-up, the cycles and past the nominal 150 steps."""
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(canon_inputs(dtype, small))
        b, t = inputs["entropy"].shape
        step = draw(st.one_of(st.sampled_from(STEPS), st.integers(0, 300)), label="step")
        return Case(inputs, params(draw, spec, step=step), {"B": b, "T": t})
    return build()


CASES["canon_advantage_scheduled"] = _canon_scheduled_case

# group 5 = responses 0..3 with mean entropies (1, 0.5, 2, 0.5): stable order 1, 3, 0, 2 -> Low {1, 3} (r 0, 1),
# High {0, 2} (r 1, 1): μ_L = 1/2, μ_H = 1. Response 4 alone in group −2 (means 0). Row 5: empty mask, alone.
_CANON = {"rewards": _a([1.0, 0.0, 1.0, 1.0, 0.5, 2.0]), "group_ids": _g([5, 5, 5, 5, -2, 9]),
          "entropy": _a([[1.0, 1.0], [0.5, 0.5], [2.0, 2.0], [0.5, 0.5], [3.0, 1.0], [1.0, 1.0]]),
          "mask": np.array([[1, 1], [1, 1], [1, 1], [1, 1], [1, 0], [0, 0]], dtype=bool)}


def _rows(values: list[float], mask: Any = _CANON["mask"]) -> Any:
    return _a(values)[:, None] * mask


CURATED["canon_advantage"] = (
    Curated("pure inter-group (μ = 1)", "High: r − μ_L = (1/2, 1/2) for responses 0, 2; Low: r − μ_H = (−1, 0) for "
            "1, 3; singleton r = 0.5; empty response 2.0 but its mask is empty: 0; L = 2",
            _CANON, {"mu": 1.0, "max_length": 2}, {"advantages": _rows([0.25, -0.5, 0.25, 0.0, 0.25, 1.0])}),
    Curated("pure intra-group (μ = 0)", "High r − μ_H = (0, 0); Low r − μ_L = (−1/2, 1/2); singleton r; L = 1",
            _CANON, {"mu": 0.0, "max_length": 1}, {"advantages": _rows([0.0, -0.5, 0.0, 0.5, 0.5, 2.0])}),
    Curated("α and β (entropy variant)", "μ = 1, α = 2, β = 1/4: High r − 2μ_L + β = 1 − 1 + 1/4; Low 2r − μ_H − β = "
            "(−5/4, 3/4); singleton r + β = 3/4 (α does not touch it: μ_L = 0); empty row 9/4 → masked 0",
            _CANON, {"mu": 1.0, "alpha": 2.0, "beta": 0.25, "max_length": 1},
            {"advantages": _rows([0.25, -1.25, 0.25, 0.75, 0.75, 2.25])}),
    Curated("length metric, mirrored α", "lengths (2, 2, 2, 2, 1, 0): one tie, stable order 0, 1 | 2, 3: Low {0, 1} "
            "(r 1, 0) μ_L = 1/2, High {2, 3} (r 1, 1) μ_H = 1; μ = 1, α = 2: High 2r − μ_L = 3/2; Low r − 2μ_H = "
            "(−1, −2); singleton 2·0.5 = 1",
            _CANON, {"metric": "length", "mu": 1.0, "alpha": 2.0, "max_length": 1},
            {"advantages": _rows([-1.0, -2.0, 1.5, 1.5, 1.0, 4.0])}),
    Curated("odd group: the high half takes the extra response", "G = 3, mean entropies (2, 1, 3): Low {1} r 0, "
            "High {0, 2} r (1, 0): μ_L = 0, μ_H = 1/2; μ = 1/2: High ½(r − 0) + ½(r − ½) = (3/4, −1/4), Low "
            "½(0 − ½) + ½(0 − 0) = −1/4",
            {"rewards": _a([1.0, 0.0, 0.0]), "group_ids": _g([1, 1, 1]), "entropy": _a([[2.0], [1.0], [3.0]]),
             "mask": np.ones((3, 1), dtype=bool)}, {"mu": 0.5, "max_length": 1},
            {"advantages": _a([[0.75], [-0.25], [-0.25]])}),
)


# cosine_restart at step 29 (last warm-up step): m = 0.6·30/30 = 0.6, w_inter = 0.4; at step 50: (50 − 30) mod 40 = 20,
# m = 0.3·(1 + cos(π/2)) = 0.3, w_inter = 0.7; cosine_restart_r at step 30: m = 1 − 1 = 0, w_inter = 1.
_SCHED = {"rewards": _a([1.0, 0.0, 1.0, 1.0]), "group_ids": _g([5, 5, 5, 5]),
          "entropy": _a([[1.0], [0.5], [2.0], [0.5]]), "mask": np.ones((4, 1), dtype=bool)}
# sorted: 1, 3 | 0, 2 → μ_L = 1/2, μ_H = 1; High: w(r − ½) + (1 − w)(r − 1); Low: w(r − 1) + (1 − w)(r − ½)


def _sched(w: float) -> Any:
    high = w * 0.5 + (1 - w) * 0.0
    return _a([[high], [w * -1.0 + (1 - w) * -0.5], [high], [w * 0.0 + (1 - w) * 0.5]])


CURATED["canon_advantage_scheduled"] = (
    Curated("end of the warm-up", "cosine_restart, step 29: m = 0.6 → w_inter = 0.4", _SCHED,
            {"schedule": "cosine_restart", "step": 29, "max_length": 1}, {"advantages": _sched(0.4)}),
    Curated("mid cycle", "cosine_restart, step 50: (50 − 30) mod 40 = 20, m = 0.3(1 + cos π/2) = 0.3 → w_inter = 0.7",
            _SCHED, {"schedule": "cosine_restart", "step": 50, "max_length": 1}, {"advantages": _sched(0.7)}),
    Curated("restart", "cosine_restart_r, step 110: (110 − 30) mod 40 = 0, cr = 1, m = 0 → pure inter (w = 1)",
            _SCHED, {"schedule": "cosine_restart_r", "step": 110, "max_length": 1}, {"advantages": _sched(1.0)}),
    Curated("annealed by the batch accuracy", "annel: mean r = 3/4 → w_inter = 3/4 (m = 1/4)", _SCHED,
            {"schedule": "annel", "max_length": 1}, {"advantages": _sched(0.75)}),
)


# --------------------------------------------------------------------------- empg_advantage


def _empg_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 6 if small else 12)) if draw(st.integers(0, 11)) else 0
        traj = draw(group_ids((n,)), label="trajectory_ids")
        if draw(st.integers(0, 5)) == 0:
            h = np.full(n, draw(st.sampled_from([0.0, 1.5])))
        else:
            h = np.array(draw(st.lists(st.integers(0, 16), min_size=n, max_size=n)), dtype=np.float64) / 4.0
        if draw(st.booleans()):  # one outcome advantage per trajectory
            ids = np.unique(traj)
            per = np.array(draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]), min_size=ids.size,
                                         max_size=ids.size)), dtype=np.float64)
            adv = per[np.searchsorted(ids, traj)] if n else np.zeros(0)
        else:
            adv = draw(reals((n,), dtype, low=-3.0, high=3.0), label="advantages")
        inputs = {"step_entropy": representable(h, dtype), "advantages": representable(adv, dtype),
                  "trajectory_ids": traj}
        return Case(inputs, params(draw, spec), {"S": n})
    return build()


CASES["empg_advantage"] = _empg_case

_EPS = 1e-8
_HN = 1.0 / (1.0 + _EPS)  # H = (0, 1): H_n = (0, 1/(1 + 1e-8))
_G0, _G1 = 1.0, math.exp(-_HN)
_GM = (_G0 + _G1) / 2 + _EPS

CURATED["empg_advantage"] = (
    Curated("future clarity bonus", "one trajectory of two steps, H = (0, 1), A = (1, 1), k = k_f = 1, ζ = 0.1: "
            "g = (1, e^{−H_n})/(mean + 1e-8); step 0 gets + 0.1·f(step 1) = 0.1·e^{−H_n}; no normalisation",
            {"step_entropy": _a([0.0, 1.0]), "advantages": _a([1.0, 1.0]), "trajectory_ids": _g([3, 3])},
            {"normalize": "none"}, {"advantages": _a([_G0 / _GM + 0.1 * _G1, _G1 / _GM])}),
    Curated("equal entropies, interleaved trajectories", "H all 2: H_n = 0, g = 1/(1 + 1e-8), f = 1; steps 0 and 2 "
            "belong to trajectory 7 (step 0 gets + ζ), step 1 alone in 4, step 3 last of 7; centred ('mean')",
            {"step_entropy": _a([2.0, 2.0, 2.0, 2.0]), "advantages": _a([1.0, -1.0, 1.0, 0.0]),
             "trajectory_ids": _g([7, 4, 7, 9])}, {"normalize": "mean", "zeta": 0.5},
            {"advantages": (lambda v: v - v.mean())(_a([1.0 / (1 + _EPS) + 0.5, -1.0 / (1 + _EPS), 1.0 / (1 + _EPS),
                                                         0.0]))}),
    Curated("standardised pair", "two one-step trajectories, equal H: A_mod = A/(1 + 1e-8) = (±1)/(1 + 1e-8); "
            "(x − 0)/(std + 1e-8) with std = 1/(1 + 1e-8): ±1/(1 + 1e-8(1 + 1e-8))",
            {"step_entropy": _a([1.0, 1.0]), "advantages": _a([1.0, -1.0]), "trajectory_ids": _g([0, 1])},
            {"normalize": "std"},
            {"advantages": _a([1.0, -1.0]) * (1.0 / (1 + _EPS)) / (1.0 / (1 + _EPS) + _EPS)}),
)
