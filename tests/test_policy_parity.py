"""Parity of the ``policy`` family: accelerated (NumPy, Torch) vs the reference over Hypothesis cases,
and accelerated Torch vs independent transcriptions of the official verl / Entropy-Mechanism code
(defined in ``test_policy_reference``), including autograd gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_policy_reference import (
    _case,
    _priority_from_perm,
    fork_clip_cov,
    upstream_kl_cov,
    verl_grpo,
    verl_kl_penalty,
    verl_vanilla,
)

import spec
from accelerated import policy as A
from conformance.strategies import cases
from reference import policy as R

IDS = ("aggregate", "ppo_clip_loss", "kl_penalty", "group_advantages", "clip_cov_loss", "kl_cov_loss")
MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def _call(fn: Any, method_id: str, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
    s = spec.get(method_id)
    args = [inputs[i.name] for i in s.inputs if i.positional and not i.optional]
    args += [params.get(p.name, p.default) for p in s.params if p.positional]
    kwargs = {k: v for k, v in params.items() if not s.param(k).positional}
    return fn(*args, **kwargs)


def _convert(inputs: dict[str, Any], lib: str, dtype: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in inputs.items():
        a = np.asarray(v)
        if lib == "numpy":
            out[k] = a.astype(dtype) if a.dtype.kind == "f" else a
        else:
            t = torch.from_numpy(np.array(a, copy=True))
            out[k] = t.to(getattr(torch, dtype)) if a.dtype.kind == "f" else t
    return out


def _np(x: Any) -> np.ndarray[Any, Any]:
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().to(torch.float64).numpy())
    return np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("method_id", IDS)
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_float64_matches_reference(method_id: str, lib: str) -> None:
    s = spec.get(method_id)

    @settings(max_examples=15)
    @given(case=cases(s, "float64"))
    def run(case: Any) -> None:
        try:
            expect = _call(getattr(R, method_id), method_id, case.inputs, case.params)
        except spec.InputError:
            return
        got = _call(getattr(A, method_id), method_id, _convert(case.inputs, lib, "float64"), case.params)
        np.testing.assert_allclose(_np(got), expect, rtol=1e-9, atol=1e-10 * max(1.0, float(np.max(np.abs(expect),
                                                                                                initial=0.0))))

    run()


@pytest.mark.parametrize("method_id", ["ppo_clip_loss", "group_advantages", "kl_penalty", "aggregate"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_low_precision_within_budget(method_id: str, dtype: str) -> None:
    s = spec.get(method_id)
    budget = s.tolerance[dtype]

    @settings(max_examples=15)
    @given(case=cases(s, dtype))
    def run(case: Any) -> None:
        expect = _call(getattr(R, method_id), method_id, case.inputs, case.params)
        got = _call(getattr(A, method_id), method_id, _convert(case.inputs, "torch", dtype), case.params)
        assert str(got.dtype) == f"torch.{dtype}"
        scale = max(1.0, *(float(np.max(np.abs(v), initial=0.0)) for v in case.inputs.values()
                           if np.asarray(v).dtype.kind == "f"))
        assert np.all(np.abs(_np(got) - expect) <= budget.atol * scale * 4 + budget.rtol * 4 * np.abs(expect))

    run()


# --------------------------------------------------------------------------- vs official-code transcriptions


@pytest.mark.parametrize("mode", MODES)
def test_ppo_torch_matches_verl_with_gradients(mode: str) -> None:
    c = _case(31, b=6, t=9)
    lp1 = torch.tensor(c["lp"], requires_grad=True)
    lp2 = torch.tensor(c["lp"], requires_grad=True)
    old, adv, m = (torch.tensor(c[k]) for k in ("old", "adv", "mask"))
    ours = A.ppo_clip_loss(lp1, old, adv, m, clip_low=0.2, clip_high=0.28, dual_clip=3.0, mode=mode)
    theirs = verl_vanilla(old, lp2, adv, m.double(), 0.2, 0.28, 3.0, mode)
    div = c["lp"].shape[0] if mode == "seq-mean-token-sum-norm" else 1
    loss: Any = theirs / div
    loss.backward()
    ours.backward()
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()) / div, rel=1e-12)
    assert lp1.grad is not None and lp2.grad is not None
    torch.testing.assert_close(lp1.grad, lp2.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_clip_cov_torch_matches_official_with_gradients(seed: int) -> None:
    c = _case(200 + seed, b=6, t=8)
    c["adv"] = np.random.default_rng(seed).normal(size=c["lp"].shape) * 2.0
    gen = torch.Generator().manual_seed(seed)
    lp2 = torch.tensor(c["lp"], requires_grad=True)
    old, adv, m = (torch.tensor(c[k]) for k in ("old", "adv", "mask"))
    theirs, cand, perm = fork_clip_cov(old, lp2, adv, m.double(), lo=0.2, hi=0.2, mode="token-mean",
                                       clip_ratio=0.15, lb=0.1, ub=4.0, generator=gen)
    pri = torch.tensor(_priority_from_perm(cand, perm, c["lp"].shape))
    lp1 = torch.tensor(c["lp"], requires_grad=True)
    ours = A.clip_cov_loss(lp1, old, adv, m, pri, clip_ratio=0.15, cov_low=0.1, cov_high=4.0)
    ours.backward()
    theirs_any: Any = theirs
    theirs_any.backward()
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-12)
    assert lp1.grad is not None and lp2.grad is not None
    torch.testing.assert_close(lp1.grad, lp2.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k_percent", [0.2, 5.0, 30.0])
def test_kl_cov_torch_matches_upstream_with_gradients(k_percent: float) -> None:
    c = _case(41, b=8, t=10)
    c["adv"] = np.random.default_rng(42).normal(size=c["lp"].shape)
    old, adv, m = (torch.tensor(c[k]) for k in ("old", "adv", "mask"))
    lp1 = torch.tensor(c["lp"], requires_grad=True)
    lp2 = torch.tensor(c["lp"], requires_grad=True)
    ours = A.kl_cov_loss(lp1, old, adv, m, k_percent=k_percent, coef=0.5)
    theirs = upstream_kl_cov(old, lp2, adv, m.double(), mode="token-mean", kl_cov_ratio=k_percent / 100, coef=0.5)
    ours.backward()
    theirs_any: Any = theirs
    theirs_any.backward()
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-12)
    assert lp1.grad is not None and lp2.grad is not None
    torch.testing.assert_close(lp1.grad, lp2.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("norm", [True, False])
def test_group_advantages_torch_matches_verl(norm: bool) -> None:
    rng = np.random.default_rng(5)
    r = rng.choice([0.0, 1.0], size=64)
    g = np.repeat(np.arange(16), 4)[rng.permutation(64)]
    g[:3] = [100, 101, 102]  # singletons
    ours = A.group_advantages(torch.tensor(r), torch.tensor(g), scale="std" if norm else "none")
    theirs = verl_grpo(torch.tensor(r), g, 1e-6, norm)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)


@given(d=st.lists(st.floats(-40.0, 40.0), min_size=1, max_size=12))
@settings(max_examples=40)
def test_kl_penalty_torch_matches_verl(d: list[float]) -> None:
    lp = torch.tensor(d, dtype=torch.float64)
    ref = torch.zeros_like(lp)
    for ours, theirs in (("k1", "kl"), ("abs", "abs"), ("k2", "mse"), ("k3", "low_var_kl")):
        torch.testing.assert_close(A.kl_penalty(lp, ref, ours), verl_kl_penalty(lp, ref, theirs), rtol=1e-9,
                                   atol=1e-12)
