"""Natural output scales shared by many methods (see :class:`spec.model.Scale`).

A tolerance's absolute part is a multiple of the output's own scale, never of the largest input:
an entropy is compared on the scale ``log V``, a probability on 1, a filtered logit on the size of
the logits it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.model import UNIT_SCALE, Scale

__all__ = ["UNIT_SCALE", "finite_magnitude", "log_size", "magnitude_over"]


def _finite_max_abs(x: Any) -> float:
    if x is None:
        return 0.0
    a = np.asarray(x, dtype=np.float64)
    finite = a[np.isfinite(a)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def log_size(name: str, *, base: str | None = None, floor: float = 1.0) -> Scale:
    """``max(floor, log(V) / log(base))`` with ``V`` the last-axis size of input ``name``.

    ``base`` names the log-base parameter (``None`` value: natural log). Used by entropies and
    divergences of categorical distributions, whose values are of order ``log V`` in their unit.
    """

    def of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
        v = int(np.shape(inputs[name])[-1]) if np.ndim(inputs[name]) else 1
        value = math.log(max(v, 2))
        b = params.get(base) if base is not None else None
        if b is not None and b != math.e:
            value /= abs(math.log(float(b)))
        return max(floor, value)

    unit = f" / |log {base}|" if base else ""
    return Scale(f"max({floor:g}, log V{unit}), V = the size of {name!r}'s last axis", of)


def finite_magnitude(*names: str, floor: float = 1.0) -> Scale:
    """``max(floor, max |finite entries|)`` of the named inputs (filters return entries of their input)."""

    def of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
        return max(floor, *(_finite_max_abs(inputs.get(n)) for n in names))

    return Scale(f"max({floor:g}, largest finite |{'|, |'.join(names)}|)", of)


def magnitude_over(name: str, param: str, *, floor: float = 1.0) -> Scale:
    """``max(floor, max |finite x| / param)`` (e.g. temperature scaling ``z / T``)."""

    def of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
        return max(floor, _finite_max_abs(inputs.get(name)) / float(params[param]))

    return Scale(f"max({floor:g}, largest finite |{name}| / {param})", of)
