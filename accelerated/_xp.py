"""Array-namespace helpers shared by every accelerated implementation (one copy of each).

``Array`` is the one array type of the accelerated layer: a NumPy, Torch or CuPy array, reached
through the array-api-compat namespace ``xp`` that :func:`namespace` returns.
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import array_api_compat

__all__ = [
    "Array",
    "compute_dtype",
    "detach",
    "device",
    "from_compute",
    "is_torch",
    "log_softmax",
    "logsumexp",
    "namespace",
    "needs_grad",
    "rows",
    "softmax",
    "to_compute",
    "xlogy",
]

#: A NumPy, Torch or CuPy array (the array API gives no static type common to the three).
Array: TypeAlias = Any


def namespace(*arrays: Array) -> Any:
    """The array-api-compat namespace of ``arrays`` (NumPy, Torch or CuPy); ``None`` entries skipped."""
    return array_api_compat.array_namespace(*[a for a in arrays if a is not None])


def is_torch(x: Array) -> bool:
    return bool(array_api_compat.is_torch_array(x))


def compute_dtype(x: Array, xp: Any) -> Any:
    """float64 stays float64; everything else floating is computed in float32."""
    return xp.float64 if x.dtype == xp.float64 else xp.float32


def to_compute(x: Array, xp: Any) -> Array:
    dt = compute_dtype(x, xp)
    return x if x.dtype == dt else xp.astype(x, dt)


def from_compute(y: Array, like: Array, xp: Any) -> Array:
    """Cast a computed result back to the floating dtype of ``like``."""
    return y if y.dtype == like.dtype else xp.astype(y, like.dtype)


def xlogy(x: Array, y: Array, xp: Any) -> Array:
    """``x * log(y)`` with 0 where ``x == 0``."""
    safe = xp.where(x == 0, xp.ones_like(y), y)
    return xp.where(x == 0, xp.zeros_like(x), x * xp.log(safe))


def logsumexp(z: Array, xp: Any, axis: int = -1, keepdims: bool = False) -> Array:
    """Stable ``log Σ exp z``; rows may hold ``-inf`` entries (not only ``-inf``)."""
    m = xp.max(z, axis=axis, keepdims=True)
    out = xp.log(xp.sum(xp.exp(z - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(z: Array, xp: Any, axis: int = -1) -> Array:
    """Shift-exact ``(z - max) - log Σ exp(z - max)`` (no digits lost to ``z - logsumexp(z)`` at large |z|)."""
    s = z - xp.max(z, axis=axis, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


def softmax(z: Array, xp: Any, axis: int = -1) -> Array:
    """Shift-exact softmax: ``exp(z - max) / Σ exp(z - max)`` (equal logits give exactly equal p)."""
    e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def detach(x: Array) -> Array:
    """Stop-gradient on Torch tensors; identity for other arrays."""
    return x.detach() if is_torch(x) else x


def needs_grad(x: Array) -> bool:
    """A Torch tensor that will record autograd history (grad mode on and ``requires_grad``)."""
    if not is_torch(x) or not x.requires_grad:
        return False
    import torch

    return bool(torch.is_grad_enabled())


def device(x: Array) -> Any:
    return array_api_compat.device(x)


def rows(x: Array, xp: Any) -> Array:
    """``(..., K)`` as ``(rows, K)`` (a view where the backend allows)."""
    return xp.reshape(x, (math.prod(x.shape[:-1]), x.shape[-1]))
