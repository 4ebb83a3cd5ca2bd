"""Case overrides for the ``decoding`` family.

Only ``temperature_scale`` needs one: the generic builder draws ``temperature`` anywhere in
``(0, 10]`` (tiny values included), and ``z / T`` for ``|z|`` up to 1e3 then overflows float16 /
bfloat16 (and, for subnormal ``T``, even float64) — an IEEE overflow the spec documents, not a
conformance question. Here ``T`` is drawn from ``[1/16, 16]``: dyadic values (``z / T`` exact in
every dtype) and arbitrary floats (rounded in the output dtype), so ``|z| / T <= 16000`` stays
finite in float16. Gradient cases carry no ``-inf`` logits (see below). The filters use the
generic builder.

``typical_filter`` uses the generic builder with finite logits snapped to a 1/64 grid (then rounded
to the dtype): its order is that of *computed* typicality scores, and logits closer than float32
resolution (0 and 1e-9, found by the deep profile) are ordered differently by float32 and float64
— an ill-conditioned input that no nudge of ``mass`` can reconcile. On the grid, distinct logits
differ by at least 1/64, far above float32 round-off at the drawn magnitudes.

``sample`` uses the generic builder restricted to at least one batch dimension: with no batch
dimension ``uniforms`` is 0-d, and ``conformance.backends.Backend.asarray`` turns 0-d arrays into
shape ``(1,)`` on Torch (``np.ascontiguousarray`` promotes 0-d to 1-d), which the shape check
rightly rejects. Drop the restriction once the backend keeps 0-d arrays 0-d.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.strategies import Case, dims_for, generic_case, logits, representable
from spec.model import MethodSpec

__all__ = ["CASES"]

_DYADIC = [2.0**e for e in range(-4, 5)]


@st.composite
def _temperature_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    shape = (*dims["..."], int(dims["V"]))
    # gradient cases (small=True) have no -inf: the harness's finite differences sum outputs times a
    # cotangent, and a -inf output entry makes every difference NaN.
    z = draw(logits(shape, dtype, allow_neg_inf=not small), label="logits")
    t = draw(st.one_of(st.sampled_from(_DYADIC), st.floats(1.0 / 16.0, 16.0, allow_nan=False)), label="temperature")
    return Case({"logits": z}, {"temperature": float(t)}, dims)


def _sample_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return generic_case(spec, dtype, small).filter(lambda c: c.inputs["logits"].ndim >= 2)


def _snap(case: Case, dtype: str) -> Case:
    z = np.asarray(case.inputs["logits"], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        snapped = np.where(np.isfinite(z), np.round(z * 64.0) / 64.0, z)
    return case.replace(logits=representable(snapped, dtype))


def _typical_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return generic_case(spec, dtype, small).map(lambda c: _snap(c, dtype))


CASES: dict[str, Callable[..., Any]] = {
    "temperature_scale": _temperature_case,
    "typical_filter": _typical_case,
    "sample": _sample_case,
}
