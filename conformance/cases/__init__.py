"""Per-method case strategies, curated hard cases, and their discovery.

Layout: ``conformance/cases/<family>/<group>.py`` mirrors ``spec/<family>/<group>.py``. A group
module may define

* ``CASES``: method id -> ``(spec, dtype[, small=False]) -> SearchStrategy[Case]`` for inputs whose
  relations the spec cannot express (the generic builder in :mod:`conformance.strategies` serves
  every other method);
* ``CURATED``: method id -> tuple of :class:`Curated` hard cases written by hand (mid-distribution
  cuts, ties, ``-inf``, all-ignored targets, clips on both sides, empty masks...). They run as
  explicit examples in every conformance job and are the first cases of the committed golden
  vectors. ``expected`` holds outputs derived by hand (closed forms), never taken from our code.

Modules are found by walking the package: nothing is listed by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Curated", "collect", "curated_for", "override_for"]


@dataclass(frozen=True)
class Curated:
    """A hand-written hard case: float64 ``inputs``, ``params``, why it is hard, and (when derived by
    hand) the ``expected`` outputs by output name."""

    name: str
    why: str
    inputs: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] | None = None


def collect(package: str, attribute: str) -> dict[str, Any]:
    """Merge the ``attribute`` dicts of every module below ``package`` (ids must not repeat)."""
    root = importlib.import_module(package)
    table: dict[str, Any] = {}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for key, value in getattr(module, attribute, {}).items():
            if key in table:
                raise ImportError(f"{package}: {attribute}[{key!r}] is defined twice (second in {info.name})")
            table[key] = value
    return table


_CACHE: dict[str, dict[str, Any]] = {}


def _table(attribute: str) -> dict[str, Any]:
    if attribute not in _CACHE:
        _CACHE[attribute] = collect(__name__, attribute)
    return _CACHE[attribute]


def override_for(method_id: str) -> Callable[..., Any] | None:
    """The case strategy of ``method_id`` when its group module defines one."""
    fn: Callable[..., Any] | None = _table("CASES").get(method_id)
    return fn


def curated_for(method_id: str) -> tuple[Curated, ...]:
    """The curated hard cases of ``method_id`` (empty when none are written yet)."""
    return tuple(_table("CURATED").get(method_id, ()))
