"""Every accelerated ``categorical`` function traces with ``torch.compile(fullgraph=True)`` in unchecked
mode (no data-dependent Python branching, no host sync) and gives the eager result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import accelerated.categorical as A
from spec.validate import checked, unchecked

RNG = np.random.default_rng(7)
P = torch.tensor(RNG.dirichlet(np.ones(6), size=(2, 3)), dtype=torch.float32)
Q = torch.tensor(RNG.dirichlet(np.ones(6), size=(2, 3)), dtype=torch.float32)
Z = torch.tensor(RNG.normal(0.0, 2.0, size=(2, 3, 6)), dtype=torch.float32)
Z2 = torch.tensor(RNG.normal(0.0, 2.0, size=(2, 3, 6)), dtype=torch.float32)
Y = torch.tensor([[0, 5, -100], [2, 2, 1]])
W = torch.tensor([0.5, 1.0, 0.0, 2.0, 1.0, 0.25])

CASES: dict[str, Callable[[], Any]] = {
    "entropy": lambda: A.entropy(P, base=2.0),
    "entropy_from_logits": lambda: A.entropy_from_logits(Z, temperature=0.7),
    "renyi_entropy": lambda: A.renyi_entropy(P, 0.5),
    "tsallis_entropy": lambda: A.tsallis_entropy(P, 2.0),
    "top_p_renormalized_entropy": lambda: A.top_p_renormalized_entropy(Z, 0.8, k=4),
    "kl_divergence": lambda: A.kl_divergence(P, Q),
    "kl_divergence_from_logits": lambda: A.kl_divergence_from_logits(Z, Z2),
    "js_divergence": lambda: A.js_divergence(P, Q, base=2.0),
    "cross_entropy": lambda: A.cross_entropy(Z, Y, weight=W, label_smoothing=0.1),
    "cross_entropy_soft": lambda: A.cross_entropy(Z, P, reduction="none"),
    "cross_entropy_plain": lambda: A.cross_entropy(Z, Y, reduction="sum"),
    # membership group (the group's own compile cases: tests/categorical/test_membership.py)
    "token_self_information": lambda: A.token_self_information(Z, Y, base=2.0),
    "min_k_prob": lambda: A.min_k_prob(torch.log(P[..., 0]), mask=Y != -100, ratio=0.5),
    "min_k_plus_plus": lambda: A.min_k_plus_plus(Z, Y, negate=True),
    "dc_pdd_score": lambda: A.dc_pdd_score(torch.log(P[..., 0]), Y, W, a=0.5),
    # plugin group (its own compile cases: tests/categorical/test_plugin.py)
    "plugin_entropy_log2": lambda: A.plugin_entropy_log2(P, eps=1e-3),
    "hellinger_distance": lambda: A.hellinger_distance(P, Q),
    "plugin_mutual_information_categorical": lambda: A.plugin_mutual_information_categorical(P, base=2.0),
    "jensen_shannon_groups": lambda: A.jensen_shannon_groups(P, weights="size"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiles_fullgraph_unchecked(name: str) -> None:
    fn = CASES[name]
    eager = fn()
    torch._dynamo.reset()
    with unchecked():
        assert not checked()
        compiled = torch.compile(fn, fullgraph=True, backend="eager")()
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)


def test_every_method_is_compiled() -> None:
    from spec.registry import all_specs

    ids = {s.id for s in all_specs() if s.family == "categorical"}
    assert ids <= {n.removesuffix("_soft").removesuffix("_plain") for n in CASES}
