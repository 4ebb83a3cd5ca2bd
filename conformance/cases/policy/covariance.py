"""Case strategies of the ``covariance`` group (clip_cov_loss, kl_cov_loss).

Three draws in four (every draw below float64) have exact covariances (dyadic centred values, see
``_draws`` and :mod:`spec.policy.covariance`), so the windows can sit *exactly* on drawn covariances
(strict bounds are tested) or between two of them (candidates on both sides), and ties are exact.
The counts are drawn from the number of valid tokens: ``clip_ratio = (n + f)/N_valid`` and
``k_percent = 100·(n + f)/N_valid`` with a fractional part ``f`` of 1/4 or 3/4 (floor and round
differ), so that the priority keys or the covariance order decide among more candidates than ``n``.
Priority keys are multiples of 2^-8 (exact everywhere), distinct or with ties.
"""

from __future__ import annotations

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
    """(n + f)/N_valid with n in [0, N_valid) and f in {1/4, 3/4}; or an edge value."""
    if n_valid == 0 or draw(st.integers(0, 5)) == 0:
        return float(draw(st.sampled_from([0.0, 2e-4, 1.0]), label=label))
    n = draw(st.integers(0, n_valid - 1))
    return (n + draw(st.sampled_from([0.25, 0.75]))) / n_valid


def _bound(draw: st.DrawFn, cov: Any, label: str) -> float:
    """A drawn covariance exactly, the midpoint of two neighbours, or beyond all of them."""
    if cov.size == 0:
        return float(draw(st.sampled_from([0.0, 1.0]), label=label))
    j = draw(st.integers(0, cov.size - 1))
    kind = draw(st.sampled_from(["on", "on", "between", "beyond"]), label=label)
    if kind == "on":
        return float(cov[j])
    if kind == "between" and j + 1 < cov.size:
        return float((cov[j] + cov[j + 1]) / 2)
    return float(cov[-1] + 1.0) if draw(st.booleans()) else float(cov[0] - 1.0)


def clip_cov_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        exact = _exact(draw, dtype)
        inputs = draw(loss_inputs(dtype, small, exact=exact))
        inputs["priority"] = draw(_priority(inputs["log_prob"].shape), label="priority")
        n_valid = int(valid_mask(inputs["mask"]).sum())
        if exact:
            cov = _covariances(inputs)
            a, b = _bound(draw, cov, "cov_low"), _bound(draw, cov, "cov_high")
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


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "clip_cov_loss": clip_cov_cases,
    "kl_cov_loss": kl_cov_cases,
}

CURATED: dict[str, tuple[Curated, ...]] = {}
