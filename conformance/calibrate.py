"""Budgets from measurement: ``entropy-atlas calibrate``.

Runs the values level of every selected method × backend × dtype on many fixed, distinct examples
(the ``calibrate`` profile: 300 per job, derandomised, curated cases included) and records the worst
error as a fraction of the method's current budget. The committed ``conformance/calibration.json``
is what the test suite holds the budgets to: every measured ratio is <= 1 (the budget holds on a run
12x longer than ``ci``), and a budget wider than its dtype's floor sits at most ~10x above the worst
error measured (ratio >= 0.1) — a loose budget is as much a defect as a failing one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.runner import PROFILES, iter_results, jobs_for
from spec.model import default_tolerance
from spec.registry import get

__all__ = ["CALIBRATION", "calibrate", "load", "loose_or_failing"]

CALIBRATION = Path(__file__).resolve().parent / "calibration.json"
PROFILES.setdefault("calibrate", {"values": 300, "properties": 1, "gradients": 1, "errors": 1, "fixed": True})


def calibrate(method_ids: Iterable[str] | None = None, *, backends: Iterable[str] | None = None,
              examples: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Measure worst error / budget per method × backend × dtype (values level)."""
    jobs = jobs_for(method_ids, backends, levels=["values"])
    table: dict[str, Any] = {}
    for r in iter_results(jobs, profile="calibrate", max_examples=examples, progress=progress):
        budget = get(r.method).tolerance[r.dtype]
        table.setdefault(r.method, {}).setdefault(r.backend, {})[r.dtype] = {
            "worst_over_budget": float(f"{r.max_error:.3g}"),
            "examples": r.examples,
            "status": r.status,
            "budget": {"atol": budget.atol, "rtol": budget.rtol},
            **({"message": r.message[:300]} if r.status == "fail" else {}),
        }
    return table


def load(path: Path = CALIBRATION) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return data


def write(table: dict[str, Any], path: Path = CALIBRATION) -> None:
    merged = load(path)
    merged.update(table)
    path.write_text(json.dumps(dict(sorted(merged.items())), indent=1, sort_keys=True) + "\n")


def loose_or_failing(table: dict[str, Any]) -> list[str]:
    """Rows whose budget failed (ratio > 1 or a failed job) or is loose (> 10x the worst error while
    wider than the dtype's floor, :func:`spec.model.default_tolerance`)."""
    floors = default_tolerance()
    problems: list[str] = []
    for method, backends in table.items():
        for backend, dtypes in backends.items():
            for dtype, row in dtypes.items():
                ratio = float(row["worst_over_budget"])
                budget = row["budget"]
                floor = floors[dtype]
                at_floor = budget["atol"] <= floor.atol and budget["rtol"] <= floor.rtol
                if row["status"] != "pass" or ratio > 1.0:
                    problems.append(f"{method} {backend}/{dtype}: worst/budget {ratio:.3g} ({row['status']})")
                elif ratio < 0.1 and not at_floor:
                    problems.append(f"{method} {backend}/{dtype}: budget {budget} is {1 / max(ratio, 1e-300):.3g}x the "
                                    "worst error: tighten it")
    return problems
