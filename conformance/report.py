"""The conformance report: a summary table (method × backend × dtype) and JSON."""

from __future__ import annotations

import json
import platform
from collections import OrderedDict
from pathlib import Path
from typing import Any

from conformance.runner import LEVELS, Result

__all__ = ["counts_table", "environment", "summary_rows", "table", "write_json"]

_MARK = {"pass": "ok", "fail": "FAIL", "skip": "skip"}


def summary_rows(results: list[Result]) -> list[dict[str, Any]]:
    """One row per (method, backend, dtype) with the status of every level run."""
    rows: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
    for r in results:
        key = (r.method, r.backend, r.dtype)
        row = rows.setdefault(key, {"method": r.method, "backend": r.backend, "dtype": r.dtype,
                                    "levels": {}, "examples": 0, "max_error": 0.0, "seconds": 0.0,
                                    "counts": {}})
        row["levels"][r.level] = r.status
        for name, n in r.counts.items():
            row["counts"][name] = row["counts"].get(name, 0) + n
        row["examples"] += r.examples
        if r.level in ("values", "gradients"):
            row["max_error"] = max(row["max_error"], r.max_error)
        row["seconds"] += r.seconds
    for row in rows.values():
        row["status"] = "fail" if "fail" in row["levels"].values() else "pass"
    return list(rows.values())


def _reached(row: dict[str, Any]) -> str:
    """Properties and branches exercised at least once, of those declared: e.g. ``9/9``."""
    from spec.registry import get

    spec = get(row["method"])
    declared = [f"property:{p.name}" for p in spec.properties] + [f"branch:{b.name}" for b in spec.branches]
    hit = sum(1 for k in declared if row["counts"].get(k, 0) > 0)
    return f"{hit}/{len(declared)}"


def _fewest(row: dict[str, Any]) -> str:
    """The property or branch that ran on the fewest cases, with its count."""
    if not row["counts"]:
        return "-"
    name, n = min(row["counts"].items(), key=lambda kv: kv[1])
    return f"{n} {name.split(':', 1)[1]}"


def counts_table(results: list[Result]) -> str:
    """Per method × backend × dtype: how many cases exercised each property and branch."""
    lines = []
    for row in summary_rows(results):
        parts = ", ".join(f"{k}={v}" for k, v in sorted(row["counts"].items()))
        lines.append(f"{row['method']} [{row['backend']}/{row['dtype']}]: {parts or 'nothing counted'}")
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    rows = summary_rows(results)
    head = ["method", "backend", "dtype", *LEVELS, "examples", "reached", "fewest", "worst/budget", "status"]
    body = [
        [row["method"], row["backend"], row["dtype"],
         *[_MARK.get(row["levels"].get(level, ""), "-") for level in LEVELS],
         str(row["examples"]), _reached(row), _fewest(row), f"{row['max_error']:.3f}",
         row["status"].upper() if row["status"] == "fail" else "pass"]
        for row in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*b) for b in body]
    failed = [r for r in results if r.status == "fail"]
    methods = {r["method"] for r in rows}
    passed_rows = sum(1 for r in rows if r["status"] == "pass")
    lines.append("")
    lines.append(f"{len(methods)} methods, {len(rows)} method×backend×dtype rows: {passed_rows} passed, "
                 f"{len(rows) - passed_rows} failed; {sum(r.examples for r in results)} examples checked")
    for r in failed:
        lines.append("")
        lines.append(f"FAIL {r.method} [{r.backend}/{r.dtype}/{r.level}]: {r.message}")
        if r.repro:
            lines.append("  reproduce with:")
            lines.extend("    " + line for line in r.repro.splitlines())
    return "\n".join(lines)


def environment() -> dict[str, str]:
    import numpy

    env = {"python": platform.python_version(), "numpy": numpy.__version__, "machine": platform.machine()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = str(torch.cuda.is_available())
    except ImportError:
        pass
    try:
        import hypothesis

        env["hypothesis"] = hypothesis.__version__
    except ImportError:
        pass
    return env


def write_json(results: list[Result], path: str | Path, *, profile: str) -> None:
    data = {
        "profile": profile,
        "environment": environment(),
        "summary": summary_rows(results),
        "results": [r.to_json() for r in results],
        "passed": all(r.status != "fail" for r in results),
    }
    Path(path).write_text(json.dumps(data, indent=2, default=str))
