"""Golden values for the ``policy`` family reference: closed forms, mpmath, and independent torch
transcriptions of the official code (volcengine/verl and LiyuanLucasLiu/Entropy-Mechanism-of-RL
``verl/trainer/ppo/core_algos.py``, as read with the search tool), written here from that code."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import mpmath
import numpy as np
import pytest
import torch

from reference import policy as R

MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


# --------------------------------------------------------------------------- transcriptions of the official code


def verl_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum()


def verl_agg_loss(loss_mat: torch.Tensor, loss_mask: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "token-mean":
        return verl_masked_mean(loss_mat, loss_mask)
    if mode == "seq-mean-token-sum":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1))
    if mode == "seq-mean-token-mean":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1) / torch.sum(loss_mask, dim=-1))
    seq = torch.sum(loss_mat * loss_mask, dim=-1)
    return torch.sum(seq) / loss_mask.shape[-1]


def verl_vanilla(old: torch.Tensor, lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, lo: float, hi: float,
                 c: float, mode: str) -> torch.Tensor:
    """verl compute_policy_loss_vanilla (always dual-clipped, log-ratio clamped to [-20, 20])."""
    nkl = torch.clamp(lp - old, min=-20.0, max=20.0)
    ratio = torch.exp(nkl)
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 1 - lo, 1 + hi)
    clip1 = torch.maximum(pg1, pg2)
    pg3 = -adv * c
    clip2 = torch.min(pg3, clip1)
    losses = torch.where(adv < 0, clip2, clip1)
    return verl_agg_loss(losses, mask, mode)


def fork_clip_cov(old: torch.Tensor, lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, *, lo: float,
                  hi: float, mode: str, clip_ratio: float, lb: float, ub: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """compute_policy_loss_clip_cov of the Entropy-Mechanism fork; randperm drawn from ``generator``.

    Returns the loss, the candidate positions (row-major) and the permutation used."""
    ratio = torch.exp(lp - old)
    pg1 = -adv * ratio
    corr = torch.ones_like(adv)
    pg2 = -adv * torch.clamp(ratio, 1 - lo, 1 + hi)
    clip_by_origin = (pg2 > pg1) & (mask > 0)
    cov_all = (adv - verl_masked_mean(adv, mask)) * (lp - verl_masked_mean(lp.detach(), mask))
    cov_all[mask == 0] = -torch.inf
    cov_all[clip_by_origin] = -torch.inf
    clip_num = max(int(clip_ratio * mask.sum().item()), 1)
    top_k_idx = torch.nonzero((cov_all < ub) & (cov_all > lb) & (mask > 0))
    cand = top_k_idx.clone()
    perm = torch.randperm(len(top_k_idx), generator=generator)
    if len(top_k_idx) > 0:
        top_k_idx = top_k_idx[perm[: min(clip_num, len(top_k_idx))]]
    else:
        top_k_idx = torch.empty((0, 2), dtype=torch.long)
    corr[top_k_idx[:, 0], top_k_idx[:, 1]] = 0
    losses = torch.maximum(pg1, pg2) * corr
    return verl_agg_loss(losses, mask, mode), cand, perm


def fork_kl_cov(old: torch.Tensor, lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, *, mode: str,
                k_percent: float, coef: float) -> torch.Tensor:
    """compute_policy_loss_kl_cov of the Entropy-Mechanism fork (k_percent is a percentage)."""
    nkl = lp - old
    abs_kl = nkl.abs()
    ratio = torch.exp(nkl)
    pg1 = -adv * ratio
    pg_kl = -adv * ratio + coef * abs_kl
    losses = pg1.clone()
    valid = mask > 0
    valid_idx = torch.nonzero(valid.reshape(-1), as_tuple=True)[0]
    v_adv = adv[valid].detach().reshape(-1)
    v_lp = lp[valid].detach().reshape(-1)
    k = min(k_percent, len(v_adv))
    if k != 0:
        cov = (v_adv - v_adv.mean()) * (v_lp - v_lp.mean())
        nums = max(1, int(len(cov) * k / 100))
        idx = torch.topk(cov, nums, largest=True).indices
        if len(idx) != 0:
            idx = valid_idx[idx]
            t = adv.shape[1]
            losses[idx // t, idx % t] = pg_kl[idx // t, idx % t]
    return verl_agg_loss(losses, mask, mode)


def upstream_kl_cov(old: torch.Tensor, lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, *, mode: str,
                    kl_cov_ratio: float, coef: float) -> torch.Tensor:
    """Upstream verl compute_policy_loss_kl_cov (kl_cov_ratio is a fraction)."""
    nkl = lp - old
    ratio = torch.exp(nkl)
    losses = (-adv * ratio).clone()
    pg_kl = -adv * ratio + coef * nkl.abs()
    valid = mask > 0
    valid_idx = torch.nonzero(valid.reshape(-1), as_tuple=True)[0]
    v_adv = adv[valid].detach().reshape(-1)
    v_lp = lp[valid].detach().reshape(-1)
    if min(kl_cov_ratio, len(v_adv)) != 0:
        cov = (v_adv - v_adv.mean()) * (v_lp - v_lp.mean())
        nums = max(1, int(len(cov) * kl_cov_ratio))
        idx = valid_idx[torch.topk(cov, nums, largest=True).indices]
        t = adv.shape[1]
        losses[idx // t, idx % t] = pg_kl[idx // t, idx % t]
    return verl_agg_loss(losses, mask, mode)


def verl_grpo(scores: torch.Tensor, index: np.ndarray[Any, Any], epsilon: float, norm: bool) -> torch.Tensor:
    """verl compute_grpo_outcome_advantage on outcome scores (one per response)."""
    scores = scores.clone()
    id2score: dict[Any, list[torch.Tensor]] = defaultdict(list)
    id2mean, id2std = {}, {}
    for i in range(scores.shape[0]):
        id2score[index[i]].append(scores[i])
    for idx, vals in id2score.items():
        if len(vals) == 1:
            id2mean[idx] = torch.tensor(0.0, dtype=scores.dtype)
            id2std[idx] = torch.tensor(1.0, dtype=scores.dtype)
        else:
            st = torch.stack(vals)
            id2mean[idx] = torch.mean(st)
            id2std[idx] = torch.std(st)
    for i in range(scores.shape[0]):
        if norm:
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[index[i]]
    return scores


def verl_kl_penalty(lp: torch.Tensor, ref: torch.Tensor, kind: str) -> torch.Tensor:
    if kind in ("kl", "k1"):
        return lp - ref
    if kind == "abs":
        return (lp - ref).abs()
    if kind in ("mse", "k2"):
        return 0.5 * (lp - ref).square()
    kl = torch.clamp(ref - lp, min=-20, max=20)
    return torch.clamp(torch.exp(kl) - kl - 1, min=-10, max=10)


def _case(seed: int, b: int = 4, t: int = 7, *, empty_rows: bool = False) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    lp = -rng.random((b, t)) * 3
    old = lp - rng.choice([0.0, 0.1, -0.15, 0.3, -0.4, 0.05], size=(b, t))
    adv = np.repeat(rng.normal(size=(b, 1)) * 1.5, t, axis=1)
    lengths = rng.integers(0 if empty_rows else 1, t + 1, size=b)
    mask = np.arange(t) < lengths[:, None]
    return {"lp": lp, "old": old, "adv": adv, "mask": mask}


def _t(x: np.ndarray[Any, Any]) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


# --------------------------------------------------------------------------- aggregate


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


def test_group_advantages_hand_computed() -> None:
    r = np.array([1.0, 0.0, 1.0, 0.0, 5.0, 2.0, 2.0])
    g = np.array([7, 7, 7, 7, -3, 11, 11])
    a = R.group_advantages(r, g)
    s = math.sqrt(1.0 / 3.0)  # unbiased std of [1, 0, 1, 0]
    np.testing.assert_allclose(a[:4], [0.5 / (s + 1e-6), -0.5 / (s + 1e-6)] * 2, rtol=1e-14)
    assert a[4] == pytest.approx(5.0 / (1.0 + 1e-6))  # singleton: verl mean 0, std 1
    assert list(a[5:]) == [0.0, 0.0]  # constant group
    np.testing.assert_allclose(R.group_advantages(r, g, scale="none"), [0.5, -0.5, 0.5, -0.5, 5.0, 0.0, 0.0])


@pytest.mark.parametrize("norm", [True, False])
def test_group_advantages_match_verl(norm: bool) -> None:
    rng = np.random.default_rng(13)
    r = rng.choice([0.0, 1.0, 0.5, 2.0], size=40) + rng.normal(size=40) * 0.1
    g = rng.integers(0, 9, size=40) * 3 - 5
    ours = R.group_advantages(r, g, scale="std" if norm else "none", eps=1e-6)
    theirs = verl_grpo(_t(r), g, 1e-6, norm).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_group_advantages_torch_std_is_unbiased() -> None:
    r = np.array([3.0, 1.0, 2.0])
    a = R.group_advantages(r, np.zeros(3, dtype=np.int64), eps=0.0)
    np.testing.assert_allclose(a, (r - 2.0) / float(torch.std(_t(r))), rtol=1e-15)
    assert float(torch.std(_t(r))) == pytest.approx(1.0)


# --------------------------------------------------------------------------- clip_cov_loss


def _priority_from_perm(cand: torch.Tensor, perm: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Priority keys that make our 'n smallest keys' choose exactly ``cand[perm[:n]]``."""
    pri = np.full(shape, 0.999)
    for pos, j in enumerate(perm.tolist()):
        r, c = cand[j].tolist()
        pri[r, c] = pos / (len(perm) + 1)
    return pri


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", MODES)
def test_clip_cov_matches_official_with_same_random_choice(seed: int, mode: str) -> None:
    c = _case(100 + seed, b=5, t=8)
    c["adv"] = np.random.default_rng(seed).normal(size=c["lp"].shape) * 2.0  # token-level advantages
    gen = torch.Generator().manual_seed(seed)
    theirs, cand, perm = fork_clip_cov(_t(c["old"]), _t(c["lp"]), _t(c["adv"]), _t(c["mask"]), lo=0.2, hi=0.25,
                                       mode=mode, clip_ratio=0.1, lb=0.05, ub=3.0, generator=gen)
    assert len(cand) > 0
    pri = _priority_from_perm(cand, perm, c["lp"].shape)
    ours = R.clip_cov_loss(c["lp"], c["old"], c["adv"], c["mask"], pri, clip_ratio=0.1, cov_low=0.05, cov_high=3.0,
                           clip_low=0.2, clip_high=0.25, mode=mode)
    expect = float(theirs) / (c["lp"].shape[0] if mode == "seq-mean-token-sum-norm" else 1)
    assert float(ours) == pytest.approx(expect, rel=1e-12, abs=1e-13)


def test_clip_cov_hand_computed_selection() -> None:
    # valid tokens: A = [2, 0, -2, 0], logp = [-1, -3, -5, -3] → means 0 and -3 → cov = [4, 0, 4, 0]
    lp = np.array([[-1.0, -3.0, -5.0, -3.0]])
    adv = np.array([[2.0, 0.0, -2.0, 0.0]])
    m = np.ones((1, 4), dtype=bool)
    pri = np.array([[0.5, 0.1, 0.25, 0.0]])
    tok = R.clip_cov_loss(lp, lp, adv, m, pri, clip_ratio=0.25, cov_low=1.0, cov_high=5.0, mode="none")
    # candidates 0 and 2 (cov 4 ∈ (1, 5)); n = max(int(0.25·4), 1) = 1; smallest key among them: token 2
    np.testing.assert_array_equal(tok, [[-2.0, 0.0, 0.0, 0.0]])
    tie = R.clip_cov_loss(lp, lp, adv, m, np.zeros((1, 4)), clip_ratio=0.25, mode="none")
    np.testing.assert_array_equal(tie, [[0.0, 0.0, 2.0, 0.0]])  # tie in keys: lowest flat index
    strict = R.clip_cov_loss(lp, lp, adv, m, pri, clip_ratio=0.25, cov_low=4.0, mode="none")
    np.testing.assert_array_equal(strict, [[-2.0, 0.0, 2.0, 0.0]])  # cov = 4 is not > 4: no candidate
    assert float(R.clip_cov_loss(lp, lp, adv, m, pri, clip_ratio=0.25)) == pytest.approx(-2.0 / 4)  # stays in denom


# --------------------------------------------------------------------------- kl_cov_loss


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k_percent", [0.2, 10.0, 37.5, 100.0])
@pytest.mark.parametrize("full", [False, True])
def test_kl_cov_matches_official(mode: str, k_percent: float, full: bool) -> None:
    c = _case(21, b=10, t=12)
    if full:
        c["mask"] = np.ones_like(c["mask"])
    c["adv"] = np.random.default_rng(22).normal(size=c["lp"].shape)  # distinct covariances: no topk ties
    ours = float(R.kl_cov_loss(c["lp"], c["old"], c["adv"], c["mask"], k_percent=k_percent, coef=0.7, mode=mode))
    args = (_t(c["old"]), _t(c["lp"]), _t(c["adv"]), _t(c["mask"]))
    fork = float(fork_kl_cov(*args, mode=mode, k_percent=k_percent, coef=0.7))
    upstream = float(upstream_kl_cov(*args, mode=mode, kl_cov_ratio=k_percent / 100, coef=0.7))
    div = c["lp"].shape[0] if mode == "seq-mean-token-sum-norm" else 1
    if c["mask"].sum() >= k_percent:  # below, the fork's min(k_percent, N_valid) quirk changes n (see next test)
        assert ours == pytest.approx(fork / div, rel=1e-12, abs=1e-13)
    assert ours == pytest.approx(upstream / div, rel=1e-12, abs=1e-13)


def test_kl_cov_hand_computed() -> None:
    lp = np.array([[-1.0, -3.0, -5.0, -3.5]])
    old = np.array([[-1.5, -3.0, -5.0, -3.0]])
    adv = np.array([[3.0, 0.0, -1.0, -2.0]])
    m = np.array([[True, True, True, True]])
    # means: A 0, logp -3.125 → cov = [6.375, 0, 1.875, 0.75]; n = max(1, int(4·50/100)) = 2 → tokens 0, 2
    tok = R.kl_cov_loss(lp, old, adv, m, k_percent=50.0, coef=2.0, mode="none")
    pg = -adv * np.exp(lp - old)
    np.testing.assert_allclose(tok, pg + np.array([[2.0 * 0.5, 0.0, 0.0, 0.0]]), rtol=1e-15)
    assert R.kl_cov_loss(lp, old, adv, m, k_percent=0.0, mode="none") == pytest.approx(pg)
    assert float(R.kl_cov_loss(lp, old, adv, np.zeros_like(m), k_percent=50.0)) == 0.0


def test_kl_cov_fork_min_quirk_documented() -> None:
    """The fork's ``k = min(k_percent, N_valid)`` changes n only when N_valid < k_percent."""
    lp = np.array([[-1.0, -2.0, -4.0]])
    old = lp - np.array([[0.5, -0.5, 0.25]])
    adv = np.array([[1.0, -2.0, 0.5]])
    m = np.ones((1, 3), dtype=bool)
    args = (_t(old), _t(lp), _t(adv), _t(m))
    fork = float(fork_kl_cov(*args, mode="token-mean", k_percent=80.0, coef=1.0))  # k = 3 → n = max(1, 0) = 1
    ours = float(R.kl_cov_loss(lp, old, adv, m, k_percent=80.0, coef=1.0))  # n = int(3·0.8) = 2
    upstream = float(upstream_kl_cov(*args, mode="token-mean", kl_cov_ratio=0.8, coef=1.0))
    assert ours == pytest.approx(upstream, rel=1e-13)
    assert ours != pytest.approx(fork, rel=1e-6)
