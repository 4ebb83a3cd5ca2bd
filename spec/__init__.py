"""entropy-atlas contract layer: one :class:`~spec.model.MethodSpec` per catalogued method id.

Importing ``spec`` registers every method of every family. Use :func:`get` for one spec and
:func:`all_specs` for all of them.
"""

from spec import categorical, decoding, policy  # noqa: F401  (importing registers the specs)
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

__all__ = [
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
