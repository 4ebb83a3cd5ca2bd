"""The conformance suite: every registered method × backend × dtype × level, as one test each.

This is the same harness as ``entropy-atlas conform`` (derandomised ``ci`` profile). Backends that
this machine cannot run (CUDA, CuPy without a GPU) are reported as skipped with the reason.
"""

from __future__ import annotations

import pytest

from conformance.backends import BACKENDS
from conformance.runner import Job, jobs_for, run_job

JOBS = jobs_for()


@pytest.mark.parametrize("job", JOBS, ids=[j.key for j in JOBS])
def test_conforms(job: Job) -> None:
    result = run_job(job, profile="ci")
    assert result.status == "pass", f"{result.message}\n--- reproduction ---\n{result.repro}"


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["torch-cuda", "cupy"])
def test_gpu_backends(name: str) -> None:
    backend = BACKENDS[name]
    if not backend.available():
        pytest.skip(f"{name}: no CUDA device on this machine")
    for job in jobs_for(backend_names=[name]):
        result = run_job(job, profile="ci")
        assert result.status == "pass", f"{job.key}: {result.message}\n{result.repro}"
