"""Helpers shared by the ``information`` spec groups: papers, the eigenvalue conventions of the spectral
estimators, NumPy spectra written from the definitions (for properties and branches; they never call the
reference) and the SymPy form of a spectral function.

Eigenvalue conventions (named, because peers differ):

* **threshold** ``eig_rtol``: an eigenvalue ``λ`` is *kept* when ``λ > 0`` and ``λ > eig_rtol·λ_max``.
  ``None`` means ``min(N, D)·ε`` with ``ε`` the machine epsilon of the computation dtype (float64 for
  float64 inputs, float32 otherwise) — ``numpy.linalg.matrix_rank``'s tolerance for the ``min(N, D)``-sided
  Gram matrix whose eigenvalues are the spectrum (with ``max(N, D)``, float32 would drop eigenvalues below
  2.4e-3·λ_max at N = 20,000). ``0`` keeps
  every positive eigenvalue (vendi-score's ``p[p > 0]``, which counts positive round-off).
* **renormalisation**: the kept eigenvalues are divided by their sum, so the spectrum is a probability
  vector whatever the scale, trace normalisation or dropped mass.

Across dtypes the threshold is a decision on rounded eigenvalues: an eigenvalue within rounding of
``eig_rtol·λ_max`` may be kept by one computation and dropped by another. As for the covariance ties of
the policy family, the spec makes no promise there; conformance draws spectra whose eigenvalues are either
exact zeros (duplicated rows, exact rank deficiency) or well above every threshold.

SymPy is imported inside the derivation helpers only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import Interval, Paper, ParamSpec

F64 = npt.NDArray[np.float64]

VENDI_2022 = Paper("The Vendi Score: A Diversity Evaluation Metric for Machine Learning", 2022, "2210.02410")
VENDI_COUSINS_2023 = Paper("Cousins Of The Vendi Score: A Family Of Similarity-Based Diversity Metrics For Science "
                           "And Machine Learning", 2023, "2310.12952")

EIG_RTOL = ParamSpec(
    "eig_rtol", None, Interval(0.0, 1.0, allow_none=True),
    "eigenvalues λ <= eig_rtol·λ_max (and λ <= 0) are dropped; None = min(N, D)·ε of the computation dtype "
    "(numpy.linalg.matrix_rank's tolerance for the min(N, D)-sided Gram matrix that is decomposed); 0 = drop "
    "only λ <= 0 (vendi-score)", sensitive=True)


def default_rtol(n: int, d: int, dtype: str = "float64") -> float:
    """``min(N, D)·ε`` of the computation dtype (float32 for every dtype but float64)."""
    eps = float(np.finfo(np.float64 if dtype == "float64" else np.float32).eps)
    return max(min(n, d), 1) * eps


def kept(lam: F64, rtol: float) -> npt.NDArray[np.bool_]:
    """The kept eigenvalues: ``λ > 0`` and ``λ > rtol·λ_max``."""
    if lam.size == 0:
        return np.zeros(0, dtype=bool)
    top = float(np.max(lam))
    return np.asarray((lam > 0) & (lam > rtol * top))


def renyi_of(p: F64, q: float) -> float:
    """Rényi entropy of order ``q`` of a probability vector (sums over its support), in nats; 0 if empty."""
    p = p[p > 0]
    if p.size == 0:
        return 0.0
    if q == 1.0:
        return float(-np.sum(p * np.log(p)))
    if q == 0.0:
        return math.log(p.size)
    if math.isinf(q):
        return float(-np.log(np.max(p)))
    return float(np.log(np.sum(p**q)) / (1.0 - q))


# --------------------------------------------------------------------------- vendi_score (from the definition)


def vendi_matrix(x: Any, p: Any, kernel: str) -> F64:
    """The weighted similarity matrix ``diag(√p) K diag(√p)`` (unnormalised), N×N, from the definition."""
    a = np.asarray(x, dtype=np.float64)
    if kernel == "precomputed":
        k = (a + a.T) / 2.0
    else:
        if kernel == "cosine":
            norms = np.linalg.norm(a, axis=1)
            a = a / np.where(norms > 0, norms, 1.0)[:, None]
        k = a @ a.T
    w = np.full(k.shape[0], 1.0 / max(k.shape[0], 1)) if p is None else np.asarray(p, dtype=np.float64)
    s = np.sqrt(w)
    return np.asarray(s[:, None] * k * s[None, :])


def vendi_spectrum(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Eigenvalues of the (unnormalised) weighted similarity matrix and the kept mask (float64 threshold)."""
    x = np.asarray(inputs["X"], dtype=np.float64)
    m = vendi_matrix(x, inputs.get("p"), str(params.get("kernel", "cosine")))
    lam: F64 = np.asarray(np.linalg.eigvalsh(m) if m.size else np.zeros(0), dtype=np.float64)
    rtol = params.get("eig_rtol")
    r = default_rtol(*x.shape) if rtol is None else float(rtol)
    return lam, kept(lam, r)


def vendi_from_definition(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    lam, keep = vendi_spectrum(inputs, params)
    if not keep.any():
        return 1.0
    p = lam[keep] / np.sum(lam[keep])
    return math.exp(renyi_of(p, float(params.get("q", 1.0))))


# --------------------------------------------------------------------------- SymPy: spectral functions


def first_order_eigenvalues(m_sym: Any, m_val: F64, keep_rtol: float) -> tuple[list[Any], F64]:
    """Kept eigenvalues of the symmetric matrix ``m_sym`` (SymPy entries, numeric value ``m_val``) to first
    order: ``λ_i(M) = v_iᵀ M v_i`` with the numeric eigenvectors ``v_i`` of ``m_val``.

    For a simple eigenvalue this has the exact first derivative (``dλ_i = v_iᵀ dM v_i``); a spectral
    function ``Σ f(λ_i)`` has gradient ``V diag(f'(λ)) Vᵀ`` even at repeated eigenvalues, which the sum over
    an eigenbasis also gives. Returns the SymPy eigenvalues and their numeric values.
    """
    import sympy as sp

    lam_raw, vecs = np.linalg.eigh(m_val)
    lam: F64 = np.asarray(lam_raw, dtype=np.float64)
    keep = kept(lam, keep_rtol)
    out = []
    n = m_val.shape[0]
    for i in np.flatnonzero(keep):
        v = vecs[:, i]
        out.append(sp.Add(*[sp.Float(float(v[a] * v[b])) * m_sym[a][b] for a in range(n) for b in range(n)
                            if v[a] * v[b] != 0.0]))
    return out, lam[keep]


def renyi_expr(lams: list[Any], q: float, values: F64 | None = None) -> Any:
    """SymPy Rényi entropy of order ``q`` of the renormalised eigenvalues ``lams`` (``values``: their numeric
    values, which pick the top eigenvalue at ``q = inf``)."""
    import sympy as sp

    if not lams:
        return sp.Integer(0)
    total = sp.Add(*lams)
    ps = [lam / total for lam in lams]
    if q == 1.0:
        return -sp.Add(*[pi * sp.log(pi) for pi in ps])
    if q == 0.0:
        return sp.log(sp.Integer(len(ps)))
    if math.isinf(q):
        top = int(np.argmax(values)) if values is not None else 0
        return -sp.log(ps[top])
    return sp.log(sp.Add(*[pi ** sp.Float(q) for pi in ps])) / sp.Float(1.0 - q)


# --------------------------------------------------------------------------- covariance spectra (from the definition)


def centred(x: Any, center: bool) -> F64:
    a = np.asarray(x, dtype=np.float64)
    return a - a.mean(axis=0, keepdims=True) if center else a


def row_normalised(x: F64) -> F64:
    """Rows divided by their L2 norm; zero rows stay 0 (``torch.nn.functional.normalize``'s rule)."""
    norms = np.linalg.norm(x, axis=1)
    return np.asarray(x / np.where(norms > 0, norms, 1.0)[:, None])


def neumann_terms(lam: F64) -> F64:
    """``−λ log λ`` with ``0 log 0 = 0``."""
    pos = lam > 0
    return np.asarray(np.where(pos, -lam * np.log(np.where(pos, lam, 1.0)), 0.0))


def fits(x: Any, dtype: str) -> bool:
    """Every value of ``x`` is exactly representable in ``dtype`` (properties build exact inputs)."""
    a = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        return True
    if dtype in ("float32", "float16"):
        with np.errstate(over="ignore"):
            return bool(np.all(a.astype(dtype).astype(np.float64) == a))
    f = a.astype(np.float32)
    return bool(np.all(f.astype(np.float64) == a) and np.all((f.view(np.uint32) & 0xFFFF) == 0))
