"""Tests of the peers' samplers (``samplers`` group): values from independent computations, parity with a Python
transcription of llama.cpp's C++ (``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd,
transcribed line by line below, float32 where the C++ uses ``float``), torch peers, bad input and stability.

The transcriptions walk llama.cpp's candidate array: a list of ``(id, logit, p)`` entries that samplers sort (by
logit, descending; ``std::partial_sort`` is not stable, so the transcription uses a stable sort and our tie rule, the
lowest index first, and parity is asserted on rows without ties where the order matters), shrink and renormalise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import decoding as A
from reference import decoding as R
from spec.errors import DomainError, ShapeError

NEG = -math.inf
LLAMA_COMMIT = "e19fb5f1a30ce42690ad7093ddbd382ac287c9fd"
F32 = np.float32


def impls() -> list[Any]:
    return [R, A]


def as_torch(z: np.ndarray) -> torch.Tensor:
    return torch.tensor(z, dtype=torch.float64)


def rng_logits(seed: int, shape: tuple[int, ...], *, ties: bool = False, holes: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=shape)
    if ties:
        z = np.round(z * 2.0) / 2.0
    if holes:
        mask = rng.random(shape) < 0.25
        mask[..., 0] = False
        z = np.where(mask, NEG, z)
    return z


# --------------------------------------------------------------------------- llama.cpp transcription (shared)


class Candidates:
    """``llama_token_data_array``: ``data`` is a list of [id, logit, p] (logit/p float32), ``sorted`` a flag."""

    def __init__(self, logits: np.ndarray) -> None:
        self.data = [[i, F32(v), F32(0.0)] for i, v in enumerate(np.asarray(logits, dtype=np.float64))]
        self.sorted = False

    def sort(self) -> None:  # llama_token_data_array_partial_sort_inplace(cur_p, cur_p->size), stable here
        self.data.sort(key=lambda d: -float(d[1]))
        self.sorted = True


def llama_softmax_impl(cur: Candidates, do_sort: bool) -> None:
    """llama_sampler_softmax_impl: optional sort, float32 exp and sum, divide."""
    if do_sort and not cur.sorted:
        cur.sort()
    max_l = cur.data[0][1] if cur.sorted else max(d[1] for d in cur.data)
    cum = F32(0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for d in cur.data:
            d[2] = F32(np.exp(F32(d[1] - max_l)))
            cum = F32(cum + d[2])
        for d in cur.data:
            d[2] = F32(d[2] / cum)


def llama_greedy(logits: np.ndarray) -> int:
    """llama_sampler_greedy_apply on the unsorted candidates (token order)."""
    cur = Candidates(logits)
    selected = 0
    for i in range(1, len(cur.data)):
        if cur.data[i][1] > cur.data[selected][1]:
            selected = i
    return int(cur.data[selected][0])


# --------------------------------------------------------------------------- greedy_decode


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_greedy_hand_values(mod: Any) -> None:
    z = np.array([[0.0, 3.0, -1.0, 3.0], [NEG, -2.0, -1.5, NEG], [5.0, 5.0, 5.0, 5.0]])
    np.testing.assert_array_equal(mod.greedy_decode(z), [1, 2, 0])
    assert np.asarray(mod.greedy_decode(z)).dtype == np.int64


@pytest.mark.parametrize("seed", range(12))
def test_greedy_parity_llama_cpp_and_torch(seed: int) -> None:
    z = rng_logits(seed, (5, 9), ties=seed % 2 == 0, holes=seed % 3 == 0)
    want = [llama_greedy(r) for r in z]
    np.testing.assert_array_equal(R.greedy_decode(z), want)
    np.testing.assert_array_equal(A.greedy_decode(z), want)
    np.testing.assert_array_equal(A.greedy_decode(as_torch(z)).numpy(), want)
    np.testing.assert_array_equal(torch.argmax(as_torch(z), dim=-1).numpy(), want)  # torch: first occurrence


def test_greedy_batch_shapes_and_dtypes() -> None:
    z = rng_logits(3, (2, 3, 7), ties=True)
    want = R.greedy_decode(z)
    assert want.shape == (2, 3)
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        np.testing.assert_array_equal(A.greedy_decode(torch.tensor(z, dtype=dt)).numpy(), want)
    assert A.greedy_decode(torch.zeros((0, 4))).shape == (0,)


def test_greedy_large_magnitudes() -> None:
    z = np.array([[-1e300, -1e301, NEG], [3e38, 3.4e38, -3.4e38]])
    np.testing.assert_array_equal(R.greedy_decode(z), [0, 1])
    np.testing.assert_array_equal(A.greedy_decode(torch.tensor(z[1:], dtype=torch.float32)).numpy(), [1])


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_greedy_errors(mod: Any) -> None:
    with pytest.raises(DomainError, match="'logits'"):
        mod.greedy_decode(np.array([[0.0, math.nan]]))
    with pytest.raises(DomainError, match="'logits'"):
        mod.greedy_decode(np.array([[NEG, NEG]]))
    with pytest.raises(ShapeError, match="'logits'"):
        mod.greedy_decode(np.zeros((2, 0)))
