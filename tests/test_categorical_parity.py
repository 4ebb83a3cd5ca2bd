"""Peer parity for the ``categorical`` family: torch.nn.functional, scipy, and an independent port
of SIREN's ``efficient_top_p_sampling`` (Linn3a/siren, verl/verl/workers/actor/dp_actor.py).

Our class axis is the LAST axis; torch's ``cross_entropy`` wants it at dim 1, so logits of shape
``(B, T, V)`` are passed to torch as ``movedim(-1, 1)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.special as ssp
import scipy.stats as sst
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from accelerated import categorical as A
from reference import categorical as R


def torch_ce(z: np.ndarray, y: np.ndarray, **kw: Any) -> np.ndarray:
    zt = torch.tensor(z).movedim(-1, 1) if z.ndim > 2 else torch.tensor(z)
    yt = torch.tensor(y)
    if y.dtype.kind == "f" and y.ndim > 2:
        yt = yt.movedim(-1, 1)
    w = kw.pop("weight", None)
    out = F.cross_entropy(zt, yt, weight=None if w is None else torch.tensor(w), **kw)
    return np.asarray(out.numpy())


def ours_ce(z: np.ndarray, y: np.ndarray, **kw: Any) -> list[np.ndarray]:
    w = kw.get("weight")
    acc_kw = dict(kw, weight=None if w is None else torch.tensor(w))
    a64 = A.cross_entropy(torch.tensor(z), torch.tensor(y), **acc_kw).numpy()
    return [np.asarray(R.cross_entropy(z, y, **kw)), np.asarray(a64), np.asarray(A.cross_entropy(z, y, **kw))]


def make_case(seed: int, shape: tuple[int, ...], v: int, *, ignore: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(*shape, v))
    y = rng.integers(0, v, size=shape)
    if ignore:
        y[rng.random(shape) < 0.3] = -100
    return z, y


# --------------------------------------------------------------------------- cross_entropy


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7,), (3, 5)])
def test_cross_entropy_matches_torch_class_targets(reduction: str, smoothing: float, weighted: bool,
                                                   shape: tuple[int, ...]) -> None:
    v = 6
    z, y = make_case(11, shape, v, ignore=True)
    w = np.random.default_rng(5).uniform(0.1, 3.0, size=v) if weighted else None
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing, "weight": w}
    expected = torch_ce(z, y, **dict(kw))
    for got in ours_ce(z, y, **kw):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch_probability_targets(reduction: str, smoothing: float, weighted: bool) -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2, 3, 5))
    t = ssp.softmax(rng.normal(size=(2, 3, 5)), axis=-1)
    w = rng.uniform(0.5, 2.0, size=5) if weighted else None
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing, "weight": w}
    expected = torch_ce(z, t, **dict(kw))
    for got in ours_ce(z, t, **kw):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_cross_entropy_weight_smoothing_mean_definition() -> None:
    """torch's documented semantics (aten LossNLL.cpp): with weights, label smoothing and ``mean``,
    BOTH the NLL term and the smoothing term are divided by Σ_n w_{y_n} over non-ignored rows."""
    z, y = make_case(4, (9,), 5, ignore=True)
    w = np.array([0.5, 2.0, 1.0, 3.0, 0.25])
    eps = 0.2
    logp = torch.log_softmax(torch.tensor(z), -1).numpy()
    keep = y != -100
    yy = np.where(keep, y, 0)
    nll = -logp[np.arange(9), yy] * w[yy]
    smooth = -(logp * w).sum(-1)
    num = np.sum(np.where(keep, (1 - eps) * nll + eps / 5 * smooth, 0.0))
    expected = num / np.sum(np.where(keep, w[yy], 0.0))
    torch_value = torch_ce(z, y, weight=w, label_smoothing=eps)
    assert float(torch_value) == pytest.approx(expected, rel=1e-12)
    for got in ours_ce(z, y, weight=w, label_smoothing=eps):
        assert float(got) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_ignore_index_inside_range() -> None:
    z, y = make_case(8, (10,), 4, ignore=False)
    expected = torch_ce(z, y, ignore_index=2, label_smoothing=0.1)
    for got in ours_ce(z, y, ignore_index=2, label_smoothing=0.1):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_cross_entropy_all_ignored_documented_difference() -> None:
    """torch returns NaN for an all-ignored ``mean`` (pytorch issue #116349); we return 0."""
    z = np.random.default_rng(0).normal(size=(3, 4))
    y = np.full(3, -100)
    assert math.isnan(float(torch_ce(z, y)))
    for got in ours_ce(z, y):
        assert float(got) == 0.0
    for red in ("sum", "none"):  # these agree with torch
        for got in ours_ce(z, y, reduction=red):
            np.testing.assert_array_equal(got, torch_ce(z, y, reduction=red))


def test_cross_entropy_masked_logit_zero_weight_documented_difference() -> None:
    """A -inf logit with zero weight: torch gives NaN (0·∞), we give the 0·log 0 = 0 limit."""
    z = np.array([[0.0, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    y = np.array([0, 1])
    w = np.array([1.0, 0.0, 1.0])
    torch_none = torch_ce(z, y, weight=w, label_smoothing=0.1, reduction="none")
    assert math.isnan(torch_none[0])
    logp = torch.log_softmax(torch.tensor(z), -1).numpy()
    row0 = 0.9 * -logp[0, 0] + 0.1 / 3 * -(logp[0, 0] + logp[0, 2])
    for got in ours_ce(z, y, weight=w, label_smoothing=0.1, reduction="none"):
        assert got[0] == pytest.approx(row0, rel=1e-12)
        assert np.isinf(got[1])  # row 1: smoothing puts positive weight on its -inf logit (as torch: inf)
    assert np.isinf(torch_none[1])


@given(seed=st.integers(0, 2**16), v=st.integers(1, 7), n=st.integers(0, 6),
       eps=st.sampled_from([0.0, 0.1, 0.5]), reduction=st.sampled_from(["none", "mean", "sum"]))
def test_cross_entropy_hypothesis_parity(seed: int, v: int, n: int, eps: float, reduction: str) -> None:
    z, y = make_case(seed, (n,), v, ignore=True)
    expected = torch_ce(z, y, label_smoothing=eps, reduction=reduction)
    for got in ours_ce(z, y, label_smoothing=eps, reduction=reduction):
        if reduction == "mean" and bool(np.all(y == -100)):
            assert float(got) == 0.0  # torch: NaN (documented difference)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- entropy & divergences


def test_entropy_from_logits_matches_torch_and_scipy() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 4.0, size=(4, 3, 17))
    zt = torch.tensor(z)
    torch_h = -(torch.softmax(zt, -1) * torch.log_softmax(zt, -1)).sum(-1).numpy()
    np.testing.assert_allclose(R.entropy_from_logits(z), torch_h, rtol=1e-12)
    np.testing.assert_allclose(A.entropy_from_logits(zt).numpy(), torch_h, rtol=1e-12)
    np.testing.assert_allclose(R.entropy_from_logits(z, temperature=2.5),
                               sst.entropy(ssp.softmax(z / 2.5, axis=-1), axis=-1), rtol=1e-12)


def test_kl_matches_torch_kl_div_and_rel_entr() -> None:
    rng = np.random.default_rng(7)
    p = ssp.softmax(rng.normal(size=(5, 6)), axis=-1)
    q = ssp.softmax(rng.normal(size=(5, 6)), axis=-1)
    expected = F.kl_div(torch.tensor(q).log(), torch.tensor(p), reduction="none").sum(-1).numpy()
    np.testing.assert_allclose(R.kl_divergence(p, q), expected, rtol=1e-12)
    np.testing.assert_allclose(A.kl_divergence(torch.tensor(p), torch.tensor(q)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(R.kl_divergence(p, q), ssp.rel_entr(p, q).sum(-1), rtol=1e-13)


def test_kl_from_logits_matches_torch_log_target() -> None:
    rng = np.random.default_rng(9)
    a = rng.normal(0.0, 3.0, size=(3, 4, 8))
    b = rng.normal(0.0, 3.0, size=(3, 4, 8))
    la, lb = torch.log_softmax(torch.tensor(a), -1), torch.log_softmax(torch.tensor(b), -1)
    expected = F.kl_div(lb, la, log_target=True, reduction="none").sum(-1).numpy()
    np.testing.assert_allclose(R.kl_divergence_from_logits(a, b), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(A.kl_divergence_from_logits(torch.tensor(a), torch.tensor(b)).numpy(), expected,
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("base", [None, 2.0, 10.0])
def test_js_matches_scipy_jensenshannon_squared(base: float | None) -> None:
    rng = np.random.default_rng(4)
    p = ssp.softmax(rng.normal(size=(6, 5)), axis=-1)
    q = ssp.softmax(rng.normal(size=(6, 5)), axis=-1)
    p[0] = [1, 0, 0, 0, 0]
    q[0] = [0, 0.5, 0.5, 0, 0]
    expected = jensenshannon(p, q, axis=-1, base=base) ** 2
    np.testing.assert_allclose(R.js_divergence(p, q, base=base), expected, rtol=1e-12)
    np.testing.assert_allclose(A.js_divergence(torch.tensor(p), torch.tensor(q), base=base).numpy(), expected,
                               rtol=1e-12)


# --------------------------------------------------------------------------- SIREN


def siren_port(logits: torch.Tensor, k: int, p: float) -> torch.Tensor:
    """The algorithm of ``efficient_top_p_sampling`` (Linn3a/siren), restated: top-k by logit,
    cumulative softmax mass, ``searchsorted`` (left) of p, keep the positions before the cut,
    renormalise with 1e-12 and take ``-Σ q log(q + 1e-12)``."""
    probs = torch.softmax(logits, dim=-1)
    _, idx = torch.topk(logits, k=k)
    cum = torch.cumsum(torch.gather(probs, 1, idx), dim=-1)
    cut = torch.searchsorted(cum, torch.full((logits.shape[0], 1), p, dtype=cum.dtype))
    keep = torch.arange(k).unsqueeze(0) < cut
    mask = torch.zeros_like(probs, dtype=torch.bool).scatter(1, idx, keep)
    kept = probs * mask
    q = kept / (kept.sum(-1, keepdim=True) + 1e-12)
    return -(q * torch.log(q + 1e-12)).sum(-1)


@pytest.mark.parametrize("k", [1, 5, 40])
@pytest.mark.parametrize("p", [0.3, 0.8, 0.95])
def test_top_p_matches_official_algorithm(k: int, p: float) -> None:
    rng = np.random.default_rng(int(100 * p) + k)
    z = rng.normal(0.0, 2.0, size=(16, 40))
    expected = siren_port(torch.tensor(z), k, p).numpy()
    np.testing.assert_allclose(R.top_p_renormalized_entropy(z, p, k=k), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.top_p_renormalized_entropy(torch.tensor(z), p, k=k).numpy(), expected,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.top_p_renormalized_entropy(torch.tensor(z, dtype=torch.float32), p, k=k).numpy(),
                               siren_port(torch.tensor(z, dtype=torch.float32), k, p).numpy(), rtol=1e-5, atol=1e-6)


def test_top_p_default_k_is_all_vocab_and_differs_from_hf_nucleus() -> None:
    """k=None keeps the whole vocabulary in play; the crossing token is excluded (HF keeps it)."""
    z = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    expected = siren_port(torch.tensor(z[None]), 4, 0.6).numpy()[0]
    assert R.top_p_renormalized_entropy(z, 0.6) == pytest.approx(expected, rel=1e-12)
    # S = {0.4}: c = (0.4, 0.7, ...) -> the 0.3 token crosses 0.6 and is excluded -> H ≈ 0
    assert expected == pytest.approx(0.0, abs=1e-10)
    lp = pytest.importorskip("transformers.generation.logits_process")
    hf = lp.TopPLogitsWarper(top_p=0.6)(None, torch.tensor(z[None]))
    assert int(torch.isfinite(hf).sum()) == 2  # HF nucleus keeps {0.4, 0.3}
