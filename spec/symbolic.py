"""SymPy helpers shared by the derivations of every family."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

__all__ = ["bind", "symbols_like"]


def symbols_like(name: str, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An object array of real SymPy symbols ``name_i`` with the shape of ``values``."""
    flat = [sp.Symbol(f"{name}_{i}", real=True) for i in range(values.size)]
    return np.array(flat, dtype=object).reshape(values.shape)


def bind(symbols: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> dict[Any, float]:
    return {s: float(v) for s, v in zip(symbols.ravel(), np.asarray(values, dtype=np.float64).ravel(), strict=True)}
