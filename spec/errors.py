"""The project's error hierarchy.

Every layer raises these, so a user can catch one class whatever the backend. Each error names the
function, the argument, what was expected and what was given::

    top_p_filter: argument 'p' expected a float in [0, 1]; got 1.5

``InputError`` subclasses ``ValueError`` and ``DTypeError`` subclasses ``TypeError`` so code written
against NumPy/Torch conventions keeps working.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "DTypeError",
    "DomainError",
    "EntropyAtlasError",
    "InputError",
    "ParameterError",
    "ShapeError",
    "UnknownMethodError",
]


class EntropyAtlasError(Exception):
    """Base class of every error raised on purpose by entropy-atlas."""


class InputError(EntropyAtlasError, ValueError):
    """An argument has a bad value or shape."""

    def __init__(self, function: str, argument: str, expected: str, got: str) -> None:
        self.function = function
        self.argument = argument
        self.expected = expected
        self.got = got
        super().__init__(f"{function}: argument {argument!r} expected {expected}; got {got}")


class ShapeError(InputError):
    """Shapes of array arguments are inconsistent or of the wrong rank."""


class DomainError(InputError):
    """Array values lie outside their domain (NaN, +inf, off the simplex, out of range)."""


class ParameterError(InputError):
    """A scalar parameter lies outside its documented range or set of choices."""


class DTypeError(EntropyAtlasError, TypeError):
    """An array has a dtype the method does not accept (e.g. float logits as class targets)."""

    def __init__(self, function: str, argument: str, expected: str, got: str) -> None:
        self.function = function
        self.argument = argument
        self.expected = expected
        self.got = got
        super().__init__(f"{function}: argument {argument!r} expected {expected}; got {got}")


class UnknownMethodError(EntropyAtlasError, KeyError):
    """No method with that id is registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown method"


class BackendUnavailableError(EntropyAtlasError, RuntimeError):
    """The requested backend (e.g. CuPy, CUDA) is not installed or has no device."""
