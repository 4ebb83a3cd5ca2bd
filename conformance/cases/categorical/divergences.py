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

from collections.abc import Callable

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases.categorical._common import base_param, lead_shape, lift, lifted_case, regime
from conformance.strategies import Case, dims_for, generic_case, logits, probs, representable
from spec.model import MethodSpec

__all__ = ["CASES"]


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
