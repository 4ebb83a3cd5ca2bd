"""Parity of the ``estimators`` groups with verl 0.9.1.

The ``verl_*`` functions below are transcriptions of verl 0.9.1 (PyPI wheel ``verl-0.9.1``,
``verl/trainer/ppo/core_algos.py`` and ``verl/utils/torch_functional.py``), written here from that code
(verl itself needs ray/omegaconf/... to import). The same functions are unchanged in volcengine/verl
b178a3c except ``compute_reinforce_plus_plus_outcome_advantage``, whose masked-token rule changed (noted
below). Each test compares on the positions verl defines and names the differences it leaves out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R

# --------------------------------------------------------------------------- verl 0.9.1 transcriptions


def verl_masked_sum(values: torch.Tensor, mask: torch.Tensor, axis: Any = None) -> torch.Tensor:
    valid_values = torch.where(mask.bool(), values, 0.0)
    return (valid_values * mask).sum(axis=axis)


def verl_masked_mean(values: torch.Tensor, mask: torch.Tensor, axis: Any = None) -> torch.Tensor:
    return verl_masked_sum(values, mask, axis) / (mask.sum(axis=axis) + 1e-8)


def verl_masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    mean = verl_masked_mean(values, mask)
    centered_values = values - mean
    variance = verl_masked_mean(centered_values**2, mask)
    if unbiased:
        mask_sum = mask.sum()
        if mask_sum == 0:
            raise ValueError("At least one element in the mask has to be 1.")
        if mask_sum == 1:
            raise ValueError("The sum of the mask is one, which can cause a division by zero.")
        variance = variance * (mask_sum / (mask_sum - 1))
    return variance


def verl_masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean, var = verl_masked_mean(values, mask), verl_masked_var(values, mask)
    return (values - mean) * torch.rsqrt(var + 1e-8)


def verl_rloo(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any) -> torch.Tensor:
    scores = token_level_rewards.sum(dim=-1)
    id2score: dict[Any, list[torch.Tensor]] = defaultdict(list)
    id2mean = {}
    with torch.no_grad():
        bsz = scores.shape[0]
        for i in range(bsz):
            id2score[index[i]].append(scores[i])
        for idx in id2score:
            if len(id2score[idx]) == 1:
                id2mean[idx] = torch.tensor(0.0)
            else:
                id2mean[idx] = torch.mean(torch.stack(id2score[idx]))
        for i in range(bsz):
            response_num = len(id2score[index[i]])
            if response_num > 1:
                scores[i] = scores[i] * response_num / (response_num - 1) - id2mean[index[i]] * response_num / (
                    response_num - 1)
        return scores.unsqueeze(-1) * response_mask


def verl_rloo_vectorized(token_level_rewards: torch.Tensor, response_mask: torch.Tensor,
                         index: Any) -> torch.Tensor:
    scores = token_level_rewards.sum(dim=-1)
    with torch.no_grad():
        inv = torch.from_numpy(np.unique(index, return_inverse=True)[1]).to(scores.device)
        c = torch.bincount(inv)[inv].to(scores.dtype)
        adv = ((c * scores - torch.bincount(inv, weights=scores)[inv]) / (c - 1).clamp_min(1)) * (c > 1)
        return adv.unsqueeze(-1) * response_mask


def verl_opo(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any) -> torch.Tensor:
    response_length = response_mask.sum(dim=-1)
    scores = token_level_rewards.sum(dim=-1)
    id2score: dict[Any, list[torch.Tensor]] = defaultdict(list)
    id2len: dict[Any, list[torch.Tensor]] = defaultdict(list)
    id2bsl = {}
    with torch.no_grad():
        bsz = scores.shape[0]
        for i in range(bsz):
            id2score[index[i]].append(scores[i])
            id2len[index[i]].append(response_length[i])
        for idx in id2score:
            if len(id2score[idx]) == 1:
                id2bsl[idx] = torch.tensor(0.0)
            else:
                score_tensor = torch.stack(id2score[idx])
                len_tensor = torch.stack(id2len[idx])
                id2bsl[idx] = (len_tensor * score_tensor).sum() / len_tensor.sum()
        for i in range(bsz):
            scores[i] = scores[i] - id2bsl[index[i]]
        return scores.unsqueeze(-1) * response_mask


def verl_passk(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any, epsilon: float,
               norm_adv_by_std_in_grpo: bool) -> torch.Tensor:
    scores = token_level_rewards.sum(dim=-1)
    advantages = torch.zeros_like(scores)
    id2scores: dict[Any, list[torch.Tensor]] = defaultdict(list)
    id2indices: dict[Any, list[int]] = defaultdict(list)
    with torch.no_grad():
        bsz = scores.shape[0]
        for i in range(bsz):
            id2scores[index[i]].append(scores[i])
            id2indices[index[i]].append(i)
        for idx in id2scores:
            rewards = torch.stack(id2scores[idx])
            if rewards.numel() < 2:
                raise ValueError(f"Pass@k requires at least 2 samples per group. Got {rewards.numel()}")
            topk, topk_idx = torch.topk(rewards, 2)
            r_max, r_second_max = topk[0], topk[1]
            i_max = id2indices[idx][topk_idx[0].item()]
            advantage = r_max - r_second_max
            if norm_adv_by_std_in_grpo:
                std = torch.std(rewards)
                advantage = advantage / (std + epsilon)
            advantages[i_max] = advantage
    return advantages.unsqueeze(-1) * response_mask


# --------------------------------------------------------------------------- helpers


def _outcome(seed: int, n: int, t: int = 6, *, group: int = 4, binary: bool = True) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    r = rng.choice([0.0, 1.0], size=n) if binary else np.round(rng.normal(size=n), 3)
    g = rng.permutation(np.repeat(np.arange(n // group), group))[:n] * 5 - 7
    lengths = rng.integers(1, t + 1, size=n)
    m = (np.arange(t) < lengths[:, None]).astype(np.float64)
    tok = np.zeros((n, t))
    tok[np.arange(n), lengths - 1] = r  # the outcome reward on the last valid token, as verl's reward managers do
    return {"r": r, "g": g, "m": m, "tok": torch.tensor(tok), "mt": torch.tensor(m)}


def _broadcast(adv: np.ndarray[Any, Any], m: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return adv[:, None] * m


# --------------------------------------------------------------------------- rloo / opo / pass@k


@pytest.mark.parametrize("binary", [True, False])
def test_rloo_matches_verl_rloo(binary: bool) -> None:
    c = _outcome(1, 48, binary=binary)
    c["g"][:3] = [1000, 1001, 1002]  # singletons: verl rloo keeps A = r
    theirs = verl_rloo(c["tok"].clone(), c["mt"], c["g"]).numpy()
    for ours in (R.rloo_advantages(c["r"], c["g"]),
                 A.rloo_advantages(torch.tensor(c["r"]), torch.tensor(c["g"])).numpy()):
        np.testing.assert_allclose(_broadcast(ours, c["m"]), theirs, rtol=1e-12, atol=1e-14)


def test_rloo_zero_matches_verl_rloo_vectorized() -> None:
    c = _outcome(2, 40, binary=False)
    c["g"][:2] = [77, 78]  # singletons: rloo_vectorized gives 0
    theirs = verl_rloo_vectorized(c["tok"].clone(), c["mt"], c["g"]).numpy()
    ours = A.rloo_advantages(torch.tensor(c["r"]), torch.tensor(c["g"]), singleton="zero").numpy()
    np.testing.assert_allclose(_broadcast(ours, c["m"]), theirs, rtol=1e-12, atol=1e-14)
    # the two verl registry entries disagree exactly on singletons (catalogue errata)
    loop = verl_rloo(c["tok"].clone(), c["mt"], c["g"]).numpy()
    assert np.any(loop[:2] != theirs[:2]) and np.allclose(loop[2:], theirs[2:], rtol=1e-12, atol=1e-14)


def test_opo_matches_verl() -> None:
    c = _outcome(3, 64, t=9, binary=False)
    c["g"][:2] = [500, 501]  # singletons: verl uses baseline 0 (singleton='reward')
    theirs = verl_opo(c["tok"].clone(), c["mt"], c["g"]).numpy()
    for ours in (R.opo_advantages(c["r"], c["m"], c["g"], singleton="reward"),
                 A.opo_advantages(torch.tensor(c["r"]), torch.tensor(c["m"]), torch.tensor(c["g"]),
                                  singleton="reward").numpy()):
        np.testing.assert_allclose(_broadcast(ours, c["m"]), theirs, rtol=1e-12, atol=1e-14)
    # the paper's default differs from verl only on the singletons
    paper = R.opo_advantages(c["r"], c["m"], c["g"])
    assert np.all(paper[:2] == 0.0) and np.any(theirs[:2] != 0.0)


def test_opo_all_empty_group_is_nan_in_verl_and_a_mean_here() -> None:
    tok = torch.zeros((2, 3), dtype=torch.float64)
    tok[0, 0] = 1.0
    m = torch.zeros((2, 3), dtype=torch.float64)
    assert torch.isnan(verl_opo(tok.clone(), m, np.array([4, 4]))).all()  # baseline 0/0 (NaN·0 is NaN)
    np.testing.assert_array_equal(R.opo_advantages(np.array([1.0, 0.0]), m.numpy(), np.array([4, 4])), [0.5, -0.5])


@pytest.mark.parametrize("norm", [True, False])
def test_passk_matches_verl(norm: bool) -> None:
    c = _outcome(4, 64, binary=False)  # continuous rewards: a unique best per group
    theirs = verl_passk(c["tok"].clone(), c["mt"], c["g"], 1e-6, norm).numpy()
    scale = "std" if norm else "none"
    for ours in (R.grpo_passk_advantages(c["r"], c["g"], scale=scale),
                 A.grpo_passk_advantages(torch.tensor(c["r"]), torch.tensor(c["g"]), scale=scale).numpy()):
        np.testing.assert_allclose(_broadcast(ours, c["m"]), theirs, rtol=1e-12, atol=1e-14)


def test_passk_ties_and_singletons_against_verl() -> None:
    r = np.array([1.0, 1.0, 0.0, 0.0, 0.5, 0.25])
    g = np.array([0, 0, 0, 1, 1, 1])
    tok = torch.tensor(r)[:, None].clone()
    theirs = verl_passk(tok, torch.ones((6, 1), dtype=torch.float64), g, 1e-6, True).numpy()[:, 0]
    np.testing.assert_allclose(R.grpo_passk_advantages(r, g, scale="std"), theirs, rtol=1e-12)
    assert np.all(theirs[:3] == 0.0)  # a tie at the top: whichever index topk picks, the gap is 0
    with pytest.raises(ValueError, match="at least 2"):
        verl_passk(torch.ones((1, 1)), torch.ones((1, 1)), np.array([3]), 1e-6, True)
    assert R.grpo_passk_advantages(np.array([2.0]), np.array([3]))[0] == 0.0


# --------------------------------------------------------------------------- estimators_2: verl 0.9.1 transcriptions


def verl_gae(token_level_rewards: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor, gamma: float,
             lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        nextvalues: Any = 0
        lastgaelam: Any = 0
        advantages_reversed = []
        gen_len = token_level_rewards.shape[-1]
        for t in reversed(range(gen_len)):
            delta = token_level_rewards[:, t] + gamma * nextvalues - values[:, t]
            lastgaelam_ = delta + gamma * lam * lastgaelam
            nextvalues = values[:, t] * response_mask[:, t] + (1 - response_mask[:, t]) * nextvalues
            lastgaelam = lastgaelam_ * response_mask[:, t] + (1 - response_mask[:, t]) * lastgaelam
            advantages_reversed.append(lastgaelam)
        advantages = torch.stack(advantages_reversed[::-1], dim=1)
        returns = advantages + values
        advantages = verl_masked_whiten(advantages, response_mask)
    return advantages, returns


def verl_rpp(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, gamma: float,
             *, reset_at_mask: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """verl 0.9.1 compute_reinforce_plus_plus_outcome_advantage; ``reset_at_mask`` is the b178a3c loop."""
    with torch.no_grad():
        returns = torch.zeros_like(token_level_rewards)
        running_return: Any = 0
        for t in reversed(range(token_level_rewards.shape[1])):
            if reset_at_mask:
                running_return = token_level_rewards[:, t] + gamma * running_return
                returns[:, t] = running_return
                running_return = running_return * response_mask[:, t]
            else:
                new_running_return = token_level_rewards[:, t] + gamma * running_return
                returns[:, t] = new_running_return * response_mask[:, t]
                running_return = new_running_return * response_mask[:, t] + running_return * (1 - response_mask[:, t])
        advantages = verl_masked_whiten(returns, response_mask) * response_mask
    return advantages, returns


def verl_rpp_baseline(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any) -> torch.Tensor:
    response_length = token_level_rewards.shape[-1]
    scores = token_level_rewards.sum(dim=-1)
    id2score: dict[Any, list[torch.Tensor]] = defaultdict(list)
    id2mean = {}
    with torch.no_grad():
        bsz = scores.shape[0]
        for i in range(bsz):
            id2score[index[i]].append(scores[i])
        for idx in id2score:
            if len(id2score[idx]) == 1:
                id2mean[idx] = torch.tensor(0.0)
            else:
                id2mean[idx] = torch.mean(torch.stack(id2score[idx]))
        for i in range(bsz):
            scores[i] = scores[i] - id2mean[index[i]]
        scores = scores.unsqueeze(-1).tile([1, response_length]) * response_mask
        return verl_masked_whiten(scores, response_mask) * response_mask


def verl_remax(token_level_rewards: torch.Tensor, reward_baselines: torch.Tensor,
               response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        returns = (token_level_rewards * response_mask).flip(dims=[-1]).cumsum(dim=-1).flip(dims=[-1])
        advantages = returns - reward_baselines.unsqueeze(-1) * response_mask
    return advantages, returns


def verl_agg_loss(loss_mat: torch.Tensor, loss_mask: torch.Tensor, loss_agg_mode: str) -> torch.Tensor:
    """verl 0.9.1 agg_loss with dp_size = 1 and no global batch info."""
    if loss_agg_mode == "token-mean":
        return verl_masked_sum(loss_mat, loss_mask) / loss_mask.sum()
    if loss_agg_mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
        seq_losses = torch.sum(loss_mat * loss_mask, dim=-1)
        seq_mask = (torch.sum(loss_mask, dim=-1) > 0).float()
        loss = verl_masked_sum(seq_losses, seq_mask) / seq_mask.sum()
        return loss / loss_mask.shape[-1] if loss_agg_mode == "seq-mean-token-sum-norm" else loss
    seq_mask = torch.sum(loss_mask, dim=-1)
    seq_losses = torch.sum(loss_mat * loss_mask, dim=-1) / (seq_mask + 1e-8)
    seq_mask = (seq_mask > 0).float()
    return verl_masked_sum(seq_losses, seq_mask) / seq_mask.sum()


def verl_reinforce(log_prob: torch.Tensor, advantages: torch.Tensor, response_mask: torch.Tensor,
                   loss_agg_mode: str) -> torch.Tensor:
    """verl 0.9.1 compute_policy_loss_reinforce without rollout_is_weights."""
    pg_losses = -advantages * log_prob
    return verl_agg_loss(pg_losses, response_mask, loss_agg_mode)


def _tokens(seed: int, b: int = 12, t: int = 7, *, gaps: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, t + 1, size=b)
    m = np.arange(t) < lengths[:, None]
    if gaps:
        m[: b // 2, 1] = False  # observation tokens inside the first rows
        m[: b // 2, 0] = True
    r = np.round(rng.normal(size=(b, t)), 3) * m  # verl's reward managers put 0 at masked positions
    v = np.round(rng.normal(size=(b, t)), 3)
    return {"r": r, "v": v, "m": m, "mf": m.astype(np.float64)}


# verl's masked_mean divides by n + 1e-8 (ours by n): a relative difference below 1e-8/n after whitening
WHITE_RTOL = 1e-7


@pytest.mark.parametrize("gaps", [False, True])
@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.99, 0.95), (0.5, 0.0)])
def test_gae_matches_verl(gaps: bool, gamma: float, lam: float) -> None:
    c = _tokens(5, gaps=gaps)
    t_adv, t_ret = verl_gae(torch.tensor(c["r"]), torch.tensor(c["v"]), torch.tensor(c["mf"]), gamma, lam)
    valid = c["m"]
    for adv, ret in (R.gae_advantages(c["r"], c["v"], c["m"], gamma=gamma, lam=lam, whiten=True),
                     A.gae_advantages(torch.tensor(c["r"]), torch.tensor(c["v"]), torch.tensor(c["m"]), gamma=gamma,
                                      lam=lam, whiten=True)):
        adv, ret = np.asarray(adv), np.asarray(ret)
        np.testing.assert_allclose(adv[valid], t_adv.numpy()[valid], rtol=WHITE_RTOL, atol=1e-9)
        np.testing.assert_allclose(ret[valid], t_ret.numpy()[valid], rtol=1e-12, atol=1e-12)
    # the paper's default (no whitening): returns − values are verl's raw (pre-whitening) advantages
    raw, _ = R.gae_advantages(c["r"], c["v"], c["m"], gamma=gamma, lam=lam)
    np.testing.assert_allclose(raw[valid], (t_ret.numpy() - c["v"])[valid], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gaps", [False, True])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_reinforce_plus_plus_matches_verl(gaps: bool, gamma: float) -> None:
    c = _tokens(6, gaps=gaps)
    t_adv, t_ret = verl_rpp(torch.tensor(c["r"]), torch.tensor(c["mf"]), gamma)
    g = np.zeros(12, dtype=np.int64)
    for adv, ret in (R.reinforce_plus_plus_advantages(c["r"], c["m"], g, gamma=gamma),
                     A.reinforce_plus_plus_advantages(torch.tensor(c["r"]), torch.tensor(c["m"]), torch.tensor(g),
                                                      gamma=gamma)):
        np.testing.assert_allclose(np.asarray(adv), t_adv.numpy(), rtol=WHITE_RTOL, atol=1e-9)
        np.testing.assert_allclose(np.asarray(ret), t_ret.numpy(), rtol=1e-12, atol=1e-12)
    # verl b178a3c reset the running return at a masked token: equal without gaps, different with them
    _, old_ret = verl_rpp(torch.tensor(c["r"]), torch.tensor(c["mf"]), gamma, reset_at_mask=True)
    same = np.allclose(old_ret.numpy()[c["m"]], t_ret.numpy()[c["m"]], rtol=1e-12, atol=1e-12)
    assert same != gaps


def test_reinforce_plus_plus_baseline_matches_verl() -> None:
    c = _tokens(7, b=24)
    g = np.repeat(np.arange(8), 3) * 11 - 4
    g[:2] = [900, 901]  # singletons keep their reward (verl's mean 0)
    theirs = verl_rpp_baseline(torch.tensor(c["r"]), torch.tensor(c["mf"]), g)
    for adv, ret in (R.reinforce_plus_plus_advantages(c["r"], c["m"], g, baseline="group"),
                     A.reinforce_plus_plus_advantages(torch.tensor(c["r"]), torch.tensor(c["m"]), torch.tensor(g),
                                                      baseline="group")):
        np.testing.assert_allclose(np.asarray(adv), theirs.numpy(), rtol=WHITE_RTOL, atol=1e-9)
        np.testing.assert_allclose(np.asarray(ret), (c["r"].sum(-1)[:, None] * c["m"]), rtol=1e-12, atol=1e-12)


def test_whitening_raises_in_verl_and_is_zero_here() -> None:
    m = np.zeros((2, 3), dtype=bool)
    m[1, 2] = True
    r = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    with pytest.raises(ValueError, match="sum of the mask is one"):
        verl_rpp(torch.tensor(r), torch.tensor(m.astype(np.float64)), 1.0)
    adv, ret = R.reinforce_plus_plus_advantages(r, m, np.zeros(2, dtype=np.int64))
    assert np.all(adv == 0.0) and ret[1, 2] == 2.0


@pytest.mark.parametrize("gaps", [False, True])
def test_remax_reward_to_go_matches_verl(gaps: bool) -> None:
    c = _tokens(8, gaps=gaps)
    base = np.round(np.random.default_rng(8).normal(size=12), 3)
    t_adv, t_ret = verl_remax(torch.tensor(c["r"]), torch.tensor(base), torch.tensor(c["mf"]))
    valid = c["m"]
    for adv, ret in (R.remax_advantages(c["r"], base, c["m"], credit="reward_to_go"),
                     A.remax_advantages(torch.tensor(c["r"]), torch.tensor(base), torch.tensor(c["m"]),
                                        credit="reward_to_go")):
        np.testing.assert_allclose(np.asarray(adv)[valid], t_adv.numpy()[valid], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(ret)[valid], t_ret.numpy()[valid], rtol=1e-12, atol=1e-12)


def test_remax_paper_credit_equals_verl_for_an_outcome_reward() -> None:
    c = _tokens(9)
    last = c["m"].sum(-1) - 1
    r = np.zeros_like(c["r"])
    r[np.arange(12), last] = np.round(np.random.default_rng(9).normal(size=12), 3)
    base = np.full(12, 0.25)
    t_adv, _ = verl_remax(torch.tensor(r), torch.tensor(base), torch.tensor(c["mf"]))
    ours, _ = R.remax_advantages(r, base, c["m"])  # credit="sequence", the paper
    np.testing.assert_allclose(ours[c["m"]], t_adv.numpy()[c["m"]], rtol=1e-12, atol=1e-12)
    dense, _ = R.remax_advantages(c["r"], base, c["m"])  # spread rewards: the credits differ
    t_dense, _ = verl_remax(torch.tensor(c["r"]), torch.tensor(base), torch.tensor(c["mf"]))
    assert not np.allclose(dense[c["m"]], t_dense.numpy()[c["m"]])


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_reinforce_loss_matches_verl(mode: str) -> None:
    rng = np.random.default_rng(10)
    lp = -rng.random((5, 6)) * 3
    adv = rng.normal(size=(5, 6))
    m = rng.random((5, 6)) < 0.7
    m[:, 0] = True  # no empty row: verl 0.9.1 leaves empty rows out of its seq-mean modes
    theirs = verl_reinforce(torch.tensor(lp), torch.tensor(adv), torch.tensor(m.astype(np.float64)), mode)
    # seq-mean-token-sum-norm: verl 0.9.1 divides by (non-empty rows × T), ours by B·T: equal without empty rows
    ours_r = R.reinforce_loss(lp, adv, m, mode=mode)
    x = torch.tensor(lp, requires_grad=True)
    a = torch.tensor(adv, requires_grad=True)
    ours_a = A.reinforce_loss(x, a, torch.tensor(m), mode=mode)
    rtol = 1e-7 if mode == "seq-mean-token-mean" else 1e-12  # verl's + 1e-8 in the per-row token count
    np.testing.assert_allclose(float(ours_r), float(theirs), rtol=rtol)
    np.testing.assert_allclose(float(ours_a.detach()), float(theirs), rtol=rtol)
    ours_a.backward()
    assert a.grad is None and x.grad is not None  # advantages are a stop-gradient input


def test_reinforce_loss_empty_rows_differ_from_verl_091() -> None:
    lp = np.array([[-1.0, -2.0], [-0.5, -0.5]])
    adv = np.ones((2, 2))
    m = np.array([[True, True], [False, False]])
    theirs = float(verl_reinforce(torch.tensor(lp), torch.tensor(adv), torch.tensor(m.astype(np.float64)),
                                  "seq-mean-token-sum"))
    assert theirs == pytest.approx(3.0)  # verl 0.9.1: the empty row is left out
    assert float(R.reinforce_loss(lp, adv, m)) == pytest.approx(1.5)  # the family's aggregate counts it as 0
