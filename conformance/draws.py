"""Deterministic, distinct examples for the ``ci`` profile.

Hypothesis' ``derandomize`` seeds its search from the test function, and its default provider mixes
constants found in *local source files* into the draws — so editing unrelated code changed which
examples ``ci`` ran (and which bugs it caught), and about half of a method's 25 examples could be
duplicates. Here the ``ci`` examples are a pure function of the strategy and a seed derived from the
method id, dtype, level and profile: the draws use Hypothesis' own provider without local constants,
seeded explicitly, and duplicates are dropped.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from random import Random
from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.control import BuildContext
from hypothesis.errors import StopTest, UnsatisfiedAssumption
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.internal.conjecture.providers import Constants, HypothesisProvider  # type: ignore[attr-defined]

__all__ = ["draw_distinct", "fingerprint", "seed_for"]

T = TypeVar("T")


class _NoLocalConstantsProvider(HypothesisProvider):
    """Hypothesis' provider, minus the constants it harvests from local source files."""

    @cached_property
    def _local_constants(self) -> Constants:
        return Constants()


def seed_for(*parts: object) -> int:
    """A stable 64-bit seed from ``parts`` (independent of ``PYTHONHASHSEED`` and of the source)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _feed(h: Any, value: Any) -> None:
    if value is None:
        h.update(b"N")
    elif isinstance(value, np.ndarray):
        h.update(f"{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(str(k).encode())
            _feed(h, value[k])
    elif isinstance(value, (list, tuple)):
        for v in value:
            _feed(h, v)
    else:
        h.update(repr(value).encode())


def fingerprint(value: Any) -> str:
    """A digest of a drawn value (arrays by dtype, shape and bytes; dataclasses by their fields)."""
    h = hashlib.sha256()
    fields = getattr(value, "__dict__", None)
    _feed(h, fields if isinstance(fields, dict) else value)
    return h.hexdigest()


def draw_distinct(strategy: st.SearchStrategy[T], count: int, seed: int, *, attempts: int | None = None) -> list[T]:
    """Up to ``count`` distinct values of ``strategy`` from ``seed`` (fewer if the strategy has fewer)."""
    rnd = Random(seed)
    found: list[T] = []
    seen: set[str] = set()
    budget = attempts if attempts is not None else 20 * count + 20
    for _ in range(budget):
        if len(found) >= count:
            break
        data = ConjectureData(random=Random(rnd.getrandbits(64)), provider=_NoLocalConstantsProvider)
        try:
            with BuildContext(data, is_final=True, wrapped_test=draw_distinct):
                value = data.draw(strategy)
        except (StopTest, UnsatisfiedAssumption):
            continue
        key = fingerprint(value)
        if key in seen:
            continue
        seen.add(key)
        found.append(value)
    return found
