"""``ppo`` group (aggregate, ppo_clip_loss, kl_penalty): closed forms, mpmath, and the official code (verl),
with gradients."""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
import policy_peers  # tests/policy/policy_peers.py, on sys.path via tests/conftest.py
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from accelerated import policy as A
from reference import policy as R

_P = policy_peers
_case = _P._case
_t = _P._t
verl_agg_loss = _P.verl_agg_loss
verl_vanilla = _P.verl_vanilla
verl_kl_penalty = _P.verl_kl_penalty
MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def test_aggregate_hand_computed() -> None:
    x = np.array([[1.0, 2.0, 3.0, 100.0], [4.0, 100.0, 100.0, 100.0], [100.0, 100.0, 100.0, 100.0]])
    m = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    assert R.aggregate(x, m, "token-mean") == pytest.approx(10.0 / 4)
    assert R.aggregate(x, m, "seq-mean-token-mean") == pytest.approx((2.0 + 4.0) / 2)  # empty row excluded
    assert R.aggregate(x, m, "seq-mean-token-sum") == pytest.approx((6.0 + 4.0 + 0.0) / 3)
    assert R.aggregate(x, m, "seq-mean-token-sum-norm") == pytest.approx(10.0 / (3 * 4))
    assert R.aggregate(x, m, "seq-mean-token-sum-norm", max_length=10) == pytest.approx(10.0 / 30)
    for mode in MODES:
        assert float(R.aggregate(x, np.zeros_like(m), mode)) == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_aggregate_matches_verl_agg_loss(mode: str) -> None:
    c = _case(3)
    x = np.random.default_rng(4).normal(size=c["mask"].shape)
    ours = float(R.aggregate(x, c["mask"], mode))
    theirs = float(verl_agg_loss(_t(x), _t(c["mask"]), mode))
    if mode == "seq-mean-token-sum-norm":
        theirs /= x.shape[0]  # verl divides by T only: verl = B × ours (documented)
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12)


def test_aggregate_sum_norm_matches_trl_dr_grpo() -> None:
    c = _case(5)
    x = np.random.default_rng(6).normal(size=c["mask"].shape)
    max_completion_length = 16
    trl = float((_t(x) * _t(c["mask"])).sum() / (x.shape[0] * max_completion_length))
    assert float(R.aggregate(x, c["mask"], "seq-mean-token-sum-norm", max_length=16)) == pytest.approx(trl, rel=1e-12)


def test_aggregate_trl_grpo_differs_only_on_empty_rows() -> None:
    x = np.array([[1.0, 3.0], [5.0, 7.0]])
    m = np.array([[True, True], [False, False]])
    trl = float(((_t(x) * _t(m)).sum(-1) / _t(m).sum(-1).clamp(min=1.0)).mean())  # TRL loss_type="grpo"
    assert trl == pytest.approx(1.0)  # the empty row counts as 0
    assert float(R.aggregate(x, m, "seq-mean-token-mean")) == pytest.approx(2.0)  # ours excludes it


# --------------------------------------------------------------------------- ppo_clip_loss


def test_ppo_closed_form_tokens() -> None:
    lp = np.array([[0.5, -0.5, 0.1, -1.0, 0.5]])
    old = np.zeros((1, 5))
    adv = np.array([[1.0, 1.0, -2.0, -2.0, -1.0]])
    m = np.ones((1, 5), dtype=bool)
    tok = R.ppo_clip_loss(lp, old, adv, m, mode="none")
    e = float(mpmath.e)
    expect = [
        -1.2,  # A > 0, ρ = e^0.5 > 1.2: clipped at 1 + ε
        -math.exp(-0.5),  # A > 0, ρ < 1 − ε: max(−ρ, −0.8) = −ρ (pessimistic, unclipped)
        2.0 * float(mpmath.exp(0.1)),  # A < 0 inside the range
        2.0 * 0.8,  # A < 0, ρ = e^-1 < 0.8: max(2ρ, 1.6) = 1.6
        float(mpmath.sqrt(e)),  # A < 0, ρ large: unclipped (no dual clip)
    ]
    np.testing.assert_allclose(tok[0], expect, rtol=1e-14)
    dual = R.ppo_clip_loss(lp, old, adv, m, mode="none", dual_clip=1.5)
    assert dual[0, 4] == pytest.approx(1.5)  # min(e^0.5, 1·1.5)
    higher = R.ppo_clip_loss(lp, old, adv, m, mode="none", clip_high=0.28)
    assert higher[0, 0] == pytest.approx(-1.28)  # DAPO clip-higher


@pytest.mark.parametrize("mode", MODES)
def test_ppo_matches_verl_vanilla(mode: str) -> None:
    c = _case(11)
    ours = float(R.ppo_clip_loss(c["lp"], c["old"], c["adv"], c["mask"], clip_low=0.2, clip_high=0.28,
                                 dual_clip=3.0, mode=mode))
    theirs = float(verl_vanilla(_t(c["old"]), _t(c["lp"]), _t(c["adv"]), _t(c["mask"]), 0.2, 0.28, 3.0, mode))
    if mode == "seq-mean-token-sum-norm":
        theirs /= c["lp"].shape[0]
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-13)


# --------------------------------------------------------------------------- kl_penalty


@pytest.mark.parametrize("d", [-30.0, -5.0, -2.0, -1e-6, 0.0, 1e-8, 0.3, 4.0, 10.0, 12.0, 50.0])
def test_k3_mpmath(d: float) -> None:
    lp = np.array([d])
    ref = np.array([0.0])
    with mpmath.workdps(60):
        exact = mpmath.exp(-mpmath.mpf(d)) + mpmath.mpf(d) - 1
    expect = min(float(exact), 10.0)  # verl's clamp; exp(k) − k − 1 ≥ 0, so only the upper clamp acts
    got = float(R.kl_penalty(lp, ref, "k3")[0])
    assert got == pytest.approx(expect, rel=1e-13, abs=1e-20)  # expm1(k) − k: absolute error ~ ulp(d)


def test_kl_penalty_closed_forms_and_verl() -> None:
    rng = np.random.default_rng(7)
    lp = -rng.random((3, 5)) * 6
    ref = -rng.random((3, 5)) * 6
    d = lp - ref
    np.testing.assert_array_equal(R.kl_penalty(lp, ref, "k1"), d)
    np.testing.assert_array_equal(R.kl_penalty(lp, ref, "abs"), np.abs(d))
    np.testing.assert_allclose(R.kl_penalty(lp, ref, "k2"), d**2 / 2, rtol=1e-15)
    for ours, theirs in (("k1", "kl"), ("abs", "abs"), ("k2", "mse"), ("k3", "low_var_kl")):
        np.testing.assert_allclose(R.kl_penalty(lp, ref, ours), verl_kl_penalty(_t(lp), _t(ref), theirs).numpy(),
                                   rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- group_advantages




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




@given(d=st.lists(st.floats(-40.0, 40.0), min_size=1, max_size=12))
@settings(max_examples=40)
def test_kl_penalty_torch_matches_verl(d: list[float]) -> None:
    lp = torch.tensor(d, dtype=torch.float64)
    ref = torch.zeros_like(lp)
    for ours, theirs in (("k1", "kl"), ("abs", "abs"), ("k2", "mse"), ("k3", "low_var_kl")):
        torch.testing.assert_close(A.kl_penalty(lp, ref, ours), verl_kl_penalty(lp, ref, theirs), rtol=1e-9,
                                   atol=1e-12)
