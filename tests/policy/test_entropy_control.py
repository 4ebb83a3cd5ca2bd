"""``entropy_control`` group (SIREN, EPO): transcriptions of the official forks (Linn3a/siren at commit
fa59a8d, WujiangXu/EPO at commit 5b6fa98, read with the search tool and a fetched snapshot), hand-computed
values, state behaviour and stop-gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R
from spec.errors import DomainError, ShapeError

# --------------------------------------------------------------------------- transcriptions of the SIREN fork


def siren_mask_by_quantile(x: torch.Tensor, response_mask: torch.Tensor, upper: float,
                           lower: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linn3a/siren verl/verl/workers/actor/dp_actor.py mask_by_quantile (commit fa59a8d)."""
    x_masked = x.masked_fill(~response_mask.to(dtype=torch.bool), float("nan")).float()
    lower_bound = torch.nanquantile(x_masked, lower, dim=-1, keepdim=True)
    quantile_mask = x > lower_bound
    masked_x = torch.where(quantile_mask, x, torch.zeros_like(x))
    return masked_x, quantile_mask, lower_bound


def siren_agg_loss(loss_mat: torch.Tensor, loss_mask: torch.Tensor, loss_agg_mode: str) -> torch.Tensor:
    """Linn3a/siren verl/verl/trainer/ppo/core_algos.py agg_loss (commit fa59a8d; empty rows count 0)."""
    if loss_agg_mode == "token-mean":
        return (loss_mat * loss_mask).sum() / loss_mask.sum()
    if loss_agg_mode == "seq-mean-token-sum":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1))
    if loss_agg_mode == "seq-mean-token-mean":
        valid_mask = torch.sum(loss_mask, dim=-1) > 0
        seq_losses = torch.zeros_like(valid_mask, dtype=loss_mat.dtype, device=loss_mat.device)
        seq_losses[valid_mask] = (torch.sum(loss_mat * loss_mask, dim=-1)[valid_mask]
                                  / torch.sum(loss_mask, dim=-1)[valid_mask])
        return torch.mean(seq_losses)
    return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1)) / loss_mask.shape[-1]


def siren_update_policy_entropy_term(entropy: torch.Tensor, response_mask: torch.Tensor, anchor: torch.Tensor,
                                     mask_ratio: float, entropy_coeff: float, agg: str) -> torch.Tensor:
    """The 'siren' path of update_policy (use_siren=True): mask once after the forward, again in the branch."""
    masked_entropy, _, _ = siren_mask_by_quantile(entropy, response_mask, 1, mask_ratio)
    entropy = masked_entropy
    _, value_mask, _ = siren_mask_by_quantile(entropy, response_mask, 1, mask_ratio)
    entropy_loss = siren_agg_loss(entropy, value_mask, agg)
    entropy_loss_mse = (entropy_loss - anchor).pow(2).mean()
    return entropy_loss_mse * entropy_coeff


def siren_trainer_anchor(old_entropys: torch.Tensor, response_mask: torch.Tensor, mask_ratio: float,
                         agg: str) -> torch.Tensor:
    """ray_trainer.py at global step 1 (use_siren): one mask_by_quantile, then agg_loss."""
    masked_entropy, value_mask, _ = siren_mask_by_quantile(old_entropys, response_mask, 1, mask_ratio)
    return siren_agg_loss(masked_entropy, value_mask, agg)


def _seq(seed: int, b: int = 4, t: int = 9, pad_zero: bool = True) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    h = rng.gamma(2.0, 0.5, size=(b, t))
    lengths = rng.integers(1, t + 1, size=b)
    m = np.arange(t) < lengths[:, None]
    if pad_zero:
        h = np.where(m, h, 0.0)
    # float32 values (the fork computes the bound in float32 and compares the entropies with it: for float64
    # entropies a value equal to the bound would exceed its float32 rounding — a quirk of the cast, not of SIREN)
    return h.astype(np.float32).astype(np.float64), m


# --------------------------------------------------------------------------- peak_entropy_quantile_mask


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("q", [0.8, 0.5, 0.3, 0.95])
def test_peak_mask_matches_official_mask_by_quantile(seed: int, q: float) -> None:
    h, m = _seq(seed, pad_zero=seed % 2 == 0)
    _, theirs, _ = siren_mask_by_quantile(torch.tensor(h), torch.tensor(m), 1, q)
    ours = R.peak_entropy_quantile_mask(h, m, quantile=q, restrict_to_mask=False)  # the code's unrestricted form
    np.testing.assert_array_equal(ours, theirs.numpy())
    acc = A.peak_entropy_quantile_mask(torch.tensor(h, dtype=torch.float32), torch.tensor(m), quantile=q,
                                       restrict_to_mask=False)
    np.testing.assert_array_equal(acc.numpy(), theirs.numpy())
    np.testing.assert_array_equal(R.peak_entropy_quantile_mask(h, m, quantile=q), theirs.numpy() & m)


def test_peak_mask_double_equals_single_for_nonnegative_entropies() -> None:
    for seed in range(40):
        h, m = _seq(100 + seed, b=3, t=7, pad_zero=False)
        for q in (0.0, 0.25, 0.8, 0.9):
            one = R.peak_entropy_quantile_mask(h, m, quantile=q)
            two = R.peak_entropy_quantile_mask(h, m, quantile=q, double_mask=True)
            np.testing.assert_array_equal(one, two)
            # and the code's literal double application agrees
            m1, _, _ = siren_mask_by_quantile(torch.tensor(h), torch.tensor(m), 1, q)
            _, k2, _ = siren_mask_by_quantile(m1, torch.tensor(m), 1, q)
            np.testing.assert_array_equal(
                R.peak_entropy_quantile_mask(h, m, quantile=q, double_mask=True, restrict_to_mask=False), k2.numpy())


def test_peak_mask_hand_computed() -> None:
    h = np.array([[0.1, 0.5, 0.3, 0.9, 0.2, 0.7]])
    m = np.ones_like(h, dtype=bool)
    # pos = 0.8·5 = 4 → bound = 0.7 (sorted index 4); strict: only 0.9
    np.testing.assert_array_equal(R.peak_entropy_quantile_mask(h, m), [[0, 0, 0, 1, 0, 0]])
    # q = 0.5 → pos 2.5 → bound 0.3 + 0.5·(0.5 − 0.3) = 0.4 → 0.5, 0.9, 0.7
    np.testing.assert_array_equal(R.peak_entropy_quantile_mask(h, m, quantile=0.5), [[0, 1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(R.peak_entropy_quantile_mask(h, m, quantile=1.0), np.zeros_like(m))


# --------------------------------------------------------------------------- siren_entropy_loss


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("agg", ["seq-mean-token-mean", "token-mean", "seq-mean-token-sum"])
def test_siren_loss_and_gradient_match_the_fork(seed: int, agg: str) -> None:
    h, m = _seq(20 + seed, b=5, t=8)
    old, _ = _seq(50 + seed, b=5, t=8)
    old = np.where(m, old, 0.0)
    tm = torch.tensor(m)
    anchor = siren_trainer_anchor(torch.tensor(old), tm, 0.8, agg)
    ours_ref, ours_anchor = R.siren_entropy_loss(h, m, old_entropy=old, coef=0.005, mode=agg)
    assert float(ours_anchor) == pytest.approx(float(anchor), rel=1e-12)
    h1 = torch.tensor(h, requires_grad=True)
    h2 = torch.tensor(h, requires_grad=True)
    theirs = siren_update_policy_entropy_term(h2, tm, anchor, 0.8, 0.005, agg)
    ours, state = A.siren_entropy_loss(h1, tm, old_entropy=torch.tensor(old), coef=0.005, mode=agg)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-12, abs=1e-15)
    assert float(ours_ref) == pytest.approx(float(theirs), rel=1e-12, abs=1e-15)
    theirs.backward()
    ours.backward()
    assert h1.grad is not None and h2.grad is not None
    torch.testing.assert_close(h1.grad, h2.grad, rtol=1e-12, atol=1e-15)
    # later steps: the state passes through unchanged
    again, state2 = A.siren_entropy_loss(torch.tensor(h), tm, anchor=state, coef=0.005, mode=agg)
    assert float(state2) == float(state) and float(again) == pytest.approx(float(theirs.detach()), rel=1e-12, abs=1e-15)


def test_siren_state_and_inputs_are_stop_gradient() -> None:
    h, m = _seq(7)
    anchor = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    old = torch.tensor(h * 0.5, requires_grad=True)
    ent = torch.tensor(h, requires_grad=True)
    loss, _ = A.siren_entropy_loss(ent, torch.tensor(m), anchor=anchor, coef=2.0)
    loss.backward()
    assert anchor.grad is None or float(anchor.grad) == 0.0
    ent2 = torch.tensor(h, requires_grad=True)
    loss2, state = A.siren_entropy_loss(ent2, torch.tensor(m), old_entropy=old)
    loss2.backward()
    assert old.grad is None or bool((old.grad == 0).all())
    assert not state.requires_grad
    # self-anchored: the anchor is detached, so the gradient is 2(H_sel − anchor)·∂H_sel = 0 at the first step
    ent3 = torch.tensor(h, requires_grad=True)
    loss3, _ = A.siren_entropy_loss(ent3, torch.tensor(m), double_mask=False)
    loss3.backward()
    assert float(loss3.detach()) == 0.0 and ent3.grad is not None and bool((ent3.grad == 0).all())


def test_siren_hand_computed_and_empty_rows() -> None:
    h = np.array([[0.1, 0.5, 0.3, 0.9, 0.2, 0.7], [2.0] * 6])
    m = np.ones_like(h, dtype=bool)
    # kept: 0.9 in row 0, nothing in row 1 (all equal); fork: (0.9 + 0)/2; ours-exclude: 0.9
    loss, _ = R.siren_entropy_loss(h, m, anchor=np.array(0.0))
    assert float(loss) == pytest.approx(0.45**2, rel=1e-14)
    loss, _ = R.siren_entropy_loss(h, m, anchor=np.array(0.0), empty_rows="exclude")
    assert float(loss) == pytest.approx(0.81, rel=1e-14)
    kept = np.zeros_like(m)
    kept[0, 3] = True
    theirs = siren_agg_loss(torch.tensor(np.where(kept, h, 0.0)), torch.tensor(kept), "seq-mean-token-mean")
    assert float(theirs) == pytest.approx(0.45, rel=1e-14)


def test_siren_bad_anchor() -> None:
    h, m = _seq(1)
    for mod, conv in ((R, np.asarray), (A, torch.tensor)):
        with pytest.raises(ShapeError):
            mod.siren_entropy_loss(conv(h), conv(m), anchor=conv(np.ones(2)))
        with pytest.raises(DomainError):
            mod.siren_entropy_loss(conv(h), conv(m), anchor=conv(np.array(np.nan)))


# --------------------------------------------------------------------------- transcriptions of the EPO fork


def epo_weight(current_epoch: int, max_epochs: int) -> float:
    """WujiangXu/EPO dp_actor.py _calculate_epoch_based_entropy_weight (commit 5b6fa98)."""
    import math

    if max_epochs <= 0:
        return 1.0
    current_epoch = max(0, min(current_epoch, max_epochs))
    half_epochs = max_epochs // 2
    if current_epoch <= half_epochs:
        if half_epochs == 0:
            return 1.0
        progress = current_epoch / half_epochs
        return 1.0 - 0.2 * (1 - math.exp(-2.0 * progress))
    remaining_epochs = max_epochs - half_epochs
    if remaining_epochs == 0:
        return 0.8
    progress = (current_epoch - half_epochs) / remaining_epochs
    return 0.8 * math.exp(-3.0 * progress)


def epo_generate_entropy_penalty(entropy_history: np.ndarray[Any, Any], entropy: torch.Tensor,
                                 rollout_step: np.ndarray[Any, Any], mask_mode: str, min_ratio: float = 0.8,
                                 max_ratio: float = 1.2, out_range_penalty: float = 0.1) -> torch.Tensor:
    """WujiangXu/EPO dp_actor.py generate_entropy_penalty (commit 5b6fa98), non-empty history branch."""
    avg = torch.tensor(entropy_history[rollout_step.astype(np.int32)], device=entropy.device, dtype=entropy.dtype)
    if mask_mode == "token":
        avg = avg.unsqueeze(-1).expand_as(entropy)
        within = (entropy > avg * min_ratio) & (entropy < avg * max_ratio)
        return torch.where(within, 0, out_range_penalty)
    seq_avg = entropy.mean(dim=-1)
    within = (seq_avg > avg * min_ratio) & (seq_avg < avg * max_ratio)
    return torch.where(within, 0, out_range_penalty).unsqueeze(-1).expand_as(entropy)


def epo_agg_loss(loss_mat: torch.Tensor, loss_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """WujiangXu/EPO verl/trainer/ppo/core_algos.py agg_loss (no empty-row guard; divides by T for sum-norm)."""
    if mode == "token-mean":
        return (loss_mat * loss_mask).sum() / loss_mask.sum()
    if mode == "seq-mean-token-sum":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1))
    if mode == "seq-mean-token-mean":
        return torch.mean(torch.sum(loss_mat * loss_mask, dim=-1) / torch.sum(loss_mask, dim=-1))
    return torch.sum(torch.sum(loss_mat * loss_mask, dim=-1)) / loss_mask.shape[-1]


def epo_update_policy_loss(old: torch.Tensor, lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                           entropy: torch.Tensor, entropy_mask: torch.Tensor | None, *, entropy_coeff: float,
                           entropy_smooth_coeff: float, mode: str, clip_ratio_c: float = 3.0) -> torch.Tensor:
    """compute_policy_loss (core_algos.py) + the policy_loss of update_policy (dp_actor.py), commit 5b6fa98."""
    ratio = torch.exp(lp - old)
    pg_losses1 = -adv * ratio
    pg_losses2 = -adv * torch.clamp(ratio, 1 - 0.2, 1 + 0.2)
    clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
    pg_losses3 = -adv * clip_ratio_c
    clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
    pg_losses = torch.where(adv < 0, clip_pg_losses2, clip_pg_losses1)
    pg_loss = epo_agg_loss(pg_losses, mask, mode)
    entropy_loss = epo_agg_loss(entropy, mask, mode)
    if entropy_mask is not None:
        entropy_loss = entropy_loss - epo_agg_loss(entropy_mask, mask, mode) * entropy_smooth_coeff
    return pg_loss - entropy_loss * entropy_coeff


# --------------------------------------------------------------------------- epo_phase_weight


@pytest.mark.parametrize("max_epochs", [150, 10, 7, 2, 1, 0])
def test_epo_phase_weight_matches_the_fork(max_epochs: int) -> None:
    epochs = np.arange(-3, max_epochs + 4, dtype=np.float64)  # epoch is a float input (integer arrays raise)
    theirs = np.array([epo_weight(int(k), max_epochs) for k in epochs])
    np.testing.assert_allclose(R.epo_phase_weight(epochs, max_epochs=max_epochs), theirs, rtol=1e-15, atol=0)
    acc = A.epo_phase_weight(torch.tensor(epochs, dtype=torch.float64), max_epochs=max_epochs).numpy()
    np.testing.assert_allclose(acc, theirs, rtol=1e-15, atol=1e-16)


def test_epo_phase_weight_jump_values() -> None:
    # the catalogue's numbers: 0.8271 just before / at h = 75, 0.7686 at k = 76 (K = 150)
    w = R.epo_phase_weight(np.array([75.0, 76.0]))
    assert w[0] == pytest.approx(0.8 + 0.2 * np.exp(-2.0), rel=1e-15) and round(float(w[0]), 4) == 0.8271
    assert round(float(w[1]), 4) == 0.7686


# --------------------------------------------------------------------------- epo_entropy_smoothing_penalty


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["token", "seq"])
def test_epo_penalty_matches_the_fork(seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    h = rng.gamma(2.0, 0.5, size=(5, 7))
    hist = rng.uniform(0.5, 1.5, size=4)
    steps = rng.integers(0, 4, size=5)
    m = np.ones((5, 7), dtype=bool)  # the fork's mask covers every position (the loss masks later)
    # torch.where(within, 0, out_range_penalty) makes a float32 mask in the fork (0.1 → 0.10000000149): compare at
    # float32 resolution
    theirs = epo_generate_entropy_penalty(hist, torch.tensor(h), steps, mode).double().numpy()
    ours = R.epo_entropy_smoothing_penalty(h, m, hist, steps, mask_mode=mode)
    np.testing.assert_allclose(ours, theirs, rtol=2e-8, atol=0)
    acc = A.epo_entropy_smoothing_penalty(torch.tensor(h), torch.tensor(m), torch.tensor(hist), torch.tensor(steps),
                                          mask_mode=mode).numpy()
    np.testing.assert_allclose(acc, theirs, rtol=2e-8, atol=0)
    # padding: the fork's value there is dropped by the masked aggregation; ours is 0 at masked tokens
    m2 = m.copy()
    m2[:, 5:] = False
    np.testing.assert_allclose(R.epo_entropy_smoothing_penalty(h, m2, hist, steps, mask_mode=mode),
                               np.where(m2, theirs, 0.0), rtol=2e-8, atol=0)


def test_epo_penalty_errors() -> None:
    h = np.ones((2, 3))
    m = np.ones((2, 3), dtype=bool)
    for mod, conv in ((R, np.asarray), (A, torch.tensor)):
        with pytest.raises(DomainError):
            mod.epo_entropy_smoothing_penalty(conv(h), conv(m), conv(np.ones(2)), conv(np.array([0, 2])))
        with pytest.raises(ShapeError):
            mod.epo_entropy_smoothing_penalty(conv(h), conv(m), conv(np.ones(0)), conv(np.array([0, 0])))
        with pytest.raises(ShapeError):
            mod.epo_entropy_smoothing_penalty(conv(h), conv(m), conv(np.ones(2)), conv(np.array([0, 0, 1])))


# --------------------------------------------------------------------------- epo_policy_loss


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
@pytest.mark.parametrize("smooth", [False, True])
def test_epo_policy_loss_and_gradients_match_the_fork(seed: int, mode: str, smooth: bool) -> None:
    rng = np.random.default_rng(40 + seed)
    b, t = 4, 6
    lp = -rng.random((b, t)) * 3
    old = lp - rng.choice([0.0, 0.1, -0.3, 1.5, -2.0], size=(b, t))  # includes ρ = e² > c = 3
    adv = rng.normal(size=(b, t)) * 1.5
    h = rng.gamma(2.0, 0.5, size=(b, t))
    m = np.arange(t) < rng.integers(1, t + 1, size=b)[:, None]
    hist = rng.uniform(0.5, 1.5, size=3)
    steps = rng.integers(0, 3, size=b)
    pen = epo_generate_entropy_penalty(hist, torch.tensor(h), steps, "token") if smooth else None
    lp1, lp2 = torch.tensor(lp, requires_grad=True), torch.tensor(lp, requires_grad=True)
    h1, h2 = torch.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)
    tm = torch.tensor(m, dtype=torch.float64)
    theirs = epo_update_policy_loss(torch.tensor(old), lp2, torch.tensor(adv), tm, h2, pen, entropy_coeff=0.01,
                                    entropy_smooth_coeff=1.0, mode=mode)
    ours = A.epo_policy_loss(lp1, torch.tensor(old), torch.tensor(adv), torch.tensor(m), h1, penalty=pen,
                             entropy_coeff=0.01, mode=mode)
    ref = R.epo_policy_loss(lp, old, adv, m, h, penalty=None if pen is None else pen.numpy(), entropy_coeff=0.01,
                            mode=mode)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-12)
    assert float(ref) == pytest.approx(float(theirs.detach()), rel=1e-12)
    theirs.backward()
    ours.backward()
    assert lp1.grad is not None and lp2.grad is not None and h1.grad is not None and h2.grad is not None
    torch.testing.assert_close(lp1.grad, lp2.grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(h1.grad, h2.grad, rtol=1e-12, atol=1e-15)


def test_epo_penalty_is_a_constant_in_the_loss() -> None:
    rng = np.random.default_rng(3)
    lp = torch.tensor(-rng.random((2, 4)), requires_grad=True)
    pen = torch.full((2, 4), 0.1, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(rng.random((2, 4)), requires_grad=True)
    loss = A.epo_policy_loss(lp, lp.detach() - 0.1, torch.ones(2, 4, dtype=torch.float64),
                             torch.ones(2, 4, dtype=torch.bool), h, penalty=pen, entropy_coeff=0.5)
    loss.backward()
    assert pen.grad is None or bool((pen.grad == 0).all())
    # the penalty shifts only the value: the gradients with and without it agree
    lp_b = torch.tensor(lp.detach().numpy(), requires_grad=True)
    h_b = torch.tensor(h.detach().numpy(), requires_grad=True)
    loss_b = A.epo_policy_loss(lp_b, lp.detach() - 0.1, torch.ones(2, 4, dtype=torch.float64),
                               torch.ones(2, 4, dtype=torch.bool), h_b, entropy_coeff=0.5)
    loss_b.backward()
    assert lp.grad is not None and h.grad is not None
    torch.testing.assert_close(lp.grad, lp_b.grad)
    torch.testing.assert_close(h.grad, h_b.grad)
    assert float(loss.detach() - loss_b.detach()) == pytest.approx(0.5 * 0.1, rel=1e-12)


def test_rl_step_benchmark_smoke() -> None:
    """benchmarks/rl_step.py runs, and ours agrees with the fork transcriptions (loss and logits gradient)."""
    from benchmarks.rl_step import bench

    rows = bench(256, 512, torch.device("cpu"), repeat=1)
    for name in ("siren", "epo"):
        e = rows["methods"][name]
        assert e["loss_abs_diff"] < 1e-4 and e["grad_max_abs_diff"] < 1e-5, (name, e)
