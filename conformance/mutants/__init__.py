"""Mutants: plausible wrong versions of every method, which the ``ci`` profile must kill.

Layout: ``conformance/mutants/<family>/<group>.py`` (mirroring ``spec/<family>/<group>.py``) defines
``MUTANTS``: method id -> tuple of :class:`Mutant`. A mutant is a complete implementation with the
method's calling convention and one plausible bug (off-by-one at a cut, wrong side of a comparison,
wrong tie rule, wrong normaliser, sign, log base, missing stop-gradient, accumulation in the input
dtype...). ``entropy-atlas mutate`` runs each through the same harness as ``conform`` on its
``backend`` and ``dtypes``; a mutant that no level catches *survives*, and the test suite fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Mutant", "all_mutants", "mutants_for"]


@dataclass(frozen=True)
class Mutant:
    """One plausible bug. ``fn`` takes ``backend`` arrays of each of ``dtypes`` (NumPy float64 by
    default; a Torch backend for autograd bugs such as a missing stop-gradient, a 16-bit dtype for
    accumulation bugs)."""

    name: str
    description: str
    fn: Callable[..., Any]
    backend: str = "numpy"
    dtypes: tuple[str, ...] = ("float64",)


_CACHE: dict[str, tuple[Mutant, ...]] | None = None


def _table() -> dict[str, tuple[Mutant, ...]]:
    global _CACHE
    if _CACHE is None:
        from conformance.cases import collect

        _CACHE = {k: tuple(v) for k, v in collect(__name__, "MUTANTS").items()}
    return _CACHE


def mutants_for(method_id: str) -> tuple[Mutant, ...]:
    return _table().get(method_id, ())


def all_mutants() -> dict[str, tuple[Mutant, ...]]:
    return dict(_table())
