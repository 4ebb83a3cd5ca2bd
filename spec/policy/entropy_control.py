"""Specs of the ``entropy_control`` group of the ``policy`` family: entropy interventions of RL for LLMs —
SIREN's peak-entropy quantile mask and self-anchored entropy regulariser, EPO's phase weight, entropy
smoothing penalty and policy loss.

State. SIREN's anchor is an input and an output: ``siren_entropy_loss(..., anchor=None)`` returns
``(loss, anchor)``; with ``anchor=None`` (the first step) the anchor is computed — detached — from
``old_entropy`` (the old policy's entropies, as the official trainer at global step 1) or, when that is
not given either, from the detached current ``entropy``; afterwards the caller passes the returned anchor
back unchanged (the official code keeps it constant for the rest of training).

Selections across dtypes. The quantile bounds (``peak_entropy_quantile_mask``) and EPO's band tests are
decided in float64 in every dtype, from the (representable) inputs, so every backend keeps the same tokens
as the reference; the reference and the accelerated code use the same interpolation formula (torch's
``lerp``). Conformance draws entropies on a dyadic grid with ties.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

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
from spec.policy._common import (
    AGG_MODES,
    EMPTY_MASK,
    SEQ,
    mask_input,
    np_aggregate,
    valid_mask,
)
from spec.registry import register

__all__: list[str] = []

SIREN_2025 = Paper("Rethinking Entropy Regularization in Large Reasoning Models", 2025, "2509.25133")
EPO_2025 = Paper("EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning", 2025,
                 "2509.22576")
SIREN_CODE = "Linn3a/siren verl/verl/workers/actor/dp_actor.py"
SIREN_COMMIT = "fa59a8dfbecf5c3936ed905d5902a06c0ca425ee"
EPO_CODE = "WujiangXu/EPO verl/workers/actor/dp_actor.py"
EPO_COMMIT = "5b6fa98e034639b95afbfb24f98d1cb1e5197542"

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- independent NumPy formulas


def np_row_quantile(x: F64, valid: Bool, q: float) -> F64:
    """Per-row linear-interpolation quantile over the valid entries (torch.nanquantile with NaN at invalid
    entries, written from its definition); NaN for a row without valid entries."""
    x2 = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1]) if np.size(x) else np.zeros((0, 1))
    v2 = np.asarray(valid).reshape(x2.shape)
    out = np.full(x2.shape[0], np.nan)
    for r in range(x2.shape[0]):
        vals = np.sort(x2[r][v2[r]])
        if vals.size:
            out[r] = np.quantile(vals, q, method="linear")
    return out.reshape(np.shape(x)[:-1])


def np_peak_mask(h: F64, mask: Any, q: float, double_mask: bool, restrict: bool) -> Bool:
    valid = valid_mask(mask)
    h = np.asarray(h, dtype=np.float64)
    if h.size == 0:
        return np.zeros(h.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        keep = h > np_row_quantile(h, valid, q)[..., None]
        if restrict:
            keep &= valid
        if double_mask:
            masked = np.where(keep, h, 0.0)
            keep = masked > np_row_quantile(masked, valid, q)[..., None]
            if restrict:
                keep &= valid
    return np.asarray(keep, dtype=bool)


def _quantile_near_tie(h: F64, mask: Any, q: float) -> bool:
    """Whether an entropy lies within rounding of its row's bound (np.quantile and the lerp may then differ)."""
    valid = valid_mask(mask)
    h = np.asarray(h, dtype=np.float64)
    if h.size == 0:
        return False
    b = np_row_quantile(h, valid, q)[..., None]
    with np.errstate(invalid="ignore"):
        near = np.isfinite(b) & (np.abs(h - b) <= 1e-12 * (1.0 + np.abs(b))) & (h != b)
    return bool(np.any(near))


# =========================================================================== peak_entropy_quantile_mask


def _peak_params(p: Mapping[str, Any]) -> tuple[float, bool, bool]:
    return float(p.get("quantile", 0.8)), bool(p.get("double_mask", False)), bool(p.get("restrict_to_mask", True))


def _peak_definition(ctx: PropertyContext) -> None:
    """The kept set is the strict ``H > row quantile`` set (np.quantile, 'linear'), written independently."""
    q, dm, rs = _peak_params(ctx.params)
    if _quantile_near_tie(ctx.inputs["entropy"], ctx.inputs["mask"], q):
        ctx.skip("an entropy within rounding of its row quantile")
    (keep,) = ctx.call()
    expect = np_peak_mask(ctx.inputs["entropy"], ctx.inputs["mask"], q, dm, rs)
    assert np.array_equal(np.asarray(keep, dtype=bool), expect), "kept set differs from H > quantile"


def _peak_fraction(ctx: PropertyContext) -> None:
    """Single mask, restricted: each row keeps at most ceil((1 − q)·n) of its n valid tokens, at least one
    unless every valid entropy equals the row maximum... (strict >: the row maximum is kept iff q < 1 and
    it exceeds the bound)."""
    q, _, _ = _peak_params(ctx.params)
    (keep,) = ctx.call(double_mask=False, restrict_to_mask=True)
    keep = np.asarray(keep, dtype=bool)
    valid = valid_mask(ctx.inputs["mask"])
    if keep.size == 0:
        ctx.skip("empty batch")
    k2 = keep.reshape(-1, keep.shape[-1])
    v2 = valid.reshape(k2.shape)
    for kr, vr in zip(k2, v2, strict=True):
        n = int(vr.sum())
        assert int(kr.sum()) <= math.ceil((1.0 - q) * n - 1e-9) + 0, f"kept {int(kr.sum())} of {n} at q = {q}"
        assert not np.any(kr & ~vr), "a masked token is kept"


def _peak_monotone(ctx: PropertyContext) -> None:
    """Raising the quantile never keeps more tokens (single mask)."""
    q, _, _ = _peak_params(ctx.params)
    (a,) = ctx.call(double_mask=False)
    (b,) = ctx.call(double_mask=False, quantile=min(1.0, q + 0.25))
    assert not np.any(np.asarray(b, dtype=bool) & ~np.asarray(a, dtype=bool)), "a higher quantile kept a new token"


def _peak_double_same(ctx: PropertyContext) -> None:
    """For non-negative entropies the double mask keeps exactly the single mask's tokens: a kept token has
    H > b1 ≥ min H ≥ 0, and the second row quantile is 0 or interpolates between 0 and the smallest kept
    entropy, so it stays below every kept value."""
    if np.any(np.asarray(ctx.inputs["entropy"]) < 0):
        ctx.skip("negative entropies")
    (a,) = ctx.call(double_mask=False)
    (b,) = ctx.call(double_mask=True)
    assert np.array_equal(np.asarray(b, dtype=bool), np.asarray(a, dtype=bool)), "double mask changed the set"


def _peak_ties_at_bound(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    valid = valid_mask(inputs["mask"])
    h = np.asarray(inputs["entropy"], dtype=np.float64)
    if h.size == 0:
        return False
    b = np_row_quantile(h, valid, _peak_params(params)[0])[..., None]
    return bool(np.any(valid & (h == b)))


def _peak_partial(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    keep = np.asarray(outputs[0], dtype=bool)
    valid = valid_mask(inputs["mask"])
    return bool(np.any(keep) and np.any(valid & ~keep))


def _peak_empty_row(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    keep = np.asarray(outputs[0], dtype=bool)
    valid = valid_mask(inputs["mask"])
    if keep.size == 0:
        return False
    k2, v2 = keep.reshape(-1, keep.shape[-1]), valid.reshape(-1, keep.shape[-1])
    return bool(np.any(v2.any(axis=-1) & ~k2.any(axis=-1)))


def _peak_padding_above(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    """A masked token whose entropy exceeds its row bound (restrict_to_mask decides whether it is kept)."""
    valid = valid_mask(inputs["mask"])
    h = np.asarray(inputs["entropy"], dtype=np.float64)
    if h.size == 0:
        return False
    b = np_row_quantile(h, valid, _peak_params(params)[0])[..., None]
    with np.errstate(invalid="ignore"):
        return bool(np.any(~valid & (h > b)))


ENTROPY_DOC = "per-token entropies (B, T), e.g. SIREN's top-p renormalised entropy (top_p_renormalized_entropy)"

register(MethodSpec(
    id="peak_entropy_quantile_mask",
    family="policy",
    kind="helper",
    summary="SIREN's peak-entropy mask: keep the tokens whose entropy exceeds their sequence's q-quantile (torch "
            "nanquantile, linear interpolation, over the valid tokens; strict >), optionally applied twice.",
    papers=(SIREN_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{SIREN_CODE} mask_by_quantile and update_policy (commit {SIREN_COMMIT[:7]}, read via the "
                        "search tool and a fetched snapshot)",
        official_code=f"{SIREN_CODE}:mask_by_quantile",
        notes="mask_by_quantile(x, response_mask, upper, lower): x_masked = x with NaN where response_mask == 0 "
              "(.float()); bound = torch.nanquantile(x_masked, lower, dim=-1, keepdim=True) — per sequence, linear "
              "interpolation, pos = q·(n − 1) over the n valid tokens; quantile_mask = x > bound (strict, not AND-ed "
              "with the response mask; `upper` is unused). For experiment_type='siren' update_policy masks the "
              "entropies once right after the forward (entropy ← where(M1, H, 0)) and again in the siren branch "
              "(value_mask = M2 from the quantile of the once-masked entropies): double_mask=True. A row without "
              "valid tokens has a NaN bound and keeps nothing. Interpolation: torch's lerp "
              "(a + w(b − a) for w < 0.5, b − (b − a)(1 − w) otherwise), decided in float64 here (the code "
              "computes in float32).",
        differences=(
            Difference("mask restriction", "the top (1 − q) tokens of each response",
                       "x > bound is not AND-ed with the response mask: a padding token whose (model-computed) "
                       "entropy exceeds the bound is kept (harmless in the code because padding entropy is 0 in "
                       "the rmpad path and the later aggregation is masked)", "paper", "restrict_to_mask"),
            Difference("double masking", "one quantile mask",
                       "experiment_type='siren' masks twice; for non-negative entropies the second mask keeps "
                       "exactly the same tokens (the second quantile lies below every kept value; property "
                       "double_mask_idempotent), so it matters only for negative inputs", "paper", "double_mask"),
            Difference("precision", "a quantile", "torch.nanquantile on float32 (.float())", "code", None),
        ),
    ),
    inputs=(
        InputSpec("entropy", "values", SEQ, ENTROPY_DOC, sensitive=True),
        mask_input(),
    ),
    params=(
        ParamSpec("quantile", 0.8, Interval(0.0, 1.0), "q (the code's mask_ratio): keep H > q-quantile of the row",
                  sensitive=True),
        ParamSpec("double_mask", False, Choice((False, True)), "apply the mask a second time to the masked "
                  "entropies (the official 'siren' experiment path)"),
        ParamSpec("restrict_to_mask", True, Choice((True, False)), "AND the kept set with the mask (False: the "
                  "code, which keeps padding above the bound)"),
    ),
    outputs=(OutputSpec("keep", "(B, T) bool: tokens whose entropy is above their row's quantile", discrete=True,
                        shape=SEQ),),
    branches=(
        Branch("partial selection", "some valid tokens kept, some not", _peak_partial),
        Branch("tie at the bound", "a valid entropy equals its row's bound exactly (strict >: not kept)",
               _peak_ties_at_bound),
        Branch("a row keeps nothing", "a row with valid tokens keeps none (all-equal entropies, or q = 1)",
               _peak_empty_row),
        Branch("padding above the bound", "a masked token's entropy exceeds its row bound", _peak_padding_above),
        EMPTY_MASK,
    ),
    properties=(
        Property("definition", "keep = H > row quantile (np.quantile 'linear' over valid tokens)", _peak_definition),
        Property("fraction", "at most ceil((1 − q)·n) of the n valid tokens of a row, none masked", _peak_fraction),
        Property("monotone_in_quantile", "a higher quantile never keeps a new token", _peak_monotone),
        Property("double_mask_idempotent", "for H ≥ 0 the double mask keeps exactly the single mask's tokens",
                 _peak_double_same),
    ),
    tolerance=default_tolerance(),
    stop_gradients=("the mask is a selection (no gradient)",),
    degenerate=("a row without valid tokens keeps nothing (the code's NaN bound)",
                "all-equal valid entropies: nothing kept in that row (strict >)",
                "q = 1: the bound is the row maximum, nothing kept"),
))


# =========================================================================== siren_entropy_loss


def _siren_params(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"coef": float(p.get("coef", 1.0)), "quantile": float(p.get("quantile", 0.8)),
            "double_mask": bool(p.get("double_mask", True)), "restrict": bool(p.get("restrict_to_mask", True)),
            "mode": str(p.get("mode", "seq-mean-token-mean")), "empty_rows": str(p.get("empty_rows", "zero"))}


def np_siren_agg(h: F64, keep: Bool, mode: str, empty_rows: str) -> float:
    """aggregate(h, keep, mode), rows without kept tokens counted as 0 in the seq-mean-token-mean row mean when
    ``empty_rows == 'zero'`` (the fork's agg_loss), excluded otherwise (our aggregate)."""
    value = np_aggregate(np.where(keep, h, 0.0), keep, mode)
    if mode == "seq-mean-token-mean" and empty_rows == "zero" and np.size(keep):
        k2 = np.asarray(keep).reshape(-1, np.shape(keep)[-1])
        nonempty = int(k2.any(axis=-1).sum())
        value = value * nonempty / k2.shape[0]
    return float(value)


def np_siren_selected(h: F64, mask: Any, p: Mapping[str, Any]) -> tuple[F64, Bool]:
    """(the entropies the loss aggregates, the kept set) — the once-masked entropies with the final mask."""
    s = _siren_params(p)
    h = np.asarray(h, dtype=np.float64)
    first = np_peak_mask(h, mask, s["quantile"], False, s["restrict"])
    if not s["double_mask"]:
        return h, first
    return np.where(first, h, 0.0), np_peak_mask(h, mask, s["quantile"], True, s["restrict"])


def _siren_anchor(i: Mapping[str, Any], p: Mapping[str, Any]) -> float:
    s = _siren_params(p)
    if i.get("anchor") is not None:
        return float(np.asarray(i["anchor"], dtype=np.float64))
    src = i["old_entropy"] if i.get("old_entropy") is not None else i["entropy"]
    src = np.asarray(src, dtype=np.float64)
    keep = np_peak_mask(src, i["mask"], s["quantile"], False, s["restrict"])
    return np_siren_agg(src, keep, s["mode"], s["empty_rows"])


def _siren_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    h = np.abs(np.asarray(inputs["entropy"], dtype=np.float64))
    hmax = float(h.max()) if h.size else 0.0
    a = abs(_siren_anchor(inputs, params))
    return max(1.0, float(params.get("coef", 1.0)) * (hmax + a) ** 2)


SIREN_SCALE = Scale("max(1, coef·(max|H| + |anchor|)²): a bound of the loss", _siren_scale)


def _siren_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.policy._symbolic import problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    s = _siren_params(params)
    h = np.asarray(inputs["entropy"], dtype=np.float64)
    _, keep = np_siren_selected(h, inputs["mask"], params)  # a data-dependent selection: a constant
    sym = symbols_like("h", h)
    tok = np.empty(h.shape, dtype=object)
    for idx in np.ndindex(h.shape):
        tok[idx] = sym[idx] if keep[idx] else sp.Integer(0)
    agg = sym_aggregate(tok, keep, s["mode"])
    if s["mode"] == "seq-mean-token-mean" and s["empty_rows"] == "zero" and keep.size:
        k2 = keep.reshape(-1, keep.shape[-1])
        agg = agg * sp.Rational(int(k2.any(axis=-1).sum()), k2.shape[0])
    anchor = _siren_anchor(inputs, params)
    out = sp.Float(s["coef"]) * (agg - sp.Float(anchor)) ** 2
    return problem({"entropy": sym}, out, bind(sym, h))


def _siren_nonneg_and_anchor(ctx: PropertyContext) -> None:
    """loss ≥ 0; the returned anchor is the given one unchanged, or H_sel of the anchoring entropies."""
    loss, anchor = ctx.call()
    assert float(loss) >= -ctx.slack(), f"loss {float(loss)} < 0"
    expect = _siren_anchor(ctx.inputs, ctx.params)
    if ctx.inputs.get("anchor") is not None:
        assert float(anchor) == float(np.asarray(ctx.inputs["anchor"], dtype=np.float64)), "the anchor state changed"
    else:
        assert abs(float(anchor) - expect) <= ctx.slack(4) * (1 + abs(expect)), f"anchor {float(anchor)} != {expect}"


def _siren_first_step_self_anchor(ctx: PropertyContext) -> None:
    """Single mask, no anchor and no old entropies: the anchor is the current H_sel, so the loss is exactly 0."""
    loss, anchor = ctx.call(anchor=None, old_entropy=None, double_mask=False)
    assert float(loss) == 0.0, f"self-anchored first step must give 0, got {float(loss)}"
    s = _siren_params(ctx.params)
    h = np.asarray(ctx.inputs["entropy"], dtype=np.float64)
    keep = np_peak_mask(h, ctx.inputs["mask"], s["quantile"], False, s["restrict"])
    expect = np_siren_agg(h, keep, s["mode"], s["empty_rows"])
    assert abs(float(anchor) - expect) <= ctx.slack(4) * (1 + abs(expect)), "anchor is not H_sel of the entropies"


def _siren_definition(ctx: PropertyContext) -> None:
    """loss = coef·(H_sel − anchor)² with H_sel the masked aggregate (written independently)."""
    s = _siren_params(ctx.params)
    if _quantile_near_tie(ctx.inputs["entropy"], ctx.inputs["mask"], s["quantile"]):
        ctx.skip("an entropy within rounding of its row quantile")
    hs, keep = np_siren_selected(ctx.inputs["entropy"], ctx.inputs["mask"], ctx.params)
    h_sel = np_siren_agg(hs, keep, s["mode"], s["empty_rows"])
    expect = s["coef"] * (h_sel - _siren_anchor(ctx.inputs, ctx.params)) ** 2
    loss, _ = ctx.call()
    assert ctx.close(loss, expect, factor=4), f"loss {float(loss)} != coef·(H_sel − anchor)² = {expect}"


def _siren_padding_irrelevant(ctx: PropertyContext) -> None:
    """With restrict_to_mask, entropies at masked positions do not matter."""
    if not bool(ctx.params.get("restrict_to_mask", True)):
        ctx.skip("the code's unrestricted mask reads padding")
    valid = valid_mask(ctx.inputs["mask"])
    if valid.all():
        ctx.skip("no masked position")
    a = ctx.call()
    over = {"entropy": np.where(valid, ctx.inputs["entropy"], 7.0)}
    if ctx.inputs.get("old_entropy") is not None:
        over["old_entropy"] = np.where(valid, ctx.inputs["old_entropy"], 7.0)
    b = ctx.call(**over)
    assert ctx.close(b[0], a[0]) and ctx.close(b[1], a[1]), "padding entropies changed the loss or the anchor"


def _siren_anchor_given(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    return i.get("anchor") is not None


def _siren_anchor_from_old(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    return i.get("anchor") is None and i.get("old_entropy") is not None


def _siren_anchor_self(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    return i.get("anchor") is None and i.get("old_entropy") is None


def _siren_empty_selected_row(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    _, keep = np_siren_selected(i["entropy"], i["mask"], p)
    valid = valid_mask(i["mask"])
    if keep.size == 0:
        return False
    k2, v2 = keep.reshape(-1, keep.shape[-1]), valid.reshape(-1, keep.shape[-1])
    return bool(np.any(v2.any(axis=-1) & ~k2.any(axis=-1)) and k2.any())


def _siren_double_differs(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    """Only reachable with negative inputs (see peak_entropy_quantile_mask's double_mask_idempotent)."""
    s = _siren_params(p)
    if not s["double_mask"]:
        return False
    h = np.asarray(i["entropy"], dtype=np.float64)
    return not np.array_equal(np_peak_mask(h, i["mask"], s["quantile"], False, s["restrict"]),
                              np_peak_mask(h, i["mask"], s["quantile"], True, s["restrict"]))


register(MethodSpec(
    id="siren_entropy_loss",
    family="policy",
    kind="regularizer",
    summary="SIREN's self-anchored selective entropy regulariser coef·(H_sel − anchor)²: H_sel aggregates the "
            "entropies of the peak-entropy quantile mask; the anchor is state (taken from the old policy's H_sel "
            "at the first step, then constant).",
    papers=(SIREN_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{SIREN_CODE} update_policy, mask_by_quantile; Linn3a/siren verl/verl/trainer/ppo/"
                        f"ray_trainer.py (anchor at global step 1) and verl/verl/trainer/ppo/core_algos.py agg_loss "
                        f"(commit {SIREN_COMMIT[:7]}); exp_scripts/siren.sh (entropy_coeff 0.005, mask_ratio 0.8, "
                        "entropy_topp 0.8, entropy_topk 10000), read via the search tool and a fetched snapshot",
        official_code=f"{SIREN_CODE}:update_policy",
        notes="update_policy (experiment_type 'siren', use_siren): entropy ← where(M1, H, 0) with M1 = "
              "mask_by_quantile(H, response_mask, 1, mask_ratio); value_mask = mask_by_quantile(entropy, ...) (M2); "
              "entropy_loss = agg_loss(entropy, value_mask, entropy_agg_mode = 'seq-mean-token-mean'); "
              "entropy_loss_mse = (entropy_loss − anchor)²; policy_loss = pg_loss + entropy_coeff·entropy_loss_mse. "
              "Anchor (ray_trainer): at global step 1, from the old-policy entropies of the whole batch (no grad) "
              "with ONE mask_by_quantile and the same agg_loss; then the actor reports it back unchanged "
              "(metrics['actor/entropy_anchor']), so it stays constant. The entropies are SIREN's top-p entropies "
              "(efficient_top_p_sampling; use top_p_renormalized_entropy). This returns the regulariser "
              "coef·(H_sel − anchor)² and the anchor state; add it to a PPO loss (ppo_clip_loss).",
        differences=(
            Difference("empty rows", "mean over sequences of the per-sequence mean of the selected entropies",
                       "the fork's agg_loss (seq-mean-token-mean) counts a sequence with no selected token as 0 "
                       "in the mean over ALL rows; our aggregate leaves it out", "code", "empty_rows"),
            Difference("double masking", "one quantile mask", "the 'siren' path masks twice for the loss but "
                       "once for the anchor (so at step 1 the loss is not exactly 0)", "code", "double_mask"),
            Difference("mask restriction", "top tokens of the response",
                       "mask_by_quantile is not AND-ed with the response mask (see peak_entropy_quantile_mask)",
                       "paper", "restrict_to_mask"),
            Difference("anchor source", "the old policy's H_sel at step 1 over the whole batch",
                       "same; without old_entropy we anchor at the detached current entropies (equal to the old "
                       "policy's before the first update, but per micro-batch)", "code", "old_entropy"),
        ),
    ),
    inputs=(
        InputSpec("entropy", "values", SEQ, ENTROPY_DOC + " (current policy; differentiable)", differentiable=True,
                  sensitive=True),
        mask_input(),
        # anchor and old_entropy are stop-gradient (see stop_gradients; tested in tests/policy/
        # test_entropy_control.py): not flagged here because the harness's stop-gradient check cannot take an
        # optional input that is None
        InputSpec("anchor", "values", (), "the anchor state (0-d, detached); None at the first step", optional=True,
                  positional=False),
        InputSpec("old_entropy", "values", SEQ, "the old policy's entropies (detached), used only to set the anchor "
                  "when anchor is None", optional=True, positional=False),
    ),
    params=(
        ParamSpec("coef", 1.0, Interval(0.0, 100.0), "the code's entropy_coeff (siren.sh: 0.005); 1 returns "
                  "(H_sel − anchor)²"),
        ParamSpec("quantile", 0.8, Interval(0.0, 1.0), "mask_ratio q", sensitive=True),
        ParamSpec("double_mask", True, Choice((True, False)), "mask twice (the official 'siren' path)"),
        ParamSpec("restrict_to_mask", True, Choice((True, False)), "AND the kept set with the mask"),
        ParamSpec("mode", "seq-mean-token-mean", Choice(AGG_MODES), "entropy_agg_mode (aggregation of the "
                  "selected entropies)"),
        ParamSpec("empty_rows", "zero", Choice(("zero", "exclude")), "seq-mean-token-mean: a row with no "
                  "selected token counts as 0 (the fork) or is left out (our aggregate)"),
    ),
    outputs=(OutputSpec("loss", "coef·(H_sel − anchor)² (0-d)", scale=SIREN_SCALE),
             OutputSpec("anchor", "the anchor state after this call (0-d)", scale=SIREN_SCALE)),
    branches=(
        Branch("anchor given", "a later step: the anchor state is passed in", _siren_anchor_given),
        Branch("anchor from old entropies", "first step: anchored at the old policy's H_sel", _siren_anchor_from_old),
        Branch("self-anchored", "first step without old entropies: anchored at the detached current H_sel",
               _siren_anchor_self),
        Branch("a row selects nothing", "a row with valid tokens has no selected token", _siren_empty_selected_row),
        Branch("double mask drops tokens", "the second mask keeps fewer tokens than the first",
               _siren_double_differs),
        EMPTY_MASK,
    ),
    properties=(
        Property("nonneg_and_state", "loss ≥ 0; the anchor state passes through or is set to H_sel",
                 _siren_nonneg_and_anchor),
        Property("first_step_self_anchor", "single mask, no anchor: loss exactly 0, anchor = H_sel",
                 _siren_first_step_self_anchor),
        Property("definition", "loss = coef·(H_sel − anchor)² (independent NumPy)", _siren_definition),
        Property("masked_values_irrelevant", "padding entropies do not matter (restrict_to_mask)",
                 _siren_padding_irrelevant),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_siren_problem, wrt=("entropy",),
                          kinks="the selection is piecewise constant in the entropies (a constant in the "
                                "derivation; it jumps where an entropy crosses its row quantile)"),
    stop_gradients=("the masks (selections)", "the anchor (state; computed without gradient)", "old_entropy"),
    degenerate=("empty mask: H_sel = 0", "no selected token: H_sel = 0 (loss coef·anchor²)",
                "anchor None and old_entropy None: anchored at the detached current entropies"),
))


# =========================================================================== epo_phase_weight


def np_phase_weight(k: float, max_epochs: int, lambda_slow: float, lambda_fast: float) -> float:
    """EPO's _calculate_epoch_based_entropy_weight, written from its definition."""
    if max_epochs <= 0:
        return 1.0
    k = max(0.0, min(float(k), float(max_epochs)))
    h = max_epochs // 2
    if k <= h:
        return 1.0 if h == 0 else 1.0 - 0.2 * (1.0 - math.exp(-lambda_slow * k / h))
    return 0.8 * math.exp(-lambda_fast * (k - h) / (max_epochs - h))


def _phase_p(p: Mapping[str, Any]) -> tuple[int, float, float]:
    return int(p.get("max_epochs", 150)), float(p.get("lambda_slow", 2.0)), float(p.get("lambda_fast", 3.0))


def _phase_definition(ctx: PropertyContext) -> None:
    k, ls, lf = _phase_p(ctx.params)
    (w,) = ctx.call()
    e = np.asarray(ctx.inputs["epoch"], dtype=np.float64)
    expect = np.vectorize(lambda x: np_phase_weight(x, k, ls, lf), otypes=[np.float64])(e) if e.size else e
    assert ctx.close(w, expect), "weight differs from the two-phase schedule"


def _phase_monotone_bounds(ctx: PropertyContext) -> None:
    """β(0) = 1, non-increasing in the epoch, in (0, 1]; β(K) = 0.8·exp(−λ_fast) for K ≥ 2."""
    k, _, lf = _phase_p(ctx.params)
    grid = np.arange(-2.0, k + 3.0)
    (w,) = ctx.call(epoch=grid)
    w = np.asarray(w, dtype=np.float64)
    assert np.all(np.diff(w) <= ctx.slack()), "the schedule increases somewhere"
    assert np.all((w >= 0) & (w <= 1.0 + ctx.slack())), "weights outside [0, 1] (positive in exact arithmetic; "\
        "float16 may flush 0.8·e^{−λ} to 0)"
    assert abs(w[2] - 1.0) <= ctx.slack(), "β(0) must be 1"
    if k >= 2:
        assert abs(w[2 + k] - 0.8 * math.exp(-lf)) <= ctx.slack(2), "β(K) must be 0.8·exp(−λ_fast)"


def _phase_hit(region: str) -> Any:
    def hit(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
        k = int(p.get("max_epochs", 150))
        e = np.asarray(i["epoch"], dtype=np.float64)
        if k <= 0:
            return region == "disabled" and e.size > 0
        h = k // 2
        if region == "first":
            return bool(np.any((e > 0) & (e < h)))
        if region == "boundary":
            return bool(np.any(e == h)) and h > 0
        if region == "second":
            return bool(np.any((e > h) & (e < k)))
        if region == "clamped":
            return bool(np.any((e < 0) | (e > k)))
        return False
    return hit


register(MethodSpec(
    id="epo_phase_weight",
    family="policy",
    kind="helper",
    summary="EPO's two-phase weight of the entropy smoothing penalty: 1 − 0.2(1 − e^{−λ_s k/h}) up to h = K//2, "
            "then 0.8·e^{−λ_f (k − h)/(K − h)}; k clamped to [0, K] (a small jump at k = h).",
    papers=(EPO_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{EPO_CODE} _calculate_epoch_based_entropy_weight and update_policy (commit "
                        f"{EPO_COMMIT[:7]}, read via the search tool and a fetched snapshot)",
        official_code=f"{EPO_CODE}:_calculate_epoch_based_entropy_weight",
        notes="max_epochs ≤ 0 → 1; k clamped to [0, K]; h = K//2; k ≤ h: 1 − 0.2(1 − exp(−λ_slow·k/h)) (1 when "
              "h = 0); k > h: 0.8·exp(−λ_fast·(k − h)/(K − h)). λ_slow = 2, λ_fast = 3 are hard-coded, and "
              "update_policy hard-codes max_epochs = 150 (not the config's entropy_smooth_max_epochs) and passes "
              "the trainer epoch; with enable_smooth_weights the penalty mask is multiplied by this weight. The "
              "schedule jumps at k = h: 0.8 + 0.2·e^{−λ_slow} = 0.8271 at h, 0.8·e^{−λ_fast/(K − h)} just after. "
              "Epochs may be fractional here (the code's are ints).",
        differences=(
            Difference("max_epochs source", "a schedule over the training run",
                       "update_policy passes max_epochs = 150 literally (the config key is unused)", "code", None),
        ),
    ),
    inputs=(InputSpec("epoch", "values", ("...",), "the RL iteration k (the trainer's epoch), any shape"),),
    params=(
        ParamSpec("max_epochs", 150, IntRange(0, 100000), "K (the code hard-codes 150); 0 disables (weight 1)"),
        ParamSpec("lambda_slow", 2.0, Interval(0.0, 50.0), "decay rate of the first phase (1 → 0.8)"),
        ParamSpec("lambda_fast", 3.0, Interval(0.0, 50.0), "decay rate of the second phase (0.8 → 0.8·e^{−λ})"),
    ),
    outputs=(OutputSpec("weight", "β_k, elementwise", shape=("...",)),),
    branches=(
        Branch("first phase", "0 < k < h", _phase_hit("first")),
        Branch("at the jump", "k = h exactly (first-phase formula; the second starts just after)",
               _phase_hit("boundary")),
        Branch("second phase", "h < k < K", _phase_hit("second")),
        Branch("clamped", "k < 0 or k > K", _phase_hit("clamped")),
    ),
    properties=(
        Property("definition", "the two-phase formula (independent NumPy)", _phase_definition),
        Property("monotone_and_bounds", "β(0) = 1, non-increasing, in [0, 1], β(K) = 0.8·e^{−λ_fast}",
                 _phase_monotone_bounds),
    ),
    tolerance=default_tolerance(),
    degenerate=("max_epochs = 0: weight 1", "max_epochs = 1: h = 0, weight 1 at k ≤ 0 and 0.8·e^{−λ_fast} at k = 1"),
))


# =========================================================================== epo_entropy_smoothing_penalty


def np_epo_penalty(i: Mapping[str, Any], p: Mapping[str, Any]) -> F64:
    h = np.asarray(i["entropy"], dtype=np.float64)
    valid = valid_mask(i["mask"])
    hist = np.asarray(i["entropy_history"], dtype=np.float64)
    steps = np.asarray(i["rollout_step"]).astype(np.int64)
    hbar = hist[steps][:, None] if steps.size else np.zeros((0, 1))
    lo, hi = float(p.get("min_ratio", 0.8)), float(p.get("max_ratio", 1.2))
    if str(p.get("mask_mode", "token")) == "seq":
        if str(p.get("seq_mean", "all")) == "all":
            stat = h.mean(axis=-1, keepdims=True) if h.shape[-1] else np.zeros(hbar.shape)
        else:
            n = valid.sum(axis=-1, keepdims=True)
            stat = np.where(n > 0, np.where(valid, h, 0.0).sum(axis=-1, keepdims=True) / np.maximum(n, 1), 0.0)
    else:
        stat = h
    inside = (lo * hbar < stat) & (stat < hi * hbar)
    pen = float(p.get("weight", 1.0)) * float(p.get("out_range_penalty", 0.1))
    return np.where(valid & ~np.broadcast_to(inside, h.shape), pen, 0.0)


def _epo_pen_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    assert ctx.close(a, np_epo_penalty(ctx.inputs, ctx.params)), "penalty differs from the band test"


def _epo_pen_scale_invariant(ctx: PropertyContext) -> None:
    """The band is multiplicative: scaling H and the history by 2 changes nothing; the values are {0, w·p_out}."""
    (a,) = ctx.call()
    (b,) = ctx.call(entropy=2.0 * np.asarray(ctx.inputs["entropy"]),
                    entropy_history=2.0 * np.asarray(ctx.inputs["entropy_history"]))
    assert ctx.close(a, b), "the band test is not scale invariant"
    pen = float(ctx.params.get("weight", 1.0)) * float(ctx.params.get("out_range_penalty", 0.1))
    a = np.asarray(a, dtype=np.float64)
    assert np.all((a == 0.0) | (np.abs(a - pen) <= ctx.slack())), "values other than 0 and weight·out_range_penalty"


def _epo_pen_lower_off(ctx: PropertyContext) -> None:
    """min_ratio = 0 turns the lower branch off: with H ≥ 0 no token is penalised for being low (the authors'
    smoke test), so the penalised set shrinks."""
    if np.any(np.asarray(ctx.inputs["entropy"]) < 0) or np.any(np.asarray(ctx.inputs["entropy_history"]) < 0):
        ctx.skip("negative entropies")
    (a,) = ctx.call()
    (b,) = ctx.call(min_ratio=0.0)
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    if float(ctx.params.get("weight", 1.0)) * float(ctx.params.get("out_range_penalty", 0.1)) == 0:
        ctx.skip("zero penalty")
    assert not np.any(b & ~a), "min_ratio = 0 penalised a new token"


def _epo_hit(kind: str) -> Any:
    def hit(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
        h = np.asarray(i["entropy"], dtype=np.float64)
        valid = valid_mask(i["mask"])
        steps = np.asarray(i["rollout_step"]).astype(np.int64)
        if h.size == 0:
            return False
        hb = np.asarray(i["entropy_history"], dtype=np.float64)[steps][:, None]
        lo, hi = float(p.get("min_ratio", 0.8)) * hb, float(p.get("max_ratio", 1.2)) * hb
        seq = str(p.get("mask_mode", "token")) == "seq"
        if kind == "below":
            return not seq and bool(np.any(valid & (h < lo)))
        if kind == "above":
            return not seq and bool(np.any(valid & (h > hi)))
        if kind == "inside":
            return not seq and bool(np.any(valid & (h > lo) & (h < hi)))
        if kind == "on_edge":
            return not seq and bool(np.any(valid & ((h == lo) | (h == hi))))
        if kind == "seq_split":
            out = np.asarray(o[0])
            return seq and bool(np.any(valid.any(-1) & (out != 0).any(-1))) and bool(
                np.any(valid.any(-1) & ~(out != 0).any(-1)))
        return False
    return hit


register(MethodSpec(
    id="epo_entropy_smoothing_penalty",
    family="policy",
    kind="regularizer",
    summary="EPO's entropy smoothing penalty mask: w·p_out where a token's entropy (or its sequence mean) lies "
            "outside the open band (κ_l·H̄[s], κ_r·H̄[s]) of the historical entropy of its rollout step, else 0.",
    papers=(EPO_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{EPO_CODE} generate_entropy_penalty and update_policy; verl/trainer/config/ppo_trainer.yaml "
                        f"defaults (commit {EPO_COMMIT[:7]}, read via the search tool and a fetched snapshot)",
        official_code=f"{EPO_CODE}:generate_entropy_penalty",
        notes="Token mode: P = where(κ_l·H̄[s_i] < H_it < κ_r·H̄[s_i], 0, out_range_penalty) (strict both sides); "
              "seq mode: the same test on entropy.mean(dim=-1) — an unmasked mean over all T positions, padding "
              "included — broadcast to (B, T). Defaults min_ratio 0.8, max_ratio 1.2, out_range_penalty 0.1, "
              "mask_mode 'token'. With enable_smooth_weights the mask is multiplied by epo_phase_weight (weight "
              "here). The gate of update_policy (apply only if any rollout step ≥ max_step // 2, reading the "
              "config key 'max_step', default 50) and the history bookkeeping stay with the caller. P comes from "
              "comparisons: no gradient. The band is decided in float64 here (the code: in the entropy dtype).",
        differences=(
            Difference("seq-mode mean", "the mean entropy of the response",
                       "entropy.mean(dim=-1) over all T positions, padding included", "code", "seq_mean"),
            Difference("empty history", "no penalty before any history exists",
                       "returns ones (one value where the caller unpacks two: a crash); we require a non-empty "
                       "history (S ≥ 1)", "code", None),
            Difference("masked positions", "a per-token penalty",
                       "the code's mask also holds values at padding (dropped by the masked aggregation); ours is 0 "
                       "there — no loss changes", "code", None),
        ),
    ),
    inputs=(
        InputSpec("entropy", "values", SEQ, "token entropies H (B, T) (of softmax(logits / temperature))",
                  sensitive=True),
        mask_input(),
        InputSpec("entropy_history", "values", ("S",), "H̄[s]: historical mean entropy per rollout step (S ≥ 1)"),
        InputSpec("rollout_step", "group_ids", ("B",), "the rollout (turn) step s_i of each sample, in [0, S)",
                  dtype="int"),
    ),
    params=(
        ParamSpec("mask_mode", "token", Choice(("token", "seq")), "test each token, or each sequence's mean"),
        ParamSpec("min_ratio", 0.8, Interval(0.0, 10.0), "κ_l (strict lower band edge κ_l·H̄)", sensitive=True),
        ParamSpec("max_ratio", 1.2, Interval(0.0, 10.0), "κ_r (strict upper band edge κ_r·H̄)", sensitive=True),
        ParamSpec("out_range_penalty", 0.1, Interval(0.0, 10.0), "p_out, the penalty outside the band"),
        ParamSpec("weight", 1.0, Interval(0.0, 1.0), "β_k from epo_phase_weight (enable_smooth_weights); 1 = off"),
        ParamSpec("seq_mean", "all", Choice(("all", "valid")), "seq mode: mean over all T positions (the code) or "
                  "over the valid tokens"),
    ),
    outputs=(OutputSpec("penalty", "(B, T) penalty mask P ∈ {0, weight·p_out}, 0 at masked tokens", shape=SEQ),),
    branches=(
        Branch("below the band", "a valid token with H < κ_l·H̄ (token mode)", _epo_hit("below")),
        Branch("above the band", "a valid token with H > κ_r·H̄ (token mode)", _epo_hit("above")),
        Branch("inside the band", "a valid token strictly inside (token mode)", _epo_hit("inside")),
        Branch("on a band edge", "H equal to κ·H̄ exactly (strict: penalised)", _epo_hit("on_edge")),
        Branch("sequences on both sides", "seq mode: penalised and unpenalised sequences", _epo_hit("seq_split")),
        EMPTY_MASK,
    ),
    properties=(
        Property("definition", "the band test (independent NumPy)", _epo_pen_definition),
        Property("scale_invariant", "scaling H and H̄ together changes nothing; values in {0, w·p_out}",
                 _epo_pen_scale_invariant),
        Property("lower_branch_off", "min_ratio = 0 never penalises a new token (H ≥ 0)", _epo_pen_lower_off),
    ),
    tolerance=default_tolerance(),
    stop_gradients=("the whole penalty (built from comparisons: a constant)",),
    degenerate=("H̄ = 0: the band is empty, every valid token is penalised",
                "rollout_step outside [0, S) is an error (the code would index out of range / wrap)"),
))


# =========================================================================== epo_policy_loss


def _epo_p(p: Mapping[str, Any]) -> dict[str, Any]:
    dc = p.get("dual_clip", 3.0)
    return {"c_h": float(p.get("entropy_coeff", 0.001)), "c_s": float(p.get("smooth_coeff", 1.0)),
            "lo": float(p.get("clip_low", 0.2)), "hi": float(p.get("clip_high", 0.2)),
            "dual": None if dc is None else float(dc), "mode": str(p.get("mode", "token-mean"))}


def np_epo_loss(i: Mapping[str, Any], p: Mapping[str, Any]) -> float:
    from spec.policy._common import ppo_tokens

    s = _epo_p(p)
    tok = ppo_tokens(np.asarray(i["log_prob"], dtype=np.float64), np.asarray(i["old_log_prob"], dtype=np.float64),
                     np.asarray(i["advantages"], dtype=np.float64), i["mask"], s["lo"], s["hi"], s["dual"])
    pg = np_aggregate(tok, i["mask"], s["mode"])
    ent = np_aggregate(np.asarray(i["entropy"], dtype=np.float64), i["mask"], s["mode"])
    if i.get("penalty") is not None:
        ent -= s["c_s"] * np_aggregate(np.asarray(i["penalty"], dtype=np.float64), i["mask"], s["mode"])
    return float(pg - s["c_h"] * ent)


def _epo_loss_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    from spec.policy._common import PPO_LOSS_SCALE

    s = _epo_p(params)
    valid = valid_mask(inputs["mask"])
    h = np.abs(np.asarray(inputs["entropy"], dtype=np.float64))[valid]
    pen = np.abs(np.asarray(inputs["penalty"], dtype=np.float64))[valid] if inputs.get("penalty") is not None \
        else np.zeros(0)
    extra = float(s["c_h"]) * (float(h.max(initial=0.0)) + float(s["c_s"]) * float(pen.max(initial=0.0)))
    return float(PPO_LOSS_SCALE(inputs, params)) + extra


EPO_LOSS_SCALE = Scale("the PPO loss scale (max(1, max|A|·max(ρ, 1 + ε_high))) + entropy_coeff·(max|H| + "
                       "smooth_coeff·max|P|) over valid tokens", _epo_loss_scale)


def _epo_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.policy._symbolic import ppo_token_expr, problem, sym_aggregate
    from spec.symbolic import bind, symbols_like

    s = _epo_p(params)
    lp = np.asarray(inputs["log_prob"], dtype=np.float64)
    old = np.asarray(inputs["old_log_prob"], dtype=np.float64)
    adv = np.asarray(inputs["advantages"], dtype=np.float64)
    h = np.asarray(inputs["entropy"], dtype=np.float64)
    sym_lp = symbols_like("lp", lp)
    sym_h = symbols_like("h", h)
    tok = np.empty(lp.shape, dtype=object)
    for idx in np.ndindex(lp.shape):
        tok[idx] = ppo_token_expr(sym_lp[idx], float(old[idx]), float(adv[idx]), s["lo"], s["hi"], s["dual"])
    out = sym_aggregate(tok, inputs["mask"], s["mode"]) - sp.Float(s["c_h"]) * sym_aggregate(sym_h, inputs["mask"],
                                                                                                 s["mode"])
    if inputs.get("penalty") is not None:
        pen = np.asarray(inputs["penalty"], dtype=np.float64)
        const = np.empty(pen.shape, dtype=object)
        for idx in np.ndindex(pen.shape):
            const[idx] = sp.Float(float(pen[idx]))
        out = out + sp.Float(s["c_h"] * s["c_s"]) * sym_aggregate(const, inputs["mask"], s["mode"])
    return problem({"log_prob": sym_lp, "entropy": sym_h}, out, {**bind(sym_lp, lp), **bind(sym_h, h)})


def _epo_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    assert ctx.close(a, np_epo_loss(ctx.inputs, ctx.params), factor=2), "loss differs from PPO − c_H(agg H − c_s agg P)"


def _epo_reductions(ctx: PropertyContext) -> None:
    """entropy_coeff = 0 is the (dual-clip) PPO loss; P ≡ 0 equals no penalty (PPO minus the entropy bonus)."""
    (a,) = ctx.call(entropy_coeff=0.0)
    assert ctx.close(a, np_epo_loss(ctx.inputs, {**ctx.params, "entropy_coeff": 0.0}), factor=2), "c_H = 0 is not PPO"
    (b,) = ctx.call(penalty=np.zeros(np.shape(ctx.inputs["entropy"])))
    (c,) = ctx.call(penalty=None)
    assert ctx.close(b, c, factor=2), "a zero penalty must equal no penalty"


def _epo_masked_irrelevant(ctx: PropertyContext) -> None:
    valid = valid_mask(ctx.inputs["mask"])
    if valid.all():
        ctx.skip("no masked position")
    (a,) = ctx.call()
    over = {n: np.where(valid, ctx.inputs[n], -0.5 if n in ("log_prob", "old_log_prob") else 2.0)
            for n in ("log_prob", "old_log_prob", "advantages", "entropy")}
    if ctx.inputs.get("penalty") is not None:
        over["penalty"] = np.where(valid, ctx.inputs["penalty"], 0.1)
    (b,) = ctx.call(**over)
    assert ctx.close(b, a), "values at masked positions changed the loss"


def _epo_dual_active(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    dual = _epo_p(p)["dual"]
    if dual is None:
        return False
    valid = valid_mask(i["mask"])
    with np.errstate(over="ignore"):
        ratio = np.exp(np.where(valid, np.asarray(i["log_prob"]) - np.asarray(i["old_log_prob"]), 0.0))
    adv = np.asarray(i["advantages"], dtype=np.float64)
    return bool(np.any(valid & (adv < 0) & (ratio > dual)))


def _epo_with_penalty(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    pen = i.get("penalty")
    return pen is not None and bool(np.any(valid_mask(i["mask"]) & (np.asarray(pen) != 0)))


register(MethodSpec(
    id="epo_policy_loss",
    family="policy",
    kind="loss",
    summary="EPO's policy loss: dual-clip PPO − entropy_coeff·[agg(H) − smooth_coeff·agg(P)] with P the (constant) "
            "entropy smoothing penalty; every term aggregated with the same mode.",
    papers=(EPO_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{EPO_CODE} update_policy and WujiangXu/EPO verl/trainer/ppo/core_algos.py "
                        f"compute_policy_loss / agg_loss; verl/trainer/config/ppo_trainer.yaml (commit "
                        f"{EPO_COMMIT[:7]}, read via the search tool and a fetched snapshot)",
        official_code=f"{EPO_CODE}:update_policy",
        notes="pg_loss = compute_policy_loss (ratio = exp(logp − old), no log-ratio clamp; clip 0.2/0.2; dual clip "
              "clip_ratio_c = 3 for A < 0, always on) aggregated with loss_agg_mode (token-mean); entropy_loss = "
              "agg_loss(entropy, response_mask); with entropy_smooth: entropy_loss −= agg_loss(entropy_mask) · "
              "entropy_smooth_coeff; policy_loss = pg_loss − entropy_loss·entropy_coeff (0.001; smooth coeff 1.0). "
              "P carries no gradient (torch.where of comparisons): the smoothing term shifts the value only. The "
              "optional KL term (use_kl_loss, default off) is not part of this loss (see kl_penalty).",
        differences=(
            Difference("dual clip", "PPO clip", "compute_policy_loss always applies the dual clip (c = 3)", "code",
                       "dual_clip"),
            Difference("smoothing gradient", "the paper presents the smoothing term as a regulariser",
                       "P is a constant mask, so the term does not change the gradient", "code", None),
        ),
    ),
    inputs=(
        InputSpec("log_prob", "log_probs", SEQ, "log π_θ(y_t) of the sampled tokens", differentiable=True),
        InputSpec("old_log_prob", "log_probs", SEQ, "log π_old(y_t) (stop-gradient)", stop_gradient=True),
        InputSpec("advantages", "advantages", SEQ, "per-token advantages (stop-gradient)", stop_gradient=True),
        mask_input(),
        InputSpec("entropy", "values", SEQ, "token entropies H (B, T) of the current policy (differentiable; "
                  "entropy_from_logits)", differentiable=True),
        # penalty is a constant (stop-gradient; tested in tests/policy/test_entropy_control.py): not flagged, as
        # the harness's stop-gradient check cannot take an optional input that is None
        InputSpec("penalty", "values", SEQ, "P from epo_entropy_smoothing_penalty (constant); None = no smoothing",
                  optional=True, positional=False),
    ),
    params=(
        ParamSpec("entropy_coeff", 0.001, Interval(0.0, 10.0), "c_H"),
        ParamSpec("smooth_coeff", 1.0, Interval(0.0, 10.0), "c_s (entropy_smooth_coeff)"),
        ParamSpec("clip_low", 0.2, Interval(0.0, 1.0), "ε_low", sensitive=True),
        ParamSpec("clip_high", 0.2, Interval(0.0, 10.0), "ε_high", sensitive=True),
        ParamSpec("dual_clip", 3.0, Interval(1.0, 10.0, low_closed=False, allow_none=True),
                  "dual-clip constant c (clip_ratio_c, always on in the code); None disables it"),
        ParamSpec("mode", "token-mean", Choice(AGG_MODES), "loss_agg_mode (of every term)"),
    ),
    outputs=(OutputSpec("loss", "the EPO policy loss (0-d)", scale=EPO_LOSS_SCALE),),
    branches=(
        Branch("dual clip active", "a valid token with A < 0 and ρ > c", _epo_dual_active),
        Branch("smoothing penalty present", "a nonzero penalty on a valid token", _epo_with_penalty),
        EMPTY_MASK,
    ),
    properties=(
        Property("definition", "PPO − c_H(agg H − c_s·agg P) (independent NumPy)", _epo_definition),
        Property("reductions", "c_H = 0 gives PPO; P ≡ 0 equals no penalty", _epo_reductions),
        Property("masked_values_irrelevant", "inputs at masked positions do not matter", _epo_masked_irrelevant),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_epo_problem, wrt=("log_prob", "entropy"),
                          kinks="the PPO clip bounds and the dual-clip bound (see ppo_clip_loss)"),
    stop_gradients=("old_log_prob and advantages", "the penalty P (constant)"),
    degenerate=("empty mask: 0", "entropy_coeff = 0: the dual-clip PPO loss"),
))
