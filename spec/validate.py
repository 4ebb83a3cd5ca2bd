"""Input validation shared by ``reference`` and ``accelerated``.

Both layers call these helpers, so the same bad input raises the same error class with the same
message on every backend. Array checks take the array namespace ``xp`` (NumPy for the reference,
the array-api-compat namespace of Torch/CuPy for the accelerated versions).

Conventions (see DESIGN.md, "Bad input"):
- an empty category/vocabulary axis is a :class:`ShapeError`; empty *batch* dimensions are legal
  and give empty outputs (reductions over nothing are documented per method);
- NaN is never accepted in float inputs; ``+inf`` never; ``-inf`` only where the spec allows it
  (masked logits), and never for a whole row;
- probability vectors must be non-negative and sum to 1 within :func:`simplex_atol`.

Checked mode. Shape, dtype and parameter checks always run. The *data-dependent* checks (NaN,
``+inf``, the simplex, mask values, index ranges) read array values, which on a GPU forces a host
sync and under ``torch.compile`` breaks the graph. They run in checked mode, on by default; turn
them off for a training loop with ``with spec.validate.unchecked(): ...`` (or
``set_checked(False)``). While ``torch.compile`` traces, they are skipped automatically.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spec.errors import DomainError, DTypeError, ParameterError, ShapeError
from spec.registry import get

__all__ = [
    "check_finite",
    "check_floating",
    "check_index",
    "check_mask",
    "check_params",
    "check_same_shape",
    "check_simplex",
    "check_vocab_axis",
    "checked",
    "normalise_axis",
    "set_checked",
    "simplex_atol",
    "unchecked",
]

_CHECKED = True


def set_checked(enabled: bool) -> None:
    """Turn the data-dependent input checks on (default) or off, process-wide."""
    global _CHECKED
    _CHECKED = bool(enabled)


@contextmanager
def unchecked() -> Iterator[None]:
    """Skip the data-dependent input checks inside the block (shape, dtype, parameters still checked)."""
    global _CHECKED
    previous = _CHECKED
    _CHECKED = False
    try:
        yield
    finally:
        _CHECKED = previous


def checked() -> bool:
    """Whether data-dependent checks run now: checked mode is on and ``torch.compile`` is not tracing."""
    if not _CHECKED:
        return False
    torch = sys.modules.get("torch")
    if torch is not None:
        compiler = getattr(torch, "compiler", None)
        if compiler is not None and compiler.is_compiling():
            return False
    return True


def check_params(method_id: str, **values: object) -> None:
    """Check scalar parameters against the domains declared in the spec of ``method_id``."""
    spec = get(method_id)
    for name, value in values.items():
        p = spec.param(name)
        if not p.contains(value):
            raise ParameterError(method_id, name, p.domain.describe(), repr(value))


def _plain(x: Any) -> Any:
    """Values only: a Torch tensor that requires grad is detached before it is inspected."""
    detach = getattr(x, "detach", None)
    return detach() if callable(detach) else x


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in x.shape)


def normalise_axis(fn: str, axis: int, ndim: int) -> int:
    if not isinstance(axis, int) or isinstance(axis, bool) or not -ndim <= axis < max(ndim, 1):
        raise ParameterError(fn, "axis", f"an int in [{-ndim}, {ndim})", repr(axis))
    return axis % ndim


def check_vocab_axis(fn: str, name: str, x: Any, axis: int = -1) -> int:
    """``x`` has at least one dimension and a non-empty category axis; returns the axis (>= 0)."""
    shape = _shape(x)
    if len(shape) == 0:
        raise ShapeError(fn, name, "an array with at least 1 dimension (categories on the last axis)", "a 0-d array")
    ax = normalise_axis(fn, axis, len(shape))
    if shape[ax] == 0:
        raise ShapeError(fn, name, "a non-empty category axis", f"shape {shape}")
    return ax


def check_same_shape(fn: str, **arrays: Any) -> tuple[int, ...]:
    """All given arrays (None skipped) have one shape; returns it."""
    items = [(k, _shape(v)) for k, v in arrays.items() if v is not None]
    first_name, first = items[0]
    for name, shape in items[1:]:
        if shape != first:
            raise ShapeError(fn, name, f"shape {first} (the shape of {first_name!r})", f"shape {shape}")
    return first


def check_floating(fn: str, name: str, x: Any, xp: Any) -> None:
    if not xp.isdtype(x.dtype, "real floating"):
        raise DTypeError(fn, name, "a real floating dtype", f"dtype {x.dtype}")


def check_finite(fn: str, name: str, x: Any, xp: Any, *, allow_neg_inf: bool = False, axis: int = -1) -> None:
    """No NaN, no +inf; -inf only if ``allow_neg_inf``, and then never filling a whole row."""
    check_floating(fn, name, x, xp)
    if not checked():
        return
    x = _plain(x)
    if bool(xp.any(xp.isnan(x))):
        raise DomainError(fn, name, "no NaN values", "NaN")
    if allow_neg_inf:
        if bool(xp.any(x == float("inf"))):
            raise DomainError(fn, name, "finite values or -inf", "+inf")
        if x.ndim > 0 and x.shape[axis] > 0 and bool(xp.any(xp.all(x == -float("inf"), axis=axis))):
            raise DomainError(fn, name, "at least one finite entry per row", "a row of only -inf")
    elif not bool(xp.all(xp.isfinite(x))):
        raise DomainError(fn, name, "finite values", "inf")


def simplex_atol(dtype_name: str) -> float:
    """How far from 1 a probability vector of this dtype may sum."""
    return 2e-2 if dtype_name in ("bfloat16", "float16") else 1e-5


def _dtype_name(x: Any) -> str:
    return str(x.dtype).replace("torch.", "")


def check_simplex(fn: str, name: str, p: Any, xp: Any, *, axis: int = -1) -> None:
    """``p`` is finite, non-negative and sums to 1 along ``axis`` within :func:`simplex_atol`."""
    check_finite(fn, name, p, xp)
    if not checked() or any(int(d) == 0 for d in p.shape):
        return
    p = _plain(p)
    if bool(xp.any(p < 0)):
        raise DomainError(fn, name, "probabilities >= 0", f"a minimum of {float(xp.min(p))!r}")
    work = p if p.dtype in (xp.float32, xp.float64) else xp.astype(p, xp.float32)
    total = xp.sum(work, axis=axis)
    if total.ndim > 0 and total.shape[0] == 0:
        return
    worst = float(xp.max(xp.abs(total - 1.0)))
    if worst > simplex_atol(_dtype_name(p)):
        raise DomainError(fn, name, f"rows summing to 1 (within {simplex_atol(_dtype_name(p)):g})",
                          f"a row whose sum is off by {worst:.3g}")


def check_mask(fn: str, name: str, mask: Any, xp: Any) -> None:
    """Masks are boolean, or numeric with values in {0, 1}."""
    if xp.isdtype(mask.dtype, "bool") or not checked():
        return
    mask = _plain(mask)
    if not bool(xp.all((mask == 0) | (mask == 1))):
        raise DomainError(fn, name, "a boolean mask (or values in {0, 1})", "other values")


def check_index(fn: str, name: str, x: Any, xp: Any, *, low: int, high: int, ignore: int | None = None) -> None:
    """Integer indices in ``[low, high)``, or equal to ``ignore``."""
    if not xp.isdtype(x.dtype, "integral"):
        raise DTypeError(fn, name, "an integer dtype", f"dtype {x.dtype}")
    if not checked():
        return
    x = _plain(x)
    ok = (x >= low) & (x < high)
    if ignore is not None:
        ok = ok | (x == ignore)
    if not bool(xp.all(ok)):
        extra = f" or {ignore}" if ignore is not None else ""
        raise DomainError(fn, name, f"indices in [{low}, {high}){extra}", "an index out of range")
