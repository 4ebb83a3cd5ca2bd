"""pytest plugin (registered through the ``pytest11`` entry point): conformance in your own tests.

Use the ``entropy_atlas`` fixture::

    def test_my_entropy_conforms(entropy_atlas):
        entropy_atlas.assert_conforms(my_package.entropy, "entropy")              # NumPy inputs
        entropy_atlas.assert_conforms(my_torch_ce, "cross_entropy", backend="torch-cpu", dtype="float32")

or call :func:`conformance.assert_conforms` directly. Options: ``--entropy-atlas-profile`` picks the
Hypothesis profile (``ci`` derandomised by default, ``dev``, ``deep``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from conformance.api import assert_conforms
from conformance.runner import PROFILES, Result

__all__ = ["EntropyAtlasFixture", "entropy_atlas"]


class EntropyAtlasFixture:
    """What the ``entropy_atlas`` fixture returns."""

    def __init__(self, profile: str) -> None:
        self.profile = profile

    def assert_conforms(self, fn: Callable[..., Any], method_id: str, *, backend: str = "numpy",
                        dtype: str = "float64", levels: Iterable[str] = ("values", "properties"),
                        max_examples: int | None = None) -> list[Result]:
        return assert_conforms(fn, method_id, backend=backend, dtype=dtype, levels=levels,
                               profile=self.profile, max_examples=max_examples)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("entropy-atlas")
    group.addoption("--entropy-atlas-profile", default="ci", choices=list(PROFILES),
                    help="Hypothesis profile of entropy-atlas conformance checks (default: ci)")


@pytest.fixture
def entropy_atlas(request: pytest.FixtureRequest) -> EntropyAtlasFixture:
    """Assert that your implementation conforms to an entropy-atlas method spec."""
    return EntropyAtlasFixture(str(request.config.getoption("--entropy-atlas-profile")))
