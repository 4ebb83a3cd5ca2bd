"""Independent torch transcriptions of the official code (volcengine/verl and LiyuanLucasLiu/Entropy-Mechanism-of-RL
``verl/trainer/ppo/core_algos.py``, as read with the search tool), written here from that code."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch

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



def _priority_from_perm(cand: torch.Tensor, perm: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Priority keys that make our 'n smallest keys' choose exactly ``cand[perm[:n]]``."""
    pri = np.full(shape, 0.999)
    for pos, j in enumerate(perm.tolist()):
        r, c = cand[j].tolist()
        pri[r, c] = pos / (len(perm) + 1)
    return pri

