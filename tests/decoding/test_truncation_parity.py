"""Peer parity: transformers 5.23.0 logits warpers, an independent port of the official Top-H loop,
and an independent NumPy inverse CDF for ``sample``.

HF sorts with ``torch.sort`` / ``torch.topk``, whose order among tied logits is unspecified, while
we break ties by the lowest index. So, per row, the *multiset* of kept logits must equal HF's (same
count, same values); on rows whose logits are all distinct the outputs must be identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import decoding as A
from reference import decoding as R

transformers = pytest.importorskip("transformers")
lp = pytest.importorskip("transformers.generation.logits_process")

SHAPES = [(6, 12), (4, 150)]  # V = 150 > 100 exercises Top-H's top_n cap


def make_logits(seed: int, shape: tuple[int, int], *, ties: bool, holes: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=shape)
    if ties:
        z = np.round(z * 2.0) / 2.0  # many exact ties
    if holes:
        mask = rng.random(shape) < 0.25
        mask[:, rng.integers(shape[1])] = False  # never a whole row of -inf
        z = np.where(mask, -np.inf, z)
    return z


CASES = [(seed, shape, ties, holes) for seed, (shape, ties, holes) in enumerate(
    [(s, t, h) for s in SHAPES for t in (False, True) for h in (False, True)])]


def hf_apply(warper: Any, z: np.ndarray) -> np.ndarray:
    scores = torch.tensor(z, dtype=torch.float64)
    ids = torch.zeros((z.shape[0], 1), dtype=torch.long)
    return np.asarray(warper(ids, scores).numpy())


def assert_same_kept(ours: np.ndarray, theirs: np.ndarray, z: np.ndarray, label: str) -> None:
    assert ours.shape == theirs.shape
    for i, (a, b, zr) in enumerate(zip(ours, theirs, z, strict=True)):
        ka, kb = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
        np.testing.assert_array_equal(ka, kb, err_msg=f"{label}: row {i} kept multiset differs")
        finite = zr[np.isfinite(zr)]
        if np.unique(finite).size == finite.size:
            np.testing.assert_array_equal(a, b, err_msg=f"{label}: row {i} differs (no ties)")


def both(fn_name: str) -> list[Callable[..., Any]]:
    def acc(z: np.ndarray, *args: Any, **kw: Any) -> np.ndarray:
        out = getattr(A, fn_name)(torch.tensor(z, dtype=torch.float64), *args, **kw)
        return np.asarray(out.numpy())

    return [getattr(R, fn_name), acc]


@pytest.mark.parametrize(("seed", "shape", "ties", "holes"), CASES)
class TestHFWarpers:
    def test_temperature(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for t in (0.3, 1.0, 1.7):
            want = hf_apply(lp.TemperatureLogitsWarper(t), z)
            for fn in both("temperature_scale"):
                np.testing.assert_allclose(fn(z, t), want, rtol=1e-15, atol=0)

    def test_top_k(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for k, m in ((1, 1), (3, 1), (5, 2), (2, 7), (500, 1)):
            want = hf_apply(lp.TopKLogitsWarper(k, min_tokens_to_keep=m), z)
            for fn in both("top_k_filter"):
                np.testing.assert_array_equal(fn(z, k, min_tokens_to_keep=m), want)  # value rule: exact

    def test_top_p(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for p, m in ((0.0, 1), (0.1, 1), (0.5, 1), (0.9, 1), (0.95, 3), (0.3, 4), (1.0, 1)):
            want = hf_apply(lp.TopPLogitsWarper(p, min_tokens_to_keep=m), z)
            for fn in both("top_p_filter"):
                assert_same_kept(fn(z, p, min_tokens_to_keep=m), want, z, f"top_p p={p} m={m}")

    def test_min_p(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for min_p, m in ((0.0, 1), (0.05, 1), (0.2, 1), (0.5, 3), (1.0, 1), (0.9, 2)):
            want = hf_apply(lp.MinPLogitsWarper(min_p, min_tokens_to_keep=m), z)
            for fn in both("min_p_filter"):
                assert_same_kept(fn(z, min_p, min_tokens_to_keep=m), want, z, f"min_p={min_p} m={m}")

    def test_typical(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for mass, m in ((0.9, 1), (0.2, 1), (0.5, 1), (0.95, 2), (0.3, 3)):
            want = hf_apply(lp.TypicalLogitsWarper(mass, min_tokens_to_keep=m), z)
            for fn in both("typical_filter"):
                assert_same_kept(fn(z, mass, min_tokens_to_keep=m), want, z, f"typical mass={mass} m={m}")

    def test_default_mass_is_hf(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        assert_same_kept(R.typical_filter(z), hf_apply(lp.TypicalLogitsWarper(), z), z, "typical default")

    def test_epsilon(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for eps, m in ((3e-4, 1), (0.02, 1), (0.1, 1), (0.5, 2), (0.2, 5)):
            want = hf_apply(lp.EpsilonLogitsWarper(eps, min_tokens_to_keep=m), z)
            for fn in both("epsilon_filter"):
                np.testing.assert_array_equal(fn(z, eps, min_tokens_to_keep=m), want)

    def test_eta(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for eps, m in ((3e-4, 1), (4e-3, 1), (0.1, 1), (0.5, 2), (0.2, 5)):
            want = hf_apply(lp.EtaLogitsWarper(eps, min_tokens_to_keep=m), z)
            for fn in both("eta_filter"):
                np.testing.assert_array_equal(fn(z, eps, min_tokens_to_keep=m), want)

    def test_top_h(self, seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
        z = make_logits(seed, shape, ties=ties, holes=holes)
        for alpha in (0.05, 0.2, 0.4, 0.7, 0.95):
            want = hf_apply(lp.TopHLogitsWarper(alpha), z)
            for fn in both("top_h_filter"):
                assert_same_kept(fn(z, alpha), want, z, f"top_h alpha={alpha}")


# --------------------------------------------------------------------------- official Top-H code


def official_top_h(scores: np.ndarray, top_n: int, temperature: float, coef: float) -> np.ndarray:
    """An independent port of ``TopH_LogitsProcessor.__call__`` (ErfanBaghaei/Top-H-Decoding
    logit_processor.py, with ``bias = 0.0``): batch size 1, torch float64, base-2 logs, the
    renormalised-form stopping test ``H/σ + log2 σ > τ/σ + log2 σ``."""
    s = torch.tensor(scores[None, :], dtype=torch.float64)
    probs = torch.softmax(s / temperature, dim=-1)
    top_p, top_i = torch.topk(probs[0], top_n, largest=True, sorted=True)
    mass = top_p.sum()
    q = top_p / mass
    tau = ((-(q * torch.log2(q)).sum() - torch.log2(mass)) * mass) * coef
    chosen = []
    sigma = top_p[0].clone()
    h = -top_p[0] * torch.log2(top_p[0])
    for j in range(top_n):
        chosen.append(int(top_i[j]))
        h = h - top_p[j + 1] * torch.log2(top_p[j + 1])  # IndexError past top_n, as in the original
        sigma = sigma + top_p[j + 1]
        if h / sigma + torch.log2(sigma) > tau / sigma + torch.log2(sigma):
            break
    out = np.full_like(scores, -np.inf)
    out[chosen] = scores[chosen]
    return out


@pytest.mark.parametrize("seed", range(12))
def test_top_h_official_code(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    v = int(rng.integers(8, 60))
    z = rng.normal(0.0, 2.5, size=v)  # distinct logits, no -inf: the official loop needs p > 0
    top_n = int(rng.integers(3, v))
    t = float(rng.choice([0.7, 1.0, 1.5]))
    for alpha in (0.1, 0.4, 0.6, 0.9):
        want = official_top_h(z, top_n, t, alpha)
        for fn in both("top_h_filter"):
            got = fn(z[None, :], alpha, criterion="official", top_n=top_n, temperature=t)[0]
            np.testing.assert_array_equal(got, want, err_msg=f"alpha={alpha} top_n={top_n} T={t}")


def test_top_h_official_alpha_one_is_round_off_dependent_but_ours_keeps_all() -> None:
    # at alpha = 1 the official loop compares S(top_n) with tau = S(top_n) computed another way: it
    # either stops one token early (round-off) or runs past top_n (IndexError); we keep all top_n.
    outcomes = set()
    for seed in range(20):
        z = np.random.default_rng(seed).normal(size=7)
        try:
            outcomes.add(int(np.isfinite(official_top_h(z, 4, 1.0, 1.0)).sum()))
        except IndexError:
            outcomes.add(-1)
        for fn in both("top_h_filter"):
            assert np.isfinite(fn(z[None, :], 1.0, criterion="official", top_n=4)).sum() == 4
    assert outcomes <= {3, -1}, outcomes


# --------------------------------------------------------------------------- sample


def numpy_inverse_cdf(z: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Independent inverse CDF: searchsorted on the float64 CDF of a plain softmax."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    cdf = np.cumsum(e / e.sum(axis=-1, keepdims=True), axis=-1)
    return np.array([np.searchsorted(c, x, side="right") for c, x in zip(cdf, u, strict=True)])


@pytest.mark.parametrize(("seed", "shape", "ties", "holes"), CASES)
def test_sample_matches_inverse_cdf(seed: int, shape: tuple[int, int], ties: bool, holes: bool) -> None:
    z = make_logits(seed, shape, ties=ties, holes=holes)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        u = rng.random(shape[0])
        want = numpy_inverse_cdf(z, u)
        np.testing.assert_array_equal(R.sample(z, u), want)
        np.testing.assert_array_equal(A.sample(z, u), want)
        np.testing.assert_array_equal(A.sample(torch.tensor(z), torch.tensor(u)).numpy(), want)


def test_sample_frequencies_match_softmax() -> None:
    z = np.array([0.5, -1.0, 2.0, 0.0, -np.inf, 1.0])
    u = (np.arange(20000) + 0.5) / 20000  # a stratified grid: frequencies equal the probabilities
    tokens = A.sample(np.broadcast_to(z, (u.size, z.size)).copy(), u)
    freq = np.bincount(tokens, minlength=z.size) / u.size
    probs = torch.softmax(torch.tensor(z), dim=-1).numpy()
    np.testing.assert_allclose(freq, probs, atol=1.0 / u.size + 1e-12)
    assert math.isclose(float(freq[4]), 0.0)
