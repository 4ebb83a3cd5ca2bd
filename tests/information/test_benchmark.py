"""Smoke test of ``benchmarks.information`` at a tiny size: the report's structure and agreement with the peer
(no timing assertions)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` lives at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.information import main  # noqa: E402


def test_vendi_benchmark_smoke(tmp_path: Path) -> None:
    out = str(tmp_path / "r.json")
    report = main(["--n", "300", "--d", "16", "--repeat", "1", "--dtype", "float64", "--json", out])
    assert (tmp_path / "r.json").is_file()
    assert len(report["rows"]) == 4
    for row in report["rows"]:
        assert row["median_ms"] > 0
        if row["rel_diff_vs_peer"] is not None:
            assert row["rel_diff_vs_peer"] < 1e-10
