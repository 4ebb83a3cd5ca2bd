"""``reweighting`` group (Lp-Reg, STEER): hand-derived values and parity with transcriptions of the official
forks' code.

Transcriptions (torch, written here from the code read with the search tool):

- Lp-Reg: CarlanLark/Lp-Reg-dev commit 33b27e273b14f8eeb14c8a52209fca568b4bd718,
  ``verl/workers/actor/dp_actor.py::apply_min_p`` (+ ``logits.div_(temperature)`` and ``logprobs_from_logits``)
  and ``verl/trainer/ppo/core_algos.py::compute_policy_loss_lp_reg`` with its ``kl_penalty`` / ``agg_loss``.
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
