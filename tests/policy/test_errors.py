"""Bad input for the ``policy`` family: each error class, the same class and message on every layer and
backend, and the message names the argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R
from spec.errors import DomainError, DTypeError, InputError, ParameterError, ShapeError

LAYERS: list[tuple[str, Callable[[Any], Any]]] = [
    ("reference", lambda x: x),
    ("numpy", lambda x: x),
    ("torch", lambda x: torch.from_numpy(np.array(x, copy=True))),
]


def _good() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "log_prob": -rng.random((2, 3)),
        "old_log_prob": -rng.random((2, 3)),
        "advantages": rng.normal(size=(2, 3)),
        "mask": np.array([[True, True, False], [True, False, False]]),
        "priority": rng.random((2, 3)),
    }


def _calls(module: Any, g: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    lp, old, adv, m, pri = g["log_prob"], g["old_log_prob"], g["advantages"], g["mask"], g["priority"]
    return {
        "aggregate": lambda: module.aggregate(adv, m, "token-mean"),
        "ppo_clip_loss": lambda: module.ppo_clip_loss(lp, old, adv, m),
        "clip_cov_loss": lambda: module.clip_cov_loss(lp, old, adv, m, pri),
        "kl_cov_loss": lambda: module.kl_cov_loss(lp, old, adv, m),
        "kl_penalty": lambda: module.kl_penalty(lp, old, "k3"),
    }


def _module(layer: str) -> Any:
    return R if layer == "reference" else A


def _raises(layer: str, exc: type[Exception], argument: str, fn: Callable[[], Any]) -> str:
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, (InputError, DTypeError))
    assert info.value.argument == argument, f"{layer}: error names {info.value.argument!r}, not {argument!r}"
    assert repr(argument) in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("name", ["log_prob", "old_log_prob", "advantages", "priority"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(name: str, bad: float) -> None:
    messages = set()
    for layer, conv in LAYERS:
        g = _good()
        g[name] = g[name].copy()
        g[name][0, 2] = bad  # even at a masked position: NaN is never accepted
        g = {k: conv(v) for k, v in g.items()}
        for method, fn in _calls(_module(layer), g).items():
            uses = {"aggregate": ("advantages",), "kl_penalty": ("log_prob", "old_log_prob"),
                    "clip_cov_loss": ("log_prob", "old_log_prob", "advantages", "priority")}.get(
                method, ("log_prob", "old_log_prob", "advantages"))
            if name not in uses:
                continue
            arg = {"advantages": "values"}.get(name, name) if method == "aggregate" else name
            arg = "ref_log_prob" if method == "kl_penalty" and name == "old_log_prob" else arg
            messages.add((method, _raises(layer, DomainError, arg, fn)))
    # identical messages across layers/backends: one message per method
    assert len({m for m, _ in messages}) == len(messages)


@pytest.mark.parametrize("layer,conv", LAYERS)
def test_shape_mismatch(layer: str, conv: Callable[[Any], Any]) -> None:
    g = {k: conv(v) for k, v in _good().items()}
    mod = _module(layer)
    short = conv(np.zeros((2, 2)))
    _raises(layer, ShapeError, "mask", lambda: mod.aggregate(g["advantages"], conv(np.ones((2, 2), bool)),
                                                              "token-mean"))
    _raises(layer, ShapeError, "old_log_prob", lambda: mod.ppo_clip_loss(g["log_prob"], short, g["advantages"],
                                                                          g["mask"]))
    _raises(layer, ShapeError, "priority", lambda: mod.clip_cov_loss(g["log_prob"], g["old_log_prob"],
                                                                      g["advantages"], g["mask"], short))
    _raises(layer, ShapeError, "ref_log_prob", lambda: mod.kl_penalty(g["log_prob"], short, "k1"))
    _raises(layer, ShapeError, "values", lambda: mod.aggregate(conv(np.float64(1.0) * np.ones(())),
                                                                conv(np.ones((), bool)), "token-mean"))
    _raises(layer, ShapeError, "group_ids", lambda: mod.group_advantages(conv(np.zeros(3)),
                                                                          conv(np.zeros(4, np.int64))))
    _raises(layer, ShapeError, "rewards", lambda: mod.group_advantages(conv(np.zeros((2, 2))),
                                                                        conv(np.zeros((2, 2), np.int64))))


@pytest.mark.parametrize("layer,conv", LAYERS)
def test_parameters_out_of_domain(layer: str, conv: Callable[[Any], Any]) -> None:
    g = {k: conv(v) for k, v in _good().items()}
    mod = _module(layer)
    lp, old, adv, m, pri = g["log_prob"], g["old_log_prob"], g["advantages"], g["mask"], g["priority"]
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("mode", lambda: mod.aggregate(adv, m, "none")),  # 'none' is for the losses only
        ("mode", lambda: mod.aggregate(adv, m, "mean")),
        ("max_length", lambda: mod.aggregate(adv, m, "seq-mean-token-sum-norm", max_length=0)),
        ("clip_low", lambda: mod.ppo_clip_loss(lp, old, adv, m, clip_low=-0.1)),
        ("clip_high", lambda: mod.ppo_clip_loss(lp, old, adv, m, clip_high=float("nan"))),
        ("dual_clip", lambda: mod.ppo_clip_loss(lp, old, adv, m, dual_clip=1.0)),
        ("mode", lambda: mod.ppo_clip_loss(lp, old, adv, m, mode="sum")),
        ("kind", lambda: mod.kl_penalty(lp, old, "low_var_kl")),
        ("scale", lambda: mod.group_advantages(conv(np.zeros(2)), conv(np.zeros(2, np.int64)), scale="batch")),
        ("eps", lambda: mod.group_advantages(conv(np.zeros(2)), conv(np.zeros(2, np.int64)), eps=-1e-6)),
        ("clip_ratio", lambda: mod.clip_cov_loss(lp, old, adv, m, pri, clip_ratio=1.5)),
        ("cov_low", lambda: mod.clip_cov_loss(lp, old, adv, m, pri, cov_low=float("nan"))),
        ("k_percent", lambda: mod.kl_cov_loss(lp, old, adv, m, k_percent=101.0)),
        ("coef", lambda: mod.kl_cov_loss(lp, old, adv, m, coef=-1.0)),
    ]
    for arg, fn in cases:
        msg = _raises(layer, ParameterError, arg, fn)
        assert "expected" in msg and "got" in msg


@pytest.mark.parametrize("layer,conv", LAYERS)
def test_domain_errors(layer: str, conv: Callable[[Any], Any]) -> None:
    g = {k: conv(v) for k, v in _good().items()}
    mod = _module(layer)
    lp, old, adv, m = g["log_prob"], g["old_log_prob"], g["advantages"], g["mask"]
    for bad in (1.0, -0.25):
        pri = conv(np.full((2, 3), bad))

        def call(pri: Any = pri) -> Any:
            return mod.clip_cov_loss(lp, old, adv, m, pri)

        _raises(layer, DomainError, "priority", call)
    two = conv(np.full((2, 3), 2.0))
    _raises(layer, DomainError, "mask", lambda: mod.ppo_clip_loss(lp, old, adv, two))


@pytest.mark.parametrize("layer,conv", LAYERS)
def test_dtype_errors(layer: str, conv: Callable[[Any], Any]) -> None:
    mod = _module(layer)
    _raises(layer, DTypeError, "group_ids", lambda: mod.group_advantages(conv(np.zeros(3)), conv(np.zeros(3))))
    _raises(layer, DTypeError, "rewards", lambda: mod.group_advantages(conv(np.zeros(3, np.int64)),
                                                                        conv(np.zeros(3, np.int64))))
    ints = conv(np.zeros((2, 3), np.int64))
    _raises(layer, DTypeError, "values", lambda: mod.aggregate(ints, conv(np.ones((2, 3), bool)), "token-mean"))


def test_error_hierarchy() -> None:
    assert issubclass(ShapeError, ValueError) and issubclass(DTypeError, TypeError)
    with pytest.raises(ValueError, match="clip_cov_loss: argument 'priority' expected keys in"):
        R.clip_cov_loss(*(np.zeros((1, 1)),) * 3, np.ones((1, 1), bool), np.ones((1, 1)))
