"""Run the conformance checks under Hypothesis and collect results.

One *job* is (method, backend, dtype, level). ``run_job`` draws cases with Hypothesis under a named
profile, runs the level's check on each, and returns a :class:`Result`. On failure Hypothesis
shrinks to the smallest failing case, and the result carries a ready-to-paste reproduction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from conformance.backends import Backend, available_backends, get_backend
from conformance.checks import CHECKS, ConformanceFailure, Target
from conformance.strategies import Case, cases
from spec.errors import BackendUnavailableError
from spec.model import MethodSpec
from spec.registry import all_specs, get

__all__ = ["LEVELS", "PROFILES", "Job", "Result", "jobs_for", "repro", "run_job"]

LEVELS = ("values", "properties", "gradients", "errors")

#: Examples per level. ``ci`` is derandomised (the same examples on every run); ``deep`` searches hard.
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"values": 25, "properties": 8, "gradients": 4, "errors": 3, "derandomize": True},
    "dev": {"values": 100, "properties": 30, "gradients": 15, "errors": 10, "derandomize": False},
    "deep": {"values": 1000, "properties": 200, "gradients": 60, "errors": 40, "derandomize": False},
}


@dataclass
class Job:
    spec: MethodSpec
    backend: Backend
    dtype: str
    level: str
    fn: Callable[..., Any] | None = None  # a third-party implementation instead of ours

    @property
    def key(self) -> str:
        return f"{self.spec.id}[{self.backend.name}-{self.dtype}-{self.level}]"


@dataclass
class Result:
    method: str
    backend: str
    dtype: str
    level: str
    status: str  # "pass" | "fail" | "skip"
    examples: int = 0
    max_error: float = 0.0  # worst error as a fraction of the budget (values, gradients)
    seconds: float = 0.0
    message: str = ""
    repro: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _levels_for(backend: Backend, dtype: str, spec: MethodSpec) -> list[str]:
    if backend.is_reference:
        levels = ["properties", "errors"]
        if spec.derivation is not None:
            levels.append("gradients")
        return levels
    levels = ["values", "properties", "errors"]
    if spec.derivation is not None and backend.library == "torch" and dtype in ("float64", "float32"):
        levels.append("gradients")
    return levels


def jobs_for(method_ids: Iterable[str] | None = None, backend_names: Iterable[str] | None = None,
             dtypes: Iterable[str] | None = None, levels: Iterable[str] | None = None) -> list[Job]:
    """Every job for the selected methods × available backends × supported dtypes × levels."""
    specs = [get(m) for m in method_ids] if method_ids else list(all_specs())
    if backend_names:
        backends = [get_backend(b) for b in backend_names]
        for b in backends:
            if not b.available():
                raise BackendUnavailableError(f"backend {b.name!r} is not available on this machine")
    else:
        backends = available_backends()
    wanted_dtypes = set(dtypes) if dtypes else None
    wanted_levels = set(levels) if levels else None
    jobs: list[Job] = []
    for spec in specs:
        for backend in backends:
            for dtype in backend.dtypes:
                if dtype not in spec.dtypes and not backend.is_reference:
                    continue
                if wanted_dtypes is not None and dtype not in wanted_dtypes:
                    continue
                for level in _levels_for(backend, dtype, spec):
                    if wanted_levels is None or level in wanted_levels:
                        jobs.append(Job(spec, backend, dtype, level))
    return jobs


def _settings(level: str, profile: str, max_examples: int | None) -> settings:
    prof = PROFILES[profile]
    n = prof[level]
    if max_examples is not None:
        n = max_examples if level == "values" else max(1, round(max_examples * prof[level] / prof["values"]))
    return settings(
        max_examples=n,
        derandomize=bool(prof["derandomize"]),
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )


def run_job(job: Job, *, profile: str = "ci", max_examples: int | None = None) -> Result:
    """Run one job under Hypothesis; never raises for a conformance failure (it is in the result)."""
    spec = job.spec
    fn = job.fn if job.fn is not None else job.backend.function(spec)
    target = Target(spec, fn, job.backend, job.dtype)
    check = CHECKS[job.level]
    state: dict[str, Any] = {"n": 0, "worst": 0.0, "last": None}

    @_settings(job.level, profile, max_examples)
    @given(case=cases(spec, job.dtype, small=job.level == "gradients"))
    def test(case: Case) -> None:
        state["last"] = case
        worst = check(target, case)
        state["n"] += 1
        state["worst"] = max(state["worst"], worst)

    start = time.perf_counter()
    result = Result(spec.id, job.backend.name, job.dtype, job.level, "pass")
    try:
        test()
    except Unsatisfiable:
        result.status = "fail"
        result.message = "no valid example could be drawn (every case was rejected)"
    except Exception as exc:  # a conformance failure or an unexpected crash of the code under test
        result.status = "fail"
        kind = "" if isinstance(exc, ConformanceFailure) else f"{type(exc).__name__}: "
        result.message = f"{kind}{exc}"
        if state["last"] is not None:
            result.repro = repro(job, state["last"])
    result.examples = state["n"]
    result.max_error = float(state["worst"])
    result.seconds = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------- reproduction


def _literal(x: Any) -> str:
    if x is None:
        return "None"
    a = np.asarray(x)
    if a.dtype == bool:
        return f"np.array({a.tolist()!r}, dtype=bool)"
    if np.issubdtype(a.dtype, np.integer):
        return f"np.array({a.tolist()!r}, dtype=np.int64)"
    body = repr(a.tolist()).replace("inf", "np.inf").replace("nan", "np.nan")
    return f"np.array({body}, dtype=np.float64).reshape({a.shape!r})"


def repro(job: Job, case: Case) -> str:
    """A self-contained script that reruns the failing case on the reference and the backend."""
    spec, backend = job.spec, job.backend
    lines = ["import numpy as np", f"from reference.{spec.family} import {spec.id} as reference_fn"]
    if job.fn is not None:
        mod = getattr(job.fn, "__module__", "your_module")
        lines.append(f"from {mod} import {getattr(job.fn, '__name__', 'fn')} as impl")
    else:
        lines.append(f"from accelerated.{spec.family} import {spec.id} as impl")
    if backend.library == "torch":
        lines.append("import torch")
    for name, value in case.inputs.items():
        lines.append(f"{name} = {_literal(value)}")
    params = ", ".join(f"{k}={v!r}" for k, v in case.params.items()).replace("nan", "float('nan')").replace(
        "inf", "float('inf')")
    pos_inputs = [i.name for i in spec.inputs if i.positional and not i.optional]
    pos_params = [p.name for p in spec.params if p.positional]
    kw_inputs = [i.name for i in spec.inputs if not (i.positional and not i.optional)]
    kw_params = ", ".join(f"{k}={v!r}" for k, v in case.params.items() if k not in pos_params)
    pos_param_vals = [repr(case.params.get(p.name, spec.param(p.name).default)) for p in spec.params if p.positional]

    def call(fn: str, conv: Callable[[str], str]) -> str:
        args = [conv(n) for n in pos_inputs] + pos_param_vals
        kws = [f"{n}={conv(n)}" for n in kw_inputs]
        if kw_params:
            kws.append(kw_params)
        return f"{fn}({', '.join(args + kws)})"

    def conv_backend(n: str) -> str:
        value = case.inputs.get(n)
        if value is None:
            return "None"
        floating = np.issubdtype(np.asarray(value).dtype, np.floating)
        if backend.library == "torch":
            dt = f", dtype=torch.{job.dtype}" if floating else ""
            return f"torch.tensor({n}{dt}, device={backend.device!r})"
        if backend.library == "cupy":
            return f"cupy.asarray({n}.astype(np.{job.dtype}))" if floating else f"cupy.asarray({n})"
        return f"{n}.astype(np.{job.dtype})" if floating and not backend.is_reference else n

    if backend.library == "cupy":
        lines.insert(1, "import cupy")
    lines.append(f"# params: {params}")
    lines.append(f"print('reference:', {call('reference_fn', lambda n: n)})")
    if not backend.is_reference:
        lines.append(f"print('{backend.name}/{job.dtype}:', {call('impl', conv_backend)})")
    return "\n".join(lines)


def iter_results(jobs: list[Job], *, profile: str = "ci", max_examples: int | None = None,
                 progress: bool = False) -> Iterator[Result]:
    bar: Any = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="job", dynamic_ncols=True, leave=False)
        except ImportError:  # pragma: no cover - tqdm is a pinned dependency
            bar = None
    try:
        for job in jobs:
            if bar is not None:
                bar.set_description(f"{job.spec.id} {job.backend.name} {job.dtype} {job.level}"[:60])
            yield run_job(job, profile=profile, max_examples=max_examples)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
