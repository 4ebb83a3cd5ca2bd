"""Run the conformance checks and collect results.

One *job* is (method, backend, dtype, level). ``run_job`` runs the level's check on the method's
curated hard cases and on drawn cases, and returns a :class:`Result`:

* the ``ci`` profile draws a fixed list of distinct examples that is a pure function of the method
  id, dtype, level and profile (:mod:`conformance.draws`): the same examples on every run, whatever
  else changes in the source tree;
* ``dev`` and ``deep`` search with Hypothesis (random, with shrinking).

Every job also checks that its cases *reached* the method: each property of a properties job must
have run on at least one case, and each branch of the spec must have been hit in a values job (the
reference backend: in its properties job). A job that never exercised them fails. Every failure
carries a reproduction script (:mod:`conformance.repro`) for its level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis.errors import Unsatisfiable, UnsatisfiedAssumption

from conformance.backends import Backend, available_backends, get_backend
from conformance.cases import curated_for
from conformance.checks import CHECKS, ConformanceFailure, Tally, Target
from conformance.draws import draw_distinct, seed_for
from conformance.options import CheckOptions, adapt, resolve_conventions
from conformance.strategies import Case, cases, representable
from spec.errors import BackendUnavailableError
from spec.model import MethodSpec
from spec.registry import all_specs, get

__all__ = ["LEVELS", "PROFILES", "Job", "Result", "curated_cases", "job_cases", "jobs_for", "run_job"]

LEVELS = ("values", "properties", "gradients", "errors")

#: Examples per level. ``ci`` runs a fixed list of distinct examples; ``dev``/``deep`` search randomly.
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"values": 25, "properties": 10, "gradients": 4, "errors": 3, "fixed": True},
    "dev": {"values": 100, "properties": 30, "gradients": 15, "errors": 10, "fixed": False},
    "deep": {"values": 1000, "properties": 200, "gradients": 60, "errors": 40, "fixed": False},
}


@dataclass
class Job:
    spec: MethodSpec
    backend: Backend
    dtype: str
    level: str
    fn: Callable[..., Any] | None = None  # a third-party implementation (or a mutant) instead of ours
    options: CheckOptions = field(default_factory=CheckOptions)  # pinned params, conventions, layout

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
    counts: dict[str, int] = field(default_factory=dict)  # property:NAME / branch:NAME -> cases
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


def _count(level: str, profile: str, max_examples: int | None) -> int:
    prof = PROFILES[profile]
    n = int(prof[level])
    if max_examples is not None:
        n = max_examples if level == "values" else max(1, round(max_examples * prof[level] / prof["values"]))
    return n


def curated_cases(spec: MethodSpec, dtype: str) -> list[Case]:
    """The method's curated hard cases, rounded to ``dtype`` (integer and boolean inputs unchanged)."""
    out: list[Case] = []
    for c in curated_for(spec.id):
        inputs: dict[str, Any] = {}
        for name, value in c.inputs.items():
            if value is None:
                inputs[name] = None
                continue
            a = np.asarray(value)
            inputs[name] = representable(a, dtype) if np.issubdtype(a.dtype, np.floating) else a
        out.append(Case(inputs, dict(c.params)))
    return out


def job_cases(job: Job, profile: str = "ci", max_examples: int | None = None) -> list[Case]:
    """The fixed examples of a ``ci``-style job: curated cases first, then distinct drawn cases."""
    n = _count(job.level, profile, max_examples)
    strategy = cases(job.spec, job.dtype, small=job.level == "gradients")
    drawn = draw_distinct(strategy, n, seed_for(job.spec.id, job.dtype, job.level, profile))
    curated = [] if job.level == "gradients" else curated_cases(job.spec, job.dtype)
    return curated + drawn


def _requirements(job: Job) -> list[str]:
    """The tally keys a job must have hit at least once.

    Pinned parameters may put branches and properties out of reach (a token-mean-only loss never reaches
    the other modes): then they are reported, not required. Properties an accepted convention breaks are
    not run.
    """
    spec = job.spec
    if job.options.params:
        return []
    broken = {name for d in resolve_conventions(spec, job.options.accept).values() for name in d.breaks}
    keys: list[str] = []
    if job.level == "properties":
        keys += [f"property:{p.name}" for p in spec.properties if p.name not in broken]
    if job.level == "values" or (job.level == "properties" and job.backend.is_reference):
        keys += [f"branch:{b.name}" for b in spec.branches]
    return keys


def run_job(job: Job, *, profile: str = "ci", max_examples: int | None = None) -> Result:
    """Run one job; never raises for a conformance failure (it is in the result)."""
    from conformance.repro import script

    spec = job.spec
    options = job.options
    fn = adapt(job.fn if job.fn is not None else job.backend.function(spec), spec, options)
    tally = Tally()
    target = Target(spec, fn, job.backend, job.dtype, tally, options=options,
                    accepted=resolve_conventions(spec, options.accept))
    check = CHECKS[job.level]
    state: dict[str, Any] = {"n": 0, "worst": 0.0, "last": None}

    def one(case: Case) -> None:
        if options.params:
            case = case.replace(**options.params)
        state["last"] = case
        worst = check(target, case)
        state["n"] += 1
        state["worst"] = max(state["worst"], worst)

    start = time.perf_counter()
    result = Result(spec.id, job.backend.name, job.dtype, job.level, "pass")
    try:
        if PROFILES[profile]["fixed"]:
            for case in job_cases(job, profile, max_examples):
                try:
                    one(case)
                except UnsatisfiedAssumption:
                    continue
        else:
            test = _hypothesis_test(job, profile, max_examples, one)
            test()
        if state["n"] == 0:
            raise Unsatisfiable("every case was rejected")
        missing = [k for k in _requirements(job) if tally.ran[k] == 0]
        if missing:
            raise ConformanceFailure(
                f"{state['n']} cases never exercised {', '.join(missing)}: the draws do not reach what the spec "
                "says the method does (fix the case strategy, not the requirement)")
    except Unsatisfiable:
        result.status = "fail"
        result.message = "no valid example could be drawn (every case was rejected)"
    except Exception as exc:  # a conformance failure or an unexpected crash of the code under test
        result.status = "fail"
        kind = "" if isinstance(exc, ConformanceFailure) else f"{type(exc).__name__}: "
        result.message = f"{kind}{exc}"
        failed_case = getattr(exc, "case", None) or state["last"]
        if failed_case is not None and not result.message.startswith(f"{state['n']} cases never"):
            result.repro = script(job, failed_case, getattr(exc, "detail", {}))
    result.examples = state["n"]
    result.max_error = float(state["worst"])
    result.counts = dict(sorted(tally.ran.items()))
    result.seconds = time.perf_counter() - start
    return result


def _hypothesis_test(job: Job, profile: str, max_examples: int | None,
                     one: Callable[[Case], None]) -> Callable[[], None]:
    """A Hypothesis test running ``one`` on searched cases (curated cases as explicit examples)."""
    strategy = cases(job.spec, job.dtype, small=job.level == "gradients")

    def body(case: Case) -> None:
        one(case)

    test: Any = given(case=strategy)(body)
    if job.level != "gradients":
        for c in curated_cases(job.spec, job.dtype):
            test = example(case=c)(test)
    return settings(  # type: ignore[no-any-return]
        max_examples=_count(job.level, profile, max_examples),
        derandomize=False,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )(test)


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
