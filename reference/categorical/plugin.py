"""Reference (NumPy float64) plug-in estimators of the ``categorical`` family: C-IP's clamped plug-in
entropy in bits, the Hellinger distance and the plug-in mutual information of a contingency table.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_same_shape, check_simplex, check_vocab_axis

__all__ = [
    "hellinger_distance",
    "jensen_shannon_groups",
    "plugin_entropy_log2",
    "plugin_mutual_information_categorical",
]


# --------------------------------------------------------------------------- plugin_entropy_log2


def plugin_entropy_log2(probs: npt.ArrayLike, *, eps: float = 1e-5, reduction: str = "mean") -> F64:
    r"""C-IP's plug-in entropy in bits: ``mean_i −Σ_k p̃_ik log2 p̃_ik`` with ``p̃ = max(p, eps)``.

    ``probs`` ``(..., V)`` are posterior probability vectors (classes last). The clamp is not
    renormalised, so when some ``p < eps`` the value is not the entropy of a distribution (clamped
    entries add mass); rows with every ``p >= eps`` give the Shannon entropy in bits. ``eps = 0`` gives
    the Shannon entropy exactly (``0 log 0 = 0``). ``reduction="mean"`` (the code) averages over every
    leading row (an empty batch gives 0, torch NaN); ``"none"`` returns one value per row.

    Paper: Conformal Information Pursuit for Interactively Guiding Large Language Models
    (2025, arXiv:2507.03279); the baseline ``compute_entropy_formula`` of ``src/mediq/utils.py``
    (``ryanchankh/Conformal-IP``), which only asserts ``p >= 0`` where we require the simplex.
    """
    fn = "plugin_entropy_log2"
    check_params(fn, eps=eps, reduction=reduction)
    p = as_f64(probs)
    ax = check_vocab_axis(fn, "probs", p, -1)
    check_simplex(fn, "probs", p, np, axis=ax)
    pt = np.maximum(p, eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pt > 0, pt * np.log2(np.where(pt > 0, pt, 1.0)), 0.0)
    rows = -np.sum(terms, axis=-1)
    if reduction == "none":
        return np.asarray(rows, dtype=np.float64)
    return np.asarray(float(np.mean(rows)) if rows.size else 0.0, dtype=np.float64)


# --------------------------------------------------------------------------- hellinger_distance


def hellinger_distance(p: npt.ArrayLike, q: npt.ArrayLike, *, axis: int = -1) -> F64:
    r"""Hellinger distance ``H(p, q) = sqrt(1 − Σ_k √(p_k q_k)) = ‖√p − √q‖₂ / √2``, in ``[0, 1]``.

    Computed as ``sqrt(½ Σ (√p − √q)²)`` (no cancellation in ``1 − BC`` when ``p ≈ q``), clipped to
    ``[0, 1]``. Both inputs on the simplex along ``axis`` and of one shape. 0 for identical rows, 1
    for disjoint supports. Equals ``scipy.spatial.distance.euclidean(√p, √q) / √2``.

    Paper: E. Hellinger, "Neue Begründung der Theorie quadratischer Formen von unendlichvielen
    Veränderlichen" (1909). The catalogue takes it from a pulsar-timing-array normalizing-flow
    paper ("PTA Normalizing Flows") that compares histograms with it.
    """
    fn = "hellinger_distance"
    pp = as_f64(p)
    qq = as_f64(q)
    ax = check_vocab_axis(fn, "p", pp, axis)
    check_same_shape(fn, p=pp, q=qq)
    check_simplex(fn, "p", pp, np, axis=ax)
    check_simplex(fn, "q", qq, np, axis=ax)
    d = np.sqrt(pp) - np.sqrt(qq)
    h = np.sqrt(0.5 * np.sum(d * d, axis=ax))
    return np.asarray(np.clip(h, 0.0, 1.0), dtype=np.float64)


# --------------------------------------------------------------------------- plugin_mutual_information_categorical


def plugin_mutual_information_categorical(counts: npt.ArrayLike, *, base: float | None = None) -> F64:
    r"""Plug-in mutual information ``I(X; Y) = Σ_xy p_xy log(p_xy / (p_x p_y))`` of a contingency table.

    ``counts`` ``(..., X, Y)``: non-negative joint counts (or weights), the two category axes last;
    ``p = counts / N``. Computed per non-zero cell as ``(C/N) log(C·N / (r_x c_y))``
    and clipped at 0. An all-zero table (no sample) gives 0; so does a single row or column. In nats,
    or units of ``base``. Equals scikit-learn's ``mutual_info_score(contingency=counts)`` for integer
    tables (sklearn casts the marginals to int64 and zeroes terms below float64 eps).

    Papers:

    - A Mathematical Theory of Communication (1948)
    - Self-supervised Learning for Large-scale Item Recommendations (2020, arXiv:2007.12865), which
      ranks categorical feature pairs by it (correlated feature masking)
    """
    fn = "plugin_mutual_information_categorical"
    check_params(fn, base=base)
    c = as_f64(counts)
    if c.ndim < 2:
        raise ShapeError(fn, "counts", "a table of shape (..., X, Y)", f"shape {c.shape}")
    if c.shape[-1] == 0 or c.shape[-2] == 0:
        raise ShapeError(fn, "counts", "non-empty category axes", f"shape {c.shape}")
    check_finite(fn, "counts", c, np)
    if np.any(c < 0):
        raise DomainError(fn, "counts", "counts >= 0", f"a minimum of {float(np.min(c))!r}")
    tables = c.reshape(-1, c.shape[-2], c.shape[-1])
    out = np.zeros(tables.shape[0])
    for i, t in enumerate(tables):
        n = float(np.sum(t))
        if n == 0:
            continue
        r = np.sum(t, axis=1)
        k = np.sum(t, axis=0)
        total = 0.0
        for x, y in zip(*np.nonzero(t), strict=True):
            cxy = float(t[x, y])
            total += cxy / n * math.log((cxy * n) / (float(r[x]) * float(k[y])))
        out[i] = max(total, 0.0)
    mi = out.reshape(c.shape[:-2])
    if base is not None:
        mi = mi / math.log(base)
    return np.asarray(mi, dtype=np.float64)


# --------------------------------------------------------------------------- jensen_shannon_groups


def jensen_shannon_groups(counts: npt.ArrayLike, *, weights: str = "uniform", base: float | None = None) -> F64:
    r"""Jensen–Shannon divergence of per-group histograms: ``JS_π = Σ_g π_g KL(P_g ‖ M)``, ``M = Σ_g π_g P_g``.

    ``counts`` ``(..., G, K)``: for each group ``g`` a histogram (counts, binned by the caller) of the
    model's predictions; ``P_g = counts_g / n_g``. Groups with ``n_g = 0`` are left out. ``weights``:
    ``"uniform"`` — ``π_g = 1/G'`` over the ``G'`` non-empty groups (two groups: the catalogue's
    ``½KL(P‖M) + ½KL(Q‖M)``, ``M = (P + Q)/2``, ``<= log 2``; in general ``<= log G'``);
    ``"size"`` — ``π_g = n_g / N``, which is the mutual information ``I(group; prediction bin)`` of
    the table. Fewer than two non-empty groups give 0. In nats, or units of ``base``.

    Papers:

    - Machine Learning with Multitype Protected Attributes: Intersectional Fairness through Regularisation
      (2025, arXiv:2509.08163), which calibrates the regularisation strength by the JS divergence of
      the groups' prediction distributions (formula from the abstract; no official code found)
    - Divergence measures based on the Shannon entropy (1991), the generalised (weighted) JS divergence
    """
    fn = "jensen_shannon_groups"
    check_params(fn, weights=weights, base=base)
    c = as_f64(counts)
    if c.ndim < 2:
        raise ShapeError(fn, "counts", "per-group histograms of shape (..., G, K)", f"shape {c.shape}")
    if c.shape[-1] == 0 or c.shape[-2] == 0:
        raise ShapeError(fn, "counts", "non-empty group and bin axes", f"shape {c.shape}")
    check_finite(fn, "counts", c, np)
    if np.any(c < 0):
        raise DomainError(fn, "counts", "counts >= 0", f"a minimum of {float(np.min(c))!r}")
    stacks = c.reshape(-1, c.shape[-2], c.shape[-1])
    out = np.zeros(stacks.shape[0])
    for i, table in enumerate(stacks):
        n = np.sum(table, axis=1)
        keep = n > 0
        if np.sum(keep) < 2:
            continue
        p = table[keep] / n[keep][:, None]
        pi = n[keep] / np.sum(n[keep]) if weights == "size" else np.full(int(np.sum(keep)), 1.0 / np.sum(keep))
        m = pi @ p
        total = 0.0
        for g in range(p.shape[0]):
            pos = p[g] > 0
            total += float(pi[g] * np.sum(p[g][pos] * (np.log(p[g][pos]) - np.log(m[pos]))))
        out[i] = max(total, 0.0)
    js = out.reshape(c.shape[:-2])
    if base is not None:
        js = js / math.log(base)
    return np.asarray(js, dtype=np.float64)
