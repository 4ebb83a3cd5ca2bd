"""Case strategies and curated cases of the ``entropy_control`` group (SIREN, EPO).

Entropies are drawn on a dyadic grid (multiples of 1/8 in [0, 4], exact in every dtype) with ties, exact
zeros (padding entropy is 0 in the official rmpad path) and, at times, large padding entropies (the code's
unrestricted mask keeps them) or negative values (the only inputs on which SIREN's second mask changes the
kept set). Quantiles include the code's 0.8, the ends 0 and 1 and values whose ``q·(n − 1)`` is fractional.

The gradient draws (``small``) of ``siren_entropy_loss`` never self-anchor (``anchor`` and ``old_entropy``
both None): the anchor is then a *detached* function of the differentiated ``entropy`` itself, which
central differences of the reference cannot hold fixed; that regime is covered by the values and
properties draws (and the first_step_self_anchor property).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import case, dims, params, seq_mask
from conformance.strategies import Case
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]


def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


@st.composite
def entropies(draw: st.DrawFn, shape: tuple[int, ...], mask: Any, negative: bool = True) -> Any:
    n = int(np.prod(shape))
    grid = draw(st.sampled_from(["fine", "coarse"]))
    top = 32 if grid == "fine" else 4
    h = np.array(draw(st.lists(st.integers(0, top), min_size=n, max_size=n)), dtype=np.float64).reshape(shape)
    h = h / 8.0 if grid == "fine" else h / 2.0
    style = draw(st.integers(0, 5))
    if style == 0:
        h = np.where(mask, h, 0.0)  # padding entropy 0 (rmpad)
    elif style == 1:
        h = np.where(mask, h, 6.0)  # large padding entropies
    elif style == 2 and negative:
        h = h - 2.0  # negative values: the double mask can differ
    return h


def quantiles() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.8, 0.8, 0.0, 1.0, 0.5, 0.3, 0.9, 0.25]),
                     st.integers(1, 15).map(lambda k: k / 16.0))


def peak_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        shape = dims(draw, small)
        m = draw(seq_mask(shape), label="mask")
        h = draw(entropies(shape, m), label="entropy")
        return case({"entropy": h, "mask": m}, params(draw, spec, quantile=draw(quantiles(), label="quantile")))
    return build()


def siren_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        shape = dims(draw, small)
        m = draw(seq_mask(shape), label="mask")
        h = draw(entropies(shape, m), label="entropy")
        state = draw(st.sampled_from(["anchor", "old", "self"] if not small else ["anchor", "old"]), label="state")
        inputs: dict[str, Any] = {"entropy": h, "mask": m, "anchor": None, "old_entropy": None}
        if state == "anchor":
            inputs["anchor"] = np.array(draw(st.integers(-4, 24), label="anchor") / 8.0)
        elif state == "old":
            inputs["old_entropy"] = draw(entropies(shape, m, negative=False), label="old_entropy")
        coef = draw(st.sampled_from([1.0, 0.005, 2.0, 0.0]), label="coef")
        return case(inputs, params(draw, spec, quantile=draw(quantiles(), label="quantile"), coef=coef))
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "peak_entropy_quantile_mask": peak_cases,
    "siren_entropy_loss": siren_cases,
}

_ROW = _a([[0.1, 0.5, 0.3, 0.9, 0.2, 0.7]])
_FULL6 = np.ones((1, 6), dtype=bool)
_PAD = _a([[0.5, 1.0, 3.0]])
_PADM = np.array([[True, True, False]])

CURATED: dict[str, tuple[Curated, ...]] = {
    "peak_entropy_quantile_mask": (
        Curated("bound on an order statistic, tie excluded",
                "sorted (0.1, 0.2, 0.3, 0.5, 0.7, 0.9), q = 0.8: pos = 0.8·5 = 4 → bound 0.7; strict >: only 0.9 "
                "(index 3) is kept, 0.7 (on the bound) is not", {"entropy": _ROW, "mask": _FULL6}, {},
                {"keep": np.array([[False, False, False, True, False, False]])}),
        Curated("interpolated bound", "(1, 2, 3, 4, 5), q = 0.7: pos = 2.8 → bound 3 + 0.8·1 = 3.8: keep 4 and 5",
                {"entropy": _a([[5.0, 1.0, 4.0, 2.0, 3.0]]), "mask": np.ones((1, 5), dtype=bool)}, {"quantile": 0.7},
                {"keep": np.array([[True, False, True, False, False]])}),
        Curated("padding is not kept (restricted)", "valid (0.5, 1.0), q = 0.5: pos 0.5 → bound 0.75: keep 1.0; "
                "the masked 3.0 > 0.75 is dropped by restrict_to_mask", {"entropy": _PAD, "mask": _PADM},
                {"quantile": 0.5}, {"keep": np.array([[False, True, False]])}),
        Curated("the code keeps padding above the bound", "same row with restrict_to_mask = False (the official "
                "mask_by_quantile): the masked 3.0 > 0.75 is kept", {"entropy": _PAD, "mask": _PADM},
                {"quantile": 0.5, "restrict_to_mask": False}, {"keep": np.array([[False, True, True]])}),
        Curated("all-equal row and empty row keep nothing", "row 0: (2, 2, 2) → bound 2, nothing > 2; row 1 has no "
                "valid token (NaN bound in the code): nothing kept",
                {"entropy": _a([[2.0, 2.0, 2.0], [1.0, 5.0, 0.0]]), "mask": np.array([[1, 1, 1], [0, 0, 0]], bool)},
                {}, {"keep": np.zeros((2, 3), dtype=bool)}),
        Curated("double mask drops a negative value", "(−1, −0.5, −0.25), q = 0.5: pos 1 → bound −0.5: keep −0.25; "
                "second round on (0, 0, −0.25): bound 0 and −0.25 > 0 is false — nothing kept",
                {"entropy": _a([[-1.0, -0.5, -0.25]]), "mask": np.ones((1, 3), dtype=bool)},
                {"quantile": 0.5, "double_mask": True}, {"keep": np.zeros((1, 3), dtype=bool)}),
    ),
    "siren_entropy_loss": (
        Curated("anchor given", "rows (0.1, 0.5, 0.3, 0.9, 0.2, 0.7) and (1, 2, 3, 4, 5, 6), q = 0.8: kept 0.9 and 6 "
                "(bounds 0.7 and 5); H_sel = (0.9 + 6)/2 = 3.45; anchor 3: loss = (0.45)² = 0.2025",
                {"entropy": np.concatenate([_ROW, _a([[1, 2, 3, 4, 5, 6]])]), "mask": np.ones((2, 6), dtype=bool),
                 "anchor": _a(3.0)}, {}, {"loss": _a(0.2025), "anchor": _a(3.0)}),
        Curated("first step anchors at the old policy", "old entropies (2, 4, 6, 8, 10, 12): bound 10, kept 12: "
                "anchor 12; current kept 0.9: loss = coef·(0.9 − 12)² = 0.005·123.21 = 0.61605",
                {"entropy": _ROW, "mask": _FULL6, "old_entropy": _a([[2, 4, 6, 8, 10, 12]])}, {"coef": 0.005},
                {"loss": _a(0.61605), "anchor": _a(12.0)}),
        Curated("self-anchored first step", "no anchor, no old entropies: anchor = H_sel = 0.9, loss 0",
                {"entropy": _ROW, "mask": _FULL6}, {}, {"loss": _a(0.0), "anchor": _a(0.9)}),
        Curated("an empty selected row counts as 0 (the fork)", "row 1 is all-equal (nothing kept): "
                "H_sel = (0.9 + 0)/2 = 0.45 with empty_rows='zero'; anchor 0.9 → loss 0.2025",
                {"entropy": np.concatenate([_ROW, _a([[2.0] * 6])]), "mask": np.ones((2, 6), dtype=bool),
                 "anchor": _a(0.9)}, {}, {"loss": _a(0.2025), "anchor": _a(0.9)}),
        Curated("empty rows excluded (our aggregate)", "same with empty_rows='exclude': H_sel = 0.9 = anchor → 0",
                {"entropy": np.concatenate([_ROW, _a([[2.0] * 6])]), "mask": np.ones((2, 6), dtype=bool),
                 "anchor": _a(0.9)}, {"empty_rows": "exclude"}, {"loss": _a(0.0), "anchor": _a(0.9)}),
        Curated("double mask empties a negative row", "(−1, −0.5, −0.25), q = 0.5: the first mask keeps −0.25, "
                "the second (bound 0 on (0, 0, −0.25)) keeps nothing: H_sel = 0; anchor 1 → loss 1 (one mask would "
                "give (−0.25 − 1)² = 1.5625)", {"entropy": _a([[-1.0, -0.5, -0.25]]),
                "mask": np.ones((1, 3), dtype=bool), "anchor": _a(1.0)}, {"quantile": 0.5},
                {"loss": _a(1.0), "anchor": _a(1.0)}),
    ),
}

# optional inputs absent from a curated case are None (so properties may override them)
CURATED["siren_entropy_loss"] = tuple(
    replace(c, inputs={"anchor": None, "old_entropy": None, **c.inputs}) for c in CURATED["siren_entropy_loss"])
