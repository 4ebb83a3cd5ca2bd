"""Golden vectors: exported inputs, parameters, outputs and gradients that any port can check.

``export(dir)`` writes, per method, ``<id>.json`` (provenance, signature, tolerance and every case
with its values as JSON lists — ``"inf"``/``"-inf"`` strings for infinities) and ``<id>.npz`` (the same
arrays, keyed ``case<i>/<kind>/<name>``). Cases are drawn by the derandomised Hypothesis strategies
of the conformance harness, outputs come from the float64 reference, and gradients (for
differentiable methods, with a cotangent of ones) from the SymPy derivation — independent of every
implementation. ``verify(dir, fn)`` checks an implementation against those files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

from conformance.backends import Backend, get_backend
from conformance.checks import _sympy_gradient, input_scale, invoke
from conformance.strategies import Case, cases
from spec.errors import InputError
from spec.model import Budget, MethodSpec
from spec.registry import all_specs, get

__all__ = ["VectorResult", "export", "verify"]

FORMAT_VERSION = 1


def _encode(x: Any) -> Any:
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.floating):
        return [_encode(v) for v in a] if a.ndim else (
            "inf" if a == np.inf else "-inf" if a == -np.inf else "nan" if np.isnan(a) else float(a))
    return a.tolist()


def _decode(x: Any, dtype: str) -> np.ndarray[Any, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, list):
            return [conv(i) for i in v]
        if isinstance(v, str):
            return float(v)
        return v

    return np.asarray(conv(x), dtype=dtype)


def draw_cases(spec: MethodSpec, count: int, *, small: bool = True) -> list[Case]:
    """``count`` deterministic, valid cases for ``spec`` (float64)."""
    found: list[Case] = []
    ref = get_backend("reference").function(spec)

    @settings(max_examples=count * 4, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(spec, "float64", small=small))
    def collect(case: Case) -> None:
        if len(found) >= count:
            return
        try:
            invoke(ref, spec, case.inputs, case.params)
        except InputError:
            return
        found.append(case)

    collect()
    return found


def export(directory: str | Path, method_ids: Iterable[str] | None = None, *, count: int = 8) -> list[Path]:
    """Write golden vectors for the selected methods (all by default); returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    specs = [get(m) for m in method_ids] if method_ids else list(all_specs())
    written: list[Path] = []
    for spec in specs:
        ref = get_backend("reference").function(spec)
        records = []
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        for i, case in enumerate(draw_cases(spec, count)):
            outputs = [np.asarray(o) for o in invoke(ref, spec, case.inputs, case.params)]
            record: dict[str, Any] = {
                "inputs": {k: None if v is None else {"dtype": str(np.asarray(v).dtype), "shape": list(np.shape(v)),
                                                       "data": _encode(v)} for k, v in case.inputs.items()},
                "params": {k: (str(v) if isinstance(v, float) and not np.isfinite(v) else v)
                           for k, v in case.params.items()},
                "outputs": [{"name": spec.outputs[j].name if j < len(spec.outputs) else f"output{j}",
                             "dtype": str(o.dtype), "shape": list(o.shape), "data": _encode(o)}
                            for j, o in enumerate(outputs)],
                "input_scale": input_scale(spec, case),
            }
            for k, v in case.inputs.items():
                if v is not None:
                    arrays[f"case{i}/input/{k}"] = np.asarray(v)
            for j, o in enumerate(outputs):
                arrays[f"case{i}/output/{j}"] = o
            if spec.derivation is not None:
                cot = np.ones(np.shape(outputs[0]))
                grads = _sympy_gradient(spec, case, cot)
                record["gradients"] = {"cotangent": "ones", "source": "sympy derivation",
                                       "wrt": {k: _encode(g) for k, g in grads.items()}}
                for k, g in grads.items():
                    arrays[f"case{i}/grad/{k}"] = g
            records.append(record)
        doc = {
            "format": FORMAT_VERSION,
            "id": spec.id,
            "spec": spec.to_json(),
            "generated_by": "entropy-atlas vectors export (reference outputs; SymPy gradients)",
            "cases": records,
        }
        json_path = out / f"{spec.id}.json"
        json_path.write_text(json.dumps(doc, indent=1))
        np.savez_compressed(out / f"{spec.id}.npz", **arrays)  # type: ignore[arg-type]
        written += [json_path, out / f"{spec.id}.npz"]
    return written


@dataclass
class VectorResult:
    method: str
    cases: int
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def verify(directory: str | Path, fn_for: Callable[[MethodSpec], Callable[..., Any]] | None = None, *,
           backend: str = "numpy", dtype: str = "float64",
           method_ids: Iterable[str] | None = None) -> list[VectorResult]:
    """Check an implementation against golden vector files.

    ``fn_for(spec)`` returns the function to check (default: our accelerated version on ``backend``,
    or the reference when ``backend == "reference"``). Outputs must match within the spec's budget for
    ``dtype`` (absolute part scaled by the case's input scale).
    """
    back: Backend = get_backend(backend)
    results: list[VectorResult] = []
    wanted = set(method_ids) if method_ids else None
    for json_path in sorted(Path(directory).glob("*.json")):
        doc = json.loads(json_path.read_text())
        if wanted is not None and doc["id"] not in wanted:
            continue
        spec = get(doc["id"])
        fn = fn_for(spec) if fn_for is not None else back.function(spec)
        base = spec.tolerance[dtype]
        failures: list[str] = []
        for i, record in enumerate(doc["cases"]):
            inputs = {k: None if v is None else back.asarray(_decode(v["data"], v["dtype"]), dtype)
                      for k, v in record["inputs"].items()}
            params = {k: (float(v) if isinstance(v, str) and v in ("inf", "-inf", "nan") else v)
                      for k, v in record["params"].items()}
            try:
                got = invoke(fn, spec, inputs, params)
            except Exception as exc:
                failures.append(f"case {i}: raised {type(exc).__name__}: {exc}")
                continue
            budget = Budget(base.atol * float(record["input_scale"]), base.rtol)
            for j, expected in enumerate(record["outputs"]):
                e = _decode(expected["data"], expected["dtype"])
                g = back.to_numpy(got[j])
                if g.shape != e.shape:
                    failures.append(f"case {i} output {expected['name']}: shape {g.shape} != {e.shape}")
                elif np.issubdtype(e.dtype, np.floating):
                    if not np.all(budget.allows(g.astype(np.float64), e)):
                        failures.append(f"case {i} output {expected['name']}: {g.tolist()} != {e.tolist()}")
                elif not np.array_equal(g, e):
                    failures.append(f"case {i} output {expected['name']}: {g.tolist()} != {e.tolist()}")
        results.append(VectorResult(spec.id, len(doc["cases"]), failures))
    return results
