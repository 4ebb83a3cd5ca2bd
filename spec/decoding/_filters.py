"""What every truncation filter of the ``decoding`` family shares, written once.

Declarations (the ``logits`` input, ``min_tokens_to_keep``, the filtered-logits output with its
natural scale, threshold parameters), the property bundle every truncation filter satisfies
(:func:`truncation_properties`: values unchanged, argmax kept, top set, ``min_tokens_to_keep``, shift
invariance) and the branches every filter names (:func:`cut_mid`, :func:`tie_at_cut`).

Property helpers are NumPy code written from the definitions; they never call the reference.
Inputs that properties construct are small integers (exact in every dtype, bfloat16 included), so
shifts by an integer and scalings by 2 are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import (
    Branch,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    OutputSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
)
from spec.properties import out, rows
from spec.scales import finite_magnitude

F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Hit = Callable[[Mapping[str, Any], Mapping[str, Any], tuple[Any, ...]], bool]

NEG_INF = -math.inf

HF = "transformers 5.23.0 src/transformers/generation/logits_process.py"
HF_CODE = "huggingface/transformers:src/transformers/generation/logits_process.py"
HEWITT_2022 = Paper("Truncation Sampling as Language Model Desmoothing", 2022, "2210.15191")

LOGITS = InputSpec("logits", "logits", ("...", "V"), "scores, vocabulary on the last axis; -inf entries are "
                   "legal (already removed), a row of only -inf is not", allow_neg_inf=True)
MIN_KEEP = ParamSpec("min_tokens_to_keep", 1, IntRange(1, None),
                     "the most probable tokens that are always kept (HF default 1)")
FILTER_OUT = OutputSpec("logits", "input logits with removed entries set to -inf (kept entries unchanged)",
                        shape=("...", "V"), scale=finite_magnitude("logits"))


def threshold(doc: str, name: str, domain: Interval, default: object = None, *, required: bool = True) -> ParamSpec:
    """A continuous threshold that discrete decisions are compared with (``sensitive``)."""
    return ParamSpec(name, default, domain, doc, sensitive=True, positional=True, required=required)


# --------------------------------------------------------------------------- small helpers


def kept(y: Any) -> BoolArray:
    """Kept = finite output (a kept ``-inf`` input is indistinguishable from a removed one)."""
    return np.asarray(np.isfinite(np.asarray(y, dtype=np.float64)))


def kept_of(ctx: PropertyContext, **overrides: Any) -> BoolArray:
    return kept(out(ctx, **overrides))


def int_logits(ctx: PropertyContext, low: int = -6, high: int = 6) -> F64:
    """Small-integer logits with the drawn shape and the drawn ``-inf`` pattern (exact in bf16)."""
    z = ctx.inputs["logits"]
    ints = ctx.rng.integers(low, high + 1, size=np.shape(z)).astype(np.float64)
    return np.asarray(np.where(np.isneginf(z), NEG_INF, ints))


def log_softmax_row(z: F64) -> F64:
    """``log softmax`` of one row or of rows (last axis), ``-inf`` entries allowed."""
    m = np.max(z, axis=-1, keepdims=True)
    s = z - m
    with np.errstate(divide="ignore"):
        return np.asarray(s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True)))


def entropy_rows(z: F64) -> F64:
    logp = log_softmax_row(z)
    p = np.exp(logp)
    return np.asarray(-np.sum(np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0), axis=-1))


def decision_slack(ctx: PropertyContext, terms: int = 1) -> float:
    """Slack for a *probability mass* compared with a threshold: the round-off of a sum of ``terms``
    probabilities at the precision decisions are made in (float64 for float64 inputs, float32 for
    every other dtype: the spec's accumulation rule). Probabilities have unit scale, so this is not
    the logits budget (which scales with the largest logit)."""
    eps = 2.0**-52 if ctx.dtype == "float64" else 2.0**-23
    return 8.0 * eps * max(terms, 1)


def in_dtype(x: Any, dtype: str) -> F64:
    """``x`` rounded to ``dtype`` (round to nearest even) and back to float64; bfloat16 by its bits."""
    a = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        return a
    if dtype in ("float32", "float16"):
        return np.asarray(a.astype(dtype).astype(np.float64))
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return np.asarray(np.where(np.isfinite(a), rounded.astype(np.uint32).view(np.float32), a), dtype=np.float64)


def first_n(order: npt.NDArray[np.intp], n: int, size: int) -> BoolArray:
    mask = np.zeros(size, dtype=bool)
    mask[order[:n]] = True
    return mask


def stable_desc(z: F64) -> npt.NDArray[np.intp]:
    return np.argsort(-z, kind="stable")


def guarded(zr: F64, m: int) -> BoolArray:
    """Tokens whose logit is >= the ``m``-th largest (HF's epsilon/eta guard, ties kept)."""
    kth = np.sort(zr)[::-1][min(m, zr.shape[-1]) - 1]
    return np.asarray(zr >= kth)


# --------------------------------------------------------------------------- the property bundle


def values_unchanged(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    y = out(ctx)
    assert y.shape == z.shape, f"output shape {y.shape} != input shape {z.shape}"
    ok = (y == z) | np.isneginf(y)
    assert np.all(ok), "a kept entry was changed (filters must return z or -inf)"


def shift_invariance(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    y = out(ctx, logits=z)
    ys = out(ctx, logits=z + 3.0)
    assert np.array_equal(kept(y), kept(ys)), "kept set changed under the logit shift z -> z + 3"
    assert np.array_equal(np.where(kept(y), y + 3.0, NEG_INF), ys), "kept values are not shifted by 3"


def argmax_kept(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    y = out(ctx)
    top = np.argmax(z, axis=-1)[..., None]
    assert np.all(np.take_along_axis(kept(y), top, axis=-1)), "the most probable token was removed"


def top_set(ctx: PropertyContext) -> None:
    """Every kept logit is >= every removed finite logit (the kept set is a top set)."""
    z = rows(ctx.inputs["logits"])
    kr_all = rows(kept_of(ctx))
    ran = False
    for zr, kr in zip(z, kr_all, strict=True):
        removed = np.isfinite(zr) & ~kr
        if kr.any() and removed.any():
            ran = True
            assert zr[kr].min() >= zr[removed].max(), f"removed logit {zr[removed].max()} above kept {zr[kr].min()}"
    if not ran:
        ctx.skip("no row removes a finite token")


def min_keep(ctx: PropertyContext) -> None:
    z = rows(ctx.inputs["logits"])
    m = int(ctx.params.get("min_tokens_to_keep", 1))
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    k = rows(kept_of(ctx))
    need = np.minimum(m, np.isfinite(z).sum(axis=-1))
    assert np.all(k.sum(axis=-1) >= need), f"fewer than min_tokens_to_keep={m} tokens kept"


def truncation_properties(*, mode_kept: bool = True) -> tuple[Property, ...]:
    """The properties every truncation filter shares. ``mode_kept=False`` for rules that may remove
    the most probable token (typical decoding), which then are not top sets either."""
    props = [Property("values_unchanged", "outputs are the input logits or -inf", values_unchanged)]
    if mode_kept:
        props += [Property("argmax_kept", "the most probable token is always kept", argmax_kept),
                  Property("top_set", "kept logits are >= removed finite logits", top_set)]
    props += [Property("min_tokens_to_keep", "at least min_tokens_to_keep tokens survive", min_keep),
              Property("shift_invariance", "the kept set is invariant to z -> z + c", shift_invariance)]
    return tuple(props)


def nested(name: str, smaller: float) -> Callable[[PropertyContext], None]:
    """The kept set at ``name * smaller`` is contained in the kept set at ``name``."""

    def check(ctx: PropertyContext) -> None:
        value = float(ctx.params[name])
        if value * smaller <= 0:
            ctx.skip(f"{name} = {value}: no smaller value in the domain")
        big = kept_of(ctx)
        small = kept_of(ctx, **{name: value * smaller})
        assert np.all(~small | big), f"kept sets not nested in {name}: {value * smaller} keeps more than {value}"

    return check


def nested_rev(name: str, factor: float, cap: float) -> Callable[[PropertyContext], None]:
    """The kept set at a larger ``name`` is contained in the kept set at ``name``."""

    def check(ctx: PropertyContext) -> None:
        value = float(ctx.params[name])
        bigger = max(value, min(value * factor, cap)) if value > 0 else cap
        if bigger == value:
            ctx.skip(f"{name} = {value} is already the largest value tried")
        base = kept_of(ctx)
        strict = kept_of(ctx, **{name: bigger})
        assert np.all(~strict | base), f"kept sets not nested in {name}: {bigger} keeps a token {value} removes"

    return check


# --------------------------------------------------------------------------- branches


def _rows_of(inputs: Mapping[str, Any], outputs: tuple[Any, ...]) -> tuple[F64, BoolArray]:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    return z, rows(kept(outputs[0]))


def _cut_mid(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z, k = _rows_of(inputs, outputs)
    removed = (np.isfinite(z) & ~k).any(axis=-1)
    return bool(np.any(removed & (k.sum(axis=-1) > 1)))


def _tie_at_cut(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z, k = _rows_of(inputs, outputs)
    for zr, kr in zip(z, k, strict=True):
        removed = np.isfinite(zr) & ~kr
        if kr.any() and removed.any() and zr[kr].min() == zr[removed].max():
            return True
    return False


def _neg_inf_cut(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z, k = _rows_of(inputs, outputs)
    removed = (np.isfinite(z) & ~k).any(axis=-1)
    return bool(np.any(removed & np.isneginf(z).any(axis=-1)))


CUT_MID = Branch("cut mid-distribution", "some finite token removed and more than one kept", _cut_mid)
TIE_AT_CUT = Branch("tie at the cut", "a removed finite token ties with the smallest kept logit", _tie_at_cut)
NEG_INF_CUT = Branch("-inf entries and a cut", "a row with -inf entries also removes a finite token", _neg_inf_cut)


def min_keep_binds(rule_count: Callable[[F64, Mapping[str, Any]], int]) -> Branch:
    """``min_tokens_to_keep`` keeps more tokens than the rule alone (``rule_count(row, params)``)."""

    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        m = int(params.get("min_tokens_to_keep", 1))
        if m <= 1:
            return False
        z, _ = _rows_of(inputs, outputs)
        return any(rule_count(zr, params) < min(m, int(np.isfinite(zr).sum())) for zr in z)

    return Branch("min_tokens_to_keep binds", "the rule alone keeps fewer than min_tokens_to_keep tokens", hit)


#: Logits more than this far below the row maximum have a float32 probability below 2^-126 (subnormal or 0):
#: peers that select by probability in float32 cannot order them.
UNDERFLOW_GAP = math.log(2.0**-126)


def _kept_rows(ours: tuple[Any, ...], got: tuple[Any, ...]) -> list[tuple[Any, Any]] | None:
    a, b = np.asarray(ours[0], dtype=np.float64), np.asarray(got[0], dtype=np.float64)
    if a.shape != b.shape:
        return None
    return list(zip(rows(a), rows(b), strict=True))


def _same_kept_multiset(inputs: Mapping[str, Any], params: Mapping[str, Any], ours: tuple[Any, ...],
                        got: tuple[Any, ...]) -> bool:
    """Per row, the kept logits (finite outputs) are the same multiset of values as ours — only the choice
    among tied logits differs; logits in the float32 underflow region (``z − max z < log 2^-126``) count as
    tied with each other (their float32 probabilities are subnormal or 0)."""
    pairs = _kept_rows(ours, got)
    if pairs is None:
        return False
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    for zr, (ra, rb) in zip(z, pairs, strict=True):
        floor = np.max(zr) + UNDERFLOW_GAP if np.any(np.isfinite(zr)) else -math.inf
        ka = np.sort(np.where(ra[np.isfinite(ra)] < floor, -math.inf, ra[np.isfinite(ra)]))
        kb = np.sort(np.where(rb[np.isfinite(rb)] < floor, -math.inf, rb[np.isfinite(rb)]))
        if not np.array_equal(ka, kb):
            return False
    return True


def _drops_underflow(inputs: Mapping[str, Any], params: Mapping[str, Any], ours: tuple[Any, ...],
                     got: tuple[Any, ...]) -> bool:
    """The peer keeps a subset of our tokens, and every token it drops besides ours lies in the float32
    underflow region (its probability rounds to 0 there); ties as in :func:`_same_kept_multiset`."""
    pairs = _kept_rows(ours, got)
    if pairs is None:
        return False
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    for zr, (ra, rb) in zip(z, pairs, strict=True):
        floor = np.max(zr) + UNDERFLOW_GAP
        extra = np.isfinite(ra) & ~np.isfinite(rb)
        if np.any(np.isfinite(rb) & ~np.isfinite(ra)) or np.any(extra & (zr >= floor)):
            return False
    return True


def _keeps_underflow(inputs: Mapping[str, Any], params: Mapping[str, Any], ours: tuple[Any, ...],
                     got: tuple[Any, ...]) -> bool:
    """The peer keeps a superset of our tokens, every extra one in the float32 underflow region (a threshold
    on probabilities that underflows to 0 removes nothing there)."""
    return _drops_underflow(inputs, params, got, ours)


#: min-p and similar rules compared on probabilities in float32: ``min_p · p_max`` below 2^-149 is 0, so
#: tokens whose probability also underflows are not removed.
THRESHOLD_UNDERFLOW = Difference(
    "threshold underflow", "p < min_p · p_max removes every token below the threshold",
    "transformers compares probabilities in the input dtype: in float32 a threshold below 2^-149 is 0 and "
    "tokens whose probability underflows to 0 are kept", default="paper", name="threshold_underflow",
    accepts=_keeps_underflow)


#: The order among tied logits: peers that sort with ``torch.sort``/``torch.topk`` keep an unspecified one of
#: equal-logit tokens at a cut; we keep the lowest index first.
TIE_ORDER = Difference(
    "order among tied tokens", "the rule is defined on values; any order among equal logits",
    "transformers' warpers sort with torch.sort / torch.topk (on probabilities in the input dtype), whose order "
    "among ties is unspecified (ours: lowest index first); in float32, tokens more than 87.3 nats below the "
    "maximum all have probability <= 2^-126 and are tied too", default="paper", name="tie_order",
    accepts=_same_kept_multiset)
