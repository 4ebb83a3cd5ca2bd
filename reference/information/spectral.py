"""Reference (NumPy float64) ``spectral`` group of the ``information`` family: estimators that are functions
of the eigenvalues of a similarity, Gram or covariance matrix of samples ``X`` (N, D), rows are samples.

Eigenvalue conventions (named in every spec; :mod:`spec.information._common`): an eigenvalue is kept when
``λ > 0`` and ``λ > eig_rtol·λ_max`` (``eig_rtol=None``: ``min(N, D)·ε``, NumPy's ``matrix_rank``
tolerance), and the kept eigenvalues are renormalised to sum 1. The reference decomposes the
Gram matrix on the ``min(N, D)`` side (``X̃ᵀX̃`` or ``X̃X̃ᵀ``: the same nonzero spectrum), whose
size is the one in the default threshold.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, xlogy
from reference.information._spectral import default_rtol, keep_mask, renyi, sample_matrix, weights
from spec.errors import DomainError, ParameterError, ShapeError
from spec.validate import check_params

__all__: list[str] = [
    "alpha_req",
    "eigenspectrum",
    "latent_von_neumann_entropy",
    "matrix_entropy",
    "rankme",
    "vendi_score",
]


# --------------------------------------------------------------------------- vendi_score


def vendi_score(X: npt.ArrayLike, *, p: npt.ArrayLike | None = None, q: float = 1.0, kernel: str = "cosine",
                eig_rtol: float | None = None) -> F64:
    r"""Vendi score of order ``q``: the exponential of the Rényi entropy of the similarity spectrum.

    .. math::

        \tilde K = \operatorname{diag}(\sqrt p)\, K\, \operatorname{diag}(\sqrt p), \qquad
        \lambda = \operatorname{eig}(\tilde K), \qquad
        \mathrm{VS}_q = \exp H_q\!\Big(\frac{\lambda_{\text{kept}}}{\sum \lambda_{\text{kept}}}\Big)

    with ``H_1 = −Σ λ log λ``, ``H_q = log(Σ λ^q)/(1 − q)``, ``H_0 = log #kept``, ``H_∞ = −log max λ``;
    ``p = 1/N`` unless weights are given. ``K`` is ``x̂_i·x̂_j`` with L2-normalised rows
    (``kernel='cosine'``, zero rows stay 0), ``x_i·x_j`` (``'linear'``), or ``X`` itself
    (``'precomputed'``, an N×N kernel, of which the symmetric part ``(K + Kᵀ)/2`` is used). For a PSD
    unit-diagonal kernel ``tr K̃ = 1`` and this is vendi-score's ``score_K``; renormalising the kept
    eigenvalues makes the score invariant to the kernel's scale.

    Eigenvalues ``λ <= 0`` or ``λ <= eig_rtol·λ_max`` are dropped (``eig_rtol=None``: ``min(N, D)·ε``,
    NumPy's ``matrix_rank`` tolerance; ``0`` keeps every positive one, as vendi-score). With nothing kept
    (``X = 0``) the score is 1.

    Papers: Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning"
    (2022, arXiv:2210.02410); Pasarkar & Dieng, "Cousins Of The Vendi Score: A Family Of Similarity-Based
    Diversity Metrics For Science And Machine Learning" (2023, arXiv:2310.12952) for the order ``q``.
    Official code: vertaix/Vendi-Score ``vendi_score/vendi.py`` (vendi-score 0.0.3). Differences from it:
    its ``score_X`` ignores ``q`` (always q = 1); ``q=np.inf`` gives NaN there (only the string "inf"
    works); it counts positive round-off eigenvalues (``eig_rtol=0`` reproduces that); it divides by ``n``
    and does not renormalise (the same for PSD unit-diagonal kernels); its linear kernel is not
    trace-normalised (scale-dependent).

    Papers:

    - The Vendi Score: A Diversity Evaluation Metric for Machine Learning (2022, arXiv:2210.02410)
    - Cousins Of The Vendi Score: A Family Of Similarity-Based Diversity Metrics For Science And Machine
      Learning (2023, arXiv:2310.12952)
    """
    fn = "vendi_score"
    check_params(fn, q=q, kernel=kernel, eig_rtol=eig_rtol)
    x = sample_matrix(fn, "X", X, square=kernel == "precomputed")
    n, d = x.shape
    w = weights(fn, p, n)
    sw = np.sqrt(np.full(n, 1.0 / n) if w is None else w)
    if kernel == "precomputed":
        m = sw[:, None] * ((x + x.T) / 2.0) * sw[None, :]
    else:
        if kernel == "cosine":
            norms = np.sqrt(np.sum(x * x, axis=1))
            x = x / np.where(norms > 0, norms, 1.0)[:, None]
        xw = sw[:, None] * x
        m = xw.T @ xw if d < n else xw @ xw.T  # the same nonzero spectrum; decompose the min(N, D) side
    lam: F64 = np.asarray(np.linalg.eigvalsh(m), dtype=np.float64)
    rtol = default_rtol(n, d) if eig_rtol is None else float(eig_rtol)
    h = renyi(lam, keep_mask(lam, rtol), float(q))
    return np.asarray(math.exp(h), dtype=np.float64)


# --------------------------------------------------------------------------- latent_von_neumann_entropy


def latent_von_neumann_entropy(X: npt.ArrayLike, *, center: bool = True, eps: float = 1e-8) -> F64:
    r"""Von Neumann entropy of the trace-normalised latent covariance (Information Koopman).

    .. math::

        \Sigma = \frac{Z_c^\top Z_c}{N - 1} + \epsilon I,\quad
        \rho = \frac{\Sigma}{\max(\operatorname{tr}\Sigma, \epsilon)},\quad
        \lambda = \max(\operatorname{eig}(\rho), \epsilon),\quad S = -\sum_k \lambda_k \log \lambda_k

    with ``Z_c = Z − mean`` (``center=True``) over the ``N`` samples (flatten ``(B, T, H)`` latents to
    ``(B·T, H)`` first). ``S ∈ [0, log D]``: ``log D`` for isotropic latents, ≈ 0 for collapsed (rank-one)
    ones. The ``eps·I`` and the clamp keep ``S`` and its gradient finite at rank deficiency (clamped
    eigenvalues get no gradient). ``eps = 0`` gives the plain von Neumann entropy (``0 log 0 = 0``), which is
    ``log vendi_score(Z_c, kernel='linear')``.

    Paper: "Information Shapes Koopman Representation" (2025, arXiv:2510.13025). Official code:
    Wenxuan52/InformationKoopman ``model/physical_simulation/base.py``, ``ROM_BASE.von_neumann_entropy``
    (followed exactly; it is the loss term of the paper's Lagrangian).

    Papers:

    - Information Shapes Koopman Representation (2025, arXiv:2510.13025)
    """
    fn = "latent_von_neumann_entropy"
    check_params(fn, center=center, eps=eps)
    x = sample_matrix(fn, "X", X)
    n, d = x.shape
    if n < 2:
        raise ShapeError(fn, "X", "at least 2 samples (the covariance divides by N − 1)", f"shape {x.shape}")
    z = x - x.mean(axis=0, keepdims=True) if center else x
    sigma = z.T @ z / (n - 1) + eps * np.eye(d)
    tr = float(np.trace(sigma))
    if max(tr, eps) == 0.0:
        return np.asarray(0.0)
    lam = np.maximum(np.linalg.eigvalsh(sigma / max(tr, eps)), eps)
    return np.asarray(float(-np.sum(xlogy(lam, lam))), dtype=np.float64)


# --------------------------------------------------------------------------- matrix_entropy


def matrix_entropy(X: npt.ArrayLike, *, center: bool = True) -> F64:
    r"""Normalised matrix entropy of row-normalised representations (the Matrix Nuclear-Norm baseline).

    .. math::

        Z = \operatorname{rownorm}(R - \bar R),\quad A = \frac{Z^\top Z}{N},\quad
        \lambda = \operatorname{svd}\Big(\frac{A}{\operatorname{tr} A}\Big),\quad
        H = -\frac{\sum_k \lambda_k \log \lambda_k}{\log D}

    ``R`` holds one representation per row (tokens, N × D); the mean is over the rows (``center=True``);
    zero rows stay zero; ``0 log 0 = 0`` (the code's ``nansum``). The singular values of the PSD ``A/tr A``
    are the absolute eigenvalues. ``H ∈ [0, 1]``: 0 for rank-one representations, 1 for isotropic ones.
    All rows equal (or zero) gives ``A = 0`` and ``H = 0`` (the code: NaN). ``D >= 2``.

    Paper: "Large Language Model Evaluation via Matrix Nuclear-Norm" (2024, arXiv:2410.10672). Official
    code: MLGroupJLU/MatrixNuclearNorm ``code/compute_entropy_time.py`` (``normalize``, ``cal_cov``,
    ``cal_entropy``); it divides zero rows by 0 (NaN), here they stay 0.

    Papers:

    - Large Language Model Evaluation via Matrix Nuclear-Norm (2024, arXiv:2410.10672)
    """
    fn = "matrix_entropy"
    check_params(fn, center=center)
    x = sample_matrix(fn, "X", X)
    n, d = x.shape
    if d < 2:
        raise ShapeError(fn, "X", "at least 2 features (H is normalised by log D)", f"shape {x.shape}")
    z = x - x.mean(axis=0, keepdims=True) if center else x
    norms = np.sqrt(np.sum(z * z, axis=1))
    z = z / np.where(norms > 0, norms, 1.0)[:, None]
    a = z.T @ z / n
    tr = float(np.trace(a))
    if tr == 0.0:
        return np.asarray(0.0)
    lam = np.abs(np.linalg.eigvalsh(a / tr))
    return np.asarray(float(-np.sum(xlogy(lam, lam))) / math.log(d), dtype=np.float64)


# --------------------------------------------------------------------------- rankme


def rankme(X: npt.ArrayLike, *, spectrum: str = "covariance", eps: float = 1e-7, max_eigenvals: int = 2048) -> F64:
    r"""RankMe effective rank: the exponential of the entropy of the normalised spectrum plus eps.

    .. math::

        p_i = \frac{\lambda_i}{\sum_j |\lambda_j|} + \epsilon,\qquad
        \mathrm{RankMe} = \exp\Big(-\sum_i p_i \log p_i\Big)

    over the ``k = min(max_eigenvals, N, D)`` largest values of the spectrum: ``spectrum='covariance'``
    (reptrix): ``λ = σ²`` of the centred features (PCA's explained variance); ``'singular'`` (Garrido et
    al.): the singular values ``σ`` of the uncentred ``X``. ``eps`` is added after normalising (so
    ``Σ p > 1``); an all-zero spectrum gives ``p = eps``.

    Papers: "Tracing the Representation Geometry of Language Models from Pretraining to Post-training"
    (2025, arXiv:2509.23024), which uses reptrix; Garrido et al., "RankMe: Assessing the Downstream
    Performance of Pretrained Self-Supervised Representations by Their Rank" (2023, arXiv:2210.02885).
    Official code: arnab39/reptrix 0.1.0 ``get_rank``/``get_rankme`` and ``utils.get_eigenspectrum``
    (PCA ``explained_variance_ratio_``, ``svd_solver='full'``). Not differentiated (reptrix detaches).

    Papers:

    - Tracing the Representation Geometry of Language Models from Pretraining to Post-training
      (2025, arXiv:2509.23024)
    - RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised Representations by Their
      Rank (2023, arXiv:2210.02885)
    """
    fn = "rankme"
    check_params(fn, spectrum=spectrum, eps=eps, max_eigenvals=max_eigenvals)
    x = sample_matrix(fn, "X", X)
    k = min(max_eigenvals, *x.shape)
    if spectrum == "covariance":
        lam = np.linalg.svd(x - x.mean(axis=0, keepdims=True), compute_uv=False) ** 2
    else:
        lam = np.linalg.svd(x, compute_uv=False)
    lam = np.sort(lam)[::-1][:k]
    total = float(np.sum(np.abs(lam)))
    p = (lam / total if total > 0 else np.zeros_like(lam)) + eps
    return np.asarray(math.exp(float(-np.sum(xlogy(p, p)))), dtype=np.float64)


# --------------------------------------------------------------------------- eigenspectrum


def eigenspectrum(X: npt.ArrayLike, *, max_eigenvals: int = 2048) -> F64:
    r"""PCA explained-variance ratios of the samples (reptrix's ``get_eigenspectrum``).

    .. math:: r_i = \frac{\sigma_i^2}{\sum_j \sigma_j^2},\quad i = 1..k,\ k = \min(\text{max\_eigenvals}, N, D)

    with ``σ`` the singular values (descending) of the centred samples ``X − mean``: the covariance
    eigenvalues over the total variance of *every* component (sklearn's ``explained_variance_ratio_`` with
    ``svd_solver='full'``), truncated to ``k``. Identical samples give zeros (sklearn: NaN).

    Paper: "Tracing the Representation Geometry of Language Models from Pretraining to Post-training"
    (2025, arXiv:2509.23024), through reptrix 0.1.0 ``reptrix/utils.py``.

    Papers:

    - Tracing the Representation Geometry of Language Models from Pretraining to Post-training
      (2025, arXiv:2509.23024)
    """
    fn = "eigenspectrum"
    check_params(fn, max_eigenvals=max_eigenvals)
    x = sample_matrix(fn, "X", X)
    k = min(max_eigenvals, *x.shape)
    lam = np.sort(np.linalg.svd(x - x.mean(axis=0, keepdims=True), compute_uv=False) ** 2)[::-1]
    total = float(np.sum(lam))
    ratios = lam / total if total > 0 else np.zeros_like(lam)
    return np.asarray(ratios[:k], dtype=np.float64)


# --------------------------------------------------------------------------- alpha_req


def alpha_req(X: npt.ArrayLike, *, fit_start: int = 10, fit_stop: int = 100, max_eigenvals: int = 2048) -> F64:
    r"""α-ReQ: the power-law decay exponent of the covariance eigenspectrum (reptrix ``get_powerlaw``).

    With ``λ = eigenspectrum(X, max_eigenvals)`` (explained-variance ratios, descending) and the 0-based
    indices ``i = fit_start … min(fit_stop, k) − 1``: ``y_i = log λ_i``, ``u_i = −log(i + 1)``,
    ``w_i = 1/(i + 1)``; ``log λ ≈ α u + c`` by weighted least squares,

    .. math:: \alpha = \frac{\sum w \sum w u y - \sum w u \sum w y}{\sum w \sum w u^2 - (\sum w u)^2}

    An exact power law ``λ_i ∝ i^{-α}`` gives ``α``; scaling ``X`` moves only the intercept. Needs at least two
    eigenvalues in the range (ShapeError), all of them nonzero (DomainError: a zero's log is −inf; zero means
    at most ``min(N, D)·ε`` of the largest).

    Paper: "Tracing the Representation Geometry of Language Models from Pretraining to Post-training"
    (2025, arXiv:2509.23024). Official code: reptrix 0.1.0 ``reptrix/alpha.py`` (default fit range
    ``arange(10, 100)``). Differences: reptrix increments a caller's fit-range array in place, indexes past
    short spectra (here clipped to ``k``) and computes the weights in float32.

    Papers:

    - Tracing the Representation Geometry of Language Models from Pretraining to Post-training
      (2025, arXiv:2509.23024)
    """
    fn = "alpha_req"
    check_params(fn, fit_start=fit_start, fit_stop=fit_stop, max_eigenvals=max_eigenvals)
    if fit_stop <= fit_start + 1:
        raise ParameterError(fn, "fit_stop", f"an int > fit_start + 1 = {fit_start + 1}", repr(fit_stop))
    x = sample_matrix(fn, "X", X)
    k = min(max_eigenvals, *x.shape)
    stop = min(fit_stop, k)
    if stop - fit_start < 2:
        raise ShapeError(fn, "X", f"at least fit_start + 2 = {fit_start + 2} eigenvalues (min(max_eigenvals, N, D))",
                         f"shape {x.shape}, {k} eigenvalues")
    lam = np.sort(np.linalg.svd(x - x.mean(axis=0, keepdims=True), compute_uv=False) ** 2)[::-1]
    seg = lam[fit_start:stop]
    if not np.all(seg > default_rtol(*x.shape) * lam[0]):
        raise DomainError(fn, "X", "nonzero eigenvalues in the fit range", "a zero eigenvalue (log = -inf)")
    y = np.log(seg / float(np.sum(lam)))
    r = np.arange(fit_start, stop, dtype=np.float64) + 1.0
    u, w = -np.log(r), 1.0 / r
    sw, swu, swy = float(np.sum(w)), float(np.sum(w * u)), float(np.sum(w * y))
    swuu, swuy = float(np.sum(w * u * u)), float(np.sum(w * u * y))
    return np.asarray((sw * swuy - swu * swy) / (sw * swuu - swu * swu), dtype=np.float64)
