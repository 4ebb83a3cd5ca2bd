"""Peer code of the ``information`` family, transcribed (the packages are not pinned dependencies).

* vendi-score 0.0.3 (PyPI sdist, ``vendi_score/vendi.py``; same file as vertaix/Vendi-Score@5f00dc6):
  ``weight_K``, ``normalize_K``, ``entropy_q``, ``score_K``, ``score_X``, ``score_dual``, ``intdiv_K``,
  verbatim except that ``sklearn.preprocessing.normalize(X, axis=1)`` is written out (rows divided by their
  L2 norm, zero rows left as they are — sklearn's rule) and the sparse branch of ``score_K`` is dropped.
* reptrix 0.1.0 (PyPI wheel, ``reptrix/rankme.py``, ``alpha.py``, ``utils.py``): ``get_eigenspectrum``
  (sklearn's ``PCA(svd_solver='full').explained_variance_ratio_`` written out: squared singular values of
  the centred features over their sum, descending, the first ``n_components``), ``get_rank``,
  ``get_powerlaw`` (``r2_score`` written out) — including its in-place ``trange += 1``.

When the real packages are importable (``pip install vendi-score reptrix``, e.g. on ``PYTHONPATH``), the
tests also check these transcriptions against them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

# --------------------------------------------------------------------------- vendi-score 0.0.3


def sk_normalize(X: Any) -> Any:
    """sklearn.preprocessing.normalize(X, axis=1) (norm='l2'): zero rows are left unchanged."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norms[norms == 0.0] = 1.0
    return X / norms[:, None]


def weight_K(K: Any, p: Any = None) -> Any:
    if p is None:
        return K / K.shape[0]
    else:
        return K * np.outer(np.sqrt(p), np.sqrt(p))


def normalize_K(K: Any) -> Any:
    d = np.sqrt(np.diagonal(K))
    return K / np.outer(d, d)


def entropy_q(p: Any, q: Any = 1) -> Any:
    p_ = p[p > 0]
    if q == 1:
        return -(p_ * np.log(p_)).sum()
    if q == "inf":
        return -np.log(np.max(p))
    return np.log((p_**q).sum()) / (1 - q)


def score_K(K: Any, q: Any = 1, p: Any = None, normalize: bool = False) -> Any:
    if normalize:
        K = normalize_K(K)
    K_ = weight_K(K, p)
    w = scipy.linalg.eigvalsh(K_)
    return np.exp(entropy_q(w, q=q))


def score_X(X: Any, q: Any = 1, p: Any = None, normalize: bool = True) -> Any:
    if normalize:
        X = sk_normalize(X)
    K = X @ X.T
    return score_K(K, q=1, p=p)  # sic: q is not passed on (the known bug)


def score_dual(X: Any, q: Any = 1, normalize: bool = True) -> Any:
    if normalize:
        X = sk_normalize(X)
    n = X.shape[0]
    S = X.T @ X
    w = scipy.linalg.eigvalsh(S / n)
    return np.exp(entropy_q(w, q=q))


def intdiv_K(K: Any, q: Any = 1, p: Any = None) -> Any:
    K_ = K**q
    if p is None:
        p = np.ones(K.shape[0]) / K.shape[0]
    return 1 - np.sum(K_ * np.outer(p, p))


# --------------------------------------------------------------------------- reptrix 0.1.0


def get_eigenspectrum(activations_np: Any, max_eigenvals: int = 2048) -> Any:
    feats = activations_np.reshape(activations_np.shape[0], -1)
    feats_center = feats - feats.mean(axis=0)
    n_components = min(max_eigenvals, feats_center.shape[0], feats_center.shape[1])
    # PCA(n_components, svd_solver='full').fit(feats_center).explained_variance_ratio_
    s = np.linalg.svd(feats_center - feats_center.mean(axis=0), compute_uv=False)
    var = s**2 / (feats_center.shape[0] - 1)
    return (var / var.sum())[:n_components]


def get_rank(eigen: Any) -> Any:
    l1 = np.sum(np.abs(eigen))
    eps = 1e-7
    eigen_norm = eigen / l1 + eps
    entropy = -np.sum(eigen_norm * np.log(eigen_norm))
    return np.exp(entropy)


def r2_score(y_true: Any, y_pred: Any) -> Any:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    ss_res = np.sum((y_true - y_pred) ** 2)
    ss_tot = np.sum((y_true - y_true.mean()) ** 2)
    return 1.0 - ss_res / ss_tot


def get_powerlaw(eigen: Any, trange: Any) -> tuple[Any, Any, Any, Any]:
    logss = np.log(np.abs(eigen))
    y = logss[trange][:, np.newaxis]
    trange += 1
    nt = trange.size
    x = np.concatenate((-np.log(trange)[:, np.newaxis], np.ones((nt, 1))), axis=1)
    w = 1.0 / trange.astype(np.float32)[:, np.newaxis]
    b = np.linalg.solve(x.T @ (x * w), (w * x).T @ y).flatten()

    allrange = np.arange(0, eigen.size).astype(int) + 1
    x = np.concatenate((-np.log(allrange)[:, np.newaxis], np.ones((eigen.size, 1))), axis=1)
    ypred = np.exp((x * b).sum(axis=1))
    alpha = b[0]
    max_range = 500 if len(eigen) >= 512 else len(eigen) - 10
    fit_R2 = r2_score(y_true=logss[trange[0]:max_range], y_pred=np.log(np.abs(ypred))[trange[0]:max_range])
    try:
        fit_R2_100 = r2_score(y_true=logss[trange[0]:100], y_pred=np.log(np.abs(ypred))[trange[0]:100])
    except Exception:
        fit_R2_100 = None
    return (alpha, ypred, fit_R2, fit_R2_100)


# --------------------------------------------------------------------------- InformationKoopman (torch), MNN (torch)


def koopman_von_neumann_entropy(z_seq: Any, center: bool = True, eps: float = 1e-8) -> Any:
    """Wenxuan52/InformationKoopman@32f52a1 model/physical_simulation/base.py ROM_BASE.von_neumann_entropy."""
    import torch

    B, T, H = z_seq.shape
    Z = z_seq.reshape(B * T, H)
    if center:
        Z = Z - Z.mean(dim=0, keepdim=True)
    N = Z.shape[0]
    Sigma = torch.mm(Z.t(), Z) / (N - 1)
    Sigma = Sigma + eps * torch.eye(H, device=Z.device, dtype=Z.dtype)
    trace = torch.trace(Sigma)
    rho = Sigma / trace.clamp_min(eps)
    evals = torch.linalg.eigvalsh(rho)
    evals = evals.clamp_min(eps)
    S = -(evals * torch.log(evals)).sum()
    return S


def mnn_matrix_entropy(r: Any) -> Any:
    """MLGroupJLU/MatrixNuclearNorm@da2ce03 code/compute_entropy_time.py: cal_entropy(cal_cov(normalize(r)))."""
    import math

    import torch

    with torch.no_grad():
        mean = r.mean(dim=0)
        R = r - mean
        norms = torch.norm(R, p=2, dim=1, keepdim=True)
        R = R / norms
        Z = torch.nn.functional.normalize(R, dim=1)
        A = torch.matmul(Z.T, Z) / Z.shape[0]
        eig_val = torch.svd(A / torch.trace(A))[1]
        entropy = -(eig_val * torch.log(eig_val)).nansum().item()
        return entropy / math.log(A.shape[0])
