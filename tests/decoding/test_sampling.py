"""Golden values for temperature scaling and sampling, from hand computation and closed forms.

Inputs are chosen so the expected kept sets follow from arithmetic done here (equal logits give
exact probabilities 1/V; logits ``log p`` give the probabilities ``p``), never from our own code.
"""

from __future__ import annotations

import numpy as np

from reference import decoding as R

NEG = -np.inf


def kept(y: np.ndarray) -> np.ndarray:
    return np.asarray(np.isfinite(y))


# --------------------------------------------------------------------------- temperature


def test_temperature_divides() -> None:
    z = np.array([[1.0, -2.0, NEG], [0.5, 4.0, 3.0]])
    np.testing.assert_array_equal(R.temperature_scale(z, 2.0), z / 2.0)
    np.testing.assert_array_equal(R.temperature_scale(z, 1.0), z)


# --------------------------------------------------------------------------- sample


def test_sample_uniform_row() -> None:
    u = np.arange(16) / 16.0
    np.testing.assert_array_equal(R.sample(np.zeros((16, 8)), u), np.arange(16) // 2)


def test_sample_skips_neg_inf() -> None:
    z = np.array([[NEG, 0.0, NEG, 0.0, 0.0, NEG]] * 5)
    u = np.array([0.0, 0.3, 0.34, 0.9, 1.0 - 2.0**-53])
    np.testing.assert_array_equal(R.sample(z, u), [1, 1, 3, 4, 4])


def test_sample_shapes() -> None:
    z = np.zeros((2, 3, 4))
    u = np.full((2, 3), 0.6)
    out = R.sample(z, u)
    assert out.shape == (2, 3) and out.dtype == np.int64
    assert np.all(out == 2)
    assert R.sample(np.zeros((0, 4)), np.zeros((0,))).shape == (0,)
    assert int(R.sample(np.array([0.0, 1.0]), np.array(0.5))) == 1  # softmax([0, 1])[0] = 0.269 < 0.5
