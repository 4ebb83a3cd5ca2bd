"""``entropy-atlas new``: scaffolds into a copy of the repository, refuses taken or unknown ids, and what it
writes imports, lints, and fails the layout meta-test until the method is really written."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import spec

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CATALOG = SHARED / "catalog" / "methods.csv"
MARK = "TODO(entropy-atlas new)"

pytestmark = pytest.mark.skipif(not CATALOG.is_file(), reason=f"no catalogue at {CATALOG}")


def _unregistered() -> list[dict[str, str]]:
    taken = {s.id for s in spec.all_specs()} | {a for s in spec.all_specs() for a in s.aliases}
    with CATALOG.open(newline="") as fh:
        return sorted((r for r in csv.DictReader(fh) if r["id"] not in taken), key=lambda r: (r["family"], r["id"]))


def _copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")
    for name in ("spec", "reference", "accelerated", "conformance", "tests"):
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    (tmp_path / "shared").symlink_to(SHARED)  # ../shared beside the copy: the default catalogue path
    return repo


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    """A copy where ``new`` ran for: two ids of one kind of a family that does not exist yet (creating the
    family, then appending to the group) and one id of an existing family (a new group)."""
    rows = _unregistered()
    existing = set(spec.FAMILIES)
    fresh = [r for r in rows if r["family"] not in existing]
    fresh_family = fresh[0]["family"]
    same_kind = [r for r in fresh if r["family"] == fresh_family and r["kind"] == fresh[0]["kind"]][:2]
    old = next(r for r in rows if r["family"] in existing)
    chosen = {r["id"]: r for r in [*same_kind, old]}
    assert len(chosen) == 3
    repo = _copy(tmp_path_factory.mktemp("scaffold"))
    for method_id in chosen:
        done = _run(repo, "-m", "conformance.cli", "new", method_id)
        assert done.returncode == 0, done.stderr + done.stdout
    return repo, chosen


def _group_of(repo: Path, family: str, method_id: str) -> str:
    hits = [p.stem for p in (repo / "spec" / family).glob("*.py") if f'id="{method_id}"' in p.read_text()]
    assert len(hits) == 1, f"{method_id}: spec stub in {hits}"
    return hits[0]


def test_new_writes_every_layer_in_one_group(scaffolded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    repo, chosen = scaffolded
    for method_id, row in chosen.items():
        fam = row["family"]
        group = _group_of(repo, fam, method_id)
        for path in (f"reference/{fam}/{group}.py", f"accelerated/{fam}/{group}.py",
                     f"conformance/cases/{fam}/{group}.py", f"conformance/mutants/{fam}/{group}.py",
                     f"tests/{fam}/test_{group}.py"):
            text = (repo / path).read_text()
            assert method_id in text and MARK in text, f"{path}: no {method_id} stub marked {MARK}"
        assert not (repo / "tests" / fam / "__init__.py").exists()
        assert not (repo / "golden" / fam / f"{method_id}.json").exists(), "new must not invent golden data"
    fam = next(iter(chosen.values()))["family"]
    for layer in ("spec", "reference", "accelerated"):
        init = (repo / layer / fam / "__init__.py").read_text()
        assert init == (ROOT / layer / "decoding" / "__init__.py").read_text().replace("decoding", fam)
    first, second = list(chosen)[:2]
    assert _group_of(repo, fam, first) == _group_of(repo, fam, second), "one kind of one family: one group"


def test_scaffolded_method_imports_in_the_copy(scaffolded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    repo, chosen = scaffolded
    for method_id, row in chosen.items():
        fam = row["family"]
        code = (
            "import spec, reference, accelerated\n"
            "from conformance.cases import override_for\n"
            "from conformance.mutants import mutants_for\n"
            f"s = spec.get({method_id!r})\n"
            f"assert s.family == {fam!r} and s.kind == {row['kind']!r}, s\n"
            f"assert s.provenance.confidence == {row['confidence']!r} and s.provenance.checked_against == ''\n"
            f"assert {method_id!r} in reference.{fam}.__all__ and {method_id!r} in accelerated.{fam}.__all__\n"
            f"assert override_for({method_id!r}) is not None and len(mutants_for({method_id!r})) == 2\n"
            f"for fn in (reference.{fam}.{method_id}, accelerated.{fam}.{method_id}):\n"
            "    try:\n"
            "        fn([[0.0, 1.0]])\n"
            "    except NotImplementedError:\n"
            "        pass\n"
            "    else:\n"
            "        raise AssertionError('a stub must raise NotImplementedError')\n"
        )
        done = _run(repo, "-c", code)
        assert done.returncode == 0, done.stderr


def test_scaffolded_code_passes_ruff(scaffolded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    pytest.importorskip("ruff")
    repo, chosen = scaffolded
    paths = sorted({str(p.relative_to(repo)) for method_id, row in chosen.items()
                    for p in repo.glob(f"**/{row['family']}/*.py") if method_id in p.read_text()})
    assert paths
    done = _run(repo, "-m", "ruff", "check", "--no-cache", *paths)
    assert done.returncode == 0, done.stdout + done.stderr


def test_scaffolded_method_fails_the_layout_meta_test(scaffolded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """``new`` cannot be used to fake coverage: the stub fails the layout meta-test until its work is done."""
    repo, chosen = scaffolded
    method_id = next(iter(chosen))
    done = _run(repo, "-m", "pytest", "-q", "tests/test_layout.py", "-k",
                f"{method_id} and (case_strategy or mutants or golden or scaffolding)")
    assert done.returncode == 1, done.stdout + done.stderr
    for test in ("test_case_strategy_draws_a_case_the_reference_accepts", "test_at_least_two_mutants",
                 "test_committed_golden_file", "test_no_scaffolding_left"):
        assert f"FAILED tests/test_layout.py::{test}[{method_id}]" in done.stdout, done.stdout


def test_existing_unknown_and_alias_ids_are_refused(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    registered = next(iter(spec.all_specs()))
    alias = next((a for s in spec.all_specs() for a in s.aliases), None)
    before = sorted(str(p) for p in repo.rglob("*.py"))
    refusals = [(registered.id, ("already registered",)), ("no_such_method_id", ("not in the catalogue",))]
    if alias:  # an id merged into another spec: either not a catalogue row or covered by that spec
        refusals.append((alias, ("not in the catalogue", "already covered")))
    for method_id, messages in refusals:
        done = _run(repo, "-m", "conformance.cli", "new", method_id)
        assert done.returncode == 2 and any(m in done.stderr for m in messages), (method_id, done.stderr)
    row = _unregistered()[0]
    done = _run(repo, "-m", "conformance.cli", "new", row["id"], "--dry-run")
    assert done.returncode == 0 and "dry run" in done.stdout, done.stderr
    assert sorted(str(p) for p in repo.rglob("*.py")) == before, "a refusal or a dry run must write nothing"
