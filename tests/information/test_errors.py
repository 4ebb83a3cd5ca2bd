"""Bad input for the ``information`` family: the same error class, naming the argument, on the reference
and on the accelerated versions (NumPy and Torch)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import information as A
from reference import information as R
from spec.errors import DomainError, InputError, ParameterError, ShapeError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calls import good_inputs

CALLS = good_inputs()


def _layers() -> list[tuple[str, Any, Callable[[Any], Any]]]:
    def to_torch(x: Any) -> Any:
        return torch.tensor(x) if isinstance(x, np.ndarray) else x

    return [("reference", R, lambda x: x), ("numpy", A, lambda x: x), ("torch", A, to_torch)]


def _expect(key: str, error: type[InputError], argument: str, inputs: dict[str, Any], kwargs: dict[str, Any]) -> None:
    method = key.split(":")[0]
    for label, module, conv in _layers():
        with pytest.raises(error) as info:
            getattr(module, method)(**{k: conv(v) for k, v in inputs.items()}, **kwargs)
        assert info.value.argument == argument, f"{label}: {info.value}"
        assert method in str(info.value) and repr(argument) in str(info.value), f"{label}: {info.value}"


@pytest.mark.parametrize("key", sorted(CALLS))
def test_good_inputs_run_everywhere(key: str) -> None:
    inputs, kwargs = CALLS[key]
    method = key.split(":")[0]
    ref = np.asarray(getattr(R, method)(**inputs, **kwargs))
    for _, module, conv in _layers()[1:]:
        out = getattr(module, method)(**{k: conv(v) for k, v in inputs.items()}, **kwargs)
        out_np = out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        np.testing.assert_allclose(out_np, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("key", sorted(CALLS))
def test_non_finite_inputs(key: str, bad: float) -> None:
    inputs, kwargs = CALLS[key]
    for name, value in inputs.items():
        if value is None:
            continue
        broken = np.array(value, dtype=np.float64, copy=True)
        broken.flat[1] = bad
        _expect(key, DomainError, name, {**inputs, name: broken}, kwargs)


@pytest.mark.parametrize("key", sorted(CALLS))
def test_wrong_rank_and_empty(key: str) -> None:
    inputs, kwargs = CALLS[key]
    first = next(iter(inputs))
    x = inputs[first]
    _expect(key, ShapeError, first, {**inputs, first: x[0]}, kwargs)
    _expect(key, ShapeError, first, {**inputs, first: x[:, :0]}, kwargs)


def test_vendi_specific_errors() -> None:
    inputs, _ = CALLS["vendi_score"]
    _expect("vendi_score", ShapeError, "X", {"X": inputs["X"]}, {"kernel": "precomputed"})  # not square
    _expect("vendi_score", ShapeError, "p", {**inputs, "p": inputs["p"][:-1]}, {})
    _expect("vendi_score", DomainError, "p", {**inputs, "p": inputs["p"] * 2}, {})  # off the simplex
    _expect("vendi_score", ParameterError, "q", inputs, {"q": -1.0})
    _expect("vendi_score", ParameterError, "kernel", inputs, {"kernel": "rbf"})
    _expect("vendi_score", ParameterError, "eig_rtol", inputs, {"eig_rtol": 2.0})


def test_alpha_req_specific_errors() -> None:
    x = np.random.default_rng(0).normal(size=(8, 5))
    _expect("alpha_req", ParameterError, "fit_stop", {"X": x}, {"fit_start": 2, "fit_stop": 3})
    _expect("alpha_req", ShapeError, "X", {"X": x}, {"fit_start": 4})  # one eigenvalue left in the range
    dup = np.vstack([x[:2]] * 4)  # rank 1 after centring: zero eigenvalues in the fit range
    _expect("alpha_req", DomainError, "X", {"X": dup}, {"fit_start": 0})
