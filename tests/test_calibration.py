"""Budgets that mean something: the committed calibration (``entropy-atlas calibrate --write``) shows
every budget holding on a long derandomised run, and no budget wider than its dtype's floor sitting
more than ~10x above the worst error measured."""

from __future__ import annotations

import spec
from conformance.calibrate import load, loose_or_failing


def test_every_budget_is_calibrated_and_tight() -> None:
    table = load()
    assert table, "conformance/calibration.json is missing: run `entropy-atlas calibrate --write`"
    problems = loose_or_failing(table)
    assert not problems, "\n".join(problems)


def test_calibration_matches_the_current_budgets() -> None:
    table = load()
    stale = []
    for s in spec.all_specs():
        rows = table.get(s.id)
        if rows is None:
            stale.append(f"{s.id}: not calibrated")
            continue
        for backend, dtypes in rows.items():
            for dtype, row in dtypes.items():
                b = s.tolerance[dtype]
                if (row["budget"]["atol"], row["budget"]["rtol"]) != (b.atol, b.rtol):
                    stale.append(f"{s.id} {backend}/{dtype}: calibrated at {row['budget']}, budget now {b}")
    assert not stale, "re-run `entropy-atlas calibrate --write`:\n" + "\n".join(stale)
