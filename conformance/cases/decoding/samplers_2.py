"""Case strategies and curated hard cases of the stateful peers' samplers (``mirostat_v2``, ``mirostat_v1``).

Logits come from the shared decoding draws; the state ``mu`` of each row is drawn relative to that row's surprises
``-log2 p`` (mostly strictly between two of them, so the cut falls mid-distribution, sometimes below the smallest
(nothing survives but the argmax), above the largest (no truncation) or within 1e-4 of one); uniforms per row over
``[0, 1)`` with 0 and the largest value below 1 as edges. A ``mu`` within 1e-3 (relative) of a surprise is moved
2e-3 past it: there the kept set is decided by rounding, and although the harness accepts the token of the reference
at ``mu`` nudged by rounding size (``mu`` is ``sensitive``), the *continuous* output ``mu' = mu - eta (s - tau)`` of
that nudged reference differs from the backend's by the nudge itself (a documented limit of the comparison, not of
the method; the curated cases put ``mu`` exactly between dyadic surprises instead). Curated ``expected`` outputs are
derived by hand in each ``why``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.decoding._draws import batch_and_vocab, logits_for, pick
from conformance.strategies import Case, largest_below_one, representable
from spec.decoding.samplers_2 import mirostat_v1_log_k
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

NEG = -math.inf
LN2 = math.log(2.0)

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


def _surprises(r: Any) -> list[float]:
    f = r[np.isfinite(r)]
    s = f - f.max()
    logp = s - math.log(float(np.sum(np.exp(s))))
    return sorted({float(-x / LN2) for x in logp})


@st.composite
def _uniform(draw: st.DrawFn) -> float:
    kind = draw(st.sampled_from(["any", "any", "any", "zero", "top"]))
    if kind == "zero":
        return 0.0
    if kind == "top":
        return largest_below_one("float64")
    return float(draw(st.floats(0.0, 0.999)))


@st.composite
def _state_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    n = int(np.prod(batch)) if batch else 1
    mus, us = [], []
    for r in z.reshape(n, v):
        cuts = _surprises(r)
        mu_r = float(draw(pick(cuts, -1.0, max(cuts) + 3.0, [-1.0, 10.0, 2 * 5.0]), label="mu"))
        for c in cuts:
            if abs(mu_r - c) < 1e-3 * (1.0 + abs(c)):
                mu_r = c + 2e-3 * (1.0 + abs(c))
        mus.append(mu_r)
        us.append(draw(_uniform(), label="u"))
    mu = representable(np.array(mus, dtype=np.float64), dtype).reshape(batch)
    u = np.minimum(representable(np.array(us, dtype=np.float64), dtype), largest_below_one(dtype)).reshape(batch)
    params: dict[str, Any] = {
        "tau": float(draw(st.one_of(st.sampled_from([5.0, 3.0, 0.5]), st.floats(0.0, 10.0)), label="tau")),
        "eta": float(draw(st.one_of(st.sampled_from([0.1, 0.0, 1.0]), st.floats(0.0, 2.0)), label="eta")),
        "order": draw(st.sampled_from(["vocab", "sorted"]), label="order"),
    }
    return Case({"logits": z, "uniforms": u, "mu": mu}, params, {"...": batch, "V": v})


# --------------------------------------------------------------------------- mirostat_v2

CASES["mirostat_v2"] = _state_case
CURATED["mirostat_v2"] = (
    Curated("cut at mu", "p = 1/2, 1/4, 1/8, 1/8 (surprises 1, 2, 3, 3 bits), mu = 2.5 keeps tokens 0 and 1, q = 2/3, "
            "1/3; u = 0.7 > 2/3 picks token 1 (vocabulary order), surprise log2 3 = 1.585; tau = 5, eta = 0.5: "
            "mu' = 2.5 - 0.5 (1.5849625007211562 - 5) = 4.207518749639422",
            {"logits": [[math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]], "uniforms": [0.7],
             "mu": [2.5]}, {"tau": 5.0, "eta": 0.5},
            {"tokens": [1], "mu": [2.5 - 0.5 * (math.log2(3.0) - 5.0)]}),
    Curated("nothing survives", "four equal logits: every surprise is 2 bits > mu = 1: the first maximum (0) alone, "
            "surprise 0; mu' = 1 - 0.1 (0 - 5) = 1.5", {"logits": [[0.0, 0.0, 0.0, 0.0]], "uniforms": [0.9],
                                                          "mu": [1.0]}, {}, {"tokens": [0], "mu": [1.5]}),
    Curated("sorted walk", "p = 1/8, 1/2, 1/4, 1/8 with mu = 10 (no truncation); order='sorted' walks tokens 1 (1/2), "
            "2 (1/4), 0 (1/8, lowest index of the tie), 3: u = 0.8 > 3/4 picks token 0, surprise 3; mu' = 10 - "
            "0.1 (3 - 5) = 10.2",
            {"logits": [[math.log(0.125), math.log(0.5), math.log(0.25), math.log(0.125)]], "uniforms": [0.8],
             "mu": [10.0]}, {"order": "sorted"}, {"tokens": [0], "mu": [10.2]}),
    Curated("-inf never kept", "[-inf, 0, -inf, 0] with mu = 10: q = 1/2 on tokens 1 and 3; u = 0.5 (not > 1/2) picks "
            "token 3 (vocabulary order), surprise 1; eta = 0: mu' = mu = 10",
            {"logits": [[NEG, 0.0, NEG, 0.0]], "uniforms": [0.5], "mu": [10.0]}, {"eta": 0.0},
            {"tokens": [3], "mu": [10.0]}),
)


# --------------------------------------------------------------------------- mirostat_v1


@st.composite
def _v1_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    """As the v2 cases, but ``mu`` is drawn relative to the values where ``k`` crosses an integer (``mu_j`` with
    ``log k(mu_j) = log j``), and moved off them by 2e-3 when within 1e-3 (``k`` decided by rounding there, see the
    module docstring); ``m`` is 100 (the paper's and llama.cpp's value) or short enough to leave a tail out of the
    fit, ``n_vocab`` the logits' size or a model-sized N."""
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    m = int(draw(st.sampled_from([100, 100, 2, 3, 5]), label="m"))
    n_vocab = draw(st.sampled_from([None, None, 32000, v + 3 if v >= 1 else 4]), label="n_vocab")
    n = int(np.prod(batch)) if batch else 1
    mus, us = [], []
    for r in z.reshape(n, v):
        base, n_f = mirostat_v1_log_k(r, 0.0, m, n_vocab)  # log k at mu = 0; log k is affine in mu
        slope = (mirostat_v1_log_k(r, 1.0, m, n_vocab)[0] - base) if n_f >= 2 else 0.0
        cuts = sorted((math.log(j) - base) / slope for j in range(1, n_f + 1)) if slope and math.isfinite(
            slope) and math.isfinite(base) else []
        lo = min(cuts) - 3.0 if cuts else -1.0
        hi = max(cuts) + 3.0 if cuts else 10.0
        mu_r = float(draw(pick(cuts, lo, hi, [10.0, lo]), label="mu"))
        for c in cuts:
            if abs(mu_r - c) < 1e-3 * (1.0 + abs(c)):
                mu_r = c + 2e-3 * (1.0 + abs(c))
        mus.append(mu_r)
        us.append(draw(_uniform(), label="u"))
    mu = representable(np.array(mus, dtype=np.float64), dtype).reshape(batch)
    u = np.minimum(representable(np.array(us, dtype=np.float64), dtype), largest_below_one(dtype)).reshape(batch)
    params: dict[str, Any] = {
        "tau": float(draw(st.one_of(st.sampled_from([5.0, 3.0]), st.floats(0.0, 10.0)), label="tau")),
        "eta": float(draw(st.one_of(st.sampled_from([0.1, 0.0, 1.0]), st.floats(0.0, 2.0)), label="eta")),
        "m": m, "n_vocab": n_vocab, "order": draw(st.sampled_from(["vocab", "sorted"]), label="order"),
    }
    return Case({"logits": z, "uniforms": u, "mu": mu}, params, {"...": batch, "V": v})


_ZIPF = [-2.0 * math.log(i) for i in range(1, 9)]

CASES["mirostat_v1"] = _v1_case
CURATED["mirostat_v1"] = (
    Curated("Zipf row", "z_i = -2 log(i + 1), V = N = 8: b_i = 2 t_i so s_hat = 2, eps = 1, "
            "k = (2^3 / (1 - 1/8))^(1/2) = sqrt(64 / 7) = 3.02 -> 3; q = (1, 1/4, 1/9) / (49/36) = 36/49, 9/49, "
            "4/49; u = 0.95 > 45/49 = 0.918 picks token 2, surprise log2(49 / 4) = 3.6147; "
            "mu' = 3 - 0.1 (3.6147098441152083 - 5) = 3.1385290155884792",
            {"logits": [_ZIPF], "uniforms": [0.95], "mu": [3.0]}, {"n_vocab": 8},
            {"tokens": [2], "mu": [3.0 - 0.1 * (math.log2(49.0 / 4.0) - 5.0)]}),
    Curated("Zipf row, k = 1", "same row, mu = 0: k = (8/7)^(1/2) = 1.07 -> 1: token 0, surprise 0, mu' = 0 + 0.1 * 5",
            {"logits": [_ZIPF], "uniforms": [0.95], "mu": [0.0]}, {"n_vocab": 8}, {"tokens": [0], "mu": [0.5]}),
    Curated("tied window", "eight equal logits: s_hat = 0; log(ratio) + mu ln 2 with eps = -1, N = 8: ratio = 1 / 7, "
            "log(1/7) + 4 ln 2 = ln(16/7) > 0: every candidate kept (q = 1/8); u = 0.3 picks token 2 (0.3 in "
            "[1/4, 3/8)), surprise 3; mu' = 4 - 0.1 (3 - 5) = 4.2",
            {"logits": [[0.0] * 8], "uniforms": [0.3], "mu": [4.0]}, {}, {"tokens": [2], "mu": [4.2]}),
    Curated("one candidate", "[-inf, 1, -inf]: k = 1, token 1, surprise 0; mu' = 2 + 0.1 * 5 = 2.5",
            {"logits": [[NEG, 1.0, NEG]], "uniforms": [0.7], "mu": [2.0]}, {}, {"tokens": [1], "mu": [2.5]}),
)


# --------------------------------------------------------------------------- dry_penalty


@st.composite
def _history(draw: st.DrawFn, v: int, t: int) -> list[int]:
    """A history with repeats: a short motif repeated (with the odd substitution), or free tokens."""
    if t == 0:
        return []
    if draw(st.integers(0, 3)) == 0:
        return [int(x) for x in draw(st.lists(st.integers(0, v - 1), min_size=t, max_size=t))]
    motif = draw(st.lists(st.integers(0, v - 1), min_size=1, max_size=min(4, t)))
    out = [motif[i % len(motif)] for i in range(t)]
    for _ in range(draw(st.integers(0, 2))):
        out[draw(st.integers(0, t - 1))] = draw(st.integers(0, v - 1))
    return out


@st.composite
def _dry_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    """Histories built from repeated motifs (so repeats longer than allowed_length occur), breakers (None, single
    tokens, multi-token sequences right-padded with -1), every parameter over its domain with its edge values. In
    float16 the base stays <= 2 so the largest penalty (multiplier base^(T - allowed)) stays inside the dtype."""
    batch, v = draw(batch_and_vocab(small=small, min_v=2))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    t = int(draw(st.one_of(st.sampled_from([10, 12, 8]), st.integers(0, 12)), label="T"))
    n = int(np.prod(batch)) if batch else 1
    hist = np.array([draw(_history(v, t)) for _ in range(n)], dtype=np.int64).reshape((*batch, t))
    kind = draw(st.sampled_from(["none", "single", "multi", "multi"]))
    breakers = None
    if kind == "single":
        breakers = np.array([[draw(st.integers(0, v - 1))]], dtype=np.int64)
    elif kind == "multi":
        rows_b = []
        for _ in range(draw(st.integers(1, 3))):
            q = draw(st.lists(st.integers(0, v - 1), min_size=1, max_size=3))
            rows_b.append(q + [-1] * (3 - len(q)))
        breakers = np.array(rows_b, dtype=np.int64)
    top_base = 2.0 if dtype == "float16" else 3.0
    params: dict[str, Any] = {
        "multiplier": float(draw(st.one_of(st.sampled_from([0.8, 1.0, 0.0]), st.floats(0.01, 3.0)), label="mult")),
        "base": float(draw(st.one_of(st.sampled_from([1.75, 1.0, 2.0]), st.floats(1.0, top_base)), label="base")),
        "allowed_length": int(draw(st.sampled_from([2, 2, 0, 1, 3]), label="allowed")),
        "penalty_last_n": int(draw(st.sampled_from([-1, -1, 0, 4, 8, 20]), label="last_n")),
    }
    inputs: dict[str, Any] = {"logits": z, "history": hist, "breakers": breakers}
    dims: dict[str, Any] = {"...": batch, "V": v, "T": t}
    if breakers is not None:
        dims.update({"NB": breakers.shape[0], "L": breakers.shape[1]})
    return Case(inputs, params, dims)


CASES["dry_penalty"] = _dry_case
CURATED["dry_penalty"] = (
    Curated("a b c a b", "history 0 1 2 0 1, base 2, multiplier 1, allowed 2: the suffix (0 1) recurs before 2, so 2 "
            "gets 1 * 2^0 = 1; nothing else extends a repeat of length >= 2",
            {"logits": [[0.0, 0.0, 0.0, 0.0]], "history": [[0, 1, 2, 0, 1]]},
            {"multiplier": 1.0, "base": 2.0}, {"logits": [[0.0, 0.0, -1.0, 0.0]]}),
    Curated("longer repeat", "history 0 1 2 3 0 1 2 3 0 1: the suffix matches 6 tokens ending at position 5 (before 2) "
            "and 2 tokens ending at 1 (before 2): 2 keeps 6, penalty 0.5 * 2^(6 - 2) = 8",
            {"logits": [[1.0, 1.0, 1.0, 1.0, 1.0]], "history": [[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]},
            {"multiplier": 0.5, "base": 2.0}, {"logits": [[1.0, 1.0, -7.0, 1.0, 1.0]]}),
    Curated("breaker caps the repeat", "same history, breaker (3) : its most recent occurrence is 2 tokens back "
            "(position 7), so rep_limit = 2 and the count 6 is capped at 2: 2 gets 0.5 * 2^0 = 0.5",
            {"logits": [[1.0, 1.0, 1.0, 1.0, 1.0]], "history": [[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]],
             "breakers": [[3]]}, {"multiplier": 0.5, "base": 2.0}, {"logits": [[1.0, 1.0, 0.5, 1.0, 1.0]]}),
    Curated("window", "same history, penalty_last_n = 4 (window 2 3 0 1): no suffix of length >= 2 recurs: identity",
            {"logits": [[1.0, 1.0, 1.0, 1.0, 1.0]], "history": [[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]},
            {"multiplier": 0.5, "base": 2.0, "penalty_last_n": 4}, {"logits": [[1.0, 1.0, 1.0, 1.0, 1.0]]}),
    Curated("multi-token breaker", "history 0 1 2 0 1 with breaker (2 0): complete at position 2, i = 2 from the end, "
            "rep_limit = 2 - 1 = 1 < allowed 2: identity", {"logits": [[0.0, 0.0, 0.0]], "history": [[0, 1, 2, 0, 1]],
                                                            "breakers": [[2, 0]]},
            {"multiplier": 1.0, "base": 2.0}, {"logits": [[0.0, 0.0, 0.0]]}),
)
