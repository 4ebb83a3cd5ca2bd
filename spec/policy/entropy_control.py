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
