"""Accelerated ``spectral`` group of the ``information`` family (array API: NumPy, Torch, CuPy).

Eigenvalues come from ``eigvalsh`` in the computation dtype (float64 for float64 inputs, float32 for every
other dtype, whose eigensolvers do not exist in 16 bits). Gram matrices are formed on the smaller side:
``Xᵀ X`` (D×D) when ``D < N`` — the same nonzero spectrum as ``X Xᵀ`` without an N×N matrix. The
eigenvalue threshold and renormalisation follow :mod:`spec.information._common`.
"""

from __future__ import annotations

from typing import Any

from accelerated._xp import Array, detach, from_compute, namespace, to_compute
from accelerated.information._spectral import check_samples, check_weights, keep_mask, renyi, rtol_for
from spec.validate import check_params

__all__ = ["vendi_score"]


def _prescale(x: Array, kernel: str, xp: Any) -> Array:
    """Divide by the largest |entry| (per row for the cosine kernel), detached: the score is invariant to
    that scale, and squares of float32 inputs above ~1e19 no longer overflow."""
    a = detach(xp.abs(x))
    top = xp.max(a, axis=1, keepdims=True) if kernel == "cosine" else xp.max(a)
    return x / xp.where(top > 0, top, xp.ones_like(top))


def vendi_score(X: Array, *, p: Array | None = None, q: float = 1.0, kernel: str = "cosine",
                eig_rtol: float | None = None) -> Array:
    """Vendi score of order ``q`` (dual D×D form when D < N); see :func:`reference.information.vendi_score`."""
    fn = "vendi_score"
    xp = namespace(X, p)
    check_params(fn, q=q, kernel=kernel, eig_rtol=eig_rtol)
    n, d = check_samples(fn, "X", X, xp, square=kernel == "precomputed")
    check_weights(fn, p, n, xp)
    x = _prescale(to_compute(X, xp), kernel, xp)
    sw = None if p is None else xp.sqrt(xp.astype(p, x.dtype))
    if kernel == "precomputed":
        k = (x + xp.matrix_transpose(x)) / 2.0
        m = k if sw is None else sw[:, None] * k * sw[None, :]
    else:
        if kernel == "cosine":
            norms = xp.sqrt(xp.sum(x * x, axis=1, keepdims=True))
            x = x / xp.where(norms > 0, norms, xp.ones_like(norms))
        if sw is not None:
            x = x * sw[:, None]
        m = xp.matrix_transpose(x) @ x if d < n else x @ xp.matrix_transpose(x)
    lam = xp.linalg.eigvalsh(m)
    h = renyi(lam, keep_mask(lam, rtol_for(eig_rtol, n, d, x.dtype, xp), xp), float(q), xp)
    return from_compute(xp.exp(h), X, xp)
