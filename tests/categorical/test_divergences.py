"""Tests of the ``categorical`` divergences (kl_divergence, kl_divergence_from_logits, js_divergence):
scipy ``rel_entr``/``jensenshannon``, torch ``kl_div``, mpmath closed forms and stability.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import scipy.special as ssp
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from accelerated import categorical as A
from reference import categorical as R

mp.mp.dps = 50


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


def test_kl_matches_torch_kl_div_and_rel_entr() -> None:
    rng = np.random.default_rng(7)
    p = ssp.softmax(rng.normal(size=(5, 6)), axis=-1)
    q = ssp.softmax(rng.normal(size=(5, 6)), axis=-1)
    expected = F.kl_div(torch.tensor(q).log(), torch.tensor(p), reduction="none").sum(-1).numpy()
    np.testing.assert_allclose(R.kl_divergence(p, q), expected, rtol=1e-12)
    np.testing.assert_allclose(A.kl_divergence(torch.tensor(p), torch.tensor(q)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(R.kl_divergence(p, q), ssp.rel_entr(p, q).sum(-1), rtol=1e-13)


def test_kl_from_logits_matches_torch_log_target() -> None:
    rng = np.random.default_rng(9)
    a = rng.normal(0.0, 3.0, size=(3, 4, 8))
    b = rng.normal(0.0, 3.0, size=(3, 4, 8))
    la, lb = torch.log_softmax(torch.tensor(a), -1), torch.log_softmax(torch.tensor(b), -1)
    expected = F.kl_div(lb, la, log_target=True, reduction="none").sum(-1).numpy()
    np.testing.assert_allclose(R.kl_divergence_from_logits(a, b), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(A.kl_divergence_from_logits(torch.tensor(a), torch.tensor(b)).numpy(), expected,
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("base", [None, 2.0, 10.0])
def test_js_matches_scipy_jensenshannon_squared(base: float | None) -> None:
    rng = np.random.default_rng(4)
    p = ssp.softmax(rng.normal(size=(6, 5)), axis=-1)
    q = ssp.softmax(rng.normal(size=(6, 5)), axis=-1)
    p[0] = [1, 0, 0, 0, 0]
    q[0] = [0, 0.5, 0.5, 0, 0]
    expected = jensenshannon(p, q, axis=-1, base=base) ** 2
    np.testing.assert_allclose(R.js_divergence(p, q, base=base), expected, rtol=1e-12)
    np.testing.assert_allclose(A.js_divergence(torch.tensor(p), torch.tensor(q), base=base).numpy(), expected,
                               rtol=1e-12)


def test_kl_from_logits_large_magnitudes() -> None:
    a = np.array([[1e6, 0.0, -1e6]])
    b = np.array([[1e6 - 1.0, 1e6, 0.0]])
    # p = one-hot(0); q ∝ (e^{-1}, 1, ~0): KL = -log q_0 = 1 + log(1 + e^{-1})
    for got in all_layers("kl_divergence_from_logits", a, b):
        np.testing.assert_allclose(got, [1.0 + math.log1p(math.exp(-1.0))], rtol=1e-12)


def test_js_and_kl_denormals() -> None:
    p = np.array([[1.0 - 2.0**-60, 2.0**-60, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.5, 0.0, 0.5], [1.0 - 1e-300, 1e-300, 0.0]])
    for got in all_layers("js_divergence", p, q):
        assert np.all(np.isfinite(got)) and np.all(got >= 0) and np.all(got <= math.log(2) + 1e-15)
    for got in all_layers("kl_divergence", p, q):
        assert np.isinf(got[0]) and got[1] == pytest.approx(0.0, abs=1e-15)
