"""Numerical stability of the ``categorical`` family (optax style): large magnitudes, ``-inf``
entries, low precision, denormals and extreme parameters. Nothing may return NaN."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import categorical as A
from reference import categorical as R

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


# --------------------------------------------------------------------------- large magnitudes


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


def test_cross_entropy_large_magnitudes() -> None:
    z = np.array([[1e4, 1e4 - 1.0, -1e4], [0.0, 1e4, 5e3]])
    y = np.array([1, 0])
    expected = [1.0 + math.log1p(math.exp(-1.0)), 1e4]
    for got in all_layers("cross_entropy", z, y, reduction="none"):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    got32 = all_layers("cross_entropy", z, y, reduction="none", dtype=torch.float32)[2]
    np.testing.assert_allclose(got32, expected, rtol=1e-6, atol=64 * F32_EPS * 1e4)


def test_kl_from_logits_large_magnitudes() -> None:
    a = np.array([[1e6, 0.0, -1e6]])
    b = np.array([[1e6 - 1.0, 1e6, 0.0]])
    # p = one-hot(0); q ∝ (e^{-1}, 1, ~0): KL = -log q_0 = 1 + log(1 + e^{-1})
    for got in all_layers("kl_divergence_from_logits", a, b):
        np.testing.assert_allclose(got, [1.0 + math.log1p(math.exp(-1.0))], rtol=1e-12)


# --------------------------------------------------------------------------- -inf entries


def test_neg_inf_entries_everywhere() -> None:
    z = np.array([[0.0, -np.inf, 0.0, -np.inf], [-np.inf, 3.0, -np.inf, -np.inf]])
    for got in all_layers("entropy_from_logits", z):
        np.testing.assert_allclose(got, [math.log(2), 0.0], atol=1e-15)
    for got in all_layers("top_p_renormalized_entropy", z, 1.0):
        np.testing.assert_allclose(got, [0.0, 0.0], atol=1e-10)  # p = 1: S = first of the two ties only
    for got in all_layers("cross_entropy", z, np.array([0, 1]), reduction="none"):
        np.testing.assert_allclose(got, [math.log(2), 0.0], atol=1e-15)
    for got in all_layers("kl_divergence_from_logits", z, np.zeros_like(z)):
        np.testing.assert_allclose(got, [math.log(2), math.log(4)], rtol=1e-14)


def test_neg_inf_gradients_are_finite() -> None:
    z = torch.tensor([[0.0, -math.inf, 1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    outs: list[Callable[[torch.Tensor], Any]] = [
        A.entropy_from_logits,
        lambda t: A.top_p_renormalized_entropy(t, 0.9),
        lambda t: A.cross_entropy(t, torch.tensor([2]), label_smoothing=0.0),
        lambda t: A.kl_divergence_from_logits(t, torch.zeros_like(t)),
    ]
    for fn in outs:
        z.grad = None
        fn(z).sum().backward()
        assert z.grad is not None and bool(torch.isfinite(z.grad).all())
        assert float(z.grad[0, 1]) == 0.0


# --------------------------------------------------------------------------- low precision


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_logits(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(5)
    z = torch.tensor(rng.normal(0.0, 4.0, size=(16, 257))).to(dtype)
    z64 = z.to(torch.float64).numpy()
    h = A.entropy_from_logits(z)
    assert h.dtype == dtype
    np.testing.assert_allclose(h.to(torch.float64).numpy(), R.entropy_from_logits(z64), rtol=1e-2, atol=1e-2)
    y = torch.tensor(rng.integers(0, 257, size=16))
    ce = A.cross_entropy(z, y, label_smoothing=0.1)
    assert float(ce) == pytest.approx(float(R.cross_entropy(z64, y.numpy(), label_smoothing=0.1)), rel=1e-2)
    tp = A.top_p_renormalized_entropy(z, 0.9, k=64)
    assert bool(torch.isfinite(tp).all())


def test_low_precision_probabilities_with_denormals() -> None:
    p = np.array([[1.0 - 2.0**-20, 2.0**-21, 2.0**-21, 0.0]])
    for dtype in (torch.float32, torch.float64):
        for name, args in (("renyi_entropy", (0.3,)), ("tsallis_entropy", (0.3,)), ("entropy", ())):
            outs = all_layers(name, p, *args, dtype=dtype)
            assert all(np.all(np.isfinite(o)) for o in outs)
            np.testing.assert_allclose(outs[2], outs[0], rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- extreme parameters


@pytest.mark.parametrize("t", [5e-324, 1e-300, 1e-40, 1e-3, 1e3, 1e40, 1e300])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_extreme_temperatures(t: float, dtype: torch.dtype) -> None:
    z = np.array([[0.0, 0.0, -1.0, -np.inf], [2.0, 1.0, 0.5, 0.25]])
    outs = all_layers("entropy_from_logits", z, temperature=t, dtype=dtype)
    ref = outs[0]
    assert all(np.all(np.isfinite(o)) for o in outs)
    if t < 1e-30:
        np.testing.assert_allclose(ref, [math.log(2), 0.0], atol=1e-15)
    if t > 1e30:
        np.testing.assert_allclose(ref, [math.log(3), math.log(4)], rtol=1e-12)
    np.testing.assert_allclose(outs[2], ref, rtol=2e-2, atol=2e-2)


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


def test_js_and_kl_denormals() -> None:
    p = np.array([[1.0 - 2.0**-60, 2.0**-60, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.5, 0.0, 0.5], [1.0 - 1e-300, 1e-300, 0.0]])
    for got in all_layers("js_divergence", p, q):
        assert np.all(np.isfinite(got)) and np.all(got >= 0) and np.all(got <= math.log(2) + 1e-15)
    for got in all_layers("kl_divergence", p, q):
        assert np.isinf(got[0]) and got[1] == pytest.approx(0.0, abs=1e-15)
