"""The Torch threshold-search kernels (:mod:`accelerated.decoding._fast`) against the reference and
against the generic array-API code (run on NumPy arrays of the same dtype): ties at every cut,
``-inf`` holes, ``min_tokens_to_keep > 1``, several row chunks, non-contiguous and batched inputs,
exponents in the denormal range, and the float-key bisection itself. No timings are asserted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from accelerated import decoding as A
from accelerated.decoding import _fast
from reference import decoding as R

FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("top_k_filter", {"k": 5}),
    ("top_k_filter", {"k": 5, "ties": "exact"}),
    ("top_k_filter", {"k": 2, "ties": "exact", "min_tokens_to_keep": 7}),
    ("top_p_filter", {"p": 0.9}),
    ("top_p_filter", {"p": 0.3, "min_tokens_to_keep": 6}),
    ("top_p_filter", {"p": 0.0, "min_tokens_to_keep": 3}),
    ("top_p_filter", {"p": 1.0}),
    ("top_p_filter", {"p": 1e-9}),
    ("min_p_filter", {"min_p": 0.05}),
    ("min_p_filter", {"min_p": 0.5, "min_tokens_to_keep": 9}),
    ("min_p_filter", {"min_p": 0.0}),
    ("min_p_filter", {"min_p": 1.0}),
    ("typical_filter", {"mass": 0.9}),
    ("typical_filter", {"mass": 0.2, "min_tokens_to_keep": 5}),
    ("epsilon_filter", {"epsilon": 3e-3}),
    ("epsilon_filter", {"epsilon": 0.2, "min_tokens_to_keep": 4}),
    ("eta_filter", {"epsilon": 3e-3}),
    ("eta_filter", {"epsilon": 0.2, "min_tokens_to_keep": 4}),
    ("top_h_filter", {"alpha": 0.4}),
    ("top_h_filter", {"alpha": 0.7, "criterion": "official", "top_n": 30, "temperature": 0.7}),
    ("top_h_filter", {"alpha": 0.3, "top_n": 8, "min_tokens_to_keep": 12}),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(FILTERS)]


def tied_logits(seed: int, shape: tuple[int, ...], holes: float = 0.1) -> np.ndarray:
    """Logits on a grid of 1/8 (many exact ties, exact in every float dtype) with ``-inf`` holes."""
    rng = np.random.default_rng(seed)
    z = np.round(rng.normal(0.0, 2.0, size=shape) * 8) / 8
    z[rng.random(shape) < holes] = -np.inf
    z[..., 0] = np.where(np.isneginf(z[..., 0]), 0.0, z[..., 0])
    return z


def kept(y: Any) -> np.ndarray:
    y = y.detach().double().numpy() if isinstance(y, torch.Tensor) else np.asarray(y, dtype=np.float64)
    return np.isfinite(y)


@pytest.mark.parametrize(("name", "params"), FILTERS, ids=IDS)
def test_float64_equals_reference_with_ties_and_chunks(name: str, params: dict[str, Any]) -> None:
    # 30 rows of 12000: three row chunks of the 1 MiB buffers
    z = tied_logits(1, (30, 12000))
    got = getattr(A, name)(torch.tensor(z), **params).numpy()
    np.testing.assert_array_equal(got, getattr(R, name)(z, **params))


@pytest.mark.parametrize(("name", "params"), FILTERS, ids=IDS)
@pytest.mark.parametrize("seed", range(3))
def test_small_vocab_float64_equals_reference(name: str, params: dict[str, Any], seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.integers(-6, 7, size=(64, 13)) / 2.0  # dense ties
    z[rng.random(z.shape) < 0.25] = -np.inf
    z[:, 3] = 0.5
    np.testing.assert_array_equal(getattr(A, name)(torch.tensor(z), **params).numpy(),
                                  getattr(R, name)(z, **params))


@pytest.mark.parametrize(("name", "params"), FILTERS, ids=IDS)
def test_float32_equals_generic_code(name: str, params: dict[str, Any]) -> None:
    # the generic array-API code on NumPy float32 decides in float32 too; on these inputs no
    # threshold lies within round-off, so the kept sets are equal
    z = tied_logits(2, (24, 3000)).astype(np.float32)
    fast = getattr(A, name)(torch.tensor(z), **params)
    generic = getattr(A, name)(z, **params)
    assert fast.dtype == torch.float32
    np.testing.assert_array_equal(kept(fast), kept(generic))
    np.testing.assert_array_equal(kept(fast), kept(getattr(R, name)(z.astype(np.float64), **params)))


@pytest.mark.parametrize(("name", "params"), FILTERS, ids=IDS)
def test_batched_and_strided_inputs(name: str, params: dict[str, Any]) -> None:
    z = torch.tensor(tied_logits(3, (3, 4, 2 * 500)))
    strided = z[..., ::2]  # not contiguous
    y = getattr(A, name)(strided, **params)
    ref = getattr(R, name)(strided.numpy(), **params)
    np.testing.assert_array_equal(y.numpy(), ref)
    rows = [getattr(A, name)(strided[i, j:j + 1], **params).numpy() for i in range(3) for j in range(4)]
    np.testing.assert_array_equal(np.concatenate(rows).reshape(ref.shape), ref)  # batch independent


@pytest.mark.parametrize(("name", "params"), FILTERS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_denormal_range_exponents(name: str, params: dict[str, Any], dtype: torch.dtype) -> None:
    # most exponents z - max fall where exp is denormal (float32) or 0: the clamped exponent of the
    # bisection passes must not change a decision
    z = np.concatenate([np.zeros((4, 3)), -90.0 - np.arange(4 * 60).reshape(4, 60) / 16.0,
                        np.full((4, 2), -np.inf), np.full((4, 3), -1.5)], axis=-1)
    y = getattr(A, name)(torch.tensor(z, dtype=dtype), **params)
    np.testing.assert_array_equal(kept(y), kept(getattr(R, name)(z, **params)))


def test_exact_ties_straddle_the_top_p_cut() -> None:
    # 10 tokens tied at 0 (p = 0.1 each): p = 0.35 keeps the first 4 by index, 0.3 the first 3 (the
    # mass before the 4th equals p: not kept, transformers #18976), 0.3 + 1e-9 the first 4
    z = torch.zeros((1, 10), dtype=torch.float64)
    for p, n in ((0.35, 4), (0.25, 3), (0.5, 5), (0.95, 10)):
        got = kept(A.top_p_filter(z, p))[0]
        np.testing.assert_array_equal(got, np.arange(10) < n, err_msg=str(p))
    perm = torch.tensor([[3.0, 0.0, 3.0, 0.0, 3.0, 1.0]])  # mass order: indices 0, 2, 4 (tied), 5, 1, 3
    probs = torch.softmax(perm.double(), -1)[0]
    p = float(probs[0] * 2 + probs[0] / 2)  # inside the tie group at 3.0: keeps 3 of it
    np.testing.assert_array_equal(kept(A.top_p_filter(perm, p))[0], [True, False, True, False, True, False])
    np.testing.assert_array_equal(kept(A.top_p_filter(perm, float(probs[0]) * 1.5))[0],
                                  [True, False, True, False, False, False])


def test_sample_equals_generic_code_and_reference() -> None:
    rng = np.random.default_rng(5)
    z = tied_logits(5, (50, 9000))
    u = rng.random(50)
    u[:3] = [0.0, 1.0 - 2.0**-53, 0.5]
    np.testing.assert_array_equal(A.sample(torch.tensor(z), torch.tensor(u)).numpy(), R.sample(z, u))
    z32, u32 = z.astype(np.float32), np.minimum(u, 1.0 - 2.0**-24).astype(np.float32)
    np.testing.assert_array_equal(A.sample(torch.tensor(z32), torch.tensor(u32)).numpy(), A.sample(z32, u32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_keys_are_ordered_and_invertible(dtype: torch.dtype) -> None:
    fi = torch.finfo(dtype)
    x = torch.tensor([-math_inf(), -fi.max, -1.5, -fi.tiny, -fi.tiny / 4, -0.0, 0.0, fi.tiny / 4, fi.tiny, 1.0,
                      1.0 + fi.eps, fi.max, math_inf()], dtype=dtype)
    k = _fast._to_key(x)
    assert k.dtype == torch.int64
    assert bool((k[1:] >= k[:-1]).all()) and int((k[1:] == k[:-1]).sum()) == 1  # only -0 == +0
    back = _fast._from_key(k, dtype)
    assert torch.equal(back[x != 0], x[x != 0])
    # adjacent floats have adjacent keys
    assert int(_fast._to_key(torch.nextafter(x[2:3], torch.tensor([0.0], dtype=dtype)))[0] - k[2]) == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bisection_finds_the_exact_threshold(dtype: torch.dtype) -> None:
    # kept iff (x - m) - L >= c, the rounded chain the filters use: the search returns the smallest such float
    g = torch.Generator().manual_seed(0)
    m = torch.randn(200, 1, generator=g, dtype=dtype) * 10
    lse = torch.rand(200, 1, generator=g, dtype=dtype) * 5
    c = -3.3

    def pred(x: torch.Tensor) -> torch.Tensor:
        return ~(((x - m) - lse) < c)

    inf = torch.full_like(m, float("inf"))
    t = _fast._smallest(pred, -inf, inf)
    assert bool(pred(t).all())
    below = torch.nextafter(t, -inf)
    assert not bool(pred(below).any())


def math_inf() -> float:
    return float("inf")
