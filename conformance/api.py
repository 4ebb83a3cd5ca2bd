"""The programmatic API: run conformance for ids, or check (assert) that a function conforms."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from conformance.backends import BACKENDS, get_backend
from conformance.options import CheckOptions, UsageError, nearest, validate
from conformance.runner import LEVELS, PROFILES, Job, Result, iter_results, jobs_for
from spec.errors import UnknownMethodError
from spec.model import MethodSpec
from spec.registry import all_specs, get

__all__ = ["assert_conforms", "check", "conform", "conventions_followed", "default_levels", "method"]


def method(method_id: str) -> MethodSpec:
    """The spec of ``method_id``; an unknown id is a :class:`UsageError` naming the nearest ids."""
    try:
        return get(method_id)
    except UnknownMethodError:
        ids = [s.id for s in all_specs()]
        raise UsageError(f"unknown method {method_id!r}{nearest(method_id, ids)}; `entropy-atlas list` shows all "
                         f"{len(ids)}") from None


def conform(method_ids: Iterable[str] | None = None, *, backends: Iterable[str] | None = None,
            dtypes: Iterable[str] | None = None, levels: Iterable[str] | None = None,
            profile: str = "ci", max_examples: int | None = None, progress: bool = False) -> list[Result]:
    """Run the selected conformance jobs and return their results."""
    jobs = jobs_for(method_ids, backends, dtypes, levels)
    return list(iter_results(jobs, profile=profile, max_examples=max_examples, progress=progress))


def default_levels(spec: MethodSpec, backend: str, dtype: str) -> tuple[str, ...]:
    """values and properties, plus gradients for a differentiable method on Torch in float32/float64.

    The errors level is opt-in for a function that is not ours (it then accepts any ``ValueError`` or
    ``TypeError``: our error classes are required of our own code only).
    """
    levels: tuple[str, ...] = ("values", "properties")
    if spec.differentiable and BACKENDS[backend].library == "torch" and dtype in ("float32", "float64"):
        levels += ("gradients",)
    return levels


def _jobs(fn: Callable[..., Any], spec: MethodSpec, backend: str, dtypes: Iterable[str],
          levels: Iterable[str] | None, options: CheckOptions) -> list[Job]:
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}{nearest(backend, list(BACKENDS))}; choose from "
                         f"{', '.join(BACKENDS)}")
    back = get_backend(backend)
    if not back.available():
        from conformance.backends import available_backends

        raise UsageError(f"backend {backend!r} is not available on this machine; available: "
                         f"{', '.join(b.name for b in available_backends())}")
    validate(spec, options)
    jobs: list[Job] = []
    for dtype in dtypes:
        if dtype not in back.dtypes:
            raise UsageError(f"backend {backend!r} has no dtype {dtype!r}; its dtypes: {', '.join(back.dtypes)}")
        wanted = tuple(levels) if levels is not None else default_levels(spec, backend, dtype)
        for level in wanted:
            if level not in LEVELS:
                raise UsageError(f"unknown level {level!r}; choose from {', '.join(LEVELS)}")
            jobs.append(Job(spec, back, dtype, level, fn=fn, options=options))
    return jobs


def check(fn: Callable[..., Any], method_id: str, *, backend: str = "numpy", dtypes: Iterable[str] = ("float64",),
          levels: Iterable[str] | None = None, params: Mapping[str, object] | None = None,
          accept: Iterable[str] = (), class_axis: int | None = None, third_party: bool = True,
          profile: str = "ci", max_examples: int | None = None, progress: bool = False) -> list[Result]:
    """Run the harness on someone's ``fn`` (see :class:`conformance.options.CheckOptions`); returns the results.

    Usage errors (unknown method, parameter, convention, backend/dtype pair) raise :class:`UsageError`.
    """
    spec = method(method_id)
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    if max_examples is not None and max_examples < 1:
        raise UsageError(f"max_examples must be >= 1; got {max_examples}")
    options = CheckOptions(params=dict(params or {}), accept=tuple(accept), class_axis=class_axis,
                           third_party=third_party)
    jobs = _jobs(fn, spec, backend, dtypes, levels, options)
    return list(iter_results(jobs, profile=profile, max_examples=max_examples, progress=progress))


def conventions_followed(results: Iterable[Result]) -> dict[str, int]:
    """Per accepted convention, the cases on which the implementation needed it (``id:name`` -> cases)."""
    out: dict[str, int] = {}
    for r in results:
        for key, n in r.counts.items():
            if key.startswith("convention:") and n:
                name = f"{r.method}:{key.split(':', 1)[1]}"
                out[name] = out.get(name, 0) + n
    return out


def assert_conforms(fn: Callable[..., Any], method_id: str, *, backend: str = "numpy", dtype: str = "float64",
                    levels: Iterable[str] | None = None, params: Mapping[str, object] | None = None,
                    accept: Iterable[str] = (), class_axis: int | None = None, third_party: bool = True,
                    profile: str = "ci", max_examples: int | None = None) -> list[Result]:
    """Assert that ``fn`` (fed ``backend`` arrays of ``dtype``) conforms to the spec of ``method_id``.

    Levels default to :func:`default_levels`; ``params`` pins parameters, ``accept`` names conventions
    the function may follow, ``class_axis`` says where it expects categories (see
    :mod:`conformance.options`). Raises ``AssertionError`` with the smallest failing example and a
    ready-to-paste reproduction.
    """
    results = check(fn, method_id, backend=backend, dtypes=(dtype,), levels=levels, params=params, accept=accept,
                    class_axis=class_axis, third_party=third_party, profile=profile, max_examples=max_examples)
    failed = [r for r in results if r.status == "fail"]
    if failed:
        text = "\n\n".join(f"[{r.level}] {r.message}\n--- reproduction ---\n{r.repro}" for r in failed)
        raise AssertionError(f"{getattr(fn, '__name__', fn)} does not conform to {method_id!r}:\n{text}")
    return results
