"""Tests of the stateful peers' samplers (``samplers_2`` group: mirostat v2 and v1): hand values, parity with a
Python transcription of llama.cpp's C++ (``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd,
float32 where the C++ uses ``float``), state threaded over many steps, bad input.

llama.cpp draws with ``std::discrete_distribution<int>`` over the sorted candidates; libstdc++ implements it as the
normalised partial sums ``cp`` and ``std::lower_bound(cp, u)`` with ``u`` from ``generate_canonical``: the
transcription takes that ``u`` as an input, which is our ``order="sorted"`` inverse CDF (ours picks the first
``cp > u``; the two differ only when ``u`` equals a partial sum, which the tests avoid). The C++ sort
(``std::partial_sort``) is not stable, so parity rows have no tied logits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import decoding as A
from reference import decoding as R
from spec.errors import DomainError, ParameterError, ShapeError

NEG = -math.inf
LLAMA_COMMIT = "e19fb5f1a30ce42690ad7093ddbd382ac287c9fd"
F32 = np.float32


def impls() -> list[Any]:
    return [R, A]


class Candidates:
    """``llama_token_data_array`` as a list of [id, logit, p] (float32), sorted by logit descending on demand."""

    def __init__(self, logits: np.ndarray) -> None:
        self.data = [[i, F32(v), F32(0.0)] for i, v in enumerate(np.asarray(logits, dtype=np.float64))]
        self.sorted = False


def llama_softmax_impl(cur: Candidates, do_sort: bool) -> None:
    if do_sort and not cur.sorted:
        cur.data.sort(key=lambda d: -float(d[1]))
        cur.sorted = True
    max_l = cur.data[0][1] if cur.sorted else max(d[1] for d in cur.data)
    cum = F32(0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for d in cur.data:
            d[2] = F32(np.exp(F32(d[1] - max_l)))
            cum = F32(cum + d[2])
        for d in cur.data:
            d[2] = F32(d[2] / cum)


def llama_sample_dist(cur: Candidates, u: float) -> int:
    """libstdc++ discrete_distribution: lower_bound of u in the normalised partial sums (double)."""
    ps = np.array([float(d[2]) for d in cur.data])
    cp = np.cumsum(ps) / ps.sum()
    return int(min(np.searchsorted(cp, u, side="left"), len(ps) - 1))


def llama_mirostat_v2(logits: np.ndarray, u: float, mu: float, tau: float, eta: float) -> tuple[int, float]:
    """llama_sampler_mirostat_v2_apply: returns (token id, new mu) with mu kept in float32."""
    cur = Candidates(logits)
    llama_softmax_impl(cur, True)
    mu32 = F32(mu)
    size = len(cur.data)
    for i, d in enumerate(cur.data):
        with np.errstate(divide="ignore"):
            if -np.log2(d[2]) > mu32:
                size = i
                break
    size = max(size, 1)
    cur.data = cur.data[:size]
    llama_softmax_impl(cur, True)
    idx = llama_sample_dist(cur, u)
    observed = F32(-np.log2(cur.data[idx][2]))
    e = F32(observed - F32(tau))
    return int(cur.data[idx][0]), float(F32(mu32 - F32(F32(eta) * e)))


def rng_logits(seed: int, shape: tuple[int, ...], scale: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


def _near_step(logq_sorted: np.ndarray, u: float) -> bool:
    cp = np.cumsum(np.exp(logq_sorted))
    return bool(np.min(np.abs(cp - u)) < 1e-5)


# --------------------------------------------------------------------------- mirostat_v2


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_mirostat_v2_hand_values(mod: Any) -> None:
    z = np.log(np.array([[0.5, 0.25, 0.125, 0.125], [0.25, 0.25, 0.25, 0.25]]))
    tok, mu = mod.mirostat_v2(z, np.array([0.7, 0.9]), np.array([2.5, 1.0]), tau=5.0, eta=0.5)
    # row 0: surprises 1, 2, 3, 3 bits; mu = 2.5 keeps {0, 1}, q = 2/3, 1/3; u = 0.7 picks 1, surprise log2 3
    # row 1: every surprise is 2 > 1: the first maximum alone, surprise 0
    np.testing.assert_array_equal(tok, [1, 0])
    np.testing.assert_allclose(mu, [2.5 - 0.5 * (math.log2(3.0) - 5.0), 1.0 + 0.5 * 5.0], rtol=1e-14)
    tok, _ = mod.mirostat_v2(z[:1], np.array([0.8]), np.array([10.0]), order="sorted")
    np.testing.assert_array_equal(tok, [2])  # sorted walk 0 (1/2), 1 (1/4), 2 (1/8): u = 0.8 > 3/4


@pytest.mark.parametrize("seed", range(8))
def test_mirostat_v2_parity_llama_cpp_over_steps(seed: int) -> None:
    """Thread the state through 25 steps: tokens equal llama.cpp's and mu follows it within float32 rounding."""
    rng = np.random.default_rng(300 + seed)
    tau, eta = float(rng.choice([3.0, 5.0])), float(rng.choice([0.1, 0.5]))
    mu_ref = mu_acc = mu_cpp = 2.0 * tau
    for step in range(25):
        z = rng_logits(1000 * seed + step, (64,), scale=float(rng.choice([1.0, 3.0]))).astype(np.float32)
        z = z.astype(np.float64)
        u = float(rng.random())
        logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
        surprise = -logp / math.log(2.0)
        if np.min(np.abs(surprise - mu_cpp)) < 1e-3:
            continue  # the cut within float32 rounding of mu
        keep = surprise <= mu_cpp if (surprise <= mu_cpp).any() else np.arange(64) == np.argmax(z)
        zk = np.sort(np.where(keep, z, NEG))[::-1]
        if _near_step(zk - zk[0] - np.log(np.exp(zk - zk[0]).sum()), u):
            continue
        tok_cpp, mu_cpp_next = llama_mirostat_v2(z, u, mu_cpp, tau, eta)
        tok_r, mu_r = R.mirostat_v2(z[None], np.array([u]), np.array([mu_ref]), tau=tau, eta=eta, order="sorted")
        tok_a, mu_a = A.mirostat_v2(torch.tensor(z[None], dtype=torch.float32), torch.tensor([u], dtype=torch.float32),
                                    torch.tensor([mu_acc], dtype=torch.float32), tau=tau, eta=eta, order="sorted")
        assert int(tok_r[0]) == tok_cpp and int(tok_a[0]) == tok_cpp, f"step {step}"
        mu_cpp, mu_ref, mu_acc = mu_cpp_next, float(mu_r[0]), float(mu_a[0])
        assert mu_ref == pytest.approx(mu_cpp, rel=1e-5, abs=1e-5)
        assert mu_acc == pytest.approx(mu_cpp, rel=1e-5, abs=1e-5)


def test_mirostat_v2_state_drives_surprise_to_tau() -> None:
    """The feedback loop: on a fixed Zipf-like distribution the running mean surprise approaches tau."""
    z = -1.1 * np.log(np.arange(1, 201, dtype=np.float64))
    rng = np.random.default_rng(7)
    mu, tau, eta, seen = np.array([6.0]), 3.0, 0.2, []
    for _ in range(400):
        _, new_mu = A.mirostat_v2(z[None], rng.random(1), mu, tau=tau, eta=eta)
        seen.append(float(tau + (mu[0] - new_mu[0]) / eta))  # the observed surprise recovered from the update
        mu = new_mu
    assert abs(np.mean(seen[100:]) - tau) < 0.3


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_mirostat_v2_errors(mod: Any) -> None:
    z = np.zeros((2, 3))
    u = np.array([0.1, 0.2])
    mu = np.array([5.0, 5.0])
    with pytest.raises(ShapeError, match="'mu'"):
        mod.mirostat_v2(z, u, np.array([5.0]))
    with pytest.raises(DomainError, match="'mu'"):
        mod.mirostat_v2(z, u, np.array([math.nan, 1.0]))
    with pytest.raises(DomainError, match="'uniforms'"):
        mod.mirostat_v2(z, np.array([1.0, 0.0]), mu)
    with pytest.raises(ParameterError, match="'eta'"):
        mod.mirostat_v2(z, u, mu, eta=-0.1)
    with pytest.raises(ParameterError, match="'order'"):
        mod.mirostat_v2(z, u, mu, order="desc")


# --------------------------------------------------------------------------- mirostat_v1


def llama_mirostat(logits: np.ndarray, u: float, mu: float, tau: float, eta: float, m: int,
                   n_vocab: int) -> tuple[int, float, float]:
    """llama_sampler_mirostat_apply: returns (token id, new mu, the float32 k before int())."""
    cur = Candidates(logits)
    llama_softmax_impl(cur, True)
    sum_ti_bi = F32(0.0)
    sum_ti_sq = F32(0.0)
    i = 0
    while i < m - 1 and i < len(cur.data) - 1:
        t_i = F32(np.log(F32(i + 2) / F32(i + 1)))
        b_i = F32(np.log(cur.data[i][2] / cur.data[i + 1][2]))
        sum_ti_bi = F32(sum_ti_bi + F32(t_i * b_i))
        sum_ti_sq = F32(sum_ti_sq + F32(t_i * t_i))
        i += 1
    s_hat = F32(sum_ti_bi / sum_ti_sq)
    epsilon_hat = F32(s_hat - F32(1.0))
    k = F32(np.power(F32(F32(epsilon_hat * np.power(F32(2.0), F32(mu))) / F32(1.0 - np.power(F32(n_vocab),
                                                                                        -epsilon_hat))),
                     F32(F32(1.0) / s_hat)))
    kk = max(int(k), 1)
    cur.data = cur.data[:min(kk, len(cur.data))]  # top_k_impl on the sorted array
    llama_softmax_impl(cur, True)
    idx = llama_sample_dist(cur, u)
    observed = F32(-np.log2(cur.data[idx][2]))
    return int(cur.data[idx][0]), float(F32(F32(mu) - F32(F32(eta) * F32(observed - F32(tau))))), float(k)


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_mirostat_v1_zipf_closed_form(mod: Any) -> None:
    """z_i = -s log(i + 1): s_hat = s exactly, so k = ((s - 1) 2^mu / (1 - N^(1 - s)))^(1/s) in closed form."""
    for s, mu, n in ((1.5, 4.0, 1000), (2.0, 3.0, 8), (1.2, 6.0, 50000)):
        z = -s * np.log(np.arange(1, 201, dtype=np.float64))
        k = int(((s - 1.0) * 2.0**mu / (1.0 - n ** (1.0 - s))) ** (1.0 / s))
        q = np.arange(1, k + 1, dtype=np.float64) ** -s
        q /= q.sum()
        tok, new_mu = mod.mirostat_v1(z[None], np.array([0.999999]), np.array([mu]), n_vocab=n, eta=0.5)
        assert int(tok[0]) == k - 1, f"s = {s}: token {tok}, expected the last of the top {k}"
        assert float(new_mu[0]) == pytest.approx(mu - 0.5 * (-math.log2(q[-1]) - 5.0), rel=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_mirostat_v1_parity_llama_cpp_over_steps(seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    tau, eta, m = float(rng.choice([3.0, 5.0])), float(rng.choice([0.1, 0.5])), int(rng.choice([100, 10]))
    n_vocab = int(rng.choice([64, 32000]))
    mu_ref = mu_acc = mu_cpp = 2.0 * tau
    compared = 0
    for step in range(25):
        z = rng_logits(2000 * seed + step, (64,), scale=float(rng.choice([1.0, 2.5]))).astype(np.float32)
        z = z.astype(np.float64)
        u = float(rng.random())
        _, _, k_cpp = llama_mirostat(z, u, mu_cpp, tau, eta, m, n_vocab)
        if not math.isfinite(k_cpp) or k_cpp > 1e9 or (k_cpp < 65 and abs(k_cpp - round(k_cpp)) < 1e-3 * k_cpp):
            continue  # k within float32 rounding of an integer that matters (or beyond int range: UB in C++)
        keep = np.zeros(64, dtype=bool)
        keep[np.argsort(-z)[:max(1, min(int(k_cpp), 64))]] = True
        zk = np.sort(np.where(keep, z, NEG))[::-1]
        if _near_step(zk - zk[0] - np.log(np.exp(zk - zk[0]).sum()), u):
            continue
        tok_cpp, mu_cpp_next, _ = llama_mirostat(z, u, mu_cpp, tau, eta, m, n_vocab)
        tok_r, mu_r = R.mirostat_v1(z[None], np.array([u]), np.array([mu_ref]), tau=tau, eta=eta, m=m,
                                    n_vocab=n_vocab, order="sorted")
        tok_a, mu_a = A.mirostat_v1(torch.tensor(z[None], dtype=torch.float32), torch.tensor([u], dtype=torch.float32),
                                    torch.tensor([mu_acc], dtype=torch.float32), tau=tau, eta=eta, m=m,
                                    n_vocab=n_vocab, order="sorted")
        assert int(tok_r[0]) == tok_cpp and int(tok_a[0]) == tok_cpp, f"step {step}"
        mu_cpp, mu_ref, mu_acc = mu_cpp_next, float(mu_r[0]), float(mu_a[0])
        assert mu_ref == pytest.approx(mu_cpp, rel=1e-5, abs=1e-5)
        assert mu_acc == pytest.approx(mu_cpp, rel=1e-5, abs=1e-5)
        compared += 1
    assert compared >= 8


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_mirostat_v1_errors(mod: Any) -> None:
    z = np.zeros((2, 3))
    u = np.array([0.1, 0.2])
    mu = np.array([5.0, 5.0])
    with pytest.raises(ParameterError, match="'m'"):
        mod.mirostat_v1(z, u, mu, m=1)
    with pytest.raises(ParameterError, match="'n_vocab'"):
        mod.mirostat_v1(z, u, mu, n_vocab=1)
    with pytest.raises(ShapeError, match="'uniforms'"):
        mod.mirostat_v1(z, u[:1], mu)
    with pytest.raises(DomainError, match="'logits'"):
        mod.mirostat_v1(np.array([[NEG, NEG]]), u[:1], mu[:1])
