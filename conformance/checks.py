"""The four conformance checks run on one drawn case: values, properties, gradients and errors.

Each check takes a :class:`Target` (the function under test, the backend that converts arrays for it,
and a dtype) and a :class:`~conformance.strategies.Case`. It returns the worst error as a fraction of
the budget (``<= 1`` passes), calls ``hypothesis.reject()`` for cases that do not apply, and raises
:class:`ConformanceFailure` with a readable message otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import reject

from conformance.backends import Backend, get_backend
from conformance.options import CheckOptions, category_symbol
from conformance.strategies import Case, largest_below_one
from spec.errors import InputError, ParameterError, ShapeError
from spec.model import Budget, Choice, Difference, Interval, IntRange, MethodSpec, NotApplicable, PropertyContext

__all__ = [
    "ConformanceFailure",
    "Tally",
    "Target",
    "check_errors",
    "check_gradients",
    "check_properties",
    "check_values",
    "input_scale",
    "invoke",
    "output_budget",
]

F64 = npt.NDArray[np.float64]

#: How far sensitive thresholds are nudged (relative, absolute) when deciding whether a mismatch of a
#: discrete decision is a rounding artefact at an exact boundary. Accelerated code decides in float64
#: for float64 inputs and in float32 otherwise.
NUDGE = {"float64": (1e-9, 1e-12), "other": (2e-5, 1e-6)}


class ConformanceFailure(AssertionError):
    """A backend disagrees with the reference (or the spec) on a case.

    ``case`` is the exact case that failed when it differs from the drawn one (an injected bad value,
    the inputs a property used); ``detail`` names what to replay (``property``, ``expect`` ...).
    """

    def __init__(self, message: str, *, case: Case | None = None, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.case = case
        self.detail = dict(detail or {})


@dataclass
class Tally:
    """What a job's cases exercised: ``ran[name]`` counts cases on which each property ran (was not
    skipped) and each spec branch was hit (keys ``property:NAME`` and ``branch:NAME``)."""

    ran: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, n: int = 1) -> None:
        self.ran[key] += n


@dataclass(frozen=True)
class Target:
    """What is being checked: ``fn`` fed with ``backend`` arrays of ``dtype``; ``tally`` collects counts."""

    spec: MethodSpec
    fn: Callable[..., Any]
    backend: Backend
    dtype: str
    tally: Tally = field(default_factory=Tally)
    only_property: str | None = None  # replay one property (reproductions)
    options: CheckOptions = field(default_factory=CheckOptions)
    accepted: Mapping[str, Difference] = field(default_factory=dict)  # conventions the function may follow

    @property
    def budget(self) -> Budget:
        return self.spec.tolerance[self.dtype]


# --------------------------------------------------------------------------- helpers


def invoke(fn: Callable[..., Any], spec: MethodSpec, inputs: Mapping[str, Any],
           params: Mapping[str, Any]) -> tuple[Any, ...]:
    """Call ``fn`` with the spec's calling convention; always returns a tuple of outputs."""
    args = [inputs[i.name] for i in spec.inputs if i.positional and not i.optional]
    args += [params.get(p.name, p.default) for p in spec.params if p.positional]
    kwargs = {i.name: inputs.get(i.name) for i in spec.inputs if not (i.positional and not i.optional)}
    kwargs.update({k: v for k, v in params.items() if not spec.param(k).positional})
    out = fn(*args, **kwargs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def input_scale(spec: MethodSpec, case: Case) -> float:
    """max(1, largest finite |float input|): absolute budgets scale with the inputs' magnitude."""
    scale = 1.0
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if x is None or inp.dtype != "float":
            continue
        a = np.asarray(x, dtype=np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            scale = max(scale, float(np.max(np.abs(finite))))
    return scale


def output_budget(spec: MethodSpec, budget: Budget, case: Case, k: int = 0) -> Budget:
    """``budget`` in the units of output ``k``: its ``atol`` times the output's natural scale."""
    if k >= len(spec.outputs):
        return budget
    return Budget(budget.atol * spec.outputs[k].scale(case.inputs, case.params), budget.rtol)


def count_branches(target: Target, case: Case, expected: tuple[Any, ...]) -> None:
    """Record which of the spec's branches this case (with its reference outputs) hits."""
    for branch in target.spec.branches:
        try:
            hit = bool(branch.hit(case.inputs, case.params, expected))
        except Exception as exc:  # a broken predicate is a spec bug: say which
            raise ConformanceFailure(
                f"branch {branch.name!r}: its predicate raised {type(exc).__name__}: {exc}") from exc
        if hit:
            target.tally.add(f"branch:{branch.name}")


def _convert(target: Target, case: Case, *, grad: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        name: target.backend.asarray(value, target.dtype, requires_grad=name in grad)
        for name, value in case.inputs.items()
    }


def _run_reference(spec: MethodSpec, case: Case) -> tuple[F64, ...] | InputError:
    ref = get_backend("reference").function(spec)
    try:
        out = invoke(ref, spec, case.inputs, case.params)
    except InputError as exc:
        return exc
    return tuple(np.asarray(o) for o in out)


def _describe(x: Any) -> str:
    a = np.asarray(x)
    if a.size <= 12:
        return np.array2string(a, precision=17, separator=", ")
    return f"array of shape {a.shape}"


def _clamp_into(domain: Interval | IntRange | Choice, value: float) -> float | None:
    """``value`` moved back into an interval domain (a nudge past a closed end stops at the end, past an
    open end at the nearest float inside), or None for other domains: rounding near a domain edge
    (``mass = 1 - 6e-10`` is 1 in float32) is as legitimate as rounding near any other threshold."""
    if not isinstance(domain, Interval):
        return None
    if domain.high is not None and value >= domain.high:
        value = domain.high if domain.high_closed else math.nextafter(domain.high, -math.inf)
    if domain.low is not None and value <= domain.low:
        value = domain.low if domain.low_closed else math.nextafter(domain.low, math.inf)
    return value if domain.contains(value) else None


def _nudged_cases(spec: MethodSpec, case: Case, dtype: str) -> list[Case]:
    rel, ab = NUDGE["float64" if dtype == "float64" else "other"]
    variants: list[Case] = []
    for p in spec.params:
        v = case.params.get(p.name)
        if not p.sensitive or isinstance(v, bool) or not isinstance(v, (int, float)) or math.isinf(v):
            continue
        for sign in (-1.0, 1.0):
            nudged = _clamp_into(p.domain, float(v) + sign * (rel * abs(float(v)) + ab))
            if nudged is not None and nudged != float(v):
                variants.append(case.replace(**{p.name: nudged}))
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if not inp.sensitive or x is None:
            continue
        a = np.asarray(x, dtype=np.float64)
        for sign in (-1.0, 1.0):
            nudged_a = a + sign * (rel * np.abs(a) + ab)
            if inp.kind in ("uniforms", "priority"):
                nudged_a = np.clip(nudged_a, 0.0, largest_below_one("float64"))
            variants.append(case.replace(**{inp.name: nudged_a}))
    return variants


# --------------------------------------------------------------------------- values


def check_values(target: Target, case: Case) -> float:
    """Backend outputs equal the float64 reference within the dtype's budget (discrete: exactly).

    With accepted conventions (``target.accepted``), a case that differs from the reference passes when
    all its outputs match one convention's other form; the convention is counted (``convention:NAME``).
    """
    spec = target.spec
    expected = _run_reference(spec, case)
    third = target.options.third_party
    if third and isinstance(expected, InputError):
        reject()  # invalid input: how someone else's code rejects it is the errors level's business
    try:
        got = invoke(target.fn, spec, _convert(target, case), case.params)
    except InputError as exc:
        if isinstance(expected, InputError):
            if type(exc) is not type(expected):
                raise ConformanceFailure(
                    f"reference raised {type(expected).__name__} ({expected}) but {target.backend.name} raised "
                    f"{type(exc).__name__} ({exc})") from exc
            return 0.0
        raise ConformanceFailure(f"{target.backend.name} raised {type(exc).__name__} on a valid input: {exc}") from exc
    except Exception as exc:
        if not third:
            raise
        shapes = any(word in str(exc).lower() for word in ("shape", "size", "dim"))
        raise ConformanceFailure(
            f"the function raised {type(exc).__name__} on a valid input ({_shapes(case)}): {exc}"
            f"{_layout_hint(spec, case, None) if shapes and target.options.class_axis is None else ''}") from exc
    if isinstance(expected, InputError):
        raise ConformanceFailure(
            f"reference raised {type(expected).__name__} ({expected}) but {target.backend.name} returned a value")
    if len(got) != len(expected):
        raise ConformanceFailure(f"{len(got)} outputs, reference has {len(expected)}")

    count_branches(target, case, expected)
    try:
        return _compare(target, case, got, expected)
    except ConformanceFailure:
        name = _convention_match(target, case, got, expected)
        if name is None:
            raise
        target.tally.add(f"convention:{name}")
        return 0.0


def _shapes(case: Case) -> str:
    parts = [f"{k} shape {np.shape(v)}" for k, v in case.inputs.items() if v is not None]
    return ", ".join(parts) or "no array inputs"


def _layout_hint(spec: MethodSpec, case: Case, got_shape: tuple[int, ...] | None) -> str:
    """A hint when an output shape (or a crash) suggests the function expects another category axis."""
    symbol = category_symbol(spec)
    if symbol is None:
        return ""
    first = next((i for i in spec.inputs if i.shape and i.shape[-1] == symbol and case.inputs.get(i.name) is not None),
                 None)
    if first is None:
        return ""
    shape = tuple(np.shape(case.inputs[first.name]))
    if got_shape is not None:
        for axis in range(len(shape) - 1):
            if got_shape == shape[:axis] + shape[axis + 1:]:
                return (f"; your function seems to reduce over axis {axis} of {first.name!r}, the spec puts categories "
                        f"on the last axis: pass --class-axis {axis} (class_axis={axis}), or pin the function's own "
                        "axis parameter (--param axis=-1)")
        return ""
    return (f" (the spec puts categories on the last axis of {first.name!r}; if your function expects them elsewhere, "
            "pass --class-axis N)")


def _compare(target: Target, case: Case, got: tuple[Any, ...], expected: tuple[Any, ...]) -> float:
    spec = target.spec
    variants: list[tuple[F64, ...]] | None = None
    worst = 0.0
    for k, (g_raw, e) in enumerate(zip(got, expected, strict=True)):
        scaled = output_budget(spec, target.budget, case, k)
        name = spec.outputs[k].name if k < len(spec.outputs) else f"output {k}"
        discrete = k < len(spec.outputs) and spec.outputs[k].discrete
        _check_dtype(target, g_raw, name, discrete)
        g = target.backend.to_numpy(g_raw)
        if g.shape != e.shape:
            hint = _layout_hint(spec, case, g.shape) if target.options.third_party else ""
            raise ConformanceFailure(f"{name}: shape {g.shape}, reference {e.shape}{hint}")
        if np.issubdtype(g.dtype, np.floating) and np.any(np.isnan(g)):
            raise ConformanceFailure(f"{name}: {target.backend.name} returned NaN: {_describe(g)}")
        ok = _matches(g, e, scaled, discrete)
        accepted: list[Any] = [e]
        if not np.all(ok):
            if variants is None:
                variants = [v for v in (_run_reference(spec, c) for c in _nudged_cases(spec, case, target.dtype))
                            if not isinstance(v, InputError)]
            for v in variants:
                ok = ok | _matches(g, v[k], scaled, discrete)
                accepted.append(v[k])
            if discrete and variants and k < len(spec.outputs) and spec.outputs[k].monotone:
                stack = np.stack([np.asarray(a) for a in accepted])  # monotone in the nudged inputs
                ok = ok | ((stack.min(axis=0) <= g) & (g <= stack.max(axis=0)))
            if not np.all(ok):
                bad = np.flatnonzero(~np.asarray(ok).ravel())[:5]
                raise ConformanceFailure(
                    f"{name}: {target.backend.name}/{target.dtype} differs from the reference at flat index "
                    f"{bad.tolist()}: got {g.ravel()[bad].tolist()}, expected {e.ravel()[bad].tolist()} "
                    f"(budget atol={scaled.atol:.3g}, rtol={scaled.rtol:.3g}{', exact' if discrete else ''})")
        if not discrete and e.size and np.issubdtype(e.dtype, np.floating):
            worst = max(worst, _error_ratio(g, accepted, scaled))
    return worst


def _reference_of(spec: MethodSpec) -> Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[Any, ...]]:
    ref = get_backend("reference").function(spec)

    def reference(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(np.asarray(o) for o in invoke(ref, spec, inputs, params))

    return reference


def _layer(d: Difference, inner: Callable[..., tuple[Any, ...]], used: set[str]) -> Callable[..., tuple[Any, ...]]:
    """``inner`` with the other form of ``d`` applied on top (composition of accepted conventions)."""

    def reference(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, ...]:
        if d.params is not None:
            merged = {**params, **d.params}
            if merged != dict(params):
                used.add(d.name)
            return inner(inputs, merged)
        assert d.other is not None
        out = d.other(inner, inputs, params)
        if out is None:
            return inner(inputs, params)
        used.add(d.name)
        return tuple(out)

    return reference


def _convention_match(target: Target, case: Case, got: tuple[Any, ...], expected: tuple[Any, ...]) -> str | None:
    """The accepted convention(s) whose other form all outputs match (NaN matches NaN), or None: each one alone,
    then all ``params``/``other`` forms composed in the order given (a loss that clamps the log-ratio *and*
    aggregates like verl). Returns ``a+b`` for a composition (counted as each)."""
    if not target.accepted:
        return None
    spec = target.spec
    got_np = tuple(target.backend.to_numpy(g) for g in got)
    base = _reference_of(spec)

    def matches(other: tuple[Any, ...] | None) -> bool:
        return other is not None and len(other) == len(got_np) and all(
            _same(target, case, k, g, o) for k, (g, o) in enumerate(zip(got_np, other, strict=True)))

    formed = [d for d in target.accepted.values() if d.accepts is None]
    for d in target.accepted.values():
        if d.accepts is not None:
            if d.accepts(case.inputs, case.params, expected, got_np):
                return d.name
            continue
        used: set[str] = set()
        try:
            if matches(_layer(d, base, used)(case.inputs, case.params)) and used:
                return d.name
        except InputError:
            continue
    if len(formed) > 1:
        used = set()
        composite = base
        for d in formed:
            composite = _layer(d, composite, used)
        try:
            if matches(composite(case.inputs, case.params)) and used:
                for name in sorted(used)[1:]:
                    target.tally.add(f"convention:{name}")
                return sorted(used)[0]
        except InputError:
            return None
    return None


def _convention_applies(target: Target, case: Case) -> bool:
    """Whether an accepted convention (``params`` or ``other`` form) gives other outputs than ours on ``case``."""
    spec = target.spec
    ref = get_backend("reference").function(spec)

    def reference(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(np.asarray(o) for o in invoke(ref, spec, inputs, params))

    for d in target.accepted.values():
        try:
            if d.other is not None and d.other(reference, case.inputs, case.params) is not None:
                return True
            if d.params is not None:
                ours = reference(case.inputs, case.params)
                other = reference(case.inputs, {**case.params, **d.params})
                if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(ours, other, strict=True)):
                    return True
        except InputError:
            continue
    return False


def _relation_explains(target: Target, case: Case) -> bool:
    """Whether the implementation's outputs on ``case`` differ from ours but are accepted by a relation-form
    convention (``accepts``): e.g. another choice among tied tokens, on which a property of ours may not hold."""
    relations = [d for d in target.accepted.values() if d.accepts is not None]
    if not relations:
        return False
    expected = _run_reference(target.spec, case)
    if isinstance(expected, InputError):
        return False
    try:
        got = tuple(target.backend.to_numpy(o) for o in invoke(target.fn, target.spec, _convert(target, case),
                                                                case.params))
    except Exception:
        return False
    if all(np.array_equal(g, np.asarray(e), equal_nan=True) for g, e in zip(got, expected, strict=False)):
        return False
    return any(d.accepts(case.inputs, case.params, expected, got) for d in relations if d.accepts is not None)


def _same(target: Target, case: Case, k: int, got: Any, other: Any) -> bool:
    g, o = np.asarray(got), np.asarray(other)
    if g.shape != o.shape:
        return False
    discrete = k < len(target.spec.outputs) and target.spec.outputs[k].discrete
    if discrete or not np.issubdtype(o.dtype, np.floating):
        return bool(np.all(g == o))
    g64, o64 = g.astype(np.float64), o.astype(np.float64)
    both_nan = np.isnan(g64) & np.isnan(o64)
    return bool(np.all(both_nan | output_budget(target.spec, target.budget, case, k).allows(g64, o64)))


def _error_ratio(g: F64, accepted: list[Any], budget: Budget) -> float:
    """Worst error / budget over finite elements, each against its closest accepted reference."""
    best = np.full(g.shape, np.inf)
    for ref in accepted:
        r = np.asarray(ref, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            err = np.abs(g - r) / (budget.atol + budget.rtol * np.abs(r))
        err = np.where(np.isfinite(r), err, np.where(g == r, 0.0, np.inf))
        best = np.minimum(best, err)
    finite = np.isfinite(best)
    return float(np.max(best[finite])) if np.any(finite) else 0.0


def _matches(g: Any, e: Any, budget: Budget, discrete: bool) -> npt.NDArray[np.bool_]:
    e = np.asarray(e)
    if discrete or not np.issubdtype(e.dtype, np.floating):
        return np.asarray(g == e)
    return budget.allows(np.asarray(g, dtype=np.float64), e.astype(np.float64))


def _check_dtype(target: Target, out: Any, name: str, discrete: bool) -> None:
    """Floating outputs keep the input dtype (the accelerated contract)."""
    if target.backend.is_reference or discrete:
        return
    dt = getattr(out, "dtype", None)
    if dt is None:
        return
    text = str(dt).replace("torch.", "")
    floating = text.startswith(("float", "bfloat"))
    if floating and text != target.dtype:
        raise ConformanceFailure(f"{name}: output dtype {text}, expected the input dtype {target.dtype}")


# --------------------------------------------------------------------------- properties


def check_properties(target: Target, case: Case) -> float:
    """Every property of the spec holds on this backend and dtype (each one counts the cases it ran on)."""
    spec = target.spec
    expected = _run_reference(spec, case)
    if isinstance(expected, InputError):
        reject()
    assert not isinstance(expected, InputError)
    count_branches(target, case, expected)
    budget = output_budget(spec, target.budget, case)
    calls: list[dict[str, Any]] = []

    pinned = target.options.params
    broken = {name for d in target.accepted.values() for name in d.breaks}

    def call(**overrides: Any) -> tuple[npt.NDArray[Any], ...]:
        for key, value in overrides.items():
            if key in pinned and not _equal(value, pinned[key]):
                raise NotApplicable(f"{key} is pinned to {pinned[key]!r}")
        calls.append(dict(overrides))
        c = case.replace(**overrides)
        out = invoke(target.fn, spec, _convert(target, c), c.params)
        return tuple(target.backend.to_numpy(o) for o in out)

    for prop in spec.properties:
        if (target.only_property is not None and prop.name != target.only_property) or prop.name in broken:
            continue
        calls.clear()
        ctx = PropertyContext(call=call, inputs=dict(case.inputs), params=dict(case.params), budget=budget,
                              dtype=target.dtype, rng=np.random.default_rng(0))
        try:
            prop.check(ctx)
        except NotApplicable:
            continue
        except AssertionError as exc:
            used = case.replace(**calls[-1]) if calls else case
            tried = [case.replace(**c) for c in calls] or [case]
            if any(_convention_applies(target, c) or _relation_explains(target, c) for c in [case, *tried]):
                continue  # an accepted convention changes this case's outputs: the property is about ours
            raise ConformanceFailure(f"property {prop.name!r} ({prop.description}) fails: {exc}",
                                     case=used, detail={"property": prop.name}) from exc
        target.tally.add(f"property:{prop.name}")
    return 0.0


def _equal(a: object, b: object) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


# --------------------------------------------------------------------------- gradients


def _sympy_gradient(spec: MethodSpec, case: Case, cotangent: F64) -> dict[str, F64]:
    """``Σ_i w_i ∂out_i/∂x`` from the SymPy derivation, differentiating each output element only with
    respect to the symbols it contains (row-wise methods stay linear in size), evaluated at once."""
    import sympy as sp

    assert spec.derivation is not None
    problem = spec.derivation.build(case.inputs, case.params)
    out = np.asarray(problem.output, dtype=object).ravel()
    wanted = {name: np.asarray(problem.symbols[name], dtype=object) for name in spec.derivation.wrt}
    index = {sym: (name, j) for name, syms in wanted.items() for j, sym in enumerate(syms.ravel())}
    terms: dict[Any, list[Any]] = {}
    for o, w in zip(out, cotangent.ravel(), strict=True):
        if float(w) == 0.0 or not isinstance(o, sp.Basic):
            continue
        for sym in o.free_symbols & index.keys():
            terms.setdefault(sym, []).append(float(w) * sp.diff(o, sym))
    grads = {name: np.zeros(syms.shape) for name, syms in wanted.items()}
    if not terms:
        return grads
    order = list(terms)
    keys = list(problem.values)
    f = sp.lambdify(keys, [sp.Add(*terms[sym]) for sym in order], modules="numpy", cse=True)
    values = np.asarray(f(*[problem.values[k] for k in keys]), dtype=np.float64)
    for sym, v in zip(order, values, strict=True):
        name, j = index[sym]
        grads[name].flat[j] = v
    return grads


def _fd_gradient(spec: MethodSpec, case: Case, name: str, cotangent: F64) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    """One-sided and central differences of the float64 reference: ``(central, |right - left|, defined)``.

    ``defined`` is False where a step leaves the domain (the reference raises) or ``x`` is not finite.
    """
    ref = get_backend("reference").function(spec)
    x = np.asarray(case.inputs[name], dtype=np.float64)
    grad = np.zeros_like(x)
    gap = np.zeros_like(x)
    defined = np.zeros(x.shape, dtype=bool)

    def f(xv: F64) -> float | None:
        try:
            out = invoke(ref, spec, {**case.inputs, name: xv}, case.params)[0]
        except InputError:
            return None
        return float(np.sum(np.asarray(out, dtype=np.float64) * cotangent))

    f0 = f(x)
    if f0 is None:
        reject()
    assert f0 is not None
    for j in range(x.size):
        if not np.isfinite(x.flat[j]):
            continue
        h = 1e-6 * max(1.0, abs(float(x.flat[j])))
        plus, minus = x.copy(), x.copy()
        plus.flat[j] += h
        minus.flat[j] -= h
        fp, fm = f(plus), f(minus)
        if fp is None or fm is None:
            continue
        right, left = (fp - f0) / h, (f0 - fm) / h
        grad.flat[j] = (fp - fm) / (2 * h)
        gap.flat[j] = abs(right - left)
        defined.flat[j] = True
    return grad, gap, defined


def _tie_convention(spec: MethodSpec, case: Case, name: str, j: int, cotangent: F64, fd: float, tol: float) -> bool:
    """True when the SymPy gradient of element ``j`` disagrees with a smooth finite difference only
    *exactly* at a tie inside the expression (``Max(a, b)`` with ``a == b``: SymPy's ``Heaviside(0) =
    1/2``), i.e. the SymPy gradient just either side of the point agrees with the finite difference.
    Implementations may take either side there (torch's ``maximum`` splits, ``clamp`` takes one), so
    the element is not compared."""
    x = np.asarray(case.inputs[name], dtype=np.float64)
    step = 1e-7 * max(1.0, abs(float(x.flat[j])))
    for sign in (-1.0, 1.0):
        moved = x.copy()
        moved.flat[j] += sign * step
        side = _sympy_gradient(spec, case.replace(**{name: moved}), cotangent)[name].flat[j]
        if not abs(side - fd) <= tol:
            return False
    return True


def check_gradients(target: Target, case: Case) -> float:
    """Torch autograd == SymPy-derived gradient == central differences of the reference.

    Kinks (a clip bound, a tie at a selection, a ratio exactly on ``1 ± eps``) follow one rule: an
    element is compared only where the two one-sided differences agree within the comparison's own
    tolerance. Where they differ by more, the function has no derivative there that any
    implementation must reproduce (SymPy's half-weighted ``Heaviside(0)``, autograd's choice of a side
    and the central difference are all legitimate), so the element is skipped rather than reported.
    """
    spec = target.spec
    if spec.derivation is None:
        return 0.0
    expected = _run_reference(spec, case)
    if isinstance(expected, InputError):
        reject()
    assert not isinstance(expected, InputError)
    if target.accepted and _convention_applies(target, case):
        return 0.0  # the implementation follows another form here: its gradient is not ours to check
    rng = np.random.default_rng(1)
    cotangent = rng.standard_normal(np.shape(expected[0]))
    symbolic = _sympy_gradient(spec, case, cotangent)
    scale = input_scale(spec, case) * max(1.0, float(np.max(np.abs(cotangent), initial=0)))
    worst = 0.0

    # 1. the reference: finite differences agree with the SymPy derivation wherever a derivative exists
    usable: dict[str, npt.NDArray[np.bool_]] = {}
    for name in spec.derivation.wrt:
        fd, gap, defined = _fd_gradient(spec, case, name, cotangent)
        tol = 1e-5 * np.abs(symbolic[name]) + 1e-6 * scale
        smooth = defined & (gap <= tol)
        usable[name] = smooth
        bad = smooth & ~(np.abs(fd - symbolic[name]) <= tol)
        for j in np.flatnonzero(bad.ravel()):
            if _tie_convention(spec, case, name, int(j), cotangent, fd.flat[j], tol.flat[j]):
                bad.flat[j] = False
                usable[name].flat[j] = False
        if np.any(bad):
            raise ConformanceFailure(
                f"d/d{name}: central differences of the reference {fd[bad].tolist()} differ from the SymPy "
                f"derivation {symbolic[name][bad].tolist()}")

    if target.backend.is_reference or target.backend.library != "torch":
        return 0.0

    # 2. autograd of the accelerated version (differentiable and stop-gradient inputs get grad)
    wrt = spec.derivation.wrt
    detached = tuple(i.name for i in spec.inputs if i.stop_gradient and i.dtype == "float")
    inputs = _convert(target, case, grad=wrt + detached)
    out = invoke(target.fn, spec, inputs, case.params)[0]
    torch = __import__("torch")
    w = torch.as_tensor(cotangent, dtype=out.dtype, device=out.device)
    if not out.requires_grad:
        if any(np.any(symbolic[n][usable[n]] != 0) for n in wrt):
            raise ConformanceFailure("output does not require grad although the derivation has a nonzero gradient")
        return 0.0
    (out * w).sum().backward()
    budget = target.budget
    rtol, atol = (1e-7, 1e-8) if target.dtype == "float64" else (budget.rtol * 10, budget.atol * 10)
    for name in wrt:
        t = inputs[name]
        g = np.zeros(np.shape(case.inputs[name])) if t.grad is None else target.backend.to_numpy(t.grad)
        ok = usable[name]
        tol = atol * scale + rtol * np.abs(symbolic[name])
        err = np.abs(g - symbolic[name])
        bad = ok & ~(err <= tol)
        if np.any(bad):
            raise ConformanceFailure(
                f"d/d{name}: {target.backend.name}/{target.dtype} autograd {g[bad].tolist()} differs from the SymPy "
                f"derivation {symbolic[name][bad].tolist()}")
        if np.any(ok):
            worst = max(worst, float(np.max(err[ok] / tol[ok])))
    undetached = {n for d in target.accepted.values() for n in d.undetached}
    for name in detached:
        t = inputs.get(name)
        if name in undetached or t is None:  # an absent optional input (e.g. SIREN's anchor at step 1)
            continue
        if t.grad is not None and bool((t.grad != 0).any()):
            raise ConformanceFailure(f"{name} is stop-gradient in the spec but received a nonzero gradient")
    return worst


# --------------------------------------------------------------------------- errors


def _bad_values(domain: Interval | IntRange | Choice) -> list[object]:
    if isinstance(domain, Choice):
        return ["__not_a_choice__"]
    if isinstance(domain, IntRange):
        vals: list[object] = [domain.low - 1]
        if domain.high is not None:
            vals.append(domain.high + 1)
        return vals
    vals = [math.nan]
    if domain.low is not None:
        vals.append(domain.low - 1.0 if domain.low_closed else domain.low)
    if domain.high is not None:
        vals.append(domain.high + 1.0 if domain.high_closed else domain.high)
    return vals


def _expect(target: Target, case: Case, error: type[InputError], argument: str | None, what: str) -> None:
    try:
        _expect_raw(target, case, error, argument, what)
    except ConformanceFailure as exc:
        raise ConformanceFailure(str(exc), case=case,
                                 detail={"expect": error.__name__, "argument": argument, "what": what}) from exc


def _expect_raw(target: Target, case: Case, error: type[InputError], argument: str | None, what: str) -> None:
    spec = target.spec
    ref = get_backend("reference").function(spec)
    for label, fn, inputs in (
        ("reference", ref, dict(case.inputs)),
        (target.backend.name, target.fn, _convert(target, case)),
    ):
        try:
            invoke(fn, spec, inputs, case.params)
        except (ValueError, TypeError) as exc:
            if label != "reference" and target.options.third_party:
                continue  # someone else's code may reject bad input with any ValueError / TypeError
            if not isinstance(exc, InputError):
                raise ConformanceFailure(f"{what}: {label} raised {type(exc).__name__} ({exc}), expected "
                                         f"{error.__name__}") from exc
            if not isinstance(exc, error):
                raise ConformanceFailure(f"{what}: {label} raised {type(exc).__name__} ({exc}), expected "
                                         f"{error.__name__}") from exc
            if argument is not None and exc.argument != argument:
                raise ConformanceFailure(
                    f"{what}: {label}'s error names {exc.argument!r}, expected {argument!r}") from exc
            continue
        except Exception as exc:
            raise ConformanceFailure(f"{what}: {label} raised {type(exc).__name__} ({exc}), expected "
                                     f"{error.__name__}") from exc
        raise ConformanceFailure(f"{what}: {label} raised nothing, expected {error.__name__}")


def check_errors(target: Target, case: Case) -> float:
    """Bad input raises the same project error, naming the argument, on the reference and the backend."""
    spec = target.spec
    if isinstance(_run_reference(spec, case), InputError):
        reject()
    # NaN in every float input
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if x is None or inp.dtype != "float" or np.size(x) == 0:
            continue
        bad = np.array(x, dtype=np.float64, copy=True)
        bad.flat[0] = np.nan
        _expect(target, case.replace(**{inp.name: bad}), InputError, inp.name, f"NaN in {inp.name!r}")
    # every drawn parameter just outside its domain
    for p in spec.params:
        if not p.drawn or p.name in target.options.params:
            continue
        for value in _bad_values(p.domain):
            _expect(target, case.replace(**{p.name: value}), ParameterError, p.name, f"{p.name}={value!r}")
    # a shape mismatch between two inputs sharing a named dimension
    seen: dict[str, str] = {}
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if x is None:
            continue
        for axis_pos, sym in enumerate(inp.shape):
            if sym == "...":
                continue
            if sym in seen and int(case.dims.get(sym, 0)) >= 2:
                # map the symbol position to the array axis (batch dims expand "...")
                axis = axis_pos - len(inp.shape)  # symbols after "..." are counted from the end
                arr = np.asarray(x)
                pad_width = [(0, 0)] * arr.ndim
                pad_width[axis] = (0, 1)
                grown = np.pad(arr, pad_width, mode="edge")
                _expect(target, case.replace(**{inp.name: grown}), ShapeError, None,
                        f"{inp.name!r} with a longer {sym} axis than {seen[sym]!r}")
                return 0.0
            seen.setdefault(sym, inp.name)
    return 0.0


CHECKS: dict[str, Callable[[Target, Case], float]] = {
    "values": check_values,
    "properties": check_properties,
    "gradients": check_gradients,
    "errors": check_errors,
}
