"""The method contract as data: :class:`MethodSpec` and the pieces it is made of.

A spec says *what* a method is — inputs and their domains, parameters with defaults and ranges,
outputs (continuous or discrete), properties, per-dtype error budgets, provenance and, for
differentiable methods, a SymPy derivation. It never says *how* to compute it fast; that is
``accelerated``. The conformance harness reads these specs to draw inputs, compare backends and
check gradients and properties, so every field here is used by a machine, not only by readers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NoReturn

import numpy as np
import numpy.typing as npt

__all__ = [
    "DTYPES",
    "INPUT_KINDS",
    "UNIT_SCALE",
    "Branch",
    "Budget",
    "Choice",
    "Confidence",
    "Derivation",
    "Difference",
    "Domain",
    "InputSpec",
    "IntRange",
    "Interval",
    "MethodSpec",
    "NotApplicable",
    "OutputSpec",
    "Paper",
    "ParamSpec",
    "Property",
    "PropertyContext",
    "Provenance",
    "Scale",
    "SymbolicProblem",
    "default_tolerance",
]

FloatArray = npt.NDArray[np.float64]

#: Floating dtypes a conformance run may use, by name (NumPy has no bfloat16: Torch carries it).
DTYPES: tuple[str, ...] = ("float64", "float32", "bfloat16", "float16")

Confidence = Literal["verified-code", "paper", "inferred", "standard", "peer"]

#: Input kinds understood by ``conformance.strategies``. Each names a value distribution and its
#: edge cases; shapes come from :attr:`InputSpec.shape`.
INPUT_KINDS: dict[str, str] = {
    "logits": "real scores; ties, -inf entries (never a whole row) and large magnitudes",
    "probs": "probability vectors on the simplex, with exact zeros",
    "log_probs": "per-token log-probabilities (<= 0), e.g. of sampled tokens",
    "values": "real values of moderate magnitude (per-token losses, advantages)",
    "advantages": "real advantages (may be exactly 0, repeated or of either sign)",
    "rewards": "real scalar rewards per response, with repeats",
    "mask": "boolean masks, including all-false rows and all-false batches",
    "group_ids": "integer group labels of responses, groups of varying size",
    "class_index": "integer class indices in [0, V) with ignore_index entries",
    "uniforms": "uniform draws in [0, 1), including 0 and values just below 1",
    "priority": "random priority keys in [0, 1) (random selection as an input)",
    "weights": "non-negative per-class weights",
    "samples": "sample matrices (N, D) of dyadic values: duplicated rows, rank-deficient, near-isotropic, "
               "identical rows, zero rows and rescaled sets",
    "kernel": "symmetric PSD kernel matrices (N, N) with unit diagonal: identity, all-ones, block-diagonal, "
              "cosine and Gaussian Gram matrices and their mixtures",
}


# --------------------------------------------------------------------------- provenance


@dataclass(frozen=True)
class Paper:
    """A source paper (or, for peer semantics, the peer library and version)."""

    title: str
    year: int
    arxiv: str | None = None
    url: str | None = None

    def cite(self) -> str:
        tail = f", arXiv:{self.arxiv}" if self.arxiv else ""
        return f"{self.title} ({self.year}{tail})"


#: The other form of a difference as outputs: ``other(reference, inputs, params)`` calls the reference
#: function (``reference(inputs, params) -> tuple of outputs``) however the other form needs (another
#: parameter, transformed inputs) and post-processes its outputs; it returns ``None`` where the other form
#: coincides with ours on this case.
OtherForm = Callable[[Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[Any, ...]], Mapping[str, Any],
                      Mapping[str, Any]], "tuple[Any, ...] | None"]

#: The other form as a relation: ``accepts(inputs, params, ours, got)`` says whether outputs ``got``
#: (NumPy, float64) are an instance of the other form given our reference outputs ``ours`` (for rules whose
#: other form is a set of answers, e.g. any order among tied tokens).
Acceptance = Callable[[Mapping[str, Any], Mapping[str, Any], tuple[Any, ...], tuple[Any, ...]], bool]


@dataclass(frozen=True)
class Difference:
    """A place where official code, paper or peers disagree, and which one we follow.

    ``name`` names the *other* form as a convention (``<method id>:<name>`` on the command line, e.g.
    ``cross_entropy:all_ignored_nan``); ``entropy-atlas check --accept NAME`` compares an implementation
    against it instead of failing. It is executable in one of three ways: ``params`` (the other form is our
    reference with these parameters — the ``flag`` parameter set to the other value), ``other`` (a function
    computing its outputs, see :data:`OtherForm`) or ``accepts`` (a relation, see :data:`Acceptance`).
    ``breaks`` lists the spec's properties that the other form does not satisfy (they are not checked
    while the convention is accepted); ``undetached`` the stop-gradient inputs that the other form lets
    gradients flow into (values unchanged: ``other`` then returns None).
    """

    topic: str
    paper: str
    code: str
    default: Literal["paper", "code", "peer"]
    flag: str | None = None  # the parameter that selects the other form, if any
    name: str = ""
    params: Mapping[str, object] | None = None
    other: OtherForm | None = None
    accepts: Acceptance | None = None
    breaks: tuple[str, ...] = ()
    undetached: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:  # every documented difference is a named convention (its topic, slugged)
            object.__setattr__(self, "name", "_".join(re.findall(r"[a-z0-9]+", self.topic.lower())))

    @property
    def executable(self) -> bool:
        return self.params is not None or self.other is not None or self.accepts is not None


@dataclass(frozen=True)
class Provenance:
    """Where the formula comes from and what we checked it against."""

    confidence: Confidence
    checked_against: str  # what was actually read/verified, e.g. "transformers 5.23.0 TopPLogitsWarper"
    official_code: str | None = None
    notes: str = ""
    differences: tuple[Difference, ...] = ()


# --------------------------------------------------------------------------- domains


@dataclass(frozen=True)
class Interval:
    """A real interval; ``None`` bounds are infinite. ``allow_none`` admits ``None`` (e.g. ``k=None``)."""

    low: float | None = None
    high: float | None = None
    low_closed: bool = True
    high_closed: bool = True
    allow_none: bool = False
    allow_inf: bool = False  # e.g. Rényi alpha = inf
    exclude: tuple[float, ...] = ()  # isolated excluded points, e.g. log base 1

    def contains(self, value: object) -> bool:
        if value is None:
            return self.allow_none
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        v = float(value)
        if math.isnan(v) or v in self.exclude:
            return False
        if math.isinf(v) and not self.allow_inf:
            return False
        if self.low is not None and (v < self.low or (v == self.low and not self.low_closed)):
            return False
        return not (self.high is not None and (v > self.high or (v == self.high and not self.high_closed)))

    def describe(self) -> str:
        lo = "-inf" if self.low is None else repr(self.low)
        hi = "inf" if self.high is None else repr(self.high)
        text = f"a float in {'[' if self.low_closed and self.low is not None else '('}{lo}, {hi}"
        text += "]" if self.high_closed and self.high is not None else ")"
        if self.allow_inf:
            text += " or inf"
        if self.exclude:
            text += " except " + ", ".join(repr(x) for x in self.exclude)
        if self.allow_none:
            text += " or None"
        return text


@dataclass(frozen=True)
class IntRange:
    """An integer range ``[low, high]``; ``high=None`` is unbounded."""

    low: int
    high: int | None = None
    allow_none: bool = False

    def contains(self, value: object) -> bool:
        if value is None:
            return self.allow_none
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            return False
        return bool(value >= self.low and (self.high is None or value <= self.high))

    def describe(self) -> str:
        hi = "" if self.high is None else f" and <= {self.high}"
        return f"an int >= {self.low}{hi}" + (" or None" if self.allow_none else "")


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values (strings, or None)."""

    values: tuple[object, ...]

    def contains(self, value: object) -> bool:
        return any(bool(value == v) and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


Domain = Interval | IntRange | Choice


# --------------------------------------------------------------------------- inputs / params / outputs


@dataclass(frozen=True)
class InputSpec:
    """An array argument.

    ``shape`` uses symbols shared across the inputs of one method: ``"..."`` for leading batch
    dimensions (broadcast-free: all inputs with ``"..."`` share them), and single names such as
    ``"V"`` or ``"T"``. ``positional`` inputs are passed positionally in declaration order; others by
    keyword. ``optional`` inputs may be ``None``.
    """

    name: str
    kind: str
    shape: tuple[str, ...]
    doc: str
    dtype: Literal["float", "int", "bool"] = "float"
    differentiable: bool = False
    stop_gradient: bool = False  # a constant in the gradient even when it is a tensor with grad
    optional: bool = False
    positional: bool = True
    allow_neg_inf: bool = False  # -inf entries are legal (masked logits)
    sensitive: bool = False  # discrete decisions compare this input with thresholds (e.g. uniforms)

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"InputSpec {self.name!r}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class ParamSpec:
    """A scalar (or string) parameter with its default and valid domain.

    ``sensitive`` marks continuous thresholds that discrete decisions are compared with (top-p's
    ``p``): conformance accepts an output equal to the reference at the parameter nudged by the
    dtype's budget either way, so rounding at an exact boundary is not reported as a failure.
    ``positional`` parameters are passed positionally after the positional inputs.
    """

    name: str
    default: object
    domain: Domain
    doc: str
    sensitive: bool = False
    positional: bool = False
    required: bool = False  # no default: the caller must pass it
    drawn: bool = True  # conformance draws values from the domain; False keeps the default (e.g. axis)

    def contains(self, value: object) -> bool:
        return self.domain.contains(value)


@dataclass(frozen=True)
class Scale:
    """The natural scale of an output, in its own units (``log V`` for an entropy, 1 for a probability).

    Absolute tolerances are multiples of it: ``|a - r| <= atol * scale + rtol * |r|``. ``of(inputs,
    params)`` computes it for one call; ``describe`` says what it is in words (shown in golden files).
    """

    describe: str
    of: Callable[[Mapping[str, Any], Mapping[str, Any]], float]

    def __call__(self, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
        value = float(self.of(inputs, params))
        if not math.isfinite(value) or value <= 0:
            return 1.0
        return value


#: The scale of outputs bounded by a constant of order one (probabilities, masks, unit-free losses).
UNIT_SCALE = Scale("1", lambda inputs, params: 1.0)


@dataclass(frozen=True)
class OutputSpec:
    """One output. Discrete outputs (indices, masks, kept sets) must match the reference exactly.

    ``scale`` is the output's natural scale (see :class:`Scale`); tolerances are expressed in it.
    ``monotone`` (discrete outputs only) widens the rounding rule at sensitive inputs to an interval.
    """

    name: str
    doc: str
    discrete: bool = False
    shape: tuple[str, ...] = ()
    scale: Scale = UNIT_SCALE
    #: A discrete output that is non-decreasing in the method's ``sensitive`` inputs (``sample``'s token
    #: in its uniform): where rounding makes the decision ambiguous, any value between the reference's
    #: outputs at the sensitive inputs nudged down and up is accepted, not only those two.
    monotone: bool = False


# --------------------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Budget:
    """An error budget: ``|a - r| <= atol + rtol * |r|`` elementwise."""

    atol: float
    rtol: float

    def allows(self, actual: FloatArray, expected: FloatArray) -> npt.NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            same_inf = np.isinf(expected) & (actual == expected)
            close = np.isfinite(expected) & (np.abs(actual - expected) <= self.atol + self.rtol * np.abs(expected))
        return np.asarray(same_inf | close)

    def scaled(self, factor: float) -> Budget:
        return Budget(self.atol * factor, self.rtol * factor)


def default_tolerance(scale: float = 1.0) -> dict[str, Budget]:
    """Per-dtype budgets (the floors) for a float64 reference vs a backend with float32 accumulation.

    The absolute part is in units of the output's natural scale (:class:`Scale`). Measured by
    ``entropy-atlas calibrate`` (300 distinct cases per job over the 24 methods of the first slices):
    worst float64 error ~1.4e-15, float32 ~2.7e-7, float16 ~4.5e-4, bfloat16 ~6e-3, each relative to
    its output scale. The floors sit ~10-70x above those (float64 is at ~500 ulp, below which op
    order alone decides). ``scale`` widens every budget for methods with long reductions or
    ill-conditioned steps; a widened budget must be justified by a calibration row (worst/budget
    >= 0.1, enforced by the test suite).
    """
    base = {
        "float64": Budget(atol=1e-13, rtol=1e-13),
        "float32": Budget(atol=4e-6, rtol=4e-6),
        "bfloat16": Budget(atol=1.6e-2, rtol=1.6e-2),
        "float16": Budget(atol=2e-3, rtol=2e-3),
    }
    return {k: v.scaled(scale) for k, v in base.items()}


# --------------------------------------------------------------------------- properties


class NotApplicable(Exception):
    """Raised by :meth:`PropertyContext.skip`: the property does not apply to this drawn case.

    The harness counts, per property, how many cases it actually ran on; a property that never ran
    over a whole job fails the job, so a strategy that never reaches a property's domain is caught.
    """


@dataclass
class PropertyContext:
    """What a property check receives.

    ``call(**overrides)`` runs the implementation under test (any backend, any dtype: the harness
    converts NumPy float64 arrays in and out) on the drawn ``inputs``/``params`` with ``overrides``
    replacing some of them, and returns the outputs as NumPy arrays (a tuple when several).
    ``budget`` is the dtype's budget in output units (its ``atol`` already multiplied by the first
    output's natural scale for the drawn case); ``dtype`` its name. ``rng`` is seeded from the example.
    ``skip(reason)`` declares that the property does not apply to this case (it is counted).
    """

    call: Callable[..., Any]
    inputs: dict[str, Any]
    params: dict[str, Any]
    budget: Budget
    dtype: str
    rng: np.random.Generator

    def close(self, actual: Any, expected: Any, factor: float = 1.0) -> bool:
        a = np.asarray(actual, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
        return bool(np.all(self.budget.scaled(factor).allows(a, e)))

    def slack(self, factor: float = 1.0) -> float:
        """An absolute slack in output units: ``factor * (atol + rtol)`` of the scaled budget."""
        return factor * (self.budget.atol + self.budget.rtol)

    def skip(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)


@dataclass(frozen=True)
class Property:
    """An invariant or bound. ``check(ctx)`` raises ``AssertionError`` with a message when violated,
    or calls ``ctx.skip(reason)`` when the drawn case is outside the property's domain."""

    name: str
    description: str
    check: Callable[[PropertyContext], None]


@dataclass(frozen=True)
class Branch:
    """A named non-trivial regime of a method (e.g. "the cut falls mid-distribution").

    ``hit(inputs, params, outputs)`` says whether a case (with its float64 reference outputs) is in
    the regime. The harness counts hits per job; a branch that no case of a values or properties job
    reached fails the job, so the draws provably exercise what the method actually does.
    """

    name: str
    description: str
    hit: Callable[[Mapping[str, Any], Mapping[str, Any], tuple[Any, ...]], bool]


# --------------------------------------------------------------------------- derivations


@dataclass(frozen=True)
class SymbolicProblem:
    """A SymPy expression for the method's (scalar) output on given input values.

    ``symbols`` maps each differentiated input to an object array of SymPy symbols of that input's
    shape; ``output`` is an object array (or scalar) of SymPy expressions of the method's first
    output; ``values`` maps each symbol to its numeric value (constants — stop-gradient inputs and
    data-dependent selections evaluated numerically — are already substituted into ``output``).
    """

    symbols: dict[str, Any]
    output: Any
    values: dict[Any, float]


@dataclass(frozen=True)
class Derivation:
    """How to build the SymPy form of a differentiable method for given numeric inputs.

    ``build(inputs, params)`` returns a :class:`SymbolicProblem`. ``wrt`` lists the inputs whose
    gradients are checked. ``kinks`` documents where the method is not differentiable; the harness
    additionally skips examples where one-sided finite differences disagree (a kink nearby).
    """

    build: Callable[[Mapping[str, Any], Mapping[str, Any]], SymbolicProblem]
    wrt: tuple[str, ...]
    kinks: str = "none"


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class MethodSpec:
    """The full contract of one catalogued method id."""

    id: str
    family: str
    kind: str
    summary: str
    papers: tuple[Paper, ...]
    provenance: Provenance
    inputs: tuple[InputSpec, ...]
    params: tuple[ParamSpec, ...]
    outputs: tuple[OutputSpec, ...]
    properties: tuple[Property, ...] = ()
    branches: tuple[Branch, ...] = ()
    tolerance: Mapping[str, Budget] = field(default_factory=default_tolerance)
    derivation: Derivation | None = None
    stop_gradients: tuple[str, ...] = ()  # terms detached inside the method, in words
    degenerate: tuple[str, ...] = ()  # documented results/errors for degenerate inputs
    aliases: tuple[str, ...] = ()  # other catalogue ids this entry covers
    dtypes: tuple[str, ...] = DTYPES  # dtypes the accelerated version supports

    # -- helpers used by both layers and the harness
    @property
    def differentiable(self) -> bool:
        return self.derivation is not None

    def input(self, name: str) -> InputSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def conventions(self) -> dict[str, Difference]:
        """The named other forms of the spec's documented differences, by name (without the id prefix).

        A difference whose ``flag`` is a two-valued parameter (a bool or a choice of two) and that gives no
        other form of its own is executable as that parameter set to the value that is not the default.
        """
        out: dict[str, Difference] = {}
        for d in self.provenance.differences:
            if not d.executable and d.flag is not None and any(p.name == d.flag for p in self.params):
                p = self.param(d.flag)
                values = p.domain.values if isinstance(p.domain, Choice) else ()
                others = [v for v in values if not (v == p.default and type(v) is type(p.default))]
                if len(values) == 2 and len(others) == 1:
                    d = replace(d, params={d.flag: others[0]})
            out[d.name] = d
        return out

    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in self.params if not p.required}

    def signature(self) -> str:
        pos = [i.name for i in self.inputs if i.positional and not i.optional]
        pos += [p.name for p in self.params if p.positional]
        kw = [f"{i.name}=None" for i in self.inputs if not (i.positional and not i.optional)]
        kw += [f"{p.name}={p.default!r}" for p in self.params if not p.positional]
        return f"{self.id}({', '.join(pos)}{', *, ' + ', '.join(kw) if kw else ''})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (used by ``entropy-atlas list --json`` and golden vectors)."""
        return {
            "id": self.id,
            "family": self.family,
            "kind": self.kind,
            "summary": self.summary,
            "signature": self.signature(),
            "papers": [p.cite() for p in self.papers],
            "provenance": {
                "confidence": self.provenance.confidence,
                "checked_against": self.provenance.checked_against,
                "official_code": self.provenance.official_code,
                "notes": self.provenance.notes,
                "differences": [
                    {"topic": d.topic, "paper": d.paper, "code": d.code, "default": d.default, "flag": d.flag,
                     "convention": f"{self.id}:{d.name}" if d.name else None}
                    for d in self.provenance.differences
                ],
            },
            "inputs": [
                {"name": i.name, "kind": i.kind, "shape": list(i.shape), "dtype": i.dtype,
                 "differentiable": i.differentiable, "stop_gradient": i.stop_gradient,
                 "optional": i.optional}
                for i in self.inputs
            ],
            "params": [
                {"name": p.name,
                 "default": p.default if isinstance(p.default, (int, float, str, type(None))) else repr(p.default),
                 "domain": p.domain.describe()}
                for p in self.params
            ],
            "outputs": [{"name": o.name, "discrete": o.discrete, "scale": o.scale.describe} for o in self.outputs],
            "properties": [{"name": p.name, "description": p.description} for p in self.properties],
            "branches": [{"name": b.name, "description": b.description} for b in self.branches],
            "differentiable": self.differentiable,
            "stop_gradients": list(self.stop_gradients),
            "degenerate": list(self.degenerate),
            "aliases": list(self.aliases),
            "tolerance": {k: {"atol": b.atol, "rtol": b.rtol} for k, b in self.tolerance.items()},
        }
