"""Case strategies and curated hard cases of the ``categorical`` plug-in estimators.

* ``plugin_entropy_log2``: the clamp ``eps`` at the code's 1e-5, log-uniform in (1e-8, 0.3), 0 (the
  exact entropy) or large (up to 1, where clamping dominates); probabilities generic (exact zeros,
  one-hot rows), so the clamp is active in most draws and inactive in some rows.
* ``hellinger_distance``: generic (no override).
* ``plugin_mutual_information_categorical``: the generic non-negative tables (zeros, all-zero tables in
  batches) with the log base drawn like the other categorical methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.categorical._common import base_param, interior, regime
from conformance.strategies import Case, dims_for, generic_case, weights
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]


@st.composite
def _pe(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    kind = regime(draw, [(2, "code"), (3, "interior"), (1, "zero"), (1, "large")], "eps_kind")
    if kind == "code":
        eps = 1e-5
    elif kind == "zero":
        eps = 0.0
    elif kind == "large":
        eps = interior(draw, 0.3, 1.0, "eps_large")
    else:
        eps = interior(draw, 1e-8, 0.3, "eps", log=True)
    case.params["eps"] = eps
    return case


@st.composite
def _mi(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    case.params["base"] = base_param(draw)
    return case


CASES: dict[str, Callable[..., Any]] = {
    "plugin_entropy_log2": _pe,
    "plugin_mutual_information_categorical": _mi,
}

# mpmath (40 digits), rounded to float64
CLAMPED_HALF = 1.0003321928094887  # 1 − 2·1e-5·log2(1e-5): two clamped zeros add mass
MI_1102 = 0.2157615543388357  # ¼ ln 2 + ¼ ln(2/3) + ½ ln(4/3)

CURATED: dict[str, tuple[Curated, ...]] = {
    "plugin_entropy_log2": (
        Curated("clamped_zeros", "uniform over 4 gives 2 bits; (½, ½, 0, 0) gives 1 + 2·(−1e-5 log2 1e-5): the "
                "clamp adds mass (the code's baseline is not an entropy there)",
                {"probs": [[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]]}, {"eps": 1e-5, "reduction": "none"},
                expected={"entropy": [2.0, CLAMPED_HALF]}),
        Curated("mean_of_rows", "the code's .mean() over rows: (2 + 1.000332…)/2 (mpmath)",
                {"probs": [[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]]}, {"eps": 1e-5, "reduction": "mean"},
                expected={"entropy": 1.5001660964047444}),
        Curated("eps_zero", "eps = 0: the exact entropy in bits, 0 log 0 = 0 (torch clamp(0)·log2 0 would be NaN)",
                {"probs": [[1.0, 0.0], [0.5, 0.5]]}, {"eps": 0.0, "reduction": "none"},
                expected={"entropy": [0.0, 1.0]}),
    ),
    "hellinger_distance": (
        Curated("disjoint_and_identical", "disjoint supports give exactly 1; identical rows 0",
                {"p": [[1.0, 0.0, 0.0], [0.25, 0.25, 0.5]], "q": [[0.0, 0.5, 0.5], [0.25, 0.25, 0.5]]},
                expected={"distance": [1.0, 0.0]}),
        Curated("half_overlap", "p = (1, 0), q = (½, ½): BC = √½, H = sqrt(1 − √½) (mpmath)",
                {"p": [[1.0, 0.0]], "q": [[0.5, 0.5]]}, expected={"distance": [0.541196100146197]}),
        Curated("near_identical", "q = p ± 2^-20: 1 − BC ~ 4.5e-13 loses ~4 digits to cancellation; "
                "‖√p − √q‖/√2 (mpmath, 50 digits) keeps them",
                {"p": [[0.5, 0.5]], "q": [[0.5 + 2.0**-20, 0.5 - 2.0**-20]]},
                expected={"distance": [6.743495761746878e-07]}),
    ),
    "plugin_mutual_information_categorical": (
        Curated("diagonal_bits", "Y = X uniform over 2: MI = ln 2 nats = 1 bit",
                {"counts": [[2.0, 0.0], [0.0, 2.0]]}, {"base": 2.0}, expected={"mi": 1.0}),
        Curated("independent_and_empty", "a product table gives 0; an all-zero table (no sample) 0; a single "
                "row 0", {"counts": [[[1.0, 2.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]], [[3.0, 1.0], [0.0, 0.0]]]},
                {"base": None}, expected={"mi": [0.0, 0.0, 0.0]}),
        Curated("hand", "[[1, 1], [0, 2]]: ¼ ln 2 + ¼ ln(2/3) + ½ ln(4/3) (mpmath)",
                {"counts": [[1.0, 1.0], [0.0, 2.0]]}, {"base": None}, expected={"mi": MI_1102}),
    ),
}


# --------------------------------------------------------------------------- jensen_shannon_groups


@st.composite
def _jsg(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    """Two groups (the catalogue's JSD(P, Q)) in half of the draws, else G in 1..4; in a quarter of
    the draws one group's histogram is emptied (left out by the method)."""
    dims = draw(dims_for(spec, small=small))
    if regime(draw, [(1, "two"), (1, "any")], "groups") == "two":
        dims["G"] = 2
    shape = (*tuple(int(d) for d in dims.get("...", ())), int(dims["G"]), int(dims["K"]))
    c = draw(weights(shape, dtype), label="counts")
    if regime(draw, [(3, "full"), (1, "empty")], "empty_group") == "empty" and c.size and shape[-2] > 1:
        c = c.copy()
        c[..., int(draw(st.integers(0, shape[-2] - 1), label="empty_index")), :] = 0.0
    params = {"weights": regime(draw, [(2, "uniform"), (1, "size")], "weights"), "base": base_param(draw)}
    return Case({"counts": c}, params, dims)


CASES["jensen_shannon_groups"] = _jsg

CURATED["jensen_shannon_groups"] = (
    Curated("disjoint_two_groups_bits", "two groups on disjoint bins: ½KL + ½KL = ln 2 nats = 1 bit, whatever "
            "the group sizes (uniform weights)", {"counts": [[1.0, 0.0], [0.0, 3.0]]},
            {"weights": "uniform", "base": 2.0}, expected={"js": 1.0}),
    Curated("disjoint_size_weights", "the same with size weights (¼, ¾): I(group; bin) = H(¼, ¾) (mpmath)",
            {"counts": [[1.0, 0.0], [0.0, 3.0]]}, {"weights": "size", "base": None},
            expected={"js": 0.5623351446188083}),
    Curated("three_disjoint", "three groups on disjoint bins: ln 3 (uniform weights)",
            {"counts": [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]]}, {"weights": "uniform", "base": None},
            expected={"js": 1.0986122886681098}),
    Curated("empty_group_left_out", "an empty group is left out: JS((½, ½), (¼, ¾)) (mpmath); a single "
            "non-empty group gives 0",
            {"counts": [[[2.0, 2.0], [0.0, 0.0], [1.0, 3.0]], [[0.0, 0.0], [4.0, 1.0], [0.0, 0.0]]]},
            {"weights": "uniform", "base": None}, expected={"js": [0.03382207556860523, 0.0]}),
)
