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
