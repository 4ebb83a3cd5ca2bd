"""Tests of the ``classification`` family, group ``losses``.

TODO(entropy-atlas new): say what the group holds and the conventions its methods share.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- linear_cross_entropy


def test_linear_cross_entropy_todo() -> None:
    raise AssertionError(
        "TODO(entropy-atlas new): linear_cross_entropy has no tests yet: values derived by hand or by an independent "
        "computation (never our reference), bad input, stability, peer parity"
    )
