"""The registry of method specs, keyed by catalogue id."""

from __future__ import annotations

from collections.abc import Iterator

from spec.errors import UnknownMethodError
from spec.model import MethodSpec

__all__ = ["all_specs", "families", "get", "register"]

_REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry (ids are unique) and return it."""
    if spec.id in _REGISTRY:
        raise ValueError(f"method id {spec.id!r} is registered twice")
    _REGISTRY[spec.id] = spec
    return spec


def get(method_id: str) -> MethodSpec:
    """The spec of ``method_id``; raises :class:`UnknownMethodError` naming close ids."""
    try:
        return _REGISTRY[method_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(method_id, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownMethodError(f"no method {method_id!r} is registered{hint}") from None


def all_specs() -> Iterator[MethodSpec]:
    """Every registered spec, ordered by family then id."""
    yield from sorted(_REGISTRY.values(), key=lambda s: (s.family, s.id))


def families() -> list[str]:
    return sorted({s.family for s in _REGISTRY.values()})
