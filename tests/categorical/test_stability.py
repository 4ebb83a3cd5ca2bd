"""Numerical stability across the ``categorical`` groups (optax style): ``-inf`` entries and low precision
in every layer. Nothing may return NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import categorical as A
from reference import categorical as R


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
