"""``reweighting`` group (Lp-Reg, STEER): hand-derived values and parity with transcriptions of the official
forks' code.

Transcriptions (torch, written here from the code read with the search tool):

- Lp-Reg: CarlanLark/Lp-Reg-dev commit 33b27e273b14f8eeb14c8a52209fca568b4bd718,
  ``verl/workers/actor/dp_actor.py::apply_min_p`` (+ ``logits.div_(temperature)`` and ``logprobs_from_logits``)
  and ``verl/trainer/ppo/core_algos.py::compute_policy_loss_lp_reg`` with its ``kl_penalty`` / ``agg_loss``.
- STEER: zz-haooo/STEER commit b31df71652cd103ddc3512656a430c39ba15dd13, ``verl/trainer/ppo/core_algos.py::
  compute_token_weights`` and ``compute_policy_loss_with_entropy`` (registered as "entropy_control").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import spec.validate
from accelerated import policy as A
from reference import policy as R
from spec.errors import DomainError, DTypeError, ParameterError, ShapeError

# --------------------------------------------------------------------------- transcriptions of the fork


def fork_apply_min_p(logits: torch.Tensor, min_p: float, minp_soft: bool, regular_type: str) -> torch.Tensor:
    """Lp-Reg-dev dp_actor.apply_min_p (chunking over rows dropped: it does not change the values)."""
    chunk = logits.detach().clone()
    probability_values = torch.nn.functional.softmax(chunk, dim=-1)
    if regular_type == "minp":
        max_probabilities = torch.amax(probability_values, dim=-1, keepdim=True)
        adjusted_min_p = min_p * max_probabilities
        invalid_mask = ~(probability_values >= adjusted_min_p)
        if not minp_soft:
            chunk[invalid_mask] = -1e4
        else:
            min_logits = torch.amin(chunk, dim=-1, keepdim=True).repeat_interleave(chunk.size(-1), dim=-1)
            chunk[invalid_mask] = min_logits[invalid_mask]
    elif regular_type == "fixed":
        invalid_mask = ~(probability_values >= min_p)
        chunk[invalid_mask] = -1e4
    return chunk.detach()


def fork_proxy_logprob(logits: torch.Tensor, labels: torch.Tensor, min_p: float, soft: bool, rule: str,
                       temperature: float) -> torch.Tensor:
    """_forward_micro_batch with min_p > 0: apply_min_p, div_(temperature), logprobs_from_logits."""
    z = fork_apply_min_p(logits, min_p, soft, rule) if min_p > 0 else logits.clone()
    z.div_(temperature)
    return torch.gather(torch.log_softmax(z, dim=-1), -1, labels[:, None])[:, 0]


# --------------------------------------------------------------------------- lp_reg_proxy_logprob


@pytest.mark.parametrize("rule", ["minp", "fixed"])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.6])
@pytest.mark.parametrize("min_p", [0.02, 0.1, 0.5])
def test_proxy_matches_fork(rule: str, soft: bool, temperature: float, min_p: float) -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(40, 50)) * 3.0
    labels = rng.integers(0, 50, size=40)
    labels[:10] = np.argmax(z[:10], axis=-1)
    theirs = fork_proxy_logprob(torch.tensor(z), torch.tensor(labels), min_p, soft, rule, temperature)
    ref = R.lp_reg_proxy_logprob(z, labels, min_p=min_p, rule=rule, soft=soft, temperature=temperature)
    acc = A.lp_reg_proxy_logprob(torch.tensor(z), torch.tensor(labels), min_p=min_p, rule=rule, soft=soft,
                                 temperature=temperature)
    np.testing.assert_allclose(ref, theirs.numpy(), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(acc, theirs, rtol=1e-12, atol=1e-10)
    if not (soft and rule == "minp"):
        filtered = ref < -1000
        assert filtered.any() and (~filtered).any()


def test_proxy_float32_matches_fork_float32() -> None:
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.normal(size=(64, 300)) * 4.0, dtype=torch.float32)
    labels = torch.tensor(rng.integers(0, 300, size=64))
    theirs = fork_proxy_logprob(z, labels, 0.02, False, "minp", 1.0)
    ours = A.lp_reg_proxy_logprob(z, labels, min_p=0.02)
    torch.testing.assert_close(ours, theirs, rtol=2e-6, atol=2e-4)


def test_proxy_hand_computed() -> None:
    ln4 = math.log(4.0)
    # p = (0.2, 0.8), κ = 0.3: threshold 0.24 filters token 0 at T = 1 (the code filters before tempering)
    out = R.lp_reg_proxy_logprob(np.array([[0.0, ln4]] * 2), np.array([1, 0]), min_p=0.3, temperature=2.0)
    np.testing.assert_allclose(out, [0.0, -5000.0 - math.log(2.0)], rtol=1e-15, atol=1e-15)
    # κ = 0 keeps everything: the proxy is the policy's own log-softmax
    z = np.array([[0.3, -1.2, 2.0, 0.0]])
    np.testing.assert_allclose(R.lp_reg_proxy_logprob(z, np.array([1]), min_p=0.0),
                               [-1.2 - math.log(np.exp(z).sum())], rtol=1e-14)
    # kept tokens gain the filtered mass: log π_proxy ≥ log π
    base = z[0, 2] - math.log(np.exp(z).sum())
    assert R.lp_reg_proxy_logprob(z, np.array([2]), min_p=0.5)[0] > base


def test_proxy_is_detached_and_compiles() -> None:
    z = torch.randn(6, 11, dtype=torch.float32, requires_grad=True)
    labels = torch.randint(0, 11, (6,))
    out = A.lp_reg_proxy_logprob(z, labels, min_p=0.1)
    assert not out.requires_grad
    torch._dynamo.reset()
    compiled = torch.compile(A.lp_reg_proxy_logprob, fullgraph=True, backend="eager")
    with spec.validate.unchecked():
        torch.testing.assert_close(compiled(z, labels, min_p=0.1), out)


def test_proxy_dtypes_and_extremes() -> None:
    z = torch.tensor([[1000.0, -1000.0, 0.0, -float("inf")]], dtype=torch.bfloat16)
    out = A.lp_reg_proxy_logprob(z, torch.tensor([0]), min_p=0.02)
    assert out.dtype == torch.bfloat16 and float(out[0]) == 0.0
    half = A.lp_reg_proxy_logprob(z.to(torch.float16), torch.tensor([1]), min_p=0.02, temperature=0.25)
    assert torch.isfinite(half).all()  # (−1e4 − 1000)/0.25 = −44000 fits in float16


@pytest.mark.parametrize("mod", [R, A])
def test_proxy_bad_input(mod: Any) -> None:
    z = np.zeros((2, 3))
    with pytest.raises(ShapeError):
        mod.lp_reg_proxy_logprob(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ShapeError):
        mod.lp_reg_proxy_logprob(z, np.array([0, 1, 2]))
    with pytest.raises(DTypeError):
        mod.lp_reg_proxy_logprob(z, np.array([0.0, 1.0]))
    with pytest.raises(DomainError):
        mod.lp_reg_proxy_logprob(z, np.array([0, 3]))
    with pytest.raises(DomainError):
        mod.lp_reg_proxy_logprob(np.array([[0.0, np.nan, 1.0], [0.0, 0.0, 0.0]]), np.array([0, 1]))
    with pytest.raises(ParameterError):
        mod.lp_reg_proxy_logprob(z, np.array([0, 1]), min_p=1.5)
    with pytest.raises(ParameterError):
        mod.lp_reg_proxy_logprob(z, np.array([0, 1]), rule="topk")


# --------------------------------------------------------------------------- lp_reg_policy_loss


def fork_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum()


def fork_agg_loss(loss_mat: torch.Tensor, loss_mask: torch.Tensor, loss_agg_mode: str) -> torch.Tensor:
    """Lp-Reg-dev core_algos.agg_loss."""
    if loss_agg_mode == "token-mean":
        return fork_masked_mean(loss_mat, loss_mask)
    if loss_agg_mode == "seq-mean-token-sum":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1))
    if loss_agg_mode == "seq-mean-token-mean":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1) / (torch.sum(loss_mask, dim=-1) + 1e-8))
    return torch.sum(torch.sum(loss_mat * loss_mask, dim=-1)) / loss_mask.shape[-1]


def fork_low_var_kl(logprob: torch.Tensor, ref_logprob: torch.Tensor) -> torch.Tensor:
    """Lp-Reg-dev core_algos.kl_penalty(kl_penalty='low_var_kl') (no log-ratio clamp in this fork)."""
    kl = ref_logprob - logprob
    ratio = torch.exp(kl)
    kld = (ratio - kl - 1).contiguous()
    return torch.clamp(kld, min=-10, max=10)


def fork_lp_reg(old_log_prob: torch.Tensor, log_prob: torch.Tensor, pos_tgt_log_prob: torch.Tensor,
                neg_tgt_log_prob: torch.Tensor, advantages: torch.Tensor, response_mask: torch.Tensor,
                cliprange_low: float, cliprange_high: float, loss_agg_mode: str, logp_pos_k_percent: float,
                logp_neg_k_percent: float, ppo_kl_coef: float) -> torch.Tensor:
    """Lp-Reg-dev core_algos.compute_policy_loss_lp_reg (debug prints and metrics dropped)."""
    negative_approx_kl = log_prob - old_log_prob
    ratio = torch.exp(negative_approx_kl)
    pg_losses1 = -advantages * ratio
    ratio_clipped = ratio.clamp(1 - cliprange_low, 1 + cliprange_high)
    pg_losses2 = -advantages * ratio_clipped
    pg_losses = torch.maximum(pg_losses1, pg_losses2)
    all_valid_mask = response_mask > 0
    all_valid_flat_idx = all_valid_mask.reshape(-1).nonzero(as_tuple=True)[0]
    if len(all_valid_flat_idx) == 0:
        return fork_agg_loss(pg_losses, response_mask, loss_agg_mode)
    _, seq_len = advantages.shape
    advantages_flat = advantages.reshape(-1)
    log_prob_flat = log_prob.reshape(-1)
    pos_indices = all_valid_flat_idx[advantages_flat[all_valid_flat_idx] > 0]
    neg_indices = all_valid_flat_idx[advantages_flat[all_valid_flat_idx] < 0]

    def apply_kl_penalty_selective(target_flat_idx: torch.Tensor, tgt_log_prob: torch.Tensor) -> None:
        if len(target_flat_idx) == 0:
            return
        batch_idx, seq_idx = target_flat_idx // seq_len, target_flat_idx % seq_len
        mask = log_prob[batch_idx, seq_idx].detach() < tgt_log_prob[batch_idx, seq_idx]
        batch_idx, seq_idx = batch_idx[mask], seq_idx[mask]
        if len(batch_idx) == 0:
            return
        target_kl = fork_low_var_kl(log_prob[batch_idx, seq_idx], tgt_log_prob[batch_idx, seq_idx])
        pg_losses[batch_idx, seq_idx] = (-advantages[batch_idx, seq_idx] * ratio[batch_idx, seq_idx]
                                         + ppo_kl_coef * target_kl)

    if len(pos_indices) > 0:
        pos_logp_k = max(1, int(len(pos_indices) * logp_pos_k_percent))
        if pos_logp_k > 1:
            with torch.no_grad():
                _, pos_logp_indices = log_prob_flat[pos_indices].topk(k=pos_logp_k, largest=False)
                pos_target_idx = pos_indices[pos_logp_indices]
            apply_kl_penalty_selective(pos_target_idx, pos_tgt_log_prob)
    if len(neg_indices) > 0:
        neg_logp_k = max(1, int(len(neg_indices) * logp_neg_k_percent))
        if neg_logp_k > 1:
            with torch.no_grad():
                _, neg_logp_indices = log_prob_flat[neg_indices].topk(k=neg_logp_k, largest=False)
                neg_target_idx = neg_indices[neg_logp_indices]
            apply_kl_penalty_selective(neg_target_idx, neg_tgt_log_prob)
    return fork_agg_loss(pg_losses, response_mask, loss_agg_mode)


def _lp_case(seed: int, b: int = 8, t: int = 40) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    lp = -rng.exponential(1.5, size=(b, t))  # continuous: no ties in the top-k
    return {"lp": lp, "old": lp - rng.normal(size=(b, t)) * 0.2, "adv": rng.choice([-1.0, 1.0, -0.5, 2.0], size=(b, t)),
            "mask": np.arange(t)[None, :] < rng.integers(t // 2, t + 1, size=b)[:, None],
            "proxy": lp + rng.choice([-1.0, 0.3, 1.0, 3.5], size=(b, t))}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize("rho", [(0.01, 0.0), (0.2, 0.0), (0.3, 0.1)])
def test_lp_reg_matches_fork_with_gradients(seed: int, mode: str, rho: tuple[float, float]) -> None:
    c = _lp_case(seed)
    neg, pos = rho
    kw = {"neg_k_percent": neg, "pos_k_percent": pos, "coef": 0.7, "clip_low": 0.2, "clip_high": 0.28}
    lp1 = torch.tensor(c["lp"], requires_grad=True)
    lp2 = torch.tensor(c["lp"], requires_grad=True)
    old, adv, m, proxy = (torch.tensor(c[k]) for k in ("old", "adv", "mask", "proxy"))
    ours = A.lp_reg_policy_loss(lp1, old, adv, m, proxy, mode=mode, **kw)
    theirs = fork_lp_reg(old, lp2, proxy, proxy, adv, m.double(), 0.2, 0.28, mode, pos, neg, 0.7)
    ref = R.lp_reg_policy_loss(c["lp"], c["old"], c["adv"], c["mask"], c["proxy"], mode=mode, **kw)
    div = c["lp"].shape[0] if mode == "seq-mean-token-sum-norm" else 1  # verl divides by T only
    assert float(ref) == pytest.approx(float(theirs) / div, rel=1e-9)
    assert float(ours) == pytest.approx(float(theirs) / div, rel=1e-9)
    ours.backward()
    (theirs / div).backward()
    assert lp1.grad is not None and lp2.grad is not None
    torch.testing.assert_close(lp1.grad, lp2.grad, rtol=1e-9, atol=1e-12)
    if neg >= 0.2:  # the selection actually changed something
        plain = R.ppo_clip_loss(c["lp"], c["old"], c["adv"], c["mask"], clip_low=0.2, clip_high=0.28, mode=mode)
        assert float(ref) != pytest.approx(float(plain), rel=1e-6)


def test_lp_reg_hand_computed() -> None:
    lp = np.array([[-3.0, -1.0, -2.0, -4.0, -0.5]])
    adv = np.array([[-1.0, -1.0, -1.0, -1.0, 1.0]])
    proxy = np.array([[-2.0, -2.0, -2.0, -5.0, 0.0]])
    m = np.ones((1, 5), dtype=bool)
    # 4 negatives, ρ = 0.5 → k = 2: tokens 3 (−4, but −4 ≥ proxy −5: left alone) and 0 (c = 1: k3 = e − 2)
    tok = R.lp_reg_policy_loss(lp, lp, adv, m, proxy, neg_k_percent=0.5, mode="none")
    np.testing.assert_allclose(tok, [[math.e - 1.0, 1.0, 1.0, 1.0, -1.0]], rtol=1e-15)
    same = R.lp_reg_policy_loss(lp, lp, adv, m, proxy, neg_k_percent=0.49, mode="none")  # int(1.96) = 1: off
    np.testing.assert_array_equal(same, [[1.0, 1.0, 1.0, 1.0, -1.0]])
    # the k3 gradient: ∂/∂logp = −Aρ + β(1 − e^c) = 1 + (1 − e) at token 0
    x = torch.tensor(lp, requires_grad=True)
    A.lp_reg_policy_loss(x, torch.tensor(lp), torch.tensor(adv), torch.tensor(m), torch.tensor(proxy),
                         neg_k_percent=0.5, mode="seq-mean-token-sum").backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [[1.0 + (1.0 - math.e), 1.0, 1.0, 1.0, -1.0]], rtol=1e-14)


def test_lp_reg_compiles_and_detaches() -> None:
    c = _lp_case(9, 4, 12)
    args = [torch.tensor(c[k], dtype=torch.float32) for k in ("lp", "old", "adv")]
    m = torch.tensor(c["mask"])
    proxy = torch.tensor(c["proxy"], dtype=torch.float32, requires_grad=True)
    old = args[1].clone().requires_grad_(True)
    out = A.lp_reg_policy_loss(args[0], old, args[2], m, proxy, neg_k_percent=0.3)
    torch._dynamo.reset()
    compiled = torch.compile(A.lp_reg_policy_loss, fullgraph=True, backend="eager")
    with spec.validate.unchecked():
        torch.testing.assert_close(compiled(args[0], old, args[2], m, proxy, neg_k_percent=0.3), out)
    assert not out.requires_grad  # only log_prob carries gradient


@pytest.mark.parametrize("mod", [R, A])
def test_lp_reg_bad_input(mod: Any) -> None:
    z = -np.ones((2, 3))
    m = np.ones((2, 3), dtype=bool)
    with pytest.raises(ShapeError):
        mod.lp_reg_policy_loss(z, z, z, m, np.zeros((2, 2)))
    with pytest.raises(DomainError):
        mod.lp_reg_policy_loss(z, z, z, m, np.full((2, 3), np.nan))
    with pytest.raises(ParameterError):
        mod.lp_reg_policy_loss(z, z, z, m, z, neg_k_percent=-0.1)


# --------------------------------------------------------------------------- STEER


def fork_token_weights(advantages: torch.Tensor, entropys: torch.Tensor, old_log_prob: torch.Tensor,
                       log_prob: torch.Tensor, response_mask: torch.Tensor, token_weight_min: float = 0.8,
                       token_weight_max: float = 1.2, linear: bool = True) -> torch.Tensor:
    """STEER core_algos.compute_token_weights (print dropped)."""
    with torch.no_grad():
        x = torch.exp(log_prob)
        x = torch.clamp(x, min=1e-8, max=1.0 - 1e-8)
        x_one_minus_x_squared = x * (1 - x)
        ln_x_plus_h = torch.log(x) + entropys
        f_x = x_one_minus_x_squared * ln_x_plus_h
        old_prob = torch.exp(old_log_prob)
        old_prob = torch.clamp(old_prob, min=1e-8, max=1.0)
        advantage_over_old_prob = advantages / old_prob
        metric = advantage_over_old_prob * f_x
        if not torch.isfinite(metric).all():
            metric = torch.where(torch.isfinite(metric), metric, torch.zeros_like(metric))
        metric = torch.abs(metric)
        valid_metric = metric[response_mask.bool()]
        if valid_metric.numel() == 0:
            return torch.zeros_like(response_mask, dtype=torch.float)
        metric_min = valid_metric.min()
        metric_max = valid_metric.max()
        token_weights = torch.zeros_like(metric, dtype=torch.float)
        valid_mask = response_mask.bool()
        if valid_mask.any():
            valid_metric = metric[valid_mask]
            if linear:
                if metric_max > metric_min:
                    scale_factor = (token_weight_max - token_weight_min) / (metric_max - metric_min)
                    valid_weights = token_weight_max - (valid_metric - metric_min) * scale_factor
                else:
                    valid_weights = torch.full_like(valid_metric, (token_weight_min + token_weight_max) / 2)
                valid_weights = torch.clamp(valid_weights, min=token_weight_min, max=token_weight_max)
            else:
                k = -torch.log(torch.tensor(token_weight_min, dtype=metric.dtype, device=metric.device)) / \
                    torch.maximum(metric_max, torch.tensor(0.02, dtype=metric.dtype, device=metric.device))
                valid_weights = torch.exp(-k * valid_metric)
                valid_weights = torch.clamp(valid_weights, min=token_weight_min, max=1.0)
            token_weights[valid_mask] = valid_weights.to(token_weights.dtype)
        return token_weights * response_mask.float()


def fork_steer_loss(old_log_prob: torch.Tensor, log_prob: torch.Tensor, advantages: torch.Tensor,
                    response_mask: torch.Tensor, entropys: torch.Tensor, cliprange_low: float, cliprange_high: float,
                    clip_ratio_c: float, loss_agg_mode: str, token_weight_min: float, token_weight_max: float,
                    linear: bool) -> torch.Tensor:
    """STEER core_algos.compute_policy_loss_with_entropy (statistics dropped)."""
    token_weights = fork_token_weights(advantages, entropys, old_log_prob, log_prob, response_mask,
                                       token_weight_min, token_weight_max, linear)
    negative_approx_kl = torch.clamp(log_prob - old_log_prob, min=-20.0, max=20.0)
    ratio = torch.exp(negative_approx_kl)
    pg_losses1 = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1 - cliprange_low, 1 + cliprange_high)
    clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
    pg_losses3 = -advantages * clip_ratio_c
    clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
    pg_losses = torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1)
    weighted_pg_losses = pg_losses * token_weights
    return fork_agg_loss(weighted_pg_losses, response_mask, loss_agg_mode)


def _steer_case(seed: int, b: int = 6, t: int = 30) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    lp = -rng.exponential(1.0, size=(b, t))
    return {"lp": lp, "old": lp - rng.choice([0.0, 0.1, -0.3, 1.5, -2.5], size=(b, t)),
            "adv": rng.normal(size=(b, t)), "ent": rng.random((b, t)) * 3.0,
            "mask": np.arange(t)[None, :] < rng.integers(t // 3, t + 1, size=b)[:, None]}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("linear", [False, True])
def test_steer_weights_match_fork(seed: int, linear: bool) -> None:
    c = _steer_case(seed)
    t = {k: torch.tensor(v) for k, v in c.items()}
    w_max = 1.2 if linear else 1.0
    theirs = fork_token_weights(t["adv"], t["ent"], t["old"], t["lp"], t["mask"], 0.8, w_max, linear)
    ref = R.steer_token_weights(c["lp"], c["old"], c["adv"], c["mask"], c["ent"], w_max=w_max, linear=linear)
    ours = A.steer_token_weights(t["lp"], t["old"], t["adv"], t["mask"], t["ent"], w_max=w_max, linear=linear)
    # the fork writes float32 weights (token_weights = zeros_like(..., dtype=torch.float))
    np.testing.assert_allclose(ref, theirs.double().numpy(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.float(), theirs, rtol=1e-6, atol=1e-7)
    assert len(np.unique(np.round(ref[c["mask"]], 6))) > 5


def test_steer_weights_hand_computed() -> None:
    h = math.log(0.5)
    lp = np.array([[h, h, -1.0]])
    ent = np.array([[-h + 1.0, -h + 2.0, 0.0]])  # x = 1/2: x(1 − x)(log x + H) = 1/4, 1/2
    adv = np.array([[1.0, 1.0, 5.0]])
    m = np.array([[True, True, False]])
    # |Ω| = A/p_old · f = (0.5, 1.0)
    np.testing.assert_allclose(R.steer_token_weights(lp, lp, adv, m, ent, linear=True), [[1.2, 0.8, 0.0]],
                               rtol=1e-14)
    np.testing.assert_allclose(R.steer_token_weights(lp, lp, adv, m, ent), [[math.sqrt(0.8), 0.8, 0.0]],
                               rtol=1e-14)
    np.testing.assert_allclose(R.steer_token_weights(lp, lp, adv / 100, m, ent), [[0.8**0.25, 0.8**0.5, 0.0]],
                               rtol=1e-14)  # max |Ω| = 0.01 < 0.02: the floor sets k


def test_steer_weights_float32_fork_difference() -> None:
    """In float32 the fork's clip(p, ·, 1 − 1e-8) rounds to 1: x(1 − x) = 0 and |Ω| = 0 for p near 1, which moves
    the min-max; we compute the weights in float64 in every dtype (a documented difference)."""
    lp = np.array([[-1e-9, -0.5, -2.0]])
    old, adv, ent, m = lp.copy(), np.array([[1.0, 1.0, 1.0]]), np.array([[3.0, 1.0, 0.5]]), np.ones((1, 3), bool)
    f32 = [torch.tensor(v, dtype=torch.float32) for v in (adv, ent, old, lp)]
    theirs = fork_token_weights(*f32, torch.tensor(m), linear=True)
    ours = A.steer_token_weights(f32[3], f32[2], f32[0], torch.tensor(m), f32[1], linear=True)
    ref = R.steer_token_weights(lp, old, adv, m, ent, linear=True)
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=1e-6)
    assert float(theirs[0, 0]) == pytest.approx(1.2)  # |Ω| = 0 exactly in float32: the largest weight
    assert 1e-9 < float(np_omega_first(lp, old, adv, ent)) < 1e-7


def np_omega_first(lp: Any, old: Any, adv: Any, ent: Any) -> float:
    x = min(math.exp(float(lp[0, 0])), 1.0 - 1e-8)
    return abs(float(adv[0, 0]) / math.exp(float(old[0, 0])) * x * (1 - x) * (float(lp[0, 0]) + float(ent[0, 0])))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize("linear", [False, True])
def test_steer_loss_matches_fork_with_gradients(seed: int, mode: str, linear: bool) -> None:
    c = _steer_case(10 + seed)
    c["mask"][:, : c["mask"].shape[1] // 3] = True  # no empty rows (the fork's seq-mean-token-mean divides by 0)
    t = {k: torch.tensor(v) for k, v in c.items()}
    lp1 = torch.tensor(c["lp"], requires_grad=True)
    lp2 = torch.tensor(c["lp"], requires_grad=True)
    kw = {"w_min": 0.8, "w_max": 1.2, "linear": linear}
    ours = A.steer_policy_loss(lp1, t["old"], t["adv"], t["mask"], t["ent"], mode=mode, dual_clip=3.0, **kw)
    theirs = fork_steer_loss(t["old"], lp2, t["adv"], t["mask"].double(), t["ent"], 0.2, 0.28, 3.0, mode, 0.8, 1.2,
                             linear)
    div = c["lp"].shape[0] if mode == "seq-mean-token-sum-norm" else 1
    ref = R.steer_policy_loss(c["lp"], c["old"], c["adv"], c["mask"], c["ent"], mode=mode, dual_clip=3.0, **kw)
    # the fork's weights are float32 (zeros_like(..., dtype=torch.float)): agreement to float32 rounding
    assert float(ref) == pytest.approx(float(theirs) / div, rel=1e-6)
    assert float(ours) == pytest.approx(float(theirs) / div, rel=1e-6)
    ours.backward()
    (theirs / div).backward()
    assert lp1.grad is not None and lp2.grad is not None
    torch.testing.assert_close(lp1.grad, lp2.grad, rtol=1e-6, atol=1e-9)


def test_steer_loss_gradient_is_weighted_ppo_gradient() -> None:
    c = _steer_case(3, 4, 9)
    t = {k: torch.tensor(v) for k, v in c.items()}
    lp = torch.tensor(c["lp"], requires_grad=True)
    A.steer_policy_loss(lp, t["old"], t["adv"], t["mask"], t["ent"], linear=True, mode="seq-mean-token-sum").backward()
    w = R.steer_token_weights(c["lp"], c["old"], c["adv"], c["mask"], c["ent"], linear=True)
    lp2 = torch.tensor(c["lp"], requires_grad=True)
    tok = A.ppo_clip_loss(lp2, t["old"], t["adv"], t["mask"], clip_low=0.2, clip_high=0.28, dual_clip=10.0,
                          mode="none")
    (tok * torch.tensor(w)).sum(dim=-1).mean().backward()
    assert lp.grad is not None and lp2.grad is not None
    torch.testing.assert_close(lp.grad, lp2.grad, rtol=1e-12, atol=1e-14)


def test_steer_unit_weights_is_verl_dual_clip_ppo() -> None:
    c = _steer_case(5)
    loss = R.steer_policy_loss(c["lp"], c["old"], c["adv"], c["mask"], c["ent"], w_min=1.0, w_max=1.0, linear=True,
                               dual_clip=3.0, clip_high=0.2)
    import policy_peers  # tests/policy/policy_peers.py: verl compute_policy_loss_vanilla transcription

    verl = policy_peers.verl_vanilla(*(torch.tensor(c[k]) for k in ("old", "lp", "adv")),
                                     torch.tensor(c["mask"]).double(), 0.2, 0.2, 3.0, "token-mean")
    assert float(loss) == pytest.approx(float(verl), rel=1e-12)


def test_steer_compiles_and_detaches() -> None:
    c = _steer_case(8, 3, 7)
    t = {k: torch.tensor(v, dtype=torch.float32) if v.dtype != bool else torch.tensor(v) for k, v in c.items()}
    ent = t["ent"].clone().requires_grad_(True)
    for fn, kw in ((A.steer_token_weights, {"linear": True}), (A.steer_policy_loss, {"mode": "token-mean"})):
        out = fn(t["lp"], t["old"], t["adv"], t["mask"], ent, **kw)
        torch._dynamo.reset()
        compiled = torch.compile(fn, fullgraph=True, backend="eager")
        with spec.validate.unchecked():
            torch.testing.assert_close(compiled(t["lp"], t["old"], t["adv"], t["mask"], ent, **kw), out)
        assert out.dtype == torch.float32 and not out.requires_grad


@pytest.mark.parametrize("mod", [R, A])
def test_steer_bad_input(mod: Any) -> None:
    z = -np.ones((2, 3))
    m = np.ones((2, 3), dtype=bool)
    for fn in (mod.steer_token_weights, mod.steer_policy_loss):
        with pytest.raises(ShapeError):
            fn(z, z, z, m, np.zeros((3, 2)))
        with pytest.raises(DomainError):
            fn(z, z, z, m, np.full((2, 3), np.inf))
        with pytest.raises(ParameterError):
            fn(z, z, z, m, z, w_min=0.0)
        with pytest.raises(ParameterError):
            fn(z, z, z, m, z, w_max=0.5)
