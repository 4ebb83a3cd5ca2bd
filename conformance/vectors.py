"""Golden vectors: committed, self-describing JSON files that a port in any language can check against.

One file per method, ``golden/<family>/<id>.json`` (format described in ``golden/README.md`` and
``golden/schema.json``). Each file carries the method's signature, papers and provenance, the
encoding of ±inf/NaN, and per case the inputs, parameters, float64 reference outputs with their
comparison rule (``exact`` for discrete outputs; ``close``: ``|a - r| <= atol * scale + rtol * |r|``
with the numeric natural scale of that case) and, for differentiable methods, the gradient of
``sum(cotangent * output)`` from the SymPy derivation with the explicit cotangent.

Cases are (a) every :class:`~conformance.cases.Curated` case of the method and (b) a few drawn
cases, chosen from a derandomised pool (a pure function of the spec and the strategies: Hypothesis'
mixing of constants from local source files is switched off) by a greedy cover of *features*:
mutants the case kills, branches it hits, parameters whose change changes the output, parameter
values, ties, ``-inf`` entries, partially masked outputs... Cases whose outputs flip under a
rounding-sized nudge of a sensitive threshold are never drawn.

``write_golden(dir)`` writes the files (``python golden/regenerate.py`` or ``entropy-atlas vectors
export --golden``); ``verify(dir, fn_for)`` checks an implementation against them.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance.backends import Backend, get_backend
from conformance.checks import _nudged_cases, _sympy_gradient, invoke
from conformance.strategies import Case, cases
from spec.errors import InputError
from spec.model import Choice, Interval, IntRange, MethodSpec
from spec.registry import all_specs, get

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "GOLDEN_DIR",
    "VectorResult",
    "allows",
    "decode_array",
    "decode_param",
    "document",
    "dumps",
    "encode_array",
    "encode_param",
    "export",
    "golden_files",
    "select_cases",
    "verify",
    "write_golden",
]

FORMAT = "entropy-atlas golden vectors"
FORMAT_VERSION = 2
#: The committed golden set of a source checkout.
GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"

#: Drawn cases per method (more when a mutant or branch is otherwise left uncovered, at most twice as many).
DRAWN = 8
#: Pool of derandomised draws the drawn cases are chosen from.
POOL = 120
#: Draws whose parameters are also moved into the interior of their domains (see draw_pool).
VARIANTS = 30

ENCODING = {
    "numbers": "JSON numbers are IEEE-754 binary64 values written in the shortest form that round-trips "
               "(parse them as float64 for float dtypes, as integers for int dtypes)",
    "non_finite": "inside float arrays and float parameters the strings \"inf\", \"-inf\" and \"nan\" stand for "
                  "+infinity, -infinity and NaN",
    "arrays": "{dtype, shape, data}: data is nested lists in row-major (C) order matching shape; a 0-d array's "
              "data is a bare scalar; dtype is a NumPy name (float64, int64, bool)",
    "absent_inputs": "an optional input that is not passed is null",
    "params": "{type, value} with type float | int | bool | str | null; pass every listed parameter by name "
              "(positional ones in the order of the signature)",
}
COMPARISON = {
    "exact": "every element equal (discrete outputs: indices, masks, token ids)",
    "close": "elementwise |a - r| <= atol * scale + rtol * |r|, where r is the stored value and scale the case's "
             "natural scale of the output; an infinite r must be matched by the same infinity and a NaN r by NaN",
    "raises": "the implementation must reject the call (raise / return an error), with the error kind named",
}
GRADIENT_RULE = {"atol": 1e-8, "rtol": 1e-7}
GRADIENT_SCALE = "max(1, largest finite |differentiable input|) * max(1, max |cotangent|)"

# feature weights of the greedy case cover (see select_cases)
_WEIGHTS = {"mutant": 16.0, "branch": 8.0, "cut_mid": 4.0, "tie_at_cut": 4.0, "param": 3.0, "value": 2.0,
            "gradient": 2.0, "combo": 0.5}
# how different a nudged / perturbed output must be to count as different: discrete flips, not rounding
_LOOSE = {"atol": 1e-6, "rtol": 1e-6}


# --------------------------------------------------------------------------- encoding


def _enc_scalar(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def _enc_nested(a: npt.NDArray[Any]) -> Any:
    if a.ndim == 0:
        return _enc_scalar(a[()])
    return [_enc_nested(x) for x in a]


def encode_array(x: Any) -> dict[str, Any]:
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.int64)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": _enc_nested(a)}


def _dec(v: Any) -> Any:
    if isinstance(v, list):
        return [_dec(i) for i in v]
    if isinstance(v, str):
        return float(v)
    return v


def decode_array(obj: Mapping[str, Any]) -> npt.NDArray[Any]:
    a = np.asarray(_dec(obj["data"]), dtype=obj["dtype"])
    return a.reshape(tuple(obj["shape"]))


def encode_param(v: Any) -> dict[str, Any]:
    if v is None:
        return {"type": "null", "value": None}
    if isinstance(v, (bool, np.bool_)):
        return {"type": "bool", "value": bool(v)}
    if isinstance(v, (int, np.integer)):
        return {"type": "int", "value": int(v)}
    if isinstance(v, (float, np.floating)):
        return {"type": "float", "value": _enc_scalar(v)}
    if isinstance(v, str):
        return {"type": "str", "value": v}
    raise TypeError(f"cannot encode parameter value {v!r}")


def decode_param(obj: Mapping[str, Any]) -> Any:
    kind, value = obj["type"], obj["value"]
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return value


def dumps(doc: Any) -> str:
    """Deterministic JSON text: objects indented, arrays of numbers on one line."""

    def flat(x: Any) -> bool:
        return not isinstance(x, dict) and (not isinstance(x, list) or all(flat(i) for i in x))

    def fmt(x: Any, level: int) -> str:
        pad, inner = " " * level, " " * (level + 1)
        if isinstance(x, dict) and x:
            items = [f"{inner}{json.dumps(k)}: {fmt(v, level + 1)}" for k, v in x.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(x, list) and x and not flat(x):
            return "[\n" + ",\n".join(inner + fmt(v, level + 1) for v in x) + "\n" + pad + "]"
        return json.dumps(x, ensure_ascii=False, allow_nan=False)

    return fmt(doc, 0) + "\n"


# --------------------------------------------------------------------------- comparison rules


def allows(rule: Mapping[str, Any], actual: Any, expected: Any) -> npt.NDArray[np.bool_]:
    """Elementwise: does ``actual`` satisfy ``rule`` against the stored ``expected``? (shapes must agree)"""
    e = np.asarray(expected)
    a = np.asarray(actual)
    if rule["rule"] == "exact":
        if np.issubdtype(e.dtype, np.floating):
            return np.asarray((a == e) | (np.isnan(a.astype(np.float64)) & np.isnan(e)))
        return np.asarray(a == e)
    af, ef = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        tol = float(rule["atol"]) * float(rule["scale"]) + float(rule["rtol"]) * np.abs(ef)
        close = np.abs(af - ef) <= tol
    return np.asarray(np.where(np.isfinite(ef), close, (af == ef) | (np.isnan(af) & np.isnan(ef))))


def _mismatch(rule: Mapping[str, Any], actual: Any, expected: npt.NDArray[Any]) -> str | None:
    a = np.asarray(actual)
    if a.shape != expected.shape:
        return f"shape {list(a.shape)}, expected {list(expected.shape)}"
    ok = allows(rule, a, expected)
    if np.all(ok):
        return None
    bad = np.flatnonzero(~ok.ravel())[:5]
    text = f"at flat index {bad.tolist()}: got {a.ravel()[bad].tolist()}, expected {expected.ravel()[bad].tolist()}"
    if rule["rule"] == "close":
        text += f" (atol={rule['atol']:.3g} x scale {rule['scale']:.6g}, rtol={rule['rtol']:.3g})"
    return text + (" (exact)" if rule["rule"] == "exact" else "")


def _output_rule(spec: MethodSpec, k: int, case: Case, value: npt.NDArray[Any]) -> dict[str, Any]:
    out = spec.outputs[k] if k < len(spec.outputs) else None
    if (out is not None and out.discrete) or not np.issubdtype(value.dtype, np.floating):
        return {"rule": "exact"}
    budget = spec.tolerance["float64"]
    scale = out.scale(case.inputs, case.params) if out is not None else 1.0
    return {"rule": "close", "atol": budget.atol, "rtol": budget.rtol, "scale": float(scale),
            "scale_is": out.scale.describe if out is not None else "1"}


def _loose(rule: Mapping[str, Any]) -> dict[str, Any]:
    return dict(rule) if rule["rule"] == "exact" else {**rule, **_LOOSE}


# --------------------------------------------------------------------------- deterministic draws


def _provider() -> type[Any]:
    """Hypothesis' provider without the constants it mines from local source files (which would make
    the draws depend on unrelated code); global constants (edge values) are kept."""
    from hypothesis.internal.conjecture.choice import choice_permitted
    from hypothesis.internal.conjecture.providers import GLOBAL_CONSTANTS, HypothesisProvider

    class Provider(HypothesisProvider):
        def _maybe_draw_constant(self, choice_type: Any, constraints: Any, *, p: float = 0.05) -> Any:
            rnd = self._random
            assert rnd is not None
            if rnd.random() > p:
                return None
            pool = [c for c in GLOBAL_CONSTANTS.set_for_type(choice_type) if choice_permitted(c, constraints)]
            return rnd.choice(pool) if pool else None

    return Provider


def draw_pool(spec: MethodSpec, size: int = POOL, *, variants: int = VARIANTS) -> list[tuple[str, Case]]:
    """``(label, case)`` of the valid, distinct float64 draws ``0 .. size-1`` of the method's case strategy
    (``small=True``; draw ``i`` is seeded with ``"<id>:<i>"`` only), followed by variants of the first ``variants``
    of them with one parameter moved into the interior of its domain (bounded float parameters at 0.3, 0.6 and
    0.85 of their range; integer parameters at their three smallest values), so thresholds that cut in the middle
    of a distribution are in the pool even when the draws put them on the edges."""
    from hypothesis.control import BuildContext
    from hypothesis.errors import HypothesisException, StopTest, UnsatisfiedAssumption
    from hypothesis.internal.conjecture.data import ConjectureData

    provider = _provider()
    strategy = cases(spec, "float64", small=True)
    drawn: list[tuple[str, Case]] = []
    for i in range(size):
        data = ConjectureData(random=Random(f"{spec.id}:{i}"), provider=provider)
        with BuildContext(data, wrapped_test=lambda: None):
            try:
                case: Case = data.draw(strategy)
            except (StopTest, UnsatisfiedAssumption, HypothesisException):
                continue
        drawn.append((f"{spec.id}:{i}", case))
    extra: list[tuple[str, Case]] = []
    for label, case in drawn[:variants]:
        for p in spec.params:
            if p.name not in case.params or not p.drawn:
                continue
            for v in _interior(p):
                if v != case.params[p.name]:
                    extra.append((f"{label} with {p.name}={v!r}", case.replace(**{p.name: v})))
    ref = get_backend("reference").function(spec)
    seen: set[str] = set()
    pool: list[tuple[str, Case]] = []
    for label, case in drawn + extra:
        key = _key(case)
        if key in seen:
            continue
        seen.add(key)
        try:
            _quiet(invoke, ref, spec, case.inputs, case.params)
        except InputError:
            continue
        pool.append((label, case))
    return pool


def _interior(p: Any) -> list[Any]:
    dom = p.domain
    if isinstance(dom, Interval) and dom.low is not None and dom.high is not None:
        return [x for x in (dom.low + f * (dom.high - dom.low) for f in (0.3, 0.6, 0.85)) if dom.contains(x)]
    if isinstance(dom, IntRange):
        return [x for x in (dom.low, dom.low + 1, dom.low + 2) if dom.contains(x)]
    return []


def _key(case: Case) -> str:
    return json.dumps([{k: None if v is None else encode_array(v) for k, v in case.inputs.items()},
                       {k: encode_param(v) for k, v in case.params.items()}], sort_keys=True)


def _quiet(fn: Callable[..., Any], *args: Any) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


def _reference(spec: MethodSpec, case: Case) -> tuple[npt.NDArray[Any], ...]:
    ref = get_backend("reference").function(spec)
    return tuple(np.asarray(o) for o in _quiet(invoke, ref, spec, case.inputs, case.params))


def _rules(spec: MethodSpec, case: Case, outs: tuple[npt.NDArray[Any], ...]) -> list[dict[str, Any]]:
    return [_output_rule(spec, k, case, o) for k, o in enumerate(outs)]


def _differs(spec: MethodSpec, case: Case, outs: tuple[npt.NDArray[Any], ...], rules: list[dict[str, Any]],
             fn: Callable[..., Any] | None = None, *, loose: bool = False) -> bool | None:
    """Whether ``fn`` (default: the reference) on ``case`` fails the stored ``outs`` (None: it raised an InputError
    and ``fn`` is the reference, i.e. the case is invalid)."""
    back = get_backend("numpy")
    try:
        if fn is None:
            got = _reference(spec, case)
        else:
            args = {k: back.asarray(v, "float64") for k, v in case.inputs.items()}
            got = tuple(back.to_numpy(g) for g in _quiet(invoke, fn, spec, args, case.params))
    except InputError:
        if fn is None:
            return None
        return True
    except Exception:  # a mutant that crashes on a valid input fails verify
        return True
    if len(got) != len(outs):
        return True
    for g, e, rule in zip(got, outs, rules, strict=True):
        if _mismatch(_loose(rule) if loose else rule, g, e) is not None:
            return True
    return False


# --------------------------------------------------------------------------- case selection


@dataclass(eq=False)
class _Candidate:
    case: Case
    outputs: tuple[npt.NDArray[Any], ...]
    rules: list[dict[str, Any]]
    features: frozenset[str]
    size: int
    draw: int
    label: str = ""
    name: str = ""
    why: str = ""
    expected: Mapping[str, Any] | None = None
    raises: str | None = None
    selected_for: list[str] = field(default_factory=list)


def _perturbed(p: Any, v: Any) -> list[Any]:
    dom = p.domain
    out: list[Any] = []
    if isinstance(dom, Choice):
        out = [c for c in dom.values if not (c == v and type(c) is type(v))]
    elif isinstance(v, (bool, np.bool_)) or v is None:
        out = []
    elif isinstance(dom, IntRange) and isinstance(v, (int, np.integer)):
        out = [int(v) + 1, int(v) - 1]
    elif isinstance(dom, Interval) and isinstance(v, (int, float, np.floating)) and math.isfinite(float(v)):
        f = float(v)
        out = [f * 1.1 + 0.01, f * 0.9 - 0.01]
    return [x for x in out if p.domain.contains(x)]


def _features(spec: MethodSpec, case: Case, outs: tuple[npt.NDArray[Any], ...], rules: list[dict[str, Any]],
              mutants: Iterable[Any]) -> set[str]:
    feats: set[str] = set()
    for m in mutants:
        if _differs(spec, case, outs, rules, m.fn):
            feats.add(f"mutant:{m.name}")
    for b in spec.branches:
        try:
            if _quiet(b.hit, case.inputs, case.params, outs):
                feats.add(f"branch:{b.name}")
        except Exception:  # a branch predicate that does not apply to this case
            continue
    for p in spec.params:
        if p.name not in case.params:
            continue
        v = case.params[p.name]
        if isinstance(p.domain, Choice) or isinstance(v, (bool, np.bool_)) or v is None:
            feats.add(f"value:{p.name}={v!r}")
        for w in _perturbed(p, v):
            if _differs(spec, case.replace(**{p.name: w}), outs, rules, loose=True):
                feats.add(f"param:{p.name}")
                break
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if inp.optional:
            feats.add(f"input:{inp.name}:{'absent' if x is None else 'present'}")
        if x is None:
            continue
        a = np.asarray(x)
        if inp.dtype == "float" and a.size:
            af = a.astype(np.float64)
            if np.any(np.isneginf(af)):
                feats.add(f"neg_inf:{inp.name}")
            rows = af.reshape(-1, af.shape[-1]) if af.ndim else af.reshape(1, 1)
            if any(len(set(r[np.isfinite(r)].tolist())) < int(np.isfinite(r).sum()) for r in rows):
                feats.add(f"tie:{inp.name}")
        elif inp.dtype == "bool" and a.size and np.any(a) and not np.all(a):
            feats.add(f"mixed:{inp.name}")
    for k, o in enumerate(outs):
        name = spec.outputs[k].name if k < len(spec.outputs) else str(k)
        if np.issubdtype(o.dtype, np.floating):
            fin = o[np.isfinite(o)]
            if fin.size and fin.size < o.size:
                feats.add(f"out_partly_infinite:{name}")
            if np.any(fin != 0):
                feats.add(f"out_nonzero:{name}")
            if np.unique(fin).size > 1:
                feats.add(f"out_varied:{name}")
        elif np.unique(o).size > 1:
            feats.add(f"out_varied:{name}")
        feats |= _cut_features(spec, case, o, name)
    choices = [f"{p.name}={case.params[p.name]!r}" for p in spec.params
               if isinstance(p.domain, Choice) and p.name in case.params]
    structural = [f for f in feats if f.split(":", 1)[0] in ("cut_mid", "tie_at_cut", "tie", "neg_inf", "mixed")]
    feats |= {f"combo:{f}|{c}" for f in structural for c in choices}
    return feats


def _cut_features(spec: MethodSpec, case: Case, o: npt.NDArray[Any], name: str) -> set[str]:
    """Truncation-like outputs (same shape as a float input, entries either that input's value or -inf): a cut in
    the middle of a row (>= 2 kept, >= 1 removed), and a tie straddling the cut (a kept value equal to a removed
    one). Off-by-one and wrong-side-of-a-comparison bugs at a cut need exactly these cases."""
    feats: set[str] = set()
    if not np.issubdtype(o.dtype, np.floating) or o.ndim == 0 or o.size == 0:
        return feats
    for inp in spec.inputs:
        x = case.inputs.get(inp.name)
        if x is None or inp.dtype != "float" or np.shape(x) != o.shape:
            continue
        xf = np.asarray(x, dtype=np.float64)
        if not np.all((o == xf) | np.isneginf(o)):
            continue
        for xr, orow in zip(xf.reshape(-1, xf.shape[-1]), o.reshape(-1, o.shape[-1]), strict=True):
            kept = np.isfinite(orow)
            removed = np.isfinite(xr) & ~kept
            if kept.sum() >= 2 and removed.any():
                feats.add(f"cut_mid:{name}")
            if kept.any() and removed.any() and set(xr[kept].tolist()) & set(xr[removed].tolist()):
                feats.add(f"tie_at_cut:{name}")
    return feats


def _stable(spec: MethodSpec, case: Case, outs: tuple[npt.NDArray[Any], ...], rules: list[dict[str, Any]]) -> bool:
    """The outputs do not flip when a sensitive threshold moves by a rounding-sized nudge."""
    return not any(_differs(spec, variant, outs, rules, loose=True) for variant in _nudged_cases(spec, case, "float64"))


def _kink_free(spec: MethodSpec, case: Case) -> bool:
    """One-sided finite differences agree at every finite element of every differentiated input where both
    perturbations are valid inputs (no kink or discrete flip within 1e-6): the gradient is well defined."""
    if spec.derivation is None:
        return False
    ref = get_backend("reference").function(spec)
    base = _reference(spec, case)[0].astype(np.float64)
    w = _cotangent(base.shape)

    def f(name: str, xv: npt.NDArray[np.float64]) -> float | None:
        try:
            out = _quiet(invoke, ref, spec, {**case.inputs, name: xv}, case.params)[0]
        except InputError:
            return None
        return float(np.sum(np.asarray(out, dtype=np.float64) * w))

    f0 = float(np.sum(base * w))
    if not math.isfinite(f0):
        return False
    for name in spec.derivation.wrt:
        x = np.asarray(case.inputs[name], dtype=np.float64)
        for j in range(x.size):
            if not np.isfinite(x.flat[j]):
                continue
            h = 1e-6 * max(1.0, abs(float(x.flat[j])))
            plus, minus = x.copy(), x.copy()
            plus.flat[j] += h
            minus.flat[j] -= h
            fp, fm = f(name, plus), f(name, minus)
            if fp is None or fm is None:
                continue  # the perturbed input is invalid (e.g. off the simplex): no evidence either way
            right, left = (fp - f0) / h, (f0 - fm) / h
            if not abs(right - left) <= 1e-3 * max(1.0, abs(right), abs(left)):
                return False
    return True


def _cotangent(shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    """A fixed, non-uniform cotangent (1, 0.75, 0.5, 0.25, 1, ...) in row-major order: exact binary fractions, so
    a port can type it in; non-uniform so that a gradient summed over the wrong elements is caught."""
    n = int(np.prod(shape)) if shape else 1
    return np.asarray([1.0 - 0.25 * (j % 4) for j in range(n)], dtype=np.float64).reshape(shape)


def _numpy_mutants(method_id: str) -> list[Any]:
    from conformance.mutants import mutants_for

    return [m for m in mutants_for(method_id) if m.backend == "numpy" and "float64" in m.dtypes]


def _as_case(spec: MethodSpec, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Case:
    kinds = {"float": np.float64, "int": np.int64, "bool": np.bool_}
    conv: dict[str, Any] = {}
    for inp in spec.inputs:
        v = inputs.get(inp.name)
        if v is None:
            conv[inp.name] = None
            continue
        a = np.asarray(v)
        # keep float arrays float even where the spec's dtype is int (cross_entropy's soft targets)
        conv[inp.name] = a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a.astype(kinds[inp.dtype])
    return Case(conv, dict(params))


def _curated(spec: MethodSpec, mutants: list[Any]) -> list[_Candidate]:
    from conformance.cases import curated_for

    found: list[_Candidate] = []
    for c in curated_for(spec.id):
        case = _as_case(spec, c.inputs, c.params)
        size = sum(int(np.size(v)) for v in case.inputs.values() if v is not None)
        try:
            outs = _reference(spec, case)
        except InputError as exc:
            found.append(_Candidate(case, (), [], frozenset(), size, -1, name=c.name, why=c.why, expected=c.expected,
                                    raises=type(exc).__name__))
            continue
        rules = _rules(spec, case, outs)
        if c.expected:
            names = [o.name for o in spec.outputs]
            for key, value in c.expected.items():
                k = names.index(key)
                problem = _mismatch(rules[k], outs[k], np.asarray(value, dtype=outs[k].dtype))
                if problem is not None:
                    raise AssertionError(f"{spec.id} curated case {c.name!r}: the float64 reference disagrees with the "
                                         f"hand-derived expected {key}: {problem}")
        feats = frozenset(_features(spec, case, outs, rules, mutants))
        found.append(_Candidate(case, outs, rules, feats, size, -1, name=c.name, why=c.why, expected=c.expected))
    return found


def _weight(feature: str) -> float:
    return _WEIGHTS.get(feature.split(":", 1)[0], 1.0)


def select_cases(spec: MethodSpec, count: int = DRAWN, *, pool_size: int = POOL) -> list[_Candidate]:
    """The curated cases, then up to ``count`` drawn cases (up to ``2 * count`` while a mutant or branch reachable
    in the pool is still uncovered), chosen greedily: each pick maximises the weight of the features no chosen case
    has yet (mutants killed 16, branches hit 8, parameters that matter 3, parameter values and a well-defined
    gradient 2, ties / -inf / mixed masks / partly infinite or varied outputs 1), then the weight of rarely covered
    features, then fewer elements, then the earlier draw."""
    mutants = _numpy_mutants(spec.id)
    chosen = _curated(spec, mutants)
    covered: Counter[str] = Counter(f for c in chosen for f in c.features)
    pool: list[_Candidate] = []
    for draw, (label, case) in enumerate(draw_pool(spec, pool_size)):
        outs = _reference(spec, case)
        rules = _rules(spec, case, outs)
        feats = _features(spec, case, outs, rules, mutants)
        size = sum(int(np.size(v)) for v in case.inputs.values() if v is not None)
        pool.append(_Candidate(case, outs, rules, frozenset(feats), size, draw, label))
    gradable: dict[int, bool] = {}
    picked = 0
    while pool and picked < 2 * count:
        must = {f for c in pool for f in c.features if f.split(":", 1)[0] in ("mutant", "branch") and not covered[f]}
        if picked >= count and not must:
            break

        def key(c: _Candidate) -> tuple[float, float, int, int]:
            feats = sorted(c.features)  # a fixed summation order: set order varies with PYTHONHASHSEED
            new = sum(_weight(f) for f in feats if not covered[f])
            rare = sum(_weight(f) / (1 + covered[f]) for f in feats)
            return (new, rare, -c.size, -c.draw)

        # gradients are checked for the best few only (finite differences of the reference)
        ranked = sorted(pool, key=key, reverse=True)
        if spec.derivation is not None and not covered["gradient:defined"]:
            for c in ranked[:8]:
                if c.draw not in gradable:
                    gradable[c.draw] = _kink_free(spec, c.case)
                    if gradable[c.draw]:
                        c.features = c.features | {"gradient:defined"}
            ranked = sorted(pool, key=key, reverse=True)
        unstable = [c for c in ranked[:1] if not _stable(spec, c.case, c.outputs, c.rules)]
        if unstable:  # checked lazily (nudging every candidate is slow): drop it and rank again
            pool.remove(unstable[0])
            continue
        best = ranked[0]
        best.selected_for = sorted(f for f in best.features if not covered[f])
        pool.remove(best)
        covered.update(best.features)
        best.name = f"drawn-{picked + 1:02d}"
        chosen.append(best)
        picked += 1
    return chosen


# --------------------------------------------------------------------------- documents


def _calling(spec: MethodSpec) -> dict[str, Any]:
    return {
        "positional": [i.name for i in spec.inputs if i.positional and not i.optional]
        + [p.name for p in spec.params if p.positional],
        "keyword": [i.name for i in spec.inputs if not (i.positional and not i.optional)]
        + [p.name for p in spec.params if not p.positional],
    }


def _case_record(spec: MethodSpec, c: _Candidate, *, gradients: bool) -> dict[str, Any]:
    if c.draw < 0:
        origin: dict[str, Any] = {"kind": "curated", "why": c.why}
        if c.expected:
            values = "float64 reference; agrees with the hand-derived expected values of the curated case " \
                     f"({', '.join(sorted(c.expected))})"
        else:
            values = "float64 reference (inputs written by hand; no hand-derived expected values)"
    else:
        origin = {"kind": "drawn", "draw": c.label, "selected_for": c.selected_for}
        values = "float64 reference"
    record: dict[str, Any] = {
        "name": c.name,
        "origin": origin,
        "inputs": {k: None if v is None else encode_array(v) for k, v in c.case.inputs.items()},
        "params": {k: encode_param(v) for k, v in c.case.params.items()},
    }
    if c.raises is not None:
        record["raises"] = c.raises
        record["values"] = "the float64 reference rejects this call"
        return record
    names = [o.name for o in spec.outputs]
    record["outputs"] = [
        {"name": names[k] if k < len(names) else f"output{k}", **encode_array(o), "compare": c.rules[k]}
        for k, o in enumerate(c.outputs)
    ]
    record["values"] = values
    if gradients and spec.derivation is not None:
        record["gradients"] = _gradient_record(spec, c)
    return record


def _gradient_record(spec: MethodSpec, c: _Candidate) -> dict[str, Any]:
    assert spec.derivation is not None
    first = spec.outputs[0].name
    if not _kink_free(spec, c.case):
        return {"omitted": "a kink or a discrete selection flip lies within 1e-6 of an input (one-sided finite "
                           f"differences of the reference disagree): d{first} is not defined here"}
    cot = _cotangent(c.outputs[0].shape)
    grads = _quiet(_sympy_gradient, spec, c.case, cot)
    if not all(np.all(np.isfinite(grads[name])) for name in spec.derivation.wrt):
        return {"omitted": f"the SymPy gradient of {first} is not finite here (an input on the edge of the domain, "
                           "e.g. a zero probability)"}
    scale = 1.0
    for name in spec.derivation.wrt:
        a = np.asarray(c.case.inputs[name], dtype=np.float64)
        fin = a[np.isfinite(a)]
        if fin.size:
            scale = max(scale, float(np.max(np.abs(fin))))
    scale *= max(1.0, float(np.max(np.abs(cot), initial=0.0)))
    return {
        "of": f"sum(cotangent * {first})",
        "source": "SymPy derivation of the spec (spec.derivation), evaluated in float64; independent of the "
                  "reference and accelerated code",
        "cotangent": encode_array(cot),
        "wrt": {name: encode_array(grads[name]) for name in spec.derivation.wrt},
        "compare": {"rule": "close", **GRADIENT_RULE, "scale": scale, "scale_is": GRADIENT_SCALE},
    }


def document(spec: MethodSpec, count: int = DRAWN, *, gradients: bool = True) -> dict[str, Any]:
    """The golden document of ``spec`` (``gradients=False`` leaves the SymPy gradients out)."""
    chosen = select_cases(spec, count)
    summary = spec.to_json()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": spec.id,
        "family": spec.family,
        "kind": spec.kind,
        "summary": spec.summary,
        "signature": spec.signature(),
        "calling": _calling(spec),
        "papers": summary["papers"],
        "provenance": summary["provenance"],
        "inputs": summary["inputs"],
        "params": summary["params"],
        "outputs": summary["outputs"],
        "encoding": ENCODING,
        "comparison": COMPARISON,
        "tolerance": summary["tolerance"],
        "spec": summary,
        "values": "outputs: the float64 NumPy reference (reference/); curated expected values are hand-derived and "
                  "checked against it; gradients: the SymPy derivation. Drawn cases: derandomised draws of the "
                  "conformance strategies chosen to kill every mutant, hit every branch and vary every parameter.",
        "generated_by": "python golden/regenerate.py (entropy-atlas vectors export --golden)",
        "cases": [_case_record(spec, c, gradients=gradients) for c in chosen],
    }


def golden_files(directory: str | Path) -> list[Path]:
    """The golden documents below ``directory`` (``<family>/<id>.json``; also flat ``<id>.json``)."""
    root = Path(directory)
    return sorted(p for p in root.rglob("*.json") if p.name != "schema.json")


def write_golden(directory: str | Path = GOLDEN_DIR, method_ids: Iterable[str] | None = None, *,
                 count: int = DRAWN, gradients: bool = True, prune: bool | None = None,
                 flat: bool = False) -> list[Path]:
    """Write ``<directory>/<family>/<id>.json`` (``flat``: ``<directory>/<id>.json``) for the selected methods
    (all by default). With every method (and ``prune`` not False), files of ids no longer registered are removed."""
    out = Path(directory)
    ids = list(method_ids) if method_ids else None
    specs = [get(m) for m in ids] if ids else list(all_specs())
    written: list[Path] = []
    for spec in specs:
        path = out / f"{spec.id}.json" if flat else out / spec.family / f"{spec.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = dumps(document(spec, count, gradients=gradients))
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    if ids is None and prune is not False:
        keep = set(written)
        for stale in golden_files(out):
            if stale not in keep and stale.parent != out:
                stale.unlink()
    return written


def export(directory: str | Path, method_ids: Iterable[str] | None = None, *, count: int = DRAWN) -> list[Path]:
    """Golden files for the selected methods into ``directory``, one ``<id>.json`` each (see :func:`write_golden`;
    the committed set lives in family folders)."""
    return write_golden(directory, method_ids, count=count, prune=False, flat=True)


# --------------------------------------------------------------------------- verification


@dataclass
class VectorResult:
    method: str
    cases: int
    failures: list[str]
    gradients_checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures


def _check_gradients(fn: Callable[..., Any], spec: MethodSpec, back: Backend, dtype: str,
                     record: Mapping[str, Any], inputs: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    g = record["gradients"]
    torch = __import__("torch")
    wrt = list(g["wrt"])
    tensors = {k: None if v is None else back.asarray(v, dtype, requires_grad=k in wrt) for k, v in inputs.items()}
    out = invoke(fn, spec, tensors, params)[0]
    cot = torch.as_tensor(decode_array(g["cotangent"]), dtype=out.dtype, device=out.device)
    rule = g["compare"] if dtype == "float64" else {**g["compare"], "atol": 10 * spec.tolerance[dtype].atol,
                                                     "rtol": 10 * spec.tolerance[dtype].rtol}
    if not out.requires_grad:
        zero = all(not np.any(decode_array(g["wrt"][k])) for k in wrt)
        return None if zero else "the output does not require grad although the stored gradient is nonzero"
    (out * cot).sum().backward()
    for k in wrt:
        t: Any = tensors[k]
        got = np.zeros(decode_array(g["wrt"][k]).shape) if t.grad is None else back.to_numpy(t.grad)
        problem = _mismatch(rule, got, decode_array(g["wrt"][k]))
        if problem is not None:
            return f"d/d{k}: {problem}"
    return None


def verify(directory: str | Path, fn_for: Callable[[MethodSpec], Callable[..., Any]] | None = None, *,
           backend: str = "numpy", dtype: str = "float64", method_ids: Iterable[str] | None = None,
           gradients: bool = True) -> list[VectorResult]:
    """Check an implementation against the golden files below ``directory``, with each file's stated rules.

    ``fn_for(spec)`` returns the function to check (default: our accelerated version on ``backend``, the
    reference when ``backend == "reference"``); it receives ``backend`` arrays of ``dtype``. At float64 every
    output is compared with its case's stored rule; at a lower precision the ``close`` rules use the file's
    tolerance for that dtype (same scale). Gradients are checked on Torch backends (autograd) when ``gradients``.
    A case stored with ``raises`` passes when the implementation raises.
    """
    back: Backend = get_backend(backend)
    results: list[VectorResult] = []
    wanted = set(method_ids) if method_ids else None
    for path in golden_files(directory):
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            continue
        if wanted is not None and doc["method"] not in wanted:
            continue
        spec = get(doc["method"])
        fn = fn_for(spec) if fn_for is not None else back.function(spec)
        tol = doc["tolerance"].get(dtype)
        failures: list[str] = []
        grads = 0
        for record in doc["cases"]:
            label = f"case {record['name']!r}"
            raw = {k: None if v is None else decode_array(v) for k, v in record["inputs"].items()}
            inputs = {k: None if v is None else back.asarray(v, dtype) for k, v in raw.items()}
            params = {k: decode_param(v) for k, v in record["params"].items()}
            try:
                got = invoke(fn, spec, inputs, params)
            except Exception as exc:
                if "raises" not in record:
                    failures.append(f"{label}: raised {type(exc).__name__}: {exc}")
                continue
            if "raises" in record:
                failures.append(f"{label}: returned a value; expected {record['raises']}")
                continue
            if len(got) != len(record["outputs"]):
                failures.append(f"{label}: {len(got)} outputs, expected {len(record['outputs'])}")
                continue
            for g, expected in zip(got, record["outputs"], strict=True):
                rule = expected["compare"]
                if rule["rule"] == "close" and dtype != "float64" and tol is not None:
                    rule = {**rule, "atol": tol["atol"], "rtol": tol["rtol"]}
                problem = _mismatch(rule, back.to_numpy(g), decode_array(expected))
                if problem is not None:
                    failures.append(f"{label} output {expected['name']}: {problem}")
            g_rec = record.get("gradients")
            if gradients and g_rec and "wrt" in g_rec and back.library == "torch":
                problem = _check_gradients(fn, spec, back, dtype, record, raw, params)
                grads += 1
                if problem is not None:
                    failures.append(f"{label} gradient: {problem}")
        results.append(VectorResult(spec.id, len(doc["cases"]), failures, grads))
    return results
