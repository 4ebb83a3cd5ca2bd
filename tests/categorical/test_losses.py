"""Tests of the ``categorical`` losses (cross_entropy): hand values, torch.nn.functional.cross_entropy
parity (classes moved to the last axis), documented differences from torch and stability.
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
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from accelerated import categorical as A
from reference import categorical as R

mp.mp.dps = 50


def torch_ce(z: np.ndarray, y: np.ndarray, **kw: Any) -> np.ndarray:
    zt = torch.tensor(z).movedim(-1, 1) if z.ndim > 2 else torch.tensor(z)
    yt = torch.tensor(y)
    if y.dtype.kind == "f" and y.ndim > 2:
        yt = yt.movedim(-1, 1)
    w = kw.pop("weight", None)
    out = F.cross_entropy(zt, yt, weight=None if w is None else torch.tensor(w), **kw)
    return np.asarray(out.numpy())


def ours_ce(z: np.ndarray, y: np.ndarray, **kw: Any) -> list[np.ndarray]:
    w = kw.get("weight")
    acc_kw = dict(kw, weight=None if w is None else torch.tensor(w))
    a64 = A.cross_entropy(torch.tensor(z), torch.tensor(y), **acc_kw).numpy()
    return [np.asarray(R.cross_entropy(z, y, **kw)), np.asarray(a64), np.asarray(A.cross_entropy(z, y, **kw))]


def make_case(seed: int, shape: tuple[int, ...], v: int, *, ignore: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(*shape, v))
    y = rng.integers(0, v, size=shape)
    if ignore:
        y[rng.random(shape) < 0.3] = -100
    return z, y


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


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7,), (3, 5)])
def test_cross_entropy_matches_torch_class_targets(reduction: str, smoothing: float, weighted: bool,
                                                   shape: tuple[int, ...]) -> None:
    v = 6
    z, y = make_case(11, shape, v, ignore=True)
    w = np.random.default_rng(5).uniform(0.1, 3.0, size=v) if weighted else None
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing, "weight": w}
    expected = torch_ce(z, y, **dict(kw))
    for got in ours_ce(z, y, **kw):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch_probability_targets(reduction: str, smoothing: float, weighted: bool) -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2, 3, 5))
    t = ssp.softmax(rng.normal(size=(2, 3, 5)), axis=-1)
    w = rng.uniform(0.5, 2.0, size=5) if weighted else None
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing, "weight": w}
    expected = torch_ce(z, t, **dict(kw))
    for got in ours_ce(z, t, **kw):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_cross_entropy_weight_smoothing_mean_definition() -> None:
    """torch's documented semantics (aten LossNLL.cpp): with weights, label smoothing and ``mean``,
    BOTH the NLL term and the smoothing term are divided by Σ_n w_{y_n} over non-ignored rows."""
    z, y = make_case(4, (9,), 5, ignore=True)
    w = np.array([0.5, 2.0, 1.0, 3.0, 0.25])
    eps = 0.2
    logp = torch.log_softmax(torch.tensor(z), -1).numpy()
    keep = y != -100
    yy = np.where(keep, y, 0)
    nll = -logp[np.arange(9), yy] * w[yy]
    smooth = -(logp * w).sum(-1)
    num = np.sum(np.where(keep, (1 - eps) * nll + eps / 5 * smooth, 0.0))
    expected = num / np.sum(np.where(keep, w[yy], 0.0))
    torch_value = torch_ce(z, y, weight=w, label_smoothing=eps)
    assert float(torch_value) == pytest.approx(expected, rel=1e-12)
    for got in ours_ce(z, y, weight=w, label_smoothing=eps):
        assert float(got) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_ignore_index_inside_range() -> None:
    z, y = make_case(8, (10,), 4, ignore=False)
    expected = torch_ce(z, y, ignore_index=2, label_smoothing=0.1)
    for got in ours_ce(z, y, ignore_index=2, label_smoothing=0.1):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_cross_entropy_all_ignored_documented_difference() -> None:
    """torch returns NaN for an all-ignored ``mean`` (pytorch issue #116349); we return 0."""
    z = np.random.default_rng(0).normal(size=(3, 4))
    y = np.full(3, -100)
    assert math.isnan(float(torch_ce(z, y)))
    for got in ours_ce(z, y):
        assert float(got) == 0.0
    for red in ("sum", "none"):  # these agree with torch
        for got in ours_ce(z, y, reduction=red):
            np.testing.assert_array_equal(got, torch_ce(z, y, reduction=red))


def test_cross_entropy_masked_logit_zero_weight_documented_difference() -> None:
    """A -inf logit with zero weight: torch gives NaN (0·∞), we give the 0·log 0 = 0 limit."""
    z = np.array([[0.0, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    y = np.array([0, 1])
    w = np.array([1.0, 0.0, 1.0])
    torch_none = torch_ce(z, y, weight=w, label_smoothing=0.1, reduction="none")
    assert math.isnan(torch_none[0])
    logp = torch.log_softmax(torch.tensor(z), -1).numpy()
    row0 = 0.9 * -logp[0, 0] + 0.1 / 3 * -(logp[0, 0] + logp[0, 2])
    for got in ours_ce(z, y, weight=w, label_smoothing=0.1, reduction="none"):
        assert got[0] == pytest.approx(row0, rel=1e-12)
        assert np.isinf(got[1])  # row 1: smoothing puts positive weight on its -inf logit (as torch: inf)
    assert np.isinf(torch_none[1])


@given(seed=st.integers(0, 2**16), v=st.integers(1, 7), n=st.integers(0, 6),
       eps=st.sampled_from([0.0, 0.1, 0.5]), reduction=st.sampled_from(["none", "mean", "sum"]))
def test_cross_entropy_hypothesis_parity(seed: int, v: int, n: int, eps: float, reduction: str) -> None:
    z, y = make_case(seed, (n,), v, ignore=True)
    expected = torch_ce(z, y, label_smoothing=eps, reduction=reduction)
    for got in ours_ce(z, y, label_smoothing=eps, reduction=reduction):
        if reduction == "mean" and bool(np.all(y == -100)):
            assert float(got) == 0.0  # torch: NaN (documented difference)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def test_cross_entropy_large_magnitudes() -> None:
    z = np.array([[1e4, 1e4 - 1.0, -1e4], [0.0, 1e4, 5e3]])
    y = np.array([1, 0])
    expected = [1.0 + math.log1p(math.exp(-1.0)), 1e4]
    for got in all_layers("cross_entropy", z, y, reduction="none"):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    got32 = all_layers("cross_entropy", z, y, reduction="none", dtype=torch.float32)[2]
    np.testing.assert_allclose(got32, expected, rtol=1e-6, atol=64 * F32_EPS * 1e4)


def test_cross_entropy_full_smoothing_and_zero_weights() -> None:
    z = np.array([[0.0, -np.inf, 1.0], [0.5, 0.5, 0.5]])
    y = np.array([1, 0])
    # ε = 1: the target term vanishes (0·∞ = 0), only the uniform part remains — and it is +inf on row 0
    for got in all_layers("cross_entropy", z, y, label_smoothing=1.0, reduction="none"):
        assert np.isinf(got[0]) and got[1] == pytest.approx(math.log(3), rel=1e-14)
    w = np.array([1.0, 0.0, 1.0])
    for got in all_layers("cross_entropy", z, y, weight=w, label_smoothing=1.0, reduction="none"):
        assert np.all(np.isfinite(got))
    # all target weights zero: mean over a zero denominator is 0, not NaN
    for got in all_layers("cross_entropy", z, np.array([1, 1]), weight=w):
        assert float(got) == 0.0


def test_mean_over_zero_target_weight_is_zero_even_when_the_smoothing_term_is_infinite() -> None:
    # targets of weight 0 (ℓ_y = inf at a -inf logit), smoothing adds w_0·ℓ_0 = inf: sum is inf, but the
    # mean divides by Σ w_y = 0 and is 0 by the library contract (it once gave inf·0 = NaN on NumPy)
    z = np.array([[-np.inf, -np.inf, 0.0], [1.0, -np.inf, 0.0]])
    t = np.array([1, 1])
    w = np.array([0.5, 0.0, 0.75])
    for fn, conv in ((R.cross_entropy, np.asarray), (A.cross_entropy, np.asarray), (A.cross_entropy, torch.tensor)):
        mean = fn(conv(z), conv(t), weight=conv(w), label_smoothing=0.45, reduction="mean")
        total = fn(conv(z), conv(t), weight=conv(w), label_smoothing=0.45, reduction="sum")
        assert float(mean) == 0.0 and float(total) == math.inf
