"""Case strategies and curated hard cases of the ``reweighting`` group (Lp-Reg, STEER).

``lp_reg_proxy_logprob``: logits ``(N, V)`` from the generic logits strategy (ties, −inf holes, large
magnitudes) with labels that are never ``ignore_index`` (the method has none): the argmax half the time
(kept under the min-p rule), a uniform token otherwise (often filtered).

``lp_reg_policy_loss``: the shared sequence-loss draws, log-probs from a small pool one draw in three (exact
ties at the top-k cut), a proxy at a dyadic offset of the log-prob (below, equal — the strict comparison —,
above, and beyond the k3 clamp at +3), and ρ = (k + f)/n_neg with f in {1/4, 3/4} so the cut falls inside
the negatives (k ≤ 1 and the recipe's 0.01 as edges).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import case, loss_inputs, params
from conformance.strategies import Case, logits, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


def _i(x: Any) -> Any:
    return np.array(x, dtype=np.int64)


# --------------------------------------------------------------------------- lp_reg_proxy_logprob


def _proxy_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(0, 3) if small else st.integers(1, 6)) if draw(st.integers(0, 11)) else 0
        v = draw(st.integers(1, 5 if small else 9))
        z = draw(logits((n, v), dtype), label="logits")
        finite = np.where(np.isfinite(z), z, -np.inf)
        top = np.argmax(finite, axis=-1) if n else np.zeros(0, dtype=np.int64)
        anyone = np.array(draw(st.lists(st.integers(0, v - 1), min_size=n, max_size=n)), dtype=np.int64)
        pick = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        labels = np.where(pick, top, anyone).astype(np.int64)
        return Case({"logits": z, "labels": labels}, params(draw, spec), {"N": n, "V": v})
    return build()


CASES["lp_reg_proxy_logprob"] = _proxy_case

_LN2, _LN4 = math.log(2.0), math.log(4.0)

CURATED["lp_reg_proxy_logprob"] = (
    Curated("tie at the min-p threshold", "κ = 1: both maxima satisfy p ≥ 1·max p (≥, not >) and survive; token 2 is "
            "filtered: label 0 reads log(1/2), label 2 reads −1e4 − 1 − log 2",
            {"logits": _a([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]), "labels": _i([0, 2])}, {"min_p": 1.0},
            {"proxy_log_prob": _a([-_LN2, -1e4 - 1.0 - _LN2])}),
    Curated("filter at T = 1, temperature after", "p = (0.2, 0.8), κ = 0.3: 0.2 < 0.24 is filtered at T = 1 (at T = 2 "
            "it would survive); z' = (−1e4, log 4)/2: label 1 reads 0, label 0 reads −5000 − log 2",
            {"logits": _a([[0.0, _LN4], [0.0, _LN4]]), "labels": _i([1, 0])}, {"min_p": 0.3, "temperature": 2.0},
            {"proxy_log_prob": _a([0.0, -5000.0 - _LN2])}),
    Curated("fixed rule filters the whole row", "p = 1/4 each < κ = 0.5: every logit becomes −1e4, uniform proxy",
            {"logits": _a([[0.0, 0.0, 0.0, 0.0]]), "labels": _i([3])}, {"min_p": 0.5, "rule": "fixed"},
            {"proxy_log_prob": _a([-_LN4])}),
    Curated("soft filter writes the row minimum", "p ∝ (1, 4, 1/4), κ = 0.5: tokens 0 and 2 filtered and set to the "
            "minimum logit −log 4: z' = (−log 4, log 4, −log 4), label 1 reads log(4/4.5), label 0 −log 18",
            {"logits": _a([[0.0, _LN4, -_LN4], [0.0, _LN4, -_LN4]]), "labels": _i([1, 0])},
            {"min_p": 0.5, "soft": True}, {"proxy_log_prob": _a([math.log(8.0 / 9.0), -math.log(18.0)])}),
    Curated("κ = 0 keeps a −inf token", "p = 0 ≥ 0: nothing is filtered, the −inf label keeps log-prob −inf",
            {"logits": _a([[0.0, -np.inf, 0.0]]), "labels": _i([1])}, {"min_p": 0.0},
            {"proxy_log_prob": _a([-np.inf])}),
)


# --------------------------------------------------------------------------- lp_reg_policy_loss

PROXY_OFFSETS = (-1.0, -0.5, 0.0, 0.0, 0.25, 0.5, 1.0, 1.0, 3.0, 3.0)


def _fraction(draw: st.DrawFn, n: int, label: str) -> float:
    """(k + f)/n with k in [0, n] and f in {1/4, 3/4} (int() floors it to k); an edge value one draw in six."""
    if n == 0 or draw(st.integers(0, 5)) == 0:
        return float(draw(st.sampled_from([0.0, 0.01, 1.0]), label=label))
    k = draw(st.integers(0, n))
    return min(1.0, (k + draw(st.sampled_from([0.25, 0.75]))) / n)


def _lp_reg_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(loss_inputs(dtype, small))
        lp = inputs["log_prob"]
        if draw(st.integers(0, 2)) == 0:  # a small pool: exact ties among the lowest log-probs
            pool = np.array(draw(st.lists(st.sampled_from([-4.0, -3.0, -2.5, -1.0, -0.5]), min_size=1, max_size=3)))
            lp = pool[np.array(draw(st.lists(st.integers(0, pool.size - 1), min_size=lp.size, max_size=lp.size)),
                               dtype=np.int64)].reshape(lp.shape)
            delta = inputs["log_prob"] - inputs["old_log_prob"]
            inputs["log_prob"] = representable(lp, dtype)
            inputs["old_log_prob"] = representable(lp - delta, dtype)
        offsets = np.array(draw(st.lists(st.sampled_from(PROXY_OFFSETS), min_size=lp.size, max_size=lp.size)))
        inputs["proxy_log_prob"] = representable(inputs["log_prob"] + offsets.reshape(lp.shape), dtype)
        adv = inputs["advantages"]
        valid = np.asarray(inputs["mask"], dtype=bool)
        neg = _fraction(draw, int((valid & (adv < 0)).sum()), "neg_k_percent")
        pos = _fraction(draw, int((valid & (adv > 0)).sum()), "pos_k_percent") if draw(st.booleans()) else 0.0
        return case(inputs, params(draw, spec, neg_k_percent=neg, pos_k_percent=pos))
    return build()


CASES["lp_reg_policy_loss"] = _lp_reg_case

_E = math.e
_FULL5 = np.ones((1, 5), dtype=bool)
_LP5 = _a([[-3.0, -1.0, -2.0, -4.0, -0.5]])
_ADV5 = _a([[-1.0, -1.0, -1.0, -1.0, 1.0]])
_PROXY5 = _a([[-2.0, -2.0, -2.0, -5.0, 0.0]])
_LP3 = _a([[-3.0, -2.0, -2.0]])
_K3_HALF = math.exp(0.5) - 1.5

CURATED["lp_reg_policy_loss"] = (
    Curated("cut by the proxy", "4 negatives, ρ = 0.5: k = 2 lowest are tokens 3 (−4) and 0 (−3); token 3 has "
            "log π = −4 ≥ proxy −5 and is left alone; token 0: ρ = 1, c = 1, −A + k3 = 1 + (e − 2) = e − 1",
            {"log_prob": _LP5, "old_log_prob": _LP5, "advantages": _ADV5, "mask": _FULL5, "proxy_log_prob": _PROXY5},
            {"neg_k_percent": 0.5, "mode": "none"}, {"loss": _a([[_E - 1.0, 1.0, 1.0, 1.0, -1.0]])}),
    Curated("k = 1 regularises nothing", "ρ = 0.49: int(4·0.49) = 1, and the code acts only when k > 1: PPO-clip",
            {"log_prob": _LP5, "old_log_prob": _LP5, "advantages": _ADV5, "mask": _FULL5, "proxy_log_prob": _PROXY5},
            {"neg_k_percent": 0.49, "mode": "none"}, {"loss": _a([[1.0, 1.0, 1.0, 1.0, -1.0]])}),
    Curated("tie at the cut and the k3 clamp", "log π = (−3, −3, −3, −1), k = 2: the tie goes to tokens 0 and 1; "
            "c = 3 gives e³ − 4 > 10, clamped: 1 + 10 = 11",
            {"log_prob": _a([[-3.0, -3.0, -3.0, -1.0]]), "old_log_prob": _a([[-3.0, -3.0, -3.0, -1.0]]),
             "advantages": _a([[-1.0, -1.0, -1.0, -1.0]]), "mask": np.ones((1, 4), dtype=bool),
             "proxy_log_prob": _a([[0.0, 0.0, 0.0, 0.0]])},
            {"neg_k_percent": 0.5, "mode": "none"}, {"loss": _a([[11.0, 11.0, 1.0, 1.0]])}),
    Curated("regularised tokens lose the clip", "ρ = e^−0.5 < 0.8 with A = −1: PPO gives 0.8, a selected token "
            "e^−0.5 + k3(c = 0.5) = e^−0.5 + e^0.5 − 1.5; k = int(3·0.7) = 2, tie at −2 to token 1",
            {"log_prob": _LP3, "old_log_prob": _LP3 + 0.5, "advantages": _a([[-1.0, -1.0, -1.0]]),
             "mask": np.ones((1, 3), dtype=bool), "proxy_log_prob": _LP3 + 0.5},
            {"neg_k_percent": 0.7, "mode": "none"},
            {"loss": _a([[math.exp(-0.5) + _K3_HALF, math.exp(-0.5) + _K3_HALF, 0.8]])}),
    Curated("empty mask", "nothing valid: exactly 0",
            {"log_prob": _LP5, "old_log_prob": _LP5, "advantages": _ADV5, "mask": np.zeros((1, 5), dtype=bool),
             "proxy_log_prob": _PROXY5}, {"neg_k_percent": 0.5}, {"loss": _a(0.0)}),
)


# --------------------------------------------------------------------------- STEER (both ids)


def _steer_inputs(draw: st.DrawFn, dtype: str, small: bool) -> dict[str, Any]:
    """Sequence-loss inputs plus token entropies: −log π (log x + H ≈ 0, Ω ≈ 0), dyadic values in [0, 4], or a
    constant; advantages shrunk by 2^-9 one draw in four (max |Ω| below the exponential map's 0.02 floor)."""
    inputs = draw(loss_inputs(dtype, small))
    shape = inputs["log_prob"].shape
    n = int(np.prod(shape))
    style = draw(st.sampled_from(["dyadic", "dyadic", "neg_log_prob", "constant"]), label="entropy_style")
    if style == "neg_log_prob":
        ent = -inputs["log_prob"]
    elif style == "constant":
        ent = np.full(shape, draw(st.sampled_from([0.0, 1.0, 2.5])))
    else:
        ent = np.array(draw(st.lists(st.integers(0, 16), min_size=n, max_size=n)), dtype=np.float64).reshape(shape) / 4
    inputs["entropy"] = representable(ent, dtype)
    if draw(st.integers(0, 3)) == 0:
        inputs["advantages"] = representable(inputs["advantages"] / 512.0, dtype)
    return inputs


def _steer_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        return case(_steer_inputs(draw, dtype, small), params(draw, spec))
    return build()


def _steer_loss_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    """As the weights, with a dual-clip constant below the drawn ratios (up to e²) half the time."""
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        c = draw(st.one_of(st.sampled_from([None, 1.5, 3.0, 10.0]), st.floats(1.01, 8.0)), label="dual_clip")
        return case(_steer_inputs(draw, dtype, small), params(draw, spec, dual_clip=c))
    return build()


CASES["steer_token_weights"] = _steer_case
CASES["steer_policy_loss"] = _steer_loss_case

_HALF = math.log(0.5)
_STEER_LP = _a([[_HALF, _HALF, -1.0]])
_STEER_H = _a([[-_HALF + 1.0, -_HALF + 2.0, 0.0]])  # x = 1/2: x(1 − x)(log x + H) = (1/4, 1/2)
_STEER_M = np.array([[True, True, False]])


def _steer(adv: list[float], mask: Any = _STEER_M) -> dict[str, Any]:
    return {"log_prob": _STEER_LP, "old_log_prob": _STEER_LP, "advantages": _a([adv]), "mask": mask,
            "entropy": _STEER_H}


CURATED["steer_token_weights"] = (
    Curated("linear min-max map", "p = p_old = 1/2, A = 1: |Ω| = (1/4, 1/2)/(1/2) = (0.5, 1): the smallest gets w_max "
            "1.2, the largest w_min 0.8; the masked token 0", _steer([1.0, 1.0, 5.0]), {"linear": True},
            {"weights": _a([[1.2, 0.8, 0.0]])}),
    Curated("exponential map", "the same |Ω| = (0.5, 1): k = −log 0.8 / 1, λ = 0.8^|Ω| = (sqrt 0.8, 0.8)",
            _steer([1.0, 1.0, 5.0]), {"linear": False}, {"weights": _a([[math.sqrt(0.8), 0.8, 0.0]])}),
    Curated("exponential 0.02 floor", "A = 0.01: |Ω| = (0.005, 0.01) < 0.02, k = −log 0.8 / 0.02: λ = (0.8^0.25, "
            "0.8^0.5)", _steer([0.01, 0.01, 5.0]), {"linear": False},
            {"weights": _a([[0.8**0.25, math.sqrt(0.8), 0.0]])}),
    Curated("one valid token, linear", "max |Ω| = min |Ω|: the midpoint (0.8 + 1.2)/2 = 1",
            _steer([1.0, 1.0, 5.0], np.array([[False, True, False]])), {"linear": True},
            {"weights": _a([[0.0, 1.0, 0.0]])}),
    Curated("empty mask", "no valid token: all zeros", _steer([1.0, 1.0, 5.0], np.zeros((1, 3), dtype=bool)), {},
            {"weights": _a([[0.0, 0.0, 0.0]])}),
)

CURATED["steer_policy_loss"] = (
    Curated("exponential weights times PPO", "ρ = 1, A = 1: ℓ = −1 per token, weights (sqrt 0.8, 0.8) as the weights "
            "case: ℓ·w = (−sqrt 0.8, −0.8, 0)", _steer([1.0, 1.0, 5.0]), {"mode": "none"},
            {"loss": _a([[-math.sqrt(0.8), -0.8, 0.0]])}),
    Curated("dual clip, one valid token", "A = −1, log-ratio 2: ρ = e² > c = 3, ℓ = −A·c = 3; one valid token, "
            "linear map: w = (0.8 + 1.2)/2 = 1; token-mean 3",
            {**_steer([-1.0, -1.0, 5.0], np.array([[True, False, False]])), "old_log_prob": _STEER_LP - 2.0},
            {"linear": True, "dual_clip": 3.0}, {"loss": _a(3.0)}),
    Curated("empty mask", "nothing valid: exactly 0", _steer([1.0, 1.0, 5.0], np.zeros((1, 3), dtype=bool)), {},
            {"loss": _a(0.0)}),
)
