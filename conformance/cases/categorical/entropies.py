"""Case strategies of the ``categorical`` entropies.

Parameters are drawn mostly from the interior where the method is non-trivial, edges a minority:
Rényi ``alpha`` and Tsallis ``q`` cover the limits (0, 1, inf) and both sides of 1; the temperature
is log-uniform in [0.1, 10] with extreme values a minority; top-p ``p`` cuts mid-distribution in
~85% of draws and ``k`` is bounded by the drawn vocabulary size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.categorical._common import base_param, interior, lifted_case, regime
from conformance.strategies import Case, generic_case, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]


def _entropy(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("probs",), lambda draw, small: {"base": base_param(draw)})


def _temperature(draw: st.DrawFn, small: bool) -> dict[str, Any]:
    if small:  # SymPy's lambdified derivative of exp((z_i − z_r)/T) is not evaluable for T ~ 1e-300
        return {"temperature": draw(st.sampled_from([0.125, 0.5, 1.0, 1.5, 8.0]), label="temperature")}
    kind = regime(draw, [(2, "one"), (6, "interior"), (1, "tiny"), (1, "huge")], "temperature_kind")
    if kind == "one":
        return {"temperature": 1.0}
    if kind == "tiny":
        return {"temperature": draw(st.sampled_from([1e-3, 1e-8, 1e-30]), label="temperature")}
    if kind == "huge":
        return {"temperature": draw(st.sampled_from([1e3, 1e8]), label="temperature")}
    return {"temperature": interior(draw, 0.1, 10.0, "temperature", log=True)}


def _entropy_from_logits(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, (), _temperature)


def _alpha(draw: st.DrawFn, small: bool) -> dict[str, Any]:
    kind = regime(draw, [(5, "below_one"), (5, "above_one"), (4, "one"), (3, "inf"), (3, "zero")], "alpha_kind")
    value = {"one": 1.0, "inf": math.inf, "zero": 0.0}.get(kind)
    if value is None:
        value = interior(draw, 0.05, 0.95, "alpha") if kind == "below_one" else interior(draw, 1.05, 8.0, "alpha")
    return {"alpha": value}


def _renyi(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("probs",), _alpha)


def _q(draw: st.DrawFn, small: bool) -> dict[str, Any]:
    kind = regime(draw, [(5, "below_one"), (5, "above_one"), (3, "one"), (2, "two"), (2, "zero")], "q_kind")
    value = {"one": 1.0, "two": 2.0, "zero": 0.0}.get(kind)
    if value is None:
        value = interior(draw, 0.05, 0.95, "q") if kind == "below_one" else interior(draw, 1.05, 6.0, "q")
    return {"q": value}


def _tsallis(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("probs",), _q)


@st.composite
def _top_p(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    z = np.asarray(case.inputs["logits"], dtype=np.float64)
    v = int(z.shape[-1])
    kind = regime(draw, [(17, "interior"), (2, "one"), (1, "zero")], "p_kind")
    case.params["p"] = interior(draw, 0.05, 0.95, "p") if kind == "interior" else (1.0 if kind == "one" else 0.0)
    # k bounded by the drawn V: mostly below the p cut (the top-k stage decides), sometimes any, sometimes None
    k_kind = regime(draw, [(4, "small"), (2, "none"), (2, "any")], "k_kind")
    case.params["k"] = None if k_kind == "none" else draw(st.integers(1, max(1, v // 2) if k_kind == "small" else v),
                                                          label="k")
    if small and z.size:
        # Gradient cases: no tied logits. A tie at the cut makes the support jump between tied tokens
        # (a kink whose one-sided slopes are too small for the finite-difference kink detector).
        z = representable(z + np.arange(v) / 8.0, dtype)
        rows = z.reshape(-1, v)
        assume(all(len(set(r[np.isfinite(r)].tolist())) == int(np.isfinite(r).sum()) for r in rows))
        case.inputs["logits"] = z
    return case


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "entropy": _entropy,
    "entropy_from_logits": _entropy_from_logits,
    "renyi_entropy": _renyi,
    "tsallis_entropy": _tsallis,
    "top_p_renormalized_entropy": _top_p,
}


LN2 = 0.6931471805599453  # mpmath, 40 digits, rounded to float64 (as every literal below)
LN3 = 1.0986122886681098
INF = math.inf
NINF = -math.inf

CURATED: dict[str, tuple[Curated, ...]] = {
    "entropy": (
        Curated("one_hot_and_uniform_bits", "one-hot gives 0 and uniform over 4 gives exactly 2 bits (log2 4)",
                {"probs": [[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]}, {"base": 2.0},
                expected={"entropy": [0.0, 2.0]}),
        Curated("zero_mid_row", "an exact zero between positive entries: 0 log 0 = 0; H = 1.5 ln 2 by hand",
                {"probs": [[0.5, 0.0, 0.25, 0.25]]}, {"base": None}, expected={"entropy": [1.5 * LN2]}),
        Curated("base_ten", "ln 2 / ln 10 = log10 2 (mpmath)", {"probs": [[0.5, 0.5]]}, {"base": 10.0},
                expected={"entropy": [0.3010299956639812]}),
        Curated("base_below_one", "a base < 1 makes H negative: 1.5 ln 2 / ln 0.5 = -1.5 by hand",
                {"probs": [[0.5, 0.25, 0.25]]}, {"base": 0.5}, expected={"entropy": [-1.5]}),
    ),
    "entropy_from_logits": (
        Curated("masked_half", "two -inf logits of four: the rest is uniform over 2, H = ln 2",
                {"logits": [[0.0, NINF, 0.0, NINF]]}, {"temperature": 1.0}, expected={"entropy": [LN2]}),
        Curated("temperature_half", "T = 0.5 on [0, ln 2]-like logits: y = [0, 2 ln 2], p = [1/5, 4/5]; H by mpmath",
                {"logits": [[0.0, LN2]]}, {"temperature": 0.5}, expected={"entropy": [0.5004024235381879]}),
        Curated("large_tie", "logits ±1e3: a tie of two maxima, the third has e^-2000 (0 in float64): H = ln 2",
                {"logits": [[1000.0, 1000.0, -1000.0]]}, {"temperature": 1.0}, expected={"entropy": [LN2]}),
        Curated("tiny_temperature_tie", "T = 1e-3 with tied maxima: the third entry has e^-500, H = ln 2",
                {"logits": [[1.0, 1.0, 0.5]]}, {"temperature": 1e-3}, expected={"entropy": [LN2]}),
    ),
    "renyi_entropy": (
        Curated("hartley_with_zero", "α = 0 counts the support (3 of 4), not K: ln 3",
                {"probs": [[0.5, 0.0, 0.25, 0.25]]}, {"alpha": 0.0}, expected={"entropy": [LN3]}),
        Curated("shannon_limit", "α = 1 is the Shannon entropy 1.5 ln 2 (by hand)",
                {"probs": [[0.5, 0.0, 0.25, 0.25]]}, {"alpha": 1.0}, expected={"entropy": [1.5 * LN2]}),
        Curated("collision", "α = 2: −ln Σ p² = −ln 0.375 (mpmath)", {"probs": [[0.5, 0.25, 0.25]]}, {"alpha": 2.0},
                expected={"entropy": [0.9808292530117262]}),
        Curated("min_entropy", "α = inf: −ln max p = ln 2", {"probs": [[0.5, 0.25, 0.25]]}, {"alpha": INF},
                expected={"entropy": [LN2]}),
        Curated("half_order", "α = 1/2: 2 ln(√¼ + √¾) (mpmath)", {"probs": [[0.25, 0.75]]}, {"alpha": 0.5},
                expected={"entropy": [0.6238107163648714]}),
        Curated("near_one", "α = 1 + 1e-7: the textbook log Σ p^α / (1 − α) cancels (error ~1e-9); mpmath at 50 "
                "digits", {"probs": [[0.5, 0.25, 0.25]]}, {"alpha": 1.0000001},
                expected={"entropy": [1.0397207648342552]}),
    ),
    "tsallis_entropy": (
        Curated("gini", "q = 2 is the Gini impurity 1 − Σ p² = 0.625 (by hand)", {"probs": [[0.5, 0.25, 0.25]]},
                {"q": 2.0}, expected={"entropy": [0.625]}),
        Curated("support_count", "q = 0 gives |supp| − 1 = 1 with a zero entry (0^0 is not counted)",
                {"probs": [[0.5, 0.0, 0.5]]}, {"q": 0.0}, expected={"entropy": [1.0]}),
        Curated("shannon_limit", "q = 1 is the Shannon entropy ln 2", {"probs": [[0.5, 0.5]]}, {"q": 1.0},
                expected={"entropy": [LN2]}),
        Curated("cubic", "q = 3: (1 − 2·(1/8))/2 = 0.375 (by hand)", {"probs": [[0.5, 0.5]]}, {"q": 3.0},
                expected={"entropy": [0.375]}),
    ),
    "top_p_renormalized_entropy": (
        Curated("cut_mid_excludes_crossing", "π = (.4,.3,.2,.1), p = .75: cumsums .4,.7,.9 — the token reaching p "
                "is excluded (HF nucleus would keep 3); H of (4/7, 3/7) with SIREN's 1e-12 eps (mpmath)",
                {"logits": [[math.log(0.4), math.log(0.3), math.log(0.2), math.log(0.1)]]}, {"p": 0.75, "k": None},
                expected={"entropy": [0.6829081046989246]}),
        Curated("k_before_p", "the same row, p = .95 would keep 3 but k = 2 keeps 2 (mpmath, with eps)",
                {"logits": [[math.log(0.1), math.log(0.2), math.log(0.3), math.log(0.4)]]}, {"p": 0.95, "k": 2},
                expected={"entropy": [0.6829081046989246]}),
        Curated("p_one_uniform", "p = 1 on 4 uniform logits: the last cumsum is exactly 1 and is excluded: "
                "3 kept, H = ln 3 less the eps effect (mpmath)", {"logits": [[0.0, 0.0, 0.0, 0.0]]},
                {"p": 1.0, "k": None}, expected={"entropy": [1.0986122886649783]}),
        Curated("ties_at_cut", "8 tied logits, p = 0.4: cumsums j/8 < 0.4 keep 3 of the tied tokens (mpmath)",
                {"logits": [[2.0] * 8]}, {"p": 0.4, "k": None}, expected={"entropy": [1.0986122886648466]}),
        Curated("empty_support", "max π = e^5/(e^5 + 1) >= p = 0.5 with a -inf entry: S is empty, H = 0",
                {"logits": [[5.0, NINF, 0.0]]}, {"p": 0.5, "k": None}, expected={"entropy": [0.0]}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


def scipy_entropy() -> Callable[..., Any]:
    from scipy.stats import entropy

    return entropy  # type: ignore[no-any-return]


def torch_categorical_entropy() -> Callable[..., Any]:
    from torch.distributions import Categorical

    def entropy(probs: Any, *, base: None = None) -> Any:
        dist: Any = Categorical(probs=probs, validate_args=False)
        return dist.entropy()

    return entropy


def torch_categorical_logits_entropy() -> Callable[..., Any]:
    from torch.distributions import Categorical

    def entropy_from_logits(logits: Any, *, temperature: float = 1.0) -> Any:
        dist: Any = Categorical(logits=logits, validate_args=False)
        return dist.entropy()

    return entropy_from_logits


def verl_entropy_from_logits() -> Callable[..., Any]:
    from verl.utils.torch_functional import entropy_from_logits as verl_entropy

    def entropy_from_logits(logits: Any, *, temperature: float = 1.0) -> Any:
        return verl_entropy(logits)

    return entropy_from_logits


PEERS = {
    "entropy": (
        Peer("scipy.stats.entropy", "scipy", scipy_entropy, params={"axis": -1},
             reading="scipy renormalises p silently; on simplex inputs the values agree"),
        Peer("torch.distributions.Categorical(probs).entropy", "torch", torch_categorical_entropy,
             backend="torch-cpu", dtypes=("float64", "float32"), params={"base": None}, expect="differs",
             reading="values agree; the gradient differs by design: Categorical(probs=p) divides p by its sum, so "
                     "autograd gives the gradient of H(p/Σp) (projected onto the simplex), not ∂H/∂p of the "
                     "formula; use Categorical(logits=...) or a plain -Σ p log p when the raw gradient matters"),
    ),
    "entropy_from_logits": (
        Peer("torch.distributions.Categorical(logits).entropy", "torch", torch_categorical_logits_entropy,
             backend="torch-cpu", dtypes=("float64",), params={"temperature": 1.0}),
        Peer("torch.distributions.Categorical(logits).entropy [float32]", "torch", torch_categorical_logits_entropy,
             backend="torch-cpu", dtypes=("float32",), params={"temperature": 1.0}, expect="differs",
             reading="torch normalises the logits as z − logsumexp(z) in the input dtype: at |z| ~ 1e3 float32 keeps "
                     "only ~4 digits of the entropy (ours subtracts the row max first and accumulates in float32 "
                     "from the shifted logits); float64 agrees"),
        Peer("verl.utils.torch_functional.entropy_from_logits", "verl", verl_entropy_from_logits,
             backend="torch-cpu", dtypes=("float64",), params={"temperature": 1.0},
             accept=("entropy_from_logits:neginf_row_nan",), expect="conventions",
             reading="verl's logsumexp(z) − Σ softmax(z)·z is NaN on rows with masked (−inf) logits, which "
                     "vocabulary masking produces; the entropy of such a row is defined (0·log 0 = 0)"),
        Peer("verl.utils.torch_functional.entropy_from_logits [float32]", "verl", verl_entropy_from_logits,
             backend="torch-cpu", dtypes=("float32",), params={"temperature": 1.0},
             accept=("entropy_from_logits:neginf_row_nan",), expect="differs",
             reading="logsumexp(z) − Σ softmax(z)·z cancels in float32 at large |z| (|z| ~ 1e3 leaves ~4 digits); "
                     "ours works on z − max z"),
    ),
}
