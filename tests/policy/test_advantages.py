"""``advantages`` group (group_advantages): hand-computed values, verl's GRPO code, extremes, and the
loop-free accelerated reduction."""

from __future__ import annotations

import math

import numpy as np
import policy_peers  # tests/policy/policy_peers.py, on sys.path via tests/conftest.py
import pytest
import torch

from accelerated import policy as A
from reference import policy as R

_P = policy_peers
_t = _P._t
verl_grpo = _P.verl_grpo
MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


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



@pytest.mark.parametrize("norm", [True, False])
def test_group_advantages_torch_matches_verl(norm: bool) -> None:
    rng = np.random.default_rng(5)
    r = rng.choice([0.0, 1.0], size=64)
    g = np.repeat(np.arange(16), 4)[rng.permutation(64)]
    g[:3] = [100, 101, 102]  # singletons
    ours = A.group_advantages(torch.tensor(r), torch.tensor(g), scale="std" if norm else "none")
    theirs = verl_grpo(torch.tensor(r), g, 1e-6, norm)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)




def test_group_advantages_at_scale() -> None:
    """40 000 responses in 5 000 shuffled groups. That the code is loop-free is proven structurally by
    tests/test_compile.py (a Python loop over a data-dependent number of groups cannot be captured as
    one graph), not by a wall-clock limit (machines are noisy)."""
    rng = np.random.default_rng(5)
    n = 40_000
    r = torch.tensor(rng.choice([0.0, 1.0], size=n), dtype=torch.float32)
    g = torch.tensor(rng.permutation(np.repeat(np.arange(n // 8), 8)))
    a = A.group_advantages(r, g)
    sums = torch.zeros(n // 8, dtype=torch.float64).index_add_(0, g, a.double())
    assert float(sums.abs().max()) < 1e-4  # Σ A = 0 per group




def test_group_advantages_extremes() -> None:
    # huge and tiny rewards, negative/huge group ids, eps = 0 with constant groups
    r = np.array([1e12, 1e12 + 2**20, 3e-300, 3e-300, 5.0, -5.0, 7.0])
    g = np.array([-(2**62), -(2**62), 2**62, 2**62, 0, 0, 3])
    for eps in (0.0, 1e-6, 1.0):
        ref = R.group_advantages(r, g, eps=eps)
        got = A.group_advantages(torch.tensor(r), torch.tensor(g), eps=eps)
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-12)
        assert ref[2] == 0.0 and ref[3] == 0.0  # constant group, even with eps = 0
    bf = A.group_advantages(torch.tensor([0.1, 0.1, 0.1, 1.0, 0.0], dtype=torch.bfloat16),
                            torch.tensor([1, 1, 1, 2, 2]))
    assert bf.dtype == torch.bfloat16
    assert torch.all(bf[:3] == 0)  # float32 rounding noise of a constant group does not leak through eps


def test_group_advantages_large_n_many_groups() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    r = rng.choice([0.0, 1.0], size=n) + rng.normal(size=n) * 1e-3
    g = rng.integers(0, n // 4, size=n)
    got = A.group_advantages(torch.tensor(r, dtype=torch.float32), torch.tensor(g))
    ref = R.group_advantages(r.astype(np.float32).astype(np.float64), g)
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-4, atol=1e-4)


