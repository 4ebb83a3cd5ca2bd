"""Case strategies of the ``ppo`` group (aggregate, ppo_clip_loss, kl_penalty).

- aggregate: masks with an empty row next to non-empty ones a third of the time (the seq-mean modes
  differ there), several rows, ``max_length`` around ``T``;
- ppo_clip_loss: log-ratios on both sides of both clip bounds (see ``_draws``), dual-clip constants
  below the largest drawn ratio;
- kl_penalty: ``ref_log_prob`` near ``log_prob`` (d = 0 exactly, inside and beyond the k3 clamp at
  d ≈ −2.61) or independent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.policy._draws import case, dims, loss_inputs, params, seq_mask
from conformance.strategies import Case, log_probs, reals, representable
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def aggregate_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        b, t = dims(draw, small)
        if b == 1 and draw(st.integers(0, 3)):
            b = 2
        mode = draw(st.sampled_from(AGG_MODES), label="mode")
        m = draw(seq_mask((b, t)), label="mask")
        if b >= 2 and draw(st.integers(0, 2 if mode != "seq-mean-token-mean" else 0)) == 0:
            empty = draw(st.integers(0, b - 1))
            m[empty] = False  # an empty row among others
            m[(empty + 1) % b, draw(st.integers(0, t - 1))] = True
        values = draw(reals((b, t), dtype), label="values")
        length = draw(st.one_of(st.none(), st.integers(max(1, t - 2), t + 3)), label="max_length")
        return case({"values": values, "mask": m}, {"mode": mode, "max_length": length})
    return build()


def ppo_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        inputs = draw(loss_inputs(dtype, small))
        dual = draw(st.one_of(st.none(), st.sampled_from([1.5, 2.0, 3.0]), st.floats(1.01, 10.0)), label="dual_clip")
        return case(inputs, params(draw, spec, dual_clip=dual))
    return build()


_KL_DELTAS = (0.0, 0.0, 0.5, -0.5, 1.0, -1.0, -3.0, -5.0, 2.5, -2.5, 0.0625)


def kl_penalty_cases(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        b, t = dims(draw, small)
        shape = (b, t)
        lp = draw(log_probs(shape, dtype), label="log_prob")
        if draw(st.integers(0, 3)) == 0:
            ref = draw(log_probs(shape, dtype), label="ref_log_prob")
        else:
            delta = np.array(draw(st.lists(st.sampled_from(_KL_DELTAS), min_size=b * t, max_size=b * t)))
            ref = representable(lp - delta.reshape(shape), dtype)
        kind = draw(st.sampled_from(["k1", "abs", "k2", "k3", "k3", "k3"]), label="kind")
        return Case({"log_prob": lp, "ref_log_prob": ref}, {"kind": kind}, {"B": b, "T": t})
    return build()


CASES: dict[str, Callable[..., st.SearchStrategy[Case]]] = {
    "aggregate": aggregate_cases,
    "ppo_clip_loss": ppo_cases,
    "kl_penalty": kl_penalty_cases,
}

def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


def _m(x: Any) -> Any:
    return np.array(x, dtype=bool)


# Per-token losses derived by hand from ℓ = max(−Aρ, −A·clip(ρ, 1−ε_low, 1+ε_high)), then min(ℓ, −A·c) if A < 0.
_LP = _a([[-1.0, -1.0, -1.0, -1.0]])
_RATIOS = np.array([[1.5, 0.5, 1.5, 0.5]])
_AGG_X = _a([[1.0, 2.0, 3.0, 100.0], [4.0, 100.0, 100.0, 100.0], [100.0, 100.0, 100.0, 100.0]])
_AGG_M = _m([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])

CURATED: dict[str, tuple[Curated, ...]] = {
    "aggregate": (
        Curated("seq-mean-token-mean leaves the empty row out",
                "row means 6/3 = 2 and 4/1 = 4; the third row is empty and is not counted: (2 + 4)/2 = 3 (TRL's "
                "count-as-0 convention would give 2)",
                {"values": _AGG_X, "mask": _AGG_M}, {"mode": "seq-mean-token-mean"}, {"loss": _a(3.0)}),
        Curated("token-sum-norm divides by B·max_length",
                "Σ x·m = 1 + 2 + 3 + 4 = 10 over B·max_length = 3·5 rows×length: 10/15 (verl's T-only normaliser "
                "gives 10/4)",
                {"values": _AGG_X, "mask": _AGG_M}, {"mode": "seq-mean-token-sum-norm", "max_length": 5},
                {"loss": _a(10.0 / 15.0)}),
        Curated("seq-mean-token-sum counts the empty row as 0",
                "row sums 6, 4 and 0 over B = 3 rows: 10/3", {"values": _AGG_X, "mask": _AGG_M},
                {"mode": "seq-mean-token-sum"}, {"loss": _a(10.0 / 3.0)}),
        Curated("token-mean", "Σ x·m / Σ m = 10/4", {"values": _AGG_X, "mask": _AGG_M}, {"mode": "token-mean"},
                {"loss": _a(2.5)}),
        Curated("all rows empty", "no valid token: exactly 0 in every mode, never 0/0",
                {"values": _AGG_X, "mask": np.zeros((3, 4), dtype=bool)}, {"mode": "seq-mean-token-mean"},
                {"loss": _a(0.0)}),
    ),
    "ppo_clip_loss": (
        Curated("clipped on both sides",
                "ρ = (1.5, 0.5, 1.5, 0.5), A = (1, −1, −1, 1), ε = 0.2: max(−1.5, −1.2) = −1.2 (clipped above); "
                "max(0.5, 0.8) = 0.8 (clipped below); max(1.5, 1.2) = 1.5; max(−0.5, −0.8) = −0.5",
                {"log_prob": _LP, "old_log_prob": _LP - np.log(_RATIOS), "advantages": _a([[1.0, -1.0, -1.0, 1.0]]),
                 "mask": np.ones((1, 4), dtype=bool)}, {"mode": "none"}, {"loss": _a([[-1.2, 0.8, 1.5, -0.5]])}),
        Curated("token-mean of the clipped tokens", "(−1.2 + 0.8 + 1.5 − 0.5)/4 = 0.15",
                {"log_prob": _LP, "old_log_prob": _LP - np.log(_RATIOS), "advantages": _a([[1.0, -1.0, -1.0, 1.0]]),
                 "mask": np.ones((1, 4), dtype=bool)}, {"mode": "token-mean"}, {"loss": _a(0.15)}),
        Curated("ratio exactly 1", "old = new: ρ = 1 inside every clip range, ℓ = −A",
                {"log_prob": _a([[-0.5, -2.0, -7.0]]), "old_log_prob": _a([[-0.5, -2.0, -7.0]]),
                 "advantages": _a([[2.0, -3.0, 0.5]]), "mask": np.ones((1, 3), dtype=bool)}, {"mode": "none"},
                {"loss": _a([[-2.0, 3.0, -0.5]])}),
        Curated("negative advantages with dual clip",
                "c = 3: A = −1, ρ = 4: max(4, 1.2) = 4, min(4, 3) = 3 (dual clip); A = −2, ρ = 2: max(4, 2.4) = 4, "
                "min(4, 6) = 4",
                {"log_prob": _a([[-1.0, -1.0]]), "old_log_prob": _a([[-1.0, -1.0]]) - np.log([[4.0, 2.0]]),
                 "advantages": _a([[-1.0, -2.0]]), "mask": np.ones((1, 2), dtype=bool)},
                {"mode": "none", "dual_clip": 3.0}, {"loss": _a([[3.0, 4.0]])}),
        Curated("clip-higher", "ε_low = 0.2, ε_high = 0.28, A = 1: ρ = 1.5 gives −1.28; ρ = 1.25 (inside) gives −1.25",
                {"log_prob": _a([[-1.0, -1.0]]), "old_log_prob": _a([[-1.0, -1.0]]) - np.log([[1.5, 1.25]]),
                 "advantages": _a([[1.0, 1.0]]), "mask": np.ones((1, 2), dtype=bool)},
                {"mode": "none", "clip_high": 0.28}, {"loss": _a([[-1.28, -1.25]])}),
        Curated("empty mask", "no valid token: the loss is exactly 0 (not 0/0)",
                {"log_prob": _a([[-1.0, -2.0]]), "old_log_prob": _a([[-3.0, -0.5]]), "advantages": _a([[1.0, -1.0]]),
                 "mask": np.zeros((1, 2), dtype=bool)}, {"mode": "token-mean"}, {"loss": _a(0.0)}),
    ),
    "kl_penalty": (
        Curated("zero at d = 0", "every estimator is 0 at logp = ref",
                {"log_prob": _a([[-1.0, -2.0]]), "ref_log_prob": _a([[-1.0, -2.0]])}, {"kind": "k3"},
                {"penalty": _a([[0.0, 0.0]])}),
        Curated("k3 clamp", "d = −3: e^3 − 3 − 1 ≈ 16.1 is clamped to 10; d = 1: e^−1 + 1 − 1 = e^−1",
                {"log_prob": _a([[-4.0, -1.0]]), "ref_log_prob": _a([[-1.0, -2.0]])}, {"kind": "k3"},
                {"penalty": _a([[10.0, math.exp(-1.0)]])}),
        Curated("k2", "d = (−0.5, 0.25): d²/2 = (0.125, 0.03125)",
                {"log_prob": _a([[-1.5, -0.75]]), "ref_log_prob": _a([[-1.0, -1.0]])}, {"kind": "k2"},
                {"penalty": _a([[0.125, 0.03125]])}),
        Curated("abs and k1", "d = (−0.5, 0.25): |d| = (0.5, 0.25)",
                {"log_prob": _a([[-1.5, -0.75]]), "ref_log_prob": _a([[-1.0, -1.0]])}, {"kind": "abs"},
                {"penalty": _a([[0.5, 0.25]])}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


class VerlConfig(dict[str, Any]):
    """The attributes and ``get`` that verl's policy losses read from an ``ActorConfig``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def verl_agg_loss() -> Callable[..., Any]:
    from verl.trainer.ppo.core_algos import agg_loss

    def aggregate(values: Any, mask: Any, mode: str, *, max_length: int | None = None) -> Any:
        return agg_loss(values, mask.to(values.dtype), mode)

    return aggregate


def verl_policy_loss_vanilla() -> Callable[..., Any]:
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

    def ppo_clip_loss(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, clip_low: float = 0.2,
                      clip_high: float = 0.2, dual_clip: float | None = None, mode: str = "token-mean") -> Any:
        config = VerlConfig(clip_ratio=clip_low, clip_ratio_low=clip_low, clip_ratio_high=clip_high,
                            clip_ratio_c=3.0 if dual_clip is None else dual_clip, global_batch_info={})
        loss, _metrics = compute_policy_loss_vanilla(old_log_prob, log_prob, advantages, mask.to(log_prob.dtype),
                                                     loss_agg_mode=mode, config=config)
        return loss

    return ppo_clip_loss


VERL_KL = {"k1": "k1", "abs": "abs", "k2": "k2", "k3": "k3"}


def verl_kl_penalty() -> Callable[..., Any]:
    from verl.trainer.ppo.core_algos import kl_penalty as verl_kl

    def kl_penalty(log_prob: Any, ref_log_prob: Any, kind: str) -> Any:
        return verl_kl(log_prob, ref_log_prob, VERL_KL[kind])

    return kl_penalty


_VERL: dict[str, Any] = {"package": "verl", "backend": "torch-cpu", "dtypes": ("float64", "float32")}

PEERS = {
    "aggregate": (
        Peer("verl.trainer.ppo.core_algos.agg_loss", load=verl_agg_loss, params={"max_length": None},
             accept=("aggregate:verl_agg_loss",), expect="conventions",
             reading="verl averages the sequence modes over the non-empty rows only, adds 1e-8 to row counts and "
                     "gives NaN (0/0) for an all-padding micro-batch; we count empty rows as 0 and return 0", **_VERL),
    ),
    "ppo_clip_loss": tuple(
        Peer(f"verl.trainer.ppo.core_algos.compute_policy_loss_vanilla [{mode}]", load=verl_policy_loss_vanilla,
             params={"mode": mode},
             accept=("ppo_clip_loss:verl_dual_clip", "ppo_clip_loss:verl_log_ratio_clamp",
                     "ppo_clip_loss:verl_agg_loss", "ppo_clip_loss:verl_undetached_inputs"),
             expect="conventions",
             reading="verl always applies dual clip (clip_ratio_c = 3.0), clamps logp − old to [−20, 20], "
                     "aggregates with its agg_loss (see aggregate) and does not detach old_log_prob/advantages; the "
                     "paper's PPO has none of these (verl has no mode='none')", **_VERL)
        for mode in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")),
    "kl_penalty": (
        Peer("verl.trainer.ppo.core_algos.kl_penalty", load=verl_kl_penalty, **_VERL),
    ),
}
