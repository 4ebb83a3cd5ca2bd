"""Accelerated ``policy`` layer: dtypes, stop-gradients, autograd vs finite differences of the reference,
mask forms, leading dimensions, and speed of the loop-free group reduction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R

MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def _inputs(seed: int = 0, shape: tuple[int, int] = (3, 5)) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    lp = -rng.random(shape) * 4
    return {
        "lp": lp,
        "old": lp - rng.choice([0.0, 0.1, -0.1, 0.4, -0.5], size=shape),
        "adv": rng.choice([0.0, 1.0, -1.0, 2.0, -0.5], size=shape),
        "m": rng.random(shape) < 0.75,
        "pri": rng.random(shape),
    }


def _all(module: Any, lp: Any, old: Any, adv: Any, m: Any, pri: Any, mode: str = "token-mean") -> dict[str, Any]:
    return {
        "aggregate": module.aggregate(adv, m, mode) if mode != "none" else None,
        "ppo_clip_loss": module.ppo_clip_loss(lp, old, adv, m, mode=mode, dual_clip=2.0),
        "clip_cov_loss": module.clip_cov_loss(lp, old, adv, m, pri, mode=mode, clip_ratio=0.3, cov_low=-0.5),
        "kl_cov_loss": module.kl_cov_loss(lp, old, adv, m, mode=mode, k_percent=40.0),
        "kl_penalty": module.kl_penalty(lp, old, "k3"),
    }


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_torch_dtypes_preserved(dtype: torch.dtype) -> None:
    c = _inputs()
    t = {k: torch.tensor(v).to(dtype) if v.dtype.kind == "f" else torch.tensor(v) for k, v in c.items()}
    for name, out in _all(A, t["lp"], t["old"], t["adv"], t["m"], t["pri"]).items():
        assert out.dtype == dtype, name
    assert A.group_advantages(torch.tensor([1.0, 2.0]).to(dtype), torch.tensor([0, 0])).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_numpy_dtypes_preserved(dtype: Any) -> None:
    c = _inputs()
    n = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in c.items()}
    for name, out in _all(A, n["lp"], n["old"], n["adv"], n["m"], n["pri"], mode="none").items():
        if out is not None:
            assert out.dtype == dtype, name
    assert A.group_advantages(np.array([1.0, 2.0], dtype=dtype), np.array([3, 3])).dtype == dtype


def test_stop_gradients() -> None:
    c = _inputs(1)
    lp = torch.tensor(c["lp"], requires_grad=True)
    old = torch.tensor(c["old"], requires_grad=True)
    adv = torch.tensor(c["adv"], requires_grad=True)
    pri = torch.tensor(c["pri"], requires_grad=True)
    m = torch.tensor(c["m"])
    total = (A.ppo_clip_loss(lp, old, adv, m) + A.kl_cov_loss(lp, old, adv, m, k_percent=50.0)
             + A.clip_cov_loss(lp, old, adv, m, pri, clip_ratio=0.5, cov_low=-1.0))
    total.backward()
    assert lp.grad is not None
    assert old.grad is None and adv.grad is None and pri.grad is None
    r = torch.tensor([1.0, 0.0, 1.0], requires_grad=True)
    assert not A.group_advantages(r, torch.tensor([0, 0, 0])).requires_grad
    # kl_penalty differentiates both arguments
    ref = torch.tensor(c["old"], requires_grad=True)
    A.kl_penalty(lp, ref, "k2").sum().backward()
    assert ref.grad is not None


def _fd_grad(fn: Any, x: np.ndarray[Any, Any], h: float = 1e-6) -> np.ndarray[Any, Any]:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (float(fn(x + e)) - float(fn(x - e))) / (2 * h)
    return g


@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_reference_finite_differences(mode: str) -> None:
    c = _inputs(2, (3, 6))
    # keep away from the clip kinks: ratios e^{±0.1}, e^{0.4}, e^{-0.5} are not at 1 ± 0.2
    cases: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
        "ppo": (lambda x: R.ppo_clip_loss(x, c["old"], c["adv"], c["m"], mode=mode),
                lambda x: A.ppo_clip_loss(x, torch.tensor(c["old"]), torch.tensor(c["adv"]), torch.tensor(c["m"]),
                                          mode=mode)),
        "kl_cov": (lambda x: R.kl_cov_loss(x, c["old"], c["adv"], c["m"], mode=mode, k_percent=40.0, coef=0.3),
                   lambda x: A.kl_cov_loss(x, torch.tensor(c["old"]), torch.tensor(c["adv"]), torch.tensor(c["m"]),
                                           mode=mode, k_percent=40.0, coef=0.3)),
        "clip_cov": (lambda x: R.clip_cov_loss(x, c["old"], c["adv"], c["m"], c["pri"], mode=mode, clip_ratio=0.3,
                                               cov_low=-0.5),
                     lambda x: A.clip_cov_loss(x, torch.tensor(c["old"]), torch.tensor(c["adv"]),
                                               torch.tensor(c["m"]), torch.tensor(c["pri"]), mode=mode,
                                               clip_ratio=0.3, cov_low=-0.5)),
        "aggregate": (lambda x: R.aggregate(x, c["m"], mode), lambda x: A.aggregate(x, torch.tensor(c["m"]), mode)),
    }
    for name, (ref_fn, acc_fn) in cases.items():
        x = torch.tensor(c["lp"], requires_grad=True)
        out: Any = acc_fn(x)
        out.backward()
        assert x.grad is not None
        fd = _fd_grad(ref_fn, c["lp"])
        np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-5, atol=1e-7, err_msg=name)
        assert np.all(x.grad.numpy()[~c["m"]] == 0.0), f"{name}: masked tokens must get no gradient"


def test_mask_forms_and_leading_dims() -> None:
    c = _inputs(4, (6, 5))
    t = {k: torch.tensor(v) for k, v in c.items()}
    base = A.ppo_clip_loss(t["lp"], t["old"], t["adv"], t["m"], mode="seq-mean-token-mean")
    for m in (t["m"].to(torch.int64), t["m"].to(torch.float32).to(torch.float64), t["m"].to(torch.uint8)):
        assert torch.equal(A.ppo_clip_loss(t["lp"], t["old"], t["adv"], m, mode="seq-mean-token-mean"), base)
    r3 = {k: v.reshape(2, 3, 5) for k, v in t.items()}
    for mode in MODES:
        flat = A.kl_cov_loss(t["lp"], t["old"], t["adv"], t["m"], mode=mode, k_percent=30.0)
        deep = A.kl_cov_loss(r3["lp"], r3["old"], r3["adv"], r3["m"], mode=mode, k_percent=30.0)
        torch.testing.assert_close(flat, deep, rtol=1e-14, atol=1e-14)
    one_row = A.aggregate(t["adv"][0], t["m"][0], "seq-mean-token-sum")  # (T,) is one row
    assert float(one_row) == pytest.approx(float((t["adv"][0] * t["m"][0]).sum()))


