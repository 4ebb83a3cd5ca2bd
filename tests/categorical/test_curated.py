"""The curated hard cases of the ``categorical`` family: every ``expected`` (derived by hand or with
mpmath, as each case's ``why`` says, never by running our code) is reproduced by the reference, and
every method has 3-6 curated cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conformance.cases import Curated, curated_for
from conformance.checks import invoke
from spec.registry import all_specs, get

IDS = sorted(s.id for s in all_specs() if s.family == "categorical")
CASES = [(mid, c) for mid in IDS for c in curated_for(mid)]


def _array(x: Any) -> Any:
    if x is None:
        return None
    a = np.asarray(x)
    return a if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)


@pytest.mark.parametrize("mid", IDS)
def test_every_method_has_curated_cases(mid: str) -> None:
    cases = curated_for(mid)
    assert 3 <= len(cases) <= 6
    assert all(c.expected is not None and c.why for c in cases)


@pytest.mark.parametrize(("mid", "case"), CASES, ids=[f"{m}-{c.name}" for m, c in CASES])
def test_reference_reproduces_curated_expectation(mid: str, case: Curated) -> None:
    from reference import categorical as R

    spec = get(mid)
    inputs = {k: _array(v) for k, v in case.inputs.items()}
    outputs = invoke(getattr(R, mid), spec, inputs, dict(case.params))
    assert case.expected is not None
    for out_spec, got in zip(spec.outputs, outputs, strict=False):
        want = np.asarray(case.expected[out_spec.name], dtype=np.float64)
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-13, atol=1e-14)
