"""Parity of the ``policy`` family: accelerated (NumPy, Torch) vs the reference over Hypothesis cases,
for every id (the comparisons with the official code are in the group test modules)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import spec
from accelerated import policy as A
from conformance.strategies import cases
from reference import policy as R

IDS = ("aggregate", "ppo_clip_loss", "kl_penalty", "group_advantages", "clip_cov_loss", "kl_cov_loss")
MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def _call(fn: Any, method_id: str, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
    s = spec.get(method_id)
    args = [inputs[i.name] for i in s.inputs if i.positional and not i.optional]
    args += [params.get(p.name, p.default) for p in s.params if p.positional]
    kwargs = {k: v for k, v in params.items() if not s.param(k).positional}
    return fn(*args, **kwargs)


def _convert(inputs: dict[str, Any], lib: str, dtype: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in inputs.items():
        a = np.asarray(v)
        if lib == "numpy":
            out[k] = a.astype(dtype) if a.dtype.kind == "f" else a
        else:
            t = torch.from_numpy(np.array(a, copy=True))
            out[k] = t.to(getattr(torch, dtype)) if a.dtype.kind == "f" else t
    return out


def _np(x: Any) -> np.ndarray[Any, Any]:
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().to(torch.float64).numpy())
    return np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("method_id", IDS)
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_float64_matches_reference(method_id: str, lib: str) -> None:
    s = spec.get(method_id)

    @settings(max_examples=15)
    @given(case=cases(s, "float64"))
    def run(case: Any) -> None:
        try:
            expect = _call(getattr(R, method_id), method_id, case.inputs, case.params)
        except spec.InputError:
            return
        got = _call(getattr(A, method_id), method_id, _convert(case.inputs, lib, "float64"), case.params)
        np.testing.assert_allclose(_np(got), expect, rtol=1e-9, atol=1e-10 * max(1.0, float(np.max(np.abs(expect),
                                                                                                initial=0.0))))

    run()


@pytest.mark.parametrize("method_id", ["ppo_clip_loss", "group_advantages", "kl_penalty", "aggregate"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_low_precision_within_budget(method_id: str, dtype: str) -> None:
    s = spec.get(method_id)
    budget = s.tolerance[dtype]

    @settings(max_examples=15)
    @given(case=cases(s, dtype))
    def run(case: Any) -> None:
        expect = _call(getattr(R, method_id), method_id, case.inputs, case.params)
        got = _call(getattr(A, method_id), method_id, _convert(case.inputs, "torch", dtype), case.params)
        assert str(got.dtype) == f"torch.{dtype}"
        scale = max(1.0, *(float(np.max(np.abs(v), initial=0.0)) for v in case.inputs.values()
                           if np.asarray(v).dtype.kind == "f"))
        assert np.all(np.abs(_np(got) - expect) <= budget.atol * scale * 4 + budget.rtol * 4 * np.abs(expect))

    run()


