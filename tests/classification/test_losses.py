"""Tests of the ``classification`` losses: ``linear_cross_entropy`` (Cut Cross-Entropy).

Values and gradients are checked against independent computations: closed forms, and torch's
materialised ``F.cross_entropy(e @ c.T + b, y)`` (the peer named in the issue; torch's own autograd
for the gradients). CCE's filter is checked against its error bound. Memory is measured with the
Torch profiler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from accelerated.classification import _lce_torch
from accelerated.classification import linear_cross_entropy as acc_lce
from reference.classification import linear_cross_entropy as ref_lce
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import unchecked

# --------------------------------------------------------------------------- values by hand


def test_zero_classifier_gives_log_v() -> None:
    e = np.random.default_rng(0).standard_normal((4, 3))
    t = np.array([0, 4, -100, 2])
    for fn in (ref_lce, lambda *a, **k: acc_lce(*(torch.as_tensor(x) for x in a), **k).numpy()):
        np.testing.assert_allclose(fn(e, np.zeros((5, 3)), t, reduction="none"), [math.log(5)] * 2 + [0.0, math.log(5)],
                                   rtol=1e-14)


def test_two_classes_is_softplus() -> None:
    # V = 2: ℓ = log(1 + exp(z_other − z_y)) = softplus(−margin)
    e = np.array([[2.0, -1.0], [0.5, 0.5]])
    c = np.array([[1.0, 0.0], [0.0, 1.0]])
    t = np.array([0, 1])
    want = np.array([math.log1p(math.exp(-1.0 - 2.0)), math.log1p(math.exp(0.0))])
    np.testing.assert_allclose(ref_lce(e, c, t, reduction="none"), want, rtol=1e-15)
    got = acc_lce(torch.tensor(e), torch.tensor(c), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-15)


def test_softcap_bounds_logits() -> None:
    # with s = 1 the capped logits lie in (−1, 1): the loss is at most log(V) + 2 whatever the scale of e
    e = np.array([[300.0, -200.0]])
    c = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    loss = float(ref_lce(e, c, np.array([1]), softcap=1.0))
    want = math.log(math.exp(1.0) + math.exp(-1.0) + math.exp(1.0)) - (-1.0)  # tanh(±large) = ±1
    assert loss == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------- parity with torch (materialised CE)


def _materialised(e: torch.Tensor, c: torch.Tensor, t: torch.Tensor, bias: torch.Tensor | None = None,
                  softcap: float | None = None, reduction: str = "mean", shift: int = 0) -> torch.Tensor:
    z = e[: e.shape[0] - shift] @ c.T
    if bias is not None:
        z = z + bias
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    return F.cross_entropy(z, t[shift:], reduction=reduction, ignore_index=-100)


OPTS = [
    dict(),
    dict(reduction="sum", shift=3),
    dict(softcap=2.5),
    dict(softcap=4.0, shift=1, reduction="none"),
]


def _data(n: int, v: int, d: int, seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype)
    c = torch.randn(v, d, generator=g, dtype=torch.float64).to(dtype)
    b = torch.randn(v, generator=g, dtype=torch.float64).to(dtype)
    t = torch.randint(0, v, (n,), generator=g)
    t[::4] = -100
    return e, c, b, t


def _grads(fn: Callable[..., torch.Tensor], e: torch.Tensor, c: torch.Tensor, b: torch.Tensor, t: torch.Tensor,
           cot_seed: int, **kw: Any) -> tuple[torch.Tensor, ...]:
    xs = [x.detach().clone().requires_grad_(True) for x in (e, c, b)]
    out = fn(xs[0], xs[1], t, bias=xs[2], **kw)
    cot = torch.randn(out.shape, generator=torch.Generator().manual_seed(cot_seed), dtype=torch.float64)
    (out.to(torch.float64) * cot).sum().backward()
    return (out.detach(), *(x.grad for x in xs))  # type: ignore[misc]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("opts", OPTS, ids=[str(o) for o in OPTS])
def test_matches_torch_materialised(monkeypatch: pytest.MonkeyPatch, opts: dict[str, Any], chunked: bool) -> None:
    if chunked:  # several row chunks and a short last one
        monkeypatch.setattr(_lce_torch, "_SMALL_BYTES", 0)
        monkeypatch.setattr(_lce_torch, "_CPU_CHUNK_BYTES", 4 * 29 * 5)
    e, c, b, t = _data(41, 29, 6, seed=1)
    got = _grads(acc_lce, e, c, b, t, 3, **opts)
    want = _grads(_materialised, e, c, b, t, 3, **opts)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ref_lce(e.numpy(), c.numpy(), t.numpy(), bias=b.numpy(), **opts), want[0].numpy(),
                               rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_accumulates_in_float32(dtype: torch.dtype) -> None:
    e, c, b, t = _data(40, 50, 16, seed=2, dtype=dtype)
    got = _grads(acc_lce, e, c, b, t, 4, softcap=5.0)
    assert all(g.dtype == dtype for g in got[1:])
    # exact float64 gradients at the rounded inputs; ours are float32-accumulated and rounded once
    want = _grads(_materialised, e.double(), c.double(), b.double(), t, 4, softcap=5.0)
    rel = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}[dtype]
    for g, w in zip(got[1:], want[1:], strict=True):
        np.testing.assert_allclose(g.double().numpy(), w.numpy(), rtol=2 * rel, atol=2 * rel * float(w.abs().max()))


def test_gradcheck_with_bias_softcap_shift() -> None:
    e, c, b, t = _data(9, 5, 3, seed=5)
    xs = [x.clone().requires_grad_(True) for x in (e, c, b)]
    assert torch.autograd.gradcheck(lambda a, k, bb: acc_lce(a, k, t, bias=bb, softcap=3.0, shift=2), tuple(xs))


def test_all_ignored_mean_is_zero_with_zero_gradient() -> None:
    e, c, _, _ = _data(5, 4, 3, seed=6)
    t = torch.full((5,), -100)
    x = e.clone().requires_grad_(True)
    out = acc_lce(x, c, t)
    assert float(out) == 0.0
    out.backward()
    assert x.grad is not None and bool((x.grad == 0).all())
    assert float(ref_lce(e.numpy(), c.numpy(), t.numpy())) == 0.0


# --------------------------------------------------------------------------- CCE's filter


def test_filter_error_bound_and_forward_exact() -> None:
    """Dropped tiles have every |softmax − onehot| < ε, so per row i (cotangent g_i, mean scale 1/n):
    |dE_filtered − dE_exact|_i ≤ ε·|g_i|·Σ_v |c_v| and |dC_filtered − dC_exact|_v ≤ ε·Σ_i |g_i|·|e_i|."""
    g = torch.Generator().manual_seed(7)
    n, v, d = 64, 300, 8
    e = torch.randn(n, d, generator=g, dtype=torch.float64) * 2
    c = torch.randn(v, d, generator=g, dtype=torch.float64) * 2
    t = torch.randint(0, v, (n,), generator=g)
    eps = 1e-3
    exact = _grads(acc_lce, e, c, torch.zeros(v, dtype=torch.float64), t, 8, reduction="none")
    filt = _grads(acc_lce, e, c, torch.zeros(v, dtype=torch.float64), t, 8, reduction="none", filter_eps=eps,
                  filter_block_rows=8, filter_block_vocab=32)
    torch.testing.assert_close(filt[0], exact[0], rtol=0, atol=0)  # the forward is exact
    cot = torch.randn((n,), generator=torch.Generator().manual_seed(8), dtype=torch.float64).abs()
    bound_e = eps * cot[:, None] * c.abs().sum(0)[None, :]
    bound_c = eps * (cot[:, None] * e.abs()).sum(0)[None, :].expand(v, d)
    assert bool(((filt[1] - exact[1]).abs() <= bound_e + 1e-15).all())
    assert bool(((filt[2] - exact[2]).abs() <= bound_c + 1e-15).all())
    assert not torch.equal(filt[1], exact[1]), "no tile was filtered: the test does not exercise the filter"
    # the target entry (|p − 1| ≈ 1) is never dropped: rows still get most of their gradient
    zero = _grads(acc_lce, e, c, torch.zeros(v, dtype=torch.float64), t, 8, reduction="none", filter_eps=0.0)
    torch.testing.assert_close(zero[1], exact[1], rtol=0, atol=0)  # ε = 0 drops nothing


def test_filter_drops_only_whole_tiles() -> None:
    # one row, V = 4, tiles of 2 classes: logits make the second tile tiny (|p| < ε) and the first hold the target
    e = torch.tensor([[1.0]], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([[10.0], [9.0], [-20.0], [-21.0]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0])
    acc_lce(e, c, t, filter_eps=1e-6, filter_block_rows=1, filter_block_vocab=2).backward()
    assert c.grad is not None
    assert bool((c.grad[2:] == 0).all()) and bool((c.grad[:2] != 0).all())
    p = torch.softmax(torch.tensor([10.0, 9.0, -20.0, -21.0], dtype=torch.float64), 0)
    want = (p - torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))[:2, None] * 1.0
    torch.testing.assert_close(c.grad[:2], want, rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- memory


def _leaf_peak(fn: Callable[[], None]) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((ev for ev in prof.events() if ev.cpu_memory_usage != 0 and not ev.cpu_children),
                    key=lambda ev: ev.time_range.start)
    live = peak = 0
    for ev in events:
        live += ev.cpu_memory_usage
        peak = max(peak, live)
    return peak


def test_forward_and_backward_memory_are_a_fraction_of_the_logits() -> None:
    n, v, d = 2048, 2048, 32
    e, c, b, t = _data(n, v, d, seed=9, dtype=torch.float32)
    logits_bytes = n * v * 4
    grads_bytes = (n * d + v * d + v) * 4  # dE, dC, db: the inputs' own gradients
    x = [z.clone().requires_grad_(True) for z in (e, c, b)]
    with unchecked():  # (checked mode scans e and c for NaN: small, but not what is measured here)
        out: list[torch.Tensor] = []
        fwd = _leaf_peak(lambda: out.append(acc_lce(x[0], x[1], t, bias=x[2], softcap=10.0)))
        bwd = _leaf_peak(lambda: out[0].backward())
    assert fwd <= logits_bytes / 16, fwd / logits_bytes
    assert bwd - grads_bytes <= logits_bytes / 16, (bwd - grads_bytes) / logits_bytes

    def eager() -> None:
        _materialised(x[0], x[1], t, bias=x[2]).backward()

    assert _leaf_peak(eager) >= logits_bytes  # the measure sees the materialised logits


# --------------------------------------------------------------------------- errors and compile


def test_bad_inputs() -> None:
    e, c, b, t = _data(6, 4, 3, seed=10)
    for fn, conv in ((ref_lce, lambda z: z.numpy()), (acc_lce, lambda z: z)):
        with pytest.raises(ShapeError):
            fn(conv(e), conv(c[:, :2]), conv(t))
        with pytest.raises(ShapeError):
            fn(conv(e), conv(c), conv(t[:5]))
        with pytest.raises(ShapeError):
            fn(conv(e), conv(c), conv(t), bias=conv(b[:3]))
        with pytest.raises(DomainError):
            fn(conv(e), conv(c), conv(torch.full((6,), 4)))
        with pytest.raises(DomainError):
            fn(conv(e), conv(c), conv(t), shift=6)
        with pytest.raises(DTypeError):
            fn(conv(e.to(torch.int64)), conv(c), conv(t))


def test_compiled_with_autograd_matches_eager() -> None:
    e, c, b, t = _data(12, 7, 4, seed=11, dtype=torch.float32)
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, k, bb: acc_lce(a, k, t, bias=bb, softcap=3.0, shift=1), fullgraph=True,
                             backend="eager", dynamic=False)
    with unchecked():
        got = _grads(lambda a, k, tt, bias: compiled(a, k, bias), e, c, b, t, 12)
        want = _grads(lambda a, k, tt, bias: acc_lce(a, k, tt, bias=bias, softcap=3.0, shift=1), e, c, b, t, 12)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
