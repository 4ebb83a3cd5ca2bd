"""Families and method groups are discovered, not listed by hand.

Every layer has the same layout: ``<layer>/<family>/<group>.py``. A layer package calls
:func:`load_families` to import each family subpackage; a family package calls :func:`load_groups`
to import each group module and re-export the public names of its ``__all__``, so that
``reference.<family>.<id>`` and ``accelerated.<family>.<id>`` work whatever group holds the id.
Modules whose name starts with ``_`` (shared helpers) are imported only by the modules that use them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

__all__ = ["family_names", "group_modules", "load_families", "load_groups"]


def _children(package: str, *, packages: bool) -> list[str]:
    module = importlib.import_module(package)
    paths = getattr(module, "__path__", None)
    if paths is None:
        return []
    return sorted(info.name for info in pkgutil.iter_modules(paths)
                  if info.ispkg == packages and not info.name.startswith("_"))


def family_names(layer: str) -> list[str]:
    """The family subpackages of ``layer`` (e.g. ``"spec"``), sorted."""
    return _children(layer, packages=True)


def group_modules(package: str) -> list[ModuleType]:
    """Every group module of a family package (``spec.decoding`` -> ``spec.decoding.truncation``, ...)."""
    return [importlib.import_module(f"{package}.{name}") for name in _children(package, packages=False)]


def load_groups(package: str, namespace: dict[str, Any]) -> list[str]:
    """Import the groups of ``package``, copy their ``__all__`` names into ``namespace``; return the names.

    In the ``reference`` and ``accelerated`` layers every exported method (a name registered as a method id)
    is exported with the input rules of :mod:`spec.inputs` applied: ``reference.<family>.<id>`` and
    ``accelerated.<family>.<id>`` accept and reject the same array arguments.
    """
    layer, _, family = package.partition(".")
    registered: set[str] = set()
    if layer in ("reference", "accelerated"):
        from spec.registry import all_specs

        importlib.import_module(f"spec.{family}")
        registered = {s.id for s in all_specs()}
    names: list[str] = []
    for module in group_modules(package):
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if name in namespace and getattr(namespace[name], "__wrapped__", namespace[name]) is not obj:
                raise ImportError(f"{package}: {name!r} is exported by two group modules")
            if name in registered and callable(obj):
                from spec.inputs import with_input_rules

                obj = with_input_rules(obj, name, "reference" if layer == "reference" else "accelerated")
            namespace[name] = obj
            names.append(name)
    return sorted(names)


def load_families(layer: str) -> list[str]:
    """Import every family package of ``layer``; returns their names."""
    names = family_names(layer)
    for name in names:
        importlib.import_module(f"{layer}.{name}")
    return names
