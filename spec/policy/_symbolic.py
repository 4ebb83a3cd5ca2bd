"""SymPy builders shared by the ``policy`` derivations.

Imported only inside the derivation builder functions of the group modules, so that importing
``spec``, ``reference`` or ``accelerated`` never imports SymPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

from spec.model import SymbolicProblem
from spec.policy._common import valid_mask

__all__ = ["kl_token_expr", "ppo_token_expr", "problem", "sym_aggregate"]


def sym_aggregate(tok: np.ndarray[Any, Any], mask: Any, mode: str, max_length: int | None = None) -> Any:
    """Aggregate an object array of per-token SymPy expressions (masked tokens dropped)."""
    valid = valid_mask(mask)
    if mode == "none":
        out = np.empty(tok.shape, dtype=object)
        for idx in np.ndindex(tok.shape):
            out[idx] = tok[idx] if valid[idx] else sp.Integer(0)
        return out
    shape = tok.shape
    t = shape[-1] if shape else 1
    rows_e = tok.reshape(-1, t) if tok.size else np.empty((int(np.prod(shape[:-1])), t), dtype=object)
    rows_m = valid.reshape(rows_e.shape)
    row_sums = [sum((e for e, m in zip(re, rm, strict=True) if m), sp.Integer(0))
                for re, rm in zip(rows_e, rows_m, strict=True)]
    total = sum(row_sums, sp.Integer(0))
    n_rows = rows_e.shape[0]
    if mode == "token-mean":
        n = int(rows_m.sum())
        return total / n if n else sp.Integer(0)
    if mode == "seq-mean-token-sum":
        return total / n_rows if n_rows else sp.Integer(0)
    if mode == "seq-mean-token-mean":
        means = [s / int(rm.sum()) for s, rm in zip(row_sums, rows_m, strict=True) if rm.sum() > 0]
        return sum(means, sp.Integer(0)) / len(means) if means else sp.Integer(0)
    length = t if max_length is None else max_length
    return total / (n_rows * length) if n_rows * length else sp.Integer(0)


def problem(symbols: dict[str, Any], out: Any, values: dict[Any, float]) -> SymbolicProblem:
    if isinstance(out, np.ndarray):
        return SymbolicProblem(symbols, out, values)
    return SymbolicProblem(symbols, np.array(out, dtype=object), values)


def ppo_token_expr(lp: Any, old: float, adv: float, clip_low: float, clip_high: float,
                    dual_clip: float | None) -> Any:
    ratio = sp.exp(lp - sp.Float(old))
    a = sp.Float(adv)
    pg1 = -a * ratio
    pg2 = -a * sp.Min(sp.Max(ratio, sp.Float(1.0 - clip_low)), sp.Float(1.0 + clip_high))
    expr = sp.Max(pg1, pg2)
    if dual_clip is not None and adv < 0:
        expr = sp.Min(expr, -a * sp.Float(dual_clip))
    return expr


def kl_token_expr(lp: Any, ref: Any, kind: str, d_value: float) -> Any:
    d = lp - ref
    if kind == "k1":
        return d
    if kind == "abs":
        return sp.Abs(d)
    if kind == "k2":
        return d**2 / 2
    # k3 with verl's clamps: k = clamp(−d, −20, 20), clamp(exp(k) − k − 1, −10, 10). The outer clamp is the
    # only active one for finite d (exp(k) − k − 1 ≥ 0 and exceeds 10 before |d| reaches 20).
    value = math.expm1(-d_value) + d_value if abs(d_value) < 700 else math.inf
    if value >= 10.0:
        return sp.Integer(10)
    return sp.exp(-d) + d - 1
