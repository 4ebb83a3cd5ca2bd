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
