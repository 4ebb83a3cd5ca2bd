"""Per-method case strategies that the generic builder cannot express.

Each family module ``conformance/cases/<family>.py`` defines ``CASES``: a mapping from method id to a
function ``(spec, dtype_name[, small=False]) -> SearchStrategy[Case]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["override_for"]

_FAMILIES = ("categorical", "decoding", "policy")
_CACHE: dict[str, Callable[..., Any]] | None = None


def _load() -> dict[str, Callable[..., Any]]:
    table: dict[str, Callable[..., Any]] = {}
    for family in _FAMILIES:
        try:
            module = importlib.import_module(f"conformance.cases.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"conformance.cases.{family}":
                raise
            continue
        table.update(getattr(module, "CASES", {}))
    return table


def override_for(method_id: str) -> Callable[..., Any] | None:
    global _CACHE
    if _CACHE is None:
        _CACHE = _load()
    return _CACHE.get(method_id)
