"""Case strategies and curated hard cases of the ``information`` family, group ``spectral``.

Values and properties draw from the ``samples`` and ``kernel`` kinds (duplicated rows, exact rank
deficiency, near-isotropic and identical rows, block kernels: degenerate spectra with exact zeros and
repeated eigenvalues). The eigenvalue threshold ``eig_rtol`` is drawn as ``None`` (the default), as a
value strictly between two kept eigenvalues far from both (so that it binds identically in every dtype),
or as ``0`` where that is well defined (every eigenvalue far from 0, or float64 with q >= 1). Spectra with an
eigenvalue in the band where the computation dtype cannot tell an exact zero from a small eigenvalue are
rejected (:func:`decidable`; the spec leaves that band unspecified, see ``spec.information._common``).

Gradient cases (``small=True``) draw Gaussian samples whose kept spectrum is *well separated*: every kept
eigenvalue at least 2 % of the largest and adjacent ones at least 5 % apart (``eigh``'s backward divides by
eigenvalue gaps and ``λ log λ`` has an infinite slope at 0); cases that miss are rejected, not repaired.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.cases import Curated
from conformance.strategies import Case, kernel, param_value, probs, representable, samples
from spec.information._common import vendi_matrix
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED"]

CASES: dict[str, Callable[..., Any]] = {}

CURATED: dict[str, tuple[Curated, ...]] = {}


def _a(x: Any) -> Any:
    return np.array(x, dtype=np.float64)


def _min_side_spectrum(m: Any) -> Any:
    lam = np.linalg.eigvalsh(m)
    return np.sort(lam)[::-1]


def _well_separated(lam: Any, min_rel: float = 0.02, gap: float = 0.05) -> bool:
    """Every kept eigenvalue >= min_rel·λ_max and relative gaps >= gap (the others are exact zeros: < 1e-10)."""
    top = float(lam[0]) if lam.size else 0.0
    if top <= 0:
        return False
    big = lam[lam > 1e-10 * top]
    if np.any((lam > 1e-10 * top) & (lam < min_rel * top)):
        return False
    return bool(np.all(np.diff(big[::-1]) >= gap * top)) if big.size > 1 else True


def decidable(lam: Any, dtype: str) -> bool:
    """No eigenvalue in the band where the computation dtype cannot tell an exact zero from a small eigenvalue:
    ``(1e-12, 1e-9)·λ_max`` in float64, ``(1e-12, 1e-3)·λ_max`` otherwise (float32 computation, inputs rounded
    to 16 bits). Exact zeros (duplicated rows, exact rank deficiency) sit below the band and are drawn."""
    top = float(np.max(np.abs(lam))) if np.size(lam) else 0.0
    if top == 0.0:
        return True
    high = 1e-9 if dtype == "float64" else 1e-3
    a = np.abs(np.asarray(lam)) / top
    return not bool(np.any((a > 1e-12) & (a < high)))


def _binding_rtol(lam: Any) -> float | None:
    """A threshold strictly between two kept eigenvalues, far (×1.5) from both and from rounding (1e-3)."""
    top = float(np.max(lam)) if lam.size else 0.0
    if top <= 0:
        return None
    rel = np.unique(lam[lam > 1e-3 * top] / top)
    pairs = [(a, b) for a, b in itertools.pairwise(rel) if b >= 2.25 * a]
    if not pairs:
        return None
    a, b = pairs[0]
    return float(math.sqrt(a * b))


# --------------------------------------------------------------------------- vendi_score


@st.composite
def _vendi_gradient_case(draw: st.DrawFn, spec: MethodSpec, dtype: str) -> Case:
    n = draw(st.integers(2, 5))
    d = draw(st.integers(1, 4))
    kern = draw(st.sampled_from(["cosine", "linear", "precomputed"]), label="kernel")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kern == "precomputed":
        z = rng.standard_normal((n, d + 2))
        x = z @ z.T / (d + 2)
    else:
        x = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, size=(n, 1))
    x = representable(x, dtype)
    p = None
    if draw(st.booleans(), label="weighted"):
        w = rng.uniform(0.2, 1.0, size=n)
        p = representable(w / w.sum(), dtype)
        p = p / p.sum()
    q = draw(st.sampled_from([0.5, 1.0, 2.0, 3.5, math.inf]), label="q")
    m = vendi_matrix(x, p, kern)
    assume(_well_separated(_min_side_spectrum(m)))
    return Case({"X": x, "p": p}, {"q": q, "kernel": kern, "eig_rtol": None}, {"N": n, "D": d})


def _vendi_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    if small:
        return _vendi_gradient_case(spec, dtype)

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 12), label="N")
        kern = draw(st.sampled_from(["cosine", "cosine", "linear", "precomputed"]), label="kernel")
        d = n if kern == "precomputed" else draw(st.integers(1, 8), label="D")
        x = draw(kernel((n, n), dtype) if kern == "precomputed" else samples((n, d), dtype), label="X")
        p = draw(probs((n,), dtype), label="p") if draw(st.integers(0, 2)) == 0 else None
        q = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, math.inf]), param_value(spec.param("q"))), label="q")
        q_value = float(q)  # type: ignore[arg-type]
        lam = np.linalg.eigvalsh(vendi_matrix(x, p, kern))
        assume(decidable(lam, dtype))
        choice = draw(st.sampled_from(["default", "default", "bind", "bind", "zero"]), label="eig_rtol kind")
        rtol: float | None = None
        top = float(np.max(lam))
        if choice == "bind":
            rtol = _binding_rtol(lam)
        elif choice == "zero":
            spread = bool(np.all((lam <= 1e-12 * top) | (lam >= 1e-3 * top))) if top > 0 else True
            no_zeros = top > 0 and bool(np.all(np.abs(lam) >= 1e-3 * top))
            if no_zeros or (dtype == "float64" and spread and q_value >= 1.0):
                rtol = 0.0
        return Case({"X": x, "p": p}, {"q": q, "kernel": kern, "eig_rtol": rtol}, {"N": n, "D": d})

    return build()


CASES["vendi_score"] = _vendi_case

_BLOCK = _a([[1, 1, 0], [1, 1, 0], [0, 0, 1]])  # eigenvalues of K/3: 2/3, 1/3, 0
CURATED["vendi_score"] = (
    Curated("identity kernel", "K = I (4 distinct samples): λ = 1/4 four times, VS = 4 for every q",
            {"X": np.eye(4), "p": None}, {"kernel": "precomputed", "q": 2.0}, {"vendi": _a(4.0)}),
    Curated("all-ones kernel", "K = 11ᵀ (one sample three times): λ = (1, 0, 0), VS = 1",
            {"X": np.ones((3, 3)), "p": None}, {"kernel": "precomputed", "q": 1.0}, {"vendi": _a(1.0)}),
    Curated("duplicated rows, Shannon", "rows (e1, e1, e2) under the cosine kernel: λ = (2/3, 1/3), "
            "VS_1 = exp(log 3 − (2/3) log 2) = 3/2^(2/3); the zero eigenvalue is dropped",
            {"X": _a([[1, 0], [1, 0], [0, 1]]), "p": None}, {"kernel": "cosine", "q": 1.0},
            {"vendi": _a(3.0 / 2.0 ** (2.0 / 3.0))}),
    Curated("duplicated rows, q = 1/2", "same spectrum: VS_{1/2} = (√(2/3) + √(1/3))² = (3 + 2√2)/3; the exactly "
            "zero eigenvalue must not be counted (vendi-score's p > 0 counts its round-off)",
            {"X": _BLOCK, "p": None}, {"kernel": "precomputed", "q": 0.5}, {"vendi": _a((3 + 2 * math.sqrt(2)) / 3)}),
    Curated("zero row, q = inf", "rows (0, e1, e2, e2) under the cosine kernel: the zero row stays 0, the kept "
            "spectrum (1/4, 2/4) renormalises to (1/3, 2/3), VS_∞ = 1/max = 3/2 (vendi-score, unrenormalised: 2)",
            {"X": _a([[0, 0], [1, 0], [0, 2], [0, 3]]), "p": None}, {"kernel": "cosine", "q": math.inf},
            {"vendi": _a(1.5)}),
    Curated("weights", "orthogonal rows with p = (3/4, 1/4): K̃ = diag(p), VS_1 = exp(H(3/4, 1/4)) = 4/3^(3/4)",
            {"X": _a([[2, 0], [0, 3]]), "p": _a([0.75, 0.25])}, {"kernel": "cosine", "q": 1.0},
            {"vendi": _a(4.0 / 3.0**0.75)}),
)


# --------------------------------------------------------------------------- covariance-spectrum estimators


@st.composite
def _separated_samples(draw: st.DrawFn, dtype: str, center: bool) -> Any:
    """Gaussian samples (N > D) whose covariance spectrum is well separated (gradient checks)."""
    d = draw(st.integers(1, 3))
    n = draw(st.integers(d + 2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = representable(rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, size=(1, d)), dtype)
    z = x - x.mean(axis=0) if center else x
    assume(_well_separated(np.sort(np.linalg.eigvalsh(z.T @ z))[::-1], min_rel=0.05, gap=0.05))
    return x


def _lvn_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        center = draw(st.booleans(), label="center")
        eps = draw(st.sampled_from([1e-8, 1e-8, 0.0, 1e-4]), label="eps")
        if small:
            x = draw(_separated_samples(dtype, center), label="X")
        else:
            d = draw(st.integers(1, 6), label="D")
            n = draw(st.one_of(st.integers(1, 12), st.integers(1, d)), label="N")
            x = draw(samples((n, d), dtype), label="X")
        return Case({"X": x}, {"center": center, "eps": eps}, {"N": x.shape[0], "D": x.shape[1]})

    return build()


def _me_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 12), label="N")
        d = draw(st.sampled_from([1, 2, 2, 3, 4, 5, 8]), label="D")
        x = draw(samples((n, d), dtype), label="X")
        return Case({"X": x}, {"center": draw(st.booleans(), label="center")}, {"N": n, "D": d})

    return build()


def _rankme_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 12), label="N")
        d = draw(st.integers(1, 8), label="D")
        x = draw(samples((n, d), dtype), label="X")
        params = {
            "spectrum": draw(st.sampled_from(["covariance", "singular"]), label="spectrum"),
            "eps": draw(st.sampled_from([1e-7, 1e-7, 0.0, 1e-3]), label="eps"),
            "max_eigenvals": draw(st.sampled_from([2048, 2048, 1, 2, 3, 5]), label="max_eigenvals"),
        }
        return Case({"X": x}, params, {"N": n, "D": d})

    return build()


CASES["latent_von_neumann_entropy"] = _lvn_case
CASES["matrix_entropy"] = _me_case
CASES["rankme"] = _rankme_case

_E3 = 1e-8  # the default eps of latent_von_neumann_entropy


def _lvn_closed(lam: list[float], eps: float = _E3) -> Any:
    """−Σ λ log λ of the clamped, trace-normalised eigenvalues of Σ + eps·I (written out by hand)."""
    mu = np.array(lam, dtype=np.float64) + eps
    r = np.maximum(mu / max(float(mu.sum()), eps), eps)
    return _a(-float(np.sum(r * np.log(r))))


CURATED["latent_von_neumann_entropy"] = (
    Curated("isotropic latents", "rows ±e1, ±e2 (centred, Σ = I/3·2 = (2/3)I): ρ = I/2, S = log 2 exactly (eps·I "
            "adds the same to both eigenvalues)", {"X": _a([[1, 0], [-1, 0], [0, 1], [0, -1]])}, {},
            {"entropy": _a(math.log(2))}),
    Curated("rank-one latents", "rows c·e1 with c = (1, −1, 2, −2): Σ = diag(10/3, 0) + eps·I, ρ = diag(10/3 + eps, "
            "eps)/(10/3 + 2 eps): S = the two-term closed form (≈ 2e-7, not 0)",
            {"X": _a([[1, 0], [-1, 0], [2, 0], [-2, 0]])}, {}, {"entropy": _lvn_closed([10 / 3, 0.0])}),
    Curated("eps = 0, uncentred", "rows e1, e1, e2 without centring: Σ = diag(2, 1)/2, ρ = diag(2/3, 1/3), "
            "S = log 3 − (2/3) log 2", {"X": _a([[1, 0], [1, 0], [0, 1]])}, {"center": False, "eps": 0.0},
            {"entropy": _a(math.log(3) - 2 / 3 * math.log(2))}),
    Curated("identical samples", "all rows equal: Σ = eps·I, ρ = I/D: S = log D (the code's value for a collapsed "
            "batch)", {"X": _a([[3, -1, 2]] * 4)}, {}, {"entropy": _a(math.log(3))}),
)

CURATED["matrix_entropy"] = (
    Curated("isotropic", "rows ±e1, ±e2, ±e3 (mean 0, unit norms): A = I/3, H = log 3 / log 3 = 1",
            {"X": _a([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])}, {},
            {"entropy": _a(1.0)}),
    Curated("rank one", "rows c·v: after centring and normalising ±v, A = vvᵀ, H = 0",
            {"X": _a([[1, 2], [-1, -2], [3, 6]])}, {}, {"entropy": _a(0.0)}),
    Curated("two directions 2:1, uncentred", "rows e1, e1, e2: A = diag(2, 1)/3, H = (log 3 − (2/3) log 2)/log 2",
            {"X": _a([[1, 0], [5, 0], [0, 2]])}, {"center": False},
            {"entropy": _a((math.log(3) - 2 / 3 * math.log(2)) / math.log(2))}),
    Curated("zero row after centring", "rows (1, 0), (−1, 0), (0, 0), (0, 3), (0, −3): the mean is 0, the zero row "
            "stays 0 (the code: NaN); A = diag(2, 2)/5, H = 1", {"X": _a([[1, 0], [-1, 0], [0, 0], [0, 3], [0, -3]])},
            {}, {"entropy": _a(1.0)}),
)


def _rankme_closed(lam: list[float], eps: float = 1e-7) -> Any:
    v = np.array(lam, dtype=np.float64)
    p = v / v.sum() + eps
    return _a(math.exp(-float(np.sum(p * np.log(p)))))


CURATED["rankme"] = (
    Curated("flat covariance spectrum", "rows ±e1, ±e2 (mean 0): σ² = (2, 2), p = (1/2 + eps, 1/2 + eps): "
            "exp(−Σ p log p) ≈ 2", {"X": _a([[1, 0], [-1, 0], [0, 1], [0, -1]])}, {},
            {"rankme": _rankme_closed([2, 2])}),
    Curated("singular spectrum of the uncentred X", "rows 3e1, 4e2: σ = (4, 3), p = (4/7, 3/7) + eps",
            {"X": _a([[3, 0], [0, 4]])}, {"spectrum": "singular"}, {"rankme": _rankme_closed([4, 3])}),
    Curated("centring removes a direction", "rows e1, e2 centred: ±(e1 − e2)/2, σ² = (1/2, 0): p = (1 + eps, eps)",
            {"X": _a([[1, 0], [0, 1]])}, {}, {"rankme": _rankme_closed([0.5, 0.0])}),
    Curated("truncation", "diag(3, 2, 1) singular values, max_eigenvals = 2: p over (3, 2) only",
            {"X": _a([[3, 0, 0], [0, 2, 0], [0, 0, 1]])}, {"spectrum": "singular", "max_eigenvals": 2},
            {"rankme": _rankme_closed([3, 2])}),
)


def _es_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        n = draw(st.integers(1, 12), label="N")
        d = draw(st.integers(1, 8), label="D")
        x = draw(samples((n, d), dtype), label="X")
        k = draw(st.sampled_from([2048, 2048, 1, 2, 3, 5]), label="max_eigenvals")
        return Case({"X": x}, {"max_eigenvals": k}, {"N": n, "D": d})

    return build()


CASES["eigenspectrum"] = _es_case
CURATED["eigenspectrum"] = (
    Curated("isotropic", "rows ±e1, ±e2, ±e3: σ² equal, ratios (1/3, 1/3, 1/3)",
            {"X": _a([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])}, {},
            {"ratios": _a([1 / 3, 1 / 3, 1 / 3])}),
    Curated("truncated: the total is over every component", "rows ±3e1, ±2e2, ±e3: σ² ∝ (9, 4, 1), "
            "max_eigenvals = 2: (9/14, 4/14), summing to 13/14",
            {"X": _a([[3, 0, 0], [-3, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1], [0, 0, -1]])}, {"max_eigenvals": 2},
            {"ratios": _a([9 / 14, 4 / 14])}),
    Curated("identical samples", "zero variance: ratios 0 (sklearn: NaN)", {"X": _a([[1, 2], [1, 2], [1, 2]])}, {},
            {"ratios": _a([0.0, 0.0])}),
)


def _alpha_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    """Spectra with a fit range of nonzero eigenvalues; below float64 only those whose fitted eigenvalues are at
    least 1 % of the largest (their logs are then accurate to float32 rounding)."""

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        d = draw(st.integers(2, 8), label="D")
        n = draw(st.integers(d + 1, 14), label="N")
        x = draw(samples((n, d), dtype, style=draw(st.sampled_from(["generic", "isotropic", "duplicated"]))),
                 label="X")
        start = draw(st.integers(0, max(0, d - 2)), label="fit_start")
        stop = draw(st.one_of(st.integers(start + 2, d + 1), st.just(100)), label="fit_stop")
        params = {"fit_start": start, "fit_stop": stop,
                  "max_eigenvals": draw(st.sampled_from([2048, 2048, d - 1 if d - 1 >= start + 2 else d]),
                                        label="max_eigenvals")}
        k = min(params["max_eigenvals"], n, d)
        s = np.sort(np.linalg.svd(x - x.mean(axis=0), compute_uv=False) ** 2)[::-1]
        seg = s[start:min(stop, k)]
        floor = 1e-9 if dtype == "float64" else 1e-2
        assume(s[0] > 0 and bool(np.all(seg >= floor * s[0])))
        return Case({"X": x}, params, {"N": n, "D": d})

    return build()


CASES["alpha_req"] = _alpha_case
_C = np.arange(1, 5, dtype=np.float64) ** -0.5  # λ_i ∝ c_i² = 1/i: α = 1
CURATED["alpha_req"] = (
    Curated("exact power law, alpha = 1", "rows ±c_i e_i with c_i² = 1/i: λ_i ∝ 1/i, the fit over ranks 1..4 "
            "recovers α = 1 exactly", {"X": np.vstack([np.diag(_C), -np.diag(_C)])}, {"fit_start": 0},
            {"alpha": _a(1.0)}),
    Curated("exact power law, alpha = 2, tail only", "c_i = 1/i: λ_i ∝ i^-2; fit ranks 2..4 (fit_start 1): α = 2",
            {"X": np.vstack([np.diag(1 / np.arange(1.0, 5.0)), -np.diag(1 / np.arange(1.0, 5.0))])},
            {"fit_start": 1}, {"alpha": _a(2.0)}),
    Curated("flat spectrum", "isotropic samples: equal eigenvalues, α = 0",
            {"X": _a([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])}, {"fit_start": 0},
            {"alpha": _a(0.0)}),
)
