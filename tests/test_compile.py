"""Validation does not stand in the way of a training loop: every accelerated method traces with
``torch.compile(fullgraph=True)`` in unchecked mode (no data-dependent ``bool(tensor)``, no host sync),
and the compiled function returns what the eager one returns.

The ``eager`` compile backend is used: it runs Dynamo's full-graph capture (which is what fails on a
graph break) without spending minutes in Inductor's code generation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import spec
from conformance.backends import get_backend
from conformance.checks import invoke
from conformance.runner import Job, job_cases
from spec.validate import unchecked

SPECS = list(spec.all_specs())


def _case(s: spec.MethodSpec) -> Any:
    job = Job(s, get_backend("torch-cpu"), "float32", "values")
    for case in job_cases(job):
        if all(v is None or np.size(v) > 1 for v in case.inputs.values()):
            return case
    raise AssertionError(f"{s.id}: no non-trivial case drawn")


@pytest.mark.parametrize("s", SPECS, ids=[s.id for s in SPECS])
def test_compiles_fullgraph_unchecked(s: spec.MethodSpec) -> None:
    backend = get_backend("torch-cpu")
    fn = backend.function(s)
    case = _case(s)
    inputs = {k: backend.asarray(v, "float32") for k, v in case.inputs.items()}
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="eager", dynamic=False)
    with unchecked():
        eager = invoke(fn, s, inputs, case.params)
        traced = invoke(compiled, s, inputs, case.params)
    assert len(eager) == len(traced)
    for e, t in zip(eager, traced, strict=True):
        torch.testing.assert_close(t, e, equal_nan=False, rtol=1e-6, atol=1e-6)
