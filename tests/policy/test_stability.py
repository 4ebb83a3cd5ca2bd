"""Numerical stability of the ``policy`` family (optax style): large log-ratios, ratios that overflow
float32, A = 0 with an overflowing ratio, empty masks and batches, bf16/fp16, extreme parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R

MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm", "none")
LOSSES = ("ppo", "clip_cov", "kl_cov")


def _loss(module: Any, name: str, lp: Any, old: Any, adv: Any, m: Any, mode: str, **kw: Any) -> Any:
    if name == "ppo":
        return module.ppo_clip_loss(lp, old, adv, m, mode=mode, **kw)
    if name == "kl_cov":
        return module.kl_cov_loss(lp, old, adv, m, mode=mode, k_percent=50.0)
    pri = torch.zeros_like(lp) if isinstance(lp, torch.Tensor) else np.zeros_like(lp)
    return module.clip_cov_loss(lp, old, adv, m, pri, mode=mode, clip_ratio=0.5, cov_low=-1e9, cov_high=1e9)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_overflowing_ratio_never_nan(name: str, mode: str, dtype: torch.dtype) -> None:
    """log-ratio 100 overflows exp in float32; with A = 0 or masked the loss stays finite and exact."""
    lp = torch.tensor([[0.0, 0.0, -1.0], [0.0, -2.0, -2.0]], dtype=dtype)
    old = torch.tensor([[-100.0, -100.0, -1.0], [-100.0, -2.0, -2.0]], dtype=dtype)
    adv = torch.tensor([[0.0, 1.0, 1.0], [0.0, -1.0, 0.5]], dtype=dtype)
    m = torch.tensor([[True, False, True], [True, True, True]])  # token (0,1) has A = 1, ρ = inf but masked
    out = _loss(A, name, lp, old, adv, m, mode)
    assert out.dtype == dtype
    assert not torch.isnan(out).any()
    ref = _loss(R, name, lp.double().numpy(), old.double().numpy(), adv.double().numpy(), m.numpy(), mode)
    np.testing.assert_allclose(out.double().numpy(), ref, rtol=2e-2, atol=2e-2)


def test_overflow_is_inf_not_nan_when_it_must_overflow() -> None:
    lp = torch.tensor([[0.0]])
    old = torch.tensor([[-100.0]])
    adv = torch.tensor([[-1.0]])
    m = torch.ones((1, 1), dtype=torch.bool)
    out = A.ppo_clip_loss(lp, old, adv, m)  # −A·ρ = e^100 > float32 max: +inf, like the true value's overflow
    assert torch.isinf(out) and out > 0
    dual = A.ppo_clip_loss(lp, old, adv, m, dual_clip=3.0)  # the dual clip bounds it: −A·c = 3
    assert float(dual) == pytest.approx(3.0)
    ref = R.ppo_clip_loss(lp.double().numpy(), old.double().numpy(), adv.double().numpy(), m.numpy())
    assert float(ref) == pytest.approx(np.exp(100.0))


@pytest.mark.parametrize("mode", MODES[:-1])
def test_empty_masks_and_batches(mode: str) -> None:
    for shape in ((3, 4), (0, 4), (2, 0), (0, 0)):
        x = torch.randn(shape, dtype=torch.float32, requires_grad=True)
        m = torch.zeros(shape, dtype=torch.bool)
        out = A.aggregate(x, m, mode)
        assert float(out.detach()) == 0.0 and float(R.aggregate(x.detach().numpy(), m.numpy(), mode)) == 0.0
        out.backward()
        assert x.grad is not None and torch.all(x.grad == 0)
        for name in LOSSES:
            lp = torch.zeros(shape, requires_grad=True)
            assert float(_loss(A, name, lp, torch.zeros(shape), torch.ones(shape), m, mode).detach()) == 0.0


def test_large_magnitude_values_and_long_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4096)) * 1e4
    m = rng.random((8, 4096)) < 0.7
    for mode in MODES[:-1]:
        ref = float(R.aggregate(x, m, mode))
        got = float(A.aggregate(torch.tensor(x, dtype=torch.float32), torch.tensor(m), mode))
        assert got == pytest.approx(ref, rel=1e-4, abs=1e-2)


@pytest.mark.parametrize("d", [-1e6, -800.0, -30.0, -20.0, -2.6, 0.0, 1e-30, 11.5, 20.0, 1e6])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_k3_clamps_at_extremes(d: float, dtype: torch.dtype) -> None:
    lp = torch.tensor([d], dtype=dtype, requires_grad=True)
    ref = torch.zeros(1, dtype=dtype)
    out = A.kl_penalty(lp, ref, "k3")
    assert torch.isfinite(out).all() and 0.0 <= float(out.detach()) <= 10.0
    out.sum().backward()
    assert lp.grad is not None and torch.isfinite(lp.grad).all()
    if abs(d) >= 20:  # the clamp is active: zero gradient (documented)
        assert float(lp.grad) == 0.0
    for kind in ("k1", "abs", "k2"):
        assert torch.isfinite(A.kl_penalty(lp.detach(), ref, kind)).all() or abs(d) > 1e4


@pytest.mark.parametrize("mode", MODES)
def test_extreme_parameters(mode: str) -> None:
    rng = np.random.default_rng(2)
    lp = -rng.random((4, 6)) * 5
    old = lp + rng.normal(size=(4, 6)) * 0.5
    adv = rng.normal(size=(4, 6))
    m = rng.random((4, 6)) < 0.8
    pri = rng.random((4, 6))
    t = {k: torch.tensor(v) for k, v in (("lp", lp), ("old", old), ("adv", adv), ("m", m), ("pri", pri))}
    for kw in ({"clip_low": 0.0, "clip_high": 0.0}, {"clip_low": 1.0, "clip_high": 10.0},
               {"dual_clip": 1.0000001}, {"dual_clip": 10.0}):
        ref = R.ppo_clip_loss(lp, old, adv, m, mode=mode, **kw)
        np.testing.assert_allclose(A.ppo_clip_loss(t["lp"], t["old"], t["adv"], t["m"], mode=mode, **kw).numpy(), ref,
                                   rtol=1e-12, atol=1e-12)
    for kw2 in ({"clip_ratio": 1.0, "cov_low": -1e300, "cov_high": 1e300}, {"clip_ratio": 0.0},
                {"cov_low": 5.0, "cov_high": 1.0}):
        ref = R.clip_cov_loss(lp, old, adv, m, pri, mode=mode, **kw2)
        got = A.clip_cov_loss(t["lp"], t["old"], t["adv"], t["m"], t["pri"], mode=mode, **kw2)
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    for k in (0.0, 1e-12, 100.0):
        ref = R.kl_cov_loss(lp, old, adv, m, mode=mode, k_percent=k, coef=100.0)
        np.testing.assert_allclose(A.kl_cov_loss(t["lp"], t["old"], t["adv"], t["m"], mode=mode, k_percent=k,
                                                 coef=100.0).numpy(), ref, rtol=1e-12, atol=1e-12)

