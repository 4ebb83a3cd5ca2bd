"""Test configuration: Hypothesis profiles (CI is derandomised, so every run checks the same cases)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=30, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("deep", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Shared test helpers that are not test modules (e.g. tests/policy/policy_peers.py: verl's formulas re-typed)
# are imported by name; test folders are not packages (--import-mode=importlib), so their folders go on the path.
for _folder in ("policy",):
    _path = str(Path(__file__).resolve().parent / _folder)
    if _path not in sys.path:
        sys.path.insert(0, _path)
