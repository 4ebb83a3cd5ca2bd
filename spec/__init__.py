"""entropy-atlas contract layer: one :class:`~spec.model.MethodSpec` per catalogued method id.

Importing ``spec`` registers every method of every family. Use :func:`get` for one spec and
:func:`all_specs` for all of them.
"""

from spec.discovery import load_families
from spec.errors import (
    BackendUnavailableError,
    DomainError,
    DTypeError,
    EntropyAtlasError,
    InputError,
    ParameterError,
    ShapeError,
    UnknownMethodError,
)
from spec.model import Budget, MethodSpec
from spec.registry import all_specs, families, get

#: Every family package below ``spec`` (importing each registers its methods); discovered, not listed.
FAMILIES = load_families("spec")

__all__ = [
    "FAMILIES",
    "BackendUnavailableError",
    "Budget",
    "DTypeError",
    "DomainError",
    "EntropyAtlasError",
    "InputError",
    "MethodSpec",
    "ParameterError",
    "ShapeError",
    "UnknownMethodError",
    "all_specs",
    "families",
    "get",
]
