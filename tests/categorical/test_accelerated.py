"""The accelerated ``categorical`` functions: equal to the reference on every backend and dtype,
dtype-preserving, differentiable where the spec says so, and using the Torch fast paths as promised."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.special as ssp
import torch

import accelerated.categorical as A
import accelerated.categorical.entropies as AE
import accelerated.categorical.losses as AL
import accelerated.torch_fast as TF
from reference import categorical as R
from spec import get
from spec.errors import DomainError
from spec.validate import check_finite

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16,
                "float16": torch.float16}
NUMPY_DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` (via Torch, which has bfloat16) and back to float64."""
    return np.asarray(torch.tensor(x).to(TORCH_DTYPES[dtype]).to(torch.float64).numpy(), dtype=np.float64)


def dyadic_probs(rng: np.random.Generator, shape: tuple[int, ...], low: int = 0) -> np.ndarray:
    """Probability rows that are exact in every dtype (multiples of 2^-8), with zeros unless ``low > 0``."""
    counts = rng.integers(low, 6, size=shape).astype(np.float64)
    counts[..., 0] += 1
    scale = 256 / counts.sum(-1, keepdims=True)
    c = np.floor(counts * scale)
    c[..., 0] += 256 - c.sum(-1)
    return np.asarray(c / 256, dtype=np.float64)


def logits_with_holes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    z = rng.normal(0.0, 3.0, size=shape)
    holes = rng.random(shape) < 0.2
    holes[..., 0] = False
    return np.where(holes, -np.inf, z)


RNG = np.random.default_rng(1234)
PZ = dyadic_probs(RNG, (3, 4, 8))
QZ = dyadic_probs(RNG, (3, 4, 8))
QPOS = dyadic_probs(RNG, (3, 4, 8), low=1)
ZH = logits_with_holes(RNG, (3, 4, 8))
ZB = RNG.normal(0.0, 3.0, size=(3, 4, 8))
YI = RNG.integers(0, 8, size=(3, 4))
YI[0, :2] = -100
WT = np.array([0.5, 1.0, 2.0, 0.0, 1.5, 1.0, 0.25, 3.0])

CASES: list[tuple[str, dict[str, np.ndarray], dict[str, Any]]] = [
    ("entropy", {"probs": PZ}, {}),
    ("entropy", {"probs": PZ}, {"base": 2.0}),
    ("entropy_from_logits", {"logits": ZH}, {}),
    ("entropy_from_logits", {"logits": ZH}, {"temperature": 0.6}),
    ("entropy_from_logits", {"logits": ZH}, {"temperature": 0.01}),
    ("renyi_entropy", {"probs": PZ}, {"alpha": 0.5}),
    ("renyi_entropy", {"probs": PZ}, {"alpha": 3.0}),
    ("renyi_entropy", {"probs": PZ}, {"alpha": math.inf}),
    ("tsallis_entropy", {"probs": PZ}, {"q": 0.5}),
    ("tsallis_entropy", {"probs": PZ}, {"q": 2.0}),
    ("kl_divergence", {"p": PZ, "q": QPOS}, {}),
    ("kl_divergence", {"p": PZ, "q": QZ}, {}),
    ("kl_divergence_from_logits", {"logits_p": ZH, "logits_q": ZB}, {}),
    ("js_divergence", {"p": PZ, "q": QZ}, {}),
    ("top_p_renormalized_entropy", {"logits": ZB}, {"p": 0.8}),
    ("top_p_renormalized_entropy", {"logits": ZH}, {"p": 0.5, "k": 3}),
    ("cross_entropy", {"logits": ZH, "target": YI}, {"reduction": "none"}),
    ("cross_entropy", {"logits": ZB, "target": YI, "weight": WT}, {"label_smoothing": 0.2}),
    ("cross_entropy", {"logits": ZB, "target": YI}, {"reduction": "sum", "label_smoothing": 0.1}),
    ("cross_entropy", {"logits": ZB, "target": QZ, "weight": WT}, {"label_smoothing": 0.3}),
]


def call(fn: Callable[..., Any], name: str, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
    spec = get(name)
    args = [inputs[i.name] for i in spec.inputs if i.positional and not i.optional]
    args += [params[p.name] for p in spec.params if p.positional and p.name in params]
    kwargs = {k: v for k, v in params.items() if not spec.param(k).positional}
    kwargs.update({k: v for k, v in inputs.items() if not any(i.name == k and i.positional and not i.optional
                                                            for i in spec.inputs)})
    return fn(*args, **kwargs)


def ids(case: tuple[str, dict[str, np.ndarray], dict[str, Any]]) -> str:
    return f"{case[0]}-{'-'.join(f'{k}={v}' for k, v in case[2].items() if not isinstance(v, np.ndarray))}"


@pytest.mark.parametrize("backend_dtype", [("torch", d) for d in TORCH_DTYPES] + [("numpy", d) for d in NUMPY_DTYPES])
@pytest.mark.parametrize("case", CASES, ids=[ids(c) for c in CASES])
def test_matches_reference(case: tuple[str, dict[str, np.ndarray], dict[str, Any]],
                           backend_dtype: tuple[str, str]) -> None:
    name, inputs, params = case
    backend, dtype = backend_dtype
    spec = get(name)
    rin = {k: (v if v.dtype.kind != "f" else rounded(v, dtype)) for k, v in inputs.items()}
    rpar = {k: (rounded(v, dtype) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    expected = np.asarray(call(getattr(R, name), name, rin, rpar), dtype=np.float64)
    def conv(x: np.ndarray) -> Any:
        if backend == "torch":
            return torch.tensor(x).to(TORCH_DTYPES[dtype]) if x.dtype.kind == "f" else torch.tensor(x)
        return x.astype(NUMPY_DTYPES[dtype]) if x.dtype.kind == "f" else x
    ain = {k: conv(v) for k, v in rin.items()}
    apar = {k: (conv(v) if isinstance(v, np.ndarray) else v) for k, v in rpar.items()}
    out = call(getattr(A, name), name, ain, apar)
    got_dtype = str(out.dtype).replace("torch.", "")
    assert got_dtype == dtype, f"output dtype {got_dtype} != input dtype {dtype}"
    got = out.to(torch.float64).numpy() if backend == "torch" else np.asarray(out, dtype=np.float64)
    assert got.shape == expected.shape
    assert not np.any(np.isnan(got))
    budget = spec.tolerance[dtype]
    scale = max(1.0, float(np.max(np.abs(ZB))))
    with np.errstate(invalid="ignore"):
        ok = budget.scaled(2).allows(got, expected) | (np.abs(got - expected) <= budget.atol * scale)
    assert np.all(ok), f"{name}: {got} vs {expected}"


# --------------------------------------------------------------------------- fast paths


class Spy:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, Spy]:
    out = {name: Spy(getattr(TF, name)) for name in ("entropy_rows", "logsumexp_rows", "dot_rows")}
    for name, spy in out.items():
        monkeypatch.setattr(TF, name, spy)
    out["check_finite"] = Spy(check_finite)
    for group in (AE, AL):  # the group modules that call it
        monkeypatch.setattr(group, "check_finite", out["check_finite"])
    return out


def test_entropy_from_logits_fast_path_no_upfront_scan(spies: dict[str, Spy]) -> None:
    z = torch.tensor(ZH, dtype=torch.float32)
    h = A.entropy_from_logits(z, temperature=0.7)
    assert spies["entropy_rows"].calls == 1 and spies["check_finite"].calls == 0
    np.testing.assert_allclose(h.numpy(), R.entropy_from_logits(rounded(ZH, "float32"), temperature=0.7),
                               rtol=1e-5, atol=1e-5)
    bad = z.clone()
    bad[1, 2, 3] = float("nan")
    with pytest.raises(DomainError):
        A.entropy_from_logits(bad)
    assert spies["check_finite"].calls == 1  # only after the kernel returned a non-finite row


def test_entropy_from_logits_generic_paths(spies: dict[str, Spy]) -> None:
    z = torch.tensor(ZH)
    # a non-last axis uses the generic path
    np.testing.assert_allclose(A.entropy_from_logits(z.transpose(0, 2), axis=0).numpy(),
                               R.entropy_from_logits(ZH).T, rtol=1e-12)
    assert spies["entropy_rows"].calls == 0
    # a small temperature with autograd on: the generic (shift-then-divide) path, accurate
    zf = torch.tensor(ZB + 1e3, dtype=torch.float32, requires_grad=True)
    h = A.entropy_from_logits(zf, temperature=1e-3)
    assert spies["entropy_rows"].calls == 0
    ref = R.entropy_from_logits(rounded(ZB + 1e3, "float32"), temperature=1e-3)
    np.testing.assert_allclose(h.detach().numpy(), ref, rtol=1e-4, atol=1e-4)
    # ... and without autograd the (max-shifted) kernel is used at any temperature
    h2 = A.entropy_from_logits(zf.detach(), temperature=1e-3)
    assert spies["entropy_rows"].calls == 1
    np.testing.assert_allclose(h2.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_cross_entropy_fast_path(spies: dict[str, Spy]) -> None:
    z = torch.tensor(ZB, dtype=torch.float32)
    y = torch.tensor(YI)
    out = A.cross_entropy(z, y, weight=torch.tensor(WT, dtype=torch.float32), label_smoothing=0.2)
    assert spies["logsumexp_rows"].calls == 1 and spies["dot_rows"].calls == 1
    assert spies["check_finite"].calls == 1  # the (small) weight vector only, never the logits
    expected = R.cross_entropy(rounded(ZB, "float32"), YI, weight=WT, label_smoothing=0.2)
    assert float(out) == pytest.approx(float(expected), rel=1e-5)


def test_cross_entropy_fast_path_falls_back_on_zero_weight_masked_logit(spies: dict[str, Spy]) -> None:
    z = np.array([[0.0, -np.inf, 1.0], [2.0, 0.0, 0.5]])
    y = np.array([0, 2])
    w = np.array([1.0, 0.0, 2.0])
    out = A.cross_entropy(torch.tensor(z), torch.tensor(y), weight=torch.tensor(w), label_smoothing=0.1,
                          reduction="none")
    assert spies["dot_rows"].calls == 1  # tried, produced 0·(-inf) = NaN, recomputed generically
    np.testing.assert_allclose(out.numpy(), R.cross_entropy(z, y, weight=w, label_smoothing=0.1, reduction="none"),
                               rtol=1e-12)


# --------------------------------------------------------------------------- gradients


def test_entropy_from_logits_gradient_closed_form() -> None:
    z = torch.tensor(ZB[0], requires_grad=True)
    h = A.entropy_from_logits(z, temperature=1.3)
    h.sum().backward()
    p = ssp.softmax(ZB[0] / 1.3, axis=-1)
    hh = R.entropy_from_logits(ZB[0], temperature=1.3)[:, None]
    expected = -p * (np.log(p) + hh) / 1.3  # ∂H/∂z = -p (log p + H) / T
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_cross_entropy_gradient_softmax_minus_onehot() -> None:
    z = torch.tensor(ZB[1], requires_grad=True)
    y = YI[1]
    A.cross_entropy(z, torch.tensor(y), reduction="sum").backward()
    expected = ssp.softmax(ZB[1], axis=-1)
    expected[np.arange(len(y)), y] -= 1.0
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_cross_entropy_gradient_matches_torch_with_everything() -> None:
    z1 = torch.tensor(ZH, requires_grad=True)
    z2 = torch.tensor(ZH, requires_grad=True)
    w = torch.tensor(np.where(WT == 0, 0.5, WT))
    y = torch.tensor(YI)
    A.cross_entropy(z1, y, weight=w, label_smoothing=0.0).backward()
    torch.nn.functional.cross_entropy(z2.movedim(-1, 1), y, weight=w).backward()  # type: ignore[no-untyped-call]
    assert z1.grad is not None and z2.grad is not None
    np.testing.assert_allclose(z1.grad.numpy(), z2.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_kl_from_logits_gradient_and_holes() -> None:
    a = torch.tensor(ZH, requires_grad=True)
    b = torch.tensor(ZB, requires_grad=True)
    A.kl_divergence_from_logits(a, b).sum().backward()
    assert a.grad is not None and b.grad is not None
    assert bool(torch.isfinite(a.grad).all()) and bool(torch.isfinite(b.grad).all())
    # ∂KL/∂b = softmax(b) − softmax(a)
    np.testing.assert_allclose(b.grad.numpy(), ssp.softmax(ZB, -1) - ssp.softmax(ZH, -1), rtol=1e-10, atol=1e-12)


def test_top_p_gradient_flows_through_support_only() -> None:
    z = torch.tensor(ZB[0], requires_grad=True)
    A.top_p_renormalized_entropy(z, 0.8).sum().backward()
    assert z.grad is not None and bool(torch.isfinite(z.grad).all())
    # compare with autograd through an explicit fixed-support formula
    z2 = torch.tensor(ZB[0], requires_grad=True)
    pi = torch.softmax(z2, -1)
    order = torch.argsort(z2.detach(), dim=-1, descending=True)
    c = torch.cumsum(pi.detach().gather(-1, order), -1)
    keep = torch.zeros_like(pi, dtype=torch.bool).scatter(-1, order, c < 0.8)
    kept = pi * keep
    q = kept / (kept.sum(-1, keepdim=True) + 1e-12)
    (-(q * torch.log(q + 1e-12)).sum()).backward()  # type: ignore[no-untyped-call]
    assert z2.grad is not None
    np.testing.assert_allclose(z.grad.numpy(), z2.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["renyi_entropy", "tsallis_entropy", "js_divergence", "kl_divergence", "entropy"])
def test_probability_gradients_finite(name: str) -> None:
    p = torch.tensor(ssp.softmax(ZB[0], -1), requires_grad=True)
    q = torch.tensor(ssp.softmax(ZB[1], -1))
    fn = getattr(A, name)
    out = fn(p, q) if name in ("js_divergence", "kl_divergence") else (
        fn(p, 2.5) if name in ("renyi_entropy", "tsallis_entropy") else fn(p))
    out.sum().backward()
    assert p.grad is not None and bool(torch.isfinite(p.grad).all())


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_empty_batches(backend: str) -> None:
    def conv(x: np.ndarray) -> Any:
        return torch.tensor(x) if backend == "torch" else x

    z = np.zeros((2, 0, 5))
    p = np.zeros((0, 3, 4))
    assert tuple(A.entropy_from_logits(conv(z)).shape) == (2, 0)
    assert tuple(A.top_p_renormalized_entropy(conv(z)).shape) == (2, 0)
    assert tuple(A.js_divergence(conv(p), conv(p)).shape) == (0, 3)
    assert tuple(A.renyi_entropy(conv(p), 2.0).shape) == (0, 3)
    y = np.zeros((2, 0), dtype=np.int64)
    assert float(A.cross_entropy(conv(z), conv(y))) == 0.0
    assert tuple(A.cross_entropy(conv(z), conv(y), reduction="none").shape) == (2, 0)
