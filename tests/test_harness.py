"""Meta-tests of the conformance harness: its strategies, comparisons, failure detection and CLI.

A harness that cannot fail proves nothing, so most tests here feed it a deliberately wrong
implementation and assert that it is caught, with a reproduction that runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spec
from conformance import assert_conforms
from conformance.backends import get_backend
from conformance.checks import check_values, invoke
from conformance.cli import main
from conformance.runner import jobs_for, run_job
from conformance.strategies import Case, logits, mask, probs, representable, uniforms

# --------------------------------------------------------------------------- strategies


@given(st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=1, max_size=50))
def test_bfloat16_rounding_matches_torch(values: list[float]) -> None:
    x = np.array(values)
    expected = torch.tensor(x, dtype=torch.float32).to(torch.bfloat16).to(torch.float64).numpy()
    np.testing.assert_array_equal(representable(x, "bfloat16"), expected)


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
@given(data=st.data())
def test_probs_are_on_the_simplex_in_their_dtype(dtype: str, data: st.DataObject) -> None:
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 9)))
    p = data.draw(probs(shape, dtype))
    assert np.all(p >= 0)
    np.testing.assert_array_equal(representable(p, dtype), p)  # exact in the dtype
    if dtype != "float64":
        t = torch.tensor(p, dtype=getattr(torch, dtype))
        assert torch.all(t.sum(-1, dtype=torch.float32) == 1.0)  # dyadic: the sum is exact too
    else:
        np.testing.assert_allclose(p.sum(-1), 1.0, rtol=0, atol=1e-12)


@given(data=st.data())
def test_logits_never_have_an_all_neg_inf_row(data: st.DataObject) -> None:
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 8)))
    z = data.draw(logits(shape, "bfloat16"))
    assert not np.any(np.isnan(z)) and not np.any(z == np.inf)
    assert np.all(np.any(np.isfinite(z), axis=-1))
    np.testing.assert_array_equal(representable(z, "bfloat16"), z)


@given(data=st.data())
def test_uniforms_and_masks(data: st.DataObject) -> None:
    u = data.draw(uniforms((5,), "bfloat16"))
    assert np.all((u >= 0) & (u < 1))
    m = data.draw(mask((3, 4)))
    assert m.dtype == bool and m.shape == (3, 4)


def test_every_spec_input_kind_and_domain_is_drawable() -> None:
    for s in spec.all_specs():
        for p in s.params:
            assert p.required or p.contains(p.default), f"{s.id}.{p.name}: default {p.default!r} outside its domain"


# --------------------------------------------------------------------------- failure detection


def _wrong_entropy(probs: Any, *, axis: int = -1, base: float | None = None) -> Any:
    """Bits instead of nats: wrong by a factor 1/log 2."""
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


def _unvalidated_entropy(probs: Any, *, axis: int = -1, base: float | None = None) -> Any:
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)
    return h if base is None else h / np.log(base)


def test_wrong_values_are_caught_with_a_reproduction() -> None:
    with pytest.raises(AssertionError) as info:
        assert_conforms(_wrong_entropy, "entropy", levels=("values",))
    text = str(info.value)
    assert "differs from the reference" in text
    assert "--- reproduction ---" in text and "replay('entropy'" in text


def test_missing_validation_is_caught() -> None:
    with pytest.raises(AssertionError, match=r"raised nothing, expected (DomainError|ParameterError|InputError)"):
        assert_conforms(_unvalidated_entropy, "entropy", levels=("errors",))


def test_correct_third_party_implementation_passes() -> None:
    from reference.categorical import entropy

    results = assert_conforms(entropy, "entropy", levels=("values", "properties", "errors"))
    assert all(r.status == "pass" and r.examples > 0 for r in results)


def test_values_check_rejects_nan_and_wrong_dtype() -> None:
    s = spec.get("entropy")
    case = Case({"probs": np.array([[0.5, 0.5], [1.0, 0.0]])}, {"base": None})
    backend = get_backend("torch-cpu")
    from conformance.checks import ConformanceFailure, Target

    def returns_nan(probs: Any, **_: Any) -> Any:
        return torch.full(probs.shape[:-1], float("nan"), dtype=probs.dtype)

    def returns_float64(probs: Any, **kw: Any) -> Any:
        from accelerated.categorical import entropy

        return entropy(probs, **kw).to(torch.float64)

    with pytest.raises(ConformanceFailure, match="NaN"):
        check_values(Target(s, returns_nan, backend, "float32"), case)
    with pytest.raises(ConformanceFailure, match="dtype"):
        check_values(Target(s, returns_float64, backend, "float32"), case)


def test_invoke_uses_the_spec_calling_convention() -> None:
    s = spec.get("entropy")
    seen: dict[str, Any] = {}

    def fake(probs: Any, *, axis: int = -1, base: float | None = None) -> Any:
        seen.update(probs=probs, base=base)
        return 0.0

    invoke(fake, s, {"probs": "P"}, {"base": 2.0})
    assert seen == {"probs": "P", "base": 2.0}


# --------------------------------------------------------------------------- CLI, vectors, plugin


def _run_cli(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = main(args)
    return rc, out.getvalue()


def test_cli_list_json() -> None:
    rc, text = _run_cli(["list", "--json"])
    assert rc == 0
    entries = json.loads(text)
    ids = {e["id"] for e in entries}
    assert "entropy" in ids
    for e in entries:
        assert {"id", "family", "kind", "backends", "provenance"} <= set(e)
        assert "reference" in e["backends"]


def test_cli_conform_and_failure_exit_code(tmp_path: Path) -> None:
    rc, text = _run_cli(["conform", "--method", "entropy", "--backend", "numpy", "--dtype", "float32",
                         "--no-progress", "--json", str(tmp_path / "r.json")])
    assert rc == 0, text
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["summary"][0]["method"] == "entropy"
    impl = tmp_path / "impl.py"
    impl.write_text(textwrap.dedent("""
        import numpy as np
        def entropy(probs, *, axis=-1, base=None):
            p = np.asarray(probs, dtype=np.float64)
            return -np.sum(p * np.log2(np.where(p > 0, p, 1.0)), axis=axis)
    """))
    rc, text = _run_cli(["check", "--impl", f"{impl}:entropy", "--method", "entropy", "--level", "values"])
    assert rc == 1 and "FAIL" in text


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(spec.UnknownMethodError, match="did you mean entropy"):
        spec.get("entropi")


def test_pytest_fixture(entropy_atlas: Any) -> None:
    from accelerated.categorical import entropy

    results = entropy_atlas.assert_conforms(entropy, "entropy", backend="torch-cpu", dtype="float32")
    assert results and all(r.status == "pass" for r in results)


def test_jobs_cover_every_registered_method() -> None:
    covered = {j.spec.id for j in jobs_for()}
    assert covered == {s.id for s in spec.all_specs()}


def test_run_job_reports_examples_and_error_ratio() -> None:
    (job,) = [j for j in jobs_for(["entropy"], ["torch-cpu"], ["float32"], ["values"])]
    result = run_job(job)
    assert result.status == "pass" and result.examples > 0 and 0 <= result.max_error <= 1


# --------------------------------------------------------------------------- reaching the method


def test_a_job_that_never_reaches_a_branch_or_property_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters: cases that never cut mid-distribution (p = 1 keeps everything) must fail the job, even
    though every comparison on them passes."""
    import conformance.runner as runner

    trivial = [Case({"logits": np.array([[1.0, 2.0, 3.0]])}, {"p": 1.0}),
               Case({"logits": np.array([[0.5, -1.0]])}, {"p": 1.0})]
    monkeypatch.setattr(runner, "job_cases", lambda job, profile="ci", max_examples=None: list(trivial))
    for level in ("values", "properties"):
        (job,) = jobs_for(["top_p_filter"], ["numpy"], ["float64"], [level])
        result = run_job(job)
        assert result.status == "fail" and "never exercised" in result.message, result.message
        assert ("branch:" if level == "values" else "property:") in result.message


def test_registered_mutants_are_caught_at_the_level_their_bug_lives() -> None:
    """The harness meta-tests use the shipped mutants: a values bug (log base), a properties-only bug
    (top-p's non-strict cut on exact masses) and a gradients-only bug (a missing stop-gradient)."""
    from conformance.mutants import mutants_for
    from conformance.mutate import run_mutant

    wanted = {("entropy", "log2_default"): "values", ("top_p_filter", "non_strict_cut"): "properties",
              ("ppo_clip_loss", "old_log_prob_not_detached"): "gradients"}
    for (method, name), level in wanted.items():
        (mutant,) = [m for m in mutants_for(method) if m.name == name]
        result = run_mutant(method, mutant)
        assert result.killed and result.level == level, (method, name, result.level, result.message)
