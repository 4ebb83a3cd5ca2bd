"""Specs of the ``categorical`` membership-inference scores: per-token self-information, Min-K% Prob,
Min-K%++ and DC-PDD.

Shared conventions. Sequences lie on the last axis ``T`` (leading batch dimensions broadcast-free);
log-probabilities and logits are *aligned* with the tokens they score (position ``t`` scores token
``t``: the caller drops the causal shift, as the official code does with ``logits[:-1]`` / ``ids[1:]``).
Positions are excluded by a ``mask`` (``min_k_prob``) or by ``ignore_index`` token ids (the others).
The Min-K% rule keeps the ``k = max(1, ⌊ratio·n⌋)`` lowest per-token scores of the ``n`` kept tokens
(the official code takes ``⌊ratio·n⌋``, which is 0 for ``n < 1/ratio`` and averages an empty slice to
NaN); a row with no kept token scores 0. Scores are oriented as in the papers (higher = member);
``negate=True`` gives the DC-PDD script's ``pred`` values (larger for non-members).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.categorical._common import BASE, logit_rows_expr, row_shift, unit
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
from spec.scales import finite_magnitude

__all__: list[str] = []

LLMLINGUA_2023 = Paper("LLMLingua: Compressing Prompts for Accelerated Inference of Large Language Models", 2023,
                       "2310.05736")
LLMLINGUA2_2024 = Paper("LLMLingua-2: Data Distillation for Efficient and Faithful Task-Agnostic Prompt Compression",
                        2024, "2403.12968")
DCPDD_2024 = Paper("Pretraining Data Detection for Large Language Models: A Divergence-based Calibration Method",
                   2024, "2409.14781")
MINK_2023 = Paper("Detecting Pretraining Data from Large Language Models", 2023, "2310.16789")
MINKPP_2024 = Paper("Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large Language Models", 2024,
                    "2404.02936")

DCPDD_COMMIT = "a410647941712425eb2ee50938504beb1a548dbb"
MINKPP_COMMIT = "5596c65dd7d5ca767c0efa80cbebf76f2e56d0a2"
LLMLINGUA_COMMIT = "e0e9d99beb94098bbd924aa53c2c112eac41c758"

IGNORE_INDEX = ParamSpec("ignore_index", -100, IntRange(-(2**63), 2**63 - 1),
                         "positions whose token id equals it are excluded", drawn=False)
RATIO = ParamSpec("ratio", 0.2, Interval(0.0, 1.0, low_closed=False),
                  "fraction of the kept tokens averaged (the lowest ones): k = max(1, ⌊ratio·n⌋)")
NEGATE = ParamSpec("negate", False, Choice((False, True)),
                   "return −score, the DC-PDD script's orientation (larger for non-members)")


def _out(outputs: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    return np.asarray(outputs[0], dtype=np.float64)


def _kept_ids(inputs: Mapping[str, Any], params: Mapping[str, Any], name: str) -> np.ndarray[Any, Any]:
    return np.asarray(np.asarray(inputs[name]) != int(params.get("ignore_index", -100)))


def _kept_mask(inputs: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    lp = np.asarray(inputs["log_probs"])
    m = inputs.get("mask")
    return np.ones(lp.shape, dtype=bool) if m is None else np.asarray(m).astype(bool)


def _k_of(n: np.ndarray[Any, Any], ratio: float) -> np.ndarray[Any, Any]:
    """``max(1, ⌊ratio·n⌋)`` in float64, as Python's ``int(n * ratio)`` rounds it."""
    return np.maximum(1, np.floor(np.asarray(n, dtype=np.float64) * ratio)).astype(np.int64)


def _short(n: np.ndarray[Any, Any], ratio: float) -> bool:
    """Some row keeps tokens but ``⌊ratio·n⌋ = 0`` (the official code would average an empty slice)."""
    return bool(np.any((n > 0) & (np.floor(np.asarray(n, dtype=np.float64) * ratio) == 0)))


def _several(n: np.ndarray[Any, Any], ratio: float) -> bool:
    return bool(np.any(np.floor(np.asarray(n, dtype=np.float64) * ratio) >= 2))


def _flip(ctx: PropertyContext) -> None:
    (s,) = ctx.call(negate=False)
    (sn,) = ctx.call(negate=True)
    assert np.array_equal(sn, -s), f"negate=True must return exactly −score: {s} vs {sn}"


def _bounded_by_kept(ctx: PropertyContext, per_token: np.ndarray[Any, Any], kept: np.ndarray[Any, Any]) -> None:
    """min over kept <= score <= mean over kept (row-wise); empty rows score 0."""
    (s,) = ctx.call(negate=False)
    big = np.where(kept, per_token, np.inf)
    lo = np.min(big, axis=-1) if per_token.shape[-1] else np.zeros(s.shape)
    n = kept.sum(-1)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, np.sum(np.where(kept, per_token, 0.0), -1) / np.maximum(n, 1), 0.0)
    lo = np.where(n > 0, lo, 0.0)
    sl = ctx.slack(2)
    with np.errstate(invalid="ignore"):
        ok = (s >= lo - sl - 1e-6 * np.abs(lo)) & (s <= mean + sl + 1e-6 * np.abs(mean))
    ok |= np.isneginf(lo) & np.isneginf(s)
    assert np.all(ok), f"score outside [min, mean] of the kept per-token scores: {s}, [{lo}, {mean}]"


# --------------------------------------------------------------------------- token_self_information


def _tsi_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    v = max(int(z.shape[-1]) if z.ndim else 1, 2)
    finite = z[np.isfinite(z)]
    row = max(1.0, math.log(v), float(np.max(np.abs(finite))) / 16.0 if finite.size else 0.0)
    return max(1.0, row / abs(unit(params)))


TSI_SCALE = Scale("max(1, max(1, log V, max |finite logit| / 16) / |log base|)", _tsi_scale_of)


def _tsi_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    z = np.asarray(inputs["logits"], dtype=np.float64)
    t = np.asarray(inputs["target"]).reshape(-1)
    v = z.shape[-1]
    ignore = int(params.get("ignore_index", -100))
    base = params.get("base")
    sym = symbols_like("z", z)
    out: list[Any] = []
    for srow, zrow, y in zip(sym.reshape(-1, v), z.reshape(-1, v), t, strict=True):
        if int(y) == ignore:
            out.append(sp.Integer(0))
            continue
        logp, _ = logit_rows_expr(srow, zrow)
        lp = logp[int(y)]
        info = sp.oo if lp is None else -lp
        out.append(info if base is None else info / sp.log(sp.Float(base)))
    return SymbolicProblem({"logits": sym}, np.array(out, dtype=object).reshape(z.shape[:-1]), bind(sym, z))


def _tsi_nonneg(ctx: PropertyContext) -> None:
    (i,) = ctx.call(base=None)
    assert np.all(i >= -ctx.slack()), f"self-information < 0: {i}"


def _tsi_ignored_zero(ctx: PropertyContext) -> None:
    t = np.asarray(ctx.inputs["target"])
    ign = t == int(ctx.params.get("ignore_index", -100))
    if not np.any(ign):
        ctx.skip("no ignored position")
    (i,) = ctx.call()
    assert np.all(i[ign] == 0), f"ignored positions must give exactly 0: {i[ign]}"


def _tsi_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    t = np.asarray(ctx.inputs["target"])
    (i,) = ctx.call(logits=np.full(z.shape, 0.5))
    kept = t != int(ctx.params.get("ignore_index", -100))
    expected = np.where(kept, math.log(z.shape[-1]) / unit(ctx.params), 0.0)
    assert ctx.close(i, expected, 2), f"equal logits must give log V per kept token: {i}"


def _tsi_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    (i,) = ctx.call()
    (j,) = ctx.call(logits=z + row_shift(z, ctx.dtype))
    assert ctx.close(j, i, 4), f"not invariant to a per-row logit shift: {i} vs {j}"


register(MethodSpec(
    id="token_self_information",
    family="categorical",
    kind="estimator",
    summary="Per-token self-information I_t = −log softmax(z_t)[x_t] (nats, or units of `base`); 0 at ignored ids.",
    papers=(LLMLINGUA_2023, LLMLINGUA2_2024),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"microsoft/LLMLingua llmlingua/prompt_compressor.py @ {LLMLINGUA_COMMIT} "
                        "(PromptCompressor.get_ppl, granularity='token': torch CrossEntropyLoss(reduction='none') "
                        "of logits[..., :-1, :] against input_ids[..., 1:] on the attention-masked positions); "
                        "torch.nn.functional.cross_entropy(reduction='none') (tests/categorical/test_membership.py)",
        official_code="microsoft/LLMLingua:llmlingua/prompt_compressor.py",
        differences=(
            Difference("alignment and masking", "I(x_t) = −log p(x_t | x_<t)",
                       "get_ppl shifts logits/ids by one and drops masked positions (a shorter 1-D output)",
                       default="paper", flag=None),
        ),
        notes="Inputs are aligned (logits[t] scores target[t]); ignored positions give 0 (torch reduction='none') "
              "and keep their place. A -inf target logit gives +inf. LLMLingua-2 replaces this baseline (of "
              "LLMLingua and Selective-Context) by a token classifier; the catalogue keeps the baseline.",
    ),
    inputs=(
        InputSpec("logits", "logits", ("...", "V"), "next-token scores aligned with `target`", differentiable=True,
                  allow_neg_inf=True),
        InputSpec("target", "class_index", ("...",), "the token ids scored (ignore_index = excluded)", dtype="int"),
    ),
    params=(IGNORE_INDEX, BASE),
    outputs=(OutputSpec("info", "self-information per position (0 where ignored, may be +inf)", shape=("...",),
                        scale=TSI_SCALE),),
    properties=(
        Property("nonnegative", "I >= 0", _tsi_nonneg),
        Property("ignored_zero", "ignored positions give exactly 0", _tsi_ignored_zero),
        Property("uniform_logits", "equal logits give log V per kept token", _tsi_uniform),
        Property("shift_invariance", "invariant to a per-row logit shift", _tsi_shift),
    ),
    branches=(
        Branch("some ignored", "a mix of kept and ignored positions",
               lambda i, p, o: bool(np.any(~_kept_ids(i, p, "target"))) and bool(np.any(_kept_ids(i, p, "target")))),
        Branch("-inf target logit", "a kept target whose logit is -inf (+inf)",
               lambda i, p, o: bool(np.any(np.isposinf(_out(o))))),
        Branch("log base", "`base` is given", lambda i, p, o: p.get("base") is not None),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_tsi_problem, wrt=("logits",), kinks="none for finite logits"),
    degenerate=("ignored positions give 0", "a -inf target logit gives +inf"),
))


# --------------------------------------------------------------------------- min_k_prob


def _mk_n(inputs: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(_kept_mask(inputs).sum(-1))


def _mk_bounds(ctx: PropertyContext) -> None:
    _bounded_by_kept(ctx, np.asarray(ctx.inputs["log_probs"], dtype=np.float64), _kept_mask(ctx.inputs))


def _mk_ratio_one(ctx: PropertyContext) -> None:
    lp = np.asarray(ctx.inputs["log_probs"], dtype=np.float64)
    kept = _kept_mask(ctx.inputs)
    n = kept.sum(-1)
    (s,) = ctx.call(ratio=1.0, negate=False)
    mean = np.where(n > 0, np.sum(np.where(kept, lp, 0.0), -1) / np.maximum(n, 1), 0.0)
    assert ctx.close(s, mean, 2), f"ratio = 1 must give the mean kept log-prob: {s} vs {mean}"


def _mk_reverse(ctx: PropertyContext) -> None:
    lp = ctx.inputs["log_probs"]
    m = ctx.inputs.get("mask")
    (s,) = ctx.call()
    over: dict[str, Any] = {"log_probs": lp[..., ::-1].copy()}
    if m is not None:
        over["mask"] = m[..., ::-1].copy()
    (r,) = ctx.call(**over)
    assert ctx.close(r, s), f"not invariant to reversing the token order: {s} vs {r}"


register(MethodSpec(
    id="min_k_prob",
    family="categorical",
    kind="estimator",
    summary="Min-K% Prob: mean of the k = max(1, ⌊ratio·n⌋) lowest kept token log-probs (higher = member).",
    papers=(MINK_2023, DCPDD_2024),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"zhang-wei-chao/DC-PDD com_det_sco.py @ {DCPDD_COMMIT} (cal_met: k = int(tar_tok_num·0.2), "
                        "pred['min_20% prob'] = −mean(sort(tar_prob[:tar_tok_num])[:k])); zjysteven/mink-plus-plus "
                        f"run.py @ {MINKPP_COMMIT} (k_length = int(len·ratio), scores['mink_ratio'] = "
                        "mean(sort(token_log_probs)[:k_length]), no sign); a transcription of both in the tests",
        official_code="zhang-wei-chao/DC-PDD:com_det_sco.py",
        differences=(
            Difference("orientation", "Min-K% paper and mink-plus-plus run.py: the mean (higher = member)",
                       "DC-PDD com_det_sco.py: −mean ('larger for nonmember')", default="paper", flag="negate"),
            Difference("short inputs", "k = max(1, ⌊ratio·n⌋): at least the lowest token",
                       "k = int(0.2·n) = 0 for n < 5: np.mean of an empty slice (NaN + RuntimeWarning)",
                       default="paper", flag=None),
        ),
        notes="DC-PDD truncates the text to max_cha words before counting tokens: pass that as the mask. "
              "A row with no kept token scores 0.",
    ),
    inputs=(
        InputSpec("log_probs", "log_probs", ("...", "T"), "log p(x_t | x_<t) of each token"),
        InputSpec("mask", "mask", ("...", "T"), "tokens that count (None: all)", dtype="bool", optional=True,
                  positional=False),
    ),
    params=(RATIO, NEGATE),
    outputs=(OutputSpec("score", "Min-K% score per sequence", shape=("...",),
                        scale=finite_magnitude("log_probs")),),
    properties=(
        Property("bounds", "min kept log-prob <= score <= mean kept log-prob", _mk_bounds),
        Property("ratio_one", "ratio = 1 gives the mean kept log-prob", _mk_ratio_one),
        Property("order_invariance", "reversing the tokens (and mask) leaves the score unchanged", _mk_reverse),
        Property("negate", "negate=True returns exactly −score", _flip),
    ),
    branches=(
        Branch("short row (k forced to 1)", "0 < n and ⌊ratio·n⌋ = 0: the official code's empty slice",
               lambda i, p, o: _short(_mk_n(i), float(p.get("ratio", 0.2)))),
        Branch("several tokens averaged", "⌊ratio·n⌋ >= 2 in some row",
               lambda i, p, o: _several(_mk_n(i), float(p.get("ratio", 0.2)))),
        Branch("empty row", "a row with no kept token (score 0)",
               lambda i, p, o: bool(np.any(_mk_n(i) == 0)) and _out(o).size > 0),
        Branch("negated", "negate=True", lambda i, p, o: bool(p.get("negate", False))),
    ),
    tolerance=default_tolerance(),
    degenerate=("k = max(1, ⌊ratio·n⌋) (never an empty mean)", "a row with no kept token scores 0"),
))


# --------------------------------------------------------------------------- min_k_plus_plus


def minkpp_z(logits: np.ndarray[Any, Any], target: np.ndarray[Any, Any], ignore_index: int = -100
             ) -> np.ndarray[Any, Any]:
    """Per-token Min-K%++ scores ``(y_t − Σ p y)/sqrt(Σ p (y − Σ p y)²)``, ``y = z − max z`` (float64 loops).

    0 where the variance is 0 (all finite logits equal); −inf for a -inf target logit; 0 at ignored ids.
    Used by the spec's scale and properties; the reference module has its own copy.
    """
    z = np.asarray(logits, dtype=np.float64)
    t = np.asarray(target).reshape(-1)
    v = z.shape[-1]
    out = np.zeros(t.shape)
    for r, (row, y) in enumerate(zip(z.reshape(-1, v), t, strict=True)):
        if int(y) == ignore_index:
            continue
        fin = np.isfinite(row)
        d = row[fin] - np.max(row[fin])
        p = np.exp(d - np.log(np.sum(np.exp(d))))
        spread = float(-np.min(d))
        if not np.isfinite(row[int(y)]):
            out[r] = -np.inf
        elif spread > 0:  # z is invariant to scaling the gaps: d / spread keeps σ² from underflowing
            e = d / spread
            mean = float(np.sum(p * e))
            var = float(np.sum(p * (e - mean) ** 2))
            if var > 0:
                out[r] = ((row[int(y)] - np.max(row[fin])) / spread - mean) / math.sqrt(var)
    return out.reshape(np.shape(target))


def _mkpp_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    zs = minkpp_z(inputs["logits"], inputs["target"], int(params.get("ignore_index", -100)))
    fin = zs[np.isfinite(zs)]
    return max(1.0, float(np.max(np.abs(fin))) if fin.size else 0.0)


MKPP_SCALE = Scale("max(1, largest finite |per-token Min-K%++ score|)", _mkpp_scale_of)


def _mkpp_n(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(_kept_ids(inputs, params, "target").sum(-1))


def _mkpp_bounds(ctx: PropertyContext) -> None:
    ignore = int(ctx.params.get("ignore_index", -100))
    zs = minkpp_z(ctx.inputs["logits"], ctx.inputs["target"], ignore)
    _bounded_by_kept(ctx, zs, np.asarray(ctx.inputs["target"]) != ignore)


def _mkpp_uniform(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    (s,) = ctx.call(logits=np.full(z.shape, -0.5))
    assert np.all(s == 0), f"equal logits (zero variance) must score exactly 0: {s}"


def _mkpp_shift(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    if z.size == 0:
        ctx.skip("empty batch")
    (s,) = ctx.call()
    (r,) = ctx.call(logits=z + row_shift(z, ctx.dtype))
    assert ctx.close(r, s, 4), f"not invariant to a per-row logit shift: {s} vs {r}"


def _mkpp_vocab_perm(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    t = np.asarray(ctx.inputs["target"])
    v = z.shape[-1]
    if v < 2:
        ctx.skip("V = 1")
    perm = np.roll(np.arange(v), 1)  # new[..., j] = old[..., perm[j]]: old index i moves to (i + 1) mod V
    ignore = int(ctx.params.get("ignore_index", -100))
    t2 = np.where(t == ignore, t, (t + 1) % v)
    (s,) = ctx.call()
    (r,) = ctx.call(logits=z[..., perm].copy(), target=t2)
    assert ctx.close(r, s, 2), f"not invariant to relabelling the vocabulary: {s} vs {r}"


register(MethodSpec(
    id="min_k_plus_plus",
    family="categorical",
    kind="estimator",
    summary="Min-K%++: the Min-K% mean of the standardised scores (log p(x_t) − μ_t)/σ_t, μ, σ² the mean and "
            "variance of log p under p (higher = member).",
    papers=(MINKPP_2024, DCPDD_2024),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"zjysteven/mink-plus-plus run.py @ {MINKPP_COMMIT} (mu = Σ p log p, sigma = Σ p (log p)² − "
                        "mu², mink_plus = (token_log_probs − mu)/sigma.sqrt(), k_length = int(len·ratio), mean of the "
                        f"lowest); zhang-wei-chao/DC-PDD com_det_sco.py @ {DCPDD_COMMIT} (the same with mu/sigma from "
                        "com_pro_dis.py, pred = −mean); transcriptions of both in the tests",
        official_code="zjysteven/mink-plus-plus:run.py",
        differences=(
            Difference("orientation", "paper and mink-plus-plus run.py: the mean (higher = member)",
                       "DC-PDD com_det_sco.py: −mean ('larger for nonmember')", default="paper", flag="negate"),
            Difference("variance", "σ² = E_p[(log p − μ)²] (centred, on shifted logits)",
                       "Σ p (log p)² − μ² (same value; loses digits to cancellation)", default="paper", flag=None),
            Difference("zero variance", "σ = 0 (all finite logits equal) gives a per-token score of 0",
                       "0/0 = NaN", default="paper", flag=None),
            Difference("short inputs", "k = max(1, ⌊ratio·n⌋)", "int(ratio·n) = 0: mean of an empty slice (NaN)",
                       default="paper", flag=None),
        ),
        notes="The errata's 'variance-not-std' does not exist: the code divides by √variance = σ, as the paper. "
              "A -inf target logit gives −inf; entries with -inf logits have p = 0 and do not enter μ or σ.",
    ),
    inputs=(
        InputSpec("logits", "logits", ("...", "T", "V"), "next-token scores aligned with `target`",
                  allow_neg_inf=True),
        InputSpec("target", "class_index", ("...", "T"), "the token ids scored (ignore_index = excluded)",
                  dtype="int"),
    ),
    params=(RATIO, IGNORE_INDEX, NEGATE),
    outputs=(OutputSpec("score", "Min-K%++ score per sequence", shape=("...",), scale=MKPP_SCALE),),
    properties=(
        Property("bounds", "min kept z <= score <= mean kept z", _mkpp_bounds),
        Property("zero_variance", "equal logits score exactly 0", _mkpp_uniform),
        Property("shift_invariance", "invariant to per-row logit shifts", _mkpp_shift),
        Property("vocabulary_permutation", "relabelling the vocabulary (logits and ids) changes nothing",
                 _mkpp_vocab_perm),
        Property("negate", "negate=True returns exactly −score", _flip),
    ),
    branches=(
        Branch("short row (k forced to 1)", "0 < n and ⌊ratio·n⌋ = 0",
               lambda i, p, o: _short(_mkpp_n(i, p), float(p.get("ratio", 0.2)))),
        Branch("several tokens averaged", "⌊ratio·n⌋ >= 2 in some row",
               lambda i, p, o: _several(_mkpp_n(i, p), float(p.get("ratio", 0.2)))),
        Branch("zero-variance position", "a kept position whose finite logits are all equal (z = 0)",
               lambda i, p, o: _zero_var(i, p)),
        Branch("ignored ids", "some ignored position", lambda i, p, o: bool(np.any(~_kept_ids(i, p, "target")))),
    ),
    tolerance=default_tolerance(),
    degenerate=("σ = 0 gives a per-token score of 0", "k = max(1, ⌊ratio·n⌋)", "a row with no kept token scores 0",
                "a -inf target logit gives −inf"),
))


def _zero_var(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    if z.size == 0:
        return False
    kept = _kept_ids(inputs, params, "target")
    fin = np.where(np.isfinite(z), z, np.nan)
    with np.errstate(invalid="ignore"):
        flat = np.nanmax(fin, -1) == np.nanmin(fin, -1)
    return bool(np.any(flat & kept))


# --------------------------------------------------------------------------- dc_pdd_score


def _dc_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    c = np.asarray(inputs["counts"], dtype=np.float64)
    total = float(np.sum(c)) + c.shape[-1]
    cap = float(params.get("a", 0.01))
    raw = params.get("frequency", "smoothed") == "raw_counts"
    low = math.log(max(float(np.max(c)), 1.0)) if raw and c.size else 0.0
    return max(1.0, min(cap, math.log(max(total, 1.0)) if not raw else cap), low)


DC_SCALE = Scale("max(1, min(a, log(Σ counts + V)), log max count with frequency='raw_counts')", _dc_scale_of)


def first_occurrence(ids: np.ndarray[Any, Any], kept: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Kept positions whose id does not occur at an earlier kept position of the same row (loops)."""
    ids2 = np.asarray(ids).reshape(-1, np.shape(ids)[-1]) if np.size(ids) else np.zeros((0, 0), dtype=np.int64)
    k2 = np.asarray(kept).reshape(ids2.shape)
    out = np.zeros(ids2.shape, dtype=bool)
    for r in range(ids2.shape[0]):
        seen: set[int] = set()
        for t in range(ids2.shape[1]):
            if k2[r, t] and int(ids2[r, t]) not in seen:
                seen.add(int(ids2[r, t]))
                out[r, t] = True
    return out.reshape(np.shape(ids))


def _dc_fos(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    return first_occurrence(np.asarray(inputs["input_ids"]), _kept_ids(inputs, params, "input_ids"))


def _dc_alpha(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    """Uncapped α per position (float64)."""
    c = np.asarray(inputs["counts"], dtype=np.float64)
    ids = np.asarray(inputs["input_ids"])
    kept = _kept_ids(inputs, params, "input_ids")
    f = (c + 1.0) / (np.sum(c) + c.shape[-1]) if params.get("frequency", "smoothed") == "smoothed" else c
    fi = f[np.where(kept, ids, 0)] if c.size else np.zeros(ids.shape)
    p = np.exp(np.asarray(inputs["log_probs"], dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * -np.log(fi), 0.0)


def _dc_bounds(ctx: PropertyContext) -> None:
    if ctx.params.get("frequency", "smoothed") != "smoothed":
        ctx.skip("raw counts: −log count can be negative")
    (s,) = ctx.call(negate=False)
    a = float(ctx.params.get("a", 0.01))
    assert np.all(s >= -ctx.slack()) and np.all(s <= a + ctx.slack() + 1e-6 * a), f"β outside [0, a]: {s}"


def _dc_repeats_ignored(ctx: PropertyContext) -> None:
    fos = _dc_fos(ctx.inputs, ctx.params)
    kept = _kept_ids(ctx.inputs, ctx.params, "input_ids")
    rep = kept & ~fos
    if not np.any(rep):
        ctx.skip("no repeated token")
    lp = np.asarray(ctx.inputs["log_probs"], dtype=np.float64)
    (s,) = ctx.call()
    (r,) = ctx.call(log_probs=np.where(rep, np.where(lp < -1.0, 0.0, -4.0), lp))
    assert np.array_equal(r, s), f"log-probs of repeated tokens must not matter: {s} vs {r}"


def _dc_monotone(ctx: PropertyContext) -> None:
    if ctx.params.get("frequency", "smoothed") != "smoothed":
        ctx.skip("raw counts: α decreases in p where the count exceeds 1")
    lp = np.asarray(ctx.inputs["log_probs"], dtype=np.float64)
    (s,) = ctx.call(negate=False)
    (r,) = ctx.call(log_probs=lp / 2.0, negate=False)  # halving a log-prob raises p (exact in every dtype)
    assert np.all(r >= s - ctx.slack(2)), f"β must not decrease when every p rises: {s} -> {r}"


register(MethodSpec(
    id="dc_pdd_score",
    family="categorical",
    kind="estimator",
    summary="DC-PDD β: mean over first occurrences of min(p_t · log(1/f_{x_t}), a), f the Laplace-smoothed "
            "reference-corpus token frequency (higher = member).",
    papers=(DCPDD_2024,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"zhang-wei-chao/DC-PDD @ {DCPDD_COMMIT}: com_det_sco.py (cal_met: first-occurrence "
                        "indexes, x_pro = exp(tar_prob)[indexes], x_fre = fre_dis[input_ids[indexes]], ce = x_pro · "
                        "log(1/x_fre), ce[ce > a] = a, pred = −mean(ce); __main__ builds fre_dis_smo = (cnt + 1)/"
                        "(Σ cnt + V) but passes the raw list), com_fre_dis.py (fre_dis = raw token counts), "
                        "com_pro_dis.py (tar_prob = log_softmax gathered at ids[1:], aligned); transcription in the "
                        "tests",
        official_code="zhang-wei-chao/DC-PDD:com_det_sco.py",
        differences=(
            Difference("frequency index", "f = (cnt + 1)/(Σ cnt + V), the Laplace-smoothed frequency (paper; the "
                       "script computes it as fre_dis_smo)",
                       "cal_met indexes fre_dis, the raw counts: log(1/cnt), +inf for unseen tokens (capped at a), "
                       "< 0 for counts > 1", default="paper", flag="frequency"),
            Difference("orientation", "β = mean α (higher = member)", "pred['DC-PDD'] = −mean(ce)", default="paper",
                       flag="negate"),
            Difference("empty first-occurrence set", "β = 0", "np.mean([]) = NaN", default="paper", flag=None),
            Difference("cap parameter type", "a is a float", "--a is parsed as a string (ce > '0.01' raises)",
                       default="paper", flag=None),
        ),
        notes="First occurrences are taken among kept positions (ids != ignore_index). p·log(1/f) with p = 0 "
              "(underflowed) is 0. Texts truncated to max_cha words in the script: pass the kept prefix.",
    ),
    inputs=(
        InputSpec("log_probs", "log_probs", ("...", "T"), "log p(x_t | x_<t) of each token"),
        InputSpec("input_ids", "class_index", ("...", "T"), "token ids aligned with log_probs (ignore_index = "
                  "excluded)", dtype="int"),
        InputSpec("counts", "weights", ("V",), "token counts of the reference corpus (non-negative)"),
    ),
    params=(
        ParamSpec("a", 0.01, Interval(0.0, None, low_closed=False), "cap on each α_t"),
        IGNORE_INDEX,
        ParamSpec("frequency", "smoothed", Choice(("smoothed", "raw_counts")),
                  "'smoothed': (cnt + 1)/(Σ cnt + V); 'raw_counts': the count itself (the script's index)"),
        NEGATE,
    ),
    outputs=(OutputSpec("score", "DC-PDD score per sequence", shape=("...",), scale=DC_SCALE),),
    properties=(
        Property("bounds", "0 <= β <= a with smoothed frequencies", _dc_bounds),
        Property("repeats_ignored", "log-probs of non-first occurrences do not matter", _dc_repeats_ignored),
        Property("monotone", "raising every p does not lower β (smoothed)", _dc_monotone),
        Property("negate", "negate=True returns exactly −score", _flip),
    ),
    branches=(
        Branch("cap binds", "some first-occurrence α exceeds a",
               lambda i, p, o: bool(np.any(_dc_fos(i, p) & (_dc_alpha(i, p) > float(p.get("a", 0.01)))))),
        Branch("cap free", "some first-occurrence α below a",
               lambda i, p, o: bool(np.any(_dc_fos(i, p) & (_dc_alpha(i, p) < float(p.get("a", 0.01)))))),
        Branch("repeated ids", "a kept id occurring twice in a row",
               lambda i, p, o: bool(np.any(_kept_ids(i, p, "input_ids") & ~_dc_fos(i, p)))),
        Branch("raw counts with an unseen token", "frequency='raw_counts' and a first occurrence of count 0",
               lambda i, p, o: p.get("frequency") == "raw_counts" and bool(np.any(
                   _dc_fos(i, p) & np.isposinf(_dc_alpha(i, p))))),
        Branch("empty row", "a row without kept ids (score 0)",
               lambda i, p, o: _out(o).size > 0 and bool(np.any(~np.any(_kept_ids(i, p, "input_ids"), -1)))),
    ),
    tolerance=default_tolerance(),
    degenerate=("an empty first-occurrence set scores 0", "raw counts: an unseen token gets α = a (capped +inf)",
                "p = 0 gives α = 0"),
))
