"""Mutants (plausible wrong versions the ``ci`` profile must kill) of the ``information`` family, group
``spectral``: peer bugs (vendi-score's ``score_X`` ignoring ``q``), wrong normalisers, weights applied
without the square root, round-off eigenvalues counted, NaN on zero rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from reference.information._spectral import default_rtol, keep_mask, renyi, sample_matrix, weights
from spec.validate import check_params

__all__ = ["MUTANTS"]

MUTANTS: dict[str, tuple[Mutant, ...]] = {}


# --------------------------------------------------------------------------- vendi_score


def _vendi(bug: str) -> Callable[..., Any]:
    def vendi_score(X: Any, *, p: Any = None, q: float = 1.0, kernel: str = "cosine",
                    eig_rtol: float | None = None) -> Any:
        fn = "vendi_score"
        check_params(fn, q=q, kernel=kernel, eig_rtol=eig_rtol)
        x = sample_matrix(fn, "X", X, square=kernel == "precomputed")
        n, d = x.shape
        w = weights(fn, p, n)
        qq = 1.0 if bug == "score_x_ignores_q" and kernel != "precomputed" else float(q)
        if kernel == "precomputed":
            k = (x + x.T) / 2.0
        else:
            if kernel == "cosine":
                norms = np.sqrt(np.sum(x * x, axis=1))
                if bug != "zero_row_nan":
                    norms = np.where(norms > 0, norms, 1.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    x = x / norms[:, None]
            k = x @ x.T
        ww = np.full(n, 1.0 / n) if w is None else w
        sw = ww if bug == "weights_not_sqrt" else np.sqrt(ww)
        lam = np.asarray(np.linalg.eigvalsh(sw[:, None] * k * sw[None, :]), dtype=np.float64)
        rtol = default_rtol(n, d) if eig_rtol is None else float(eig_rtol)
        if bug == "no_renormalisation":  # vendi-score: λ(K/n) used as given, positive ones only
            pos = lam[lam > rtol * max(float(np.max(lam)), 0.0)]
            pos = pos[pos > 0]
            if math.isinf(qq):
                h = -math.log(float(np.max(pos))) if pos.size else 0.0
            elif qq == 1.0:
                h = float(-np.sum(pos * np.log(pos)))
            elif qq == 0.0:
                h = math.log(max(pos.size, 1))
            else:
                h = float(np.log(np.sum(pos**qq)) / (1.0 - qq)) if pos.size else 0.0
            return np.asarray(math.exp(h))
        return np.asarray(math.exp(renyi(lam, keep_mask(lam, rtol), qq)))

    return vendi_score


MUTANTS["vendi_score"] = (
    Mutant("score_x_ignores_q", "vendi-score 0.0.3's score_X: the cosine/linear kernels always use q = 1",
           _vendi("score_x_ignores_q")),
    Mutant("no_renormalisation", "vendi-score's λ(K/n) without renormalising the kept spectrum (wrong for the "
           "linear kernel, zero rows and non-PSD kernels)", _vendi("no_renormalisation")),
    Mutant("weights_not_sqrt", "weights applied as K ⊙ p pᵀ instead of K ⊙ √p √pᵀ", _vendi("weights_not_sqrt")),
    Mutant("zero_row_nan", "cosine kernel divides zero rows by their zero norm (NaN)", _vendi("zero_row_nan")),
)


# --------------------------------------------------------------------------- covariance-spectrum estimators


def _xlogx(v: Any) -> Any:
    return np.where(v > 0, v * np.log(np.where(v > 0, v, 1.0)), 0.0)


def _lvn(bug: str) -> Callable[..., Any]:
    def latent_von_neumann_entropy(X: Any, *, center: bool = True, eps: float = 1e-8) -> Any:
        fn = "latent_von_neumann_entropy"
        check_params(fn, center=center, eps=eps)
        x = sample_matrix(fn, "X", X)
        n, d = x.shape
        if n < 2:
            from spec.errors import ShapeError

            raise ShapeError(fn, "X", "at least 2 samples", f"shape {x.shape}")
        z = x - x.mean(axis=0) if center and bug != "no_centering" else x
        sigma = z.T @ z / (n if bug == "biased_covariance" else n - 1) + eps * np.eye(d)
        tr = max(float(np.trace(sigma)), eps)
        if tr == 0:
            return np.asarray(0.0)
        lam = np.linalg.eigvalsh(sigma / tr)
        lam = np.maximum(lam, 0.0 if bug == "clamp_zero" else eps)
        h = -float(np.sum(_xlogx(lam)))
        return np.asarray(h / math.log(2) if bug == "log2" else h)

    return latent_von_neumann_entropy


def _me(bug: str) -> Callable[..., Any]:
    def matrix_entropy(X: Any, *, center: bool = True) -> Any:
        fn = "matrix_entropy"
        check_params(fn, center=center)
        x = sample_matrix(fn, "X", X)
        n, d = x.shape
        if d < 2:
            from spec.errors import ShapeError

            raise ShapeError(fn, "X", "at least 2 features", f"shape {x.shape}")
        z = x - x.mean(axis=0) if center else x
        if bug != "no_row_normalisation":
            norms = np.linalg.norm(z, axis=1)
            z = z / np.where(norms > 0, norms, 1.0)[:, None]
        a = z.T @ z / n
        tr = float(np.trace(a))
        if tr == 0:
            return np.asarray(0.0)
        h = -float(np.sum(_xlogx(np.abs(np.linalg.eigvalsh(a / tr)))))
        if bug == "not_normalised":
            return np.asarray(h)
        return np.asarray(h / math.log(max(n, 2) if bug == "log_n" else d))

    return matrix_entropy


def _rankme(bug: str) -> Callable[..., Any]:
    def rankme(X: Any, *, spectrum: str = "covariance", eps: float = 1e-7, max_eigenvals: int = 2048) -> Any:
        fn = "rankme"
        check_params(fn, spectrum=spectrum, eps=eps, max_eigenvals=max_eigenvals)
        x = sample_matrix(fn, "X", X)
        k = min(max_eigenvals, *x.shape) if bug != "no_truncation" else min(x.shape)
        if spectrum == "covariance" and bug != "singular_always":
            c = x if bug == "uncentred" else x - x.mean(axis=0)
            lam = np.linalg.svd(c, compute_uv=False) ** 2
        else:
            lam = np.linalg.svd(x, compute_uv=False)
        lam = np.sort(lam)[::-1][:k]
        if bug == "eps_before_normalising":
            p = (lam + eps) / np.sum(lam + eps)
        else:
            total = float(np.sum(lam))
            p = (lam / total if total > 0 else np.zeros_like(lam)) + eps
        return np.asarray(math.exp(-float(np.sum(_xlogx(p)))))

    return rankme


MUTANTS["latent_von_neumann_entropy"] = (
    Mutant("no_centering", "center=True is ignored (the raw second moment)", _lvn("no_centering")),
    Mutant("biased_covariance", "Σ = ZᵀZ/N instead of the code's unbiased /(N − 1) (visible against eps)",
           _lvn("biased_covariance")),
    Mutant("clamp_zero", "eigenvalues clamped at 0 (vendi-style drop) instead of eps", _lvn("clamp_zero")),
    Mutant("log2", "entropy in bits instead of nats", _lvn("log2")),
)
MUTANTS["matrix_entropy"] = (
    Mutant("not_normalised", "−Σ λ log λ without the division by log D", _me("not_normalised")),
    Mutant("log_n", "normalised by log N (tokens) instead of log D (features)", _me("log_n")),
    Mutant("no_row_normalisation", "A = ZᵀZ/N of the centred rows without L2-normalising them",
           _me("no_row_normalisation")),
)
MUTANTS["rankme"] = (
    Mutant("eps_before_normalising", "p = (λ + eps)/Σ(λ + eps) instead of λ/Σλ + eps",
           _rankme("eps_before_normalising")),
    Mutant("singular_always", "spectrum='covariance' ignored: singular values of the uncentred X",
           _rankme("singular_always")),
    Mutant("uncentred", "covariance spectrum without centring the features", _rankme("uncentred")),
    Mutant("no_truncation", "max_eigenvals ignored", _rankme("no_truncation")),
)


def _es(bug: str) -> Callable[..., Any]:
    def eigenspectrum(X: Any, *, max_eigenvals: int = 2048) -> Any:
        fn = "eigenspectrum"
        check_params(fn, max_eigenvals=max_eigenvals)
        x = sample_matrix(fn, "X", X)
        k = min(max_eigenvals, *x.shape)
        c = x if bug == "uncentred" else x - x.mean(axis=0)
        lam = np.sort(np.linalg.svd(c, compute_uv=False) ** 2)[::-1]
        if bug == "ascending":
            lam = lam[::-1]
        total = float(np.sum(lam[:k] if bug == "truncated_total" else lam))
        return np.asarray((lam / total if total > 0 else np.zeros_like(lam))[:k])

    return eigenspectrum


MUTANTS["eigenspectrum"] = (
    Mutant("truncated_total", "ratios over the sum of the kept eigenvalues (renormalised after truncation)",
           _es("truncated_total")),
    Mutant("uncentred", "second moments of the uncentred samples", _es("uncentred")),
    Mutant("ascending", "ascending order (eigvalsh's) instead of descending", _es("ascending")),
)


def _alpha(bug: str) -> Callable[..., Any]:
    def alpha_req(X: Any, *, fit_start: int = 10, fit_stop: int = 100, max_eigenvals: int = 2048) -> Any:
        from reference.information.spectral import alpha_req as ref

        if bug == "reptrix_shifted_range":  # the second call of reptrix with one fit_range array: indices + 1
            return ref(X, fit_start=fit_start + 1, fit_stop=fit_stop + 1, max_eigenvals=max_eigenvals)
        fn = "alpha_req"
        out = ref(X, fit_start=fit_start, fit_stop=fit_stop, max_eigenvals=max_eigenvals)  # validation
        x = sample_matrix(fn, "X", X)
        k = min(max_eigenvals, *x.shape)
        stop = min(fit_stop, k)
        lam = np.sort(np.linalg.svd(x - x.mean(axis=0), compute_uv=False) ** 2)[::-1]
        y = np.log(lam[fit_start:stop] / lam.sum())
        r = np.arange(fit_start, stop) + (0.0 if bug == "zero_based_ranks" else 1.0)
        r = np.maximum(r, 1e-300)
        u = -np.log(r)
        w = np.ones_like(r) if bug == "unweighted" else 1.0 / r
        a = np.stack([u, np.ones_like(u)], axis=1)
        b = np.linalg.solve(a.T @ (a * w[:, None]), (a * w[:, None]).T @ y)
        del out
        return np.asarray(float(b[0]))

    return alpha_req


MUTANTS["alpha_req"] = (
    Mutant("unweighted", "ordinary least squares (reptrix weights each rank by 1/i)", _alpha("unweighted")),
    Mutant("reptrix_shifted_range", "reptrix's in-place trange += 1 on a reused fit range: the fit moves one rank",
           _alpha("reptrix_shifted_range")),
    Mutant("zero_based_ranks", "log of the 0-based index instead of the rank i + 1", _alpha("zero_based_ranks")),
)
