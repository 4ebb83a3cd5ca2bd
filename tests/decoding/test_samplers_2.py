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


# --------------------------------------------------------------------------- dry_penalty


def llama_dry(logits: np.ndarray, last_tokens: list[int], multiplier: float, base: float, allowed: int,
              last_n: int, breakers: list[list[int]]) -> np.ndarray:
    """llama_sampler_dry_apply with the ring buffer holding ``last_tokens`` (capacity >= their count; the context
    size is taken as len(last_tokens) for -1) and breakers processed as in llama_sampler_init_dry_testing; the
    repeat counts by the reverse Z-algorithm exactly as in the C++."""
    out = np.asarray(logits, dtype=np.float32).astype(np.float64)
    total = len(last_tokens)
    if multiplier == 0.0 or base < 1.0 or last_n == 0:
        return out
    eff = total if last_n == -1 else max(last_n, 0)
    ring = last_tokens[-eff:] if eff else []
    last_n_repeat = min(len(ring), eff, total)

    def rat(i: int) -> int:
        return ring[len(ring) - 1 - i]

    if last_n_repeat <= allowed:
        return out
    processed: dict[int, list[list[int]]] = {}
    for b in breakers:
        processed.setdefault(b[0], []).append(b[1:])
    rep_limit = last_n_repeat
    for i in range(last_n_repeat):
        tails = processed.get(rat(i))
        if tails is None:
            continue
        longest = -1
        for tail in tails:
            seq_len = len(tail)
            if seq_len > longest and seq_len <= i and all(tail[o] == rat(i - o - 1) for o in range(seq_len)):
                longest = seq_len
        if longest >= 0:
            rep_limit = i - longest
            break
    if rep_limit < allowed:
        return out
    count = [0] * last_n_repeat
    last = last_n_repeat - 1
    rt = lt = 0
    for k in range(1, last_n_repeat):
        if k > rt:
            n = 0
            while n + k < last_n_repeat and rat(n) == rat(n + k):
                n += 1
            count[last - k] = min(n, rep_limit)
            if n > 0:
                lt, rt = k, k + n - 1
        else:
            p = k - lt
            right_part_len = rt - k + 1
            if count[last - p] < right_part_len:
                count[last - k] = min(count[last - p], rep_limit)
            else:
                i = rt + 1
                while i < last_n_repeat and rat(i) == rat(i - k):
                    i += 1
                count[last - k] = min(i - k, rep_limit)
                lt, rt = k, i - 1
    max_repeat: dict[int, int] = {}
    for i in range(last_n_repeat - 1):
        if count[i] >= allowed:
            tok = rat(last_n_repeat - 2 - i)
            if tok not in max_repeat or max_repeat[tok] < count[i]:
                max_repeat[tok] = count[i]
    max_exponent = int(F32(88.7228391) / F32(np.log(F32(base)))) if base > 1.000001 else 0
    for tok, rep in max_repeat.items():
        if any(len(t) == 0 for t in processed.get(tok, [])):
            continue
        e = rep - allowed
        if max_exponent > 0 and e > max_exponent:
            e = max_exponent
        out[tok] = float(F32(F32(out[tok]) - F32(F32(multiplier) * F32(base**e))))
    return out


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_dry_hand_values(mod: Any) -> None:
    hist = np.array([[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]])
    z = np.ones((1, 5))
    np.testing.assert_allclose(mod.dry_penalty(z, hist, multiplier=0.5, base=2.0), [[1, 1, -7, 1, 1]])  # 0.5 * 2^4
    np.testing.assert_allclose(mod.dry_penalty(z, hist, multiplier=0.5, base=2.0, breakers=np.array([[3]])),
                               [[1, 1, 0.5, 1, 1]])  # rep_limit 2
    np.testing.assert_allclose(mod.dry_penalty(z, hist, multiplier=0.5, base=2.0, penalty_last_n=4), z)
    np.testing.assert_allclose(mod.dry_penalty(z, hist, multiplier=0.0), z)


@pytest.mark.parametrize("seed", range(30))
def test_dry_parity_llama_cpp(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    v = int(rng.integers(2, 7))
    t = int(rng.integers(0, 40))
    motif = list(rng.integers(0, v, size=int(rng.integers(1, 5))))
    hist = [int(motif[i % len(motif)]) if rng.random() < 0.85 else int(rng.integers(0, v)) for i in range(t)]
    z = rng.normal(size=v).astype(np.float32).astype(np.float64)
    multiplier = float(rng.choice([0.8, 1.0, 2.5]))
    base = float(rng.choice([1.0, 1.75, 2.0]))
    allowed = int(rng.choice([0, 1, 2, 3]))
    last_n = int(rng.choice([-1, 0, 5, 16, 64]))
    breakers: list[list[int]] = []
    for _ in range(int(rng.integers(0, 3))):
        breakers.append([int(x) for x in rng.integers(0, v, size=int(rng.integers(1, 3)))])
    want = llama_dry(z, hist, multiplier, base, allowed, last_n, breakers)
    barr = None
    if breakers:
        width = max(len(b) for b in breakers)
        barr = np.array([b + [-1] * (width - len(b)) for b in breakers], dtype=np.int64)
    h = np.array(hist, dtype=np.int64)
    got_r = R.dry_penalty(z, h, multiplier=multiplier, base=base, allowed_length=allowed, penalty_last_n=last_n,
                          breakers=barr)
    got_a = A.dry_penalty(torch.tensor(z, dtype=torch.float32), torch.tensor(h), multiplier=multiplier, base=base,
                          allowed_length=allowed, penalty_last_n=last_n,
                          breakers=None if barr is None else torch.tensor(barr))
    np.testing.assert_allclose(got_r, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_a.double().numpy(), want, rtol=1e-6, atol=1e-6)


def test_dry_exponent_clamp() -> None:
    """base 10: max exponent int(88.7228391 / ln 10) = 38; a repeat of 60 with allowed 2 is clamped to 10^38."""
    hist = np.array([0] * 62, dtype=np.int64)
    y = R.dry_penalty(np.zeros(2), hist, multiplier=1.0, base=10.0)
    assert y[0] == -1e38 and y[1] == 0.0


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_dry_errors(mod: Any) -> None:
    z = np.zeros((2, 3))
    with pytest.raises(DomainError, match="'history'"):
        mod.dry_penalty(z, np.array([[0, 3], [1, 1]]), multiplier=1.0)
    with pytest.raises(ShapeError, match="'history'"):
        mod.dry_penalty(z, np.array([0, 1]), multiplier=1.0)
    with pytest.raises(DomainError, match="'breakers'"):
        mod.dry_penalty(z, np.zeros((2, 4), dtype=np.int64), multiplier=1.0, breakers=np.array([[-2]]))
    with pytest.raises(ParameterError, match="'base'"):
        mod.dry_penalty(z, np.zeros((2, 4), dtype=np.int64), multiplier=1.0, base=0.5)
    with pytest.raises(ParameterError, match="'penalty_last_n'"):
        mod.dry_penalty(z, np.zeros((2, 4), dtype=np.int64), multiplier=1.0, penalty_last_n=-2)


#: ggml-org/llama.cpp tests/test-sampling.cpp at 07e4038f07a83cd729bbac700e6681757b313b73: test_dry's cases, the
#: expected probabilities (after the dist sampler's softmax) copied from its main().
DRY_UPSTREAM = [
    ([0.25] * 4, [0, 1], [0.25] * 4, 1.0, 1.1, 2, 4, []),
    ([0.25] * 4, [0, 1, 2, 0, 1], [0.296923, 0.296923, 0.109232, 0.296923], 1.0, 1.1, 2, 5, []),
    ([0.2] * 5, [0, 1, 3, 4, 0, 1], [0.2] * 5, 1.0, 1.1, 2, 6, [[3]]),
    ([0.2] * 5, [0, 1, 2, 0, 1], [0.241818, 0.241818, 0.032727, 0.241818, 0.241818], 2.0, 1.1, 2, 5, []),
    ([0.2] * 5, [0, 1, 2, 3, 4, 0, 1], [0.2] * 5, 1.0, 1.1, 4, 7, []),
]


@pytest.mark.parametrize("case", DRY_UPSTREAM, ids=[f"upstream-{i}" for i in range(len(DRY_UPSTREAM))])
@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_dry_upstream_vectors(mod: Any, case: tuple[Any, ...]) -> None:
    probs, hist, expected, mult, base, allowed, last_n, breakers = case
    z = np.log(np.array(probs))
    barr = np.array(breakers, dtype=np.int64) if breakers else None
    y = np.asarray(mod.dry_penalty(z, np.array(hist, dtype=np.int64), mult, base=base, allowed_length=allowed,
                                   penalty_last_n=last_n, breakers=barr))
    e = np.exp(y - y.max())
    np.testing.assert_allclose(e / e.sum(), expected, atol=1e-5)
