"""Reproductions that reproduce: a pasteable script for a failure at any level, and ``replay``.

A failing job prints a script that, run with the package installed, shows the failing call and
re-runs *that level's check on that exact case* — the injected bad value of an errors check, the
inputs a property actually used, a backward pass for gradients — and fails the same way (it raises
:class:`~conformance.checks.ConformanceFailure`, so the script exits non-zero).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from conformance.backends import get_backend
from conformance.checks import CHECKS, ConformanceFailure, Tally, Target, _expect
from conformance.options import CheckOptions, adapt, resolve_conventions
from conformance.strategies import Case
from spec import errors
from spec.registry import get

if TYPE_CHECKING:
    from conformance.runner import Job

__all__ = ["importable_name", "replay", "script"]


def _literal(x: Any) -> str:
    if x is None:
        return "None"
    a = np.asarray(x)
    if a.dtype == bool:
        return f"np.array({a.tolist()!r}, dtype=bool)"
    if np.issubdtype(a.dtype, np.integer):
        return f"np.array({a.tolist()!r}, dtype=np.int64)"
    body = repr(a.astype(np.float64).tolist()).replace("inf", "np.inf").replace("nan", "np.nan")
    return f"np.array({body}, dtype=np.float64).reshape({a.shape!r})"


def _py(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({str(v)!r})"
    if isinstance(v, (np.floating, np.integer)):
        return _py(v.item())
    return repr(v)


def importable_name(fn: Callable[..., Any]) -> tuple[str, str] | None:
    """``(module, qualified name)`` when ``fn`` can be imported back, else None (lambdas, closures)."""
    module = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None)
    if not module or not qual or "<" in qual:
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return (module, qual) if obj is fn else None


def script(job: Job, case: Case, detail: Mapping[str, Any]) -> str:
    """The reproduction script of a failure of ``job`` on ``case`` (``detail`` from the failure)."""
    spec, backend = job.spec, job.backend
    lines = [
        f"# entropy-atlas reproduction: {spec.id} on {backend.name}/{job.dtype}, level {job.level!r}",
        "import numpy as np",
        "from conformance.repro import replay",
    ]
    impl = "None  # our accelerated version"
    if job.fn is not None:
        where = importable_name(job.fn)
        if where is None:
            impl = "None  # TODO: set impl to the function under test (it could not be imported by name)"
        else:
            lines.append(f"from {where[0]} import {where[1].split('.')[0]}")
            impl = where[1]
    lines.append("inputs = {")
    lines += [f"    {name!r}: {_literal(value)}," for name, value in case.inputs.items()]
    lines.append("}")
    lines.append("params = {" + ", ".join(f"{k!r}: {_py(v)}" for k, v in case.params.items()) + "}")
    kwargs = [f"impl={impl.split('  #')[0]}"]
    for key in ("property", "expect", "argument", "what"):
        if detail.get(key) is not None:
            kwargs.append(f"{key}={detail[key]!r}")
    if not job.options.default:
        lines.append("from conformance.options import CheckOptions")
        o = job.options
        kwargs.append(f"options=CheckOptions(params={dict(o.params)!r}, accept={o.accept!r}, "
                      f"class_axis={o.class_axis!r}, third_party={o.third_party!r})")
    if impl.startswith("None  #"):
        lines.append(f"# impl: {impl.split('# ', 1)[1]}")
    lines.append(f"replay({spec.id!r}, {backend.name!r}, {job.dtype!r}, {job.level!r}, inputs, params, "
                 f"{', '.join(kwargs)})")
    return "\n".join(lines)


def _show(label: str, fn: Callable[[], Any]) -> None:
    try:
        out = fn()
    except Exception as exc:
        print(f"{label}: raised {type(exc).__name__}: {exc}")
        return
    print(f"{label}: {out}")


def replay(method: str, backend: str, dtype: str, level: str, inputs: Mapping[str, Any], params: Mapping[str, Any],
           *, impl: Callable[..., Any] | None = None, property: str | None = None,
           expect: str | None = None, argument: str | None = None, what: str = "",
           options: CheckOptions | None = None) -> None:
    """Re-run one level's check of ``method`` on one exact case; raises ConformanceFailure when it fails.

    It also prints the reference's and the implementation's outputs for the case, so the script
    shows the disagreement before the check's message.
    """
    from conformance.checks import _convert, invoke

    spec = get(method)
    back = get_backend(backend)
    opts = options if options is not None else CheckOptions()
    fn = adapt(impl if impl is not None else back.function(spec), spec, opts)
    case = Case({k: v for k, v in inputs.items()}, dict(params))
    target = Target(spec, fn, back, dtype, Tally(), only_property=property, options=opts,
                    accepted=resolve_conventions(spec, opts.accept))
    reference = get_backend("reference").function(spec)
    _show("reference", lambda: invoke(reference, spec, case.inputs, case.params))
    _show(f"{backend}/{dtype}", lambda: tuple(back.to_numpy(o) for o in invoke(fn, spec, _convert(target, case),
                                                                                case.params)))
    if level == "errors":
        if expect is None:
            raise ValueError("replay of an errors failure needs expect=")
        error = getattr(errors, expect)
        _expect(target, case, error, argument, what)
    else:
        try:
            CHECKS[level](target, case)
        except BaseException as exc:
            if isinstance(exc, ConformanceFailure) or type(exc).__name__ != "UnsatisfiedAssumption":
                raise
            print("the case does not apply to this level (rejected)")
            return
    print("no failure reproduced")
