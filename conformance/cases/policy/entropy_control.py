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


def phase_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    """Epochs (integers mostly, quarters at times) around [0, K] for small and default K, hitting h = K//2."""
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        k = draw(st.sampled_from([150, 150, 10, 7, 4, 2, 1, 0, 21]), label="max_epochs")
        n = draw(st.integers(1, 4 if small else 8))
        ints = st.integers(-3, k + 3)
        vals = draw(st.lists(st.one_of(ints, ints.map(lambda v: v + 0.25), st.just(k // 2)), min_size=n, max_size=n))
        e = np.array(vals, dtype=np.float64)
        ls = draw(st.sampled_from([2.0, 2.0, 0.5, 10.0, 0.0]), label="lambda_slow")
        lf = draw(st.sampled_from([3.0, 3.0, 1.0, 20.0, 0.0]), label="lambda_fast")
        return Case({"epoch": e}, {"max_epochs": k, "lambda_slow": ls, "lambda_fast": lf}, {"...": e.shape})
    return build()


def penalty_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    """Dyadic entropies and histories with ratios that put entropies exactly on band edges at times."""
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        b, t = dims(draw, small)
        m = draw(seq_mask((b, t)), label="mask")
        h = draw(entropies((b, t), m, negative=False), label="entropy")
        s = draw(st.integers(1, 4))
        hist = np.array(draw(st.lists(st.sampled_from([1.0, 1.25, 2.0, 0.5, 1.5, 0.0, 0.75, 2.5]), min_size=s,
                                      max_size=s)), dtype=np.float64)
        steps = np.array(draw(st.lists(st.integers(0, s - 1), min_size=b, max_size=b)), dtype=np.int64)
        lo = draw(st.sampled_from([0.8, 0.8, 0.5, 0.0, 1.0, 0.75]), label="min_ratio")
        hi = draw(st.sampled_from([1.2, 1.2, 1.5, 2.0, 1.25, 1.0]), label="max_ratio")
        inputs = {"entropy": h, "mask": m, "entropy_history": hist, "rollout_step": steps}
        fixed = {"min_ratio": lo, "max_ratio": hi,
                 "weight": draw(st.sampled_from([1.0, 0.5, 0.8]), label="weight"),
                 "out_range_penalty": draw(st.sampled_from([0.1, 0.1, 1.0, 0.25]), label="out_range_penalty")}
        return Case(inputs, params(draw, spec, **fixed), {"B": b, "T": t, "S": s})
    return build()


def epo_loss_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        from conformance.cases.policy._draws import loss_inputs

        inputs = draw(loss_inputs(dtype, small))
        shape = np.shape(inputs["mask"])
        inputs["entropy"] = draw(entropies(shape, inputs["mask"], negative=False), label="entropy")
        pen = draw(st.sampled_from(["none", "mask", "mask"]), label="penalty")
        if pen == "none":
            inputs["penalty"] = None
        else:
            n = int(np.prod(shape))
            inputs["penalty"] = np.array(draw(st.lists(st.sampled_from([0.0, 0.1, 0.05]), min_size=n, max_size=n)),
                                         dtype=np.float64).reshape(shape)
        fixed = {"entropy_coeff": draw(st.sampled_from([0.001, 0.5, 0.0, 1.0]), label="entropy_coeff"),
                 "dual_clip": draw(st.sampled_from([3.0, 3.0, None, 1.5]), label="dual_clip")}
        return case(inputs, params(draw, spec, **fixed))
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "peak_entropy_quantile_mask": peak_cases,
    "siren_entropy_loss": siren_cases,
    "epo_phase_weight": phase_cases,
    "epo_entropy_smoothing_penalty": penalty_cases,
    "epo_policy_loss": epo_loss_cases,
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

_E8 = 0.8 + 0.2 * np.exp(-2.0)  # β(h) = 1 − 0.2(1 − e^{−2})
_H2 = _a([[0.5, 1.0, 1.5], [0.1, 0.9, 2.0]])
_M2 = np.array([[True, True, False], [True, True, True]])
_LPE = _a([[-1.0, -2.0]])

CURATED["epo_phase_weight"] = (
    Curated("the two phases and the jump", "K = 150, h = 75: β(0) = 1; β(75) = 1 − 0.2(1 − e^{−2}) = 0.8 + 0.2e^{−2}; "
            "β(76) = 0.8e^{−3/75}; β(150) = 0.8e^{−3}; clamped: β(200) = β(150), β(−3) = 1",
            {"epoch": _a([0, 75, 76, 150, 200, -3])}, {},
            {"weight": _a([1.0, _E8, 0.8 * np.exp(-3 / 75), 0.8 * np.exp(-3.0), 0.8 * np.exp(-3.0), 1.0])}),
    Curated("first phase midpoint", "K = 10, h = 5, k = 2.5: 1 − 0.2(1 − e^{−1})", {"epoch": _a([2.5])},
            {"max_epochs": 10}, {"weight": _a([1.0 - 0.2 * (1.0 - np.exp(-1.0))])}),
    Curated("K = 1 (h = 0)", "k ≤ 0 → 1 (h = 0); k = 1 → 0.8e^{−3·1/1}", {"epoch": _a([0, 1])}, {"max_epochs": 1},
            {"weight": _a([1.0, 0.8 * np.exp(-3.0)])}),
    Curated("K = 0 disables", "max_epochs ≤ 0 → 1 everywhere", {"epoch": _a([0, 5])}, {"max_epochs": 0},
            {"weight": _a([1.0, 1.0])}),
)
CURATED["epo_entropy_smoothing_penalty"] = (
    Curated("token band", "H̄ = (1, 0.8)[steps (0, 1)]: row 0 band (0.8, 1.2): 0.5 out, 1.0 in, 1.5 masked (0); row 1 "
            "band (0.64, 0.96): 0.1 out, 0.9 in, 2.0 out", {"entropy": _H2, "mask": _M2,
            "entropy_history": _a([1.0, 0.8]), "rollout_step": np.array([0, 1])}, {},
            {"penalty": _a([[0.1, 0.0, 0.0], [0.1, 0.0, 0.1]])}),
    Curated("strict band edge", "H̄ = 1.25: 0.8·1.25 = 1 and 1.2·1.25 = 1.5 exactly; H = 1 and 1.5 sit on the edges "
            "and are penalised, 1.25 is inside", {"entropy": _a([[1.0, 1.25, 1.5]]), "mask": np.ones((1, 3), bool),
            "entropy_history": _a([1.25]), "rollout_step": np.array([0])}, {}, {"penalty": _a([[0.1, 0.0, 0.1]])}),
    Curated("seq mode counts padding in the mean", "row 0: mean over all 3 positions (0.5 + 1 + 1.5)/3 = 1 ∈ "
            "(0.8, 1.2): 0; row 1: mean 1.0 ∉ (0.64, 0.96): 0.1 on every valid token",
            {"entropy": _H2, "mask": _M2, "entropy_history": _a([1.0, 0.8]), "rollout_step": np.array([0, 1])},
            {"mask_mode": "seq"}, {"penalty": _a([[0.0, 0.0, 0.0], [0.1, 0.1, 0.1]])}),
    Curated("seq mode over valid tokens with the phase weight", "row 0 valid mean 0.75 ∉ (0.8, 1.2): 0.5·0.1 = 0.05",
            {"entropy": _H2, "mask": _M2, "entropy_history": _a([1.0, 0.8]), "rollout_step": np.array([0, 1])},
            {"mask_mode": "seq", "seq_mean": "valid", "weight": 0.5},
            {"penalty": _a([[0.05, 0.05, 0.0], [0.05, 0.05, 0.05]])}),
    Curated("zero history penalises everything", "H̄ = 0: the band (0, 0) is empty", {"entropy": _a([[0.0, 1.0]]),
            "mask": np.ones((1, 2), bool), "entropy_history": _a([0.0]), "rollout_step": np.array([0])}, {},
            {"penalty": _a([[0.1, 0.1]])}),
)
CURATED["epo_policy_loss"] = (
    Curated("ρ = 1, no penalty", "token-mean: PPO = mean(−A) = −(1 − 3)/2 = 1; agg H = 1.5; "
            "L = 1 − 0.5·1.5 = 0.25", {"log_prob": _LPE, "old_log_prob": _LPE, "advantages": _a([[1.0, -3.0]]),
            "mask": np.ones((1, 2), bool), "entropy": _a([[1.0, 2.0]]), "penalty": None}, {"entropy_coeff": 0.5},
            {"loss": _a(0.25)}),
    Curated("penalty shifts the value", "as above with P = (0.1, 0): L = 1 − 0.5·(1.5 − 1·0.05) = 0.275",
            {"log_prob": _LPE, "old_log_prob": _LPE, "advantages": _a([[1.0, -3.0]]), "mask": np.ones((1, 2), bool),
             "entropy": _a([[1.0, 2.0]]), "penalty": _a([[0.1, 0.0]])}, {"entropy_coeff": 0.5}, {"loss": _a(0.275)}),
    Curated("dual clip caps a negative advantage", "ρ = e² ≈ 7.39 with A = −1: max(7.39, 1.2) = 7.39 capped at c = 3; "
            "c_H = 0: L = 3", {"log_prob": _a([[-1.0]]), "old_log_prob": _a([[-3.0]]), "advantages": _a([[-1.0]]),
            "mask": np.ones((1, 1), bool), "entropy": _a([[1.0]]), "penalty": None}, {"entropy_coeff": 0.0},
            {"loss": _a(3.0)}),
    Curated("empty mask", "no valid token: 0", {"log_prob": _LPE, "old_log_prob": _LPE, "advantages": _a([[1.0, 2.0]]),
            "mask": np.zeros((1, 2), bool), "entropy": _a([[1.0, 2.0]]), "penalty": None}, {}, {"loss": _a(0.0)}),
)

# optional inputs absent from a curated case are None (so properties may override them)
CURATED["siren_entropy_loss"] = tuple(
    replace(c, inputs={"anchor": None, "old_entropy": None, **c.inputs}) for c in CURATED["siren_entropy_loss"])
