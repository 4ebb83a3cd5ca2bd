"""``check`` / ``assert_conforms`` on other people's code: pinned parameters, class axes, named conventions,
third-party errors, and one-line CLI usage errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import assert_conforms
from conformance.api import check, conventions_followed
from conformance.cli import main
from conformance.options import UsageError
from reference.policy import ppo_clip_loss as reference_ppo

scipy_stats = pytest.importorskip("scipy.stats")
torch = pytest.importorskip("torch")


def _ok(results: list[Any]) -> bool:
    return all(r.status == "pass" for r in results)


def test_scipy_entropy_with_a_pinned_axis() -> None:
    assert _ok(check(scipy_stats.entropy, "entropy", params={"axis": -1}))


def test_scipy_entropy_default_axis_is_reported_as_a_layout_mismatch() -> None:
    results = check(scipy_stats.entropy, "entropy", levels=("values",))
    assert not _ok(results)
    assert "seems to reduce over axis 0" in results[0].message and "--class-axis 0" in results[0].message
    assert _ok(check(scipy_stats.entropy, "entropy", class_axis=0))


def test_torch_cross_entropy_needs_its_conventions_by_name() -> None:
    from torch.nn.functional import cross_entropy

    strict = check(cross_entropy, "cross_entropy", backend="torch-cpu", dtypes=("float32",), class_axis=1,
                   levels=("values",))
    assert not _ok(strict) and "NaN" in strict[0].message
    accepted = check(cross_entropy, "cross_entropy", backend="torch-cpu", dtypes=("float32",), class_axis=1,
                     accept=("cross_entropy:all_ignored_nan", "cross_entropy:neginf_zero_coefficient_nan"))
    assert _ok(accepted), [r.message for r in accepted if r.status == "fail"]
    followed = conventions_followed(accepted)
    assert followed.get("cross_entropy:all_ignored_nan", 0) > 0
    assert followed.get("cross_entropy:neginf_zero_coefficient_nan", 0) > 0


def test_hf_top_p_passes_with_tie_order_accepted() -> None:
    pytest.importorskip("transformers")
    from conformance.cases.decoding.truncation import hf_warper

    fn = hf_warper("TopPLogitsWarper")()
    strict = check(fn, "top_p_filter", backend="torch-cpu", dtypes=("float64",))
    assert not _ok(strict)
    accepted = check(fn, "top_p_filter", backend="torch-cpu", dtypes=("float64",),
                     accept=("top_p_filter:tie_order", "top_p_filter:hf_drops_underflow"))
    assert _ok(accepted), [r.message for r in accepted if r.status == "fail"]
    assert conventions_followed(accepted).get("top_p_filter:tie_order", 0) > 0


def _token_mean_ppo(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, clip_low: float = 0.2,
                    clip_high: float = 0.2, dual_clip: float | None = None) -> Any:
    """A token-mean-only PPO loss (no ``mode`` parameter), right."""
    return reference_ppo(log_prob, old_log_prob, advantages, mask, clip_low=clip_low, clip_high=clip_high,
                         dual_clip=dual_clip, mode="token-mean")


def _token_mean_ppo_wrong(log_prob: Any, old_log_prob: Any, advantages: Any, mask: Any, *, clip_low: float = 0.2,
                          clip_high: float = 0.2, dual_clip: float | None = None) -> Any:
    """The same, dividing by every token instead of the valid ones (a classic bug)."""
    per = reference_ppo(log_prob, old_log_prob, advantages, mask, clip_low=clip_low, clip_high=clip_high,
                        dual_clip=dual_clip, mode="none")
    m = np.asarray(mask, dtype=np.float64)
    return np.asarray(np.sum(per * m) / max(m.size, 1))


def test_pinned_mode_tells_a_right_token_mean_loss_from_a_wrong_one() -> None:
    # without the pin both fail identically (they have no `mode`); pinned, only the bug fails
    assert not _ok(check(_token_mean_ppo, "ppo_clip_loss", levels=("values",)))
    assert _ok(check(_token_mean_ppo, "ppo_clip_loss", params={"mode": "token-mean"}))
    wrong = check(_token_mean_ppo_wrong, "ppo_clip_loss", params={"mode": "token-mean"}, levels=("values",))
    assert not _ok(wrong) and "differs from the reference" in wrong[0].message


def _entropy_value_error(probs: Any, *, axis: int = -1, base: float | None = None) -> Any:
    p = np.asarray(probs, dtype=np.float64)
    if np.isnan(p).any() or (base is not None and not (base > 0 and base != 1)):
        raise ValueError("bad input")
    return scipy_stats.entropy(p, base=base, axis=-1)


def test_third_party_errors_level_accepts_any_value_error() -> None:
    assert _ok(check(_entropy_value_error, "entropy", levels=("errors",)))
    ours = check(_entropy_value_error, "entropy", levels=("errors",), third_party=False)
    assert not _ok(ours) and "expected" in ours[0].message


def test_mutants_are_caught_through_the_public_path() -> None:
    from conformance.mutants import mutants_for

    for method in ("cross_entropy", "top_p_filter", "clip_cov_loss"):
        for m in mutants_for(method):
            with pytest.raises(AssertionError):
                assert_conforms(m.fn, method, backend=m.backend, dtype=m.dtypes[0])


def test_usage_errors_raise_usage_error() -> None:
    with pytest.raises(UsageError, match="did you mean entropy"):
        check(scipy_stats.entropy, "entropi")
    with pytest.raises(UsageError, match="no parameter 'bse'"):
        check(scipy_stats.entropy, "entropy", params={"bse": 2})
    with pytest.raises(UsageError, match="no convention"):
        check(scipy_stats.entropy, "entropy", accept=("entropy:nope",))
    with pytest.raises(UsageError, match="no dtype 'bfloat16'"):
        check(scipy_stats.entropy, "entropy", dtypes=("bfloat16",))
    with pytest.raises(UsageError, match="no category axis"):
        check(_token_mean_ppo, "ppo_clip_loss", class_axis=1)


@pytest.mark.parametrize("argv", [
    ["check", "--impl", "scipy.stats:entropyy", "--method", "entropy"],
    ["check", "--impl", "no_such_module_xyz:f", "--method", "entropy"],
    ["check", "--impl", "scipy.stats.entropy", "--method", "entropy"],
    ["check", "--impl", "scipy.stats:entropy", "--method", "entropi"],
    ["check", "--impl", "scipy.stats:entropy", "--method", "entropy", "--max-examples", "0"],
    ["check", "--impl", "scipy.stats:entropy", "--method", "entropy", "--dtype", "bfloat16"],
    ["check", "--impl", "scipy.stats:entropy", "--method", "entropy", "--param", "bse=2"],
    ["check", "--impl", "scipy.stats:entropy", "--method", "entropy", "--accept", "entropy:nope"],
    ["check", "--impl", "scipy.stats:entropy", "--method", "entropy", "--backend", "nump"],
    ["conform", "--method", "entropi"],
    ["vectors", "verify", "--method", "nonexistent"],
    ["mutate", "--method", "nonexistent"],
    ["audit", "--peer", "nonexistent"],
    ["check", "--method", "top_p_filter"],
    ["check", "--peer", "transformers TopPWarper", "--method", "top_p_filter"],
])
def test_cli_misuse_is_one_line_with_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors (one line via our parser class)
        rc = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_check_a_builtin_peer_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    argv = ["check", "--peer", "transformers TopPLogitsWarper", "--method", "top_p_filter", "--dtype", "float64"]
    assert main(argv) == 1  # ties: HF keeps another of the tied tokens
    assert main([*argv, "--accept", "top_p_filter:tie_order", "--accept", "top_p_filter:hf_drops_underflow"]) == 0
    assert "conventions followed: top_p_filter:tie_order" in capsys.readouterr().out


def test_impl_from_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pkg = tmp_path / "mypkg_check_cwd"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ent.py").write_text("from scipy.stats import entropy\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    rc = main(["check", "--impl", "mypkg_check_cwd.ent:entropy", "--method", "entropy", "--param", "axis=-1"])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    assert "pinned" in out.out


def test_no_progress_bar_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["conform", "--method", "entropy", "--backend", "numpy", "--dtype", "float64", "--level", "values"])
    out = capsys.readouterr()
    assert rc == 0
    assert "it/s" not in out.err and "job/s" not in out.err and "%|" not in out.err


def test_every_documented_difference_is_a_named_convention() -> None:
    from spec.registry import all_specs

    for spec in all_specs():
        names = [d.name for d in spec.provenance.differences]
        assert all(names) and len(names) == len(set(names)), f"{spec.id}: convention names {names}"
    with pytest.raises(UsageError, match="without an executable form"):
        check(scipy_stats.entropy, "clip_cov_loss", accept=("clip_cov_loss:random_choice",))
