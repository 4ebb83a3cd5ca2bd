"""Tests of the Torch fast-path kernels in :mod:`accelerated.torch_fast`.

Every value is compared with an independent float64 computation (NumPy/SciPy on the inputs after
rounding to the tested dtype), never with the kernels themselves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch
from torch.profiler import ProfilerActivity, profile

from accelerated import torch_fast
from accelerated.torch_fast import dot_rows, entropy_rows, logsumexp_rows

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
# float64 formula vs kernel: bf16/fp16 inputs are exact in float32, so every dtype but float64 gets float32 accuracy
TOL = {torch.float64: 1e-12, torch.float32: 3e-6, torch.bfloat16: 3e-6, torch.float16: 3e-6}
NEG_INF = float("-inf")


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _logits(shape: tuple[int, ...], dtype: torch.dtype, *, seed: int = 0, scale: float = 3.0, neg_inf: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    if neg_inf and z.numel():
        drop = torch.rand(shape, generator=g) < neg_inf
        if shape[-1]:
            drop[..., 0] = False  # keep one finite entry per row
        z = z.masked_fill(drop, NEG_INF)
    return z.to(dtype)


def _np(z: torch.Tensor) -> np.ndarray:
    return z.detach().to(torch.float64).numpy()


def _ref_lse(z: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    return scipy.special.logsumexp(_np(z) / temperature, axis=-1)


def _ref_entropy(z: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    p = scipy.special.softmax(_np(z) / temperature, axis=-1)
    return scipy.special.entr(p).sum(-1)  # entr(0) = 0


def _close(got: torch.Tensor, want: np.ndarray, tol: float) -> None:
    g = got.detach().to(torch.float64).numpy()
    assert g.shape == want.shape
    np.testing.assert_allclose(g, want, rtol=tol, atol=tol)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [1.0, 0.7, 2.5])
@pytest.mark.parametrize("shape", [(7, 50), (3, 4, 33), (1000, 333), (5,)])
def test_values_match_float64_formula(dtype: torch.dtype, temperature: float, shape: tuple[int, ...]) -> None:
    z = _logits(shape, dtype, seed=len(shape) + shape[-1], neg_inf=0.1)
    h, lse = entropy_rows(z, temperature), logsumexp_rows(z, temperature)
    assert h.dtype == lse.dtype == _acc(dtype)
    assert h.shape == lse.shape == z.shape[:-1]
    _close(lse, _ref_lse(z, temperature), TOL[dtype])
    _close(h, _ref_entropy(z, temperature), TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype) -> None:
    # a tiny chunk budget forces many chunks and a short last one (1003 rows, 6 or 3 rows a chunk)
    monkeypatch.setattr(torch_fast, "_CPU_CHUNK_BYTES", 256)
    z = _logits((1003, 10), dtype, seed=5, neg_inf=0.2)
    rows = torch_fast._chunk_rows(1003, 10, dtype, z.device)
    assert 1 < rows < 1003 and 1003 % rows != 0
    _close(entropy_rows(z), _ref_entropy(z), TOL[dtype])
    _close(logsumexp_rows(z, 0.5), _ref_lse(z, 0.5), TOL[dtype])
    a, b = _logits((1003, 10), dtype, seed=6), _logits((1003, 10), dtype, seed=7)
    _close(dot_rows(a, b), (_np(a) * _np(b)).sum(-1), TOL[dtype])


def test_chunk_rows_bounds_memory() -> None:
    cpu = torch.device("cpu")
    rows = torch_fast._chunk_rows(4096, 32768, torch.float32, cpu)
    assert 2 * rows * 32768 * 4 <= 4096 * 32768 * 4 / 8
    assert torch_fast._chunk_rows(3, 5, torch.float32, cpu) == 3  # small problem: one chunk
    assert torch_fast._chunk_rows(64, 1 << 20, torch.float32, cpu) == 1  # huge rows: one row at a time
    cuda = torch.device("cuda")
    for n in (64, 4096, 100_000):
        r = torch_fast._chunk_rows(n, 32768, torch.float32, cuda)
        assert r >= 1 and (2 * r <= n // 8 or n * 32768 * 4 <= torch_fast._CUDA_CHUNK_BYTES)


def test_no_full_size_temporaries() -> None:
    z = _logits((2048, 1024), torch.float32, seed=1)
    for fn in (entropy_rows, logsumexp_rows, lambda x: dot_rows(x, x)):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn(z)
        events = sorted((e for e in prof.events() if e.cpu_memory_usage != 0), key=lambda e: e.time_range.start)
        live = peak = 0
        for e in events:
            live += e.cpu_memory_usage
            peak = max(peak, live)
        assert 0 < peak <= z.numel() * z.element_size() / 8, peak


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("dtype", DTYPES)
def test_neg_inf_entries(dtype: torch.dtype) -> None:
    z = torch.tensor(
        [
            [0.0, NEG_INF, NEG_INF, NEG_INF],  # one finite entry: H = 0, lse = 0
            [1.0, 1.0, NEG_INF, NEG_INF],  # two equal: H = log 2
            [NEG_INF, 2.0, NEG_INF, -3.0],
        ],
        dtype=dtype,
    )
    h, lse = entropy_rows(z), logsumexp_rows(z)
    assert torch.isfinite(h).all() and torch.isfinite(lse).all()
    assert abs(float(h[0])) <= 1e-30
    assert math.isclose(float(h[1]), math.log(2.0), rel_tol=1e-6)
    assert math.isclose(float(lse[1]), 1.0 + math.log(2.0), rel_tol=1e-6)
    _close(h, _ref_entropy(z), TOL[dtype])
    _close(lse, _ref_lse(z), TOL[dtype])


def test_all_neg_inf_row() -> None:
    z = torch.tensor([[NEG_INF, NEG_INF], [0.0, 0.0]])
    lse = logsumexp_rows(z)
    assert lse[0] == NEG_INF and math.isclose(float(lse[1]), math.log(2.0), rel_tol=1e-6)
    h = entropy_rows(z)
    assert torch.isnan(h[0]) and math.isclose(float(h[1]), math.log(2.0), rel_tol=1e-6)  # documented


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_large_magnitudes_and_peaked_rows(dtype: torch.dtype) -> None:
    base = _logits((16, 200), torch.float64, seed=3)
    z = base.clone()
    z[:, 0] += 400.0  # very peaked: all other entries below max − 300 (exp far below denormals)
    shifted = (base + 1e4).to(dtype)
    for x in (z.to(dtype), shifted):
        _close(entropy_rows(x), _ref_entropy(x), TOL[dtype])
        _close(logsumexp_rows(x), _ref_lse(x), TOL[dtype])  # relative: ~1e4·eps for the shifted rows
    h = entropy_rows(z.to(dtype))
    assert (h >= 0).all() and (h < 1e-30).all()
    # shift invariance of the entropy (float32: the shifted logits are rounded, compare loosely)
    np.testing.assert_allclose(
        _np(entropy_rows(shifted)), _ref_entropy(base), atol=5e-3 if dtype == torch.float32 else 1e-9
    )


def test_exponents_in_denormal_range() -> None:
    # entries 88..104 below the max would make exp produce denormals; the clamp keeps values right
    z = torch.zeros(4, 64, dtype=torch.float32)
    z[:, 1:] = -torch.linspace(88.0, 104.0, 63)
    _close(entropy_rows(z), _ref_entropy(z), 1e-6)
    _close(logsumexp_rows(z), _ref_lse(z), 1e-6)


@pytest.mark.parametrize("shape", [(0, 5), (3, 0, 7), (2, 0, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_size_batch(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    z = torch.zeros(shape, dtype=dtype)
    for out in (entropy_rows(z), logsumexp_rows(z, 0.5), dot_rows(z, z)):
        assert out.shape == shape[:-1] and out.numel() == 0 and out.dtype == _acc(dtype)


def test_empty_vocabulary_axis() -> None:
    z = torch.zeros((3, 0))
    assert (logsumexp_rows(z) == NEG_INF).all() and torch.isnan(entropy_rows(z)).all()
    assert (dot_rows(z, z) == 0).all()


def test_nan_and_pos_inf_propagate() -> None:
    # the caller (accelerated.categorical) detects invalid input from a non-finite row result
    z = torch.zeros((3, 6), dtype=torch.float32)
    z[0, 2] = float("nan")
    z[1, 4] = float("inf")
    for out in (entropy_rows(z), logsumexp_rows(z)):
        assert not torch.isfinite(out[:2]).any() and torch.isfinite(out[2])


def test_non_viewable_and_strided_inputs() -> None:
    base = _logits((3, 5, 41), torch.float32, seed=9, neg_inf=0.1)
    for z in (base[:, :-1, :], base[..., ::2], base.transpose(0, 1)):
        _close(entropy_rows(z), _ref_entropy(z), 3e-6)
        _close(logsumexp_rows(z, 1.3), _ref_lse(z, 1.3), 3e-6)
        _close(
            dot_rows(z.nan_to_num(neginf=-1.0), z.nan_to_num(neginf=-1.0)),
            (_np(z.nan_to_num(neginf=-1.0)) ** 2).sum(-1),
            3e-6,
        )


def test_input_is_not_modified() -> None:
    z = _logits((20, 30), torch.bfloat16, seed=2, neg_inf=0.1)
    before = z.clone()
    entropy_rows(z, 0.5)
    logsumexp_rows(z)
    dot_rows(z, z)
    assert torch.equal(z, before)


# --------------------------------------------------------------------------- dot_rows


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", [torch.float32, torch.bfloat16, torch.float64])
def test_dot_rows_dtypes(da: torch.dtype, db: torch.dtype) -> None:
    a, b = _logits((4, 6, 37), da, seed=11), _logits((4, 6, 37), db, seed=12)
    out = dot_rows(a, b)
    want_dt = torch.float64 if torch.float64 in (da, db) else torch.float32
    assert out.dtype == want_dt and out.shape == (4, 6)
    _close(out, (_np(a) * _np(b)).sum(-1), 1e-12 if want_dt == torch.float64 else 5e-6 * 37)


def test_dot_rows_broadcasting() -> None:
    a, b = _logits((5, 8), torch.float32, seed=1), _logits((8,), torch.float32, seed=2)
    _close(dot_rows(a, b), _np(a) @ _np(b), 1e-5)


# --------------------------------------------------------------------------- autograd


def _grad_entropy(z: torch.Tensor, temperature: float) -> np.ndarray:
    x = _np(z) / temperature
    p = scipy.special.softmax(x, axis=-1)
    logp = np.where(p > 0, scipy.special.log_softmax(x, axis=-1), 0.0)
    h = -(p * logp).sum(-1, keepdims=True)
    return -p * (logp + h) / temperature


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_gradients_match_closed_form(temperature: float) -> None:
    z = _logits((4, 3, 9), torch.float64, seed=4, neg_inf=0.2).requires_grad_(True)
    w = torch.randn(4, 3, dtype=torch.float64)
    (g_h,) = torch.autograd.grad((entropy_rows(z, temperature) * w).sum(), z)
    (g_l,) = torch.autograd.grad((logsumexp_rows(z, temperature) * w).sum(), z)
    assert torch.isfinite(g_h).all() and torch.isfinite(g_l).all()
    wn = w.numpy()[..., None]
    np.testing.assert_allclose(g_h.numpy(), wn * _grad_entropy(z, temperature), atol=1e-12)
    p = scipy.special.softmax(_np(z) / temperature, axis=-1)
    np.testing.assert_allclose(g_l.numpy(), wn * p / temperature, atol=1e-12)
    assert (g_h[torch.isinf(z)] == 0).all()


def test_gradcheck_and_peer_autograd() -> None:
    z = _logits((3, 6), torch.float64, seed=8).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: entropy_rows(t, 0.8), (z,))
    assert torch.autograd.gradcheck(lambda t: logsumexp_rows(t, 1.7), (z,))
    b = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(dot_rows, (z, b))
    # same gradient as autograd through the plain peer formula torch.distributions.Categorical
    (g1,) = torch.autograd.grad(entropy_rows(z).sum(), z)
    (g2,) = torch.autograd.grad(torch.distributions.Categorical(logits=z).entropy().sum(), z)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_low_precision_autograd(dtype: torch.dtype) -> None:
    z = _logits((5, 40), dtype, seed=10).requires_grad_(True)
    h = entropy_rows(z)
    assert h.dtype == torch.float32 and h.requires_grad
    h.sum().backward()
    assert z.grad is not None and z.grad.dtype == dtype
    want = _grad_entropy(z, 1.0)
    np.testing.assert_allclose(z.grad.to(torch.float64).numpy(), want, atol=2e-2 if dtype != torch.float32 else 1e-5)
    _close(h, _ref_entropy(z), 3e-6)


def test_no_grad_path_result_does_not_require_grad() -> None:
    z = _logits((5, 40), torch.float32, seed=10).requires_grad_(True)
    with torch.no_grad():
        h = entropy_rows(z)
    assert not h.requires_grad
    _close(h, _ref_entropy(z), 3e-6)


# --------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_matches_float64(dtype: torch.dtype) -> None:
    z = _logits((300, 5000), dtype, seed=13, neg_inf=0.1)
    zc = z.cuda()
    _close(entropy_rows(zc, 0.8).cpu(), _ref_entropy(z, 0.8), TOL[dtype])
    _close(logsumexp_rows(zc).cpu(), _ref_lse(z), TOL[dtype])
    a = z.nan_to_num(neginf=0.0)
    _close(dot_rows(a.cuda(), a.cuda()).cpu(), (_np(a) ** 2).sum(-1), 1e-12 if dtype == torch.float64 else 1e-4)
