"""The input rules of :mod:`spec.inputs`, on every registered method and both layers.

For each method, one valid case (the first fixed draw of its ``ci`` values job) is varied: Python lists
for arrays, integer arrays for float inputs, a NumPy array mixed into a Torch call, mixed float dtypes,
0-d inputs. The reference and the accelerated version must accept and reject the same things.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from conformance.backends import get_backend
from conformance.checks import invoke
from conformance.runner import Job, job_cases
from spec.errors import DTypeError, EntropyAtlasError
from spec.registry import all_specs

SPECS = list(all_specs())
LAYERS = {"reference": get_backend("reference"), "accelerated": get_backend("torch-cpu")}


def _case(spec: Any) -> Any:
    cases = job_cases(Job(spec, get_backend("reference"), "float64", "values"), "ci")
    for c in cases:  # a case with non-empty float inputs
        if all(np.size(c.inputs[i.name]) > 0 for i in spec.inputs if i.dtype == "float" and c.inputs.get(i.name)
               is not None):
            return c
    return cases[0]


def _call(layer: str, spec: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
    fn = LAYERS[layer].function(spec)
    return invoke(fn, spec, inputs, params)


def _torch(x: Any) -> Any:
    return None if x is None else torch.as_tensor(np.asarray(x))


def _outcome(layer: str, spec: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
    try:
        out = _call(layer, spec, inputs, params)
    except EntropyAtlasError as exc:
        return type(exc).__name__
    return tuple(np.asarray(o.detach().numpy() if hasattr(o, "detach") else o, dtype=np.float64) for o in out)


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_python_lists_are_arrays_on_both_layers(spec: Any) -> None:
    case = _case(spec)
    as_lists = {k: (None if v is None else np.asarray(v).tolist()) for k, v in case.inputs.items()}
    want = _call("reference", spec, case.inputs, case.params)
    got = _call("reference", spec, as_lists, case.params)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    fast = _call("accelerated", spec, as_lists, case.params)  # lists alone: NumPy float64
    for w, g in zip(want, fast, strict=True):
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_integer_arrays_for_float_inputs_raise(spec: Any, layer: str) -> None:
    case = _case(spec)
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if inp.dtype != "float" or x is None:
            continue
        bad = dict(case.inputs)
        bad[inp.name] = np.zeros(np.shape(x), dtype=np.int64)
        if layer == "accelerated":
            bad = {k: _torch(v) for k, v in bad.items()}
        with pytest.raises(DTypeError, match=f"'{inp.name}'"):
            _call(layer, spec, bad, case.params)


@pytest.mark.parametrize("spec", [s for s in SPECS if sum(1 for i in s.inputs) >= 2], ids=lambda s: s.id)
@pytest.mark.parametrize("layer", list(LAYERS))
def test_mixed_array_libraries_raise(spec: Any, layer: str) -> None:
    case = _case(spec)
    names = [i.name for i in spec.inputs if case.inputs.get(i.name) is not None]
    if len(names) < 2:
        pytest.skip("a single array argument in this case")  # nothing to mix
    mixed = {k: (_torch(v) if k == names[0] else v) for k, v in case.inputs.items()}
    with pytest.raises(DTypeError, match="same library"):
        _call(layer, spec, mixed, case.params)


@pytest.mark.parametrize("spec", [s for s in SPECS if sum(1 for i in s.inputs if i.dtype == "float") >= 2],
                         ids=lambda s: s.id)
def test_mixed_float_dtypes_are_promoted(spec: Any) -> None:
    case = _case(spec)
    floats = [i.name for i in spec.inputs if i.dtype == "float" and case.inputs.get(i.name) is not None]
    if len(floats) < 2:
        pytest.skip("one float input present in this case")
    inputs = {k: _torch(v) for k, v in case.inputs.items()}
    inputs[floats[0]] = inputs[floats[0]].to(torch.float32)
    out = _call("accelerated", spec, inputs, case.params)
    want = _call("reference", spec, case.inputs, case.params)
    for k, (o, w) in enumerate(zip(out, want, strict=True)):
        if k < len(spec.outputs) and spec.outputs[k].discrete:
            continue
        assert o.dtype == torch.float64, f"{spec.id}: {o.dtype} from float32 + float64 inputs"
        np.testing.assert_allclose(o.detach().numpy(), w, rtol=1e-5, atol=1e-5 * max(1.0, float(np.max(
            np.abs(np.where(np.isfinite(w), w, 0.0)), initial=0.0))))


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_zero_dimensional_inputs_get_the_same_outcome(spec: Any) -> None:
    case = _case(spec)
    for inp in spec.inputs:
        if case.inputs.get(inp.name) is None:
            continue
        value = np.asarray(case.inputs[inp.name]).reshape(-1)[:1].reshape(())
        inputs = dict(case.inputs)
        inputs[inp.name] = value
        ref = _outcome("reference", spec, inputs, case.params)
        fast = _outcome("accelerated", spec, {k: _torch(v) for k, v in inputs.items()}, case.params)
        if isinstance(ref, str) or isinstance(fast, str):
            assert ref == fast, f"{spec.id}: 0-d {inp.name!r}: reference {ref}, accelerated {fast}"
        else:
            for r, f in zip(ref, fast, strict=True):
                np.testing.assert_allclose(f, r, rtol=1e-12, atol=1e-12)
