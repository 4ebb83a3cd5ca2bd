"""Spec of the ``categorical`` losses: cross-entropy with torch semantics (classes last).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.categorical._common import (
    HYPERFITTING_2024,
    INCEPTION_2016,
    logit_rows_expr,
    row_shift,
)
from spec.model import (
    Branch,
    Choice,
    Derivation,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    MethodSpec,
    OutputSpec,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    Scale,
    SymbolicProblem,
    default_tolerance,
)
from spec.registry import register

__all__: list[str] = []


def _ce_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    v = max(int(z.shape[-1]) if z.ndim else 1, 2)
    finite = z[np.isfinite(z)]
    row = max(1.0, math.log(v), float(np.max(np.abs(finite))) / 16.0 if finite.size else 0.0)
    if params.get("reduction", "mean") != "sum":
        return row
    rows_ = math.prod(int(d) for d in z.shape[:-1]) if z.ndim else 1
    w = inputs.get("weight")
    w_max = float(np.max(w)) if w is not None and np.size(w) else 1.0
    return row * max(1, rows_) * max(1.0, w_max)  # a sum of that many rounded per-row losses


#: ``ℓ = logsumexp(z) − z_y`` is a difference of logits: of order log V for moderate logits, and
#: rounded at ~2^-24·max|z| when the logsumexp is accumulated in float32 (measured: logits ~1e3 give
#: 2.9e-5 absolute error on a loss of ln 2 in the Torch class-index path, 0.9 of a log V-scaled float32
#: budget). max|z|/16 keeps that at ~1/4 of the float32 floor; moderate logits stay on log V.
#: With ``reduction="sum"`` the output is a (weighted) sum of N row losses: the scale is N x max weight times
#: the row scale (deep profile: 6 rows of equal logits -819.7 summed lost 2.5e-4 in float32).
CE_SCALE = Scale("max(1, log V, max |finite logit| / 16), times N rows x max(1, max weight) for reduction='sum'",
                 _ce_scale)


def _index_target(inputs: Mapping[str, Any]) -> np.ndarray[Any, Any] | None:
    t = np.asarray(inputs["target"])
    return t if np.issubdtype(t.dtype, np.integer) else None


def _some_ignored(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    t = _index_target(inputs)
    ignored = None if t is None else t == int(params.get("ignore_index", -100))
    return ignored is not None and bool(np.any(ignored)) and not bool(np.all(ignored))


def _all_ignored(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    t = _index_target(inputs)
    return t is not None and t.size > 0 and bool(np.all(t == int(params.get("ignore_index", -100))))


BRANCHES = (
    Branch("index targets with some ignored", "a mix of kept and ignore_index targets", _some_ignored),
    Branch("all targets ignored", "every target is ignore_index (mean over zero weight is 0)", _all_ignored),
    Branch("soft targets", "probability targets", lambda i, p, o: _index_target(i) is None),
    Branch("label smoothing > 0 with weights", "0 < ε and class weights given",
           lambda i, p, o: float(p.get("label_smoothing", 0.0)) > 0 and i.get("weight") is not None),
)

# --------------------------------------------------------------------------- cross_entropy


def _ce_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    z = np.asarray(inputs["logits"], dtype=np.float64)
    t = np.asarray(inputs["target"])
    w_in = inputs.get("weight")
    v = z.shape[-1]
    w = np.ones(v) if w_in is None else np.asarray(w_in, dtype=np.float64)
    eps = sp.Float(float(params.get("label_smoothing", 0.0)))
    ignore = int(params.get("ignore_index", -100))
    reduction = params.get("reduction", "mean")
    sym = symbols_like("z", z)
    index = np.issubdtype(t.dtype, np.integer)
    rows_s, rows_z = sym.reshape(-1, v), z.reshape(-1, v)
    rows_t = t.reshape(-1) if index else np.asarray(t, dtype=np.float64).reshape(-1, v)
    losses: list[Any] = []
    denom = 0.0
    for r in range(rows_z.shape[0]):
        logp, _ = logit_rows_expr(rows_s[r], rows_z[r])
        nll = [sp.oo if lp is None else -lp for lp in logp]

        def wsum(coef: np.ndarray[Any, Any], nll: list[Any] = nll) -> Any:
            return sum((sp.Float(float(c)) * x for c, x in zip(coef, nll, strict=True) if c != 0), sp.Integer(0))

        if index:
            y = int(rows_t[r])
            if y == ignore:
                losses.append(sp.Integer(0))
                continue
            denom += float(w[y])
            main = sp.Integer(0) if w[y] == 0 or float(eps) == 1.0 else (1 - eps) * sp.Float(float(w[y])) * nll[y]
            smooth = wsum(w) if float(eps) > 0 else sp.Integer(0)
            losses.append(main + eps / v * smooth)
        else:
            coef = w * ((1.0 - float(eps)) * rows_t[r] + float(eps) / v)
            losses.append(wsum(coef))
            denom += 1.0
    if reduction == "none":
        out: Any = np.array(losses, dtype=object).reshape(z.shape[:-1])
    elif reduction == "sum":
        out = sum(losses, sp.Integer(0))
    else:
        out = sum(losses, sp.Integer(0)) / sp.Float(denom) if denom > 0 else sp.Integer(0)
    return SymbolicProblem({"logits": sym}, out, bind(sym, z))


def _ce_nonneg(ctx: PropertyContext) -> None:
    (loss,) = ctx.call()
    assert np.all(loss >= -ctx.slack()), f"cross-entropy < 0: {loss}"


def _ce_constant_logits(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    t = np.asarray(ctx.inputs["target"])
    if not np.issubdtype(t.dtype, np.integer):
        ctx.skip("probability targets")
    ignore = int(ctx.params.get("ignore_index", -100))
    (loss,) = ctx.call(logits=np.full(z.shape, 0.25), weight=None, reduction="none")
    expected = np.where(t != ignore, math.log(z.shape[-1]), 0.0)
    assert ctx.close(loss, expected, 2), f"constant logits must give log V per kept row: {loss}"


def _ce_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    (loss,) = ctx.call()
    (ls,) = ctx.call(logits=z + row_shift(z, ctx.dtype))
    assert ctx.close(ls, loss, 4), f"not invariant to a per-row logit shift: {loss} vs {ls}"


def _ce_ge_entropy(ctx: PropertyContext) -> None:
    t = np.asarray(ctx.inputs["target"])
    if np.issubdtype(t.dtype, np.integer):
        ctx.skip("class-index targets (the bound is about probability targets)")
    (loss,) = ctx.call(weight=None, label_smoothing=0.0, reduction="none")
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0), axis=-1)
    assert np.all(loss >= h - ctx.slack(4)), f"CE(t, softmax z) = H(t) + KL must be >= H(t): {loss} < {h}"


def _ce_reductions(ctx: PropertyContext) -> None:
    (per,) = ctx.call(reduction="none")
    (total,) = ctx.call(reduction="sum")
    scale = float(np.sum(np.abs(per[np.isfinite(per)]))) if per.size else 0.0
    if not np.all(np.isfinite(per)):
        ctx.skip("an infinite per-row loss (a -inf target logit)")
    assert abs(float(total) - float(np.sum(per))) <= ctx.slack(4) + (4 * ctx.budget.rtol + 1e-6) * scale, \
        f"sum reduction {total} != Σ none {np.sum(per)}"


def _ce_parts(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, Any, Any, bool, str]:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    t = np.asarray(inputs["target"])
    w = inputs.get("weight")
    w = np.ones(z.shape[-1]) if w is None else np.asarray(w, dtype=np.float64)
    return z, t, w, bool(np.issubdtype(t.dtype, np.integer)), str(params.get("reduction", "mean"))


def _torch_all_ignored_nan(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """torch's mean over a zero total weight is 0/0 = NaN (every target ignored, zero weights, empty batch)."""
    z, t, w, index, reduction = _ce_parts(inputs, params)
    if reduction != "mean":
        return None
    if index:
        kept = t != params.get("ignore_index", -100)
        total = float(np.sum(w[np.where(kept, t, 0)] * kept))
    else:
        total = float(z.size // z.shape[-1]) if z.shape[-1] else 0.0
    return (np.asarray(math.nan),) if total == 0.0 else None


def _torch_neginf_nan(reference: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """torch's 0·(−inf) = NaN: a row with a −inf logit whose coefficient (weight × target probability,
    smoothing included) is 0 gets a NaN loss, and so does its mean or sum."""
    z, t, w, index, reduction = _ce_parts(inputs, params)
    eps = float(params.get("label_smoothing", 0.0))
    v = z.shape[-1]
    if index:  # torch: (1 − ε)·(−w_t log p_t) + (ε/C)·Σ_c (−w_c log p_c), ignored rows masked out
        kept = t != params.get("ignore_index", -100)
        safe = np.where(kept, t, 0)
        z_t = np.take_along_axis(z, safe[..., None], axis=-1)[..., 0]
        nll_nan = np.isneginf(z_t) & ((1 - eps == 0.0) | (w[safe] == 0.0))
        smooth_nan = np.any(np.isneginf(z) & (w == 0.0), axis=-1) if eps > 0 else np.zeros(t.shape, dtype=bool)
        bad = kept & (nll_nan | smooth_nan)
    else:  # torch: −Σ_c w_c ((1 − ε) t_c + ε/C) log p_c
        bad = np.any(np.isneginf(z) & (((1 - eps) * t + eps / v) * w == 0.0), axis=-1)
    if not np.any(bad):
        return None
    (ours,) = reference(inputs, params)
    if reduction == "none":
        return (np.where(bad, math.nan, ours),)
    return (np.asarray(math.nan),)


register(MethodSpec(
    id="cross_entropy",
    family="categorical",
    kind="loss",
    summary="Cross-entropy of softmax(logits) (classes last) vs class indices or probabilities; torch semantics.",
    papers=(HYPERFITTING_2024, INCEPTION_2016),
    provenance=Provenance(
        confidence="standard",
        checked_against="torch.nn.functional.cross_entropy (torch 2.13.0) with the class axis moved: reductions "
                        "none/mean/sum, weight, ignore_index, label_smoothing, probability targets "
                        "(tests/test_categorical_parity.py); torch's label-smoothing+weight+mean definition "
                        "(aten LossNLL.cpp cross_entropy_loss_label_smoothing: the smoothing term is divided "
                        "by the same Σ w_{y_n} as the NLL term) reproduced by a hand formula in the tests",
        differences=(
            Difference("all-ignored mean", "library contract: a mean over zero total weight is 0",
                       "torch returns NaN when every target is ignored (0/0; pytorch issue #116349)",
                       default="paper", flag=None, name="all_ignored_nan", other=_torch_all_ignored_nan),
            Difference("zero-coefficient -inf logits", "0·log 0 = 0",
                       "torch gives NaN for a -inf logit whose weight (or smoothed target probability) is 0",
                       default="paper", flag=None, name="neginf_zero_coefficient_nan", other=_torch_neginf_nan),
        ),
        notes="Deviations from torch (both documented, never NaN): mean with a zero denominator (all targets "
              "ignored, all target weights 0, empty batch) returns 0 instead of NaN; 0·∞ = 0 for masked logits "
              "with zero coefficient. Class axis is the LAST axis (torch: dim 1).",
    ),
    inputs=(
        InputSpec("logits", "logits", ("...", "V"), "class scores, classes on the last axis", differentiable=True,
                  allow_neg_inf=True),
        InputSpec("target", "class_index", ("...",), "class indices (int) or, with shape (..., V), probabilities",
                  dtype="int"),
        InputSpec("weight", "weights", ("V",), "non-negative per-class weights", optional=True, positional=False),
    ),
    params=(
        ParamSpec("ignore_index", -100, IntRange(-(2**63), 2**63 - 1), "class-index targets equal to it are ignored",
                  drawn=False),
        ParamSpec("label_smoothing", 0.0, Interval(0.0, 1.0), "ε: the target is mixed with the uniform ε/C"),
        ParamSpec("reduction", "mean", Choice(("none", "mean", "sum")), "how per-row losses are reduced"),
    ),
    outputs=(OutputSpec("loss", "per-row losses (reduction='none') or a scalar", scale=CE_SCALE),),
    properties=(
        Property("nonnegative", "CE >= 0", _ce_nonneg),
        Property("constant_logits", "constant logits give log V per kept row (no weights)", _ce_constant_logits),
        Property("shift_invariance", "invariant to a per-row logit shift", _ce_shift),
        Property("gibbs", "for probability targets CE(t, softmax z) = H(t) + KL(t‖softmax z) >= H(t)",
                 _ce_ge_entropy),
        Property("sum_of_none", "reduction='sum' equals the sum of reduction='none'", _ce_reductions),
    ),
    branches=BRANCHES,
    tolerance=default_tolerance(),
    derivation=Derivation(_ce_problem, wrt=("logits",), kinks="none for finite logits"),
    degenerate=("mean over a zero total weight (all ignored / empty batch / zero weights) returns 0, not NaN",
                "a -inf target logit (with positive weight) gives +inf"),
))


