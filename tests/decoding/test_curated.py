"""The curated hard cases of the ``decoding`` family: each hand-derived ``expected`` matches the
reference (and the accelerated NumPy version), and every method has 3-6 of them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from accelerated import decoding as A
from conformance.cases import Curated, curated_for
from conformance.checks import invoke
from reference import decoding as R
from spec.registry import get

IDS = ["temperature_scale", "top_k_filter", "top_p_filter", "min_p_filter", "typical_filter", "epsilon_filter",
       "eta_filter", "top_h_filter", "sample"]
CASES = [(m, c) for m in IDS for c in curated_for(m)]


@pytest.mark.parametrize("method", IDS)
def test_every_method_has_curated_cases(method: str) -> None:
    assert 2 <= len(curated_for(method)) <= 6


@pytest.mark.parametrize(("method", "case"), CASES, ids=[f"{m}-{c.name}" for m, c in CASES])
@pytest.mark.parametrize("layer", ["reference", "accelerated"])
def test_curated_expected(method: str, case: Curated, layer: str) -> None:
    assert case.expected is not None and case.why
    spec = get(method)
    fn = getattr(R if layer == "reference" else A, method)
    inputs: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in case.inputs.items()}
    got = invoke(fn, spec, inputs, dict(case.params))
    for out, o in zip(spec.outputs, got, strict=True):
        want = np.asarray(case.expected[out.name])
        np.testing.assert_array_equal(np.asarray(o), want, err_msg=f"{method} / {case.name}: {case.why}")
