"""The accelerated ``decoding`` functions against the reference on every backend and dtype, plus the
contract pieces the harness does not cover on its own: dtypes, autograd, batch independence,
zero-size batches and large vocabularies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from accelerated import decoding as A
from reference import decoding as R

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("temperature_scale", {"temperature": 0.5}),
    ("top_k_filter", {"k": 3}),
    ("top_k_filter", {"k": 3, "ties": "exact", "min_tokens_to_keep": 2}),
    ("top_p_filter", {"p": 0.7}),
    ("top_p_filter", {"p": 0.0, "min_tokens_to_keep": 2}),
    ("top_p_filter", {"p": 1.0}),
    ("min_p_filter", {"min_p": 0.1, "min_tokens_to_keep": 2}),
    ("typical_filter", {"mass": 0.6}),
    ("epsilon_filter", {"epsilon": 0.05, "min_tokens_to_keep": 2}),
    ("eta_filter", {"epsilon": 0.05}),
    ("top_h_filter", {"alpha": 0.4}),
    ("top_h_filter", {"alpha": 0.6, "criterion": "official", "top_n": 4, "temperature": 0.8}),
]

NP_DTYPES = [np.float64, np.float32, np.float16]
TORCH_DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


def dyadic_logits(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Small dyadic logits (exact in bfloat16) with ties and -inf holes."""
    rng = np.random.default_rng(seed)
    z = rng.integers(-16, 17, size=shape) / 4.0
    holes = rng.random(shape) < 0.2
    holes[..., 0] = False
    return np.where(holes, -np.inf, z)


def to_numpy(y: Any) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        return np.asarray(y.detach().to(torch.float64).numpy() if y.is_floating_point() else y.numpy())
    return np.asarray(y)


@pytest.mark.parametrize(("name", "params"), CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
@pytest.mark.parametrize("shape", [(5, 9), (2, 3, 6), (7,)])
def test_matches_reference_every_dtype(name: str, params: dict[str, Any], shape: tuple[int, ...]) -> None:
    z = dyadic_logits(len(shape) * 31 + shape[-1], shape)
    ref = getattr(R, name)(z, **params)
    fn = getattr(A, name)
    for dt in NP_DTYPES:
        y = fn(z.astype(dt), **params)
        assert y.dtype == dt
        np.testing.assert_allclose(to_numpy(y).astype(np.float64), ref, rtol=1e-3, atol=0, err_msg=str(dt))
    for tdt in TORCH_DTYPES:
        y = fn(torch.tensor(z, dtype=tdt), **params)
        assert y.dtype == tdt
        np.testing.assert_allclose(to_numpy(y), ref, rtol=1e-2, atol=0, err_msg=str(tdt))


@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 5),
       st.sampled_from([c for c in CALLS if c[0] != "temperature_scale"]))
def test_hypothesis_float64_agreement(seed: int, v: int, b: int, call: tuple[str, dict[str, Any]]) -> None:
    name, params = call
    z = dyadic_logits(seed, (b, v))
    ref = getattr(R, name)(z, **params)
    np.testing.assert_array_equal(getattr(A, name)(z, **params), ref)
    np.testing.assert_array_equal(to_numpy(getattr(A, name)(torch.tensor(z), **params)), ref)


@pytest.mark.parametrize(("name", "params"), CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
def test_zero_size_batch(name: str, params: dict[str, Any]) -> None:
    for z in (np.zeros((0, 5)), torch.zeros((2, 0, 5))):
        y = getattr(A, name)(z, **params)
        assert tuple(y.shape) == tuple(z.shape)
    assert A.sample(torch.zeros((0, 5)), torch.zeros((0,))).shape == (0,)


def test_temperature_autograd() -> None:
    z = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    (A.temperature_scale(z, 0.25) * torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)).sum().backward()
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.numpy(), [[4.0, 8.0, 12.0]])


@pytest.mark.parametrize(("name", "params"), [c for c in CALLS if c[0] != "temperature_scale"])
def test_filters_accept_tensors_that_require_grad(name: str, params: dict[str, Any]) -> None:
    z = torch.tensor(dyadic_logits(3, (3, 8)), requires_grad=True)
    y = getattr(A, name)(z, **params)
    np.testing.assert_array_equal(to_numpy(y), getattr(R, name)(z.detach().numpy(), **params))
    # the kept entries pass gradients straight through; removed entries get none
    y.masked_fill(~torch.isfinite(y), 0.0).sum().backward()
    assert z.grad is not None
    np.testing.assert_array_equal(z.grad.numpy(), np.isfinite(to_numpy(y)).astype(float))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_batch_independent(backend: str, dtype: str) -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, size=(64, 33)).astype(dtype)
    z[rng.random(z.shape) < 0.3] = -np.inf
    z[:, 5] = 0.0
    u = rng.random(64).astype(dtype)
    conv: Callable[[np.ndarray], Any] = (lambda a: a) if backend == "numpy" else torch.tensor
    full = to_numpy(A.sample(conv(z), conv(u)))
    for i in range(0, 64, 9):
        one = to_numpy(A.sample(conv(z[i:i + 1]), conv(u[i:i + 1])))
        assert one[0] == full[i]
    halves = np.concatenate([to_numpy(A.sample(conv(z[:31]), conv(u[:31]))),
                             to_numpy(A.sample(conv(z[31:]), conv(u[31:])))])
    np.testing.assert_array_equal(halves, full)
    assert full.dtype == np.int64
    assert np.all(np.isfinite(np.take_along_axis(z, full[:, None], axis=-1)))


def test_sample_dtype_and_shape() -> None:
    z = torch.zeros((2, 3, 4), dtype=torch.bfloat16)
    u = torch.full((2, 3), 0.6, dtype=torch.bfloat16)
    out = A.sample(z, u)
    assert out.dtype == torch.int64 and tuple(out.shape) == (2, 3)
    assert bool((out == 2).all())


def test_large_vocab_matches_reference() -> None:
    rng = np.random.default_rng(11)
    z = np.round(rng.normal(0, 2, size=(3, 5000)) * 8) / 8
    z[:, rng.integers(0, 5000, 300)] = -np.inf
    for name, params in CALLS:
        np.testing.assert_array_equal(getattr(A, name)(torch.tensor(z), **params).numpy(),
                                      getattr(R, name)(z, **params), err_msg=name)
    u = rng.random(3)
    np.testing.assert_array_equal(A.sample(torch.tensor(z), torch.tensor(u)).numpy(), R.sample(z, u))
