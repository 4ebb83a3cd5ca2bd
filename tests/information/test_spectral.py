"""Tests of the ``information`` family, group ``spectral``: values from closed forms (identity, all-ones and
block kernels, orthogonal weighted samples), parity with vendi-score 0.0.3 and reptrix 0.1.0 (transcribed
in ``information_peers.py``; the real packages too when importable) with their known differences named,
and the dual (D×D) form against the N×N definition."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import information as A
from reference import information as R

sys.path.insert(0, str(Path(__file__).resolve().parent))
import information_peers as P

# --------------------------------------------------------------------------- helpers


def _blocks(sizes: list[int]) -> Any:
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return (labels[:, None] == labels[None, :]).astype(np.float64)


def _vendi_closed(lam: Any, q: float) -> float:
    """VS_q of a probability spectrum, written from the definition."""
    lam = np.asarray([v for v in lam if v > 0], dtype=np.float64)
    if q == 1.0:
        return math.exp(-float(np.sum(lam * np.log(lam))))
    if math.isinf(q):
        return 1.0 / float(np.max(lam))
    if q == 0.0:
        return float(lam.size)
    return float(np.sum(lam**q)) ** (1.0 / (1.0 - q))


def _rbf(x: Any, sigma: float = 1.0) -> Any:
    d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return np.exp(-d2 / (2 * sigma**2))


QS = [0.0, 0.5, 1.0, 2.0, 3.5, math.inf]

# --------------------------------------------------------------------------- vendi_score: closed forms


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("sizes", [[1, 1, 1, 1], [3], [2, 1], [3, 3, 3], [4, 2, 1, 1]])
def test_vendi_block_kernels_closed_form(sizes: list[int], q: float) -> None:
    """A block-diagonal all-ones kernel: λ = (block sizes)/N; equal blocks give VS = #blocks for every q."""
    k = _blocks(sizes)
    n = sum(sizes)
    expected = _vendi_closed(np.array(sizes) / n, q)
    perm = np.random.default_rng(len(sizes)).permutation(n)
    for kk in (k, k[np.ix_(perm, perm)]):
        assert float(R.vendi_score(kk, kernel="precomputed", q=q)) == pytest.approx(expected, rel=1e-12)
        assert float(A.vendi_score(torch.tensor(kk), kernel="precomputed", q=q)) == pytest.approx(expected, rel=1e-12)
    if len(set(sizes)) == 1:
        assert expected == pytest.approx(len(sizes), rel=1e-15)


@pytest.mark.parametrize("q", QS)
def test_vendi_duplicated_samples_are_one_point(q: float) -> None:
    """Rows (a, a, b) with a ⟂ b: the spectrum of the cosine kernel is (2/3, 1/3, 0) — the zero is dropped."""
    x = np.array([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, -2.0, 0.0]])
    expected = _vendi_closed([2 / 3, 1 / 3], q)
    for kernel in ("cosine", "linear"):
        if kernel == "linear":
            x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # equal norms: the same spectrum
        assert float(R.vendi_score(x, q=q, kernel=kernel)) == pytest.approx(expected, rel=1e-12)
        assert float(A.vendi_score(x, q=q, kernel=kernel)) == pytest.approx(expected, rel=1e-12)


def test_vendi_weights_on_orthogonal_samples() -> None:
    """Orthogonal rows with weights p: K̃ = diag(p), so VS_q = exp(H_q(p)) (Rényi of p, computed by hand)."""
    p = np.array([0.5, 0.25, 0.125, 0.125])
    x = np.diag([1.0, 2.0, 3.0, 4.0])
    h1 = -sum(v * math.log(v) for v in p)
    assert float(R.vendi_score(x, p=p)) == pytest.approx(math.exp(h1), rel=1e-13)
    assert float(A.vendi_score(torch.tensor(x), p=torch.tensor(p), q=2.0)) == pytest.approx(
        1.0 / float(np.sum(p**2)), rel=1e-13)
    # a zero weight removes the sample
    p0 = np.array([0.5, 0.5, 0.0, 0.0])
    assert float(R.vendi_score(x, p=p0, q=0.0)) == pytest.approx(2.0, rel=1e-15)


def test_vendi_all_zero_is_one() -> None:
    z = np.zeros((4, 3))
    for kernel in ("cosine", "linear"):
        assert float(R.vendi_score(z, kernel=kernel)) == 1.0
        assert float(A.vendi_score(torch.tensor(z), kernel=kernel)) == 1.0
    assert float(R.vendi_score(np.zeros((3, 3)), kernel="precomputed", q=0.5)) == 1.0


def test_vendi_q_near_one_is_continuous() -> None:
    x = np.random.default_rng(3).normal(size=(9, 4))
    v1 = float(R.vendi_score(x, q=1.0))
    for eps in (1e-12, 1e-9, 1e-6):
        for q in (1.0 - eps, 1.0 + eps):
            assert float(R.vendi_score(x, q=q)) == pytest.approx(v1, rel=10 * eps + 1e-14)
            assert float(A.vendi_score(torch.tensor(x), q=q)) == pytest.approx(v1, rel=10 * eps + 1e-13)


# --------------------------------------------------------------------------- vendi_score: parity with vendi-score


@pytest.mark.parametrize("q", [0.5, 1, 2, 3.5, "inf"])
@pytest.mark.parametrize("seed", range(3))
def test_vendi_matches_vendi_score_on_full_rank_kernels(q: Any, seed: int) -> None:
    """score_K on a PSD unit-diagonal (full-rank RBF) kernel, with and without weights."""
    rng = np.random.default_rng(seed)
    k = _rbf(rng.normal(size=(12, 3)), sigma=0.8)
    qq = math.inf if q == "inf" else float(q)
    assert float(R.vendi_score(k, kernel="precomputed", q=qq)) == pytest.approx(P.score_K(k, q=q), rel=1e-11)
    w = rng.dirichlet(np.ones(12))
    assert float(A.vendi_score(k, p=w, kernel="precomputed", q=qq)) == pytest.approx(P.score_K(k, q=q, p=w),
                                                                                    rel=1e-11)


@pytest.mark.parametrize("q", [1, 2, 3.5, "inf"])
def test_vendi_matches_score_dual_and_score_x(q: Any) -> None:
    """score_dual honours q; score_X ignores it (always q = 1): the named difference."""
    x = np.random.default_rng(7).normal(size=(40, 6))
    qq = math.inf if q == "inf" else float(q)
    ours = float(A.vendi_score(torch.tensor(x), q=qq))
    assert ours == pytest.approx(P.score_dual(x, q=q), rel=1e-11)
    assert float(R.vendi_score(x, q=qq)) == pytest.approx(ours, rel=1e-11)
    assert P.score_X(x, q=q) == pytest.approx(float(R.vendi_score(x, q=1.0)), rel=1e-11)
    if q != 1:
        assert P.score_X(x, q=q) != pytest.approx(ours, rel=1e-3)


def test_vendi_score_peer_differences() -> None:
    """q = np.inf is NaN in vendi-score (only the string works); counting round-off for q < 1."""
    k = _blocks([2, 1, 1])
    with np.errstate(all="ignore"):
        assert math.isnan(P.score_K(k, q=np.inf))
    assert float(R.vendi_score(k, kernel="precomputed", q=math.inf)) == pytest.approx(2.0)
    # duplicated rows, q = 0: the exactly-zero eigenvalue is not counted here (3 distinct points)
    x = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0], [2.0, -1.0]])
    assert float(R.vendi_score(x, q=0.0)) == pytest.approx(2.0)  # rank 2
    # linear kernel: vendi-score's XXᵀ/n is scale dependent, ours is trace-normalised
    xl = np.random.default_rng(1).normal(size=(10, 3))
    scale = math.sqrt(float(np.mean(np.sum(xl * xl, axis=1))))
    assert float(R.vendi_score(xl, kernel="linear", q=2.0)) == pytest.approx(
        P.score_dual(xl / scale, q=2, normalize=False), rel=1e-11)
    assert P.score_dual(3 * xl, q=2, normalize=False) != pytest.approx(P.score_dual(xl, q=2, normalize=False))


def test_vendi_roundoff_eigenvalues_and_eig_rtol() -> None:
    """Duplicated rows, q = 1/2: the exact spectrum (from the 3×3 dual, no zero eigenvalues) is what the default
    threshold gives; vendi-score's p[p > 0] counts the positive round-off of the six zero eigenvalues, and so
    does eig_rtol = 0 (with round-off of its own)."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(6, 3))
    x = np.vstack([x, x[:3]])  # 9 samples, rank 3
    xn = P.sk_normalize(x)
    exact = np.linalg.eigvalsh(xn.T @ xn / 9)  # the nonzero spectrum, computed on the 3×3 side
    expected = _vendi_closed(exact / exact.sum(), 0.5)
    assert float(R.vendi_score(x, q=0.5)) == pytest.approx(expected, rel=1e-12)
    assert float(A.vendi_score(torch.tensor(x), q=0.5)) == pytest.approx(expected, rel=1e-12)
    peer = P.score_K(xn @ xn.T, q=0.5)
    assert abs(peer - expected) > 1e-9 * expected  # vendi-score counts round-off
    # the N×N kernel (precomputed) with eig_rtol = 0 counts the round-off zeros as vendi-score does
    assert float(R.vendi_score(xn @ xn.T, kernel="precomputed", q=0.5, eig_rtol=0.0)) != pytest.approx(expected,
                                                                                                     rel=1e-10)


def test_transcription_matches_installed_vendi_score() -> None:
    vs = pytest.importorskip("vendi_score.vendi")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(15, 4))
    k = _rbf(x)
    for q in (0.5, 1, 2, "inf"):
        assert P.score_K(k, q=q) == pytest.approx(vs.score_K(k, q=q), rel=1e-13)
        assert P.score_dual(x, q=q) == pytest.approx(vs.score_dual(x, q=q), rel=1e-13)
        assert P.score_X(x, q=q) == pytest.approx(vs.score_X(x, q=q), rel=1e-13)


# --------------------------------------------------------------------------- vendi_score: dual form, dtypes


@pytest.mark.parametrize("kernel", ["cosine", "linear"])
@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, math.inf])
def test_vendi_dual_form_equals_definition(kernel: str, q: float) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 7)) * rng.uniform(0.1, 3.0, size=(300, 1))
    w = rng.dirichlet(np.ones(300))
    xn = P.sk_normalize(x) if kernel == "cosine" else x
    lam = np.linalg.eigvalsh(np.sqrt(w)[:, None] * (xn @ xn.T) * np.sqrt(w)[None, :])  # the N×N definition
    lam = lam[lam > 1e-10 * lam.max()]
    ref = _vendi_closed(lam / lam.sum(), q)
    assert float(R.vendi_score(x, p=w, q=q, kernel=kernel)) == pytest.approx(ref, rel=1e-11)
    assert float(A.vendi_score(torch.tensor(x), p=torch.tensor(w), q=q, kernel=kernel)) == pytest.approx(ref, rel=1e-11)
    assert float(A.vendi_score(x.astype(np.float32), p=w.astype(np.float32), q=q, kernel=kernel)) == pytest.approx(
        ref, rel=1e-4)


def test_vendi_large_magnitudes_float32() -> None:
    x = np.random.default_rng(4).normal(size=(50, 5))
    ref = float(R.vendi_score(x))
    for scale in (1e-30, 1e30):
        out = A.vendi_score(torch.tensor(x * scale, dtype=torch.float32))
        assert torch.isfinite(out) and float(out) == pytest.approx(ref, rel=1e-4)


def test_vendi_gradient_matches_spectral_formula() -> None:
    """q = 1, precomputed K: p = λ(K)/tr K, H = −Σ p log p, so dVS/dK = VS·(−V diag(log p) Vᵀ − H·I)/tr K
    (derived by hand from dλ_i = v_iᵀ dK v_i and d tr K = tr dK)."""
    rng = np.random.default_rng(9)
    k = _rbf(rng.normal(size=(6, 2)), sigma=1.3)
    t = torch.tensor(k, requires_grad=True)
    v = A.vendi_score(t, kernel="precomputed")
    v.backward()
    lam, vec = np.linalg.eigh(k)
    p = lam / np.trace(k)
    h = -float(np.sum(p * np.log(p)))
    g = float(v.detach()) * (-(vec @ np.diag(np.log(p)) @ vec.T) - h * np.eye(6)) / np.trace(k)
    assert t.grad is not None
    np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- latent_von_neumann_entropy


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("eps", [1e-8, 1e-4])
@pytest.mark.parametrize("shape", [(2, 5, 4), (1, 3, 6), (3, 4, 2)])
def test_lvn_matches_official_code(shape: tuple[int, int, int], eps: float, center: bool) -> None:
    """The official torch function (transcribed) on (B, T, H) latents = ours on the flattened (B·T, H)."""
    z = np.random.default_rng(sum(shape)).normal(size=shape)
    z[..., -1] = z[..., 0]  # a rank deficiency: an eigenvalue clamped at eps
    theirs = float(P.koopman_von_neumann_entropy(torch.tensor(z), center=center, eps=eps))
    flat = z.reshape(-1, shape[-1])
    assert float(R.latent_von_neumann_entropy(flat, center=center, eps=eps)) == pytest.approx(theirs, rel=1e-12)
    ours = A.latent_von_neumann_entropy(torch.tensor(flat), center=center, eps=eps)
    assert float(ours) == pytest.approx(theirs, rel=1e-10, abs=1e-12)


def test_lvn_is_log_vendi_of_the_centred_linear_kernel() -> None:
    """eps = 0: S = log VS_1(Z_c, linear) (the catalogue's cross-check with vendi_score)."""
    x = np.random.default_rng(0).normal(size=(20, 6)) @ np.diag([3, 2, 1, 1, 0.5, 0.1])
    s = float(R.latent_von_neumann_entropy(x, eps=0.0))
    assert s == pytest.approx(math.log(float(R.vendi_score(x - x.mean(axis=0), kernel="linear"))), rel=1e-12)
    assert s == pytest.approx(math.log(P.score_dual((x - x.mean(0)) / math.sqrt(np.sum((x - x.mean(0)) ** 2) / 20),
                                                    normalize=False)), rel=1e-11)


def test_lvn_closed_forms_and_gradient() -> None:
    iso = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    assert float(R.latent_von_neumann_entropy(iso)) == pytest.approx(math.log(3), rel=1e-14)
    # dS/dρ = −(log ρ + I); check the chain rule through Σ = ZᵀZ/(N − 1) with eps = 0 by hand
    z = np.random.default_rng(1).normal(size=(8, 3))
    z = z - z.mean(axis=0)
    t = torch.tensor(z, requires_grad=True)
    A.latent_von_neumann_entropy(t, center=False, eps=0.0).backward()
    sigma = z.T @ z / 7
    lam, vec = np.linalg.eigh(sigma / np.trace(sigma))
    s = -float(np.sum(lam * np.log(lam)))
    g_sigma = (-(vec @ np.diag(np.log(lam)) @ vec.T) - s * np.eye(3)) / np.trace(sigma)
    assert t.grad is not None
    np.testing.assert_allclose(t.grad.numpy(), 2 * z @ g_sigma / 7, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- matrix_entropy


@pytest.mark.parametrize("seed", range(4))
def test_matrix_entropy_matches_official_code(seed: int) -> None:
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(12, 6)) @ rng.normal(size=(6, 6))
    theirs = P.mnn_matrix_entropy(torch.tensor(r))
    assert float(R.matrix_entropy(r)) == pytest.approx(theirs, rel=1e-11)
    assert float(A.matrix_entropy(torch.tensor(r))) == pytest.approx(theirs, rel=1e-11)


def test_matrix_entropy_zero_rows_differ_from_official_nan() -> None:
    r = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [0.0, 3.0], [0.0, -3.0]])
    with pytest.raises(RuntimeError):  # the official code divides the zero row by 0, then svd fails on NaN
        P.mnn_matrix_entropy(torch.tensor(r))
    assert float(R.matrix_entropy(r)) == pytest.approx(1.0)
    assert float(A.matrix_entropy(r)) == pytest.approx(1.0)
    assert float(R.matrix_entropy(np.ones((4, 3)))) == 0.0  # all rows equal: A = 0


# --------------------------------------------------------------------------- rankme


@pytest.mark.parametrize("shape", [(40, 6), (5, 9), (30, 30)])
@pytest.mark.parametrize("max_eigenvals", [2048, 3])
def test_rankme_matches_reptrix(shape: tuple[int, int], max_eigenvals: int) -> None:
    x = np.random.default_rng(shape[0]).normal(size=shape) @ np.diag(np.linspace(3, 0.1, shape[1]))
    theirs = P.get_rank(P.get_eigenspectrum(x, max_eigenvals=max_eigenvals))
    assert float(R.rankme(x, max_eigenvals=max_eigenvals)) == pytest.approx(theirs, rel=1e-12)
    assert float(A.rankme(torch.tensor(x), max_eigenvals=max_eigenvals)) == pytest.approx(theirs, rel=1e-11)


def test_rankme_singular_spectrum_garrido() -> None:
    """RankMe of Garrido et al.: singular values of the uncentred embeddings (closed form on diag X)."""
    x = np.diag([4.0, 2.0, 1.0, 1.0])
    s = np.array([4.0, 2.0, 1.0, 1.0])
    p = s / s.sum() + 1e-7
    expected = math.exp(-float(np.sum(p * np.log(p))))
    assert float(R.rankme(x, spectrum="singular")) == pytest.approx(expected, rel=1e-14)
    assert float(R.rankme(x)) != pytest.approx(expected, rel=1e-3)  # the covariance spectrum differs


def test_transcription_matches_installed_reptrix() -> None:
    pytest.importorskip("sklearn")
    rankme_mod = pytest.importorskip("reptrix.rankme")
    alpha_mod = pytest.importorskip("reptrix.alpha")
    x = np.random.default_rng(0).normal(size=(300, 150)) @ np.diag(np.arange(1, 151) ** -0.8)
    assert P.get_rank(P.get_eigenspectrum(x)) == pytest.approx(rankme_mod.get_rankme(torch.tensor(x)), rel=1e-10)
    eig = P.get_eigenspectrum(x)
    ours = P.get_powerlaw(eig, np.arange(10, 100))
    theirs = alpha_mod.get_powerlaw(eig, np.arange(10, 100))
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12) and ours[2] == pytest.approx(theirs[2], rel=1e-10)


# --------------------------------------------------------------------------- eigenspectrum


@pytest.mark.parametrize("shape", [(40, 6), (5, 9), (30, 30)])
@pytest.mark.parametrize("max_eigenvals", [2048, 3, 1])
def test_eigenspectrum_matches_reptrix(shape: tuple[int, int], max_eigenvals: int) -> None:
    x = np.random.default_rng(shape[1]).normal(size=shape) @ np.diag(np.linspace(2, 0.2, shape[1])) + 3.0
    theirs = P.get_eigenspectrum(x, max_eigenvals=max_eigenvals)
    np.testing.assert_allclose(R.eigenspectrum(x, max_eigenvals=max_eigenvals), theirs, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(A.eigenspectrum(torch.tensor(x), max_eigenvals=max_eigenvals).numpy(), theirs,
                               rtol=1e-10, atol=1e-15)


def test_eigenspectrum_transcription_matches_sklearn() -> None:
    decomposition = pytest.importorskip("sklearn.decomposition")
    x = np.random.default_rng(0).normal(size=(20, 7))
    pca = decomposition.PCA(n_components=4, svd_solver="full").fit(x - x.mean(axis=0))
    np.testing.assert_allclose(P.get_eigenspectrum(x, max_eigenvals=4), pca.explained_variance_ratio_, rtol=1e-12)


# --------------------------------------------------------------------------- alpha_req


@pytest.mark.parametrize("decay", [0.6, 1.0, 1.7])
def test_alpha_req_matches_reptrix_default_range(decay: float) -> None:
    """reptrix get_alpha = get_powerlaw(get_eigenspectrum(X), arange(10, 100)) (transcribed, float32 weights)."""
    rng = np.random.default_rng(int(decay * 10))
    x = rng.normal(size=(400, 160)) * np.arange(1, 161) ** (-decay / 2)
    theirs = P.get_powerlaw(P.get_eigenspectrum(x), np.arange(10, 100))[0]
    assert float(R.alpha_req(x)) == pytest.approx(theirs, rel=1e-7)  # reptrix's float32 weights: ~1e-8
    assert float(A.alpha_req(torch.tensor(x))) == pytest.approx(float(R.alpha_req(x)), rel=1e-10)
    assert float(R.alpha_req(x)) == pytest.approx(decay, abs=0.15)  # a sample spectrum decays about as its source


def test_alpha_req_reptrix_mutates_its_fit_range() -> None:
    """The named difference: reptrix increments the caller's array in place; a second call fits ranks 12..101."""
    x = np.random.default_rng(3).normal(size=(300, 150)) * np.arange(1, 151) ** -0.5
    eig = P.get_eigenspectrum(x)
    trange = np.arange(10, 100)
    first = P.get_powerlaw(eig, trange)[0]
    second = P.get_powerlaw(eig, trange)[0]
    assert first == pytest.approx(float(R.alpha_req(x)), rel=1e-7)
    assert second == pytest.approx(float(R.alpha_req(x, fit_start=11, fit_stop=101)), rel=1e-7)
    assert second != pytest.approx(first, rel=1e-6)


def test_alpha_req_exact_power_law() -> None:
    for alpha in (0.5, 1.0, 2.0, 3.0):
        c = np.arange(1, 41, dtype=np.float64) ** (-alpha / 2)
        x = np.vstack([np.diag(c), -np.diag(c)])
        assert float(R.alpha_req(x)) == pytest.approx(alpha, rel=1e-12)
        assert float(A.alpha_req(torch.tensor(x), fit_start=0, fit_stop=30)) == pytest.approx(alpha, rel=1e-11)
