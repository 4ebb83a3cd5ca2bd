"""Specs of the ``categorical`` plug-in estimators on histograms and probability vectors: C-IP's
clamped plug-in entropy in bits, the Hellinger distance, the plug-in mutual information of a
contingency table, and the Jensen–Shannon divergence of per-group histograms.

Shared conventions: categories on the last axis (a table's two category axes are the last two);
``0·log 0 = 0``; an all-zero table is an empty sample and has mutual information 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.categorical._common import AXIS, BASE, SHANNON_1948, symmetric_divergence_properties, unit
from spec.model import (
    UNIT_SCALE,
    Branch,
    Choice,
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
    default_tolerance,
)
from spec.registry import register

__all__: list[str] = []

CIP_2025 = Paper("Conformal Information Pursuit for Interactively Guiding Large Language Models", 2025, "2507.03279")
HELLINGER_1909 = Paper("Neue Begründung der Theorie quadratischer Formen von unendlichvielen Veränderlichen", 1909)
SSL_RECSYS_2020 = Paper("Self-supervised Learning for Large-scale Item Recommendations", 2020, "2007.12865")
INTERSECTIONAL_2025 = Paper("Machine Learning with Multitype Protected Attributes: Intersectional Fairness through "
                            "Regularisation", 2025, "2509.08163")
LIN_1991_JS = Paper("Divergence measures based on the Shannon entropy", 1991)

CIP_COMMIT = "ed7fb6664b5019d9ceae7da4c002651ff78b84b2"
SKLEARN_COMMIT = "0096089245f206bf949e5f1fc4aa1a6d4f3ba7b1"


def _out(outputs: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    return np.asarray(outputs[0], dtype=np.float64)


def _entropy_bits(p: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(-np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=-1))


# --------------------------------------------------------------------------- plugin_entropy_log2


def _pe_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    p = np.asarray(inputs["probs"])
    v = max(int(p.shape[-1]) if p.ndim else 1, 2)
    eps = float(params.get("eps", 1e-5))
    extra = v * (-eps * math.log2(eps)) if 0 < eps < 1 else 0.0
    return max(1.0, math.log2(v), extra)


PE_SCALE = Scale("max(1, log2 V, V·(−eps log2 eps))", _pe_scale_of)


def _pe_rows(ctx: PropertyContext) -> np.ndarray[Any, Any]:
    (h,) = ctx.call(reduction="none")
    return np.asarray(h, dtype=np.float64)


def _pe_nonneg(ctx: PropertyContext) -> None:
    h = _pe_rows(ctx)
    assert np.all(h >= -ctx.slack()), f"plug-in entropy < 0: {h}"


def _pe_exact(ctx: PropertyContext) -> None:
    p = np.asarray(ctx.inputs["probs"], dtype=np.float64)
    eps = float(ctx.params.get("eps", 1e-5))
    rows = np.all(p >= eps, axis=-1) if p.shape[-1] else np.zeros(p.shape[:-1], dtype=bool)
    if not np.any(rows):
        ctx.skip("no row with every probability >= eps")
    h = _pe_rows(ctx)
    assert ctx.close(h[rows], _entropy_bits(p)[rows], 2), "rows with p >= eps must give the Shannon entropy in bits"


def _pe_clamp_adds(ctx: PropertyContext) -> None:
    eps = float(ctx.params.get("eps", 1e-5))
    if eps > 1 / math.e:
        ctx.skip("eps > 1/e: −x log x is not increasing up to eps")
    p = np.asarray(ctx.inputs["probs"], dtype=np.float64)
    h = _pe_rows(ctx)
    assert np.all(h >= _entropy_bits(p) - ctx.slack(2)), "clamping up to eps <= 1/e can only add entropy"


def _pe_mean(ctx: PropertyContext) -> None:
    h = _pe_rows(ctx)
    (m,) = ctx.call(reduction="mean")
    expected = float(np.mean(h)) if h.size else 0.0
    assert ctx.close(m, expected, 2), f"reduction='mean' must be the mean of the rows: {m} vs {expected}"


register(MethodSpec(
    id="plugin_entropy_log2",
    family="categorical",
    kind="estimator",
    summary="C-IP's plug-in entropy in bits: mean over rows of −Σ p̃ log2 p̃, p̃ = max(p, eps) (no renormalisation).",
    papers=(CIP_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"ryanchankh/Conformal-IP @ {CIP_COMMIT}: src/mediq/utils.py compute_entropy_formula "
                        "(probs = clamp(probs, min=1e-5); −(probs·log2 probs).sum(-1).mean()), the same method in "
                        "src/20q/*.py; called on the posteriors in src/mediq/mediq_conformal.py; transcription and "
                        "scipy.stats.entropy(base=2) in the tests",
        official_code="ryanchankh/Conformal-IP:src/mediq/utils.py",
        differences=(
            Difference("input check", "probability vectors on the simplex", "assert torch.all(probs >= 0.) only",
                       default="paper", flag=None),
            Difference("empty batch", "mean over no rows is 0", "torch mean of an empty tensor is NaN",
                       default="paper", flag=None),
        ),
        notes="Not the entropy of a distribution when some p < eps: clamped entries add mass (the baseline C-IP "
              "replaces by its conformal bound). eps = 0 gives the Shannon entropy in bits (0 log 0 = 0).",
    ),
    inputs=(InputSpec("probs", "probs", ("...", "V"), "posterior probability vectors, classes last"),),
    params=(
        ParamSpec("eps", 1e-5, Interval(0.0, 1.0), "probabilities are clamped from below to eps (not renormalised)"),
        ParamSpec("reduction", "mean", Choice(("mean", "none")), "'mean' over every row (the code) or per row"),
    ),
    outputs=(OutputSpec("entropy", "plug-in entropy in bits (scalar mean or per row)", scale=PE_SCALE),),
    properties=(
        Property("nonnegative", "every row's value >= 0", _pe_nonneg),
        Property("exact_above_eps", "rows with every p >= eps give the Shannon entropy in bits", _pe_exact),
        Property("clamp_adds", "for eps <= 1/e the value is >= the Shannon entropy in bits", _pe_clamp_adds),
        Property("mean_of_rows", "reduction='mean' is the mean of reduction='none'", _pe_mean),
    ),
    branches=(
        Branch("clamp active", "some probability below eps",
               lambda i, p, o: bool(np.any(np.asarray(i["probs"]) < float(p.get("eps", 1e-5))))),
        Branch("clamp inactive", "a row with every probability >= eps",
               lambda i, p, o: np.asarray(i["probs"]).shape[-1] > 0 and bool(np.any(np.all(
                   np.asarray(i["probs"]) >= float(p.get("eps", 1e-5)), axis=-1)))),
        Branch("per-row output", "reduction='none'", lambda i, p, o: p.get("reduction", "mean") == "none"),
    ),
    tolerance=default_tolerance(),
    degenerate=("an empty batch averages to 0", "eps = 0: 0 log 0 = 0"),
))


# --------------------------------------------------------------------------- hellinger_distance


def _he_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    assert np.all(h >= -ctx.slack()) and np.all(h <= 1 + ctx.slack()), f"Hellinger distance outside [0, 1]: {h}"


def _he_bhattacharyya(ctx: PropertyContext) -> None:
    p = np.asarray(ctx.inputs["p"], dtype=np.float64)
    q = np.asarray(ctx.inputs["q"], dtype=np.float64)
    (h,) = ctx.call()
    bc = np.sum(np.sqrt(p * q), axis=-1)
    # on the simplex H² = 1 − BC; rows off the simplex by rounding (≤ the dtype's simplex tolerance) differ by it
    off = np.abs(np.sum(p, -1) - 1) + np.abs(np.sum(q, -1) - 1)
    assert np.all(np.abs(np.asarray(h, dtype=np.float64) ** 2 - (1 - bc)) <= 4 * ctx.slack() + off), \
        f"H² != 1 − Σ √(p q): {h}"


register(MethodSpec(
    id="hellinger_distance",
    family="categorical",
    kind="estimator",
    summary="Hellinger distance H(p, q) = sqrt(1 − Σ √(p q)) = ‖√p − √q‖₂/√2 of probability vectors, in [0, 1].",
    papers=(HELLINGER_1909,),
    provenance=Provenance(
        confidence="standard",
        checked_against="scipy.spatial.distance.euclidean(√p, √q)/√2 (scipy 1.17.1) and the Bhattacharyya form "
                        "sqrt(1 − Σ √(p q)) with mpmath (tests/categorical/test_plugin.py)",
        official_code=None,
        differences=(
            Difference("normalisation", "H = sqrt(1 − BC) ∈ [0, 1] (with the ½)",
                       "some texts use sqrt(Σ (√p − √q)²) = √2·H ∈ [0, √2]", default="paper", flag=None),
        ),
        notes="Computed as sqrt(½ Σ (√p − √q)²): no cancellation in 1 − BC when p ≈ q; clipped to [0, 1]. The "
              "catalogue takes it from 'PTA Normalizing Flows' (pulsar-timing-array model comparison; paper not "
              "located here), which uses it on histograms.",
    ),
    inputs=(InputSpec("p", "probs", ("...", "V"), "probability vectors (histograms)"),
            InputSpec("q", "probs", ("...", "V"), "probability vectors (histograms)")),
    params=(AXIS,),
    outputs=(OutputSpec("distance", "Hellinger distance per row", shape=("...",), scale=UNIT_SCALE),),
    properties=(
        Property("bounds", "0 <= H <= 1", _he_bounds),
        *symmetric_divergence_properties("H", lambda params: 1.0, "1"),
        Property("bhattacharyya", "H² = 1 − Σ √(p q)", _he_bhattacharyya),
    ),
    branches=(
        Branch("partly disjoint supports", "p > 0 = q somewhere",
               lambda i, p, o: bool(np.any((np.asarray(i["p"]) > 0) & (np.asarray(i["q"]) == 0)))),
        Branch("overlapping, distinct", "a row with 0 < H < 1",
               lambda i, p, o: bool(np.any((_out(o) > 1e-3) & (_out(o) < 1 - 1e-3)))),
    ),
    tolerance=default_tolerance(),
    degenerate=("disjoint supports give exactly 1", "identical rows give 0"),
))


# --------------------------------------------------------------------------- plugin_mutual_information_categorical


def _mi_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    c = np.asarray(inputs["counts"])
    k = max(min(int(c.shape[-1]), int(c.shape[-2])), 2) if c.ndim >= 2 else 2
    return max(1.0, math.log(k) / abs(unit(params)))


MI_SCALE = Scale("max(1, log min(X, Y) / |log base|)", _mi_scale_of)


def _mi_h(counts: np.ndarray[Any, Any], axis: int) -> np.ndarray[Any, Any]:
    """Entropy (nats) of the marginal summed over ``axis``."""
    m = np.sum(counts, axis=axis)
    n = np.sum(m, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, m / np.where(n > 0, n, 1.0), 0.0)
        return np.asarray(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1))


def _mi_nonneg(ctx: PropertyContext) -> None:
    (mi,) = ctx.call(base=None)
    assert np.all(mi >= -ctx.slack()), f"MI < 0: {mi}"


def _mi_symmetric(ctx: PropertyContext) -> None:
    c = ctx.inputs["counts"]
    (mi,) = ctx.call()
    (mt,) = ctx.call(counts=np.swapaxes(c, -1, -2).copy())
    assert ctx.close(mt, mi, 2), f"MI(X; Y) != MI(Y; X): {mi} vs {mt}"


def _mi_bound(ctx: PropertyContext) -> None:
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    (mi,) = ctx.call(base=None)
    bound = np.minimum(_mi_h(c, -1), _mi_h(c, -2))
    assert np.all(mi <= bound + ctx.slack(2)), f"MI > min(H(X), H(Y)): {mi} vs {bound}"


def _mi_diagonal(ctx: PropertyContext) -> None:
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    r = np.sum(c, axis=-1)  # X's marginal counts
    diag = r[..., :, None] * np.eye(r.shape[-1])
    (mi,) = ctx.call(counts=diag, base=None)
    assert ctx.close(mi, _mi_h(diag, -1), 2), f"Y = X must give MI = H(X): {mi}"


def _mi_independent(ctx: PropertyContext) -> None:
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    outer = np.sum(c, axis=-1)[..., :, None] * np.sum(c, axis=-2)[..., None, :]
    from spec.categorical._common import fits

    if not fits(outer, ctx.dtype):
        ctx.skip("the outer product of the marginals is not exact in this dtype")
    (mi,) = ctx.call(counts=outer)
    assert np.all(np.abs(mi) <= ctx.slack(4)), f"a product table must give MI = 0: {mi}"


register(MethodSpec(
    id="plugin_mutual_information_categorical",
    family="categorical",
    kind="estimator",
    summary="Plug-in mutual information of a contingency table: Σ p_xy log(p_xy / (p_x p_y)), p = counts / N.",
    papers=(SHANNON_1948, SSL_RECSYS_2020),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"scikit-learn sklearn/metrics/cluster/_supervised.py @ {SKLEARN_COMMIT} "
                        "(mutual_info_score with contingency=: nonzero cells, log(C) − log N + log N² − log(r_x c_y), "
                        "terms below eps zeroed, clipped at 0) transcribed in the tests (scikit-learn is not "
                        "installed here); scipy.stats.entropy: H(X) + H(Y) − H(X, Y)",
        official_code=None,
        differences=(
            Difference("marginal dtype", "real-valued counts (weights allowed)",
                       "sklearn casts the marginals to int64 (fractional counts truncated)", default="peer", flag=None),
            Difference("tiny terms", "every term counts; the sum is clipped at 0",
                       "sklearn zeroes terms with |term| < float64 eps before summing", default="paper", flag=None),
        ),
        notes="Counts table (..., X, Y), the two category axes last: build it from labels with a bincount of "
              "x·Y + y. An all-zero table (empty sample) gives 0, as does a single row or column. Clipped at 0.",
    ),
    inputs=(InputSpec("counts", "weights", ("...", "X", "Y"), "non-negative joint counts (contingency table)"),),
    params=(BASE,),
    outputs=(OutputSpec("mi", "plug-in mutual information per table", shape=("...",), scale=MI_SCALE),),
    properties=(
        Property("nonnegative", "MI >= 0", _mi_nonneg),
        Property("symmetric", "MI(X; Y) = MI(Y; X) (transposed table)", _mi_symmetric),
        Property("entropy_bound", "MI <= min(H(X), H(Y))", _mi_bound),
        Property("diagonal", "Y = X (a diagonal table) gives MI = H(X)", _mi_diagonal),
        Property("independent", "a product table r ⊗ c gives 0", _mi_independent),
    ),
    branches=(
        Branch("empty cells", "a non-empty table with zero cells",
               lambda i, p, o: bool(np.any((np.asarray(i["counts"]) == 0)
                                           & (np.sum(np.asarray(i["counts"]), axis=(-2, -1), keepdims=True) > 0)))),
        Branch("dependent", "a table with MI > 0", lambda i, p, o: bool(np.any(_out(o) > 1e-6))),
        Branch("log base", "`base` is given", lambda i, p, o: p.get("base") is not None),
    ),
    tolerance=default_tolerance(),
    degenerate=("an all-zero table gives 0", "a single row or column gives 0"),
))


# --------------------------------------------------------------------------- jensen_shannon_groups


def _jsg_parts(counts: Any, weights: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(P (..., G, K) per-group histograms, π (..., G) group weights), float64; empty groups get π = 0."""
    c = np.asarray(counts, dtype=np.float64)
    n = np.sum(c, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, c / np.where(n > 0, n, 1.0), 0.0)
    nonempty = (n[..., 0] > 0).astype(np.float64)
    base = n[..., 0] if weights == "size" else nonempty
    tot = np.sum(base, axis=-1, keepdims=True)
    pi = np.where(tot > 0, base / np.where(tot > 0, tot, 1.0), 0.0)
    return p, pi


def jsg_value(counts: Any, weights: str = "uniform") -> np.ndarray[Any, Any]:
    """Σ_g π_g KL(P_g ‖ M) in nats (float64, used by the properties)."""
    p, pi = _jsg_parts(counts, weights)
    m = np.sum(pi[..., None] * p, axis=-2, keepdims=True)
    pos = (p > 0) & (pi[..., None] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(pos, pi[..., None] * p * (np.log(np.where(pos, p, 1.0)) - np.log(np.where(pos, m, 1.0))), 0.0)
    return np.asarray(np.sum(t, axis=(-2, -1)))


def _jsg_groups(inputs: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    c = np.asarray(inputs["counts"])
    return np.asarray(np.sum(np.sum(c, axis=-1) > 0, axis=-1))


def _jsg_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    c = np.asarray(inputs["counts"])
    g = max(int(c.shape[-2]) if c.ndim >= 2 else 2, 2)
    return max(1.0, math.log(g) / abs(unit(params)))


JSG_SCALE = Scale("max(1, log G / |log base|)", _jsg_scale_of)


def _jsg_bounds(ctx: PropertyContext) -> None:
    (js,) = ctx.call(base=None)
    g = np.maximum(_jsg_groups(ctx.inputs), 1)
    assert np.all(js >= -ctx.slack()) and np.all(js <= np.log(g) + ctx.slack(2)), \
        f"JS outside [0, log G]: {js}"


def _jsg_two_groups(ctx: PropertyContext) -> None:
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    if c.shape[-2] != 2 or ctx.params.get("weights", "uniform") != "uniform":
        ctx.skip("needs G = 2 and uniform weights")
    full = np.all(np.sum(c, axis=-1) > 0, axis=-1)  # stacks where both groups are non-empty (else JS = 0)
    n = np.sum(c, axis=-1, keepdims=True)
    p = c / np.where(n > 0, n, 1.0)
    m = 0.5 * (p[..., 0, :] + p[..., 1, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        kl = [np.sum(np.where(x > 0, x * (np.log(np.where(x > 0, x, 1.0)) - np.log(np.where(x > 0, m, 1.0))), 0.0),
                     axis=-1) for x in (p[..., 0, :], p[..., 1, :])]
    (js,) = ctx.call(base=None)
    expected = np.where(full, 0.5 * kl[0] + 0.5 * kl[1], 0.0)
    assert ctx.close(js, expected, 2), f"G = 2 must give ½KL(P‖M) + ½KL(Q‖M) (0 with an empty group): {js}"


def _jsg_size_is_mi(ctx: PropertyContext) -> None:
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    (js,) = ctx.call(weights="size", base=None)
    n = np.sum(c, axis=(-2, -1), keepdims=True)
    r = np.sum(c, axis=-1, keepdims=True)
    k = np.sum(c, axis=-2, keepdims=True)
    pos = c > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mi = np.sum(np.where(pos, c / np.where(n > 0, n, 1.0) * np.log(np.where(pos, c * n / (r * k), 1.0)), 0.0),
                    axis=(-2, -1))
    assert ctx.close(js, np.maximum(mi, 0.0), 4), f"size weights must give I(group; bin): {js} vs {mi}"


def _jsg_scale_groups(ctx: PropertyContext) -> None:
    if ctx.params.get("weights", "uniform") != "uniform":
        ctx.skip("size weights depend on the group totals")
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    if c.shape[-2] < 1:
        ctx.skip("no group")
    scaled = c.copy()
    scaled[..., 0, :] *= 2.0  # exact in every dtype (a power of two)
    from spec.categorical._common import fits

    if not fits(scaled, ctx.dtype):
        ctx.skip("2·counts overflows this dtype")
    (js,) = ctx.call()
    (jt,) = ctx.call(counts=scaled)
    assert ctx.close(jt, js, 2), f"uniform weights: rescaling one group's counts must not matter: {js} vs {jt}"


def _jsg_identical(ctx: PropertyContext) -> None:
    c = np.asarray(ctx.inputs["counts"], dtype=np.float64)
    if c.shape[-2] < 1:
        ctx.skip("no group")
    same = np.broadcast_to(c[..., :1, :], c.shape).copy()
    (js,) = ctx.call(counts=same)
    assert np.all(np.abs(js) <= ctx.slack(2)), f"identical group histograms must give 0: {js}"


register(MethodSpec(
    id="jensen_shannon_groups",
    family="categorical",
    kind="estimator",
    summary="Jensen–Shannon divergence of the per-group histograms of predictions: Σ_g π_g KL(P_g ‖ Σ_h π_h P_h), "
            "π uniform over the non-empty groups (½KL + ½KL for two) or ∝ group size.",
    papers=(INTERSECTIONAL_2025, LIN_1991_JS),
    provenance=Provenance(
        confidence="inferred",
        checked_against="two groups: scipy.spatial.distance.jensenshannon(p, q)**2 (scipy 1.17.1); size weights: "
                        "H(Σ π P) − Σ π H(P) with scipy.stats.entropy and the plug-in mutual information of the "
                        "(group × bin) table (tests/categorical/test_plugin.py). The paper (arXiv:2509.08163) states "
                        "the JS calibration only in its abstract here; no official code was found",
        official_code=None,
        differences=(
            Difference("group weights", "two groups with ½, ½ (the catalogue's JSD(P, Q)); more groups: uniform "
                       "weights over the non-empty groups (generalised JS of Lin 1991)",
                       "size-proportional weights make it the mutual information I(group; prediction bin)",
                       default="paper", flag="weights"),
        ),
        notes="Input: stacked histograms (counts, binned by the caller) of the predictions of each group, shape "
              "(..., G, K). Empty groups (zero total) are left out; fewer than two non-empty groups give 0. "
              "0 <= JS <= log G (uniform weights); with G = 2 it equals js_divergence of the normalised rows.",
    ),
    inputs=(InputSpec("counts", "weights", ("...", "G", "K"), "per-group histograms of the predictions (counts)"),),
    params=(
        ParamSpec("weights", "uniform", Choice(("uniform", "size")),
                  "'uniform': π_g = 1/(non-empty groups); 'size': π_g ∝ the group's total count"),
        BASE,
    ),
    outputs=(OutputSpec("js", "Jensen–Shannon divergence per stack of group histograms", shape=("...",),
                        scale=JSG_SCALE),),
    properties=(
        Property("bounds", "0 <= JS <= log(number of non-empty groups)", _jsg_bounds),
        Property("two_groups", "G = 2, uniform: ½KL(P‖M) + ½KL(Q‖M)", _jsg_two_groups),
        Property("size_weights_mutual_information", "size weights give I(group; bin) of the table", _jsg_size_is_mi),
        Property("group_scale_invariance", "uniform weights: scaling one group's counts changes nothing",
                 _jsg_scale_groups),
        Property("identical_zero", "identical group histograms give 0", _jsg_identical),
    ),
    branches=(
        Branch("empty group", "a group with zero total next to non-empty ones",
               lambda i, p, o: bool(np.any((np.sum(np.asarray(i["counts"]), axis=-1) == 0)
                                           & (_jsg_groups(i)[..., None] > 0)))),
        Branch("three or more groups", "G >= 3 non-empty groups", lambda i, p, o: bool(np.any(_jsg_groups(i) >= 3))),
        Branch("size weights", "weights='size'", lambda i, p, o: p.get("weights", "uniform") == "size"),
        Branch("log base", "`base` is given", lambda i, p, o: p.get("base") is not None),
    ),
    tolerance=default_tolerance(),
    degenerate=("empty groups are left out", "fewer than two non-empty groups give 0"),
))
