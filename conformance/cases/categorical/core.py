"""Case overrides for the ``categorical`` family (inputs whose relations the spec cannot express).

* ``cross_entropy``: the target is integer class indices in ``[0, V)`` (with ``ignore_index``
  entries, sometimes every row ignored) OR probability vectors of the logits' shape. At least one
  batch dimension (a 0-d integer target becomes 1-d in ``Backend.asarray``).
* ``kl_divergence``: ``q`` usually positive where ``p`` is (finite KL); sometimes not (``+inf``).
  Gradient cases keep ``q > 0`` everywhere.
* ``kl_divergence_from_logits``: gradient cases draw ``logits_q`` without ``-inf`` (the KL would be
  ``+inf``).
* ``entropy_from_logits``: gradient cases keep the temperature in ``[1/8, 8]`` (SymPy's lambdified
  derivative of ``exp((z_i − z_r)/T)`` is not evaluable in double precision for ``T`` ~ 1e-300).
* ``top_p_renormalized_entropy``: gradient cases have no tied logits (the support jumps between
  tied tokens at the cut).
* probability inputs of gradient cases (``entropy``, ``renyi_entropy``, ``tsallis_entropy``,
  ``kl_divergence``, ``js_divergence``) are lifted away from 0 on their support
  (``0.9 p + 0.1/|supp|``): central differences with step 1e-6 are inaccurate next to the ``log p``
  singularity (p ~ 1e-5), and denormal probabilities overflow the lambdified derivatives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.strategies import Case, class_index, dims_for, generic_case, logits, probs, representable, weights
from spec.model import MethodSpec

__all__ = ["CASES"]


def _lift(p: np.ndarray, dtype: str) -> np.ndarray:
    """``0.9 p + 0.1/|supp p|`` on the support of each row (zeros stay zero), rounded to ``dtype``."""
    if p.size == 0:
        return p
    support = p > 0
    lifted = 0.9 * p + 0.1 * support / np.maximum(support.sum(-1, keepdims=True), 1)
    return representable(lifted, dtype)


def _lifted(names: tuple[str, ...]) -> Callable[..., st.SearchStrategy[Case]]:
    @st.composite
    def build(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
        case = draw(generic_case(spec, dtype, small))
        if small:
            for name in names:
                case.inputs[name] = _lift(np.asarray(case.inputs[name], dtype=np.float64), dtype)
        return case

    return build


def _lead(dims: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(d) for d in dims.get("...", ()))


@st.composite
def _cross_entropy(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    v = int(dims["V"])
    lead = _lead(dims)
    if not lead:  # a 0-d class-index target does not survive the backends' np.ascontiguousarray (-> 1-d)
        lead = (1,)
        dims["..."] = lead
    z = draw(logits((*lead, v), dtype, allow_neg_inf=not small), label="logits")
    soft = draw(st.booleans(), label="probability_target")
    if soft:
        target: Any = draw(probs((*lead, v), dtype), label="target")
    else:
        if draw(st.integers(0, 7), label="all_ignored") == 0:
            target = np.full(lead, -100, dtype=np.int64)
        else:
            target = draw(class_index(lead, v), label="target")
    weight = draw(st.one_of(st.none(), weights((v,), dtype)), label="weight")
    params = {
        "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]), label="label_smoothing"),
        "reduction": draw(st.sampled_from(["none", "mean", "sum"]), label="reduction"),
    }
    return Case({"logits": z, "target": target, "weight": weight}, params, dims)


@st.composite
def _kl_divergence(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    shape = (*_lead(dims), int(dims["V"]))
    p = draw(probs(shape, dtype), label="p")
    positive = small or draw(st.integers(0, 4), label="q_zeros") > 0
    q = draw(probs(shape, dtype, positive=positive), label="q")
    if small:  # probs(positive=True) can still return one-hot rows: keep gradient cases finite
        assume(not bool(np.any((p > 0) & (q == 0))))
        p, q = _lift(p, dtype), _lift(q, dtype)
    return Case({"p": p, "q": q}, {}, dims)


@st.composite
def _kl_from_logits(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    if small:
        b = case.inputs["logits_q"]
        case.inputs["logits_q"] = draw(logits(tuple(b.shape), dtype, allow_neg_inf=False), label="logits_q")
    return case


@st.composite
def _entropy_from_logits(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    if small:
        case.params["temperature"] = draw(st.sampled_from([0.125, 0.5, 1.0, 1.5, 8.0]), label="temperature")
    return case


@st.composite
def _top_p(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    case = draw(generic_case(spec, dtype, small))
    z = np.asarray(case.inputs["logits"], dtype=np.float64)
    if small and z.size:
        # Gradient cases: no tied logits. A tie at the cut makes the support jump between tied tokens
        # (a kink whose one-sided slopes are too small for the finite-difference kink detector).
        z = representable(z + np.arange(z.shape[-1]) / 8.0, dtype)
        rows = z.reshape(-1, z.shape[-1])
        assume(all(len(set(r[np.isfinite(r)].tolist())) == int(np.isfinite(r).sum()) for r in rows))
        case.inputs["logits"] = z
    return case


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "cross_entropy": _cross_entropy,
    "kl_divergence": _kl_divergence,
    "kl_divergence_from_logits": _kl_from_logits,
    "entropy_from_logits": _entropy_from_logits,
    "entropy": _lifted(("probs",)),
    "renyi_entropy": _lifted(("probs",)),
    "tsallis_entropy": _lifted(("probs",)),
    "js_divergence": _lifted(("p", "q")),
    "top_p_renormalized_entropy": _top_p,
}
