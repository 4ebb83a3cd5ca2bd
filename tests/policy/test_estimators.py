"""``estimators`` group (rloo_advantages, opo_advantages, grpo_passk_advantages): hand-computed values,
identities between the estimators, extremes, and the loop-free accelerated reductions at scale.
Parity with verl is in test_estimators_parity.py."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R


def _both(name: str, *args: Any, **kw: Any) -> list[np.ndarray[Any, Any]]:
    ref = getattr(R, name)(*args, **kw)
    acc = getattr(A, name)(*(torch.tensor(a) for a in args), **kw).numpy()
    return [ref, acc]


def test_rloo_hand_computed() -> None:
    r = np.array([3.0, 1.0, 2.0, 10.0, 0.5, 0.5])
    g = np.array([4, 4, 4, -9, 2**40, 2**40])
    for a in _both("rloo_advantages", r, g):
        # 3 − (1+2)/2 = 1.5, 1 − (3+2)/2 = −1.5, 2 − (3+1)/2 = 0; 10 alone; constant pair 0
        np.testing.assert_allclose(a, [1.5, -1.5, 0.0, 10.0, 0.0, 0.0], rtol=1e-15, atol=1e-15)
    for a in _both("rloo_advantages", r, g, singleton="zero"):
        assert a[3] == 0.0


def test_rloo_is_k_over_k_minus_1_times_dr_grpo() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(size=60)
    g = rng.integers(0, 12, size=60)
    sizes = np.array([np.sum(g == x) for x in g], dtype=np.float64)
    centred = R.group_advantages(r, g, scale="none")
    multi = sizes > 1
    np.testing.assert_allclose(R.rloo_advantages(r, g)[multi], (sizes / (sizes - 1) * centred)[multi], rtol=1e-12,
                               atol=1e-14)


def test_opo_hand_computed() -> None:
    r = np.array([1.0, 0.0, 0.0, 2.0, 4.0])
    m = np.arange(4) < np.array([[4], [1], [2], [0], [3]])
    g = np.array([0, 0, 0, 1, 1])
    # group 0: lengths (4, 1, 2), b = 4/7; group 1: lengths (0, 3), b = 4
    for a in _both("opo_advantages", r, m, g):
        np.testing.assert_allclose(a, [3 / 7, -4 / 7, -4 / 7, -2.0, 0.0], rtol=1e-15, atol=1e-15)


def test_opo_numeric_mask_forms_agree() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(size=20)
    m = rng.random((20, 7)) < 0.6
    g = rng.integers(0, 5, size=20)
    base = A.opo_advantages(torch.tensor(r), torch.tensor(m), torch.tensor(g))
    for form in (torch.int64, torch.float32, torch.uint8):
        assert torch.equal(A.opo_advantages(torch.tensor(r), torch.tensor(m).to(form), torch.tensor(g)), base)


def test_passk_hand_computed() -> None:
    r = np.array([0.2, 0.9, 0.4, 0.9, 0.0, 1.0, 1.0])
    g = np.array([1, 1, 1, 1, 6, 6, 6])
    for a in _both("grpo_passk_advantages", r, g):
        np.testing.assert_array_equal(a, np.zeros(7))  # both groups have a tie at the top
    r2 = np.array([0.0, 1.0, 0.0, 0.0])
    for a in _both("grpo_passk_advantages", r2, np.zeros(4, dtype=np.int64), scale="std", eps=0.0):
        np.testing.assert_allclose(a, [0.0, 2.0, 0.0, 0.0], rtol=1e-15)  # 1/std, std = sqrt(1/4) = 1/2


def test_dtypes_and_stop_gradient() -> None:
    r = torch.tensor([1.0, 0.0, 0.5, 0.25], requires_grad=True)
    g = torch.tensor([0, 0, 1, 1])
    m = torch.ones((4, 3), dtype=torch.bool)
    for dtype in (torch.float64, torch.float32, torch.bfloat16, torch.float16):
        x = r.detach().to(dtype).requires_grad_(True)
        outs = [A.rloo_advantages(x, g), A.opo_advantages(x, m, g), A.grpo_passk_advantages(x, g)]
        for out in outs:
            assert out.dtype == dtype and not out.requires_grad
    for dtype in (np.float64, np.float32, np.float16):
        assert A.rloo_advantages(np.array([1.0, 2.0], dtype=dtype), np.array([1, 1])).dtype == dtype


def test_empty_and_extremes() -> None:
    for name in ("rloo_advantages", "grpo_passk_advantages"):
        assert getattr(A, name)(torch.zeros(0), torch.zeros(0, dtype=torch.int64)).shape == (0,)
    assert A.opo_advantages(torch.zeros(0), torch.zeros((0, 3), dtype=torch.bool),
                            torch.zeros(0, dtype=torch.int64)).shape == (0,)
    r = np.array([1e12, 1e12 + 2**20, 3e-300, 3e-300, -5.0])
    g = np.array([-(2**62), -(2**62), 2**62, 2**62, 0])
    for name in ("rloo_advantages", "grpo_passk_advantages"):
        ref = getattr(R, name)(r, g)
        got = getattr(A, name)(torch.tensor(r), torch.tensor(g))
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-12)
    bf = A.rloo_advantages(torch.tensor([0.1, 0.1, 0.1], dtype=torch.bfloat16), torch.tensor([5, 5, 5]))
    assert torch.all(bf == 0)


@pytest.mark.parametrize("name", ["rloo_advantages", "opo_advantages", "grpo_passk_advantages"])
def test_at_scale_shuffled_groups(name: str) -> None:
    """65 536 responses in 4 096 shuffled groups of 16 (float32): the segment reductions agree with the
    float64 reference. Loop-freeness is proven by tests/test_compile.py (one graph, no data-dependent loop)."""
    rng = np.random.default_rng(11)
    n, size = 65_536, 16
    r = rng.choice([0.0, 1.0], size=n) + np.round(rng.normal(size=n), 2)
    r = r.astype(np.float32).astype(np.float64)
    g = rng.permutation(np.repeat(np.arange(n // size), size))
    args: list[Any] = [r, g]
    if name == "opo_advantages":
        m = np.arange(32) < rng.integers(0, 33, size=n)[:, None]
        args = [r, m, g]
    ref = getattr(R, name)(*args)
    got = getattr(A, name)(*(torch.tensor(a, dtype=torch.float32) if a.dtype == np.float64 else torch.tensor(a)
                             for a in args))
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-5, atol=1e-5 * max(1.0, math.sqrt(size)))
