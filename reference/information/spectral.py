"""Reference (NumPy float64) ``spectral`` group of the ``information`` family: estimators that are functions
of the eigenvalues of a similarity, Gram or covariance matrix of samples ``X`` (N, D), rows are samples.

Eigenvalue conventions (named in every spec; :mod:`spec.information._common`): an eigenvalue is kept when
``λ > 0`` and ``λ > eig_rtol·λ_max`` (``eig_rtol=None``: ``max(N, D)·ε``, NumPy's ``matrix_rank``
tolerance), and the kept eigenvalues are renormalised to sum 1. The reference always builds the N×N
matrix of the definition; the accelerated versions may use the D×D dual.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.information._spectral import default_rtol, keep_mask, renyi, sample_matrix, weights
from spec.validate import check_params

__all__: list[str] = [
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

    Eigenvalues ``λ <= 0`` or ``λ <= eig_rtol·λ_max`` are dropped (``eig_rtol=None``: ``max(N, D)·ε``,
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
    if kernel == "precomputed":
        k = (x + x.T) / 2.0
    else:
        if kernel == "cosine":
            norms = np.sqrt(np.sum(x * x, axis=1))
            x = x / np.where(norms > 0, norms, 1.0)[:, None]
        k = x @ x.T
    sw = np.sqrt(np.full(n, 1.0 / n) if w is None else w)
    lam: F64 = np.asarray(np.linalg.eigvalsh(sw[:, None] * k * sw[None, :]), dtype=np.float64)
    rtol = default_rtol(n, d) if eig_rtol is None else float(eig_rtol)
    h = renyi(lam, keep_mask(lam, rtol), float(q))
    return np.asarray(math.exp(h), dtype=np.float64)
