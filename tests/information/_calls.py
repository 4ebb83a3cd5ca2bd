"""Calls of every ``information`` method on small good inputs, shared by the family-wide tests (errors,
compile, dtypes). Add one entry per method: ``id -> (inputs, kwargs)`` with NumPy float64 inputs by name."""

from __future__ import annotations

from typing import Any

import numpy as np


def good_inputs() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 4))
    k = np.exp(-np.sum((x[:, None] - x[None]) ** 2, axis=-1) / 4.0)
    w = rng.dirichlet(np.ones(7))
    return {
        "vendi_score": ({"X": x, "p": w}, {"q": 2.0}),
        "vendi_score:precomputed": ({"X": k}, {"kernel": "precomputed", "q": 0.5}),
        "latent_von_neumann_entropy": ({"X": x}, {}),
        "latent_von_neumann_entropy:wide": ({"X": x[:3]}, {"center": False, "eps": 1e-4}),
        "matrix_entropy": ({"X": x}, {}),
        "rankme": ({"X": x}, {}),
        "eigenspectrum": ({"X": x}, {"max_eigenvals": 3}),
        "alpha_req": ({"X": x}, {"fit_start": 0}),
        "rankme:singular": ({"X": x}, {"spectrum": "singular", "max_eigenvals": 3}),
    }
