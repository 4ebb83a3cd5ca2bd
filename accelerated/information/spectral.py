"""Accelerated ``spectral`` group of the ``information`` family (array API: NumPy, Torch, CuPy).

Eigenvalues come from ``eigvalsh`` in the computation dtype (float64 for float64 inputs, float32 for every
other dtype, whose eigensolvers do not exist in 16 bits). Gram matrices are formed on the smaller side:
``Xᵀ X`` (D×D) when ``D < N`` — the same nonzero spectrum as ``X Xᵀ`` without an N×N matrix. The
eigenvalue threshold and renormalisation follow :mod:`spec.information._common`.
"""

from __future__ import annotations

import math
from typing import Any

from accelerated._xp import Array, detach, from_compute, namespace, to_compute, xlogy
from accelerated.information._spectral import check_samples, check_weights, keep_mask, renyi, rtol_for
from spec.errors import DomainError, ParameterError, ShapeError
from spec.validate import check_params, checked

__all__ = ["alpha_req", "eigenspectrum", "latent_von_neumann_entropy", "matrix_entropy", "rankme", "vendi_score"]


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


def latent_von_neumann_entropy(X: Array, *, center: bool = True, eps: float = 1e-8) -> Array:
    """Von Neumann entropy of the eps-regularised, trace-normalised covariance; see
    :func:`reference.information.latent_von_neumann_entropy`.

    The eigenvalues of ``Σ = Z_cᵀZ_c/(N − 1) + eps·I`` are ``σ_i²/(N − 1) + eps`` for the singular values
    ``σ_i`` of ``Z_c`` and ``eps`` for the remaining ``D − min(N, D)``: one ``svdvals`` of ``Z_c`` gives them
    all, accurately (no squared round-off) and without a D×D matrix when ``N < D``.
    """
    fn = "latent_von_neumann_entropy"
    xp = namespace(X)
    check_params(fn, center=center, eps=eps)
    n, d = check_samples(fn, "X", X, xp)
    if n < 2:
        raise ShapeError(fn, "X", "at least 2 samples (the covariance divides by N − 1)", f"shape {(n, d)}")
    x = to_compute(X, xp)
    z = x - xp.mean(x, axis=0, keepdims=True) if center else x
    s = xp.linalg.svdvals(z)
    mu = s * s / (n - 1)
    rest = d - min(n, d)
    denom = xp.sum(mu) + d * eps
    denom = xp.where(denom > eps, denom, xp.full_like(denom, eps))
    safe = xp.where(denom > 0, denom, xp.ones_like(denom))
    lam = xp.maximum((mu + eps) / safe, xp.full_like(mu, eps))
    out = -xp.sum(xlogy(lam, lam, xp))
    if rest and eps > 0:
        lam_rest = xp.maximum(eps / safe, xp.full_like(safe, eps))
        out = out - rest * xlogy(lam_rest, lam_rest, xp)
    return from_compute(out, X, xp)


def matrix_entropy(X: Array, *, center: bool = True) -> Array:
    """Normalised matrix entropy (metric: the input is detached); see :func:`reference.information.matrix_entropy`.

    ``λ(A/tr A) = σ²/Σσ²`` for the singular values of the row-normalised ``Z``: ``svdvals`` of ``Z`` (no D×D
    matrix, no squared round-off at zero eigenvalues)."""
    fn = "matrix_entropy"
    xp = namespace(X)
    check_params(fn, center=center)
    n, d = check_samples(fn, "X", X, xp)
    if d < 2:
        raise ShapeError(fn, "X", "at least 2 features (H is normalised by log D)", f"shape {(n, d)}")
    x = detach(to_compute(X, xp))
    z = x - xp.mean(x, axis=0, keepdims=True) if center else x
    top = xp.max(xp.abs(z), axis=1, keepdims=True)
    z = z / xp.where(top > 0, top, xp.ones_like(top))
    norms = xp.sqrt(xp.sum(z * z, axis=1, keepdims=True))
    z = z / xp.where(norms > 0, norms, xp.ones_like(norms))
    s2 = xp.linalg.svdvals(z) ** 2
    total = xp.sum(s2)
    lam = s2 / xp.where(total > 0, total, xp.ones_like(total))
    return from_compute(-xp.sum(xlogy(lam, lam, xp)) / math.log(d), X, xp)


def rankme(X: Array, *, spectrum: str = "covariance", eps: float = 1e-7, max_eigenvals: int = 2048) -> Array:
    """RankMe (metric: the input is detached, as reptrix); see :func:`reference.information.rankme`.

    Both spectra come from ``svdvals`` (descending): σ² of the centred features for the covariance, σ of X."""
    fn = "rankme"
    xp = namespace(X)
    check_params(fn, spectrum=spectrum, eps=eps, max_eigenvals=max_eigenvals)
    n, d = check_samples(fn, "X", X, xp)
    x = detach(to_compute(X, xp))
    if spectrum == "covariance":  # centre first: identical rows give exactly 0, as in the reference
        x = x - xp.mean(x, axis=0, keepdims=True)
    top = xp.max(xp.abs(x))
    x = x / xp.where(top > 0, top, xp.ones_like(top))  # scale-invariant; no overflow of σ² in float32
    s = xp.linalg.svdvals(x)
    lam = s * s if spectrum == "covariance" else s
    lam = lam[: min(max_eigenvals, n, d)]
    total = xp.sum(xp.abs(lam))
    p = lam / xp.where(total > 0, total, xp.ones_like(total)) + eps
    return from_compute(xp.exp(-xp.sum(xlogy(p, p, xp))), X, xp)


def eigenspectrum(X: Array, *, max_eigenvals: int = 2048) -> Array:
    """PCA explained-variance ratios (metric helper: detached); see :func:`reference.information.eigenspectrum`."""
    fn = "eigenspectrum"
    xp = namespace(X)
    check_params(fn, max_eigenvals=max_eigenvals)
    n, d = check_samples(fn, "X", X, xp)
    x = detach(to_compute(X, xp))
    x = x - xp.mean(x, axis=0, keepdims=True)
    top = xp.max(xp.abs(x))
    x = x / xp.where(top > 0, top, xp.ones_like(top))
    s = xp.linalg.svdvals(x)
    lam = s * s
    total = xp.sum(lam)
    ratios = lam / xp.where(total > 0, total, xp.ones_like(total))
    return from_compute(ratios[: min(max_eigenvals, n, d)], X, xp)


def alpha_req(X: Array, *, fit_start: int = 10, fit_stop: int = 100, max_eigenvals: int = 2048) -> Array:
    """α-ReQ power-law decay (metric: detached); see :func:`reference.information.alpha_req`."""
    fn = "alpha_req"
    xp = namespace(X)
    check_params(fn, fit_start=fit_start, fit_stop=fit_stop, max_eigenvals=max_eigenvals)
    if fit_stop <= fit_start + 1:
        raise ParameterError(fn, "fit_stop", f"an int > fit_start + 1 = {fit_start + 1}", repr(fit_stop))
    n, d = check_samples(fn, "X", X, xp)
    k = min(max_eigenvals, n, d)
    stop = min(fit_stop, k)
    if stop - fit_start < 2:
        raise ShapeError(fn, "X", f"at least fit_start + 2 = {fit_start + 2} eigenvalues (min(max_eigenvals, N, D))",
                         f"shape {(n, d)}, {k} eigenvalues")
    x = detach(to_compute(X, xp))
    x = x - xp.mean(x, axis=0, keepdims=True)
    top = xp.max(xp.abs(x))
    x = x / xp.where(top > 0, top, xp.ones_like(top))
    s = xp.linalg.svdvals(x)
    lam = s * s
    seg = lam[fit_start:stop]
    if checked() and not bool(xp.all(seg > rtol_for(None, n, d, lam.dtype, xp) * lam[0])):
        raise DomainError(fn, "X", "nonzero eigenvalues in the fit range", "a zero eigenvalue (log = -inf)")
    y = xp.log(seg / xp.sum(lam))
    r = xp.astype(xp.arange(fit_start, stop), lam.dtype) + 1.0
    u = -xp.log(r)
    w = 1.0 / r
    sw, swu, swy = xp.sum(w), xp.sum(w * u), xp.sum(w * y)
    swuu, swuy = xp.sum(w * u * u), xp.sum(w * u * y)
    return from_compute((sw * swuy - swu * swy) / (sw * swuu - swu * swu), X, xp)
