"""Every accelerated ``decoding`` function traces with ``torch.compile(fullgraph=True)`` in unchecked
mode (no data-dependent Python branching outside ``checked()`` guards) and matches eager mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import spec.validate
from accelerated import decoding as A

G = torch.Generator().manual_seed(0)
Z = torch.randn(3, 7, generator=G) * 2.0
Z[1, 2] = -float("inf")
U = torch.rand(3, generator=G)

CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("temperature_scale", (Z, 0.7), {}),
    ("top_k_filter", (Z, 3), {"min_tokens_to_keep": 2}),
    ("top_k_filter", (Z, 3), {"ties": "exact"}),
    ("top_p_filter", (Z, 0.6), {}),
    ("top_p_filter", (Z, 0.0), {"min_tokens_to_keep": 2}),
    ("min_p_filter", (Z, 0.2), {}),
    ("typical_filter", (Z, 0.8), {}),
    ("epsilon_filter", (Z, 0.1), {}),
    ("eta_filter", (Z, 0.1), {}),
    ("top_h_filter", (Z, 0.5), {}),
    ("top_h_filter", (Z, 0.5), {"criterion": "official", "top_n": 4, "temperature": 0.5}),
    ("sample", (Z, U), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)])
def test_fullgraph_compile_matches_eager(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    fn: Callable[..., Any] = getattr(A, name)
    torch._dynamo.reset()
    with spec.validate.unchecked():
        compiled = torch.compile(fn, fullgraph=True, backend="eager")
        got = compiled(*args, **kwargs)
        want = fn(*args, **kwargs)
    assert got.dtype == want.dtype
    assert torch.equal(got, want), f"{name}: compiled {got} != eager {want}"
