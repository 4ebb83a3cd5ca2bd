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
