"""The chunked custom backward of ``entropy_from_logits`` and ``cross_entropy`` (Torch, class indices).

Gradients are compared with independent computations: the closed forms evaluated in float64 with
SciPy, ``torch.autograd.gradcheck`` (central differences in float64), and autograd through the eager
materialised formula (``torch.nn.functional.cross_entropy`` / ``torch.distributions.Categorical``).
Memory is measured with the Torch profiler: the backward keeps no ``(N, V)`` temporary besides the
gradient itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.special
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from accelerated import torch_fast
from accelerated.categorical import cross_entropy, entropy_from_logits
from spec.validate import unchecked

LOW = [torch.bfloat16, torch.float16]


def _z(shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _entropy_grad(z: np.ndarray, t: float) -> np.ndarray:
    """dH/dz = −p (log p + H) / T for p = softmax(z / T) (float64 closed form)."""
    logp = scipy.special.log_softmax(z / t, axis=-1)
    p = np.exp(logp)
    logp = np.where(p > 0, logp, 0.0)
    h = -(p * logp).sum(-1, keepdims=True)
    return -p * (logp + h) / t


def _grad(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, cot: torch.Tensor | None = None) -> torch.Tensor:
    x = z.detach().clone().requires_grad_(True)
    out = fn(x)
    c = torch.ones_like(out) if cot is None else cot.to(out.dtype)
    (g,) = torch.autograd.grad((out * c).sum(), x)
    return g


def _uses_chunked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = torch_fast._chunked_grad

    def spy(*args: Any, **kw: Any) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(torch_fast, "_chunked_grad", spy)
    return calls


# --------------------------------------------------------------------------- entropy


@pytest.mark.parametrize("temperature", [1.0, 0.3, 2.5])
@pytest.mark.parametrize("shape", [(13, 40), (3, 5, 17)])
def test_entropy_gradient_closed_form(monkeypatch: pytest.MonkeyPatch, temperature: float,
                                      shape: tuple[int, ...]) -> None:
    calls = _uses_chunked(monkeypatch)
    z = _z(shape, torch.float64, seed=len(shape))
    cot = torch.randn(shape[:-1], dtype=torch.float64)
    g = _grad(lambda x: entropy_from_logits(x, temperature=temperature), z, cot)
    assert calls, "the chunked backward was not used"
    want = cot.numpy()[..., None] * _entropy_grad(z.numpy(), temperature)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [*LOW, torch.float32])
def test_entropy_low_precision_accumulates_in_float32(dtype: torch.dtype) -> None:
    z = _z((64, 300), dtype, seed=3)
    g = _grad(entropy_from_logits, z)
    assert g.dtype == dtype
    want = _entropy_grad(z.to(torch.float64).numpy(), 1.0)  # the exact gradient at the rounded inputs
    # one rounding of the float32-accumulated gradient to the input dtype
    rel = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11, torch.float32: 1e-6}[dtype]
    np.testing.assert_allclose(g.to(torch.float64).numpy(), want, rtol=rel, atol=rel * np.abs(want).max() * 1e-2 + 1e-7)


def test_entropy_gradcheck_and_peer() -> None:
    z = _z((4, 7), torch.float64, seed=5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: entropy_from_logits(t, temperature=0.7), (z,))
    g1 = _grad(entropy_from_logits, z)
    g2 = _grad(lambda x: torch.distributions.Categorical(logits=x).entropy(), z)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)


def test_entropy_neg_inf_entries_get_exact_zero_gradient() -> None:
    z = _z((6, 9), torch.float32, seed=6)
    z[:, 2] = -math.inf
    z[1, 5:] = -math.inf
    g = _grad(entropy_from_logits, z)
    assert bool(torch.isfinite(g).all()) and bool((g[torch.isinf(z)] == 0).all())
    zf = z.to(torch.float64).numpy()
    np.testing.assert_allclose(g.double().numpy(), _entropy_grad(zf, 1.0), atol=2e-6)


# --------------------------------------------------------------------------- cross-entropy


CE_CASES = [
    dict(weight=False, label_smoothing=0.0, reduction="mean"),
    dict(weight=True, label_smoothing=0.0, reduction="mean"),
    dict(weight=False, label_smoothing=0.2, reduction="sum"),
    dict(weight=True, label_smoothing=0.2, reduction="mean"),
    dict(weight=True, label_smoothing=0.1, reduction="none"),
]


def _ce_inputs(n: int, v: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, v, (n,), generator=g)
    y[::5] = -100  # ignored rows
    w = torch.rand(v, generator=g, dtype=torch.float64) + 0.1
    w[1] = 0.0
    return _z((n, v), torch.float64, seed=seed), y, w


@pytest.mark.parametrize("case", CE_CASES, ids=[str(c) for c in CE_CASES])
def test_cross_entropy_gradient_matches_eager_torch(monkeypatch: pytest.MonkeyPatch, case: dict[str, Any]) -> None:
    calls = _uses_chunked(monkeypatch)
    z, y, w = _ce_inputs(41, 23, seed=7)
    kw: dict[str, Any] = dict(label_smoothing=case["label_smoothing"], reduction=case["reduction"],
                              weight=w if case["weight"] else None)
    cot = torch.randn(41, dtype=torch.float64) if case["reduction"] == "none" else None
    g1 = _grad(lambda x: cross_entropy(x, y, **kw), z, cot)
    assert calls, "the chunked backward was not used"
    g2 = _grad(lambda x: F.cross_entropy(x, y, **kw), z, cot)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-15)
    assert bool((g1[::5] == 0).all())  # ignored rows


def test_cross_entropy_gradcheck() -> None:
    z, y, w = _ce_inputs(6, 5, seed=8)
    x = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: cross_entropy(t, y, weight=w, label_smoothing=0.3), (x,))
    assert torch.autograd.gradcheck(lambda t: cross_entropy(t, y, reduction="none"), (x,))


@pytest.mark.parametrize("dtype", LOW)
def test_cross_entropy_low_precision(dtype: torch.dtype) -> None:
    z, y, w = _ce_inputs(50, 200, seed=9)
    zl = z.to(dtype)
    g = _grad(lambda x: cross_entropy(x, y, weight=w.float(), label_smoothing=0.1), zl)
    assert g.dtype == dtype
    # the exact (float64) gradient at the rounded inputs, rounded once to the input dtype
    want = _grad(lambda x: F.cross_entropy(x, y, weight=w, label_smoothing=0.1), zl.to(torch.float64))
    rel = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}[dtype]
    np.testing.assert_allclose(g.double().numpy(), want.numpy(), rtol=rel, atol=1e-7)


def test_cross_entropy_neg_inf_logits() -> None:
    z = torch.tensor([[0.0, -math.inf, 1.0, 2.0], [1.0, 2.0, -math.inf, 0.5]], dtype=torch.float32)
    g = _grad(lambda x: cross_entropy(x, torch.tensor([2, 0])), z)
    assert bool(torch.isfinite(g).all()) and float(g[0, 1]) == 0.0 and float(g[1, 2]) == 0.0
    zf = z.masked_fill(torch.isinf(z), -1e4).double()  # same softmax to far below float32 resolution
    want = _grad(lambda x: F.cross_entropy(x, torch.tensor([2, 0])), zf)
    torch.testing.assert_close(g.double(), want, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- chunking and memory


@pytest.mark.parametrize("fn", ["entropy", "ce"])
def test_many_chunks_and_non_viewable_rows(monkeypatch: pytest.MonkeyPatch, fn: str) -> None:
    monkeypatch.setattr(torch_fast, "_CPU_CHUNK_BYTES", 256)  # a few rows per chunk, a short last chunk
    big = _z((4, 53, 11), torch.float64, seed=10)
    z = big[:, :-2, :]  # rows not jointly viewable as (N, V)
    assert torch_fast._as_rows(z) is None
    y = torch.randint(0, 11, z.shape[:-1], generator=torch.Generator().manual_seed(1))
    if fn == "entropy":
        g = _grad(lambda x: entropy_from_logits(x, temperature=0.9), z)
        want = _entropy_grad(z.numpy(), 0.9)
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-10, atol=1e-13)
    else:
        g = _grad(lambda x: cross_entropy(x, y, label_smoothing=0.1), z)
        want_t = _grad(lambda x: F.cross_entropy(x.reshape(-1, 11), y.reshape(-1), label_smoothing=0.1), z)
        torch.testing.assert_close(g, want_t, rtol=1e-12, atol=1e-15)


def _fwd_bwd_peak(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> int:
    x = z.detach().clone().requires_grad_(True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(x).sum().backward()  # forward (what it saves) and backward (its temporaries and x.grad)
    # leaf events only: an op's event also reports the allocations of the ops it calls
    events = sorted((e for e in prof.events() if e.cpu_memory_usage != 0 and not e.cpu_children),
                    key=lambda e: e.time_range.start)
    live = peak = 0
    for e in events:
        live += e.cpu_memory_usage
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize("name", ["entropy", "ce", "ce_smooth_weight"])
def test_backward_peak_memory_is_gradient_plus_chunks(name: str) -> None:
    z = _z((2048, 1024), torch.float32, seed=11)
    nbytes = z.numel() * z.element_size()
    y = torch.randint(0, 1024, (2048,), generator=torch.Generator().manual_seed(2))
    w = torch.rand(1024)
    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "entropy": entropy_from_logits,
        "ce": lambda x: cross_entropy(x, y),
        "ce_smooth_weight": lambda x: cross_entropy(x, y, weight=w, label_smoothing=0.1),
    }
    peak = _fwd_bwd_peak(fns[name], z)
    assert 0.99 * nbytes <= peak <= nbytes * (1 + 1 / 8), peak / nbytes  # the gradient + O(C·V)
    # the eager materialised formula needs at least one more (N, V) tensor (a sanity check of the measure)
    eager = _fwd_bwd_peak(lambda x: F.cross_entropy(x, y), z)
    assert eager >= 1.9 * nbytes


# --------------------------------------------------------------------------- torch.compile


def _both(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return entropy_from_logits(x).sum() + cross_entropy(x, y, label_smoothing=0.1)


@pytest.mark.parametrize("chunked", [False, True])
def test_compiled_autograd_traces_fullgraph(monkeypatch: pytest.MonkeyPatch, chunked: bool) -> None:
    monkeypatch.setattr(torch_fast, "CHUNKED_UNDER_COMPILE", chunked)
    z = _z((24, 30), torch.float32, seed=12)
    y = torch.randint(0, 30, (24,), generator=torch.Generator().manual_seed(3))
    torch._dynamo.reset()
    compiled = torch.compile(_both, fullgraph=True, backend="eager", dynamic=False)
    with unchecked():
        g_eager = _grad(lambda x: _both(x, y), z)
        g_comp = _grad(lambda x: compiled(x, y), z)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-5, atol=1e-6)
