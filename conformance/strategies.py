"""Hypothesis strategies for every input kind, and the generic case builder.

A :class:`Case` is one call of a method: NumPy arrays for its inputs (floats as float64 holding
values exactly representable in the dtype under test) and Python values for its parameters. The
generic builder :func:`cases` reads a :class:`~spec.model.MethodSpec`: it draws one size per shape
symbol (``"..."`` batch dims, ``"V"``, ``"T"``, ...), draws every input from the strategy of its
kind and every drawn parameter from its domain. Methods whose inputs are related in ways the spec
cannot express register an override in ``conformance/cases/<family>.py``.

Edge cases are drawn on purpose: ties and ``-inf`` entries in logits, large magnitudes, exact zeros
in probability vectors, masks with empty rows and empty batches, groups of size one, uniforms equal
to 0 and just below 1, zero-size batch dimensions.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from spec.model import Choice, InputSpec, Interval, IntRange, MethodSpec, ParamSpec

__all__ = [
    "Case",
    "advantages",
    "cases",
    "class_index",
    "dims_for",
    "group_ids",
    "kernel",
    "log_probs",
    "logits",
    "mask",
    "param_value",
    "priority",
    "probs",
    "reals",
    "representable",
    "samples",
    "uniforms",
    "weights",
]

F64 = npt.NDArray[np.float64]


@dataclass
class Case:
    """One call: ``inputs`` (None for an absent optional input) and ``params``."""

    inputs: dict[str, Any]
    params: dict[str, Any]
    dims: dict[str, Any] = field(default_factory=dict)

    def replace(self, **overrides: Any) -> Case:
        inputs = dict(self.inputs)
        params = dict(self.params)
        for k, v in overrides.items():
            if k in inputs:
                inputs[k] = v
            else:
                params[k] = v
        return Case(inputs, params, dict(self.dims))


# --------------------------------------------------------------------------- dtype rounding


def _round_bfloat16(x: F64) -> F64:
    """Round-to-nearest-even to bfloat16, returned as float64 (NumPy has no bfloat16)."""
    f = np.asarray(x, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((bits >> 16) & 1)
    finite = np.isfinite(f)
    rounded = np.where(finite, (bits + rounding) & 0xFFFF0000, bits & 0xFFFF0000)
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def representable(x: npt.ArrayLike, dtype: str) -> F64:
    """``x`` rounded to ``dtype`` and back to float64, so every backend sees the same values."""
    a = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        return a
    if dtype == "float32":
        return a.astype(np.float32).astype(np.float64)
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return a.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return _round_bfloat16(a)
    raise ValueError(f"unknown dtype {dtype!r}")


def largest_below_one(dtype: str) -> float:
    mant = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}[dtype]
    return 1.0 - 2.0 ** -(mant + 1)


# --------------------------------------------------------------------------- kind strategies


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape)) if shape else 1


@st.composite
def logits(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64", *,
           allow_neg_inf: bool = True, scale: float | None = None) -> F64:
    """Real scores: a few distinct values (ties), sometimes large magnitudes, ``-inf`` entries
    (never a whole row along the last axis)."""
    n = _size(shape)
    magnitude = scale if scale is not None else draw(st.sampled_from([1.0, 4.0, 20.0, 1e3]).filter(
        lambda m: not (dtype == "float16" and m > 1e3)))
    pool_size = draw(st.integers(1, 6))
    pool = draw(st.lists(st.floats(-magnitude, magnitude, allow_nan=False, width=64),
                         min_size=pool_size, max_size=pool_size))
    tie_heavy = draw(st.booleans())
    if tie_heavy:
        idx = draw(st.lists(st.integers(0, pool_size - 1), min_size=n, max_size=n))
        values = np.array([pool[i] for i in idx], dtype=np.float64)
    else:
        values = np.array(draw(st.lists(st.floats(-magnitude, magnitude, allow_nan=False, width=64),
                                        min_size=n, max_size=n)), dtype=np.float64)
    values = representable(values.reshape(shape), dtype)
    if allow_neg_inf and shape and shape[-1] > 1 and n > 0 and draw(st.booleans()):
        holes = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))).reshape(shape)
        holes[..., 0] = False  # keep one finite entry per row (at a random position after a roll)
        shift = draw(st.integers(0, shape[-1] - 1))
        holes = np.roll(holes, shift, axis=-1)
        values = np.where(holes, -np.inf, values)
    return values


@st.composite
def probs(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64", *,
          allow_zeros: bool = True, positive: bool = False) -> F64:
    """Probability vectors along the last axis. In float64 arbitrary; in lower precision dyadic
    (multiples of 2^-8 for 16-bit dtypes, 2^-16 for float32) so every value *and* every row sum is
    exact in the dtype — the vector is on the simplex on every backend."""
    if not shape or _size(shape) == 0:
        return np.zeros(shape, dtype=np.float64)
    n = _size(shape)
    zeros_ok = allow_zeros and not positive
    w = np.array(draw(st.lists(st.floats(0.0 if zeros_ok else 1e-3, 1.0, allow_nan=False),
                               min_size=n, max_size=n)), dtype=np.float64).reshape(shape)
    if zeros_ok and draw(st.booleans()):
        drop = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))).reshape(shape)
        w = np.where(drop, 0.0, w)
    if draw(st.integers(0, 5)) == 0:  # one-hot rows
        w = np.zeros(shape)
        w[..., 0] = 1.0
    w[..., draw(st.integers(0, shape[-1] - 1))] += 0.5  # at least one positive entry per row
    p: F64 = w / w.sum(axis=-1, keepdims=True)
    if dtype == "float64":
        return p
    total = 2 ** (16 if dtype == "float32" else 8)
    counts = np.floor(p * total)
    if positive:
        counts = np.maximum(counts, 1.0)
    rem = total - counts.sum(axis=-1, keepdims=True)
    top = np.argmax(counts, axis=-1)[..., None]
    np.put_along_axis(counts, top, np.take_along_axis(counts, top, axis=-1) + rem, axis=-1)
    out: F64 = np.asarray(counts / total, dtype=np.float64)
    return out


@st.composite
def reals(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64", *,
          low: float = -10.0, high: float = 10.0) -> F64:
    """Real values with repeats and exact zeros."""
    n = _size(shape)
    pool = [0.0, 1.0, -1.0, *draw(st.lists(st.floats(low, high, allow_nan=False), min_size=1, max_size=4))]
    pool = [v for v in pool if low <= v <= high] or [low]
    element = st.one_of(st.sampled_from(pool), st.floats(low, high, allow_nan=False))
    values = np.array(draw(st.lists(element, min_size=n, max_size=n)), dtype=np.float64).reshape(shape)
    return representable(values, dtype)


def advantages(shape: tuple[int, ...], dtype: str = "float64") -> st.SearchStrategy[F64]:
    return reals(shape, dtype, low=-5.0, high=5.0)


@st.composite
def log_probs(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64") -> F64:
    """Per-token log-probabilities in [-8, 0], often close to each other (ratios near 1)."""
    return draw(reals(shape, dtype, low=-8.0, high=0.0))


@st.composite
def mask(draw: st.DrawFn, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """Boolean masks: random, right-padded (sequence-like), all-true, with empty rows or empty."""
    n = _size(shape)
    style = draw(st.sampled_from(["random", "padded", "full", "empty"]))
    if style == "full" or n == 0:
        return np.ones(shape, dtype=bool)
    if style == "empty" and draw(st.integers(0, 3)) == 0:
        return np.zeros(shape, dtype=bool)
    if style == "padded" and len(shape) >= 1:
        lengths = np.array(draw(st.lists(st.integers(0, shape[-1]), min_size=n // shape[-1],
                                         max_size=n // shape[-1]))).reshape(shape[:-1])
        return np.asarray(np.arange(shape[-1]) < lengths[..., None])
    return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool).reshape(shape)


@st.composite
def uniforms(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64") -> F64:
    """Uniform draws in [0, 1), including 0 and the largest value below 1 in ``dtype``."""
    n = _size(shape)
    top = largest_below_one(dtype)
    element = st.one_of(st.just(0.0), st.just(top), st.floats(0.0, top, allow_nan=False))
    values = np.array(draw(st.lists(element, min_size=n, max_size=n)), dtype=np.float64).reshape(shape)
    return np.minimum(representable(values, dtype), top)


def priority(shape: tuple[int, ...], dtype: str = "float64") -> st.SearchStrategy[F64]:
    """Random priority keys in [0, 1) (ties possible: a tie goes to the lowest flat index)."""
    return uniforms(shape, "float64")


@st.composite
def weights(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64") -> F64:
    """Non-negative weights (dyadic, so exact in every dtype), at least one positive."""
    n = _size(shape)
    w = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n)), dtype=np.float64) / 4.0
    if n:
        w[draw(st.integers(0, n - 1))] += 0.25
    return w.reshape(shape)


@st.composite
def group_ids(draw: st.DrawFn, shape: tuple[int, ...]) -> npt.NDArray[np.int64]:
    """Integer group labels (not necessarily contiguous or sorted); groups of size one occur."""
    n = _size(shape)
    groups = draw(st.integers(1, max(1, n)))
    labels = draw(st.lists(st.integers(0, groups - 1), min_size=n, max_size=n))
    offset = draw(st.sampled_from([0, 7]))
    return (np.array(labels, dtype=np.int64) + offset).reshape(shape)


@st.composite
def class_index(draw: st.DrawFn, shape: tuple[int, ...], num_classes: int, ignore_index: int = -100,
                allow_ignore: bool = True) -> npt.NDArray[np.int64]:
    """Class indices in [0, num_classes), with ``ignore_index`` entries when allowed."""
    n = _size(shape)
    element = st.integers(0, num_classes - 1)
    if allow_ignore:
        element = st.one_of(element, st.just(ignore_index))
    return np.array(draw(st.lists(element, min_size=n, max_size=n)), dtype=np.int64).reshape(shape)


# --------------------------------------------------------------------------- sample and kernel matrices


SAMPLE_STYLES = ("generic", "duplicated", "low_rank", "isotropic", "identical", "zero_rows")
KERNEL_STYLES = ("identity", "ones", "blocks", "blocks_c", "mixture", "cosine", "gaussian")


def _dyadic(draw: st.DrawFn, n: int, top: int = 16, denom: float = 8.0) -> F64:
    """``n`` multiples of ``1/denom`` in ``[-top/denom, top/denom]`` (exact in every dtype, bfloat16 too)."""
    return np.array(draw(st.lists(st.integers(-top, top), min_size=n, max_size=n)), dtype=np.float64) / denom


@st.composite
def _sample_matrix(draw: st.DrawFn, n: int, d: int, style: str) -> F64:
    if n == 0 or d == 0:
        return np.zeros((n, d))
    if style == "identical":
        x = np.tile(_dyadic(draw, d), (n, 1))
    elif style == "low_rank" and min(n, d) >= 2:
        r = draw(st.integers(1, min(3, min(n, d) - 1)))
        a = np.array(draw(st.lists(st.integers(-1, 1), min_size=n * r, max_size=n * r)), dtype=np.float64)
        x = a.reshape(n, r) @ _dyadic(draw, r * d, top=4, denom=4.0).reshape(r, d)
    elif style == "isotropic":
        signs = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
        x = np.zeros((n, d))
        x[np.arange(n), np.arange(n) % d] = signs
        if draw(st.booleans()):  # a small dyadic perturbation: near-isotropic
            x[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] += 0.125
    else:
        x = _dyadic(draw, n * d).reshape(n, d)
        if style == "duplicated" and n >= 2:
            src = np.array(draw(st.lists(st.integers(0, max(0, n // 2 - 1)), min_size=n, max_size=n)))
            keep = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
            x = np.where(keep[:, None], x, x[src])
        elif style == "zero_rows":
            zero = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
            zero[draw(st.integers(0, n - 1))] = False  # at least one nonzero row
            x = np.where(zero[:, None], 0.0, x)
    if not np.any(x) and style != "zero_rows":
        x[0, 0] = 1.0
    return x


@st.composite
def samples(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64", *, style: str | None = None) -> F64:
    """Sample matrices ``(..., N, D)``: rows are samples. Values are dyadic (multiples of 1/8 or 1/4, times a
    power of two), so every drawn matrix — and its duplicated rows, its exact rank deficiency — is exact in
    every dtype. Styles: generic; duplicated rows; low rank (an exact product of a {-1, 0, 1} factor and a
    dyadic one); (near-)isotropic (signed coordinate vectors, optionally perturbed); all rows identical;
    some zero rows."""
    if len(shape) < 2:
        raise ValueError(f"samples need a shape (..., N, D), got {shape}")
    n, d = shape[-2], shape[-1]
    mats = []
    for _ in range(_size(shape[:-2])):
        chosen = style or draw(st.sampled_from(SAMPLE_STYLES), label="samples style")
        mats.append(draw(_sample_matrix(n, d, chosen)))
    scale = 2.0 ** draw(st.sampled_from([0, 0, 0, -3, 5]))
    x = (np.stack(mats) if mats else np.zeros((0, n, d))).reshape(shape) * scale
    return representable(x, dtype)


@st.composite
def _kernel_matrix(draw: st.DrawFn, n: int, style: str) -> F64:
    if n == 0:
        return np.zeros((0, 0))
    if style == "identity":
        k = np.eye(n)
    elif style == "ones":
        k = np.ones((n, n))
    elif style in ("blocks", "blocks_c", "mixture"):
        labels = np.array(draw(st.lists(st.integers(0, max(0, n - 1)), min_size=n, max_size=n)))
        same = labels[:, None] == labels[None, :]
        c = 1.0 if style == "blocks" else draw(st.sampled_from([0.25, 0.5, 0.75]))
        k = np.where(same, c, 0.0)
        if style == "mixture":
            a = draw(st.sampled_from([0.25, 0.5, 0.75]))
            k = (1.0 - a) * np.where(same, 1.0, 0.0) + a * np.eye(n)
    elif style == "cosine":
        x = draw(_sample_matrix(n, draw(st.integers(1, 4)), draw(st.sampled_from(["generic", "duplicated",
                                                                                 "low_rank"]))))
        norms = np.linalg.norm(x, axis=1)
        x = np.where(norms[:, None] > 0, x / np.where(norms > 0, norms, 1.0)[:, None], 0.0)
        k = x @ x.T
    else:  # gaussian
        x = draw(_sample_matrix(n, draw(st.integers(1, 3)), "generic"))
        sigma = draw(st.sampled_from([0.5, 1.0, 2.0]))
        d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
        k = np.exp(-d2 / (2.0 * sigma**2))
    k = (k + k.T) / 2.0
    np.fill_diagonal(k, 1.0)
    return k


@st.composite
def kernel(draw: st.DrawFn, shape: tuple[int, ...], dtype: str = "float64", *, style: str | None = None) -> F64:
    """Symmetric PSD kernel matrices ``(..., N, N)`` with unit diagonal: the identity (every sample distinct),
    all ones (one sample repeated), block-diagonal ones (duplicate groups; exact eigenvalues = block sizes),
    blocks with a dyadic within-block similarity, dyadic mixtures of the identity and blocks, cosine Gram
    matrices of dyadic samples and Gaussian Gram matrices — rows and columns jointly permuted. The first
    five are exact in every dtype; the Gram matrices are rounded to the dtype symmetrically (the diagonal
    stays 1; rounding may leave eigenvalues of the order of the dtype's epsilon below 0)."""
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"kernels need a shape (..., N, N), got {shape}")
    n = shape[-1]
    mats = []
    for _ in range(_size(shape[:-2])):
        chosen = style or draw(st.sampled_from(KERNEL_STYLES), label="kernel style")
        k = draw(_kernel_matrix(n, chosen))
        perm = np.array(draw(st.permutations(list(range(n))))) if n else np.zeros(0, dtype=np.int64)
        mats.append(k[np.ix_(perm, perm)])
    k = (np.stack(mats) if mats else np.zeros((0, n, n))).reshape(shape)
    return representable(k, dtype)


# --------------------------------------------------------------------------- params


@st.composite
def param_value(draw: st.DrawFn, p: ParamSpec, size_bound: int | None = None) -> object:
    """A value from a parameter's domain: mostly from the interior (where a method does something
    non-trivial), endpoints and special values a minority (about one draw in five).

    ``size_bound`` caps unbounded integer parameters (``k``, ``min_tokens_to_keep``) at a size of the
    drawn arrays (plus one, so "larger than the axis" still occurs).
    """
    d = p.domain
    if isinstance(d, Choice):
        return draw(st.sampled_from(list(d.values)))
    edge = draw(st.integers(0, 4)) == 0
    if isinstance(d, IntRange):
        if d.allow_none and draw(st.integers(0, 5)) == 0:
            return None
        cap = d.low + 16 if size_bound is None else d.low + max(size_bound, 1)
        top = cap if d.high is None else min(d.high, cap)
        return draw(st.integers(d.low, max(d.low, top)))
    assert isinstance(d, Interval)
    if d.allow_none and draw(st.integers(0, 5)) == 0:
        return None
    if d.allow_inf and draw(st.integers(0, 7)) == 0:
        return math.inf
    lo: float = d.low if d.low is not None else (min(-10.0, d.high - 10.0) if d.high is not None else -10.0)
    hi: float = d.high if d.high is not None else lo + 10.0
    specials = [v for v in (lo, hi, (lo + hi) / 2, 0.0, 1.0, 0.5, 2.0) if d.contains(v)]
    interior = st.floats(lo, hi, allow_nan=False, allow_infinity=False, exclude_min=True, exclude_max=True)
    value: object = draw(st.sampled_from(specials)) if specials and edge else draw(interior)
    if not d.contains(value):  # e.g. an excluded point
        value = specials[0] if specials else p.default
    return value


# --------------------------------------------------------------------------- generic builder


DimStrategy = Callable[[], st.SearchStrategy[int]]


@st.composite
def dims_for(draw: st.DrawFn, spec: MethodSpec, *, small: bool = False) -> dict[str, Any]:
    """One size per shape symbol used by ``spec``'s inputs. ``"..."`` maps to a tuple."""
    symbols = {s for i in spec.inputs for s in i.shape}
    out: dict[str, Any] = {}
    max_side = 2 if small else 3
    if "..." in symbols:
        nd = draw(st.integers(0, 2))
        sides = st.integers(1, max_side) if small or draw(st.integers(0, 9)) else st.integers(0, max_side)
        out["..."] = tuple(draw(st.lists(sides, min_size=nd, max_size=nd)))
    limits = {"V": 5 if small else 9, "T": 4 if small else 6, "B": 2 if small else 3, "N": 6 if small else 12}
    for s in sorted(symbols - {"..."}):
        out[s] = draw(st.integers(1, limits.get(s, 4)))
    return out


def _shape(inp: InputSpec, dims: dict[str, Any]) -> tuple[int, ...]:
    shape: list[int] = []
    for s in inp.shape:
        if s == "...":
            shape.extend(dims["..."])
        else:
            shape.append(int(dims[s]))
    return tuple(shape)


def input_strategy(inp: InputSpec, shape: tuple[int, ...], dtype: str, dims: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = inp.kind
    if kind == "logits":
        return logits(shape, dtype, allow_neg_inf=inp.allow_neg_inf)
    if kind == "probs":
        return probs(shape, dtype)
    if kind == "log_probs":
        return log_probs(shape, dtype)
    if kind in ("values", "rewards"):
        return reals(shape, dtype)
    if kind == "advantages":
        return advantages(shape, dtype)
    if kind == "mask":
        return mask(shape)
    if kind == "group_ids":
        return group_ids(shape)
    if kind == "class_index":
        return class_index(shape, int(dims.get("V", 2)))
    if kind == "uniforms":
        return uniforms(shape, dtype)
    if kind == "priority":
        return priority(shape, dtype)
    if kind == "weights":
        return weights(shape, dtype)
    if kind == "samples":
        return samples(shape, dtype)
    if kind == "kernel":
        return kernel(shape, dtype)
    raise ValueError(f"no strategy for input kind {kind!r}")


@st.composite
def generic_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    dims = draw(dims_for(spec, small=small))
    inputs: dict[str, Any] = {}
    for inp in spec.inputs:
        if inp.optional and draw(st.booleans()):
            inputs[inp.name] = None
            continue
        inputs[inp.name] = draw(input_strategy(inp, _shape(inp, dims), dtype, dims), label=inp.name)
    params: dict[str, Any] = {}
    bound = max((int(v) for k, v in dims.items() if k != "..."), default=None)
    for p in spec.params:
        if p.drawn:
            params[p.name] = draw(param_value(p, bound), label=p.name)
        elif p.required:
            params[p.name] = p.default
    return Case(inputs, params, dims)


def cases(spec: MethodSpec, dtype: str, *, small: bool = False) -> st.SearchStrategy[Case]:
    """The case strategy for ``spec`` at ``dtype``: a family override if registered, else generic.

    ``small`` asks for few elements (gradient checks build SymPy expressions of every element).
    Overrides receive ``(spec, dtype)`` and, if they accept it, ``small=``.
    """
    from conformance.cases import override_for

    override = override_for(spec.id)
    if override is None:
        return generic_case(spec, dtype, small)
    strategy: st.SearchStrategy[Case]
    if "small" in inspect.signature(override).parameters:
        strategy = override(spec, dtype, small=small)
    else:
        strategy = override(spec, dtype)
    return strategy
