"""Bad input raises the project's errors, naming the argument — the same class on every layer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import categorical as A
from reference import categorical as R
from spec.errors import DomainError, DTypeError, InputError, ParameterError, ShapeError

P = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
Q = np.array([[0.25, 0.25, 0.5], [0.5, 0.25, 0.25]])
Z = np.array([[1.0, 0.0, -np.inf], [0.5, 2.0, 1.0]])
Y = np.array([0, 2])


def layers(fn_name: str) -> list[tuple[str, Callable[..., Any], Callable[[Any], Any]]]:
    """(label, function, converter) for the reference, accelerated/NumPy and accelerated/Torch."""
    def to_torch(x: Any) -> Any:
        return torch.tensor(x) if isinstance(x, np.ndarray) else x

    def same(x: Any) -> Any:
        return x

    return [("reference", getattr(R, fn_name), same), ("numpy", getattr(A, fn_name), same),
            ("torch", getattr(A, fn_name), to_torch)]


def expect(fn_name: str, error: type[Exception], argument: str, *args: Any, **kwargs: Any) -> None:
    for label, fn, conv in layers(fn_name):
        with pytest.raises(error) as info:
            fn(*[conv(a) for a in args], **{k: conv(v) for k, v in kwargs.items()})
        exc = info.value
        assert getattr(exc, "argument", None) == argument, f"{label}: {exc}"
        assert fn_name in str(exc) and repr(argument) in str(exc), f"{label}: {exc}"


# --------------------------------------------------------------------------- NaN / inf / simplex


@pytest.mark.parametrize(("fn", "args", "bad_arg"), [
    ("entropy", (P,), "probs"),
    ("renyi_entropy", (P, 2.0), "probs"),
    ("tsallis_entropy", (P, 2.0), "probs"),
    ("kl_divergence", (P, Q), "p"),
    ("js_divergence", (P, Q), "q"),
    ("entropy_from_logits", (Z,), "logits"),
    ("kl_divergence_from_logits", (Z, Z), "logits_q"),
    ("top_p_renormalized_entropy", (Z,), "logits"),
    ("cross_entropy", (Z, Y), "logits"),
])
def test_nan_raises_domain_error(fn: str, args: tuple[Any, ...], bad_arg: str) -> None:
    names = {"kl_divergence": ["p", "q"], "js_divergence": ["p", "q"],
             "kl_divergence_from_logits": ["logits_p", "logits_q"]}.get(fn, [bad_arg])
    bad = list(args)
    i = names.index(bad_arg)
    bad[i] = np.array(args[i], dtype=np.float64, copy=True)
    bad[i][1, 1] = np.nan
    expect(fn, DomainError, bad_arg, *bad)


def test_inf_and_all_neg_inf_rows() -> None:
    z = Z.copy()
    z[0, 0] = np.inf
    expect("entropy_from_logits", DomainError, "logits", z)
    expect("cross_entropy", DomainError, "logits", z, Y)
    z = Z.copy()
    z[1] = -np.inf
    expect("entropy_from_logits", DomainError, "logits", z)
    expect("top_p_renormalized_entropy", DomainError, "logits", z)
    expect("cross_entropy", DomainError, "logits", z, Y)
    expect("kl_divergence_from_logits", DomainError, "logits_p", z, Z)
    # NaN in an IGNORED row is still rejected (the fast path must not hide it behind the mask)
    z = Z.copy()
    z[1, 0] = np.nan
    expect("cross_entropy", DomainError, "logits", z, np.array([0, -100]))


def test_off_simplex_and_negative() -> None:
    expect("entropy", DomainError, "probs", np.array([0.5, 0.6]))
    expect("renyi_entropy", DomainError, "probs", np.array([1.5, -0.5]), 2.0)
    expect("kl_divergence", DomainError, "q", P, np.array([[0.5, 0.5, 0.5], [0.2, 0.3, 0.5]]))
    expect("cross_entropy", DomainError, "target", Z, np.array([[0.5, 0.6, 0.0], [0.0, 0.0, 1.0]]))


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("fn", "args", "kwargs", "param"), [
    ("entropy", (P,), {"base": 1.0}, "base"),
    ("entropy", (P,), {"base": -2.0}, "base"),
    ("entropy_from_logits", (Z,), {"temperature": 0.0}, "temperature"),
    ("entropy_from_logits", (Z,), {"temperature": math.nan}, "temperature"),
    ("entropy_from_logits", (Z,), {"temperature": math.inf}, "temperature"),
    ("renyi_entropy", (P, -0.5), {}, "alpha"),
    ("renyi_entropy", (P, math.nan), {}, "alpha"),
    ("tsallis_entropy", (P, -1.0), {}, "q"),
    ("tsallis_entropy", (P, math.inf), {}, "q"),
    ("js_divergence", (P, Q), {"base": 0.0}, "base"),
    ("top_p_renormalized_entropy", (Z, 1.5), {}, "p"),
    ("top_p_renormalized_entropy", (Z, -0.1), {}, "p"),
    ("top_p_renormalized_entropy", (Z,), {"k": 0}, "k"),
    ("top_p_renormalized_entropy", (Z,), {"k": 2.5}, "k"),
    ("cross_entropy", (Z, Y), {"label_smoothing": 1.5}, "label_smoothing"),
    ("cross_entropy", (Z, Y), {"reduction": "avg"}, "reduction"),
    ("cross_entropy", (Z, Y), {"ignore_index": 1.5}, "ignore_index"),
    ("entropy_from_logits", (Z,), {"axis": 2}, "axis"),
    ("kl_divergence", (P, Q), {"axis": -3}, "axis"),
])
def test_parameter_errors(fn: str, args: tuple[Any, ...], kwargs: dict[str, Any], param: str) -> None:
    expect(fn, ParameterError, param, *args, **kwargs)


# --------------------------------------------------------------------------- shapes and dtypes


def test_shape_errors() -> None:
    expect("kl_divergence", ShapeError, "q", P, Q[:, :2].copy() / Q[:, :2].sum(-1, keepdims=True))
    expect("js_divergence", ShapeError, "q", P, Q[:1])
    expect("kl_divergence_from_logits", ShapeError, "logits_q", Z, Z[:, :2].copy())
    expect("entropy", ShapeError, "probs", np.zeros((3, 0)))
    expect("entropy_from_logits", ShapeError, "logits", np.array(1.0))
    expect("cross_entropy", ShapeError, "target", Z, np.array([0, 1, 2]))
    expect("cross_entropy", ShapeError, "target", Z, np.full((2, 4), 0.25))
    expect("cross_entropy", ShapeError, "weight", Z, Y, weight=np.ones(4))


def test_cross_entropy_target_domain_and_dtype() -> None:
    expect("cross_entropy", DomainError, "target", Z, np.array([0, 3]))
    expect("cross_entropy", DomainError, "target", Z, np.array([0, -1]))
    expect("cross_entropy", DTypeError, "target", Z, np.array([0.0, 2.0]))  # float class indices
    expect("cross_entropy", DTypeError, "target", Z, np.array([True, False]))
    expect("cross_entropy", DomainError, "weight", Z, Y, weight=np.array([1.0, -1.0, 1.0]))
    expect("cross_entropy", DomainError, "weight", Z, Y, weight=np.array([1.0, np.nan, 1.0]))


def test_integer_logits_rejected_by_accelerated() -> None:
    with pytest.raises(DTypeError) as info:
        A.entropy_from_logits(torch.tensor([[1, 2, 3]]))
    assert info.value.argument == "logits"
    with pytest.raises(DTypeError):
        A.cross_entropy(torch.tensor([[1, 2, 3]]), torch.tensor([0]))


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        R.entropy(np.array([0.5, np.nan]))
    assert issubclass(ParameterError, InputError)
    with pytest.raises(TypeError):
        A.cross_entropy(np.zeros((2, 3)), np.array([0.5, 0.5]))
