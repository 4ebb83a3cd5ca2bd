"""Tests of the ``categorical`` membership scores (token_self_information, min_k_prob, min_k_plus_plus,
dc_pdd_score): transcriptions of the official code (LLMLingua ``get_ppl``, DC-PDD ``cal_met``,
mink-plus-plus ``run.py``, commits below), torch ``cross_entropy``, mpmath closed forms, the defined
short/empty cases, bad input, stability and ``torch.compile``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from accelerated import categorical as A
from reference import categorical as R
from spec.errors import DomainError, DTypeError, ShapeError
from spec.validate import unchecked

mp.mp.dps = 40

DCPDD_COMMIT = "a410647941712425eb2ee50938504beb1a548dbb"  # zhang-wei-chao/DC-PDD com_det_sco.py
MINKPP_COMMIT = "5596c65dd7d5ca767c0efa80cbebf76f2e56d0a2"  # zjysteven/mink-plus-plus run.py
LLMLINGUA_COMMIT = "e0e9d99beb94098bbd924aa53c2c112eac41c758"  # microsoft/LLMLingua llmlingua/prompt_compressor.py


def layers(fn: str, *args: Any, **kwargs: Any) -> list[np.ndarray]:
    """Reference, accelerated NumPy and accelerated Torch (float64) results as NumPy float64."""
    def tt(x: Any) -> Any:
        return torch.tensor(x) if isinstance(x, np.ndarray) else x

    return [np.asarray(getattr(R, fn)(*args, **kwargs), dtype=np.float64),
            np.asarray(getattr(A, fn)(*args, **kwargs), dtype=np.float64),
            getattr(A, fn)(*[tt(a) for a in args], **{k: tt(v) for k, v in kwargs.items()}).numpy()]


# --------------------------------------------------------------------------- official-code transcriptions


def llmlingua_get_ppl_tokens(logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
                             ) -> torch.Tensor:
    """PromptCompressor.get_ppl(granularity='token') after the model call (LLMLingua @ LLMLINGUA_COMMIT)."""
    shift_logits = logits[..., :-1, :].contiguous()
    shift_labels = input_ids[..., 1:].contiguous()
    active = (attention_mask == 1)[..., :-1].view(-1)
    active_logits = shift_logits.view(-1, shift_logits.size(-1))[active]
    active_labels = shift_labels.view(-1)[active]
    return torch.nn.CrossEntropyLoss(reduction="none")(active_logits, active_labels)


def dcpdd_min_k(tar_prob: list[float], tar_tok_num: int) -> float:
    """com_det_sco.py cal_met, pred['min_20% prob'] (DC-PDD @ DCPDD_COMMIT)."""
    k = int(tar_tok_num * 0.2)
    min_k_pro = np.sort(tar_prob[:tar_tok_num])[:k]
    return float(-np.mean(min_k_pro).item())


def dcpdd_min_k_plus(tar_prob: list[float], mu: list[float], sigma: list[float]) -> float:
    """com_det_sco.py cal_met, pred['min_20%++ prob'] (sigma = the variance from com_pro_dis.py)."""
    mink_plus = (np.array(tar_prob) - np.array(mu)) / np.sqrt(np.array(sigma))
    k = int(len(mink_plus) * 0.2)
    return float(-np.mean(np.sort(mink_plus)[:k]).item())


def dcpdd_score(tar_prob: list[float], input_ids: list[int], fre_dis: np.ndarray, a: float) -> float:
    """com_det_sco.py cal_met, pred['DC-PDD'] (with fre_dis a NumPy array and `a` a float)."""
    probs = np.exp(tar_prob)
    input_ids_np = np.array(input_ids)
    indexes = []
    current_ids: list[int] = []
    for i, input_id in enumerate(input_ids):
        if input_id not in current_ids:
            indexes.append(i)
            current_ids.append(input_id)
    x_pro = probs[indexes]
    x_fre = fre_dis[input_ids_np[indexes]]
    with np.errstate(divide="ignore"):
        ce = x_pro * np.log(1 / x_fre)
    ce[ce > a] = a
    return float(-np.mean(ce))


def mink_run_py(logits: torch.Tensor, ids: torch.Tensor, ratio: float) -> tuple[float, float]:
    """mink-plus-plus run.py (@ MINKPP_COMMIT) on one sequence: (mink_ratio, mink++_ratio), already aligned."""
    probs = F.softmax(logits, dim=-1)
    log_probs = F.log_softmax(logits, dim=-1)
    token_log_probs = log_probs.gather(dim=-1, index=ids.unsqueeze(-1)).squeeze(-1)
    mu = (probs * log_probs).sum(-1)
    sigma = (probs * torch.square(log_probs)).sum(-1) - torch.square(mu)
    k_length = int(len(token_log_probs) * ratio)
    mink = np.mean(np.sort(token_log_probs.cpu())[:k_length]).item()
    mink_plus = (token_log_probs - mu) / sigma.sqrt()
    k_length = int(len(mink_plus) * ratio)
    minkpp = np.mean(np.sort(mink_plus.cpu())[:k_length]).item()
    return float(mink), float(minkpp)


# --------------------------------------------------------------------------- token_self_information


def test_tsi_matches_llmlingua_get_ppl() -> None:
    rng = np.random.default_rng(3)
    logits = torch.tensor(rng.normal(0, 2, size=(2, 7, 11)))
    ids = torch.tensor(rng.integers(0, 11, size=(2, 7)))
    attn = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]])
    # get_ppl runs on one text at a time (batch 1: its .view(-1) needs a contiguous mask)
    expected = np.concatenate([llmlingua_get_ppl_tokens(logits[r:r + 1], ids[r:r + 1], attn[r:r + 1]).numpy()
                               for r in range(2)])
    # aligned inputs: logits[:, :-1] score ids[:, 1:]; masked positions become ignore_index
    target = torch.where(attn[:, :-1] == 1, ids[:, 1:], torch.tensor(-100))
    for got in layers("token_self_information", logits[:, :-1].numpy(), target.numpy()):
        active = (attn[:, :-1] == 1).numpy()
        np.testing.assert_allclose(got[active], expected, rtol=1e-13)
        assert np.all(got[~active] == 0)


def test_tsi_matches_torch_cross_entropy_and_bits() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, size=(4, 6, 9))
    z[0, 0, :4] = -np.inf
    y = rng.integers(4, 9, size=(4, 6))
    y[1, 2] = -100
    expected = F.cross_entropy(torch.tensor(z).permute(0, 2, 1), torch.tensor(y), reduction="none").numpy()
    for got in layers("token_self_information", z, y):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    for got in layers("token_self_information", z, y, base=2.0):
        np.testing.assert_allclose(got, expected / math.log(2.0), rtol=1e-12, atol=1e-14)


def test_tsi_mpmath_and_extremes() -> None:
    z = np.array([[1e6, 1e6 - 3.0, -np.inf], [0.5, -1.25, 2.0]])
    y = np.array([1, 0])
    row = [mp.mpf(0.5), mp.mpf(-1.25), mp.mpf(2.0)]
    e1 = float(mp.log(mp.fsum(mp.e**x for x in row)) - row[0])
    e0 = float(mp.log(1 + mp.e**-3) + 3)
    for got in layers("token_self_information", z, y):
        # the Torch path is lse − z_y (as torch's cross_entropy): absolute error ~ ulp(max |z|) = 1.2e-10 here
        np.testing.assert_allclose(got, [e0, e1], rtol=1e-13, atol=16 * np.finfo(np.float64).eps * 1e6)
    for got in layers("token_self_information", z, y)[:2]:  # the NumPy paths shift first: no digits lost
        np.testing.assert_allclose(got, [e0, e1], rtol=1e-13)
    for got in layers("token_self_information", np.array([[0.0, -np.inf]]), np.array([1])):
        assert np.isposinf(got[0])


def test_tsi_gradient_is_softmax_minus_onehot() -> None:
    z = torch.tensor(np.random.default_rng(1).normal(size=(3, 5)), requires_grad=True)
    y = torch.tensor([0, 4, -100])
    A.token_self_information(z, y).sum().backward()
    expected = torch.softmax(z.detach(), -1) - F.one_hot(torch.tensor([0, 4, 0]), 5)
    expected[2] = 0
    torch.testing.assert_close(z.grad, expected)


# --------------------------------------------------------------------------- min_k_prob


def test_min_k_matches_dcpdd_and_minkpp_code() -> None:
    rng = np.random.default_rng(11)
    for n in (5, 9, 15, 23, 40):
        lp = -rng.exponential(2.0, size=n)
        got = [g for g in layers("min_k_prob", lp[None], negate=True)]
        for g in got:
            assert g[0] == pytest.approx(dcpdd_min_k(list(lp), n), rel=1e-14)
        logits = torch.tensor(rng.normal(0, 2, size=(n, 7)))
        ids = torch.tensor(rng.integers(0, 7, size=n))
        lpt = torch.log_softmax(logits, -1).gather(-1, ids[:, None])[:, 0].numpy()
        for ratio in (0.1, 0.3, 0.5, 1.0):
            if int(n * ratio) == 0:
                continue
            mink, _ = mink_run_py(logits, ids, ratio)
            for g in layers("min_k_prob", lpt[None], ratio=ratio):
                assert g[0] == pytest.approx(mink, rel=1e-13)


def test_min_k_short_input_is_defined() -> None:
    lp = [-0.5, -3.0, -1.0, -2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert math.isnan(dcpdd_min_k(lp, 4))  # the official code: mean of an empty slice
    for g in layers("min_k_prob", np.array([lp]), negate=True):
        assert g[0] == 3.0  # k = max(1, 0) = 1: −min
    for g in layers("min_k_prob", np.array([lp, lp]), mask=np.array([[0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)):
        np.testing.assert_array_equal(g, [0.0, -0.5])


def test_min_k_batched_mask_equals_truncation() -> None:
    rng = np.random.default_rng(2)
    lp = -rng.exponential(size=(3, 30))
    lengths = [30, 17, 6]
    mask = np.arange(30)[None] < np.array(lengths)[:, None]
    for g in layers("min_k_prob", lp, mask=mask, negate=True):
        for r, n in enumerate(lengths):
            assert g[r] == pytest.approx(dcpdd_min_k(list(lp[r]), n), rel=1e-14)


# --------------------------------------------------------------------------- min_k_plus_plus


def test_min_k_plus_plus_matches_official_code() -> None:
    rng = np.random.default_rng(21)
    for n in (5, 8, 20):
        logits = torch.tensor(rng.normal(0, 2.5, size=(n, 13)))
        ids = torch.tensor(rng.integers(0, 13, size=n))
        for ratio in (0.2, 0.5, 1.0):
            _, minkpp = mink_run_py(logits, ids, ratio)
            for g in layers("min_k_plus_plus", logits.numpy()[None], ids.numpy()[None], ratio=ratio):
                assert g[0] == pytest.approx(minkpp, rel=1e-9)
        # DC-PDD's cal_met with mu/sigma as com_pro_dis.py computes them, and its sign
        lp = torch.log_softmax(logits, -1)
        mu = (lp.exp() * lp).sum(-1)
        sigma = (lp.exp() * lp.square()).sum(-1) - mu.square()
        tar = lp.gather(-1, ids[:, None])[:, 0]
        expected = dcpdd_min_k_plus(tar.tolist(), mu.tolist(), sigma.tolist())
        for g in layers("min_k_plus_plus", logits.numpy()[None], ids.numpy()[None], negate=True):
            assert g[0] == pytest.approx(expected, rel=1e-9)


def test_min_k_plus_plus_divides_by_the_standard_deviation() -> None:
    # Bernoulli row p = (0.1, 0.9): z(class 0) = −√(0.9/0.1) = −3 exactly; dividing by the variance
    # (the catalogue's suspected quirk) would give −3/√(0.09)·... ≠ −3
    z = np.array([[[0.0, math.log(9.0)]]])
    for g in layers("min_k_plus_plus", z, np.array([[0]])):
        assert g[0] == pytest.approx(-3.0, rel=1e-13)


def test_min_k_plus_plus_scale_free_and_degenerate() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(2, 6, 5))
    y = rng.integers(0, 5, size=(2, 6))
    base = R.min_k_plus_plus(z, y, ratio=0.5)
    # tiny gaps: the standardised score is a limit that does not depend on the gap size
    # (p → uniform; z_t → (g_t − ḡ)/sd(g) with uniform weights); checked against mpmath
    tiny = 1e-30 * z
    for r in range(2):
        zs = []
        for t in range(6):
            g = [mp.mpf(x) for x in z[r, t]]
            gbar = mp.fsum(g) / 5
            sd = mp.sqrt(mp.fsum((x - gbar) ** 2 for x in g) / 5)
            zs.append(float((g[int(y[r, t])] - gbar) / sd))
        expected = float(np.mean(np.sort(zs)[:3]))
        for got in layers("min_k_plus_plus", tiny, y, ratio=0.5):
            assert got[r] == pytest.approx(expected, rel=1e-9)
    assert np.all(np.isfinite(base))
    # σ = 0: the official code gives 0/0 = NaN, here 0
    flat = np.zeros((1, 4, 6))
    for g in layers("min_k_plus_plus", flat, np.array([[0, 1, 2, 3]])):
        assert g[0] == 0.0


# --------------------------------------------------------------------------- dc_pdd_score


@pytest.mark.parametrize("a", [0.01, 0.3, 5.0])
def test_dc_pdd_matches_official_code(a: float) -> None:
    rng = np.random.default_rng(int(a * 100))
    v = 12
    counts = rng.integers(0, 20, size=v).astype(np.float64)
    counts[3] = 0.0
    for n in (1, 6, 25):
        ids = rng.integers(0, v, size=n)
        lp = -rng.exponential(1.5, size=n)
        raw = dcpdd_score(list(lp), list(ids), counts, a)  # cal_met indexes fre_dis (raw counts)
        smooth = dcpdd_score(list(lp), list(ids), (counts + 1) / (counts.sum() + v), a)  # fre_dis_smo
        for g in layers("dc_pdd_score", lp[None], ids[None], counts, a=a, frequency="raw_counts", negate=True):
            assert g[0] == pytest.approx(raw, rel=1e-13, abs=1e-15)
        for g in layers("dc_pdd_score", lp[None], ids[None], counts, a=a, negate=True):
            assert g[0] == pytest.approx(smooth, rel=1e-13, abs=1e-15)
        for g in layers("dc_pdd_score", lp[None], ids[None], counts, a=a):
            assert g[0] == pytest.approx(-smooth, rel=1e-13, abs=1e-15)  # the paper's β: higher = member


def test_dc_pdd_first_occurrence_with_ignored_and_batches() -> None:
    # ids with repeats, ignored positions in between: FOS among kept positions only
    lp = np.log(np.array([[0.5, 0.25, 0.8, 0.5, 0.125, 0.9], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]))
    ids = np.array([[2, -100, 2, 0, 0, 1], [-100, -100, -100, -100, -100, -100]])
    counts = np.array([2.0, 0.0, 5.0])
    f = (counts + 1) / 10
    expected = (min(0.5 * -math.log(f[2]), 1.0) + 0.5 * -math.log(f[0]) + min(0.9 * -math.log(f[1]), 1.0)) / 3
    for g in layers("dc_pdd_score", lp, ids, counts, a=1.0):
        np.testing.assert_allclose(g, [expected, 0.0], rtol=1e-14)


# --------------------------------------------------------------------------- bad input, compile


@pytest.mark.parametrize("backend", ["reference", "numpy", "torch"])
def test_bad_inputs(backend: str) -> None:
    mod = R if backend == "reference" else A

    def c(x: Any) -> Any:
        return torch.tensor(x) if backend == "torch" and isinstance(x, np.ndarray) else x

    lp = np.array([[-0.5, -1.0, -2.0]])
    ids = np.array([[0, 1, 1]])
    cnt = np.array([1.0, 2.0])
    with pytest.raises(DomainError, match="log_probs"):
        mod.min_k_prob(c(np.array([[0.5, -1.0]])))
    with pytest.raises(DomainError, match="log_probs"):
        mod.dc_pdd_score(c(np.array([[np.nan, -1.0, -1.0]])), c(ids), c(cnt))
    with pytest.raises(DomainError, match="counts"):
        mod.dc_pdd_score(c(lp), c(ids), c(np.array([1.0, -2.0])))
    with pytest.raises(DomainError, match="input_ids"):
        mod.dc_pdd_score(c(lp), c(np.array([[0, 2, 1]])), c(cnt))
    with pytest.raises(DTypeError, match="input_ids"):
        mod.dc_pdd_score(c(lp), c(lp), c(cnt))
    with pytest.raises(ShapeError, match="mask"):
        mod.min_k_prob(c(lp), mask=c(np.ones((1, 2), dtype=bool)))
    with pytest.raises(ShapeError, match="target"):
        mod.min_k_plus_plus(c(np.zeros((2, 3, 4))), c(np.zeros((2, 2), dtype=np.int64)))
    with pytest.raises(DomainError, match="target"):
        mod.token_self_information(c(np.zeros((2, 4))), c(np.array([0, 4])))
    with pytest.raises(ValueError, match="ratio"):
        mod.min_k_prob(c(lp), ratio=0.0)


ZC = torch.tensor(np.random.default_rng(0).normal(size=(2, 6, 5)))
COMPILE = {
    "token_self_information": lambda: A.token_self_information(
        torch.tensor([[1.0, 0.0, -math.inf], [0.5, 2.0, 1.0]]), torch.tensor([0, -100]), base=2.0),
    "min_k_prob": lambda: A.min_k_prob(torch.tensor([[-1.0, -2.0, -0.5, -4.0, -3.0, -2.5]]),
                                       mask=torch.tensor([[True, True, False, True, True, True]]), ratio=0.5),
    "min_k_plus_plus": lambda: A.min_k_plus_plus(ZC, torch.tensor([[0, 1, 2, 3, 4, -100]] * 2)),
    "dc_pdd_score": lambda: A.dc_pdd_score(torch.tensor([[-0.5, -1.0, -0.1, -2.0]]), torch.tensor([[1, 2, 1, 0]]),
                                           torch.tensor([3.0, 0.0, 1.0]), a=0.5),
}


@pytest.mark.parametrize("name", sorted(COMPILE))
def test_compiles_fullgraph_unchecked(name: str) -> None:
    fn = COMPILE[name]
    eager = fn()
    torch._dynamo.reset()
    with unchecked():
        compiled = torch.compile(fn, fullgraph=True, backend="eager")()
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_low_precision_close_to_float64(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(8)
    z = rng.normal(0, 2, size=(3, 10, 7))
    y = rng.integers(0, 7, size=(3, 10))
    zr = torch.tensor(z).to(dtype).double().numpy()
    exact = R.min_k_plus_plus(zr, y, ratio=0.3)
    got = A.min_k_plus_plus(torch.tensor(zr).to(dtype), torch.tensor(y), ratio=0.3)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.double().numpy(), exact, rtol=2e-2, atol=2e-2)
