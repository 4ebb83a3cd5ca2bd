"""Case strategies of the ``categorical`` divergences.

* ``kl_divergence``: q positive on p's support (finite KL) in most draws; in a quarter of them q is
  set to 0 on part of p's support (KL = +inf), by moving that mass to another category (dyadic, so
  q stays exactly on the simplex in every dtype). Gradient cases keep q > 0 and lift both inputs.
* ``kl_divergence_from_logits``: ``logits_q`` is a perturbation of ``logits_p`` (close distributions,
  small KL), independent, or masked (-inf) where ``logits_p`` is finite (+inf). Gradient cases draw
  ``logits_q`` without -inf.
* ``js_divergence``: both inputs generic; the log base mostly nats/bits with interior bases a minority
  (the output scale carries 1/|log base|).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.categorical._common import base_param, lead_shape, lift, lifted_case, regime
from conformance.strategies import Case, dims_for, generic_case, logits, probs, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]


@st.composite
def _kl_divergence(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    shape = (*lead_shape(dims), int(dims["V"]))
    p = draw(probs(shape, dtype), label="p")
    if small:
        q = draw(probs(shape, dtype, positive=True), label="q")
        # probs(positive=True) can still return one-hot rows: keep gradient cases finite
        assume(not bool(np.any((p > 0) & (q == 0))))
        return Case({"p": lift(p, dtype), "q": lift(q, dtype)}, {}, dims)
    kind = regime(draw, [(3, "positive"), (1, "holes")], "q_kind")
    q = draw(probs(shape, dtype, positive=kind == "positive"), label="q")
    if kind == "holes" and p.size and shape[-1] > 1:
        # q = 0 on one category of p's support per row: its mass moves to the next category (exact sums)
        rows_p, rows_q = p.reshape(-1, shape[-1]), q.reshape(-1, shape[-1]).copy()
        for r in range(rows_q.shape[0]):
            j = int(np.argmax(rows_p[r]))
            other = (j + 1) % shape[-1]
            rows_q[r, other] += rows_q[r, j]
            rows_q[r, j] = 0.0
        q = rows_q.reshape(shape)
    return Case({"p": p, "q": q}, {}, dims)


@st.composite
def _kl_from_logits(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    a = np.asarray(case.inputs["logits_p"], dtype=np.float64)
    shape = tuple(a.shape)
    kind = regime(draw, [(2, "independent"), (2, "near")] + ([] if small else [(1, "masked"), (1, "large")]),
                  "q_kind")
    if kind == "near":
        noise = draw(logits(shape, dtype, allow_neg_inf=False, scale=0.5), label="noise")
        b = representable(np.where(np.isfinite(a), a + noise, a), dtype)
    elif kind == "masked" and a.size and shape[-1] > 1:
        b = draw(logits(shape, dtype, allow_neg_inf=False), label="logits_q")
        keep = np.isfinite(a)
        hole = np.argmax(np.where(keep, a, -np.inf), axis=-1)[..., None]  # the mode of p
        b = b.copy()
        np.put_along_axis(b, hole, -np.inf, axis=-1)
    elif kind == "large":
        a = draw(logits(shape, dtype, allow_neg_inf=True, scale=1e3), label="logits_p_large")
        b = draw(logits(shape, dtype, allow_neg_inf=False, scale=1e3), label="logits_q_large")
    else:
        b = draw(logits(shape, dtype, allow_neg_inf=not small), label="logits_q")
    case.inputs["logits_p"], case.inputs["logits_q"] = a, b
    return case


def _js(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return lifted_case(spec, dtype, small, ("p", "q"), lambda draw, small: {"base": base_param(draw)})


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "kl_divergence": _kl_divergence,
    "kl_divergence_from_logits": _kl_from_logits,
    "js_divergence": _js,
}


LN2 = 0.6931471805599453  # mpmath, 40 digits, rounded to float64 (as every literal below)
NINF = -math.inf

CURATED: dict[str, tuple[Curated, ...]] = {
    "kl_divergence": (
        Curated("q_zero_on_support", "q = 0 where p > 0: +inf (scipy rel_entr), never a large finite number",
                {"p": [[0.5, 0.5]], "q": [[1.0, 0.0]]}, expected={"kl": [math.inf]}),
        Curated("p_zero_where_q_positive", "p = 0 contributes 0: KL = 2·½ ln(½/¼) = ln 2 (by hand)",
                {"p": [[0.5, 0.5, 0.0]], "q": [[0.25, 0.25, 0.5]]}, expected={"kl": [LN2]}),
        Curated("asymmetric", "¾ ln(3/2) + ¼ ln(1/2) (mpmath); swapping p and q gives a different value",
                {"p": [[0.75, 0.25]], "q": [[0.5, 0.5]]}, expected={"kl": [0.13081203594113697]}),
        Curated("identical", "KL(p‖p) = 0 exactly", {"p": [[0.125, 0.375, 0.5]], "q": [[0.125, 0.375, 0.5]]},
                expected={"kl": [0.0]}),
    ),
    "kl_divergence_from_logits": (
        Curated("masked_q", "logits_q = -inf where logits_p is finite: +inf",
                {"logits_p": [[0.0, 0.0]], "logits_q": [[0.0, NINF]]}, expected={"kl": [math.inf]}),
        Curated("masked_p", "logits_p = -inf contributes 0: KL(one-hot ‖ uniform 2) = ln 2",
                {"logits_p": [[0.0, NINF]], "logits_q": [[0.0, 0.0]]}, expected={"kl": [LN2]}),
        Curated("large_logits", "logits_p ~ 1e3 (shifted [0, 1]) vs uniform: ln 2 − H(1/(1+e), e/(1+e)) (mpmath); "
                "softmax probabilities in float would lose nothing here, but the logits' size would",
                {"logits_p": [[1000.0, 1001.0]], "logits_q": [[-500.0, -500.0]]},
                expected={"kl": [0.11094407167172736]}),
        Curated("reversed", "a = (0, 1, 2), b = (2, 1, 0): Σ softmax(a)(log_softmax a − log_softmax b) (mpmath)",
                {"logits_p": [[0.0, 1.0, 2.0]], "logits_q": [[2.0, 1.0, 0.0]]}, expected={"kl": [1.150420765208883]}),
    ),
    "js_divergence": (
        Curated("disjoint_bits", "disjoint one-hot rows: JS = ln 2 nats = 1 bit",
                {"p": [[1.0, 0.0]], "q": [[0.0, 1.0]]}, {"base": 2.0}, expected={"js": [1.0]}),
        Curated("partly_disjoint", "m = (¼, ½, ¼): ½KL(p‖m) + ½KL(q‖m) = ½ ln 2 (by hand)",
                {"p": [[0.5, 0.5, 0.0]], "q": [[0.0, 0.5, 0.5]]}, {"base": None}, expected={"js": [LN2 / 2]}),
        Curated("partly_disjoint_base10", "the same in base 10: ½ ln 2 / ln 10 (mpmath)",
                {"p": [[0.5, 0.5, 0.0]], "q": [[0.0, 0.5, 0.5]]}, {"base": 10.0},
                expected={"js": [0.1505149978319906]}),
        Curated("self_base_near_one", "JS(p, p) = 0 at base 1.05 (dividing by ln 1.05 magnifies rounding ~20x)",
                {"p": [[0.25, 0.75]], "q": [[0.25, 0.75]]}, {"base": 1.05}, expected={"js": [0.0]}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


def scipy_rel_entr_sum() -> Callable[..., Any]:
    from scipy.special import rel_entr

    def kl_divergence(p: Any, q: Any) -> Any:
        return rel_entr(p, q).sum(axis=-1)

    return kl_divergence


def torch_kl_div() -> Callable[..., Any]:
    import torch.nn.functional as F

    def kl_divergence(p: Any, q: Any) -> Any:
        return F.kl_div(q.log(), p, reduction="none").sum(-1)

    return kl_divergence


def torch_kl_div_logits() -> Callable[..., Any]:
    import torch.nn.functional as F

    def kl_divergence_from_logits(logits_p: Any, logits_q: Any) -> Any:
        return F.kl_div(F.log_softmax(logits_q, -1), F.log_softmax(logits_p, -1), reduction="none",
                        log_target=True).sum(-1)

    return kl_divergence_from_logits


def scipy_jensenshannon_squared() -> Callable[..., Any]:
    from scipy.spatial.distance import jensenshannon

    def js_divergence(p: Any, q: Any, *, base: float | None = None) -> Any:
        return jensenshannon(p, q, base=base, axis=-1) ** 2

    return js_divergence


PEERS = {
    "kl_divergence": (
        Peer("scipy.special.rel_entr (summed)", "scipy", scipy_rel_entr_sum),
        Peer("torch.nn.functional.kl_div(q.log(), p) (summed)", "torch", torch_kl_div, backend="torch-cpu",
             dtypes=("float64", "float32"), expect="differs",
             reading="kl_div computes p·(log p − log q) with log q = −inf where q = 0: a category with p = q = 0 gives "
                     "0·∞ = NaN; 0·log(0/0) = 0 is the convention of the definition (and of scipy's rel_entr)"),
    ),
    "kl_divergence_from_logits": (
        Peer("torch.nn.functional.kl_div(log_target=True) (summed)", "torch", torch_kl_div_logits,
             backend="torch-cpu", dtypes=("float64", "float32"), expect="differs",
             reading="with log_target=True torch computes exp(t)·(t − s): a −inf logit in both inputs gives "
                     "0·(−inf + inf) = NaN for a category both distributions exclude; its contribution is 0"),
    ),
    "js_divergence": (
        Peer("scipy.spatial.distance.jensenshannon (squared)", "scipy", scipy_jensenshannon_squared,
             expect="differs",
             reading="jensenshannon returns the distance sqrt(JS/...): for p close to q rounding makes the "
                     "divergence slightly negative and sqrt returns NaN (a scipy bug; JS >= 0 by Jensen); ours "
                     "sums p·log(p/m) terms directly, with no square root to fail"),
    ),
}
