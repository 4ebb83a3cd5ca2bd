"""Sensitivity: every mutant of every method is killed by the ``ci`` profile (a survivor fails here,
named). See ``conformance/mutants`` and ``entropy-atlas mutate``."""

from __future__ import annotations

import pytest

import spec
from conformance.mutants import Mutant, all_mutants
from conformance.mutate import run_mutant

CASES = [(method, m) for method, ms in sorted(all_mutants().items()) for m in ms]


@pytest.mark.parametrize(("method", "mutant"), CASES, ids=[f"{m}/{mu.name}" for m, mu in CASES])
def test_mutant_is_killed(method: str, mutant: Mutant) -> None:
    result = run_mutant(method, mutant)
    assert result.killed, f"mutant {method}/{mutant.name} SURVIVED the ci profile: {mutant.description}"


def test_every_method_ships_at_least_two_mutants() -> None:
    table = all_mutants()
    few = {s.id: len(table.get(s.id, ())) for s in spec.all_specs() if len(table.get(s.id, ())) < 2}
    assert not few, f"methods with fewer than two mutants: {few}"


def test_mutant_names_are_unique_per_method() -> None:
    for method, ms in all_mutants().items():
        names = [m.name for m in ms]
        assert len(names) == len(set(names)), f"{method}: duplicate mutant names {names}"
