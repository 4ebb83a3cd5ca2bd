"""Tests of the ``categorical`` entropies (entropy, entropy_from_logits, renyi_entropy, tsallis_entropy,
top_p_renormalized_entropy): closed forms (mpmath at 50 digits, scipy, hand arithmetic), peer parity
(torch, scipy, an independent port of SIREN's ``efficient_top_p_sampling``) and numerical stability.
No expected value is copied from an output of our code.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import scipy.special as ssp
import scipy.stats as sst
import torch

from accelerated import categorical as A
from reference import categorical as R

mp.mp.dps = 50


P3 = np.array([0.5, 0.25, 0.25])


ROWS = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])


def mp_probs(row: np.ndarray) -> list[mp.mpf]:
    """The float row, renormalised exactly (in 50 digits) so the closed forms see a point ON the simplex:
    near α = 1 the textbook forms amplify a float row's sum error (~1e-17) by 1/|α − 1|."""
    xs = [mp.mpf(float(x)) for x in row]
    total = mp.fsum(xs)
    return [x / total for x in xs]


def mp_shannon(row: np.ndarray) -> float:
    return float(-mp.fsum(x * mp.log(x) for x in mp_probs(row) if x > 0))


def mp_renyi(row: np.ndarray, alpha: float) -> float:
    xs = [x for x in mp_probs(row) if x > 0]
    a = mp.mpf(alpha)
    return float(mp.log(mp.fsum(x**a for x in xs)) / (1 - a))


def mp_tsallis(row: np.ndarray, q: float) -> float:
    xs = [x for x in mp_probs(row) if x > 0]
    qq = mp.mpf(q)
    return float((1 - mp.fsum(x**qq for x in xs)) / (qq - 1))


def siren_port(logits: torch.Tensor, k: int, p: float) -> torch.Tensor:
    """The algorithm of ``efficient_top_p_sampling`` (Linn3a/siren), restated: top-k by logit,
    cumulative softmax mass, ``searchsorted`` (left) of p, keep the positions before the cut,
    renormalise with 1e-12 and take ``-Σ q log(q + 1e-12)``."""
    probs = torch.softmax(logits, dim=-1)
    _, idx = torch.topk(logits, k=k)
    cum = torch.cumsum(torch.gather(probs, 1, idx), dim=-1)
    cut = torch.searchsorted(cum, torch.full((logits.shape[0], 1), p, dtype=cum.dtype))
    keep = torch.arange(k).unsqueeze(0) < cut
    mask = torch.zeros_like(probs, dtype=torch.bool).scatter(1, idx, keep)
    kept = probs * mask
    q = kept / (kept.sum(-1, keepdim=True) + 1e-12)
    return -(q * torch.log(q + 1e-12)).sum(-1)


F32_EPS = float(np.finfo(np.float32).eps)


def all_layers(fn_name: str, *args: Any, dtype: torch.dtype = torch.float64, **kwargs: Any) -> list[np.ndarray]:
    """Reference, accelerated on NumPy float64 and accelerated on Torch ``dtype``, as float64 NumPy."""
    def to_torch(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            t = torch.tensor(x)
            return t.to(dtype) if t.is_floating_point() else t
        return x

    out_t = getattr(A, fn_name)(*[to_torch(a) for a in args], **{k: to_torch(v) for k, v in kwargs.items()})
    return [np.asarray(getattr(R, fn_name)(*args, **kwargs), dtype=np.float64),
            np.asarray(getattr(A, fn_name)(*args, **kwargs), dtype=np.float64),
            out_t.detach().to(torch.float64).numpy()]


def test_entropy_matches_scipy() -> None:
    np.testing.assert_allclose(R.entropy(ROWS), sst.entropy(ROWS, axis=-1), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(R.entropy(ROWS, base=2.0), sst.entropy(ROWS, base=2.0, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(R.entropy(ROWS.T, axis=0), sst.entropy(ROWS, axis=-1), rtol=1e-14, atol=1e-15)


def test_entropy_hand_values() -> None:
    assert R.entropy(P3) == pytest.approx(1.5 * math.log(2), rel=1e-15)  # 0.5 ln2 + 2·0.25·ln4
    assert R.entropy(P3, base=2.0) == pytest.approx(1.5, rel=1e-15)
    assert R.entropy(np.array([0.0, 1.0, 0.0])) == 0.0


def test_entropy_from_logits_matches_scipy_softmax() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 3.0, size=(5, 11))
    expected = sst.entropy(ssp.softmax(z, axis=-1), axis=-1)
    np.testing.assert_allclose(R.entropy_from_logits(z), expected, rtol=1e-13)
    np.testing.assert_allclose(R.entropy_from_logits(z, temperature=0.7),
                               sst.entropy(ssp.softmax(z / 0.7, axis=-1), axis=-1), rtol=1e-13)
    np.testing.assert_allclose(R.entropy_from_logits(z.T, axis=0), expected, rtol=1e-13)


def test_entropy_from_logits_mpmath_closed_form() -> None:
    z = np.array([3.0, -1.0, 0.5, 2.25])
    zs = [mp.mpf(x) for x in z]
    lse = mp.log(mp.fsum(mp.exp(x) for x in zs))
    expected = float(lse - mp.fsum(mp.exp(x - lse) * x for x in zs))
    assert R.entropy_from_logits(z) == pytest.approx(expected, rel=1e-14)


def test_entropy_from_logits_neg_inf_and_limits() -> None:
    z = np.array([[0.0, -np.inf, 0.0, -np.inf], [5.0, 5.0, 5.0, 5.0]])
    np.testing.assert_allclose(R.entropy_from_logits(z), [math.log(2), math.log(4)], rtol=1e-15)
    # T -> 0: log(number of tied maxima); a unique maximum gives 0
    assert R.entropy_from_logits(np.array([1.0, 3.0, 3.0, 0.0]), temperature=1e-300) == pytest.approx(math.log(2))
    assert R.entropy_from_logits(np.array([1.0, 3.0, 2.0]), temperature=1e-300) == 0.0
    # T -> inf: uniform
    assert R.entropy_from_logits(np.array([1.0, 3.0, 2.0]), temperature=1e300) == pytest.approx(math.log(3))


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.999999, 1.000001, 2.0, 3.5, 50.0])
def test_renyi_mpmath(alpha: float) -> None:
    for row in ROWS[:2]:
        assert R.renyi_entropy(row, alpha) == pytest.approx(mp_renyi(row, alpha), rel=1e-12, abs=1e-14)


def test_renyi_limits() -> None:
    row = ROWS[0]
    assert R.renyi_entropy(row, 1.0) == pytest.approx(mp_shannon(row), rel=1e-14)
    assert R.renyi_entropy(row, 0.0) == pytest.approx(math.log(4), rel=1e-15)
    assert R.renyi_entropy(np.array([0.5, 0.5, 0.0]), 0.0) == pytest.approx(math.log(2), rel=1e-15)  # Hartley
    assert R.renyi_entropy(row, math.inf) == pytest.approx(-math.log(0.4), rel=1e-15)  # min-entropy
    # alpha -> 1 from both sides (no 0/0): within first-order distance of Shannon
    for d in (1e-12, 1e-9, 1e-6):
        assert R.renyi_entropy(row, 1.0 - d) == pytest.approx(mp_shannon(row), abs=10 * d + 1e-14)
        assert R.renyi_entropy(row, 1.0 + d) == pytest.approx(mp_shannon(row), abs=10 * d + 1e-14)
    # large alpha -> min-entropy; still accurate when Σ p^α underflows relative to 1
    assert R.renyi_entropy(np.array([0.5, 0.5]), 1000.0) == pytest.approx(math.log(2), rel=1e-13)
    assert R.renyi_entropy(row, 1e5) == pytest.approx(mp_renyi(row, 1e5), rel=1e-12)


def test_renyi_one_hot_is_zero() -> None:
    for a in (0.0, 0.5, 1.0, 2.0, math.inf):
        assert R.renyi_entropy(np.array([0.0, 1.0, 0.0]), a) == 0.0


@pytest.mark.parametrize("q", [0.0, 0.3, 0.999999, 1.000001, 2.0, 3.0, 7.5])
def test_tsallis_mpmath(q: float) -> None:
    for row in ROWS:
        assert R.tsallis_entropy(row, q) == pytest.approx(mp_tsallis(row, q), rel=1e-12, abs=1e-14)


def test_tsallis_special_cases() -> None:
    row = ROWS[0]
    assert R.tsallis_entropy(row, 1.0) == pytest.approx(mp_shannon(row), rel=1e-14)
    assert R.tsallis_entropy(row, 2.0) == pytest.approx(1.0 - float(np.sum(row**2)), rel=1e-14)  # Gini
    assert R.tsallis_entropy(np.array([0.5, 0.5, 0.0]), 0.0) == pytest.approx(1.0)  # |supp| − 1
    k, q = 4, 3.0
    assert R.tsallis_entropy(np.full(k, 1 / k), q) == pytest.approx((1 - k ** (1 - q)) / (q - 1), rel=1e-14)


def test_top_p_uniform_log_cut() -> None:
    # uniform over V = 8, c_j = j/8; p = 0.8: #{j : j/8 < 0.8} = 6 (j = 1..6), the 7th (0.875) crosses
    assert R.top_p_renormalized_entropy(np.zeros(8), 0.8) == pytest.approx(math.log(6), abs=1e-10)
    # p = 0.5 exactly on a boundary: c_4 = 0.5 is not < 0.5 -> cut = 3 (the token reaching p is excluded)
    assert R.top_p_renormalized_entropy(np.zeros(8), 0.5) == pytest.approx(math.log(3), abs=1e-10)
    # p = 1: all but the last token
    assert R.top_p_renormalized_entropy(np.zeros(5), 1.0) == pytest.approx(math.log(4), abs=1e-10)
    # k clips the support: k = 2 keeps 2 tokens (c_2 = 0.25 < 0.8); k > V is clipped to V
    assert R.top_p_renormalized_entropy(np.zeros(8), 0.8, k=2) == pytest.approx(math.log(2), abs=1e-10)
    assert R.top_p_renormalized_entropy(np.zeros(8), 0.8, k=100) == pytest.approx(math.log(6), abs=1e-10)


def test_top_p_hand_case_with_eps() -> None:
    # π = (0.5, 0.3, 0.2) (logits = log π), p = 0.9: c = (0.5, 0.8, 1.0) -> S = {0, 1}
    z = np.log(np.array([0.5, 0.3, 0.2]))
    q = np.array([0.5, 0.3]) / (0.8 + 1e-12)
    expected = float(-np.sum(q * np.log(q + 1e-12)))
    assert R.top_p_renormalized_entropy(z, 0.9) == pytest.approx(expected, rel=1e-14)
    assert expected == pytest.approx(-(0.625 * math.log(0.625) + 0.375 * math.log(0.375)), rel=1e-10)


def test_top_p_empty_support_is_zero() -> None:
    z = np.log(np.array([0.85, 0.1, 0.05]))
    assert R.top_p_renormalized_entropy(z, 0.8) == 0.0  # max π >= p
    assert R.top_p_renormalized_entropy(np.zeros(4), 0.0) == 0.0


def test_entropy_from_logits_matches_torch_and_scipy() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 4.0, size=(4, 3, 17))
    zt = torch.tensor(z)
    torch_h = -(torch.softmax(zt, -1) * torch.log_softmax(zt, -1)).sum(-1).numpy()
    np.testing.assert_allclose(R.entropy_from_logits(z), torch_h, rtol=1e-12)
    np.testing.assert_allclose(A.entropy_from_logits(zt).numpy(), torch_h, rtol=1e-12)
    np.testing.assert_allclose(R.entropy_from_logits(z, temperature=2.5),
                               sst.entropy(ssp.softmax(z / 2.5, axis=-1), axis=-1), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 5, 40])
@pytest.mark.parametrize("p", [0.3, 0.8, 0.95])
def test_top_p_matches_official_algorithm(k: int, p: float) -> None:
    rng = np.random.default_rng(int(100 * p) + k)
    z = rng.normal(0.0, 2.0, size=(16, 40))
    expected = siren_port(torch.tensor(z), k, p).numpy()
    np.testing.assert_allclose(R.top_p_renormalized_entropy(z, p, k=k), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.top_p_renormalized_entropy(torch.tensor(z), p, k=k).numpy(), expected,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.top_p_renormalized_entropy(torch.tensor(z, dtype=torch.float32), p, k=k).numpy(),
                               siren_port(torch.tensor(z, dtype=torch.float32), k, p).numpy(), rtol=1e-5, atol=1e-6)


def test_top_p_default_k_is_all_vocab_and_differs_from_hf_nucleus() -> None:
    """k=None keeps the whole vocabulary in play; the crossing token is excluded (HF keeps it)."""
    z = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    expected = siren_port(torch.tensor(z[None]), 4, 0.6).numpy()[0]
    assert R.top_p_renormalized_entropy(z, 0.6) == pytest.approx(expected, rel=1e-12)
    # S = {0.4}: c = (0.4, 0.7, ...) -> the 0.3 token crosses 0.6 and is excluded -> H ≈ 0
    assert expected == pytest.approx(0.0, abs=1e-10)
    lp = pytest.importorskip("transformers.generation.logits_process")
    hf = lp.TopPLogitsWarper(top_p=0.6)(None, torch.tensor(z[None]))
    assert int(torch.isfinite(hf).sum()) == 2  # HF nucleus keeps {0.4, 0.3}


@pytest.mark.parametrize("scale", [1e2, 1e4, 1e30, 1e300])
def test_entropy_from_logits_large_magnitudes_reference_exact(scale: float) -> None:
    z = np.array([[1.0, 1.0, -1.0, 0.5], [-1.0, -1.0, -1.0, -1.0]]) * scale
    h = R.entropy_from_logits(z)
    expected0 = math.log(2) if scale > 50 else None
    assert np.all(np.isfinite(h))
    if expected0 is not None:
        assert h[0] == pytest.approx(expected0, rel=1e-14)
    assert h[1] == pytest.approx(math.log(4), rel=1e-14)
    np.testing.assert_allclose(np.asarray(A.entropy_from_logits(z)), h, rtol=1e-14)  # generic path: exact too


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_entropy_from_logits_torch_large_magnitudes(dtype: torch.dtype) -> None:
    """Torch fast path (torch_fast.entropy_rows): absolute error within O(eps·max|z|), never NaN."""
    rng = np.random.default_rng(0)
    z = np.round(rng.normal(0.0, 1.0, size=(4, 64)) * 4) / 4 + 1e3  # exact in bf16: multiples of 1/4 near 1e3
    z = torch.tensor(z).to(dtype).to(torch.float64).numpy()
    ref = R.entropy_from_logits(z)
    got = A.entropy_from_logits(torch.tensor(z).to(dtype)).to(torch.float64).numpy()
    eps = 2.0**-52 if dtype == torch.float64 else (F32_EPS if dtype == torch.float32 else 2.0**-7)
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - ref)) <= 64 * F32_EPS * 1e3 + 8 * eps * np.max(np.abs(ref))


@pytest.mark.parametrize("alpha", [1e-12, 1.0 - 1e-12, 1.0 + 1e-12, 1e3, 1e8])
def test_renyi_extreme_orders(alpha: float) -> None:
    p = np.array([[0.5, 0.25, 0.125, 0.125], [1.0, 0.0, 0.0, 0.0]])
    outs = all_layers("renyi_entropy", p, alpha) + all_layers("renyi_entropy", p, alpha, dtype=torch.float32)
    shannon = 1.75 * math.log(2)
    for o in outs:
        assert np.all(np.isfinite(o))
        assert o[1] == pytest.approx(0.0, abs=1e-7)
    if abs(alpha - 1.0) < 1e-9:
        for o in outs:
            assert o[0] == pytest.approx(shannon, rel=1e-6)
    if alpha >= 1e3:
        for o in outs:
            assert o[0] == pytest.approx(math.log(2) * alpha / (alpha - 1), rel=1e-5)  # -> -log max p


@pytest.mark.parametrize("q", [0.0, 1.0 - 1e-12, 1.0 + 1e-12, 50.0])
def test_tsallis_extreme_indices(q: float) -> None:
    p = np.array([[0.5, 0.25, 0.125, 0.125]])
    expected = 1.75 * math.log(2) if abs(q - 1) < 1e-9 else (1 - float(np.sum(p**q))) / (q - 1)
    for o in all_layers("tsallis_entropy", p, q) + all_layers("tsallis_entropy", p, q, dtype=torch.float32):
        assert o[0] == pytest.approx(expected, rel=1e-6)


def test_top_p_extremes() -> None:
    z = np.log(np.array([[0.5, 0.25, 0.125, 0.125]]))
    for got in all_layers("top_p_renormalized_entropy", z, 0.0):
        assert got[0] == 0.0
    for got in all_layers("top_p_renormalized_entropy", z, 1.0):  # all but the last token
        q = np.array([0.5, 0.25, 0.125]) / (0.875 + 1e-12)
        assert got[0] == pytest.approx(float(-np.sum(q * np.log(q + 1e-12))), rel=1e-9)
    for got in all_layers("top_p_renormalized_entropy", z, 0.8, k=1):
        assert got[0] == pytest.approx(0.0, abs=1e-11)  # single-token support: only the eps bias remains
