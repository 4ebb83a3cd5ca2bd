"""Reproductions that reproduce: for each level, a generated script fails the same way as the job.

Each test plants a wrong implementation in an importable module (as a user's would be), runs the
job, executes the printed script in a fresh interpreter and checks that it exits non-zero with the
same failure message.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import spec
from conformance.backends import get_backend
from conformance.runner import Job, run_job

WRONG = textwrap.dedent('''
    import numpy as np
    import torch
    from accelerated.categorical import entropy, entropy_from_logits
    from reference.decoding import top_p_filter as _top_p

    def entropy_bits(probs, *, axis=-1, base=None):
        """values: bits instead of nats."""
        out = entropy(probs, axis=axis, base=base)
        return out / np.log(2.0) if base is None else out

    def entropy_no_nan_check(probs, *, axis=-1, base=None):
        """errors: NaN goes through unchecked."""
        p = np.asarray(probs, dtype=np.float64)
        with np.errstate(all="ignore"):
            h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)
        return h if base is None else h / np.log(base)

    def top_p_no_ties_at_zero(logits, p, *, min_tokens_to_keep=1):
        """properties: p = 0 keeps every token (a wrong special case)."""
        if p == 0.0:
            return np.array(logits, copy=True)
        return _top_p(logits, p, min_tokens_to_keep=min_tokens_to_keep)

    def entropy_from_logits_detached(logits, *, temperature=1.0, axis=-1, base=None):
        """gradients: the softmax weights are detached (a stop-gradient the spec does not have)."""
        z = logits / temperature
        logp = torch.log_softmax(z, dim=axis)
        h = -(logp.exp().detach() * logp).sum(dim=axis)
        return h if base is None else h / np.log(base)
''')


@pytest.fixture
def wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "wrong_impls.py").write_text(WRONG)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    sys.modules.pop("wrong_impls", None)
    module = importlib.import_module("wrong_impls")
    yield module, tmp_path
    sys.modules.pop("wrong_impls", None)


def _job(method: str, backend: str, dtype: str, level: str, fn: Any) -> Job:
    return Job(spec.get(method), get_backend(backend), dtype, level, fn=fn)


@pytest.mark.parametrize(("method", "backend", "dtype", "level", "name"), [
    ("entropy", "numpy", "float64", "values", "entropy_bits"),
    ("entropy", "numpy", "float64", "errors", "entropy_no_nan_check"),
    ("top_p_filter", "numpy", "float64", "properties", "top_p_no_ties_at_zero"),
    ("entropy_from_logits", "torch-cpu", "float64", "gradients", "entropy_from_logits_detached"),
])
def test_reproduction_fails_the_same_way(wrong: Any, method: str, backend: str, dtype: str, level: str,
                                         name: str) -> None:
    module, folder = wrong
    result = run_job(_job(method, backend, dtype, level, getattr(module, name)))
    assert result.status == "fail", f"the planted bug was not caught at {level}"
    assert result.repro, "no reproduction printed"
    assert f"from wrong_impls import {name}" in result.repro
    env_path = f"{folder}{':' + sys.path[0] if sys.path[0] else ''}"
    proc = subprocess.run([sys.executable, "-c", result.repro], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, cwd=Path(__file__).parents[1])
    assert proc.returncode != 0, f"the reproduction did not fail:\n{proc.stdout}\n{proc.stderr}"
    assert "ConformanceFailure" in proc.stderr, proc.stderr
    first_line = result.message.splitlines()[0][:60]
    assert first_line in proc.stderr, f"expected {first_line!r} in:\n{proc.stderr}"


def test_errors_reproduction_carries_the_injected_value(wrong: Any) -> None:
    module, _ = wrong
    result = run_job(_job("entropy", "numpy", "float64", "errors", module.entropy_no_nan_check))
    assert "np.nan" in result.repro and "expect='InputError'" in result.repro


def test_property_reproduction_carries_the_inputs_it_used(wrong: Any) -> None:
    module, _ = wrong
    result = run_job(_job("top_p_filter", "numpy", "float64", "properties", module.top_p_no_ties_at_zero))
    assert "'p': 0.0" in result.repro and "property=" in result.repro
