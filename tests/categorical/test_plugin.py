"""Tests of the ``categorical`` plug-in estimators (plugin_entropy_log2, hellinger_distance,
plugin_mutual_information_categorical, jensen_shannon_groups): a transcription of C-IP's
``compute_entropy_formula`` and of scikit-learn's ``mutual_info_score`` (not installed here; commits
below), scipy (``stats.entropy``, ``spatial.distance.euclidean``/``jensenshannon``), mpmath, bad input
and ``torch.compile``.
"""

from __future__ import annotations

import math
from math import log
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import torch
from scipy.spatial.distance import euclidean, jensenshannon
from scipy.stats import entropy as scipy_entropy

from accelerated import categorical as A
from reference import categorical as R
from spec.errors import DomainError, ShapeError
from spec.validate import unchecked

mp.mp.dps = 40

CIP_COMMIT = "ed7fb6664b5019d9ceae7da4c002651ff78b84b2"  # ryanchankh/Conformal-IP src/mediq/utils.py
SKLEARN_COMMIT = "0096089245f206bf949e5f1fc4aa1a6d4f3ba7b1"  # sklearn/metrics/cluster/_supervised.py


def layers(fn: str, *args: Any, **kwargs: Any) -> list[np.ndarray]:
    def tt(x: Any) -> Any:
        return torch.tensor(x) if isinstance(x, np.ndarray) else x

    return [np.asarray(getattr(R, fn)(*args, **kwargs), dtype=np.float64),
            np.asarray(getattr(A, fn)(*args, **kwargs), dtype=np.float64),
            getattr(A, fn)(*[tt(a) for a in args], **{k: tt(v) for k, v in kwargs.items()}).numpy()]


def cip_compute_entropy_formula(test_posteriors: torch.Tensor) -> torch.Tensor:
    """Conformal-IP src/mediq/utils.py @ CIP_COMMIT."""
    probs = test_posteriors
    assert torch.all(probs >= 0.0)
    probs = torch.clamp(probs, min=1e-5)
    return -(probs * torch.log2(probs)).sum(-1).mean()


def sklearn_mutual_info_score_contingency(contingency: np.ndarray) -> float:
    """sklearn.metrics.mutual_info_score(None, None, contingency=C) for a dense array (@ SKLEARN_COMMIT)."""
    nzx, nzy = np.nonzero(contingency)
    nz_val = contingency[nzx, nzy]
    contingency_sum = contingency.sum()
    pi = np.ravel(contingency.sum(axis=1))
    pj = np.ravel(contingency.sum(axis=0))
    if pi.size == 1 or pj.size == 1:
        return 0.0
    log_contingency_nm = np.log(nz_val)
    contingency_nm = nz_val / contingency_sum
    outer = pi.take(nzx).astype(np.int64, copy=False) * pj.take(nzy).astype(np.int64, copy=False)
    log_outer = -np.log(outer) + log(pi.sum()) + log(pj.sum())
    mi = contingency_nm * (log_contingency_nm - log(contingency_sum)) + contingency_nm * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


# --------------------------------------------------------------------------- plugin_entropy_log2


def test_plugin_entropy_matches_cip_code() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(6, 0.3), size=(40,))
    p[:5, 3:] = 0.0
    p[:5] /= p[:5].sum(-1, keepdims=True)
    expected = float(cip_compute_entropy_formula(torch.tensor(p)))
    for got in layers("plugin_entropy_log2", p):
        assert float(got) == pytest.approx(expected, rel=1e-13)


def test_plugin_entropy_scipy_rows_above_eps_and_eps_zero() -> None:
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5), size=(3, 4))
    p[0, 0] = [1.0, 0.0, 0.0, 0.0, 0.0]
    exact = scipy_entropy(p, base=2, axis=-1)
    for got in layers("plugin_entropy_log2", p, eps=0.0, reduction="none"):
        np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-15)
    above = np.all(p >= 1e-5, axis=-1)
    for got in layers("plugin_entropy_log2", p, reduction="none"):
        np.testing.assert_allclose(got[above], exact[above], rtol=1e-13)
        assert np.all(got[~above] > exact[~above])  # clamped zeros add mass
    assert float(R.plugin_entropy_log2(np.zeros((0, 3)))) == 0.0  # empty batch: 0, not NaN


# --------------------------------------------------------------------------- hellinger_distance


def test_hellinger_matches_scipy_euclidean_of_roots() -> None:
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.full(7, 0.5), size=(6,))
    q = rng.dirichlet(np.full(7, 0.5), size=(6,))
    p[0] = [1, 0, 0, 0, 0, 0, 0]
    q[0] = [0, 0.5, 0.5, 0, 0, 0, 0]
    expected = np.array([euclidean(np.sqrt(a), np.sqrt(b)) / math.sqrt(2) for a, b in zip(p, q, strict=True)])
    for got in layers("hellinger_distance", p, q):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(expected ** 2, 1 - np.sum(np.sqrt(p * q), -1), atol=1e-14)


def test_hellinger_near_identical_mpmath() -> None:
    p = np.array([0.3, 0.7])
    q = np.array([0.3 + 1e-9, 0.7 - 1e-9])
    sq = [(mp.sqrt(mp.mpf(a)) - mp.sqrt(mp.mpf(b))) ** 2 for a, b in zip(p, q, strict=True)]
    exact = float(mp.sqrt(mp.fsum(sq) / 2))
    for got in layers("hellinger_distance", p, q):
        assert float(got) == pytest.approx(exact, rel=1e-7)
    naive = math.sqrt(max(0.0, 1 - float(np.sum(np.sqrt(p * q)))))
    assert abs(naive - exact) > 1e-3 * exact  # the textbook form loses the digits here


def test_hellinger_low_precision() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(8), size=(5,))
    q = rng.dirichlet(np.ones(8), size=(5,))
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        pr, qr = torch.tensor(p).to(dt), torch.tensor(q).to(dt)
        exact = R.hellinger_distance(pr.double().numpy() / pr.double().numpy().sum(-1, keepdims=True),
                                     qr.double().numpy() / qr.double().numpy().sum(-1, keepdims=True))
        got = A.hellinger_distance(pr / pr.float().sum(-1, keepdim=True).to(dt), qr / qr.float().sum(-1, keepdim=True)
                                   .to(dt))
        assert got.dtype == dt
        np.testing.assert_allclose(got.double().numpy(), exact, atol=3e-2)


# --------------------------------------------------------------------------- plugin_mutual_information_categorical


def test_mi_matches_sklearn_transcription_and_scipy_entropies() -> None:
    rng = np.random.default_rng(4)
    for shape in [(2, 2), (3, 5), (6, 4), (1, 4)]:
        x = rng.integers(0, shape[0], size=200)
        y = (x + rng.integers(0, 2, size=200)) % shape[1]
        c = np.bincount(x * shape[1] + y, minlength=shape[0] * shape[1]).reshape(shape).astype(np.float64)
        expected = sklearn_mutual_info_score_contingency(c)
        hx, hy, hxy = scipy_entropy(c.sum(1)), scipy_entropy(c.sum(0)), scipy_entropy(c.ravel())
        for got in layers("plugin_mutual_information_categorical", c):
            assert float(got) == pytest.approx(expected, rel=1e-12, abs=1e-15)
            assert float(got) == pytest.approx(max(hx + hy - hxy, 0.0), rel=1e-12, abs=1e-14)
        for got in layers("plugin_mutual_information_categorical", c, base=2.0):
            assert float(got) == pytest.approx(expected / math.log(2), rel=1e-12, abs=1e-15)


def test_mi_batched_and_degenerate() -> None:
    c = np.array([[[2.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 2.0]]])
    expected = [math.log(2), 0.0, 0.25 * math.log(2) + 0.25 * math.log(2 / 3) + 0.5 * math.log(4 / 3)]
    for got in layers("plugin_mutual_information_categorical", c):
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-16)
    # scaling the counts changes nothing; weights (fractional counts) are allowed
    for got in layers("plugin_mutual_information_categorical", 0.37 * c):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-16)


# --------------------------------------------------------------------------- bad input, compile


@pytest.mark.parametrize("backend", ["reference", "numpy", "torch"])
def test_bad_inputs(backend: str) -> None:
    mod = R if backend == "reference" else A

    def c(x: Any) -> Any:
        return torch.tensor(x) if backend == "torch" and isinstance(x, np.ndarray) else x

    with pytest.raises(DomainError, match="counts"):
        mod.plugin_mutual_information_categorical(c(np.array([[1.0, -1.0], [0.0, 2.0]])))
    with pytest.raises(ShapeError, match="counts"):
        mod.plugin_mutual_information_categorical(c(np.array([1.0, 2.0])))
    with pytest.raises(DomainError, match="probs"):
        mod.plugin_entropy_log2(c(np.array([[0.5, 0.6]])))
    with pytest.raises(ShapeError, match="q"):
        mod.hellinger_distance(c(np.array([[0.5, 0.5]])), c(np.array([[1.0, 0.0, 0.0]])))
    with pytest.raises(ValueError, match="eps"):
        mod.plugin_entropy_log2(c(np.array([[0.5, 0.5]])), eps=-1.0)


P = torch.tensor(np.random.default_rng(0).dirichlet(np.ones(5), size=(2, 3)))
Q = torch.tensor(np.random.default_rng(1).dirichlet(np.ones(5), size=(2, 3)))
CT = torch.tensor([[[2.0, 0.0, 1.0], [0.0, 2.0, 3.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
COMPILE = {
    "plugin_entropy_log2": lambda: A.plugin_entropy_log2(P),
    "hellinger_distance": lambda: A.hellinger_distance(P, Q),
    "plugin_mutual_information_categorical": lambda: A.plugin_mutual_information_categorical(CT, base=2.0),
    "jensen_shannon_groups": lambda: A.jensen_shannon_groups(CT, weights="size"),
}


@pytest.mark.parametrize("name", sorted(COMPILE))
def test_compiles_fullgraph_unchecked(name: str) -> None:
    fn = COMPILE[name]
    eager = fn()
    torch._dynamo.reset()
    with unchecked():
        compiled = torch.compile(fn, fullgraph=True, backend="eager")()
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- jensen_shannon_groups


def test_jsg_two_groups_match_scipy_jensenshannon() -> None:
    rng = np.random.default_rng(6)
    c = rng.integers(0, 6, size=(5, 2, 7)).astype(np.float64)
    c[0, 0] = [3, 0, 0, 0, 0, 0, 0]
    c[0, 1] = [0, 0, 2, 2, 0, 0, 0]  # disjoint: ln 2
    c[1, 1] *= 3.0  # group sizes do not matter with uniform weights
    for base in (None, 2.0):
        expected = np.array([jensenshannon(x[0], x[1], base=base) ** 2 for x in c])  # scipy normalises the rows
        for got in layers("jensen_shannon_groups", c, base=base):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_jsg_many_groups_entropy_form_and_mutual_information() -> None:
    rng = np.random.default_rng(7)
    c = rng.integers(0, 5, size=(4, 5, 6)).astype(np.float64)
    c[1, 2] = 0.0  # an empty group is left out
    for weights in ("uniform", "size"):
        expected = []
        for table in c:
            n = table.sum(1)
            keep = n > 0
            p = table[keep] / n[keep, None]
            pi = n[keep] / n[keep].sum() if weights == "size" else np.full(keep.sum(), 1 / keep.sum())
            # generalised JS (Lin 1991): H(Σ π P) − Σ π H(P), with scipy's entropy
            expected.append(scipy_entropy(pi @ p) - float(np.sum(pi * scipy_entropy(p, axis=1))))
        for got in layers("jensen_shannon_groups", c, weights=weights):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    mi = [sklearn_mutual_info_score_contingency(t) for t in c]
    for got in layers("jensen_shannon_groups", c, weights="size"):
        np.testing.assert_allclose(got, mi, rtol=1e-12, atol=1e-14)


def test_jsg_degenerate_and_bad_input() -> None:
    c = np.array([[[0.0, 0.0], [1.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]])
    for got in layers("jensen_shannon_groups", c):
        np.testing.assert_array_equal(got, [0.0, 0.0])  # fewer than two non-empty groups
    for mod in (R, A):
        with pytest.raises(DomainError, match="counts"):
            mod.jensen_shannon_groups(np.array([[1.0, -1.0], [1.0, 1.0]]))
        with pytest.raises(ValueError, match="weights"):
            mod.jensen_shannon_groups(np.ones((2, 2)), weights="equal")
