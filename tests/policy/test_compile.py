"""Every accelerated ``policy`` function traces with ``torch.compile(fullgraph=True)`` in unchecked mode
(no host sync, no data-dependent Python branch) and gives the eager result on small float32 inputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import spec.validate
from accelerated import policy as A


def _calls() -> dict[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
    rng = np.random.default_rng(0)
    f32 = torch.float32
    lp = torch.tensor(-rng.random((3, 5)) * 3, dtype=f32)
    old = lp - torch.tensor(rng.choice([0.0, 0.25, -0.25, 0.5, -2.0], size=(3, 5)), dtype=f32)
    adv = torch.tensor(rng.normal(size=(3, 5)), dtype=f32)
    m = torch.tensor(rng.random((3, 5)) < 0.7)
    m[1] = False
    pri = torch.tensor(rng.random((3, 5)), dtype=f32)
    rewards = torch.tensor(rng.choice([0.0, 1.0, 0.5], size=9), dtype=f32)
    groups = torch.tensor([0, 0, 1, 2, 2, 2, 5, 1, 7])
    return {
        "aggregate": (A.aggregate, (adv, m, "seq-mean-token-mean"), {}),
        "ppo_clip_loss": (A.ppo_clip_loss, (lp, old, adv, m), {"dual_clip": 2.0}),
        "kl_penalty": (A.kl_penalty, (lp, old, "k3"), {}),
        "group_advantages": (A.group_advantages, (rewards, groups), {}),
        "clip_cov_loss": (A.clip_cov_loss, (lp, old, adv, m, pri), {"clip_ratio": 0.3, "cov_low": -0.5}),
        "kl_cov_loss": (A.kl_cov_loss, (lp, old, adv, m), {"k_percent": 40.0}),
    }


@pytest.mark.parametrize("method_id", ["aggregate", "ppo_clip_loss", "kl_penalty", "group_advantages",
                                       "clip_cov_loss", "kl_cov_loss"])
@pytest.mark.parametrize("mode", ["token-mean", "none"])
def test_compiles_fullgraph_and_matches_eager(method_id: str, mode: str) -> None:
    fn, args, kwargs = _calls()[method_id]
    if mode == "none" and method_id not in ("ppo_clip_loss", "clip_cov_loss", "kl_cov_loss"):
        pytest.skip("no per-token mode")
    if method_id in ("ppo_clip_loss", "clip_cov_loss", "kl_cov_loss"):
        kwargs = {**kwargs, "mode": mode}
    eager = fn(*args, **kwargs)
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="eager")
    with spec.validate.unchecked(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = compiled(*args, **kwargs)
    assert out.dtype == eager.dtype
    torch.testing.assert_close(out, eager, rtol=0, atol=0)
