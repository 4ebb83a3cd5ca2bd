"""Specs of the ``information`` family, group ``spectral``: estimators that are functions of the eigenvalues
of a similarity, Gram or covariance matrix built from samples ``X`` of shape ``(N, D)`` (rows are samples).

Shared conventions (see :mod:`spec.information._common`): the eigenvalue threshold ``eig_rtol`` (``None`` =
``min(N, D)·ε`` of the computation dtype; ``0`` = keep every positive eigenvalue, as vendi-score), the
kept eigenvalues renormalised to sum 1, entropies in nats. Implementations may use either side of a Gram
matrix (``X Xᵀ`` or ``Xᵀ X``: the same nonzero spectrum); the accelerated versions take the smaller one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.information._common import (
    EIG_RTOL,
    VENDI_2022,
    VENDI_COUSINS_2023,
    centred,
    default_rtol,
    first_order_eigenvalues,
    fits,
    neumann_terms,
    renyi_expr,
    vendi_matrix,
    vendi_spectrum,
)
from spec.model import (
    Branch,
    Budget,
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


def _rows(inputs: Mapping[str, Any]) -> int:
    return int(np.shape(inputs["X"])[0])


#: Vendi scores lie in [1, N]: the upper bound is the natural scale.
VENDI_SCALE = Scale("N, the number of samples (the largest possible Vendi score)",
                    lambda inputs, params: float(max(_rows(inputs), 1)))


# --------------------------------------------------------------------------- vendi_score


def _vendi_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    x = np.asarray(inputs["X"], dtype=np.float64)
    n, d = x.shape
    kernel = str(params.get("kernel", "cosine"))
    p = inputs.get("p")
    w = np.full(n, 1.0 / n) if p is None else np.asarray(p, dtype=np.float64)
    sym = symbols_like("x", x)
    sw = [sp.Float(float(math.sqrt(v))) for v in w]
    if kernel == "precomputed":
        m_sym = [[sw[a] * sw[b] * (sym[a, b] + sym[b, a]) / 2 for b in range(n)] for a in range(n)]
    else:
        rows = []
        for a in range(n):
            r = [sym[a, k] for k in range(d)]
            if kernel == "cosine":
                norm = sp.sqrt(sp.Add(*[s**2 for s in r]))
                r = [s / norm for s in r]
            rows.append([sw[a] * s for s in r])
        m_sym = [[sp.Add(*[rows[a][k] * rows[b][k] for k in range(d)]) for b in range(n)] for a in range(n)]
    m_val = vendi_matrix(x, p, kernel)
    rtol = params.get("eig_rtol")
    # gradient cases keep eigenvalues >= 2 % of the largest: 1e-10 separates them from the N×N matrix's zeros
    lams, values = first_order_eigenvalues(m_sym, m_val, max(1e-10, 0.0 if rtol is None else float(rtol)))
    out = sp.exp(renyi_expr(lams, float(params.get("q", 1.0)), values))
    return SymbolicProblem({"X": sym}, np.array(out, dtype=object), bind(sym, x))


def _bound_rank(ctx: PropertyContext) -> int:
    x = ctx.inputs["X"]
    p = ctx.inputs.get("p")
    n_plus = x.shape[0] if p is None else int(np.sum(np.asarray(p) > 0))
    return int(min(n_plus, x.shape[0] if ctx.params.get("kernel", "cosine") == "precomputed" else x.shape[1]))


def _vendi_bounds(ctx: PropertyContext) -> None:
    (v,) = ctx.call()
    hi = _bound_rank(ctx)
    s = ctx.slack()
    assert 1.0 - s <= float(v) <= hi + s + ctx.budget.rtol * hi, f"Vendi {float(v)} outside [1, {hi}]"


def _permute(ctx: PropertyContext, perm: Any) -> dict[str, Any]:
    x = ctx.inputs["X"]
    out: dict[str, Any] = {"X": x[perm][:, perm] if ctx.params.get("kernel", "cosine") == "precomputed" else x[perm]}
    if ctx.inputs.get("p") is not None:
        out["p"] = ctx.inputs["p"][perm]
    return out


def _vendi_permutation(ctx: PropertyContext) -> None:
    n = ctx.inputs["X"].shape[0]
    if n < 2:
        ctx.skip("one sample")
    (v,) = ctx.call()
    (vp,) = ctx.call(**_permute(ctx, ctx.rng.permutation(n)))
    assert ctx.close(vp, v, factor=2), f"not invariant to permuting the samples: {float(v)} vs {float(vp)}"


def _vendi_rotation(ctx: PropertyContext) -> None:
    if ctx.params.get("kernel", "cosine") == "precomputed":
        ctx.skip("a precomputed kernel has no feature axis")
    x = ctx.inputs["X"]
    d = x.shape[1]
    q = np.zeros((d, d))
    q[np.arange(d), ctx.rng.permutation(d)] = ctx.rng.choice([-1.0, 1.0], size=d)  # exact in every dtype
    (v,) = ctx.call()
    (vr,) = ctx.call(X=x @ q)
    assert ctx.close(vr, v, factor=2), f"not invariant to a signed permutation of the features: {v} vs {vr}"
    if ctx.dtype == "float64" and d >= 2:
        g, _ = np.linalg.qr(ctx.rng.standard_normal((d, d)))
        (vg,) = ctx.call(X=x @ g)
        assert ctx.close(vg, v, factor=50), f"not invariant to a rotation of the features: {v} vs {vg}"


def _vendi_duplication(ctx: PropertyContext) -> None:
    x = ctx.inputs["X"]
    pre = ctx.params.get("kernel", "cosine") == "precomputed"
    over: dict[str, Any] = {"X": np.block([[x, x], [x, x]]) if pre else np.vstack([x, x])}
    if ctx.inputs.get("p") is not None:
        over["p"] = np.concatenate([ctx.inputs["p"], ctx.inputs["p"]]) / 2.0
    (v,) = ctx.call()
    (v2,) = ctx.call(**over)
    assert ctx.close(v2, v, factor=4), f"duplicating every sample changed the score: {float(v)} vs {float(v2)}"


def _vendi_q_monotone(ctx: PropertyContext) -> None:
    q = float(ctx.params.get("q", 1.0))
    if math.isinf(q):
        ctx.skip("q = inf is the largest order")
    values = [float(ctx.call(q=qq)[0]) for qq in (q, q + 0.5, 2.0 * q + 1.0, math.inf)]
    for a, b in itertools.pairwise(values):
        assert b <= a + ctx.slack(4) + 4 * ctx.budget.rtol * a, f"not non-increasing in q: {values}"


def _vendi_blocks(ctx: PropertyContext) -> None:
    x = ctx.inputs["X"]
    n, d = x.shape
    pre = ctx.params.get("kernel", "cosine") == "precomputed"
    bound = n if pre else min(n, d)
    divisors = [m for m in range(1, bound + 1) if n % m == 0]
    m = int(ctx.rng.choice(divisors))
    labels = ctx.rng.permutation(np.arange(n) % m)
    if pre:
        k = (labels[:, None] == labels[None, :]).astype(np.float64)
    else:
        k = np.zeros((n, d))
        k[np.arange(n), labels] = 2.0 if ctx.params.get("kernel") == "linear" else 0.5
    (v,) = ctx.call(X=k, p=None)
    assert ctx.close(v, float(m), factor=4), f"{m} equal orthogonal groups of identical samples: Vendi {v} != {m}"


def _vendi_uniform_weights(ctx: PropertyContext) -> None:
    n = ctx.inputs["X"].shape[0]
    if ctx.dtype in ("float16", "bfloat16") and n & (n - 1):
        ctx.skip("1/N is not exact in a 16-bit dtype")
    (a,) = ctx.call(p=None)
    (b,) = ctx.call(p=np.full(n, 1.0 / n))
    assert ctx.close(b, a, factor=4), f"uniform weights must equal no weights: {float(a)} vs {float(b)}"


def _q_is(low: float, high: float) -> Any:
    def hit(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
        q = float(p.get("q", 1.0))
        return low < q < high

    return hit


def _vendi_rank_deficient(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    _, keep = vendi_spectrum(i, p)
    x = np.asarray(i["X"])
    full = x.shape[0] if p.get("kernel", "cosine") == "precomputed" else min(x.shape)
    return bool(0 < int(keep.sum()) < full)


def _vendi_rtol_binds(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    if p.get("eig_rtol") is None:
        return False
    _, keep = vendi_spectrum(i, p)
    x = np.asarray(i["X"])
    _, default_keep = vendi_spectrum(i, {**p, "eig_rtol": default_rtol(*x.shape)})
    return bool(np.any(default_keep & ~keep))


register(MethodSpec(
    id="vendi_score",
    family="information",
    kind="estimator",
    summary="Vendi score VS_q = exp(H_q(λ)): the exponential of the Rényi-q entropy of the eigenvalues of the "
            "(weighted, trace-normalised) similarity matrix of the samples; an effective number of distinct samples.",
    papers=(VENDI_2022, VENDI_COUSINS_2023),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="vendi-score 0.0.3 (PyPI sdist, vendi_score/vendi.py: weight_K, normalize_K, entropy_q, "
                        "score_K, score_X, score_dual, intdiv_K) read in full and run side by side "
                        "(tests/information/test_spectral.py); vertaix/Vendi-Score@5f00dc6 has the same vendi.py",
        official_code="vertaix/Vendi-Score:vendi_score/vendi.py",
        notes="One function for the three forms of vendi-score: kernel='cosine' (score_X / score_dual with "
              "normalize=True: rows L2-normalised, zero rows stay 0 as sklearn's normalize), 'linear' (normalize="
              "False) and 'precomputed' (score_K: X is the N×N kernel; its symmetric part (K + Kᵀ)/2 is used). "
              "K̃ = diag(√p) K diag(√p) (p = 1/N by default), λ = eigvalsh(K̃); the kept eigenvalues (see "
              "eig_rtol) are renormalised to sum 1 and VS_q = exp(H_q): H_1 = −Σ λ log λ, H_q = log(Σ λ^q)/(1−q), "
              "H_0 = log(#kept), H_∞ = −log max λ. The dual form (eigenvalues of Xᵀ diag(p) X, D×D) has the same "
              "nonzero spectrum; accelerated versions use it when D < N (no N×N matrix). No kept eigenvalue "
              "(an all-zero X or kernel) gives VS = 1, as vendi-score.",
        differences=(
            Difference("score_X ignores q", "VS_q for every q (Cousins of the Vendi Score)",
                       "vendi-score 0.0.3 score_X passes q=1 to score_K whatever q is given (score_dual and "
                       "score_K honour q)", "paper", None),
            Difference("q = inf", "H_∞ = −log max λ", "vendi-score only recognises the string 'inf'; q=np.inf "
                       "computes log(Σ λ^inf)/(1 − inf) = NaN", "paper", None),
            Difference("eigenvalue threshold", "eigenvalues of a PSD matrix are >= 0",
                       "vendi-score keeps every λ > 0, so for q < 1 positive round-off of exactly-zero eigenvalues "
                       "is counted (e.g. q = 0.1 on duplicated rows); here λ <= min(N, D)·ε·λ_max is dropped",
                       "paper", "eig_rtol"),
            Difference("renormalisation", "λ(K/n) sums to 1 for a unit-diagonal PSD K",
                       "vendi-score does not renormalise after dropping λ <= 0 and divides by n, not tr K: for "
                       "non-PSD kernels, zero rows under normalize=True or a non-unit diagonal its spectrum does not "
                       "sum to 1 (and H_q has a pole at q → 1); here the kept spectrum is renormalised, which is "
                       "the same for PSD unit-diagonal kernels", "paper", None),
            Difference("linear kernel scale", "trace-normalised similarity",
                       "vendi-score's linear kernel (normalize=False) uses XXᵀ/n, which depends on the scale of X; "
                       "here it is trace-normalised (scale-invariant); rescale X so that mean ‖x_i‖² = 1 to compare",
                       "paper", None),
        ),
    ),
    inputs=(
        InputSpec("X", "samples", ("N", "D"), "samples as rows (N, D), or the N×N kernel when kernel='precomputed'",
                  differentiable=True),
        InputSpec("p", "probs", ("N",), "optional sample weights on the simplex (None = uniform 1/N)",
                  optional=True, positional=False),
    ),
    params=(
        ParamSpec("q", 1.0, Interval(0.0, None, allow_inf=True), "order of the Rényi entropy (1 = Shannon, inf)"),
        ParamSpec("kernel", "cosine", Choice(("cosine", "linear", "precomputed")),
                  "similarity: cosine (rows L2-normalised), linear (x_i·x_j) or precomputed (X is the kernel)"),
        EIG_RTOL,
    ),
    outputs=(OutputSpec("vendi", "the Vendi score, in [1, N]", scale=VENDI_SCALE),),
    properties=(
        Property("bounds", "1 <= VS <= min(#samples with p > 0, D) (N for a precomputed kernel)", _vendi_bounds),
        Property("permutation_invariance", "permuting the samples (and their weights) leaves VS unchanged",
                 _vendi_permutation),
        Property("rotation_invariance", "an orthogonal transform of the features leaves VS unchanged",
                 _vendi_rotation),
        Property("duplication_invariance", "duplicating the whole set (weights halved) leaves VS unchanged",
                 _vendi_duplication),
        Property("q_monotone", "VS_q is non-increasing in q", _vendi_q_monotone),
        Property("block_closed_form", "m equal-size groups of identical samples, orthogonal across groups: VS = m "
                 "for every q", _vendi_blocks),
        Property("uniform_weights", "p = 1/N gives the unweighted score", _vendi_uniform_weights),
    ),
    branches=(
        Branch("q = 1", "the Shannon (von Neumann) order", lambda i, p, o: float(p.get("q", 1.0)) == 1.0),
        Branch("0 < q < 1", "orders below 1 (sensitive to small eigenvalues)", _q_is(0.0, 1.0)),
        Branch("1 < q < inf", "finite orders above 1", lambda i, p, o: 1.0 < float(p.get("q", 1.0)) < math.inf),
        Branch("q = inf", "−log λ_max", lambda i, p, o: math.isinf(float(p.get("q", 1.0)))),
        Branch("q = 0", "log of the number of kept eigenvalues", lambda i, p, o: float(p.get("q", 1.0)) == 0.0),
        Branch("rank deficient", "fewer kept eigenvalues than min(N, D): duplicated rows or exact rank deficiency",
               _vendi_rank_deficient),
        Branch("dual form", "cosine or linear kernel with D < N (accelerated: the D×D Gram)",
               lambda i, p, o: p.get("kernel", "cosine") != "precomputed"
               and np.shape(i["X"])[1] < np.shape(i["X"])[0]),
        Branch("precomputed kernel", "X is the kernel", lambda i, p, o: p.get("kernel", "cosine") == "precomputed"),
        Branch("weights", "sample weights p are given", lambda i, p, o: i.get("p") is not None),
        Branch("eig_rtol binds", "eig_rtol drops an eigenvalue that the default threshold keeps", _vendi_rtol_binds),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_vendi_problem, wrt=("X",),
                          kinks="an eigenvalue crossing the threshold (dropped/kept); a repeated top eigenvalue at "
                                "q = inf; zero rows under the cosine kernel; λ → 0 for q <= 1 (infinite slope). "
                                "Gradient cases draw well-separated spectra "
                                "(conformance/cases/information/spectral.py)"),
    degenerate=("an all-zero X (or kernel) keeps no eigenvalue: VS = 1 (as vendi-score)",
                "zero rows under the cosine kernel stay zero (sklearn's normalize): they add no eigenvalue",
                "negative eigenvalues of a non-PSD precomputed kernel are dropped",
                "an eigenvalue within rounding of eig_rtol·λ_max may be kept or dropped depending on the "
                "computation (see spec.information._common)"),
))


# =========================================================================== covariance-spectrum estimators

KOOPMAN_2025 = Paper("Information Shapes Koopman Representation", 2025, "2510.13025")
MNN_2024 = Paper("Large Language Model Evaluation via Matrix Nuclear-Norm", 2024, "2410.10672")
RANKME_2023 = Paper("RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised Representations by "
                    "Their Rank", 2023, "2210.02885")
REPTRIX_GEOMETRY_2025 = Paper("Tracing the Representation Geometry of Language Models from Pretraining to "
                              "Post-training", 2025, "2509.23024")

CENTER = ParamSpec("center", True, Choice((True, False)), "subtract the column (feature) means over the samples first")
SAMPLES_X = InputSpec("X", "samples", ("N", "D"), "samples as rows (N, D); flatten (B, T, D) activations to "
                      "(B·T, D) first", differentiable=True)
SAMPLES_CONST = InputSpec("X", "samples", ("N", "D"), "samples as rows (N, D); flatten (B, T, D) activations to "
                          "(B·T, D) first")
LOG_D = Scale("max(1, log D), D = the number of features (the largest entropy)",
              lambda inputs, params: max(1.0, math.log(max(int(np.shape(inputs["X"])[1]), 2))))


def _min_side(inputs: Mapping[str, Any]) -> int:
    return int(min(np.shape(inputs["X"])))


def _rank_deficient(i: Mapping[str, Any], p: Mapping[str, Any], o: tuple[Any, ...]) -> bool:
    x = centred(i["X"], bool(p.get("center", True)))
    s = np.linalg.svd(x, compute_uv=False)
    return bool(s.size and s[0] > 0 and np.sum(s > 1e-9 * s[0]) < min(x.shape))


def _signed_perm(ctx: PropertyContext) -> Any:
    d = ctx.inputs["X"].shape[1]
    q = np.zeros((d, d))
    q[np.arange(d), ctx.rng.permutation(d)] = ctx.rng.choice([-1.0, 1.0], size=d)
    return q


def _invariant(name: str, transform: Any, factor: float = 2.0, **over: Any) -> Any:
    def check(ctx: PropertyContext) -> None:
        x2 = transform(ctx)
        if not fits(x2, ctx.dtype):
            ctx.skip("the transformed samples are not exact in this dtype")
        (a,) = ctx.call(**over)
        (b,) = ctx.call(X=x2, **over)
        assert ctx.close(b, a, factor=factor), f"not invariant to {name}: {float(a)} vs {float(b)}"

    return check


def _rows_permuted(ctx: PropertyContext) -> Any:
    x = ctx.inputs["X"]
    return x[ctx.rng.permutation(x.shape[0])]


def _rotated(ctx: PropertyContext) -> Any:
    return ctx.inputs["X"] @ _signed_perm(ctx)


def _translated(ctx: PropertyContext) -> Any:
    if not ctx.params.get("center", True):
        ctx.skip("translation invariance needs centring")
    return ctx.inputs["X"] + np.array([1.0, -2.0, 0.5, 4.0] * (1 + ctx.inputs["X"].shape[1] // 4))[
        : ctx.inputs["X"].shape[1]][None, :]


def _scaled(ctx: PropertyContext) -> Any:
    return ctx.inputs["X"] * 4.0


def _isotropic(n_pairs: int, d: int) -> Any:
    """Rows ±e_j, each coordinate n_pairs times with both signs: mean 0 and covariance ∝ I."""
    rows = [s * np.eye(d)[j] for j in range(d) for s in (1.0, -1.0) for _ in range(n_pairs)]
    return np.array(rows)


# --------------------------------------------------------------------------- latent_von_neumann_entropy


def _lvn_problem(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> SymbolicProblem:
    import sympy as sp

    from spec.symbolic import bind, symbols_like

    x = np.asarray(inputs["X"], dtype=np.float64)
    n, d = x.shape
    eps = float(params.get("eps", 1e-8))
    sym = symbols_like("z", x)
    cols = [[sym[a, k] for a in range(n)] for k in range(d)]
    if params.get("center", True):
        cols = [[v - sp.Add(*c) / n for v in c] for c in cols]
    sig = [[sp.Add(*[cols[k][a] * cols[j][a] for a in range(n)]) / (n - 1) + (eps if k == j else 0)
            for j in range(d)] for k in range(d)]
    trace = sp.Add(*[sig[k][k] for k in range(d)])
    xc = centred(x, bool(params.get("center", True)))
    sig_val = xc.T @ xc / (n - 1) + eps * np.eye(d)
    tr_val = float(np.trace(sig_val))
    lams, vals = first_order_eigenvalues(sig, sig_val, 0.0)  # eigenvalues of Σ; ρ = Σ / tr Σ
    out = sp.Integer(0)
    for lam, v in zip(lams, vals, strict=True):
        if v / max(tr_val, eps) > eps:
            r = lam / trace
            out = out - r * sp.log(r)
    n_clamped = d - sum(1 for v in vals if v / max(tr_val, eps) > eps)
    if eps > 0:
        out = out - n_clamped * eps * math.log(eps)
    return SymbolicProblem({"X": sym}, np.array(out, dtype=object), bind(sym, x))


def _lvn_bounds(ctx: PropertyContext) -> None:
    (s,) = ctx.call()
    d = ctx.inputs["X"].shape[1]
    eps = float(ctx.params.get("eps", 1e-8))
    hi = math.log(d) + d * eps * abs(math.log(eps)) if eps > 0 else math.log(d)
    assert -ctx.slack() <= float(s) <= hi + ctx.slack(), f"S = {float(s)} outside [0, log D = {math.log(d)}]"


def _lvn_isotropic(ctx: PropertyContext) -> None:
    d = ctx.inputs["X"].shape[1]
    (s,) = ctx.call(X=_isotropic(1 + ctx.inputs["X"].shape[0] // (2 * d), d) * 2.0, center=True)
    assert ctx.close(s, math.log(d), factor=2), f"isotropic latents: S = {float(s)} != log D = {math.log(d)}"


def _lvn_rank_one(ctx: PropertyContext) -> None:
    x = ctx.inputs["X"]
    n, d = x.shape
    if n < 3:
        ctx.skip("needs three samples for a centred rank-one set with spread")
    c = np.resize(np.array([1.0, -1.0, 2.0, 0.0, -2.0]), n)
    c = c - c.mean() if ctx.dtype == "float64" else c  # centred exactly when the mean is dyadic
    v = np.zeros(d)
    v[ctx.rng.integers(d)] = 1.0
    eps = float(ctx.params.get("eps", 1e-8))
    center = bool(ctx.params.get("center", True))
    z = c[:, None] * v[None, :]
    zc = z - z.mean(axis=0) if center else z
    s_var = float(np.sum(zc[:, int(np.argmax(v))] ** 2)) / (n - 1)
    total = s_var + d * eps
    lam = np.array([(s_var + eps) / total] + [eps / total] * (d - 1))
    lam = np.maximum(lam, eps)
    expected = float(np.sum(neumann_terms(lam)))
    (s,) = ctx.call(X=z)
    assert ctx.close(s, expected, factor=4), f"rank-one latents: S = {float(s)}, closed form {expected}"


register(MethodSpec(
    id="latent_von_neumann_entropy",
    family="information",
    kind="estimator",
    summary="Von Neumann entropy S = −Σ λ log λ of the trace-normalised latent covariance ρ = Σ/tr Σ, "
            "Σ = Z_cᵀZ_c/(N−1) + eps·I, eigenvalues clamped at eps (Information Koopman).",
    papers=(KOOPMAN_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="Wenxuan52/InformationKoopman@32f52a1 model/physical_simulation/base.py "
                        "ROM_BASE.von_neumann_entropy (read via the search tool)",
        official_code="Wenxuan52/InformationKoopman:model/physical_simulation/base.py",
        notes="As the code: Z (B, T, H) is flattened to (N = B·T, H) (here the caller passes (N, D)); centring "
              "over the samples; Σ = ZᵀZ/(N − 1) + eps·I; ρ = Σ / max(tr Σ, eps); λ = clamp(eigvalsh(ρ), min=eps); "
              "S = −Σ λ log λ (nats). The eps·I and the clamp keep S and its gradient finite for rank-deficient "
              "latents (the clamped eigenvalues get no gradient). With eps = 0 it is the von Neumann entropy of "
              "the trace-normalised covariance, log of vendi_score(X − mean, kernel='linear', q=1).",
        differences=(
            Difference("eigenvalue convention", "von Neumann entropy of ρ (0 log 0 = 0)",
                       "Σ + eps·I and λ clamped at eps (vendi-score drops λ <= 0 instead)", "code", "eps"),
        ),
    ),
    inputs=(SAMPLES_X,),
    params=(CENTER, ParamSpec("eps", 1e-8, Interval(0.0, 1e-2), "added to the covariance diagonal, floor of the "
                              "trace and of the eigenvalues (0: the plain von Neumann entropy)")),
    outputs=(OutputSpec("entropy", "the von Neumann entropy in nats, in [0, log D]", scale=LOG_D),),
    properties=(
        Property("bounds", "0 <= S <= log D (plus the eps floor)", _lvn_bounds),
        Property("permutation_invariance", "permuting the samples leaves S unchanged",
                 _invariant("a permutation of the samples", _rows_permuted)),
        Property("rotation_invariance", "an orthogonal transform of the features leaves S unchanged",
                 _invariant("a signed permutation of the features", _rotated)),
        Property("translation_invariance", "with centring, adding a constant vector leaves S unchanged",
                 _invariant("a translation", _translated, factor=4)),
        Property("scale_invariance", "eps = 0: S(cX) = S(X)", _invariant("scaling by 4", _scaled, eps=0.0)),
        Property("isotropic_maximum", "Σ ∝ I gives S = log D", _lvn_isotropic),
        Property("rank_one_closed_form", "rank-one latents: S from the eps-regularised closed form", _lvn_rank_one),
    ),
    branches=(
        Branch("rank deficient", "the (centred) samples have rank < min(N, D): eigenvalues clamped at eps",
               _rank_deficient),
        Branch("N < D", "fewer samples than features", lambda i, p, o: np.shape(i["X"])[0] < np.shape(i["X"])[1]),
        Branch("uncentred", "center=False", lambda i, p, o: not p.get("center", True)),
        Branch("eps = 0", "the plain von Neumann entropy", lambda i, p, o: float(p.get("eps", 1e-8)) == 0.0),
    ),
    tolerance=default_tolerance(),
    derivation=Derivation(_lvn_problem, wrt=("X",),
                          kinks="eigenvalues of ρ at the clamp eps (no gradient below it); with eps = 0, λ → 0 has "
                                "an infinite slope. Gradient cases draw well-separated spectra above eps"),
    degenerate=("N = 1 is a ShapeError (the unbiased covariance divides by N − 1)",
                "a zero covariance gives ρ = eps·I / max(D·eps, eps) = I/D: S = log D (eps > 0), as the code; "
                "with eps = 0 and tr Σ = 0, S = 0"),
))


# --------------------------------------------------------------------------- matrix_entropy


def _me_bounds(ctx: PropertyContext) -> None:
    (h,) = ctx.call()
    assert -ctx.slack() <= float(h) <= 1.0 + ctx.slack(), f"normalised entropy {float(h)} outside [0, 1]"


def _me_rank_one(ctx: PropertyContext) -> None:
    x = ctx.inputs["X"]
    n, d = x.shape
    if n < 2:
        ctx.skip("one sample")
    v = np.zeros(d)
    v[ctx.rng.integers(d)] = 1.0
    c = np.resize(np.array([1.0, -3.0, 2.0, 0.5]), n)
    (h,) = ctx.call(X=c[:, None] * v[None, :])
    assert abs(float(h)) <= ctx.slack(2), f"rank-one samples: H = {float(h)} != 0"


def _me_isotropic(ctx: PropertyContext) -> None:
    d = ctx.inputs["X"].shape[1]
    (h,) = ctx.call(X=_isotropic(1 + ctx.inputs["X"].shape[0] // (2 * d), d) * 0.5)
    assert ctx.close(h, 1.0, factor=2), f"isotropic samples: H = {float(h)} != 1"


def _me_row_scale(ctx: PropertyContext) -> None:
    if ctx.params.get("center", True):
        ctx.skip("with centring, rescaling rows moves the mean")
    x = ctx.inputs["X"]
    c = np.resize(np.array([2.0, 0.5, 4.0, 1.0]), x.shape[0])
    (a,) = ctx.call()
    (b,) = ctx.call(X=x * c[:, None])
    assert ctx.close(b, a, factor=2), f"not invariant to rescaling the samples: {float(a)} vs {float(b)}"


register(MethodSpec(
    id="matrix_entropy",
    family="information",
    kind="estimator",
    summary="Normalised matrix entropy H = −Σ λ log λ / log D of the spectrum of A/tr A, A = ZᵀZ/N with Z the "
            "column-centred, row-normalised samples (the Matrix Nuclear-Norm paper's entropy baseline).",
    papers=(MNN_2024,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="MLGroupJLU/MatrixNuclearNorm@da2ce03 code/compute_entropy_time.py (normalize, cal_cov, "
                        "cal_entropy), read via the search tool",
        official_code="MLGroupJLU/MatrixNuclearNorm:code/compute_entropy_time.py",
        notes="As the code: R − mean over the samples (normalize), rows divided by their L2 norm (normalize, then "
              "F.normalize again in cal_cov: idempotent), A = ZᵀZ/N (D×D), λ = svd(A/tr A) — singular values of a "
              "PSD matrix are |eigenvalues|, so here λ = |eigvalsh(A/tr A)| — and H = −nansum(λ log λ)/log D, "
              "where nansum is the convention 0 log 0 = 0. No threshold is needed: λ log λ is continuous at 0. The "
              "official code runs under torch.no_grad: this is an evaluation metric, not differentiated (the "
              "accelerated version detaches).",
        differences=(
            Difference("zero rows", "rows of the centred samples are normalised",
                       "a zero row after centring (a duplicate of the mean) divides 0 by 0 in normalize: NaN; here "
                       "it stays 0 (F.normalize's rule), and samples that are all equal give H = 0", "code", None),
            Difference("centring", "the paper describes the entropy of the normalised representations",
                       "the code centres over the tokens before normalising", "code", "center"),
        ),
    ),
    inputs=(SAMPLES_CONST,),
    params=(CENTER,),
    outputs=(OutputSpec("entropy", "normalised entropy in [0, 1]"),),
    properties=(
        Property("bounds", "0 <= H <= 1", _me_bounds),
        Property("permutation_invariance", "permuting the samples leaves H unchanged",
                 _invariant("a permutation of the samples", _rows_permuted)),
        Property("rotation_invariance", "an orthogonal transform of the features leaves H unchanged",
                 _invariant("a signed permutation of the features", _rotated)),
        Property("translation_invariance", "with centring, adding a constant vector leaves H unchanged",
                 _invariant("a translation", _translated, factor=4)),
        Property("row_scale_invariance", "without centring, rescaling each sample leaves H unchanged", _me_row_scale),
        Property("rank_one_zero", "rank-one samples give H = 0", _me_rank_one),
        Property("isotropic_one", "isotropic samples give H = 1", _me_isotropic),
    ),
    branches=(
        Branch("rank deficient", "the centred samples have rank < min(N, D)", _rank_deficient),
        Branch("uncentred", "center=False", lambda i, p, o: not p.get("center", True)),
        Branch("zero row", "a zero row after centring (kept at 0)",
               lambda i, p, o: bool(np.any(np.all(centred(i["X"], bool(p.get("center", True))) == 0, axis=1)))),
    ),
    tolerance=default_tolerance(),
    degenerate=("D = 1 is a ShapeError (log D = 0)",
                "all samples equal after centring (or all zero): A = 0, H = 0 (the code: NaN)",
                "zero rows after centring stay 0 (the code: NaN)"),
))


# --------------------------------------------------------------------------- rankme


def _rankme_spectrum(x: Any, params: Mapping[str, Any]) -> Any:
    a = np.asarray(x, dtype=np.float64)
    k = min(int(params.get("max_eigenvals", 2048)), *a.shape)
    if params.get("spectrum", "covariance") == "covariance":
        s = np.linalg.svd(a - a.mean(axis=0), compute_uv=False) ** 2
    else:
        s = np.linalg.svd(a, compute_uv=False)
    return np.sort(s)[::-1][:k]


def _rankme_closed(lam: Any, eps: float) -> float:
    total = float(np.sum(lam))
    p = (lam / total if total > 0 else np.zeros_like(lam)) + eps
    return math.exp(float(np.sum(neumann_terms(p))))


def _rankme_bounds(ctx: PropertyContext) -> None:
    (r,) = ctx.call()
    x = ctx.inputs["X"]
    k = min(int(ctx.params.get("max_eigenvals", 2048)), *x.shape)
    eps = float(ctx.params.get("eps", 1e-7))
    hi = math.exp(math.log(k) + k * eps * (1.0 + abs(math.log(eps)) if eps > 0 else 0.0))
    assert 1.0 - ctx.slack() - 1e-6 <= float(r) <= hi + ctx.slack() + ctx.budget.rtol * hi, (
        f"RankMe {float(r)} outside [1, {k}]")


def _rankme_orthogonal(ctx: PropertyContext) -> None:
    """Orthogonal equal-norm directions: a flat spectrum, RankMe = exp(H(1/m + eps, ...)) by hand."""
    x = ctx.inputs["X"]
    n, d = x.shape
    cov = ctx.params.get("spectrum", "covariance") == "covariance"
    m = min(d, n // 2) if cov else min(n, d)
    if m < 1:
        ctx.skip("too few samples")
    z = _isotropic(1, m) if cov else np.eye(m)
    xx = np.zeros((n, d))
    xx[: z.shape[0], :m] = z
    k = min(int(ctx.params.get("max_eigenvals", 2048)), n, d)
    lam = np.zeros(k)
    lam[: min(m, k)] = 1.0
    expected = _rankme_closed(lam, float(ctx.params.get("eps", 1e-7)))
    if cov and z.shape[0] < n:
        ctx.skip("padding rows would move the mean")
    (r,) = ctx.call(X=xx)
    assert ctx.close(r, expected, factor=4), f"flat spectrum of {min(m, k)}: RankMe {float(r)} != {expected}"


def _rankme_scale(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    (b,) = ctx.call(X=ctx.inputs["X"] * 0.25)
    assert ctx.close(b, a, factor=2), f"not invariant to scaling: {float(a)} vs {float(b)}"


register(MethodSpec(
    id="rankme",
    family="information",
    kind="estimator",
    summary="RankMe effective rank exp(−Σ p log p), p = λ/‖λ‖₁ + eps over the top min(max_eigenvals, N, D) "
            "eigenvalues of the feature covariance (reptrix) or singular values of X (Garrido et al.).",
    papers=(REPTRIX_GEOMETRY_2025, RANKME_2023),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="reptrix 0.1.0 (PyPI wheel: reptrix/rankme.py get_rank, get_rankme; reptrix/utils.py "
                        "get_eigenspectrum) read in full and run side by side through a transcription "
                        "(tests/information/information_peers.py, checked against the installed package)",
        official_code="arnab39/reptrix:reptrix/rankme.py",
        notes="spectrum='covariance' (default, reptrix): features centred over the samples, λ = PCA "
              "explained_variance_ratio_ (squared singular values of the centred features over their sum), the first "
              "min(max_eigenvals, N, D) kept; p = λ/Σ|λ| + eps (eps = 1e-7, added after normalising, so Σ p > 1); "
              "RankMe = exp(−Σ p log p). spectrum='singular' (RankMe paper, Garrido et al.): singular values σ of the "
              "uncentred X in place of λ. reptrix detaches its input: a metric, not differentiated here either.",
        differences=(
            Difference("spectrum", "RankMe (Garrido et al. 2023): singular values of the uncentred embeddings",
                       "reptrix: eigenvalues of the covariance (σ² of the centred features)", "code", "spectrum"),
        ),
    ),
    inputs=(SAMPLES_CONST,),
    params=(
        ParamSpec("spectrum", "covariance", Choice(("covariance", "singular")),
                  "covariance: σ² of the centred features (reptrix); singular: σ of X (Garrido et al.)"),
        ParamSpec("eps", 1e-7, Interval(0.0, 1e-2), "added to every normalised eigenvalue (reptrix: 1e-7)"),
        ParamSpec("max_eigenvals", 2048, IntRange(1, None), "at most this many leading eigenvalues (reptrix: 2048)"),
    ),
    outputs=(OutputSpec("rankme", "the effective rank, in [1, min(max_eigenvals, N, D)] up to eps",
                        scale=Scale("min(max_eigenvals, N, D)", lambda i, p: float(
                            min(int(p.get("max_eigenvals", 2048)), *np.shape(i["X"]))))),),
    properties=(
        Property("bounds", "1 <= RankMe <= min(max_eigenvals, N, D) (up to the eps offset)", _rankme_bounds),
        Property("permutation_invariance", "permuting the samples leaves RankMe unchanged",
                 _invariant("a permutation of the samples", _rows_permuted)),
        Property("rotation_invariance", "an orthogonal transform of the features leaves RankMe unchanged",
                 _invariant("a signed permutation of the features", _rotated)),
        Property("scale_invariance", "RankMe(cX) = RankMe(X)", _rankme_scale),
        Property("flat_spectrum", "m orthogonal equal-norm directions: the closed form with eps", _rankme_orthogonal),
    ),
    branches=(
        Branch("singular spectrum", "spectrum='singular'", lambda i, p, o: p.get("spectrum") == "singular"),
        Branch("truncated", "max_eigenvals < min(N, D)",
               lambda i, p, o: int(p.get("max_eigenvals", 2048)) < _min_side(i)),
        Branch("rank deficient", "the centred samples have rank < min(N, D)", _rank_deficient),
        Branch("eps = 0", "no offset", lambda i, p, o: float(p.get("eps", 1e-7)) == 0.0),
    ),
    tolerance=default_tolerance(),
    degenerate=("an all-zero spectrum (identical samples, covariance) gives p = eps everywhere: "
                "RankMe = exp(−k·eps·log eps) (≈ 1), as reptrix up to its 0/0 (NaN there)",),
))


# --------------------------------------------------------------------------- eigenspectrum


def _k_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> int:
    return int(min(int(params.get("max_eigenvals", 2048)), *np.shape(inputs["X"])))


def _es_shape(ctx: PropertyContext) -> None:
    (r,) = ctx.call()
    k = _k_of(ctx.inputs, ctx.params)
    assert r.shape == (k,), f"shape {r.shape}, expected ({k},)"
    s = ctx.slack(2)
    assert np.all(r >= -s) and np.all(np.diff(r) <= s), f"not non-negative and non-increasing: {r}"
    total = float(np.sum(r))
    assert total <= 1.0 + k * s, f"ratios sum to {total} > 1"
    x = centred(ctx.inputs["X"], True)
    sv = np.linalg.svd(x, compute_uv=False)
    rank = int(np.sum(sv > 1e-9 * sv[0])) if sv.size and sv[0] > 0 else 0
    if 0 < rank <= k:
        assert abs(total - 1.0) <= k * s, f"all the variance is kept (rank {rank} <= {k}) but the sum is {total}"


def _es_isotropic(ctx: PropertyContext) -> None:
    d = ctx.inputs["X"].shape[1]
    (r,) = ctx.call(X=_isotropic(1 + ctx.inputs["X"].shape[0] // (2 * d), d), max_eigenvals=2048)
    assert ctx.close(r, np.full(d, 1.0 / d), factor=2), f"isotropic samples: {r} != 1/D"


def _es_invariant(name: str, transform: Any) -> Any:
    def check(ctx: PropertyContext) -> None:
        x2 = transform(ctx)
        if not fits(x2, ctx.dtype):
            ctx.skip("the transformed samples are not exact in this dtype")
        (a,) = ctx.call()
        (b,) = ctx.call(X=x2)
        assert ctx.close(b, a, factor=4), f"not invariant to {name}: {a} vs {b}"

    return check


register(MethodSpec(
    id="eigenspectrum",
    family="information",
    kind="helper",
    summary="PCA explained-variance ratios of the centred samples: the k = min(max_eigenvals, N, D) largest "
            "covariance eigenvalues over the total variance, descending (reptrix get_eigenspectrum).",
    papers=(REPTRIX_GEOMETRY_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="reptrix 0.1.0 reptrix/utils.py get_eigenspectrum (PCA(n_components=min(max_eigenvals, N, D), "
                        "svd_solver='full').explained_variance_ratio_), run side by side through the transcription in "
                        "tests/information/information_peers.py (checked against the installed package with sklearn)",
        official_code="arnab39/reptrix:reptrix/utils.py",
        notes="Features centred over the samples; λ = σ² of the centred features; ratios λ_i / Σ_all λ (the total "
              "variance of every component, before truncation, as sklearn), the first k in descending order. "
              "Identical samples (zero variance) give zeros (sklearn: 0/0 = NaN). A metric helper: not differentiated.",
    ),
    inputs=(SAMPLES_CONST,),
    params=(ParamSpec("max_eigenvals", 2048, IntRange(1, None), "at most this many leading ratios (reptrix: 2048)"),),
    outputs=(OutputSpec("ratios", "explained-variance ratios, descending, shape (min(max_eigenvals, N, D),)",
                        shape=("k",)),),
    properties=(
        Property("simplex_prefix", "ratios are non-negative, non-increasing, sum to <= 1 (= 1 when k >= rank)",
                 _es_shape),
        Property("permutation_invariance", "permuting the samples leaves the ratios unchanged",
                 _es_invariant("a permutation of the samples", _rows_permuted)),
        Property("rotation_invariance", "an orthogonal transform of the features leaves the ratios unchanged",
                 _es_invariant("a signed permutation of the features", _rotated)),
        Property("translation_invariance", "adding a constant vector leaves the ratios unchanged",
                 _es_invariant("a translation", _translated)),
        Property("scale_invariance", "scaling the samples leaves the ratios unchanged",
                 _es_invariant("scaling by 4", _scaled)),
        Property("isotropic_uniform", "isotropic samples: every ratio is 1/D", _es_isotropic),
    ),
    branches=(
        Branch("truncated", "max_eigenvals < min(N, D): the ratios sum to < 1",
               lambda i, p, o: int(p.get("max_eigenvals", 2048)) < _min_side(i)),
        Branch("rank deficient", "the centred samples have rank < min(N, D)", _rank_deficient),
        Branch("N < D", "fewer samples than features", lambda i, p, o: np.shape(i["X"])[0] < np.shape(i["X"])[1]),
    ),
    tolerance=default_tolerance(),
    degenerate=("identical samples: all ratios 0 (sklearn: NaN)",),
))


# --------------------------------------------------------------------------- alpha_req


def _fit_points(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, Any]:
    """(ranks, explained-variance ratios) of the fit, from the definition."""
    x = centred(inputs["X"], True)
    k = _k_of(inputs, params)
    lam = np.sort(np.linalg.svd(x, compute_uv=False) ** 2)[::-1]
    total = float(np.sum(lam))
    ratios = (lam / total)[:k] if total > 0 else np.zeros(k)
    start, stop = int(params.get("fit_start", 10)), min(int(params.get("fit_stop", 100)), k)
    return np.arange(start, stop) + 1.0, ratios[start:stop]


def _alpha_power_law(ctx: PropertyContext) -> None:
    """An exact power law λ_i ∝ i^(−α): columns ±c_i e_i with c_i = i^(−α/2) recover α."""
    d = ctx.inputs["X"].shape[1]
    start = int(ctx.params.get("fit_start", 10))
    if d < start + 2:
        ctx.skip("fewer features than fit_start + 2")
    # α = 0 (a flat spectrum) is the only power law exact in 16 bits; float32 rounds c_i by 6e-8 (α moves by less
    # than its budget)
    alpha = float(ctx.rng.choice([0.5, 1.0, 1.5])) if ctx.dtype in ("float64", "float32") else 0.0
    c = (np.arange(1, d + 1, dtype=np.float64)) ** (-alpha / 2)
    x = np.vstack([np.diag(c), -np.diag(c)])
    (a,) = ctx.call(X=x, max_eigenvals=2048)
    assert ctx.close(a, alpha, factor=8), f"exact power law of exponent {alpha}: alpha_req {float(a)}"


def _alpha_scale(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    (b,) = ctx.call(X=ctx.inputs["X"] * 4.0)
    assert ctx.close(b, a, factor=4), f"not invariant to scaling: {float(a)} vs {float(b)}"


def _alpha_scale_of(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    start = int(params.get("fit_start", 10))
    stop = min(int(params.get("fit_stop", 100)), _k_of(inputs, params))
    if stop - start < 2:
        return 1.0
    x = centred(inputs["X"], True)
    sv = np.sort(np.linalg.svd(x, compute_uv=False))[::-1]
    last = float(sv[stop - 1]) if sv.size >= stop else 0.0
    cond = float(sv[0]) / last if last > 0 else 1.0
    return max(1.0, cond / math.log(stop / (start + 1.0)))


#: α is a slope over log ranks: an SVD computes σ_i with a relative error of about ε·σ_1/σ_i, which moves α by
#: about that over the log-rank span of the fit.
ALPHA_SCALE = Scale("max(1, (σ_1 / σ_last) / log(r_last / r_first)): the conditioning of the last fitted singular "
                    "value over the log-rank span of the fit", _alpha_scale_of)


register(MethodSpec(
    id="alpha_req",
    family="information",
    kind="estimator",
    summary="α-ReQ: the power-law decay α of the covariance eigenspectrum, log λ_i = −α log i + c fitted by "
            "least squares with weights 1/i over the ranks fit_start+1..fit_stop (reptrix get_powerlaw).",
    papers=(REPTRIX_GEOMETRY_2025,),
    provenance=Provenance(
        confidence="verified-code",
        checked_against="reptrix 0.1.0 reptrix/alpha.py get_powerlaw and get_alpha (fit_range=None → arange(10, "
                        "100)), run side by side through the transcription in tests/information/information_peers.py "
                        "(checked against the installed package)",
        official_code="arnab39/reptrix:reptrix/alpha.py",
        notes="λ = eigenspectrum(X, max_eigenvals) (explained-variance ratios, descending); over the 0-based indices "
              "i = fit_start .. min(fit_stop, k) − 1, y = log λ_i, u = −log(i + 1), weights w = 1/(i + 1); the "
              "weighted least-squares slope α = (Σw·Σwuy − Σwu·Σwy)/(Σw·Σwu² − (Σwu)²) (reptrix: "
              "np.linalg.solve of the normal equations). Scale-invariant (only the intercept moves). A metric: "
              "not differentiated. The fitted spectrum and reptrix's R² values are not returned.",
        differences=(
            Difference("fit range", "α from the tail of the spectrum (ranks 11..100)",
                       "reptrix increments the caller's fit_range array in place (repeated calls with one array "
                       "shift the fit); here the range is never mutated", "paper", None),
            Difference("short spectra", "k >= fit_stop eigenvalues", "reptrix indexes past the end (IndexError) when "
                       "k < fit_stop; here the fit stops at k", "paper", "fit_stop"),
            Difference("weight precision", "weights 1/i", "reptrix computes the weights in float32 "
                       "(trange.astype(np.float32)); here in the computation dtype (relative change ~1e-8)",
                       "paper", None),
        ),
    ),
    inputs=(SAMPLES_CONST,),
    params=(
        ParamSpec("fit_start", 10, IntRange(0, None), "first 0-based eigenvalue index of the fit (reptrix: 10)"),
        ParamSpec("fit_stop", 100, IntRange(2, None), "one past the last index (reptrix: 100), clipped to k"),
        ParamSpec("max_eigenvals", 2048, IntRange(1, None), "at most this many leading eigenvalues (reptrix: 2048)"),
    ),
    outputs=(OutputSpec("alpha", "the power-law exponent α", scale=ALPHA_SCALE),),
    properties=(
        Property("power_law", "an exact power-law spectrum i^(−α) gives α", _alpha_power_law),
        Property("scale_invariance", "α(cX) = α(X)", _alpha_scale),
        Property("rotation_invariance", "an orthogonal transform of the features leaves α unchanged",
                 _invariant("a signed permutation of the features", _rotated, factor=4)),
        Property("permutation_invariance", "permuting the samples leaves α unchanged",
                 _invariant("a permutation of the samples", _rows_permuted, factor=4)),
    ),
    # float32: the SVD's error on the smaller fitted singular values, amplified by a short log-rank span, reaches
    # ~5x the floor (calibration row: worst ~0.5 of this budget); 16-bit inputs are computed in float32 too, but
    # their floors are wider
    tolerance={**default_tolerance(), "float32": Budget(atol=4e-5, rtol=4e-5)},
    branches=(
        Branch("fit_stop clipped", "fewer than fit_stop eigenvalues: the fit stops at k",
               lambda i, p, o: int(p.get("fit_stop", 100)) > _k_of(i, p)),
        Branch("more than two points", "the fit uses at least three eigenvalues",
               lambda i, p, o: _fit_points(i, p)[0].size >= 3),
    ),
    degenerate=("fewer than two eigenvalues in the fit range is a ShapeError naming X",
                "fit_stop <= fit_start + 1 is a ParameterError naming fit_stop",
                "an eigenvalue in the fit range at or below min(N, D)·ε of the largest (a zero of the spectrum) is a "
                "DomainError naming X (checked mode; its log is −inf)"),
))
