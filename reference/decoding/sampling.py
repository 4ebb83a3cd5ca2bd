"""Reference (NumPy float64) temperature scaling and inverse-CDF sampling."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.decoding._common import _logits, _softmax
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params

__all__ = ["sample", "temperature_scale"]

I64 = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- temperature


def temperature_scale(logits: npt.ArrayLike, temperature: float) -> F64:
    r"""Temperature scaling ``z / T``.

    Peer: transformers ``TemperatureLogitsWarper`` (``scores / temperature``); temperature itself
    goes back to Boltzmann machines (Ackley, Hinton & Sejnowski, "A Learning Algorithm for
    Boltzmann Machines", 1985).

    Conventions: ``T`` must be a finite float ``> 0``. ``T = 0`` raises :class:`ParameterError`
    (like HF, which raises ``ValueError`` and points to greedy decoding): the ``T -> 0`` limit is
    greedy decoding, which has no finite logits representation, and silently returning a one-hot
    mask would change what later filters see. ``T = inf`` and NaN raise too. ``-inf`` logits stay
    ``-inf``; a result that overflows the dtype is ``±inf`` (IEEE), so keep ``|z| / T`` in range.
    Gradient: ``∂(z/T)/∂z = 1/T`` (the only differentiable method of this family).
    """
    check_params("temperature_scale", temperature=temperature)
    z = _logits("temperature_scale", logits)
    return np.asarray(z / float(temperature), dtype=np.float64)


# --------------------------------------------------------------------------- sample


def sample(logits: npt.ArrayLike, uniforms: npt.ArrayLike) -> I64:
    r"""Inverse-CDF sampling from ``softmax(logits)`` with supplied uniforms.

    ``p = softmax(z)`` per row, ``C_j = Σ_{i<=j} p_i`` in **vocabulary order**; the token is
    ``F^{-1}(u) = min{j : z_j finite, C_j > u}``. Two cases follow the exact-arithmetic inverse CDF
    (where every finite logit has ``p_j > 0`` and ``C_{V-1} = 1``) rather than the rounded sums:

    - ``u = 0`` returns the **first finite position**, even when its probability underflows to 0 in
      the working precision (so float32 and float64 agree);
    - when round-off leaves ``u >= C_{V-1}``, the result is clamped to the **last finite position**.

    A ``-inf`` position is never returned.

    Randomness is an input: one ``u`` in ``[0, 1)`` per row, ``uniforms.shape == logits.shape[:-1]``.
    Rows are independent, so the batch size cannot change a row's token. The reference computes the
    cumulative sum in float64; the accelerated version uses float64 for float64 input and float32
    otherwise, so tokens agree across backends except where ``u`` lies within round-off of a
    ``C_j``.

    Errors: a row with no finite logit, NaN logits or uniforms (:class:`DomainError`), uniforms
    outside ``[0, 1)`` (:class:`DomainError`), uniforms of the wrong shape (:class:`ShapeError`).
    Output: int64 indices of shape ``logits.shape[:-1]``.
    """
    z = _logits("sample", logits)
    u = as_f64(uniforms) if np.issubdtype(np.asarray(uniforms).dtype, np.floating) else np.asarray(uniforms)
    if tuple(u.shape) != tuple(z.shape[:-1]):
        raise ShapeError("sample", "uniforms", f"shape {tuple(z.shape[:-1])} (logits.shape[:-1])",
                         f"shape {tuple(u.shape)}")
    check_finite("sample", "uniforms", u, np)
    if np.any((u < 0) | (u >= 1)):
        raise DomainError("sample", "uniforms", "values in [0, 1)", "a value outside [0, 1)")
    out = np.empty(z.shape[:-1], dtype=np.int64)
    for idx in np.ndindex(*z.shape[:-1]):
        cum = np.cumsum(_softmax(z[idx]))
        finite = np.flatnonzero(np.isfinite(z[idx]))
        token = int(finite[-1])  # clamp: the last finite position
        for j in finite:
            if cum[j] > u[idx] or u[idx] == 0:
                token = int(j)
                break
        out[idx] = token
    return out
