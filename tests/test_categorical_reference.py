"""Golden values for the ``categorical`` reference: scipy, mpmath closed forms, hand-computed cases.

Every expected value here is computed independently of our code (scipy / mpmath at 50 digits /
arithmetic by hand), never copied from an output of ``reference.categorical``.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.special as ssp
import scipy.stats as sst

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


# --------------------------------------------------------------------------- entropy


def test_entropy_matches_scipy() -> None:
    np.testing.assert_allclose(R.entropy(ROWS), sst.entropy(ROWS, axis=-1), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(R.entropy(ROWS, base=2.0), sst.entropy(ROWS, base=2.0, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(R.entropy(ROWS.T, axis=0), sst.entropy(ROWS, axis=-1), rtol=1e-14, atol=1e-15)


def test_entropy_hand_values() -> None:
    assert R.entropy(P3) == pytest.approx(1.5 * math.log(2), rel=1e-15)  # 0.5 ln2 + 2·0.25·ln4
    assert R.entropy(P3, base=2.0) == pytest.approx(1.5, rel=1e-15)
    assert R.entropy(np.array([0.0, 1.0, 0.0])) == 0.0


# --------------------------------------------------------------------------- entropy_from_logits


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


# --------------------------------------------------------------------------- renyi / tsallis


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


# --------------------------------------------------------------------------- divergences


def test_kl_matches_rel_entr() -> None:
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    q = np.array([[0.25, 0.25, 0.5], [0.5, 0.0, 0.5], [0.3, 0.3, 0.4]])
    expected = ssp.rel_entr(p, q).sum(-1)
    got = R.kl_divergence(p, q)
    assert np.isinf(got[1]) and np.isinf(expected[1])  # p > 0 = q -> +inf, not NaN
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert R.kl_divergence(p[0], q[0]) == pytest.approx(math.log(2), rel=1e-15)  # 2·0.5·log(0.5/0.25)


def test_kl_from_logits_mpmath() -> None:
    a = np.array([1.0, -2.0, 0.5])
    b = np.array([0.0, 1.5, -1.0])
    la = [mp.mpf(x) - mp.log(mp.fsum(mp.exp(mp.mpf(y)) for y in a)) for x in a]
    lb = [mp.mpf(x) - mp.log(mp.fsum(mp.exp(mp.mpf(y)) for y in b)) for x in b]
    expected = float(mp.fsum(mp.exp(x) * (x - y) for x, y in zip(la, lb, strict=True)))
    assert R.kl_divergence_from_logits(a, b) == pytest.approx(expected, rel=1e-13)


def test_kl_from_logits_masks() -> None:
    a = np.array([0.0, -np.inf, 1.0])
    b = np.array([0.0, 2.0, 1.0])
    assert R.kl_divergence_from_logits(a, b) == pytest.approx(
        float(np.sum(ssp.rel_entr(ssp.softmax(a), ssp.softmax(b)))), rel=1e-13)
    assert np.isinf(R.kl_divergence_from_logits(b, a))  # finite a_v where b_v = -inf
    # support = {a_v > -inf}, even when softmax(a)_v underflows to 0 in float64
    assert np.isinf(R.kl_divergence_from_logits(np.array([0.0, -2000.0]), np.array([0.0, -np.inf])))


def test_js_hand_and_bounds() -> None:
    assert R.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(math.log(2), rel=1e-15)
    assert R.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]), base=2.0) == pytest.approx(1.0, rel=1e-15)
    # p = (1, 0), q = (½, ½): m = (¾, ¼); JS = ½[log(4/3)] + ½[½ log(2/3) + ½ log 2]
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert R.js_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(expected, rel=1e-14)
    # denormal mass: m = (p + q)/2 underflows to 0 but the divergence stays finite
    assert np.isfinite(R.js_divergence(np.array([1.0, 0.0]), np.array([1.0, 5e-324])))


# --------------------------------------------------------------------------- SIREN


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


# --------------------------------------------------------------------------- cross_entropy


def test_cross_entropy_hand() -> None:
    z = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])  # softmax rows (½, ½) and (¾, ¼)
    y = np.array([0, 1])
    np.testing.assert_allclose(R.cross_entropy(z, y, reduction="none"), [math.log(2), math.log(4)], rtol=1e-15)
    assert R.cross_entropy(z, y) == pytest.approx(0.5 * (math.log(2) + math.log(4)), rel=1e-15)
    assert R.cross_entropy(z, y, reduction="sum") == pytest.approx(math.log(8), rel=1e-15)
    # weights: mean = (w0·ℓ0 + w1·ℓ1)/(w0 + w1)
    w = np.array([1.0, 3.0])
    assert R.cross_entropy(z, y, weight=w) == pytest.approx((math.log(2) + 3 * math.log(4)) / 4, rel=1e-15)
    # label smoothing ε = 0.5 on row 2: 0.5·ℓ_y + 0.25·(ℓ_0 + ℓ_1)
    loss = R.cross_entropy(z[1:], y[1:], label_smoothing=0.5, reduction="none")
    assert loss[0] == pytest.approx(0.5 * math.log(4) + 0.25 * (math.log(4 / 3) + math.log(4)), rel=1e-14)


def test_cross_entropy_ignore_and_all_ignored() -> None:
    z = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    assert R.cross_entropy(z, np.array([-100, 1])) == pytest.approx(math.log(3), rel=1e-15)
    # every target ignored: mean is 0 (torch gives NaN, pytorch issue #116349)
    assert R.cross_entropy(z, np.array([-100, -100])) == 0.0
    assert R.cross_entropy(z, np.array([-100, -100]), reduction="sum") == 0.0
    assert R.cross_entropy(z, np.array([5, 1]), ignore_index=5) == pytest.approx(math.log(3), rel=1e-15)
    assert R.cross_entropy(np.zeros((0, 3)), np.zeros((0,), dtype=np.int64)) == 0.0  # empty batch


def test_cross_entropy_soft_targets_equal_h_plus_kl() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(4, 5))
    t = ssp.softmax(rng.normal(size=(4, 5)), axis=-1)
    q = ssp.softmax(z, axis=-1)
    expected = sst.entropy(t, axis=-1) + ssp.rel_entr(t, q).sum(-1)
    np.testing.assert_allclose(R.cross_entropy(z, t, reduction="none"), expected, rtol=1e-13)
    assert R.cross_entropy(z, t) == pytest.approx(float(np.mean(expected)), rel=1e-13)


def test_cross_entropy_masked_logits() -> None:
    z = np.array([[0.0, -np.inf, 0.0]])
    assert R.cross_entropy(z, np.array([0])) == pytest.approx(math.log(2), rel=1e-15)
    assert np.isinf(R.cross_entropy(z, np.array([1])))  # the target's logit is -inf
    assert np.isinf(R.cross_entropy(z, np.array([0]), label_smoothing=0.1))  # smoothing puts mass on it
    # zero weight on the masked class: 0·∞ = 0 (torch gives NaN)
    loss = R.cross_entropy(z, np.array([0]), weight=np.array([1.0, 0.0, 1.0]), label_smoothing=0.1)
    # 0.9·w_0·ℓ_0 + (0.1/3)·(w_0 ℓ_0 + 0·∞ + w_2 ℓ_2), ℓ_0 = ℓ_2 = log 2, denominator w_0 = 1
    assert loss == pytest.approx((0.9 + 0.2 / 3) * math.log(2), rel=1e-14)
