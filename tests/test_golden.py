"""The committed golden vectors (golden/<family>/<id>.json): schema, reproduction, determinism, mutants.

A failing reproduction test means the reference changed: the diff is the regression; golden data is
never regenerated to make it pass (unless the change is intended and reviewed).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from conformance.cases import curated_for
from conformance.checks import _sympy_gradient
from conformance.mutants import all_mutants
from conformance.strategies import Case
from conformance.vectors import (
    GOLDEN_DIR,
    allows,
    decode_array,
    decode_param,
    document,
    dumps,
    golden_files,
    verify,
)
from spec.registry import all_specs, get

FILES = golden_files(GOLDEN_DIR)
IDS = sorted(s.id for s in all_specs())


def _load(method_id: str) -> dict[str, Any]:
    spec = get(method_id)
    doc: dict[str, Any] = json.loads((GOLDEN_DIR / spec.family / f"{method_id}.json").read_text())
    return doc


def _strip_gradients(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "cases": [{k: v for k, v in c.items() if k != "gradients"} for c in doc["cases"]]}


def test_every_method_has_a_golden_file() -> None:
    have = {p.stem for p in FILES}
    assert have == set(IDS), f"missing: {sorted(set(IDS) - have)}, stale: {sorted(have - set(IDS))} " \
                             "(run python golden/regenerate.py)"
    for path in FILES:
        assert path.parent.name == get(path.stem).family, f"{path} is not in its family folder"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_schema(path: Path) -> None:
    schema = json.loads((GOLDEN_DIR / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(path.read_text())), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:10])


def test_schema_rejects_a_broken_file() -> None:
    schema = json.loads((GOLDEN_DIR / "schema.json").read_text())
    doc = json.loads(FILES[0].read_text())
    case = doc["cases"][0]
    case["outputs"][0]["compare"] = {"rule": "close", "atol": 1e-10}  # no rtol / scale
    case["params"] = {"x": {"type": "float", "value": "infinity"}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert len(errors) >= 2


@pytest.mark.parametrize("method_id", IDS)
def test_reference_reproduces_golden_outputs(method_id: str) -> None:
    """(a) The float64 reference reproduces every committed output under the file's own rule."""
    (result,) = verify(GOLDEN_DIR, backend="reference", method_ids=[method_id])
    assert result.passed, "the reference no longer reproduces the golden vectors:\n" + "\n".join(result.failures)
    assert result.cases == len(_load(method_id)["cases"])


@pytest.mark.parametrize("method_id", IDS)
def test_curated_expected_values_agree_with_golden(method_id: str) -> None:
    """(b) Every curated case with hand-derived ``expected`` values agrees with the committed outputs."""
    doc = _load(method_id)
    by_name = {c["name"]: c for c in doc["cases"]}
    for cur in curated_for(method_id):
        assert cur.name in by_name, f"curated case {cur.name!r} is not in the golden file (regenerate)"
        record = by_name[cur.name]
        assert record["origin"] == {"kind": "curated", "why": cur.why}
        if not cur.expected:
            continue
        outputs = {o["name"]: o for o in record["outputs"]}
        for name, value in cur.expected.items():
            out = outputs[name]
            stored = decode_array(out)
            want = np.asarray(value, dtype=stored.dtype)
            assert want.shape == stored.shape, f"{cur.name}/{name}: shape {want.shape} vs {stored.shape}"
            assert np.all(allows(out["compare"], want, stored)), f"{cur.name}/{name}: {want} vs golden {stored}"


def test_determinism_regenerates_identical_bytes() -> None:
    """(d) Regenerating gives the committed bytes (gradients left out here: SymPy is slow; the selection and
    every other byte are compared; ``test_sympy_gradients_reproduce`` (slow) covers the gradients)."""
    stale: list[str] = []
    diff: list[str] = []
    for method_id in IDS:
        committed = dumps(_strip_gradients(_load(method_id)))
        fresh = dumps(document(get(method_id), gradients=False))
        if fresh != committed:
            stale.append(method_id)
            diff = diff or list(difflib.unified_diff(committed.splitlines(), fresh.splitlines(), "committed",
                                                     "regenerated", lineterm="", n=2))[:40]
    assert not stale, (f"golden files differ from a regeneration: {stale} (a changed reference, strategy, curated "
                       "case or mutant set: review, then run python golden/regenerate.py). First diff:\n"
                       + "\n".join(diff))


@pytest.mark.slow
@pytest.mark.parametrize("method_id", [s.id for s in all_specs() if s.derivation is not None])
def test_sympy_gradients_reproduce(method_id: str) -> None:
    spec = get(method_id)
    for record in _load(method_id)["cases"]:
        g = record.get("gradients")
        if not g or "wrt" not in g:
            continue
        inputs = {k: None if v is None else decode_array(v) for k, v in record["inputs"].items()}
        params = {k: decode_param(v) for k, v in record["params"].items()}
        fresh = _sympy_gradient(spec, Case(inputs, params), decode_array(g["cotangent"]))
        for name, stored in g["wrt"].items():
            assert np.all(allows(g["compare"], fresh[name], decode_array(stored))), f"{record['name']} d/d{name}"


def _numpy_mutants() -> list[tuple[str, Any]]:
    return [(mid, m) for mid, ms in sorted(all_mutants().items()) for m in ms
            if m.backend == "numpy" and "float64" in m.dtypes]


MUTANTS = _numpy_mutants()


@pytest.mark.parametrize(("method_id", "mutant"), MUTANTS, ids=[f"{mid}-{m.name}" for mid, m in MUTANTS])
def test_every_mutant_fails_the_golden_vectors(method_id: str, mutant: Any) -> None:
    """(e) A port with a planted bug (every NumPy float64 mutant) fails ``vectors verify`` on its method's file."""
    (result,) = verify(GOLDEN_DIR, lambda _spec: mutant.fn, backend="numpy", method_ids=[method_id])
    assert not result.passed, f"mutant {method_id}/{mutant.name} ({mutant.description}) passes the golden vectors: " \
                              "the golden cases cannot tell it from the reference"


def test_a_classic_top_p_bug_fails_the_golden_vectors() -> None:
    """The issue's example, independent of the mutant catalogue: top-p that drops the crossing token."""

    def top_p_drop_crossing(logits: Any, p: float, *, min_tokens_to_keep: int = 1) -> Any:
        z = np.asarray(logits, dtype=np.float64)
        if p == 1.0:
            return z.copy()
        out = np.full_like(z, -np.inf)
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            order = np.argsort(-r, kind="stable")
            e = np.exp(r[order] - np.max(r))
            n = max(int(np.sum(np.cumsum(e / e.sum()) <= p)), min_tokens_to_keep)  # bug: crossing token dropped
            out[idx][order[:n]] = r[order[:n]]
        return out

    (result,) = verify(GOLDEN_DIR, lambda _spec: top_p_drop_crossing, backend="numpy", method_ids=["top_p_filter"])
    assert not result.passed


def test_verify_accepts_ours_and_reports_a_tampered_file(tmp_path: Path) -> None:
    src = GOLDEN_DIR / "categorical" / "entropy.json"
    assert all(r.passed for r in verify(GOLDEN_DIR, backend="numpy", method_ids=["entropy"]))
    torch_results = verify(GOLDEN_DIR, backend="torch-cpu", method_ids=["entropy"])
    assert torch_results[0].passed and torch_results[0].gradients_checked > 0, torch_results[0].failures
    doc = json.loads(src.read_text())
    out = doc["cases"][0]["outputs"][0]
    out["data"] = (decode_array(out) + 10 * out["compare"]["atol"] * out["compare"]["scale"]
                   + 10 * out["compare"]["rtol"] * np.abs(decode_array(out))).tolist()
    (tmp_path / "entropy.json").write_text(json.dumps(doc))
    (result,) = verify(tmp_path, backend="reference")
    assert not result.passed and doc["cases"][0]["name"] in result.failures[0]
