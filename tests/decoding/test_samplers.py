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


# --------------------------------------------------------------------------- top_n_sigma_sampling


def llama_top_n_sigma(logits: np.ndarray, n: float) -> np.ndarray:
    """llama_sampler_top_n_sigma_apply (float32 accumulators as in the C++), returned as a filtered logits row."""
    cur = Candidates(logits)
    if n <= 0.0 or len(cur.data) <= 1:
        return np.asarray(logits, dtype=np.float64).copy()
    mx = cur.data[0][1]
    logits_sum = F32(0.0)
    valid = 0
    for d in cur.data:
        if d[1] != NEG:
            if d[1] > mx:
                mx = d[1]
            logits_sum = F32(logits_sum + d[1])
            valid += 1
    mean = F32(logits_sum / valid) if valid > 0 else F32(0.0)
    acc = F32(0.0)
    for d in cur.data:
        if d[1] != NEG:
            acc = F32(float(acc) + (float(d[1]) - float(mean)) ** 2)  # pow() in double, += into a float
    std = F32(math.sqrt(float(acc) / valid)) if valid > 0 else F32(0.0)
    for d in cur.data:
        if d[1] < F32(mx - F32(F32(n) * std)):
            d[1] = F32(NEG)
    out = np.empty(len(cur.data))
    for d in cur.data:  # the sorting softmax that follows only reorders; map back by id
        out[d[0]] = float(d[1])
    return out


def test_top_n_sigma_hand_values() -> None:
    z = np.array([[4.0, 2.0, 0.0, -2.0, NEG]])  # mean 1, sigma sqrt 5 = 2.236 over the finite entries
    for mod in impls():
        np.testing.assert_array_equal(mod.top_n_sigma_sampling(z, 1.0), [[4.0, 2.0, NEG, NEG, NEG]])
        np.testing.assert_array_equal(mod.top_n_sigma_sampling(z, 2.0), [[4.0, 2.0, 0.0, NEG, NEG]])  # 4 - 4.472
        np.testing.assert_array_equal(mod.top_n_sigma_sampling(z, 0.0), z)
        np.testing.assert_array_equal(mod.top_n_sigma_sampling(z, 0.0, zero="keep_max"), [[4.0, NEG, NEG, NEG, NEG]])


@pytest.mark.parametrize("seed", range(16))
def test_top_n_sigma_parity_llama_cpp(seed: int) -> None:
    """Float32 transcription of llama.cpp vs ours on float32-representable logits; n away from every cut."""
    rng = np.random.default_rng(seed)
    z = rng_logits(seed, (6, 40), holes=seed % 2 == 1).astype(np.float32).astype(np.float64)
    n = float(rng.choice([0.5, 1.0, 1.7, 2.5, 0.0, -1.0]))
    for r in z:
        f = r[np.isfinite(r)]
        sigma = float(np.std(f))
        cuts = (f.max() - f) / sigma
        if n > 0 and np.min(np.abs(cuts - n)) < 1e-4:
            continue  # within float32 rounding of the threshold
        want = llama_top_n_sigma(r, n)
        ours_n = max(n, 0.0)  # llama.cpp's n < 0 (disabled) is n = 0 here
        np.testing.assert_array_equal(R.top_n_sigma_sampling(r, ours_n), want)
        np.testing.assert_array_equal(A.top_n_sigma_sampling(torch.tensor(r, dtype=torch.float32), ours_n).double()
                                      .numpy(), want)


def test_top_n_sigma_invariances_and_stability() -> None:
    z = rng_logits(5, (4, 30), holes=True)
    base = np.isfinite(R.top_n_sigma_sampling(z, 1.2))
    np.testing.assert_array_equal(np.isfinite(R.top_n_sigma_sampling(z * 0.37 + 100.0, 1.2)), base)
    big = z * 1e30  # large magnitudes: sigma overflows nothing in float64
    np.testing.assert_array_equal(np.isfinite(A.top_n_sigma_sampling(big, 1.2)), base)
    y = A.top_n_sigma_sampling(torch.tensor(z * 1e3, dtype=torch.float16).clamp(-6e4, 6e4), 1.2)
    assert y.dtype == torch.float16 and torch.isfinite(y).any(dim=-1).all()


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_top_n_sigma_errors(mod: Any) -> None:
    from spec.errors import ParameterError

    z = np.zeros((2, 3))
    for bad in (-0.5, math.nan, math.inf):
        with pytest.raises(ParameterError, match="'n'"):
            mod.top_n_sigma_sampling(z, bad)
    with pytest.raises(ParameterError, match="'zero'"):
        mod.top_n_sigma_sampling(z, 1.0, zero="max")
    with pytest.raises(DomainError, match="'logits'"):
        mod.top_n_sigma_sampling(np.array([[NEG, NEG]]), 1.0)


# --------------------------------------------------------------------------- xtc_sampling


def llama_xtc(logits: np.ndarray, chance: float, probability: float, threshold: float, min_keep: int) -> np.ndarray:
    """llama_sample_xtc_apply on a fresh candidate array (every entry a candidate, as after llama_sampler_sample),
    with ``chance`` standing for the mt19937 draw; returned as filtered logits by token id."""
    cur = Candidates(logits)
    out = np.asarray(logits, dtype=np.float64).copy()
    if probability <= 0.0 or threshold > 0.5 or len(cur.data) < 2:
        return out
    if chance > probability:
        return out
    llama_softmax_impl(cur, True)
    pos_last = 0
    for i, d in enumerate(cur.data):
        if d[2] >= F32(threshold):
            pos_last = i
        else:
            break
    if len(cur.data) - pos_last >= min_keep and pos_last > 0:
        for d in cur.data[:pos_last]:
            out[d[0]] = NEG
    return out


def test_xtc_hand_values() -> None:
    z = np.log(np.array([[0.5, 0.25, 0.125, 0.125], [0.5, 0.25, 0.125, 0.125]]))
    for mod in impls():
        y = mod.xtc_sampling(z, np.array([0.3, 0.7]), 0.5, 0.2)
        np.testing.assert_array_equal(y, [[NEG, *z[0, 1:]], z[1]])  # row 1: u = 0.7 > 0.5, no-op
        y = mod.xtc_sampling(z, np.array([0.0, 0.0]), 1.0, 0.125)  # all four reach 1/8: keep only the last (index 3)
        np.testing.assert_array_equal(y, [[NEG, NEG, NEG, z[0, 3]]] * 2)
        np.testing.assert_array_equal(mod.xtc_sampling(z, np.array([0.0, 0.0]), 1.0, 0.6), z)  # threshold > 1/2
        np.testing.assert_array_equal(mod.xtc_sampling(z, np.array([0.0, 0.0]), 1.0, 0.125, min_tokens_to_keep=2), z)


@pytest.mark.parametrize("seed", range(16))
def test_xtc_parity_llama_cpp(seed: int) -> None:
    """Rows without -inf (llama.cpp counts -inf entries as candidates) and without ties (its sort is unstable),
    probabilities away from the threshold by more than float32 rounding."""
    rng = np.random.default_rng(100 + seed)
    z = rng_logits(seed, (8, 12)) / float(rng.choice([0.5, 1.0, 3.0]))
    z = z.astype(np.float32).astype(np.float64)
    chance = rng.random(8)
    probability = float(rng.choice([0.0, 0.3, 0.7, 1.0]))
    threshold = float(rng.choice([0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 0.6]))
    m = int(rng.choice([1, 2, 5]))
    for r, c in zip(z, chance, strict=True):
        p = np.exp(r - r.max()) / np.exp(r - r.max()).sum()
        if np.min(np.abs(p - threshold)) < 1e-5 or abs(c - probability) < 1e-6:
            continue
        want = llama_xtc(r, float(c), probability, threshold, m)
        got_r = R.xtc_sampling(r, np.float64(c), probability, threshold, min_tokens_to_keep=m)
        got_a = A.xtc_sampling(torch.tensor(r, dtype=torch.float32), torch.tensor(c, dtype=torch.float32),
                               probability, threshold, min_tokens_to_keep=m)
        np.testing.assert_array_equal(got_r, want)
        np.testing.assert_array_equal(got_a.double().numpy(), want)


def test_xtc_batch_rows_independent_and_errors() -> None:
    z = rng_logits(9, (3, 4, 6), ties=True, holes=True)
    u = np.random.default_rng(9).random((3, 4))
    full = A.xtc_sampling(torch.tensor(z), torch.tensor(u), 0.6, 0.1, min_tokens_to_keep=2).numpy()
    for i in range(3):
        np.testing.assert_array_equal(R.xtc_sampling(z[i], u[i], 0.6, 0.1, min_tokens_to_keep=2), full[i])
    from spec.errors import ParameterError

    for mod in impls():
        with pytest.raises(ShapeError, match="'uniforms'"):
            mod.xtc_sampling(z, u[0], 0.5, 0.1)
        with pytest.raises(DomainError, match="'uniforms'"):
            mod.xtc_sampling(z, np.ones((3, 4)), 0.5, 0.1)
        with pytest.raises(ParameterError, match="'threshold'"):
            mod.xtc_sampling(z, u, 0.5, 1.5)
        with pytest.raises(ParameterError, match="'probability'"):
            mod.xtc_sampling(z, u, math.nan, 0.1)


# --------------------------------------------------------------------------- dynamic_temperature


def llama_temp_impl(cur: Candidates, temp: float) -> None:
    """llama_sampler_temp_impl: temp <= 0 keeps the first maximum of the current array order."""
    if temp <= 0.0:
        max_i, max_l = 0, cur.data[0][1]
        for i in range(1, len(cur.data)):
            if cur.data[i][1] > max_l:
                cur.data[max_i][1] = F32(NEG)
                max_i, max_l = i, cur.data[i][1]
            else:
                cur.data[i][1] = F32(NEG)
        return
    for d in cur.data:
        d[1] = F32(d[1] / F32(temp))


def llama_temp_ext(logits: np.ndarray, temp: float, delta: float, exponent: float) -> np.ndarray:
    """llama_sampler_temp_ext_apply on a candidate array holding exactly ``logits`` (returned by token id)."""
    cur = Candidates(logits)
    if delta > 0:
        min_temp = max(0.0, temp - delta)
        max_temp = temp + delta
        if len(cur.data) <= 1:
            return np.asarray(logits, dtype=np.float64).copy()
        max_entropy = F32(-np.log(F32(1.0) / F32(len(cur.data))))
        llama_softmax_impl(cur, True)
        entropy = F32(0.0)
        for d in cur.data:
            if d[2] > 0.0:
                entropy = F32(entropy - F32(d[2] * F32(np.log(d[2]))))
        normalized = F32(entropy / max_entropy)
        dyn = F32(F32(min_temp) + F32(F32(max_temp) - F32(min_temp)) * F32(np.power(normalized, F32(exponent))))
        llama_temp_impl(cur, float(dyn))
    else:
        llama_temp_impl(cur, temp)
    out = np.empty(len(cur.data))
    for d in cur.data:
        out[d[0]] = float(d[1])
    return out


def test_dynamic_temperature_hand_values() -> None:
    z = np.array([[0.0, 0.0, NEG, NEG], [3.0, 3.0, NEG, NEG]])  # H = log 2, H_max = log 4 ('vocab'): ratio 1/2
    for mod in impls():
        y = mod.dynamic_temperature(z, 1.0, delta=0.5, exponent=2.0, candidates="vocab")  # T = 0.5 + 1/4
        np.testing.assert_allclose(y, [[0.0, 0.0, NEG, NEG], [4.0, 4.0, NEG, NEG]], rtol=1e-15)
        y = mod.dynamic_temperature(z, 1.0, delta=0.5)  # 'finite': H = H_max = log 2, T = T_max = 1.5
        np.testing.assert_allclose(y, [[0.0, 0.0, NEG, NEG], [2.0, 2.0, NEG, NEG]], rtol=1e-15)
        np.testing.assert_array_equal(mod.dynamic_temperature(z, 0.0), [[0.0, NEG, NEG, NEG], [3.0, NEG, NEG, NEG]])


@pytest.mark.parametrize("seed", range(16))
def test_dynamic_temperature_parity_llama_cpp(seed: int) -> None:
    """Full rows vs candidates='vocab', and the finite sub-array (llama.cpp after a shrinking sampler) vs 'finite';
    rows without ties at the max (llama.cpp's greedy step keeps the first maximum of its *sorted* order)."""
    rng = np.random.default_rng(200 + seed)
    z = rng_logits(seed, (6, 10), holes=seed % 2 == 1).astype(np.float32).astype(np.float64)
    temp = float(rng.choice([0.0, 0.3, 0.8, 1.5]))
    delta = float(rng.choice([0.0, 0.2, 0.8, 2.0]))
    expo = float(rng.choice([0.0, 0.5, 1.0, 2.0]))
    for r in z:
        want_vocab = llama_temp_ext(r, temp, delta, expo)
        got = R.dynamic_temperature(r, temp, delta=delta, exponent=expo, candidates="vocab")
        np.testing.assert_allclose(got, want_vocab, rtol=2e-5)
        got_a = A.dynamic_temperature(torch.tensor(r, dtype=torch.float32), temp, delta=delta, exponent=expo,
                                      candidates="vocab")
        np.testing.assert_allclose(got_a.double().numpy(), want_vocab, rtol=2e-5)
        fin = np.flatnonzero(np.isfinite(r))
        want_finite = np.full_like(r, NEG)
        want_finite[fin] = llama_temp_ext(r[fin], temp, delta, expo)
        np.testing.assert_allclose(R.dynamic_temperature(r, temp, delta=delta, exponent=expo), want_finite, rtol=2e-5)


def test_dynamic_temperature_peaked_rows_accurate() -> None:
    """A row whose other logits sit 40 below the max: H = Σ p_i (40 + log(1 + r)) + (1 - r') log1p(r) exactly, where
    the naive float64 formula drops the maximum's own term (log Σ rounds to 0)."""
    r = np.array([0.0, -40.0, -40.0, -45.0])
    e = np.exp(r)
    p = e / e.sum()
    import mpmath

    mpmath.mp.dps = 50
    ps = [mpmath.e ** mpmath.mpf(x) for x in r]
    tot = sum(ps)
    h_exact = float(-sum((q / tot) * mpmath.log(q / tot) for q in ps))
    t = 0.0 + 1.0 * (h_exact / math.log(4))  # T_min = max(0, 0.5 - 0.5) = 0, T_max = 1: T = H / H_max ~ 1e-16
    y = R.dynamic_temperature(r, 0.5, delta=0.5, candidates="vocab")
    np.testing.assert_allclose(y[1:], r[1:] / t, rtol=1e-12)
    y32 = A.dynamic_temperature(torch.tensor(r, dtype=torch.float32), 0.5, delta=0.5, candidates="vocab")
    np.testing.assert_allclose(y32.double().numpy()[1:], r[1:] / t, rtol=1e-5)
    assert p[0] > 0.99


@pytest.mark.parametrize("mod", impls(), ids=["reference", "accelerated"])
def test_dynamic_temperature_errors(mod: Any) -> None:
    from spec.errors import ParameterError

    z = np.zeros((2, 3))
    with pytest.raises(ParameterError, match="'temperature'"):
        mod.dynamic_temperature(z, -0.1)
    with pytest.raises(ParameterError, match="'delta'"):
        mod.dynamic_temperature(z, 1.0, delta=math.inf)
    with pytest.raises(ParameterError, match="'exponent'"):
        mod.dynamic_temperature(z, 1.0, exponent=math.nan)
    with pytest.raises(ParameterError, match="'candidates'"):
        mod.dynamic_temperature(z, 1.0, candidates="all")
    with pytest.raises(DomainError, match="'logits'"):
        mod.dynamic_temperature(np.array([[0.0, math.nan]]), 1.0)


# --------------------------------------------------------------------------- llama.cpp's own test vectors

#: ggml-org/llama.cpp tests/test-sampling.cpp at 07e4038f07a83cd729bbac700e6681757b313b73 (read with the search tools):
#: the expected probabilities below are copied from its main(); the logits are log of its input probabilities.
UPSTREAM_TESTS = "07e4038f07a83cd729bbac700e6681757b313b73"


def kept_probs(y: np.ndarray) -> np.ndarray:
    fin = np.isfinite(y)
    e = np.exp(y[fin] - y[fin].max())
    return np.sort(e / e.sum())[::-1]


@pytest.mark.parametrize(("threshold", "kept"), [(0.09, [3]), (0.19, [2, 3]), (0.29, [1, 2, 3]), (0.39, [0, 1, 2, 3])])
def test_xtc_upstream_vectors(threshold: float, kept: list[int]) -> None:
    """test_xtc({0.4, 0.3, 0.2, 0.1}, ..., p = 0.99, t): the chance of llama.cpp's seeded draw is <= 0.99, so u = 0."""
    z = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    for mod in impls():
        y = np.asarray(mod.xtc_sampling(z, np.float64(0.0), 0.99, threshold))
        np.testing.assert_array_equal(np.flatnonzero(np.isfinite(y)), kept)


@pytest.mark.parametrize(("n", "expected"), [(1.0, [0.571429, 0.428571]), (0.0, [0.4, 0.3, 0.2, 0.1]),
                                             (3.0, [0.4, 0.3, 0.2, 0.1])])
def test_top_n_sigma_upstream_vectors(n: float, expected: list[float]) -> None:
    z = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    for mod in impls():
        np.testing.assert_allclose(kept_probs(np.asarray(mod.top_n_sigma_sampling(z, n))), expected, atol=1e-5)


@pytest.mark.parametrize(("temp", "expected"), [(1.0, [0.4, 0.3, 0.2, 0.1]), (0.0, [1.0])])
def test_dynamic_temperature_upstream_vectors(temp: float, expected: list[float]) -> None:
    """test_temp_ext(..., temp, delta = 0, exponent = 1): plain temperature; temp = 0 is greedy (token 3)."""
    z = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    for mod in impls():
        y = np.asarray(mod.dynamic_temperature(z, temp, delta=0.0, exponent=1.0))
        np.testing.assert_allclose(kept_probs(y), expected, atol=1e-5)
        assert np.isfinite(y[3])
