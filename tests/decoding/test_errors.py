"""Bad input for the ``decoding`` family: each error class, on the reference and on the accelerated
version (NumPy and Torch), with a message that names the argument."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import decoding as A
from reference import decoding as R
from spec.errors import DomainError, DTypeError, ParameterError, ShapeError

FILTERS: dict[str, dict[str, Any]] = {
    "temperature_scale": {"temperature": 0.7},
    "top_k_filter": {"k": 2},
    "top_p_filter": {"p": 0.5},
    "min_p_filter": {"min_p": 0.1},
    "typical_filter": {"mass": 0.9},
    "epsilon_filter": {"epsilon": 0.01},
    "eta_filter": {"epsilon": 0.01},
    "top_h_filter": {"alpha": 0.4},
}

BACKENDS: list[tuple[str, Callable[[np.ndarray], Any]]] = [
    ("reference", lambda a: a),
    ("numpy", lambda a: a),
    ("torch", lambda a: torch.tensor(a)),
]


def impl(backend: str, name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = getattr(R if backend == "reference" else A, name)
    return fn


@pytest.mark.parametrize(("backend", "conv"), BACKENDS, ids=[b for b, _ in BACKENDS])
@pytest.mark.parametrize("name", list(FILTERS))
class TestLogitsErrors:
    def test_nan(self, name: str, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        z = np.array([[0.0, math.nan, 1.0]])
        with pytest.raises(DomainError, match=r"'logits'.*NaN"):
            impl(backend, name)(conv(z), **FILTERS[name])

    def test_pos_inf(self, name: str, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(DomainError, match=r"'logits'.*\+inf"):
            impl(backend, name)(conv(np.array([0.0, math.inf])), **FILTERS[name])

    def test_all_neg_inf_row(self, name: str, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        z = np.array([[0.0, 1.0], [-math.inf, -math.inf]])
        with pytest.raises(DomainError, match=r"'logits'.*only -inf"):
            impl(backend, name)(conv(z), **FILTERS[name])

    def test_empty_vocab(self, name: str, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(ShapeError, match="'logits'"):
            impl(backend, name)(conv(np.zeros((2, 0))), **FILTERS[name])

    def test_zero_dim(self, name: str, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(ShapeError, match="'logits'"):
            impl(backend, name)(conv(np.array(1.0)), **FILTERS[name])

    def test_integer_logits(self, name: str, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(DTypeError, match="'logits'"):
            impl(backend, name)(conv(np.array([1, 2, 3])), **FILTERS[name])


BAD_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("temperature_scale", {"temperature": 0.0}, "temperature"),
    ("temperature_scale", {"temperature": -1.0}, "temperature"),
    ("temperature_scale", {"temperature": math.nan}, "temperature"),
    ("temperature_scale", {"temperature": math.inf}, "temperature"),
    ("top_k_filter", {"k": 0}, "k"),
    ("top_k_filter", {"k": 2.0}, "k"),
    ("top_k_filter", {"k": True}, "k"),
    ("top_k_filter", {"k": 2, "ties": "random"}, "ties"),
    ("top_k_filter", {"k": 2, "min_tokens_to_keep": 0}, "min_tokens_to_keep"),
    ("top_p_filter", {"p": -0.1}, "p"),
    ("top_p_filter", {"p": 1.5}, "p"),
    ("top_p_filter", {"p": math.nan}, "p"),
    ("top_p_filter", {"p": 0.5, "min_tokens_to_keep": -1}, "min_tokens_to_keep"),
    ("min_p_filter", {"min_p": 1.01}, "min_p"),
    ("min_p_filter", {"min_p": math.nan}, "min_p"),
    ("typical_filter", {"mass": 0.0}, "mass"),
    ("typical_filter", {"mass": 1.0}, "mass"),
    ("epsilon_filter", {"epsilon": 0.0}, "epsilon"),
    ("epsilon_filter", {"epsilon": 1.0}, "epsilon"),
    ("eta_filter", {"epsilon": 0.0}, "epsilon"),
    ("eta_filter", {"epsilon": math.nan}, "epsilon"),
    ("top_h_filter", {"alpha": 0.0}, "alpha"),
    ("top_h_filter", {"alpha": 1.5}, "alpha"),
    ("top_h_filter", {"alpha": 0.4, "criterion": "paper"}, "criterion"),
    ("top_h_filter", {"alpha": 0.4, "top_n": 0}, "top_n"),
    ("top_h_filter", {"alpha": 0.4, "temperature": 0.0}, "temperature"),
]


@pytest.mark.parametrize(("backend", "conv"), BACKENDS, ids=[b for b, _ in BACKENDS])
@pytest.mark.parametrize(("name", "params", "arg"), BAD_PARAMS)
def test_bad_parameter(name: str, params: dict[str, Any], arg: str, backend: str,
                       conv: Callable[[np.ndarray], Any]) -> None:
    with pytest.raises(ParameterError, match=f"{name}: argument '{arg}' expected") as info:
        impl(backend, name)(conv(np.zeros((2, 3))), **params)
    assert info.value.argument == arg


def test_temperature_zero_message_names_the_range() -> None:
    with pytest.raises(ParameterError, match=r"a float in \(0.0, inf\); got 0.0"):
        R.temperature_scale(np.zeros(3), 0.0)


# --------------------------------------------------------------------------- sample


@pytest.mark.parametrize(("backend", "conv"), BACKENDS, ids=[b for b, _ in BACKENDS])
class TestSampleErrors:
    def test_shape_mismatch(self, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(ShapeError, match=r"'uniforms'.*shape"):
            impl(backend, "sample")(conv(np.zeros((3, 4))), conv(np.zeros(4)))

    @pytest.mark.parametrize("bad", [1.0, -0.25, 1.5])
    def test_out_of_range(self, backend: str, conv: Callable[[np.ndarray], Any], bad: float) -> None:
        with pytest.raises(DomainError, match=r"'uniforms'.*\[0, 1\)"):
            impl(backend, "sample")(conv(np.zeros((2, 4))), conv(np.array([0.5, bad])))

    def test_nan_uniform(self, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(DomainError, match=r"'uniforms'.*NaN"):
            impl(backend, "sample")(conv(np.zeros((2, 4))), conv(np.array([0.5, math.nan])))

    def test_nan_logits(self, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(DomainError, match=r"'logits'.*NaN"):
            impl(backend, "sample")(conv(np.array([[0.0, math.nan]])), conv(np.array([0.5])))

    def test_row_without_finite_logit(self, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        z = np.array([[0.0, 1.0], [-math.inf, -math.inf]])
        with pytest.raises(DomainError, match=r"'logits'.*only -inf"):
            impl(backend, "sample")(conv(z), conv(np.array([0.1, 0.2])))

    def test_integer_uniforms(self, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(DTypeError, match="'uniforms'"):
            impl(backend, "sample")(conv(np.zeros((2, 4))), conv(np.array([0, 0])))

    def test_empty_vocab(self, backend: str, conv: Callable[[np.ndarray], Any]) -> None:
        with pytest.raises(ShapeError, match="'logits'"):
            impl(backend, "sample")(conv(np.zeros((2, 0))), conv(np.zeros(2)))


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        R.top_p_filter(np.zeros(3), 2.0)
    with pytest.raises(TypeError):
        A.sample(np.zeros((1, 3)), np.array([0]))
