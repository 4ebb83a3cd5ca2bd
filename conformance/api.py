"""The programmatic API: run conformance for ids, or assert that a function conforms."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from conformance.backends import get_backend
from conformance.runner import Job, Result, iter_results, jobs_for
from spec.registry import get

__all__ = ["assert_conforms", "conform"]


def conform(method_ids: Iterable[str] | None = None, *, backends: Iterable[str] | None = None,
            dtypes: Iterable[str] | None = None, levels: Iterable[str] | None = None,
            profile: str = "ci", max_examples: int | None = None, progress: bool = False) -> list[Result]:
    """Run the selected conformance jobs and return their results."""
    jobs = jobs_for(method_ids, backends, dtypes, levels)
    return list(iter_results(jobs, profile=profile, max_examples=max_examples, progress=progress))


def assert_conforms(fn: Callable[..., Any], method_id: str, *, backend: str = "numpy", dtype: str = "float64",
                    levels: Iterable[str] = ("values", "properties"), profile: str = "ci",
                    max_examples: int | None = None) -> list[Result]:
    """Assert that ``fn`` (fed ``backend`` arrays of ``dtype``) conforms to the spec of ``method_id``.

    Raises ``AssertionError`` with the smallest failing example and a ready-to-paste reproduction.
    """
    spec = get(method_id)
    back = get_backend(backend)
    results = [
        r
        for level in levels
        for r in iter_results([Job(spec, back, dtype, level, fn=fn)], profile=profile, max_examples=max_examples)
    ]
    failed = [r for r in results if r.status == "fail"]
    if failed:
        text = "\n\n".join(f"[{r.level}] {r.message}\n--- reproduction ---\n{r.repro}" for r in failed)
        raise AssertionError(f"{getattr(fn, '__name__', fn)} does not conform to {method_id!r}:\n{text}")
    return results
