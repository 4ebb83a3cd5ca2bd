"""Draws shared by the ``policy`` case groups: (B, T) sequence-loss inputs.

- ``old_log_prob`` is drawn *near* ``log_prob``: log-ratios on a dyadic grid reaching both sides of both
  clip bounds (ρ = e^±0.25 is outside [0.8, 1.2], e^±0.125 inside, e^2 above a dual-clip constant of 3),
  with exact zeros (ρ = 1); sometimes independently.
- ``exact=True`` draws the valid tokens' log-probs and advantages as a dyadic mean plus dyadic centred
  values summing to 0, so the masked means and covariances are exact in every dtype (see
  :mod:`spec.policy.covariance`): ties and covariances on a window bound are then decided identically
  everywhere, and they are drawn on purpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from conformance.strategies import Case, advantages, log_probs, param_value, representable
from spec.model import MethodSpec

F64 = npt.NDArray[np.float64]

LOG_RATIOS = (0.0, 0.0, 0.125, -0.125, 0.25, -0.25, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 0.1875, -0.3125)


def dims(draw: st.DrawFn, small: bool) -> tuple[int, int]:
    b = draw(st.integers(1, 2) if small else st.integers(1, 3))
    if not small and draw(st.integers(0, 11)) == 0:
        b = 0  # an empty batch, rarely
    t = draw(st.integers(1, 3 if small else 6))
    return b, t


@st.composite
def seq_mask(draw: st.DrawFn, shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Right-padded (sequence-like), random or full masks with an empty row at times; all-false rarely."""
    b, t = shape
    style = draw(st.sampled_from(["padded", "padded", "random", "full"]))
    if b * t == 0 or style == "full":
        m = np.ones(shape, dtype=bool)
    elif style == "padded":
        lengths = np.array(draw(st.lists(st.integers(1, t), min_size=b, max_size=b)))
        m = np.arange(t) < lengths[:, None]
    else:
        m = np.array(draw(st.lists(st.booleans(), min_size=b * t, max_size=b * t)), dtype=bool).reshape(shape)
    if b >= 2 and draw(st.integers(0, 3)) == 0:
        m[draw(st.integers(0, b - 1))] = False
    if draw(st.integers(0, 11)) == 0:
        m[:] = False
    return m


def _zero_sum(draw: st.DrawFn, n: int, grid: list[float]) -> F64:
    """``n`` values on ``grid`` (sums of grid values for the last) that sum to exactly 0."""
    if n == 0:
        return np.zeros(0)
    head = np.array(draw(st.lists(st.sampled_from(grid), min_size=n - 1, max_size=n - 1)), dtype=np.float64)
    return np.concatenate([head, [-float(head.sum())]])


@st.composite
def loss_inputs(draw: st.DrawFn, dtype: str, small: bool, exact: bool = False) -> dict[str, Any]:
    b, t = dims(draw, small)
    shape = (b, t)
    n = b * t
    m = draw(seq_mask(shape), label="mask")
    if exact:
        k = int(m.sum())
        lp = np.full(shape, -0.5)
        adv = np.full(shape, 2.0)
        centred_lp = _zero_sum(draw, k, [0.0, 0.25, -0.25, 0.5, -0.5, 0.75, -0.75, 1.0])
        mean_lp = -float(np.ceil(np.max(centred_lp, initial=0.0))) - draw(st.sampled_from([0.0, 0.5, 1.25]))
        lp[m] = mean_lp + centred_lp
        centred_adv = _zero_sum(draw, k, [0.0, 0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0])
        adv[m] = draw(st.sampled_from([0.0, 0.5, -0.5, 1.0]), label="mean_advantage") + centred_adv
    else:
        lp = draw(log_probs(shape, dtype), label="log_prob")
        if draw(st.booleans()):
            pool = [0.0, 1.0, -1.0, *draw(st.lists(st.floats(-3.0, 3.0, allow_nan=False, width=16), min_size=1,
                                                    max_size=3))]
            adv = np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)), dtype=np.float64)
            adv = representable(adv.reshape(shape), dtype)
        else:
            adv = draw(advantages(shape, dtype), label="advantages")
    if not exact and draw(st.integers(0, 4)) == 0:
        old = draw(log_probs(shape, dtype), label="old_log_prob")
    else:
        delta = np.array(draw(st.lists(st.sampled_from(LOG_RATIOS), min_size=n, max_size=n)), dtype=np.float64)
        old = representable(lp - delta.reshape(shape), dtype)
    return {"log_prob": representable(lp, dtype), "old_log_prob": old, "advantages": representable(adv, dtype),
            "mask": m}


def params(draw: st.DrawFn, spec: MethodSpec, **fixed: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name in fixed:
            out[p.name] = fixed[p.name]
        elif p.drawn:
            out[p.name] = draw(param_value(p), label=p.name)
    return out


def case(inputs: dict[str, Any], params: dict[str, Any]) -> Case:
    shape = np.shape(inputs["mask"])
    return Case(inputs, params, {"B": shape[0], "T": shape[1]} if len(shape) == 2 else {})
