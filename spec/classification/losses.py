"""Specs of the ``classification`` family, group ``losses``: fused linear cross-entropy (Cut Cross-Entropy).

Shapes: ``N`` rows (tokens), ``D`` features, ``V`` classes (vocabulary). Targets are class indices with
``ignore_index``; a mean over zero kept rows is 0 (the library's cross-entropy contract), never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

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
    Paper,
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

CCE_2024 = Paper("Cut Your Losses in Large-Vocabulary Language Models", 2024, "2411.09009")

# --------------------------------------------------------------------------- linear_cross_entropy


def _logit_bound(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    e = np.asarray(inputs["embeddings"], dtype=np.float64)
    c = np.asarray(inputs["classifier"], dtype=np.float64)
    b = inputs.get("bias")
    zmax = float(np.sum(np.abs(e), axis=-1).max(initial=0.0) * np.abs(c).max(initial=0.0))
    if b is not None and np.size(b):
        zmax += float(np.max(np.abs(b)))
    s = params.get("softcap")
    return min(zmax, float(s)) if s is not None else zmax


def _lce_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    v = max(int(np.shape(inputs["classifier"])[0]), 2)
    # the logits are dot products of length D: rounded at ~eps·Σ|e_d c_d|, like the CE of logits of that size
    row = max(1.0, math.log(v), _logit_bound(inputs, params) / 16.0)
    if params.get("reduction", "mean") != "sum":
        return row
    return row * max(1, int(np.shape(inputs["targets"])[0]))


LCE_SCALE = Scale("max(1, log V, max_i Σ_d |e_id| · max |c| (+ max |b|, capped by the softcap) / 16), "
                  "times N for reduction='sum'", _lce_scale)


def _pairs(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Row indices of e and their targets (after the shift)."""
    t = np.asarray(inputs["targets"]).reshape(-1)
    k = int(params.get("shift", 0))
    n = t.shape[0]
    rows = np.arange(max(n - k, 0))
    return rows, t[rows + k]


def _lce_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    e = np.asarray(inputs["embeddings"], dtype=np.float64)
    c = np.asarray(inputs["classifier"], dtype=np.float64)
    b_in = inputs.get("bias")
    b = None if b_in is None else np.asarray(b_in, dtype=np.float64)
    es, cs = symbols_like("e", e), symbols_like("c", c)
    syms: dict[str, Any] = {"embeddings": es, "classifier": cs}
    bs = None
    if b is not None:
        bs = symbols_like("b", b)
        syms["bias"] = bs
    ignore = int(params.get("ignore_index", -100))
    s = params.get("softcap")
    reduction = params.get("reduction", "mean")
    rows, tg = _pairs(inputs, params)
    v, d = c.shape
    losses: list[Any] = []
    kept = 0
    for i, y in zip(rows, tg, strict=True):
        if int(y) == ignore:
            losses.append(sp.Integer(0))
            continue
        kept += 1
        z = []
        for j in range(v):
            zj = sum((es[i, k] * cs[j, k] for k in range(d)), sp.Integer(0))
            if bs is not None:
                zj = zj + bs[j]
            if s is not None:
                zj = sp.Float(float(s)) * sp.tanh(zj / sp.Float(float(s)))
            z.append(zj)
        losses.append(sp.log(sum((sp.exp(zj) for zj in z), sp.Integer(0))) - z[int(y)])
    if reduction == "none":
        out: Any = np.array(losses, dtype=object)
    elif reduction == "sum":
        out = sum(losses, sp.Integer(0))
    else:
        out = sum(losses, sp.Integer(0)) / kept if kept else sp.Integer(0)
    values = bind(es, e)
    values.update(bind(cs, c))
    if bs is not None and b is not None:
        values.update(bind(bs, b))
    return SymbolicProblem(syms, out, values)


def _nonneg(ctx: PropertyContext) -> None:
    (loss,) = ctx.call()
    assert np.all(loss >= -ctx.slack()), f"cross-entropy < 0: {loss}"


def _zero_classifier(ctx: PropertyContext) -> None:
    c = ctx.inputs["classifier"]
    _, tg = _pairs(ctx.inputs, ctx.params)
    ignore = int(ctx.params.get("ignore_index", -100))
    (loss,) = ctx.call(classifier=np.zeros_like(c), bias=None, reduction="none")
    expected = np.where(tg != ignore, math.log(c.shape[0]), 0.0)
    assert ctx.close(loss, expected, 2), f"constant logits must give log V per kept row: {loss}"


def _bias_shift(ctx: PropertyContext) -> None:
    c = ctx.inputs["classifier"]
    b = ctx.inputs.get("bias")
    if ctx.params.get("softcap") is not None:
        ctx.skip("a softcap is not shift-invariant")
    base = np.zeros(c.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
    (loss,) = ctx.call(bias=base)
    (ls,) = ctx.call(bias=base + 0.75)
    assert ctx.close(ls, loss, 4), f"not invariant to a constant added to every logit: {loss} vs {ls}"


def _sum_of_none(ctx: PropertyContext) -> None:
    (per,) = ctx.call(reduction="none")
    (total,) = ctx.call(reduction="sum")
    scale = float(np.sum(np.abs(per))) if per.size else 0.0
    assert abs(float(total) - float(np.sum(per))) <= ctx.slack(4) + (4 * ctx.budget.rtol + 1e-6) * scale, \
        f"sum reduction {total} != Σ none {np.sum(per)}"


def _materialised(ctx: PropertyContext) -> None:
    """The loss equals the cross-entropy of the materialised logits z = e cᵀ + b (softcapped)."""
    e = np.asarray(ctx.inputs["embeddings"], dtype=np.float64)
    c = np.asarray(ctx.inputs["classifier"], dtype=np.float64)
    b = ctx.inputs.get("bias")
    z = e @ c.T + (0.0 if b is None else np.asarray(b, dtype=np.float64))
    s = ctx.params.get("softcap")
    if s is not None:
        z = float(s) * np.tanh(z / float(s))
    rows, tg = _pairs(ctx.inputs, ctx.params)
    ignore = int(ctx.params.get("ignore_index", -100))
    zr = z[rows]
    m = zr.max(axis=-1, keepdims=True) if zr.size else np.zeros((0, 1))
    lse = (np.log(np.exp(zr - m).sum(-1, keepdims=True)) + m)[:, 0] if zr.size else np.zeros(0)
    keep = tg != ignore
    nll = np.where(keep, lse - zr[np.arange(len(rows)), np.where(keep, tg, 0)], 0.0)
    (loss,) = ctx.call(reduction="none")
    assert ctx.close(loss, nll, 4), f"not the CE of e cᵀ + b: {loss} vs {nll}"


def _filter_keeps_value(ctx: PropertyContext) -> None:
    """CCE's gradient filter is a backward-only approximation: the forward value is exact with it on."""
    (loss,) = ctx.call()
    (filtered,) = ctx.call(filter_eps=2.0**-12)
    assert ctx.close(filtered, loss, 1), f"filter_eps changed the forward value: {loss} vs {filtered}"


def _some_ignored(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    _, tg = _pairs(inputs, params)
    ign = tg == int(params.get("ignore_index", -100))
    return bool(np.any(ign)) and not bool(np.all(ign))


register(MethodSpec(
    id="linear_cross_entropy",
    family="classification",
    kind="loss",
    summary="Cross-entropy of the logits e cᵀ + b (optionally softcapped) without materialising them (Cut "
            "Cross-Entropy); exact by default, CCE's block gradient filter as an option.",
    papers=(CCE_2024,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="apple/ml-cross-entropy @ 3a79837891bdd018c959784bd85327b987abd179: "
                        "cut_cross_entropy/linear_cross_entropy.py (API, defaults, shift range [0, N)), cce.py "
                        "(nll = lse − z_y on the non-ignored rows; mean = nll.mean() over them; 'none' scatters "
                        "into the batch shape and drops the first `shift` entries), utils.py @ ad428fdd "
                        "(_build_flat_valids: targets[..., shift:] != ignore_index; _handle_eps: "
                        "'auto' = finfo(dtype).eps / 32; softcapping = tanh(z / s)·s), cce_backward.py @ "
                        "18e76ada (d = softmax − onehot; a BLOCK_B × BLOCK_V tile is skipped when every "
                        "|d| < filter_eps, before the dOut/grad_scale scaling; softcap grad (1 − tanh²))",
        official_code="apple/ml-cross-entropy:cut_cross_entropy/linear_cross_entropy.py",
        differences=(
            Difference("default filter", "exact gradient (the paper's baseline)",
                       "filter_eps='auto' (finfo(dtype).eps/32): the block-sparse approximate gradient",
                       default="paper", flag="filter_eps"),
            Difference("filter tiles", "tiles of filter_block_rows × filter_block_vocab over the rows and the "
                       "vocabulary in natural order, ignored rows counted as |d| = 0",
                       "Triton autotuned BLOCK_B × BLOCK_V over the compacted non-ignored rows and the vocabulary "
                       "sorted by average logit", default="paper", flag="filter_block_vocab"),
            Difference("all-ignored mean", "library contract: a mean over zero kept rows is 0",
                       "nll.mean() of an empty tensor is NaN", default="paper", flag=None),
        ),
        notes="Peers: torch (F.cross_entropy(e @ c.T + b, y) on the shifted pairs) in tests/classification; "
              "cut-cross-entropy and liger-kernel need a GPU (not run). The forward never depends on filter_eps.",
    ),
    inputs=(
        InputSpec("embeddings", "values", ("N", "D"), "e: one embedding per row", differentiable=True),
        InputSpec("classifier", "values", ("V", "D"), "c: one classifier row per class", differentiable=True),
        InputSpec("targets", "class_index", ("N",), "class indices in [0, V) or ignore_index", dtype="int"),
        InputSpec("bias", "values", ("V",), "b: per-class logit bias", optional=True, positional=False,
                  differentiable=True),
    ),
    params=(
        ParamSpec("ignore_index", -100, IntRange(-(2**63), 2**63 - 1), "targets equal to it are ignored",
                  drawn=False),
        ParamSpec("softcap", None, Interval(0.01, 1000.0, allow_none=True),
                  "s: logits become s·tanh(z / s); None = no cap (range kept representable in float16)"),
        ParamSpec("reduction", "mean", Choice(("none", "mean", "sum")), "how per-row losses are reduced"),
        ParamSpec("shift", 0, IntRange(0, None), "k: row i of e is scored against targets[i + k] (k < N)",
                  drawn=False),
        ParamSpec("filter_eps", None, Interval(0.0, None, allow_none=True),
                  "CCE's gradient filter: drop a tile's gradient when every |softmax − onehot| < filter_eps; "
                  "None = exact", drawn=False),
        ParamSpec("filter_block_rows", 16, IntRange(1, None), "rows per filter tile", drawn=False),
        ParamSpec("filter_block_vocab", 128, IntRange(1, None), "classes per filter tile", drawn=False),
    ),
    outputs=(OutputSpec("loss", "per-row losses (reduction='none', N − shift of them) or a scalar",
                        scale=LCE_SCALE),),
    properties=(
        Property("nonnegative", "CE >= 0", _nonneg),
        Property("constant_logits", "a zero classifier (no bias) gives log V per kept row", _zero_classifier),
        Property("bias_shift", "invariant to adding a constant to every bias (no softcap)", _bias_shift),
        Property("materialised", "equals the cross-entropy of the materialised logits", _materialised),
        Property("sum_of_none", "reduction='sum' equals the sum of reduction='none'", _sum_of_none),
        Property("filter_forward_exact", "filter_eps leaves the forward value unchanged", _filter_keeps_value),
    ),
    branches=(
        Branch("some targets ignored", "a mix of kept and ignore_index targets", _some_ignored),
        Branch("softcap", "a softcap is set", lambda i, p, o: p.get("softcap") is not None),
        Branch("bias", "a bias is given", lambda i, p, o: i.get("bias") is not None),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_lce_problem, wrt=("embeddings", "classifier"), kinks="none"),
    degenerate=("mean over zero kept rows (all ignored, or shift = N − … leaving none kept) returns 0, not NaN",),
))
