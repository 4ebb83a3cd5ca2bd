"""Draws shared by the ``decoding`` case strategies: logits that make truncation non-trivial.

Logits come in four styles (spread reals, exact ties, near-ties resolved by float32, a few large
magnitudes), with ``-inf`` entries in about a third of the cases (never a whole row). Thresholds are
then drawn *from the drawn logits* (see :func:`cut_points`): mostly strictly between two consecutive
cut points of row 0 (the rule cuts mid-distribution), a minority within a relative 1e-4 of a cut
point (a near-tie at the cut, which float32 resolves and bfloat16 accumulation does not), exactly
on a cut point, anywhere in the domain, or at an edge value. Integer parameters are bounded by V.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from conformance.strategies import representable

F64 = npt.NDArray[np.float64]

_V = [5, 4, 6, 3, 7, 8, 9, 5, 6, 4, 2, 1]


@st.composite
def batch_and_vocab(draw: st.DrawFn, *, small: bool = False, min_v: int = 1) -> tuple[tuple[int, ...], int]:
    nd = draw(st.integers(0, 2))
    side = st.integers(1, 2 if small else 3)
    batch = tuple(draw(st.lists(side, min_size=nd, max_size=nd)))
    if nd and not small and draw(st.integers(0, 11)) == 0:
        batch = (*batch[:-1], 0)  # an empty batch, now and then
    v = max(min_v, draw(st.sampled_from(_V[:7] if small else _V)))
    return batch, v


@st.composite
def logits_for(draw: st.DrawFn, shape: tuple[int, ...], dtype: str, *, allow_neg_inf: bool = True) -> F64:
    n = int(np.prod(shape)) if shape else 1
    style = draw(st.sampled_from(["spread", "ties", "near", "spread", "ties", "wide"]))
    if style == "ties":
        vals = np.array(draw(st.lists(st.integers(-4, 4), min_size=n, max_size=n)), dtype=np.float64) / 2.0
    elif style == "near":
        base = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=np.float64)
        offs = np.array(draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n)), dtype=np.float64)
        vals = base + offs * 2.0**-10
    else:
        mag = 3.0 if style == "spread" else draw(st.sampled_from([20.0, 1e3]))
        vals = np.array(draw(st.lists(st.floats(-mag, mag, allow_nan=False, allow_subnormal=False, width=32),
                                      min_size=n, max_size=n)), dtype=np.float64)
    z = representable(vals.reshape(shape), dtype)
    if allow_neg_inf and shape and shape[-1] > 1 and n and draw(st.integers(0, 2)) == 0:
        holes = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))).reshape(shape)
        keep = draw(st.integers(0, shape[-1] - 1))
        holes[..., keep] = False  # one finite entry per row at least
        z = np.where(holes, -np.inf, z)
    return z


def row0(z: F64) -> F64:
    return np.asarray(z.reshape(-1, z.shape[-1])[0]) if z.size else np.zeros(0)


@st.composite
def pick(draw: st.DrawFn, cuts: list[float], low: float, high: float, edges: list[float],
         *, log_scale: bool = False) -> float:
    """A threshold relative to the sorted cut points ``cuts`` (all inside ``(low, high)``).

    Thresholds within ``1e-5 (high - low)`` below the top of the domain (``mass = 1 - 1e-9``) are moved
    to that distance: there the decision depends on whether a *rounded* total mass reaches the
    threshold (float32 sums of probabilities are exact to ~6e-8 V), so the float64 reference and a
    float32 backend legitimately disagree — an ill-conditioned parameter, avoided here and documented
    (found by ``entropy-atlas calibrate``). The top itself (``p = 1``) is still drawn as an edge.
    """
    return _off_the_top(draw(_pick(cuts, low, high, edges, log_scale=log_scale)), low, high)


def _off_the_top(t: float, low: float, high: float) -> float:
    gap = 1e-5 * (high - low)
    return high - gap if high - gap < t < high else t


@st.composite
def _pick(draw: st.DrawFn, cuts: list[float], low: float, high: float, edges: list[float],
          *, log_scale: bool = False) -> float:
    cuts = sorted(c for c in cuts if low < c < high)
    kind = draw(st.sampled_from(["mid", "mid", "mid", "mid", "near", "mid", "exact", "any", "edge"]))
    if kind == "edge" and edges:
        return float(draw(st.sampled_from(edges)))
    if kind in ("near", "exact") and cuts:
        c = draw(st.sampled_from(cuts))
        if kind == "exact":
            return c
        t = c * (1.0 + draw(st.sampled_from([1e-4, -1e-4, 3e-4, -3e-4])))
        return t if low < t < high else c
    if kind == "mid" and cuts:
        pts = [low, *cuts, high]
        j = draw(st.integers(0, len(pts) - 2))
        a, b = pts[j], pts[j + 1]
        frac = draw(st.floats(0.1, 0.9))
        if log_scale and a > 0:
            return float(np.exp(np.log(a) + frac * (np.log(b) - np.log(a))))
        return a + frac * (b - a)
    frac = draw(st.floats(0.02, 0.98))
    if log_scale and low > 0:
        return float(np.exp(np.log(low) + frac * (np.log(high) - np.log(low))))
    return low + frac * (high - low)


@st.composite
def min_keep(draw: st.DrawFn, v: int) -> int:
    kind = draw(st.integers(0, 4))
    if kind <= 2:
        return 1
    if kind == 3:
        return int(draw(st.integers(min(2, v), max(2, v))))
    return int(draw(st.integers(1, v + 1)))


def probs_sorted(zr: F64) -> F64:
    if zr.size == 0 or not np.isfinite(zr).any():
        return np.zeros(0)
    e = np.exp(zr - np.max(zr))
    return np.asarray(np.sort(e / e.sum())[::-1])


def as_params(**kw: Any) -> dict[str, Any]:
    return dict(kw)
