"""``estimators_2`` group (gae_advantages, reinforce_plus_plus_advantages, remax_advantages, reinforce_loss):
closed forms computed by hand, gradients, dtypes, empty shapes and a long-sequence check of the
vectorised recursions. Parity with verl is in test_estimators_parity.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from accelerated import policy as A
from reference import policy as R


def test_gae_closed_form_by_hand() -> None:
    # one row of three valid tokens, γ = 0.9, λ = 0.8: δ = r + γV' − V with V' = 0 after the end
    r = np.array([[1.0, 0.0, 2.0]])
    v = np.array([[0.5, 1.0, 1.5]])
    m = np.ones((1, 3), dtype=bool)
    d = [1.0 + 0.9 * 1.0 - 0.5, 0.0 + 0.9 * 1.5 - 1.0, 2.0 - 1.5]
    c = 0.9 * 0.8
    expect = [d[0] + c * d[1] + c * c * d[2], d[1] + c * d[2], d[2]]
    for adv, ret in (R.gae_advantages(r, v, m, gamma=0.9, lam=0.8),
                     A.gae_advantages(torch.tensor(r), torch.tensor(v), torch.tensor(m), gamma=0.9, lam=0.8)):
        np.testing.assert_allclose(np.asarray(adv)[0], expect, rtol=1e-14)
        np.testing.assert_allclose(np.asarray(ret)[0], np.array(expect) + v[0], rtol=1e-14)


def test_gae_skips_observation_tokens() -> None:
    """A masked token in the middle is removed from the trajectory: same result as deleting the column."""
    rng = np.random.default_rng(0)
    r, v = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    m = np.ones((4, 6), dtype=bool)
    m[:, 2] = False
    adv, ret = R.gae_advantages(r, v, m, gamma=0.95, lam=0.9)
    keep = [0, 1, 3, 4, 5]
    adv2, ret2 = R.gae_advantages(r[:, keep], v[:, keep], np.ones((4, 5), dtype=bool), gamma=0.95, lam=0.9)
    np.testing.assert_allclose(adv[:, keep], adv2, rtol=1e-14)
    np.testing.assert_allclose(ret[:, keep], ret2, rtol=1e-14)
    assert np.all(adv[:, 2] == 0.0) and np.all(ret[:, 2] == 0.0)


def test_reinforce_plus_plus_by_hand() -> None:
    r = np.array([[0.0, 0.0, 1.0], [0.0, 3.0, 0.0]])
    m = np.array([[True, True, True], [True, True, False]])
    g = np.array([7, 7])
    adv, ret = R.reinforce_plus_plus_advantages(r, m, g, gamma=0.5)
    np.testing.assert_allclose(ret, [[0.25, 0.5, 1.0], [1.5, 3.0, 0.0]], rtol=1e-15)
    vals = np.array([0.25, 0.5, 1.0, 1.5, 3.0])
    z = (vals - vals.mean()) / np.sqrt(vals.var(ddof=1) + 1e-8)
    np.testing.assert_allclose(adv[m], z, rtol=1e-14)
    # baseline='group': R = (1, 3), centred (−1, 1), tiled over 5 valid tokens and whitened
    adv_g, ret_g = R.reinforce_plus_plus_advantages(r, m, g, baseline="group")
    tiled = np.array([-1.0, -1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(adv_g[m], (tiled + 0.2) / np.sqrt(tiled.var(ddof=1) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(ret_g[m], [1.0, 1.0, 1.0, 3.0, 3.0])


def test_remax_by_hand() -> None:
    r = np.array([[0.5, 0.0, 1.0], [2.0, 9.0, 0.0]])
    m = np.array([[True, True, True], [True, False, False]])
    b = np.array([1.0, -1.0])
    for credit, expect in (("sequence", [[0.5, 0.5, 0.5], [3.0, 0.0, 0.0]]),
                           ("reward_to_go", [[0.5, 0.0, 0.0], [3.0, 0.0, 0.0]])):
        for adv, _ in (R.remax_advantages(r, b, m, credit=credit),
                       A.remax_advantages(torch.tensor(r), torch.tensor(b), torch.tensor(m), credit=credit)):
            np.testing.assert_allclose(np.asarray(adv), expect, rtol=1e-15)


def test_reinforce_loss_gradient_is_minus_advantage() -> None:
    rng = np.random.default_rng(1)
    lp = torch.tensor(-rng.random((3, 4)), requires_grad=True)
    adv = torch.tensor(rng.normal(size=(3, 4)))
    m = torch.tensor(rng.random((3, 4)) < 0.7)
    A.reinforce_loss(lp, adv, m).backward()  # seq-mean-token-sum: ∂L/∂logp = −A/B on valid tokens
    assert lp.grad is not None
    expect = torch.where(m, -adv / 3.0, torch.zeros_like(adv))
    torch.testing.assert_close(lp.grad, expect, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_dtypes_preserved_and_no_gradient_through_estimators(dtype: torch.dtype) -> None:
    r = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.0]], dtype=dtype, requires_grad=True)
    v = torch.tensor([[0.2, 0.1, 0.0], [0.3, 0.3, 0.3]], dtype=dtype, requires_grad=True)
    m = torch.tensor([[True, True, True], [True, True, False]])
    outs: list[Any] = [*A.gae_advantages(r, v, m, whiten=True),
                       *A.reinforce_plus_plus_advantages(r, m, torch.tensor([0, 0]), baseline="group"),
                       *A.remax_advantages(r, torch.tensor([0.5, 0.5], dtype=dtype), m)]
    for out in outs:
        assert out.dtype == dtype and not out.requires_grad
    assert A.reinforce_loss(r, v, m).dtype == dtype


def test_empty_shapes() -> None:
    for shape in ((0, 4), (3, 0), (0, 0)):
        z = torch.zeros(shape)
        m = torch.zeros(shape, dtype=torch.bool)
        for out in (*A.gae_advantages(z, z, m, whiten=True),
                    *A.reinforce_plus_plus_advantages(z, m, torch.zeros(shape[0], dtype=torch.int64)),
                    *A.remax_advantages(z, torch.zeros(shape[0]), m)):
            assert out.shape == shape
        assert float(A.reinforce_loss(z, z, m)) == 0.0


def test_long_sequences_float32_match_reference() -> None:
    """The per-step loops over T (vectorised over rows) at T = 512, B = 64, float32 inputs."""
    rng = np.random.default_rng(2)
    b, t = 64, 512
    m = np.arange(t) < rng.integers(1, t + 1, size=b)[:, None]
    r = (rng.normal(size=(b, t)) * 0.01).astype(np.float32).astype(np.float64)
    v = rng.normal(size=(b, t)).astype(np.float32).astype(np.float64)
    ref = R.gae_advantages(r, v, m, gamma=0.99, lam=0.95, whiten=True)
    got = A.gae_advantages(torch.tensor(r, dtype=torch.float32), torch.tensor(v, dtype=torch.float32),
                           torch.tensor(m), gamma=0.99, lam=0.95, whiten=True)
    for x, y in zip(got, ref, strict=True):
        np.testing.assert_allclose(x.double().numpy(), y, rtol=1e-5, atol=1e-5)
    g = rng.integers(0, 16, size=b)
    ref2 = R.reinforce_plus_plus_advantages(r, m, g, gamma=0.99)
    got2 = A.reinforce_plus_plus_advantages(torch.tensor(r, dtype=torch.float32), torch.tensor(m),
                                            torch.tensor(g), gamma=0.99)
    for x, y in zip(got2, ref2, strict=True):
        np.testing.assert_allclose(x.double().numpy(), y, rtol=1e-5, atol=1e-5)


LAYERS = [("reference", R, lambda x: x), ("numpy", A, lambda x: x),
          ("torch", A, lambda x: torch.from_numpy(np.array(x, copy=True)))]


def _message(exc: type[Exception], argument: str, fn: Any) -> str:
    with pytest.raises(exc) as info:
        fn()
    assert getattr(info.value, "argument", None) == argument, f"{info.value} does not name {argument!r}"
    return str(info.value)


def test_errors_are_the_same_on_every_layer() -> None:
    from spec.errors import DomainError, DTypeError, ParameterError, ShapeError

    r = np.array([[0.0, 1.0], [1.0, 0.0]])
    m = np.ones((2, 2), dtype=bool)
    g = np.array([0, 0])
    bad_r = r.copy()
    bad_r[1, 1] = np.nan
    cases: list[tuple[type[Exception], str, Any]] = [
        (ParameterError, "lam", lambda mod, c: mod.gae_advantages(c(r), c(r), c(m), lam=1.5)),
        (ParameterError, "whiten", lambda mod, c: mod.gae_advantages(c(r), c(r), c(m), whiten="yes")),
        (DomainError, "rewards", lambda mod, c: mod.gae_advantages(c(bad_r), c(r), c(m))),
        (ShapeError, "values", lambda mod, c: mod.gae_advantages(c(r), c(r[:, :1]), c(m))),
        (ShapeError, "mask", lambda mod, c: mod.remax_advantages(c(r[0]), c(g * 1.0), c(m[0]))),
        (ParameterError, "credit", lambda mod, c: mod.remax_advantages(c(r), c(g * 1.0), c(m), credit="token")),
        (ShapeError, "baseline_rewards", lambda mod, c: mod.remax_advantages(c(r), c(np.zeros(3)), c(m))),
        (ParameterError, "baseline", lambda mod, c: mod.reinforce_plus_plus_advantages(c(r), c(m), c(g),
                                                                                         baseline="mean")),
        (DTypeError, "group_ids", lambda mod, c: mod.reinforce_plus_plus_advantages(c(r), c(m), c(g * 1.0))),
        (ShapeError, "group_ids", lambda mod, c: mod.reinforce_plus_plus_advantages(c(r), c(m), c(np.zeros(3, int)))),
        (DomainError, "mask", lambda mod, c: mod.reinforce_loss(c(-r), c(r), c(m * 2.0))),
        (ParameterError, "singleton", lambda mod, c: mod.rloo_advantages(c(r[0]), c(g), singleton="one")),
        (DTypeError, "group_ids", lambda mod, c: mod.grpo_passk_advantages(c(r[0]), c(g * 1.0))),
        (ShapeError, "mask", lambda mod, c: mod.opo_advantages(c(r[0]), c(m[:1]), c(g))),
        (DomainError, "rewards", lambda mod, c: mod.opo_advantages(c(bad_r[1]), c(m), c(g))),
    ]
    for exc, argument, call in cases:
        messages = {_message(exc, argument, lambda mod=mod, c=c, call=call: call(mod, c)).replace("torch.", "")
                    for _, mod, c in LAYERS}  # a dtype is named by its backend ("torch.float64")
        assert len(messages) == 1, messages
