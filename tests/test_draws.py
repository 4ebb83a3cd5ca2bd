"""The ``ci`` examples are a pure function of the spec and the profile: the same on every run, the
same after unrelated source changes (Hypothesis mixes constants of local source files into its draws;
ours must not), and distinct."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import spec
from conformance.draws import fingerprint
from conformance.runner import job_cases, jobs_for

ROOT = Path(__file__).resolve().parents[1]
PROBE = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, sys.argv[1])
    if len(sys.argv) > 2:
        import unrelated_constants  # a local module full of numeric constants, imported first
    from conformance.draws import fingerprint
    from conformance.runner import job_cases, jobs_for
    jobs = jobs_for(["top_p_filter", "cross_entropy", "ppo_clip_loss"], ["numpy"], ["float32"])
    print(json.dumps({j.key: [fingerprint(c) for c in job_cases(j)] for j in jobs}))
''')


def _fingerprints(tmp: Path, with_constants: bool) -> dict[str, list[str]]:
    args = [sys.executable, "-c", PROBE, str(tmp)] + (["x"] if with_constants else [])
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=True, timeout=300)
    data: dict[str, list[str]] = json.loads(out.stdout)
    return data


def test_ci_examples_do_not_depend_on_unrelated_source(tmp_path: Path) -> None:
    constants = ", ".join(repr(v) for v in (0.123456789, 7, 1e-7, 0.9999, 17, 3.5, -2.25, 1234567, 0.3333))
    (tmp_path / "unrelated_constants.py").write_text(f"VALUES = [{constants}]\nNAME = 'p'\n")
    plain = _fingerprints(tmp_path, False)
    polluted = _fingerprints(tmp_path, True)
    assert plain == polluted
    assert all(len(v) >= 20 for k, v in plain.items() if k.endswith("-values]"))


def test_ci_examples_are_distinct_and_reproducible() -> None:
    for s in spec.all_specs():
        for job in jobs_for([s.id], ["reference"]):
            a = [fingerprint(c) for c in job_cases(job)]
            assert len(a) == len(set(a)), f"{job.key}: duplicate examples"
            assert a == [fingerprint(c) for c in job_cases(job)], f"{job.key}: examples changed between two calls"
