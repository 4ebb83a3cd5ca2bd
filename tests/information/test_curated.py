"""Every curated ``information`` case carries hand-derived ``expected`` outputs (closed forms stated in its
``why``), and the reference reproduces them; every method has 3–6 of them."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.cases import Curated, curated_for
from conformance.checks import invoke
from reference import information as R
from spec.registry import all_specs

IDS = sorted(s.id for s in all_specs() if s.family == "information")
CASES = [(m, c) for m in IDS for c in curated_for(m)]


@pytest.mark.parametrize("method_id", IDS)
def test_three_to_six_curated_cases(method_id: str) -> None:
    cases = curated_for(method_id)
    assert 3 <= len(cases) <= 6
    assert all(c.expected is not None and c.why for c in cases)


@pytest.mark.parametrize(("method_id", "case"), CASES, ids=[f"{m}:{c.name}" for m, c in CASES])
def test_reference_reproduces_hand_derived_expected(method_id: str, case: Curated) -> None:
    from spec.registry import get

    assert case.expected is not None
    spec = get(method_id)
    out = invoke(getattr(R, method_id), spec, dict(case.inputs), {**spec.defaults(), **dict(case.params)})
    for k, o in enumerate(spec.outputs):
        expected = np.asarray(case.expected[o.name], dtype=np.float64)
        got = np.asarray(out[k], dtype=np.float64)
        assert got.shape == expected.shape, f"{case.name}: shape {got.shape} != {expected.shape}"
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=case.name)
