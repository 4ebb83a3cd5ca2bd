"""Case strategies of the ``covariance`` group (token_covariance_score, clip_cov_loss, kl_cov_loss).

Three draws in four (every draw below float64) have exact covariances (dyadic centred values, see
``_draws`` and :mod:`spec.policy.covariance`), so the windows can sit *exactly* on drawn covariances
(strict bounds are tested) or between two of them (candidates on both sides), and ties are exact.
The counts are drawn from the number of valid tokens: ``clip_ratio = (n + f)/N_valid`` and
``k_percent = 100·(n + f)/N_valid`` with a fractional part ``f`` of 1/4 or 3/4 (floor and round
differ), so that the priority keys or the covariance order decide among more candidates than ``n``.
Priority keys are multiples of 2^-8 (exact everywhere), distinct or with ties.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.cases.policy._draws import case, loss_inputs, params
from conformance.strategies import Case
from spec.model import MethodSpec
from spec.policy._common import covariance, valid_mask

__all__ = ["CASES", "CURATED"]


@st.composite
def _priority(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    n = int(np.prod(shape))
    if draw(st.booleans()):
        keys = draw(st.permutations(list(range(256))))[:n]  # distinct keys
    else:
        keys = draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))  # ties possible
    return np.array(keys, dtype=np.float64).reshape(shape) / 256.0


def _exact(draw: st.DrawFn, dtype: str) -> bool:
    return dtype != "float64" or draw(st.integers(0, 3)) > 0


def _covariances(inputs: dict[str, Any]) -> Any:
    valid = valid_mask(inputs["mask"])
    return np.unique(covariance(inputs["log_prob"], inputs["advantages"], valid)[valid])


def _count(draw: st.DrawFn, n_valid: int, label: str) -> float:
    """(n + f)/N_valid with n in [0, N_valid/2] mostly and f in {1/4, 3/4}; or an edge value."""
    if n_valid == 0 or draw(st.integers(0, 5)) == 0:
        return float(draw(st.sampled_from([0.0, 2e-4, 1.0]), label=label))
    n = draw(st.integers(0, n_valid // 2) if draw(st.integers(0, 3)) else st.integers(0, n_valid - 1))
    return (n + draw(st.sampled_from([0.25, 0.75]))) / n_valid


def _bound(draw: st.DrawFn, cov: Any, label: str, upper: bool) -> float:
    """A drawn covariance exactly, the midpoint of two neighbours (in the lower half of the covariances
    for ``cov_low``, the upper half for ``cov_high``), or beyond all of them."""
    if cov.size == 0:
        return float(draw(st.sampled_from([0.0, 1.0]), label=label))
    half = cov.size // 2
    j = draw(st.integers(half, cov.size - 1) if upper else st.integers(0, max(half - 1, 0)))
    kind = draw(st.sampled_from(["on", "on", "between", "beyond"]), label=label)
    if kind == "on":
        return float(cov[j])
    if kind == "between" and 0 < j + (1 if not upper else 0) < cov.size:
        return float((cov[j] + cov[j + 1]) / 2) if not upper else float((cov[j - 1] + cov[j]) / 2)
    return float(cov[-1] + 1.0) if upper else float(cov[0] - 1.0)


def clip_cov_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        exact = _exact(draw, dtype)
        inputs = draw(loss_inputs(dtype, small, exact=exact))
        inputs["priority"] = draw(_priority(inputs["log_prob"].shape), label="priority")
        n_valid = int(valid_mask(inputs["mask"]).sum())
        if exact:
            cov = _covariances(inputs)
            a, b = _bound(draw, cov, "cov_low", upper=False), _bound(draw, cov, "cov_high", upper=True)
            low, high = min(a, b), max(a, b)
        else:
            low = draw(st.one_of(st.sampled_from([-1.0, 0.0, 0.25, 1.0]), st.floats(-2.0, 3.0)), label="cov_low")
            high = low + draw(st.one_of(st.sampled_from([0.0, 1.0, 4.0]), st.floats(0.0, 6.0)), label="cov_width")
        ratio = _count(draw, n_valid, "clip_ratio")
        return case(inputs, params(draw, spec, cov_low=low, cov_high=high, clip_ratio=ratio))
    return build()


def kl_cov_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(loss_inputs(dtype, small, exact=_exact(draw, dtype)))
        n_valid = int(valid_mask(inputs["mask"]).sum())
        k = 100.0 * _count(draw, n_valid, "k_percent")
        return case(inputs, params(draw, spec, k_percent=min(k, 100.0)))
    return build()


def token_covariance_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    """The sequence draws of the losses (masks with padding, empty rows and empty batches) without old_log_prob;
    exact (dyadic, ties on purpose) half the time in every dtype, general values otherwise (a continuous output)."""
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(loss_inputs(dtype, small, exact=draw(st.booleans())))
        del inputs["old_log_prob"]
        return case(inputs, {})
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "token_covariance_score": token_covariance_cases,
    "clip_cov_loss": clip_cov_cases,
    "kl_cov_loss": kl_cov_cases,
}

def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


# valid tokens: A = (2, 0, −2, 0), logp = (−1, −3, −5, −3): means 0 and −3, cov = (4, 0, 4, 0) — a tie at the top.
_LP = _a([[-1.0, -3.0, -5.0, -3.0]])
_ADV = _a([[2.0, 0.0, -2.0, 0.0]])
_FULL = np.ones((1, 4), dtype=bool)
_PG = [-2.0, 0.0, 2.0, 0.0]  # ρ = 1: ℓ = −A
_E5, _E25 = math.exp(0.5), math.exp(-0.25)
_D = _a([[0.5, 0.25, -0.25, 0.0]])  # logp − old for KL-Cov


def _clip(priority: list[float]) -> dict[str, Any]:
    return {"log_prob": _LP, "old_log_prob": _LP, "advantages": _ADV, "mask": _FULL,
            "priority": _a([priority])}


_L3 = math.log(3.0)

CURATED: dict[str, tuple[Curated, ...]] = {
    "entropy_change_covariance": (
        Curated("two actions, NPG", "π = (3/4, 1/4), Δz = (1, 0): E Δz = 3/4 and Cov = (3/16)·(log(3/4) − log(1/4)) = "
                "(3/16)·ln 3, so ΔH ≈ −(3/16) ln 3; the −inf action has π = 0 and contributes 0",
                {"logits": _a([[_L3, 0.0, -math.inf]]), "advantages": _a([[1.0, 0.0, 5.0]])}, {},
                {"delta_entropy": _a([-3.0 / 16.0 * _L3])}),
        Curated("two actions, vanilla PG", "Δz = π·A = (3/4, 0): Cov scales by 3/4: ΔH ≈ −(9/64) ln 3",
                {"logits": _a([[_L3, 0.0, -math.inf]]), "advantages": _a([[1.0, 0.0, 5.0]])}, {"update": "pg"},
                {"delta_entropy": _a([-9.0 / 64.0 * _L3])}),
        Curated("uniform policy is stationary", "log π is constant: Cov = 0 (H is maximal)",
                {"logits": _a([[0.5, 0.5, 0.5]]), "advantages": _a([[3.0, -1.0, 0.0]])}, {},
                {"delta_entropy": _a([0.0])}),
        Curated("step size", "η = 2 doubles the NPG estimate: −(3/8) ln 3",
                {"logits": _a([[_L3, 0.0]]), "advantages": _a([[1.0, 0.0]])}, {"eta": 2.0},
                {"delta_entropy": _a([-3.0 / 8.0 * _L3])}),
    ),
    "token_covariance_score": (
        Curated("centred product with a tie", "means over the 4 valid tokens: Ā = 0, mean logp = −3; cov = "
                "(2·2, 0·0, (−2)(−2), 0·0) = (4, 0, 4, 0)",
                {"log_prob": _LP, "advantages": _ADV, "mask": _FULL}, {}, {"cov": _a([[4.0, 0.0, 4.0, 0.0]])}),
        Curated("padding is left out of the means",
                "valid tokens 0, 1: A = (3, 1), logp = (−1, −2): means 2 and −1.5; cov = (1·0.5, (−1)(−0.5)) = "
                "(0.5, 0.5); masked tokens (A = 9, logp = −7) give 0 and do not move the means",
                {"log_prob": _a([[-1.0, -2.0, -7.0]]), "advantages": _a([[3.0, 1.0, 9.0]]),
                 "mask": np.array([[True, True, False]])}, {}, {"cov": _a([[0.5, 0.5, 0.0]])}),
        Curated("means over the whole batch, not per row",
                "rows (A, logp) = ((1, −1), (−1, −3)): Ā = 0, mean logp = −2 over both rows; cov = (1·1, (−1)(−1)) = "
                "(1, 1) — per-row centring would give 0",
                {"log_prob": _a([[-1.0], [-3.0]]), "advantages": _a([[1.0], [-1.0]]),
                 "mask": np.ones((2, 1), dtype=bool)}, {}, {"cov": _a([[1.0], [1.0]])}),
        Curated("one valid token", "both factors centre to 0: cov = 0",
                {"log_prob": _a([[-2.0, -1.0]]), "advantages": _a([[5.0, 1.0]]), "mask": np.array([[True, False]])},
                {}, {"cov": _a([[0.0, 0.0]])}),
        Curated("empty mask", "no valid token: all zeros", {"log_prob": _LP, "advantages": _ADV,
                "mask": np.zeros((1, 4), dtype=bool)}, {}, {"cov": _a([[0.0, 0.0, 0.0, 0.0]])}),
    ),
    "clip_cov_loss": (
        Curated("covariance tie broken by priority",
                "cov = (4, 0, 4, 0), window (1, 5): candidates 0 and 2; n = max(int(0.3·4), 1) = 1; the smaller key "
                "(0.25 < 0.5) picks token 2, zeroed; the others keep ℓ = −A",
                _clip([0.5, 0.1, 0.25, 0.0]), {"clip_ratio": 0.3, "mode": "none"},
                {"loss": _a([[-2.0, 0.0, 0.0, 0.0]])}),
        Curated("priority tie goes to the lowest index", "equal keys 0.25 for candidates 0 and 2: token 0 is zeroed",
                _clip([0.25, 0.1, 0.25, 0.0]), {"clip_ratio": 0.3, "mode": "none"},
                {"loss": _a([[0.0, 0.0, 2.0, 0.0]])}),
        Curated("strict window bound", "cov_low = 4: 4 > 4 is false, no candidate, plain PPO-clip (ℓ = −A)",
                _clip([0.5, 0.1, 0.25, 0.0]), {"clip_ratio": 0.3, "cov_low": 4.0, "mode": "none"},
                {"loss": _a([_PG])}),
        Curated("clip count floors", "clip_ratio 0.45: n = max(int(1.8), 1) = 1 (not round(1.8) = 2): token 2 "
                "zeroed, token-mean (−2 + 0 + 0 + 0)/4 = −0.5",
                _clip([0.5, 0.1, 0.25, 0.0]), {"clip_ratio": 0.45, "mode": "token-mean"}, {"loss": _a(-0.5)}),
        Curated("already PPO-clipped tokens are not candidates",
                "token 0 has ρ = 1.5 with A = 2: max(−3, −2.4) = −2.4 is clipped, so it is excluded although its "
                "key is the smallest; token 2 is zeroed",
                {**_clip([0.0, 0.1, 0.25, 0.5]), "old_log_prob": _LP - np.log(_a([[1.5, 1.0, 1.0, 1.0]]))},
                {"clip_ratio": 0.3, "mode": "none"}, {"loss": _a([[-2.4, 0.0, 0.0, 0.0]])}),
        Curated("empty mask", "nothing valid: exactly 0", {**_clip([0.5, 0.1, 0.25, 0.0]),
                "mask": np.zeros((1, 4), dtype=bool)}, {"clip_ratio": 0.3}, {"loss": _a(0.0)}),
    ),
    "kl_cov_loss": (
        Curated("top covariance with a tie",
                "cov = (4, 0, 4, 0); k = 30 %: n = max(1, int(1.2)) = 1; the tie at the top goes to token 0, which "
                "gets + |d| = 0.5; ℓ = −Aρ elsewhere with ρ = e^d",
                {"log_prob": _LP, "old_log_prob": _LP - _D, "advantages": _ADV, "mask": _FULL},
                {"k_percent": 30.0, "mode": "none"}, {"loss": _a([[-2 * _E5 + 0.5, 0.0, 2 * _E25, 0.0]])}),
        Curated("k_percent 0 selects nothing", "vanilla PG −Aρ", {"log_prob": _LP, "old_log_prob": _LP - _D,
                "advantages": _ADV, "mask": _FULL}, {"k_percent": 0.0, "mode": "none"},
                {"loss": _a([[-2 * _E5, 0.0, 2 * _E25, 0.0]])}),
        Curated("k_percent 100 selects every token", "+|d| on every valid token",
                {"log_prob": _LP, "old_log_prob": _LP - _D, "advantages": _ADV, "mask": _FULL},
                {"k_percent": 100.0, "mode": "none"},
                {"loss": _a([[-2 * _E5 + 0.5, 0.25, 2 * _E25 + 0.25, 0.0]])}),
        Curated("k counts valid tokens only",
                "4 valid of 8 tokens, k = 50 %: n = int(4·0.5) = 2 (not int(8·0.5) = 4): tokens 0 and 2 (cov 4) "
                "are penalised, token 1 (cov 0) is not",
                {"log_prob": np.concatenate([_LP, _a([[-0.5, -0.5, -0.5, -0.5]])], axis=1),
                 "old_log_prob": np.concatenate([_LP - _D, _a([[-0.5, -0.5, -0.5, -0.5]])], axis=1),
                 "advantages": np.concatenate([_ADV, _a([[1.0, 1.0, 1.0, 1.0]])], axis=1),
                 "mask": np.array([[1, 1, 1, 1, 0, 0, 0, 0]], dtype=bool)},
                {"k_percent": 50.0, "mode": "none"},
                {"loss": _a([[-2 * _E5 + 0.5, 0.0, 2 * _E25 + 0.25, 0.0, 0.0, 0.0, 0.0, 0.0]])}),
        Curated("empty mask", "nothing valid: exactly 0", {"log_prob": _LP, "old_log_prob": _LP - _D,
                "advantages": _ADV, "mask": np.zeros((1, 4), dtype=bool)}, {"k_percent": 50.0}, {"loss": _a(0.0)}),
    ),
}
