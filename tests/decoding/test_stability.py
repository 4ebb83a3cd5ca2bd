"""Numerical stability of the ``decoding`` family (optax style): huge and tiny magnitudes, ``-inf``
entries, underflowing probabilities, bfloat16/float16 inputs and extreme parameters. Nothing may
return NaN, lose a kept value, or keep an empty set."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import decoding as A
from reference import decoding as R

FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("top_k_filter", {"k": 3}),
    ("top_k_filter", {"k": 3, "ties": "exact"}),
    ("top_p_filter", {"p": 0.9}),
    ("top_p_filter", {"p": 1e-12}),
    ("top_p_filter", {"p": 1.0 - 1e-12}),
    ("min_p_filter", {"min_p": 1e-300}),
    ("min_p_filter", {"min_p": 0.999}),
    ("typical_filter", {"mass": 1e-9}),
    ("typical_filter", {"mass": 1.0 - 1e-12}),
    ("epsilon_filter", {"epsilon": 1e-300}),
    ("epsilon_filter", {"epsilon": 0.999}),
    ("eta_filter", {"epsilon": 1e-300}),
    ("eta_filter", {"epsilon": 0.999}),
    ("top_h_filter", {"alpha": 1e-9}),
    ("top_h_filter", {"alpha": 1.0}),
    ("top_h_filter", {"alpha": 0.5, "criterion": "official"}),
    ("top_h_filter", {"alpha": 0.5, "temperature": 1e-6}),
    ("top_h_filter", {"alpha": 0.5, "temperature": 1e6}),
]

EXTREME = [
    np.array([[1e4, -1e4, 0.0, 1e4 - 1.0, -np.inf]]),          # exp underflows for most entries
    np.array([[1e300, -1e300, 0.0, 5e299]]),                    # differences overflow the exponent range
    np.array([[-1e30, -1e30 + 1e15, -np.inf, -1e30]]),          # shift-invariant: large negative offset
    np.array([[0.0, -800.0, -760.0, -np.inf, -1.0]]),           # float64 probabilities underflow to 0
    np.array([[-np.inf, -np.inf, 3.0, -np.inf]]),               # one finite logit
    np.full((2, 5), 7.0),                                       # all tied
]


def check_filter_output(y: np.ndarray, z: np.ndarray) -> None:
    assert not np.any(np.isnan(y)), "NaN in a filter output"
    assert np.all((y == z) | np.isneginf(y)), "kept values must be returned unchanged"
    assert np.all(np.isfinite(y).sum(axis=-1) >= 1), "every row keeps at least one token"


@pytest.mark.parametrize(("name", "params"), FILTERS, ids=[f"{n}-{p}" for n, p in FILTERS])
@pytest.mark.parametrize("case", range(len(EXTREME)))
def test_extreme_logits(name: str, params: dict[str, Any], case: int) -> None:
    z = EXTREME[case]
    with np.errstate(all="raise", under="ignore"):
        ref = getattr(R, name)(z, **params)
        acc = getattr(A, name)(z, **params)
    check_filter_output(ref, z)
    check_filter_output(acc, z)
    np.testing.assert_array_equal(acc, ref)
    got = getattr(A, name)(torch.tensor(z), **params).numpy()
    np.testing.assert_array_equal(got, ref)
    if name not in ("typical_filter",):  # every other filter keeps the argmax
        assert np.all(np.isfinite(np.take_along_axis(ref, np.argmax(z, axis=-1)[:, None], axis=-1)))


def test_temperature_extremes() -> None:
    z = np.array([[1e300, -1e300, 0.0, -np.inf]])
    with np.errstate(over="ignore"):
        y = R.temperature_scale(z, 1e-300)
        assert np.isposinf(y[0, 0]) and np.isneginf(y[0, 1]) and y[0, 2] == 0.0  # documented IEEE overflow
        np.testing.assert_array_equal(A.temperature_scale(z, 1e-300), y)
    np.testing.assert_array_equal(R.temperature_scale(z, 1e300), [[1.0, -1.0, 0.0, -np.inf]])
    assert not np.any(np.isnan(y))


def test_sample_extremes() -> None:
    z = np.array([[0.0, -800.0, 0.0, -np.inf], [1e4, -1e4, -np.inf, 1e4], [-np.inf, -2000.0, -np.inf, -np.inf]])
    top = 1.0 - 2.0**-53
    for u, want in (([0.0, 0.0, 0.0], [0, 0, 1]), ([top, top, top], [2, 3, 1]), ([0.5, 0.5, 0.7], [2, 3, 1])):
        uu = np.array(u)
        np.testing.assert_array_equal(R.sample(z, uu), want)
        np.testing.assert_array_equal(A.sample(z, uu), want)
        np.testing.assert_array_equal(A.sample(torch.tensor(z), torch.tensor(uu)).numpy(), want)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_sample_low_precision_underflow(dtype: torch.dtype) -> None:
    # exp(-104) underflows in float32: u = 0 still returns the first finite position (exact-arithmetic
    # inverse CDF), and the largest uniform below 1 the last finite position
    z = torch.tensor([[0.0, 1.0, 104.0, -float("inf")]] * 2, dtype=dtype)
    top = 1.0 - 2.0 ** -(8 if dtype == torch.bfloat16 else 11 if dtype == torch.float16 else 24)
    u = torch.tensor([0.0, top], dtype=dtype)
    np.testing.assert_array_equal(A.sample(z, u).numpy(), [0, 2])
    np.testing.assert_array_equal(R.sample(z.double().numpy(), u.double().numpy()), [0, 2])


LOW: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("top_k_filter", A.top_k_filter, {"k": 4}),
    ("top_p_filter", A.top_p_filter, {"p": 0.8}),
    ("min_p_filter", A.min_p_filter, {"min_p": 0.05}),
    ("epsilon_filter", A.epsilon_filter, {"epsilon": 0.01}),
    ("eta_filter", A.eta_filter, {"epsilon": 0.01}),
    ("typical_filter", A.typical_filter, {"mass": 0.9}),
    ("top_h_filter", A.top_h_filter, {"alpha": 0.4}),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(("name", "fn", "params"), LOW, ids=[n for n, _, _ in LOW])
def test_half_precision_large_vocab(dtype: torch.dtype, name: str, fn: Callable[..., Any],
                                    params: dict[str, Any]) -> None:
    # bf16 logits of a large vocabulary: heavy ties; the kept set equals the float64 reference on
    # the same (rounded) values, except where a threshold lies within float32 round-off.
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(4, 4096, generator=g) * 3).to(dtype)
    z[:, ::7] = -float("inf")
    y = fn(z, **params)
    assert y.dtype == dtype and not torch.isnan(y).any()
    z64 = z.double().numpy()
    ref = getattr(R, name)(z64, **params)
    agree = np.mean(np.isfinite(y.double().numpy()) == np.isfinite(ref))
    assert agree > 0.999, f"{name}: kept sets agree on only {agree:.4%} of positions"
    yy = y.double().numpy()
    assert np.all((yy == z64) | np.isneginf(yy))


def test_temperature_half_precision_output_dtype() -> None:
    z = torch.tensor([[1.0, -3.5, -float("inf")]], dtype=torch.bfloat16)
    y = A.temperature_scale(z, 0.5)
    assert y.dtype == torch.bfloat16
    np.testing.assert_array_equal(y.double().numpy(), [[2.0, -7.0, -np.inf]])


def test_top_p_no_nan_at_zero() -> None:
    # transformers #19839: top_p = 0 once removed every token (then softmax gave NaN)
    z = np.random.default_rng(0).normal(size=(3, 50))
    for fn in (R.top_p_filter, A.top_p_filter):
        y = fn(z, 0.0)
        assert np.all(np.isfinite(y).sum(axis=-1) == 1)
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        assert not np.any(np.isnan(e / e.sum(axis=-1, keepdims=True)))


def test_eta_entropy_with_neg_inf() -> None:
    # -inf entries contribute 0 to the entropy (no 0 * -inf = NaN)
    z = np.array([[0.0, -np.inf, 0.0, -np.inf]])
    h = math.log(2.0)
    eps = 0.3
    eta = min(eps, math.sqrt(eps) * math.exp(-h))
    assert eta < 0.5
    np.testing.assert_array_equal(np.isfinite(R.eta_filter(z, eps)), [[True, False, True, False]])
    np.testing.assert_array_equal(np.isfinite(A.eta_filter(z, eps)), [[True, False, True, False]])


@pytest.mark.parametrize("t", [1e-50, 5e-324, 1e39])
def test_temperature_outside_float32_range_gives_no_nan(t: float) -> None:
    # t rounds to 0 (or inf) in float32: it is applied in float64, so 0 / t stays 0 and -inf stays -inf
    z = np.array([[0.0, 1.0, -1.0, -np.inf]], dtype=np.float32)
    with np.errstate(over="ignore"):
        for y in (A.temperature_scale(z, t), A.temperature_scale(torch.tensor(z), t).numpy()):
            assert not np.any(np.isnan(y))
            assert y[0, 0] == 0.0 and np.isneginf(y[0, 3])
        for crit in ("hf", "official"):
            y = A.top_h_filter(z, 1.0, temperature=t, criterion=crit)
            assert not np.any(np.isnan(y))
            np.testing.assert_array_equal(np.isfinite(y), np.isfinite(R.top_h_filter(z.astype(np.float64), 1.0,
                                                                                   temperature=t, criterion=crit)))

