"""Mutants of ``temperature_scale`` and ``sample``: small NumPy implementations with one plausible bug."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params, check_vocab_axis

__all__ = ["MUTANTS"]


def _temperature(*, multiply: bool = False, normalise: bool = False) -> Callable[..., Any]:
    def temperature_scale(logits: Any, temperature: float) -> Any:
        check_params("temperature_scale", temperature=temperature)
        z = np.asarray(logits)
        check_vocab_axis("temperature_scale", "logits", z)
        check_finite("temperature_scale", "logits", z, np, allow_neg_inf=True)
        if multiply:
            return z * temperature
        if normalise:  # "stabilises" by subtracting the max first: a shift the spec does not allow
            return (z - np.max(z, axis=-1, keepdims=True)) / temperature
        return z / temperature

    return temperature_scale


def _sample(*, side: str = "right", clamp: bool = True, skip_neg_inf: bool = True) -> Callable[..., Any]:
    def sample(logits: Any, uniforms: Any) -> Any:
        z = np.asarray(logits, dtype=np.float64)
        check_vocab_axis("sample", "logits", z)
        check_finite("sample", "logits", z, np, allow_neg_inf=True)
        u = np.asarray(uniforms)
        if u.shape != z.shape[:-1]:
            raise ShapeError("sample", "uniforms", f"shape {z.shape[:-1]}", f"shape {u.shape}")
        check_finite("sample", "uniforms", u, np)
        if np.any((u < 0) | (u >= 1)):
            raise DomainError("sample", "uniforms", "values in [0, 1)", "a value outside [0, 1)")
        out = np.zeros(z.shape[:-1], dtype=np.int64)
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            e = np.exp(r - r.max())
            cum = np.cumsum(e / e.sum())
            t = int(np.searchsorted(cum, float(u[idx]), side=side))  # type: ignore[call-overload]
            finite = np.flatnonzero(np.isfinite(r))
            if skip_neg_inf:
                if float(u[idx]) == 0.0:
                    t = int(finite[0])
                if clamp:
                    t = min(t, int(finite[-1]))
            elif clamp:
                t = min(t, r.size - 1)
            out[idx] = t
        return out

    return sample


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "temperature_scale": (
        Mutant("multiplies", "z * T instead of z / T", _temperature(multiply=True)),
        Mutant("subtracts_max", "(z - max z) / T: a shift that changes the returned logits",
               _temperature(normalise=True)),
    ),
    "sample": (
        Mutant("no_clamp_at_one", "searchsorted without a clamp: u at or above the last cumulative sum returns V",
               _sample(clamp=False)),
        Mutant("searchsorted_left", "searchsorted side='left': u equal to a cumulative sum picks the earlier token",
               _sample(side="left")),
        Mutant("ignores_neg_inf", "clamps to V - 1 and lets u = 0 pick index 0 even when those logits are -inf",
               _sample(skip_neg_inf=False)),
    ),
}
