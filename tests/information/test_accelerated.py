"""Accelerated ``information`` layer: dtypes are preserved (16-bit inputs computed in float32), Torch
autograd equals central differences of the float64 reference, CPU Torch equals NumPy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import information as A
from reference import information as R
from spec.registry import get

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calls import good_inputs

CALLS = good_inputs()


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("key", sorted(CALLS))
def test_torch_dtype_preserved(key: str, dtype: torch.dtype) -> None:
    inputs, kwargs = CALLS[key]
    fn = getattr(A, key.split(":")[0])
    out = _first(fn(**{k: torch.tensor(v).to(dtype) for k, v in inputs.items()}, **kwargs))
    assert out.dtype == dtype
    ref = float(np.asarray(_first(getattr(R, key.split(":")[0])(**inputs, **kwargs))).ravel()[0])
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 3e-2, torch.float16: 5e-3}[dtype]
    assert float(out.double().ravel()[0]) == pytest.approx(ref, rel=tol, abs=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("key", sorted(CALLS))
def test_numpy_dtype_preserved(key: str, dtype: Any) -> None:
    inputs, kwargs = CALLS[key]
    out = _first(getattr(A, key.split(":")[0])(**{k: v.astype(dtype) for k, v in inputs.items()}, **kwargs))
    assert out.dtype == dtype


DIFFERENTIABLE = sorted(k for k in CALLS if get(k.split(":")[0]).derivation is not None)
METRICS = sorted(k for k in CALLS if get(k.split(":")[0]).derivation is None)


@pytest.mark.parametrize("key", METRICS)
def test_metrics_are_detached(key: str) -> None:
    """Evaluation metrics without a derivation (matrix_entropy, rankme) return a result without gradient."""
    inputs, kwargs = CALLS[key]
    args = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    assert not _first(getattr(A, key.split(":")[0])(**args, **kwargs)).requires_grad


@pytest.mark.parametrize("key", DIFFERENTIABLE)
def test_autograd_matches_reference_finite_differences(key: str) -> None:
    inputs, kwargs = CALLS[key]
    method = key.split(":")[0]
    name = next(iter(inputs))
    x = np.asarray(inputs[name], dtype=np.float64)
    t = torch.tensor(x, requires_grad=True)
    others = {k: torch.tensor(v) for k, v in inputs.items() if k != name}
    out = _first(getattr(A, method)(**{name: t}, **others, **kwargs))
    out.sum().backward()
    assert t.grad is not None
    g = np.zeros_like(x)
    h = 1e-6
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fp = float(np.sum(_first(getattr(R, method)(**{**inputs, name: x + e}, **kwargs))))
        fm = float(np.sum(_first(getattr(R, method)(**{**inputs, name: x - e}, **kwargs))))
        g[idx] = (fp - fm) / (2 * h)
    np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-5, atol=1e-7)
