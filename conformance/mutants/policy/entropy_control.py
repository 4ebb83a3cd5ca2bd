"""Mutants of the ``entropy_control`` group (SIREN, EPO): plausible wrong rules, written from the formulas."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.mutants import Mutant
from reference.policy._common import sequences
from spec.validate import check_params

__all__ = ["MUTANTS"]


def _quantile(x: Any, valid: Any, q: float, bug: str) -> Any:
    out = np.full(x.shape[:-1], np.nan)
    for idx in np.ndindex(x.shape[:-1]):
        vals = x[idx] if bug == "nan_ignored" else x[idx][valid[idx]]
        if vals.size == 0:
            continue
        out[idx] = np.quantile(vals, q, method="lower") if bug == "lower" else np.quantile(vals, q)
    return out


def _peak(h: Any, valid: Any, q: float, dm: bool, rs: bool, bug: str) -> tuple[Any, Any]:
    with np.errstate(invalid="ignore"):
        b = _quantile(h, valid, q, bug)[..., None]
        keep = h >= b if bug == "inclusive" else h > b
    if rs:
        keep &= valid
    if not dm:
        return h, keep
    masked = np.where(keep, h, 0.0)
    with np.errstate(invalid="ignore"):
        b2 = _quantile(masked, valid, q, bug)[..., None]
        keep2 = masked >= b2 if bug == "inclusive" else masked > b2
    if rs:
        keep2 &= valid
    return masked, keep2


def peak_mutant(bug: str) -> Any:
    def fn(entropy: Any, mask: Any, *, quantile: float = 0.8, double_mask: bool = False,
           restrict_to_mask: bool = True) -> Any:
        check_params("peak_entropy_quantile_mask", quantile=quantile, double_mask=double_mask,
                     restrict_to_mask=restrict_to_mask)
        a, valid = sequences("peak_entropy_quantile_mask", mask, entropy=entropy)
        q = 1.0 - quantile if bug == "complement" else quantile
        return _peak(a["entropy"], valid, q, double_mask, restrict_to_mask, bug)[1]
    return fn


def _agg_rows(h: Any, keep: Any, mode: str, empty_rows: str) -> float:
    x = np.where(keep, h, 0.0).reshape(-1, h.shape[-1]) if h.size else np.zeros((0, 1))
    k = np.asarray(keep, dtype=np.float64).reshape(x.shape)
    if x.shape[0] == 0:
        return 0.0
    if mode == "token-mean":
        return float(x.sum() / k.sum()) if k.sum() else 0.0
    if mode == "seq-mean-token-sum":
        return float(x.sum(axis=1).mean())
    if mode == "seq-mean-token-sum-norm":
        return float(x.sum() / x.size)
    n = k.sum(axis=1)
    means = np.where(n > 0, x.sum(axis=1) / np.where(n > 0, n, 1.0), 0.0)
    kept = x.shape[0] if empty_rows == "zero" else int((n > 0).sum())
    return float(means.sum() / kept) if kept else 0.0


def siren_mutant(bug: str) -> Any:
    def fn(entropy: Any, mask: Any, *, anchor: Any = None, old_entropy: Any = None, coef: float = 1.0,
           quantile: float = 0.8, double_mask: bool = True, restrict_to_mask: bool = True,
           mode: str = "seq-mean-token-mean", empty_rows: str = "zero") -> tuple[Any, Any]:
        check_params("siren_entropy_loss", coef=coef, quantile=quantile, double_mask=double_mask,
                     restrict_to_mask=restrict_to_mask, mode=mode, empty_rows=empty_rows)
        arrays = {"entropy": entropy} if old_entropy is None else {"entropy": entropy, "old_entropy": old_entropy}
        a, valid = sequences("siren_entropy_loss", mask, **arrays)
        er = ("exclude" if empty_rows == "zero" else "zero") if bug == "empty_rows_swapped" else empty_rows
        if anchor is not None:
            anc = float(np.asarray(anchor))
        else:
            src = a["old_entropy"] if (old_entropy is not None and bug != "anchor_from_current") else a["entropy"]
            h0, k0 = _peak(src, valid, quantile, double_mask and bug == "anchor_double_masked", restrict_to_mask, "")
            anc = _agg_rows(h0, k0, mode, er)
        if bug == "unmasked":
            h, keep = a["entropy"], valid
        else:
            h, keep = _peak(a["entropy"], valid, quantile, double_mask, restrict_to_mask, "")
        h_sel = _agg_rows(h, keep, mode, er)
        loss = -coef * h_sel if bug == "entropy_bonus" else coef * (h_sel - anc) ** 2
        return np.asarray(loss), np.asarray(anc)
    return fn


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "peak_entropy_quantile_mask": (
        Mutant("inclusive_bound", "H ≥ bound instead of the code's strict H > bound", peak_mutant("inclusive")),
        Mutant("lower_interpolation", "quantile without interpolation (the lower order statistic)",
               peak_mutant("lower")),
        Mutant("padding_in_quantile", "the row quantile includes masked entropies (no NaN fill)",
               peak_mutant("nan_ignored")),
        Mutant("complement_quantile", "keeps above the (1 − q)-quantile (q read as the kept fraction)",
               peak_mutant("complement")),
    ),
    "siren_entropy_loss": (
        Mutant("unmasked_entropy", "aggregates every valid token's entropy (no peak mask)", siren_mutant("unmasked")),
        Mutant("empty_rows_swapped", "the other empty-row convention of seq-mean-token-mean",
               siren_mutant("empty_rows_swapped")),
        Mutant("anchor_from_current", "first step anchors at the current entropies although old ones are given",
               siren_mutant("anchor_from_current")),
        Mutant("plain_entropy_bonus", "−coef·H_sel (the naive bonus) instead of the anchored square",
               siren_mutant("entropy_bonus")),
    ),
}
