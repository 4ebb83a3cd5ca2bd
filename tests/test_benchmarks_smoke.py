"""Smoke test of ``benchmarks.run.main`` at a tiny size: the report's structure, no timing assertions."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.run import DECODING_METHODS, METHODS, _agree_key, main  # noqa: E402

ROW_KEYS = {
    "method",
    "impl",
    "label",
    "median_ms",
    "min_ms",
    "runs",
    "rows_timed",
    "scaled",
    "ratio_bandwidth_floor",
    "ratio_exp_floor",
    "speedup_vs_reference",
    "ratio_vs_best_peer",
    "peak_extra_mib",
    "peak_fraction_of_input",
    "error",
}


def test_tiny_benchmark_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.json"
    argv = ["--sizes", "8x64", "--repeat", "1", "--ref-rows", "4", "--device", "cpu", "--quiet", "--json", str(path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "8x64" in printed and "bandwidth floor" in printed

    report = json.loads(path.read_text())
    assert report["meta"]["torch"] == torch.__version__
    assert report["meta"]["memory_method"]
    (res,) = report["results"]
    assert (res["size"], res["N"], res["V"], res["dtype"], res["device"]) == ("8x64", 8, 64, "float32", "cpu")
    assert res["reference_rows"] == 4
    assert res["floors"]["bandwidth_ms"] > 0 and res["floors"]["exp_ms"] > 0

    rows = res["rows"]
    for row in rows:
        assert row.keys() >= ROW_KEYS, ROW_KEYS - row.keys()
    floors = [r for r in rows if r["impl"] == "floor"]
    assert {r["label"].split(":")[0] for r in floors} == {"bandwidth", "exp"}
    bw = next(r for r in floors if r["label"].startswith("bandwidth"))
    assert math.isclose(bw["ratio_bandwidth_floor"], 1.0)

    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        kinds = {r["impl"] for r in mine}
        assert {"accelerated", "peer"} <= kinds, (method, kinds)
        acc = next(r for r in mine if r["impl"] == "accelerated")
        assert acc["error"] is None, acc["error"]
        assert acc["median_ms"] > 0 and acc["runs"] == 1 and acc["rows_timed"] == 8 and not acc["scaled"]
        assert acc["ratio_exp_floor"] > 0 and acc["ratio_vs_best_peer"] > 0
        ref = [r for r in mine if r["impl"] == "reference"]
        if ref:  # the reference runs on the 4-row subset, scaled to 8 rows
            assert ref[0]["scaled"] and ref[0]["rows_timed"] == 4
            assert acc["speedup_vs_reference"] > 0
            key = _agree_key(method)
            assert acc[key] is not None and acc[key] <= (1e-4 if key == "max_abs_diff_vs_reference" else 0)


def test_usage_errors() -> None:
    assert main(["--sizes", "8x64", "--repeat", "0"]) == 2
    if not torch.cuda.is_available():
        assert main(["--device", "cuda"]) == 2
    with pytest.raises(SystemExit):
        main(["--sizes", "8by64"])


def test_decoding_methods_with_generic_path(tmp_path: Path) -> None:
    # every filter and sample against its transformers peer; --generic adds the generic array-API path
    assert set(DECODING_METHODS) <= set(METHODS)
    path = tmp_path / "bench.json"
    argv = ["--sizes", "6x40", "--repeat", "1", "--ref-rows", "3", "--device", "cpu", "--quiet", "--generic",
            "--methods", *DECODING_METHODS, "--json", str(path)]
    assert main(argv) == 0
    rows = json.loads(path.read_text())["results"][0]["rows"]
    for method in DECODING_METHODS:
        mine = {r["impl"]: r for r in rows if r["method"] == method}
        assert {"reference", "accelerated", "generic", "peer"} <= mine.keys(), (method, mine.keys())
        for kind in ("accelerated", "generic"):
            assert mine[kind]["error"] is None and mine[kind][_agree_key(method)] == 0, (method, kind)
        peak = mine["accelerated"]["peak_fraction_of_input"]
        assert peak is None or peak >= 0


def test_backward_and_linear_cross_entropy_modes(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    argv = ["--sizes", "8x64", "--methods", "entropy_from_logits", "cross_entropy", "--backward", "--repeat", "1",
            "--ref-rows", "4", "--device", "cpu", "--quiet", "--lce-sizes", "16x4x50", "--json", str(path)]
    assert main(argv) == 0
    rows_res, lce = json.loads(path.read_text())["results"]
    assert rows_res["backward"] is True
    acc = [r for r in rows_res["rows"] if r["impl"] == "accelerated"]
    assert {r["method"] for r in acc} == {"entropy_from_logits", "cross_entropy"}
    assert all(r["error"] is None and r["label"].endswith("[fwd+bwd]") for r in acc)
    assert all("peak_fraction_beyond_gradient" in r for r in acc)
    assert (lce["method"], lce["N"], lce["D"], lce["V"]) == ("linear_cross_entropy", 16, 4, 50)
    kinds = {r["impl"]: r for r in lce["rows"]}
    assert set(kinds) == {"accelerated", "peer"}
    assert kinds["accelerated"]["error"] is None and kinds["accelerated"]["median_ms"] > 0
    assert kinds["accelerated"]["max_abs_diff_vs_peer"] < 1e-4  # loss, dE and dC agree with the materialised CE
