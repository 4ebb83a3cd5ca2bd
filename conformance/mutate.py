"""Sensitivity: run every mutant through the harness and report which level killed it.

A mutant is *killed* when some job of the ``ci`` profile fails on it (values first, then
properties, errors, and gradients for Torch mutants of differentiable methods); it *survives*
otherwise. A mutant that is only a stub (raises ``NotImplementedError``) is never counted as killed.

Mutants run through the public path a user takes for their own code, :func:`conformance.api.check`
(third-party mode: the errors level accepts any ``ValueError``/``TypeError``), so the kill table is
also evidence that ``entropy-atlas check`` catches these bugs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from conformance.api import check
from conformance.backends import get_backend
from conformance.mutants import Mutant, all_mutants, mutants_for
from spec.registry import get

__all__ = ["MutantResult", "kill_table", "run_mutant", "run_mutants"]

ORDER = ("values", "properties", "errors", "gradients")


@dataclass
class MutantResult:
    method: str
    mutant: str
    description: str
    killed: bool
    level: str = ""  # the first level that caught it
    dtype: str = ""
    backend: str = ""
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _levels(method_id: str, mutant: Mutant) -> list[str]:
    spec = get(method_id)
    backend = get_backend(mutant.backend)
    levels = ["values", "properties", "errors"]
    if spec.derivation is not None and backend.library == "torch":
        levels.append("gradients")
    return levels


def run_mutant(method_id: str, mutant: Mutant, *, profile: str = "ci") -> MutantResult:
    """Run one mutant until a level kills it."""
    backend = get_backend(mutant.backend)
    start = time.perf_counter()
    result = MutantResult(method_id, mutant.name, mutant.description, False, backend=backend.name)
    if not backend.available():
        result.message = f"backend {backend.name} not available: not run"
        return result
    for dtype in mutant.dtypes:
        for level in _levels(method_id, mutant):
            if level == "gradients" and dtype not in ("float64", "float32"):
                continue
            (r,) = check(mutant.fn, method_id, backend=backend.name, dtypes=(dtype,), levels=(level,), profile=profile)
            if r.status == "fail" and "NotImplementedError" not in r.message:
                result.killed, result.level, result.dtype, result.message = True, level, dtype, r.message
                result.seconds = time.perf_counter() - start
                return result
    result.message = "survived every level"
    result.seconds = time.perf_counter() - start
    return result


def run_mutants(method_ids: Iterable[str] | None = None, *, profile: str = "ci") -> list[MutantResult]:
    table = all_mutants() if method_ids is None else {m: mutants_for(m) for m in method_ids}
    return [run_mutant(method, m, profile=profile) for method in sorted(table) for m in table[method]]


def kill_table(results: list[MutantResult]) -> str:
    """A plain-text kill table (method, mutant, verdict, level, dtype)."""
    head = ("method", "mutant", "verdict", "killed by", "dtype")
    body = [(r.method, r.mutant, "killed" if r.killed else "SURVIVED", r.level or "-", r.dtype or "-")
            for r in results]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)]
    killed = sum(r.killed for r in results)
    methods = {r.method for r in results}
    lines += ["", f"{len(results)} mutants of {len(methods)} methods: {killed} killed, "
              f"{len(results) - killed} survived"]
    return "\n".join(lines)
