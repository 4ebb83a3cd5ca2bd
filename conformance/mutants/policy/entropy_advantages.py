"""Mutants of the ``entropy_advantages`` group (CANON, EMPG): written from the formulas with one planted bug each;
validation reuses the reference's input checks so a mutant is caught only for its bug."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from reference.policy.entropy_advantages import _canon_inputs
from spec.errors import ShapeError
from spec.validate import check_finite, check_params

__all__ = ["MUTANTS"]

MUTANTS: dict[str, tuple[Mutant, ...]] = {}


# --------------------------------------------------------------------------- canon_advantage


def canon_core(bug: str, r: Any, g: Any, h: Any, m: Any, metric: str, inter: Any, intra: Any, alpha: float,
               beta: float, length: float) -> Any:
    mf = m.astype(np.float64)
    if metric == "length":
        key = mf.sum(axis=-1)
    elif bug == "entropy_sum":
        key = (h * mf).sum(axis=-1)
    else:
        key = (h * mf).sum(axis=-1) / (mf.sum(axis=-1) + 1e-8)
    adv = np.zeros(r.shape)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        if bug == "ties_reversed":
            order = idx[np.lexsort((-idx, key[idx]))]
        else:
            order = idx[np.argsort(key[idx], kind="stable")]
        mid = (idx.size + 1) // 2 if bug == "low_gets_extra" else idx.size // 2
        low, high = order[:mid], order[mid:]
        if idx.size == 1:
            mu_l, mu_h = (0.0, float(r[idx[0]])) if bug == "singleton_centred" else (0.0, 0.0)
        else:
            mu_l = float(r[low].mean()) if low.size else 0.0
            mu_h = float(r[high].mean()) if high.size else 0.0
        if bug == "swapped_baselines":
            mu_l, mu_h = mu_h, mu_l
        for i in high:
            a = alpha * r[i] - mu_l + beta if metric == "length" else r[i] - alpha * mu_l + beta
            adv[i] = (inter * a + intra * (r[i] - mu_h)) / length
        for i in low:
            a = r[i] - alpha * mu_h - beta if metric == "length" else alpha * r[i] - mu_h - beta
            adv[i] = (inter * a + intra * (r[i] - mu_l)) / length
    return adv[:, None] * mf


def _canon(bug: str) -> Any:
    def canon_advantage(rewards: Any, group_ids: Any, entropy: Any, mask: Any, *, metric: str = "entropy",
                        mu: float = 1.0, alpha: float = 1.0, beta: float = 0.0, max_length: int = 8192) -> Any:
        fn = "canon_advantage"
        check_params(fn, metric=metric, mu=mu, alpha=alpha, beta=beta, max_length=max_length)
        r, g, h, m = _canon_inputs(fn, rewards, group_ids, entropy, mask)
        return canon_core(bug, r, g, h, m, metric, mu, 1.0 - mu, alpha, beta, float(max_length))
    return canon_advantage


MUTANTS["canon_advantage"] = (
    Mutant("ties_reversed", "metric ties ordered by descending original index (not Python's stable sort)",
           _canon("ties_reversed")),
    Mutant("low_gets_extra", "an odd group's extra response goes to the low half (mid = ⌈G/2⌉)",
           _canon("low_gets_extra")),
    Mutant("singleton_centred", "a group of one keeps its own mean as the high-half baseline (the code uses 0)",
           _canon("singleton_centred")),
    Mutant("swapped_baselines", "inter and intra baselines swapped (each half compared with its own mean first)",
           _canon("swapped_baselines")),
    Mutant("entropy_sum", "regroups by the summed token entropy instead of verl's masked mean",
           _canon("entropy_sum")),
)


# --------------------------------------------------------------------------- canon_advantage_scheduled


def _cr(step: int, high: float, low: float, bug: str) -> float:
    warmup = 30
    if step < warmup:
        return high * (step if bug == "warmup_off_by_one" else step + 1) / warmup
    cycle = 150 // 3 if bug == "cycle_with_warmup" else (150 - warmup) // 3
    e = (step - warmup) % cycle
    return low + 0.5 * (high - low) * (1 + math.cos(math.pi * e / cycle))


def _sched(bug: str) -> Any:
    def canon_advantage_scheduled(rewards: Any, group_ids: Any, entropy: Any, mask: Any, *,
                                  schedule: str = "cosine_restart", step: int = 0, max_length: int = 8192) -> Any:
        fn = "canon_advantage_scheduled"
        check_params(fn, schedule=schedule, step=step, max_length=max_length)
        r, g, h, m = _canon_inputs(fn, rewards, group_ids, entropy, mask)
        if schedule == "annel":
            mean = float(np.mean(r)) if r.size else 0.0
            intra = mean if bug == "annel_swapped" else 1.0 - mean
        elif schedule == "cosine_restart":
            intra = _cr(step, 0.6, 0.0, bug)
        else:
            c = _cr(step, 1.0, 0.4, bug)
            intra = c if bug == "r_not_inverted" else 1.0 - c
        return canon_core("", r, g, h, m, "entropy", 1.0 - intra, intra, 1.0, 0.0, float(max_length))
    return canon_advantage_scheduled


MUTANTS["canon_advantage_scheduled"] = (
    Mutant("annel_swapped", "annel puts the batch accuracy on the intra term instead of the inter term",
           _sched("annel_swapped")),
    Mutant("warmup_off_by_one", "warm-up max·step/30 instead of max·(step + 1)/30", _sched("warmup_off_by_one")),
    Mutant("cycle_with_warmup", "cycle length total//cycles = 50 instead of (total − warmup)//cycles = 40",
           _sched("cycle_with_warmup")),
    Mutant("r_not_inverted", "cosine_restart_r uses cr as the intra weight (no 1 − cr)", _sched("r_not_inverted")),
)


# --------------------------------------------------------------------------- empg_advantage


def _empg(bug: str) -> Any:
    def empg_advantage(step_entropy: Any, advantages: Any, trajectory_ids: Any, *, k: float = 1.0, k_f: float = 1.0,
                       zeta: float = 0.1, normalize: str = "std") -> Any:
        fn = "empg_advantage"
        check_params(fn, k=k, k_f=k_f, zeta=zeta, normalize=normalize)
        h, a, t = np.asarray(step_entropy, dtype=np.float64), np.asarray(advantages, dtype=np.float64), \
            np.asarray(trajectory_ids)
        if h.ndim != 1 or h.shape != a.shape or h.shape != t.shape:
            raise ShapeError(fn, "step_entropy", "matching 1-D arrays", f"shape {h.shape}")
        check_finite(fn, "step_entropy", h, np)
        check_finite(fn, "advantages", a, np)
        if h.size == 0:
            return np.zeros(0)
        hn = (h - h.min()) / (h.max() - h.min() + 1e-8)
        g = np.exp(-k * hn)
        if bug != "uncalibrated":
            g = g / (g.mean() + 1e-8)
        f = np.exp(-k_f * hn)
        out = g * a
        for i in range(h.size):
            others = np.flatnonzero(t == t[i])
            later, earlier = others[others > i], others[others < i]
            if bug == "own_step_bonus":
                if later.size:
                    out[i] += zeta * f[i]
            elif bug == "previous_step_bonus":
                if earlier.size:
                    out[i] += zeta * f[earlier[-1]]
            elif later.size:
                out[i] += zeta * f[later[0]]
        if normalize == "mean":
            out = out - out.mean()
        elif normalize == "std":
            out = (out - out.mean()) / (out.std(ddof=1 if bug == "unbiased_std" and out.size > 1 else 0) + 1e-8)
        return out
    return empg_advantage


MUTANTS["empg_advantage"] = (
    Mutant("own_step_bonus", "the future-clarity bonus uses the step's own f instead of the next step's",
           _empg("own_step_bonus")),
    Mutant("previous_step_bonus", "the bonus comes from the previous step of the trajectory",
           _empg("previous_step_bonus")),
    Mutant("uncalibrated", "g = e^{−kH_n} without dividing by its batch mean", _empg("uncalibrated")),
    Mutant("unbiased_std", "Eq. 7 with the unbiased (n − 1) std", _empg("unbiased_std")),
)
