"""``covariance`` group (clip_cov_loss, kl_cov_loss): hand-computed selections and the official code
(Entropy-Mechanism fork and upstream verl) with the same random choice, with gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import policy_peers  # tests/policy/policy_peers.py, on sys.path via tests/conftest.py
import pytest
import torch

from accelerated import policy as A
from reference import policy as R

_P = policy_peers
_case = _P._case
_t = _P._t
_priority_from_perm = _P._priority_from_perm
fork_clip_cov = _P.fork_clip_cov
fork_kl_cov = _P.fork_kl_cov
upstream_kl_cov = _P.upstream_kl_cov
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




def test_clip_cov_chosen_tokens_have_zero_gradient() -> None:
    c = _inputs(3, (4, 6))
    lp = torch.tensor(c["lp"], requires_grad=True)
    args = (torch.tensor(c["old"]), torch.tensor(c["adv"]), torch.tensor(c["m"]), torch.tensor(c["pri"]))
    tok = A.clip_cov_loss(lp, *args, clip_ratio=0.25, cov_low=-1.0, cov_high=10.0, mode="none")
    ppo = A.ppo_clip_loss(lp.detach(), *args[:3], mode="none")
    chosen = (tok.detach() == 0) & (ppo != 0)
    assert int(chosen.sum()) == max(int(0.25 * int(c["m"].sum())), 1)
    tok.sum().backward()
    assert lp.grad is not None and torch.all(lp.grad[chosen] == 0)




def test_numpy_and_torch_identical_selection() -> None:
    c = _inputs(6, (5, 7))
    ties = np.floor(c["pri"] * 4) / 4  # ties in priority: lowest flat index wins on both
    n = A.clip_cov_loss(c["lp"], c["old"], c["adv"], c["m"], ties, clip_ratio=0.4, cov_low=-2.0, mode="none")
    t = A.clip_cov_loss(torch.tensor(c["lp"]), torch.tensor(c["old"]), torch.tensor(c["adv"]), torch.tensor(c["m"]),
                        torch.tensor(ties), clip_ratio=0.4, cov_low=-2.0, mode="none")
    ref = R.clip_cov_loss(c["lp"], c["old"], c["adv"], c["m"], ties, clip_ratio=0.4, cov_low=-2.0, mode="none")
    np.testing.assert_array_equal(n == 0, ref == 0)
    np.testing.assert_array_equal(t.numpy() == 0, ref == 0)


# --------------------------------------------------------------------------- token_covariance_score


def _fork_cov(lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The score as computed inside compute_policy_loss_kl_cov (Entropy-Mechanism fork, commit 6e45694):
    ``cov = (adv[valid] - adv[valid].mean()) * (lp[valid] - lp[valid].mean())``, scattered back."""
    valid = mask > 0
    v_adv = adv[valid].detach().reshape(-1)
    v_lp = lp[valid].detach().reshape(-1)
    cov = (v_adv - v_adv.mean()) * (v_lp - v_lp.mean())
    out = torch.zeros_like(lp)
    out[valid] = cov
    return out


def _fork_clip_cov_score(lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The score of compute_policy_loss_clip_cov (masked_mean centring, undetached log_prob), masked to 0."""
    m = mask.double()
    cov = (adv - (adv * m).sum() / m.sum()) * (lp - (lp.detach() * m).sum() / m.sum())
    return torch.where(mask > 0, cov, torch.zeros_like(cov))


@pytest.mark.parametrize("seed", range(5))
def test_token_covariance_matches_both_official_forms(seed: int) -> None:
    c = _inputs(300 + seed, (4, 7))
    c["m"][0, 0] = True
    ours = R.token_covariance_score(c["lp"], c["adv"], c["m"])
    kl_form = _fork_cov(_t(c["lp"]), _t(c["adv"]), torch.tensor(c["m"])).numpy()
    clip_form = _fork_clip_cov_score(_t(c["lp"]), _t(c["adv"]), torch.tensor(c["m"])).detach().numpy()
    np.testing.assert_allclose(ours, kl_form, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours, clip_form, rtol=1e-12, atol=1e-13)
    acc = A.token_covariance_score(torch.tensor(c["lp"]), torch.tensor(c["adv"]), torch.tensor(c["m"])).numpy()
    np.testing.assert_allclose(acc, ours, rtol=1e-12, atol=1e-13)


def test_token_covariance_hand_computed_and_detached() -> None:
    # valid: A = (3, 1, -1), logp = (-1, -2, -3): Ā = 1, mean logp = -2 → cov = (2·1, 0·0, (-2)(-1)) = (2, 0, 2)
    lp = np.array([[-1.0, -2.0], [-3.0, -9.0]])
    adv = np.array([[3.0, 1.0], [-1.0, 40.0]])
    m = np.array([[True, True], [True, False]])
    np.testing.assert_array_equal(R.token_covariance_score(lp, adv, m), [[2.0, 0.0], [2.0, 0.0]])
    t = torch.tensor(lp, requires_grad=True)
    out = A.token_covariance_score(t, torch.tensor(adv, requires_grad=True), torch.tensor(m))
    assert not out.requires_grad, "the score is a detached statistic"
    np.testing.assert_array_equal(out.numpy(), [[2.0, 0.0], [2.0, 0.0]])


def test_kl_cov_selects_the_top_scores_of_token_covariance_score() -> None:
    """KL-Cov penalises exactly the top-n tokens of the shared score (one helper behind both)."""
    c = _inputs(11, (5, 6))
    c["adv"] = np.random.default_rng(12).normal(size=c["lp"].shape)
    score = R.token_covariance_score(c["lp"], c["adv"], c["m"])
    n = max(1, int(int(c["m"].sum()) * 20.0 / 100))
    top = np.argsort(-np.where(c["m"], score, -np.inf).ravel(), kind="stable")[:n]
    pg = R.kl_cov_loss(c["lp"], c["old"], c["adv"], c["m"], k_percent=0.0, mode="none")
    tok = R.kl_cov_loss(c["lp"], c["old"], c["adv"], c["m"], k_percent=20.0, coef=1.0, mode="none")
    changed = np.flatnonzero((tok != pg).ravel())
    assert set(changed.tolist()) <= set(top.tolist())
    expect = pg.ravel().copy()
    expect[top] += np.abs(c["lp"] - c["old"]).ravel()[top]
    np.testing.assert_allclose(tok.ravel(), expect, rtol=1e-14)


# --------------------------------------------------------------------------- entropy_change_covariance


def _mp_entropy_derivative(z: np.ndarray[Any, Any], d: np.ndarray[Any, Any]) -> float:
    """dH(softmax(z + t·d))/dt at t = 0 by mpmath numerical differentiation at 40 digits (independent)."""
    import mpmath

    mpmath.mp.dps = 40
    idx = [i for i in range(z.size) if np.isfinite(z[i])]

    def h(t: Any) -> Any:
        w = [mpmath.mpf(float(z[i])) + t * mpmath.mpf(float(d[i])) for i in idx]
        s = mpmath.fsum(mpmath.e**x for x in w)
        return -mpmath.fsum((mpmath.e**x / s) * (x - mpmath.log(s)) for x in w)

    return float(mpmath.diff(h, 0))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("update", ["npg", "pg"])
def test_entropy_change_is_the_exact_derivative(seed: int, update: str) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(3, 5)) * 2.0
    z[0, 1] = -np.inf
    a = rng.normal(size=(3, 5))
    ours = R.entropy_change_covariance(z, a, eta=0.7, update=update)
    acc = A.entropy_change_covariance(torch.tensor(z), torch.tensor(a), eta=0.7, update=update).numpy()
    for r in range(3):
        p = np.exp(z[r] - np.max(z[r]))
        p = p / p.sum()
        d = 0.7 * (p * a[r] if update == "pg" else a[r])
        expect = _mp_entropy_derivative(z[r], d)
        assert ours[r] == pytest.approx(expect, rel=1e-12, abs=1e-14)
        assert acc[r] == pytest.approx(expect, rel=1e-12, abs=1e-14)


def test_entropy_change_predicts_a_small_step() -> None:
    """The paper's law: the exact entropy change of a small NPG step matches −η·Cov to O(η²)."""
    rng = np.random.default_rng(9)
    z = rng.normal(size=(4, 6))
    a = rng.normal(size=(4, 6))

    def entropy(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        p = np.exp(x - x.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return np.asarray(-(p * np.log(p)).sum(-1))

    errs = []
    for eta in (1e-2, 5e-3):
        exact = entropy(z + eta * a) - entropy(z)
        errs.append(np.max(np.abs(exact - R.entropy_change_covariance(z, a, eta=eta))))
    assert errs[1] < errs[0] / 3.0, f"remainder not second order: {errs}"
    assert errs[0] < 1e-3


def test_entropy_change_hand_computed() -> None:
    z = np.array([np.log(3.0), 0.0])
    # π = (3/4, 1/4), Δz = (1, 0): Cov = (3/16)·ln 3
    assert float(R.entropy_change_covariance(z, np.array([1.0, 0.0]))) == pytest.approx(-3 / 16 * np.log(3.0))
    assert float(R.entropy_change_covariance(z, np.array([1.0, 0.0]), update="pg")) == pytest.approx(
        -9 / 64 * np.log(3.0))
    assert float(R.entropy_change_covariance(np.zeros(4), np.arange(4.0))) == 0.0  # uniform: stationary
