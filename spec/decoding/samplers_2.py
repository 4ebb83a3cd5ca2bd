"""Specs of the stateful peers' samplers (the ``samplers_2`` group of ``decoding``): llama.cpp's mirostat v2 and
mirostat (v1).

Semantics pinned to llama.cpp ``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd (see
:mod:`spec.decoding.samplers` for the shared conventions). State is an input and an output: each call takes the
target surprise ``mu`` per row and returns the sampled token and the updated ``mu`` (pure functions ``(logits,
uniforms, mu) -> (tokens, new_mu)``; start with ``mu = 2 tau`` as llama.cpp does). Randomness is an input: one
uniform per row replaces llama.cpp's ``mt19937`` draw, consumed by the inverse CDF. Property helpers are NumPy code
written from the definitions, never the reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.decoding._filters import LOGITS, NEG_INF, int_logits, log_softmax_row
from spec.decoding.samplers import LLAMA_CPP, LLAMA_CPP_CODE, UNIFORMS
from spec.model import (
    Branch,
    Choice,
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
)
from spec.properties import out, rows
from spec.registry import register

__all__ = ["dry_definition", "inverse_cdf", "mirostat_v1_log_k", "mirostat_v2_kept"]

MIROSTAT_2020 = Paper("Mirostat: A Neural Text Decoding Algorithm that Directly Controls Perplexity", 2020,
                      "2007.14966")
LN2 = math.log(2.0)

MU = InputSpec("mu", "values", ("...",), "the target-surprise state mu per row, in bits (start at 2 tau)",
               sensitive=True)


def _mu_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    mu = np.asarray(inputs["mu"], dtype=np.float64)
    big = float(np.max(np.abs(mu))) if mu.size else 0.0
    return max(1.0, big, abs(float(params.get("tau", 5.0))))


MU_SCALE = Scale("max(1, largest |mu|, |tau|)", _mu_scale)
TOKENS_OUT = OutputSpec("tokens", "sampled int64 index per row", discrete=True, shape=("...",))
MU_OUT = OutputSpec("mu", "updated state mu - eta (surprise - tau) per row, in mu's dtype", shape=("...",),
                    scale=MU_SCALE)


def inverse_cdf(logq: np.ndarray, u: float, order: np.ndarray) -> int:
    """First position of ``order`` whose cumulative probability exceeds ``u`` (u = 0: the first finite one), clamped
    to the last finite one: the inverse CDF of ``sample`` walked in ``order``."""
    fin = [int(j) for j in order if np.isfinite(logq[j])]
    acc = 0.0
    for j in fin:
        acc += math.exp(logq[j])
        if acc > u or u == 0:
            return j
    return fin[-1]


def mirostat_v2_kept(zr: np.ndarray, mu: float) -> np.ndarray:
    """Kept set of mirostat v2 from its definition: surprise -log2 p <= mu, else the first maximum alone."""
    logp = log_softmax_row(zr)
    keep = np.isfinite(zr) & (-logp / LN2 <= mu)
    if not keep.any():
        keep = np.arange(zr.size) == int(np.argmax(zr))
    return np.asarray(keep)


def _outputs(ctx: PropertyContext, **overrides: Any) -> tuple[np.ndarray, np.ndarray]:
    tok, mu = ctx.call(**overrides)
    return np.asarray(tok), np.asarray(mu, dtype=np.float64)


def _stable_desc(zr: np.ndarray) -> np.ndarray:
    return np.argsort(-zr, kind="stable")


# --------------------------------------------------------------------------- mirostat_v2


def _v2_rule(ctx: PropertyContext) -> None:
    """The token lies in the kept set and mu' = mu - eta (-log2 q(token) - tau), q renormalised over the kept set
    (rows whose surprises sit within rounding of mu are skipped)."""
    z = rows(ctx.inputs["logits"])
    mu = np.asarray(ctx.inputs["mu"], dtype=np.float64).reshape(-1)
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    tok, new_mu = _outputs(ctx)
    tok, new_mu = tok.reshape(-1), new_mu.reshape(-1)
    tau, eta = float(ctx.params.get("tau", 5.0)), float(ctx.params.get("eta", 0.1))
    ran = False
    for zr, m, t, nm in zip(z, mu, tok, new_mu, strict=True):
        surprise = -log_softmax_row(zr) / LN2
        if np.any(np.abs(surprise[np.isfinite(zr)] - m) < 1e-4 * (1.0 + abs(m))):
            continue
        ran = True
        keep = mirostat_v2_kept(zr, float(m))
        assert keep[int(t)], f"token {int(t)} outside the kept set {np.flatnonzero(keep)} (mu = {m})"
        logq = log_softmax_row(np.where(keep, zr, NEG_INF))
        want = m - eta * (-logq[int(t)] / LN2 - tau)
        assert ctx.close(nm, want, 8.0), f"mu' = {nm}, expected {want}"
    if not ran:
        ctx.skip("every row within rounding of mu")


def _v2_eta_zero(ctx: PropertyContext) -> None:
    mu = np.asarray(ctx.inputs["mu"], dtype=np.float64)
    _, new_mu = _outputs(ctx, eta=0.0)
    assert np.array_equal(new_mu, mu), "eta = 0 must leave mu unchanged"


def _v2_limits(ctx: PropertyContext) -> None:
    """mu = 1000: no truncation, the token is the full inverse CDF (order='vocab'); mu = -1: only the first maximum
    survives, surprise 0, mu' = mu + eta tau."""
    z = rows(ctx.inputs["logits"])
    if z.shape[0] == 0:
        ctx.skip("empty batch")
    u = np.asarray(ctx.inputs["uniforms"], dtype=np.float64).reshape(-1)
    eta, tau = float(ctx.params.get("eta", 0.1)), float(ctx.params.get("tau", 5.0))
    shape = np.shape(ctx.inputs["mu"])
    tok, _ = _outputs(ctx, mu=np.full(shape, 1000.0), order="vocab")
    for zr, ur, t in zip(z, u, tok.reshape(-1), strict=True):
        full = inverse_cdf(log_softmax_row(zr), float(ur), np.arange(zr.size))
        if abs(np.cumsum(np.exp(log_softmax_row(zr)))[full] - ur) > 1e-4 and (full == 0 or abs(
                np.cumsum(np.exp(log_softmax_row(zr)))[full - 1] - ur) > 1e-4):
            assert int(t) == full, f"mu = 1000 (no truncation): token {int(t)}, inverse CDF {full}"
    tok, new_mu = _outputs(ctx, mu=np.full(shape, -1.0))
    assert np.array_equal(tok.reshape(-1), np.argmax(z, axis=-1)), "mu < 0: only the first maximum survives"
    assert ctx.close(new_mu, np.full(shape, -1.0 + eta * tau), 4.0), "mu < 0: surprise 0, mu' = mu + eta tau"


def _v2_rows(inputs: Mapping[str, Any]) -> list[tuple[np.ndarray, float]]:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    mu = np.asarray(inputs["mu"], dtype=np.float64).reshape(-1)
    return list(zip(z, mu, strict=True))


def _v2_branch(kind: str) -> Any:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        for zr, m in _v2_rows(inputs):
            fin = np.isfinite(zr)
            surprise = -log_softmax_row(zr) / LN2
            n_keep = int(np.sum(fin & (surprise <= m)))
            if kind == "cut" and 1 < n_keep < fin.sum():
                return True
            if kind == "forced" and n_keep == 0:
                return True
            if kind == "all" and fin.sum() > 1 and n_keep == fin.sum():
                return True
            if kind == "neg_inf" and n_keep > 1 and not fin.all():
                return True
        return False

    return hit


def _order_param(doc: str) -> ParamSpec:
    return ParamSpec("order", "vocab", Choice(("vocab", "sorted")), doc)


register(MethodSpec(
    id="mirostat_v2",
    family="decoding",
    kind="decoding",
    summary="Mirostat v2 (llama.cpp): keep the tokens whose surprise -log2 p is <= mu, sample from them with a "
            "supplied uniform, and update mu <- mu - eta (surprise - tau).",
    papers=(MIROSTAT_2020,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{LLAMA_CPP} llama_sampler_mirostat_v2_apply: sorting softmax; truncate at the first "
                        "candidate with -log2f(p) > mu (size 0 -> 1); softmax again over the kept ones; sample with "
                        "std::discrete_distribution over the sorted kept candidates; observed surprise "
                        "-log2f(p[idx]) under the renormalised p; mu -= eta * (surprise - tau); reset and init set "
                        "mu = 2 tau",
        official_code=LLAMA_CPP_CODE,
        notes="State in and out: (logits, uniforms, mu) -> (tokens, new_mu), mu per row in bits; initialise mu = 2 "
              "tau (llama.cpp's init and reset; the llama-cpp-python #914 class of bug was losing it between "
              "calls). -inf entries have infinite surprise and are never kept. Surprise is compared in log space "
              "(log p >= -mu ln 2), so underflowed probabilities are judged by their log-probability. The paper's "
              "Algorithm 1 is mirostat v1 (top-k from a Zipf fit); v2 is the surprise-threshold form that llama.cpp "
              "implements; the paper is cited for the feedback update.",
        differences=(Difference("sampling order", "inverse CDF in vocabulary order (as `sample`, so the same uniform "
                                "gives the same token whatever the tie order)",
                                "llama.cpp: std::discrete_distribution over the candidates sorted by probability "
                                "(ties in unspecified order); order='sorted' walks the stable descending order",
                                "peer", "order"),),
    ),
    inputs=(LOGITS, UNIFORMS, MU),
    params=(
        ParamSpec("tau", 5.0, Interval(0.0, None), "target surprise tau in bits (llama.cpp CLI default 5.0)"),
        ParamSpec("eta", 0.1, Interval(0.0, None), "learning rate eta of the mu update (llama.cpp CLI default 0.1)"),
        _order_param("inverse-CDF walk: 'vocab' (vocabulary order, as sample) or 'sorted' (llama.cpp)"),
    ),
    outputs=(TOKENS_OUT, MU_OUT),
    properties=(
        Property("rule", "token in {-log2 p <= mu} (or the argmax) and mu' = mu - eta (-log2 q(x) - tau)", _v2_rule),
        Property("eta_zero", "eta = 0 leaves mu unchanged", _v2_eta_zero),
        Property("limits", "mu large: plain inverse CDF; mu < 0: the argmax with mu' = mu + eta tau", _v2_limits),
    ),
    branches=(
        Branch("cut mid-distribution", "mu keeps more than one but not every finite token", _v2_branch("cut")),
        Branch("nothing survives", "every surprise exceeds mu: the first maximum alone", _v2_branch("forced")),
        Branch("no truncation", "mu keeps every finite token of a row with several", _v2_branch("all")),
        Branch("-inf entries", "a row with -inf entries keeps several tokens", _v2_branch("neg_inf")),
    ),
    degenerate=(
        "mu below the smallest surprise: only the first maximum is kept (surprise 0, mu' = mu + eta tau)",
        "eta = 0: mu unchanged; a row with one finite logit: that token, surprise 0",
        "a row of only -inf, NaN logits, uniforms or mu -> DomainError; uniforms outside [0, 1) -> DomainError; "
        "uniforms or mu of shape != logits.shape[:-1] -> ShapeError; negative, NaN or inf tau / eta -> "
        "ParameterError",
    ),
))


# --------------------------------------------------------------------------- mirostat_v1


def mirostat_v1_log_k(zr: np.ndarray, mu: float, m: int, n_vocab: int | None) -> tuple[float, int]:
    """(log k, number of finite candidates) of mirostat v1 from its definition: the Zipf exponent fitted on the top
    ``m`` finite sorted logits (b_i = z_i - z_{i+1}), then log k = (log(eps / (1 - N^-eps)) + mu ln 2) / s."""
    f = np.sort(zr[np.isfinite(zr)])[::-1]
    n_f = int(f.size)
    if n_f < 2:
        return 0.0, n_f
    i = np.arange(min(m - 1, n_f - 1))
    t = np.log((i + 2.0) / (i + 1.0))
    b = f[i] - f[i + 1]
    s_hat = float(np.sum(t * b) / np.sum(t * t))
    eps = s_hat - 1.0
    ln_n = math.log(n_vocab if n_vocab is not None else zr.size)
    ratio = 1.0 / ln_n if eps == 0 else eps / -math.expm1(-eps * ln_n)
    num = math.log(ratio) + mu * LN2
    if s_hat == 0:
        return (math.inf if num > 0 else -math.inf), n_f
    return num / s_hat, n_f


def mirostat_v1_k(log_k: float, n_f: int) -> int:
    """k = trunc(exp(log k)) clipped to [1, n_f] (C++ int() then max(k, 1) and llama's min(k, size))."""
    if n_f < 2 or log_k < 0:
        return 1
    if log_k >= math.log(n_f + 1.0):
        return n_f
    return max(1, min(n_f, int(math.exp(log_k))))


def _v1_rows(ctx: PropertyContext) -> list[tuple[np.ndarray, float, float, int]]:
    z = rows(ctx.inputs["logits"])
    mu = np.asarray(ctx.inputs["mu"], dtype=np.float64).reshape(-1)
    out_rows = []
    for zr, mr in zip(z, mu, strict=True):
        log_k, n_f = mirostat_v1_log_k(zr, float(mr), int(ctx.params.get("m", 100)), ctx.params.get("n_vocab"))
        out_rows.append((zr, float(mr), log_k, n_f))
    return out_rows


def _near_integer(log_k: float, n_f: int) -> bool:
    if not math.isfinite(log_k) or log_k < -1e-3 or log_k > math.log(n_f + 1.0) + 1e-3:
        return False
    k = math.exp(log_k)
    return abs(k - round(k)) < 1e-4 * max(k, 1.0)


def _v1_rule(ctx: PropertyContext) -> None:
    """The token is among the top k (stable descending order) and mu' = mu - eta (-log2 q(token) - tau)."""
    if rows(ctx.inputs["logits"]).shape[0] == 0:
        ctx.skip("empty batch")
    tok, new_mu = _outputs(ctx)
    tau, eta = float(ctx.params.get("tau", 5.0)), float(ctx.params.get("eta", 0.1))
    ran = False
    for (zr, mr, log_k, n_f), t, nm in zip(_v1_rows(ctx), tok.reshape(-1), new_mu.reshape(-1), strict=True):
        if _near_integer(log_k, n_f):
            continue
        ran = True
        k = mirostat_v1_k(log_k, n_f)
        top = _stable_desc(zr)[:k]
        assert int(t) in set(top.tolist()), f"token {int(t)} not among the top {k} {top}"
        keep = np.isin(np.arange(zr.size), top)
        logq = log_softmax_row(np.where(keep, zr, NEG_INF))
        want = mr - eta * (-logq[int(t)] / LN2 - tau)
        assert ctx.close(nm, want, 8.0), f"mu' = {nm}, expected {want} (k = {k})"
    if not ran:
        ctx.skip("every row's k within rounding of an integer")


def _v1_zipf(ctx: PropertyContext) -> None:
    """Exact power-law logits z_i = -2 log(i + 1) (s_hat = 2, eps = 1) over V = 8 with n_vocab = 8: k = (2^mu /
    (1 - 1/8))^(1/2); mu = 3 gives k = sqrt(64 / 7) = 3.02 -> 3: q = 36/49, 9/49, 4/49 and u = 0.95 > 45/49 picks the
    third token (index 2)."""
    z = -2.0 * np.log(np.arange(1, 9, dtype=np.float64))[None]
    tok, new_mu = _outputs(ctx, logits=z, uniforms=np.array([0.95]), mu=np.array([3.0]), n_vocab=8, m=100,
                           eta=0.0, order="vocab")
    assert int(tok[0]) == 2 and float(new_mu[0]) == 3.0, f"Zipf row: token {tok}, mu {new_mu}"


def _v1_branch(kind: str) -> Any:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        z = rows(np.asarray(inputs["logits"], dtype=np.float64))
        mu = np.asarray(inputs["mu"], dtype=np.float64).reshape(-1)
        m = int(params.get("m", 100))
        for zr, mr in zip(z, mu, strict=True):
            log_k, n_f = mirostat_v1_log_k(zr, float(mr), m, params.get("n_vocab"))
            k = mirostat_v1_k(log_k, n_f)
            if kind == "mid" and 1 < k < n_f:
                return True
            if kind == "one" and k == 1 and n_f > 1:
                return True
            if kind == "all" and n_f > 1 and k == n_f:
                return True
            if kind == "window" and m - 1 < n_f - 1:
                return True
            if kind == "neg_inf" and n_f > 1 and not np.isfinite(zr).all():
                return True
        return False

    return hit


register(MethodSpec(
    id="mirostat_v1",
    family="decoding",
    kind="decoding",
    summary="Mirostat (v1, the paper's Algorithm 1 as in llama.cpp): fit a Zipf exponent on the top m tokens, keep "
            "the top k = ((eps 2^mu) / (1 - N^-eps))^(1/s) tokens, sample with a supplied uniform, update mu.",
    papers=(MIROSTAT_2020,),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{LLAMA_CPP} llama_sampler_mirostat_apply: sorting softmax; s_hat = sum t_i b_i / sum t_i^2 "
                        "with t_i = log((i + 2) / (i + 1)), b_i = log(p_i / p_{{i+1}}), i < min(m - 1, size - 1); "
                        "epsilon_hat = s_hat - 1; k = powf((epsilon_hat * powf(2, mu)) / (1 - powf(n_vocab, "
                        "-epsilon_hat)), 1 / s_hat); top_k_impl(max(int(k), 1)); softmax; discrete_distribution; mu "
                        "-= eta * (-log2f(p[idx]) - tau); mu = 2 tau at init/reset; m = 100 in common's chain",
        official_code=LLAMA_CPP_CODE,
        notes="State in and out as mirostat_v2. The formulas equal the paper's Algorithm 1. Computed stably: b_i = "
              "z_i - z_{i+1} (the exact log-ratio, no underflow of p), 1 - N^-eps as -expm1(-eps ln N) with the "
              "eps = 0 limit 1 / ln N, and k in log space; k = trunc(k) (C++ int(), errata) clipped to [1, number "
              "of finite candidates]. Where llama.cpp's k is not finite (s_hat = 0 on a tied top-m window, or 2^mu "
              "overflowing float32) its int() is undefined behaviour (INT_MIN on x86, so k = 1); here s_hat = 0 "
              "keeps every candidate when the numerator is positive and one otherwise, and large k keeps every "
              "candidate. The top-k is exact with ties to the lowest index.",
        differences=(
            Difference("sampling order", "inverse CDF in vocabulary order (as `sample`)",
                       "llama.cpp: std::discrete_distribution over the sorted top-k; order='sorted'", "peer", "order"),
            Difference("-inf candidates", "the Zipf window runs over the finite logits",
                       "llama.cpp fits over its candidate array: a -inf entry left by an earlier sampler inside the "
                       "top m gives b = inf (or NaN) and k = 1", "paper"),
        ),
    ),
    inputs=(LOGITS, UNIFORMS, MU),
    params=(
        ParamSpec("tau", 5.0, Interval(0.0, None), "target surprise tau in bits (llama.cpp CLI default 5.0)"),
        ParamSpec("eta", 0.1, Interval(0.0, None), "learning rate eta of the mu update (llama.cpp CLI default 0.1)"),
        ParamSpec("m", 100, IntRange(2, None), "tokens used to fit the Zipf exponent (llama.cpp and the paper: 100)"),
        ParamSpec("n_vocab", None, IntRange(2, None, allow_none=True),
                  "N in the k formula: the model's vocabulary size (None: the logits' last axis)"),
        _order_param("inverse-CDF walk: 'vocab' (vocabulary order, as sample) or 'sorted' (llama.cpp)"),
    ),
    outputs=(TOKENS_OUT, MU_OUT),
    properties=(
        Property("rule", "token among the top k of the Zipf fit and mu' = mu - eta (-log2 q(x) - tau)", _v1_rule),
        Property("eta_zero", "eta = 0 leaves mu unchanged", _v2_eta_zero),
        Property("zipf_row", "exact power-law logits: s_hat = 2 and k = sqrt(2^mu / (1 - 1/N)) truncated", _v1_zipf),
    ),
    branches=(
        Branch("k mid-distribution", "1 < k < number of finite candidates", _v1_branch("mid")),
        Branch("k = 1", "the fit keeps only the argmax of a row with several candidates", _v1_branch("one")),
        Branch("k keeps all", "k reaches the number of finite candidates", _v1_branch("all")),
        Branch("window shorter than the row", "m - 1 < candidates - 1: the fit ignores the tail", _v1_branch("window")),
        Branch("-inf entries", "a row with -inf entries and several finite candidates", _v1_branch("neg_inf")),
    ),
    degenerate=(
        "one finite candidate: k = 1, surprise 0; s_hat = 0 (a tied window): every candidate if log(ratio) + mu ln 2 "
        "> 0, else k = 1",
        "k within rounding of an integer is decided by rounding (mu is sensitive)",
        "a row of only -inf, NaN logits, uniforms or mu -> DomainError; uniforms outside [0, 1) -> DomainError; "
        "uniforms or mu of shape != logits.shape[:-1] -> ShapeError; bad tau / eta / m / n_vocab -> ParameterError",
    ),
))


# --------------------------------------------------------------------------- dry_penalty

DRY_FLOAT_MAX_LOG = 88.7228391


def dry_definition(history: Any, v: int, params: Mapping[str, Any], breakers: Any = None) -> np.ndarray:
    """Per-token DRY penalty of one history row from the definition (a direct O(T^2) search, not the Z-algorithm):
    the window is the last ``penalty_last_n`` tokens (-1: all); ``rep_limit`` is set by the most recent complete
    sequence breaker; for every position i < L - 1 the length of the longest common suffix of ``w[:i+1]`` and
    ``w``, capped at ``rep_limit``, counts for the token ``w[i+1]`` that follows it."""
    mult, base = float(params["multiplier"]), float(params.get("base", 1.75))
    allowed, last_n = int(params.get("allowed_length", 2)), int(params.get("penalty_last_n", -1))
    pen = np.zeros(v)
    h = [int(x) for x in np.asarray(history).reshape(-1)]
    if mult == 0 or last_n == 0:
        return pen
    w = h if last_n == -1 else h[-last_n:] if last_n < len(h) else h
    n = len(w)
    if n <= allowed:
        return pen
    seqs = [[int(x) for x in b if x >= 0] for b in (np.asarray(breakers) if breakers is not None else [])]
    seqs = [q for q in seqs if q]
    rep_limit = n
    for p in range(n - 1, -1, -1):
        found = [len(q) - 1 for q in seqs if p + len(q) <= n and w[p:p + len(q)] == q]
        if found:
            rep_limit = (n - 1 - p) - max(found)
            break
    if rep_limit < allowed:
        return pen
    best: dict[int, int] = {}
    for i in range(n - 1):
        length = 0
        while length <= i and w[i - length] == w[n - 1 - length]:
            length += 1
        c = min(length, rep_limit)
        if c >= allowed:
            best[w[i + 1]] = max(best.get(w[i + 1], 0), c)
    single = {q[0] for q in seqs if len(q) == 1}
    max_exp = int(DRY_FLOAT_MAX_LOG / math.log(base)) if base > 1.000001 else 0
    for tok, c in best.items():
        if tok in single:
            continue
        e = c - allowed
        if max_exp > 0 and e > max_exp:
            e = max_exp
        pen[tok] = mult * base**e
    return pen


def _dry_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    z = np.asarray(inputs["logits"], dtype=np.float64)
    fin = np.abs(z[np.isfinite(z)])
    t = int(np.shape(inputs["history"])[-1]) if np.ndim(inputs["history"]) else 0
    base = float(params.get("base", 1.75))
    top = float(params["multiplier"]) * base ** min(max(t - int(params.get("allowed_length", 2)), 0), 60)
    return max(1.0, float(fin.max()) if fin.size else 0.0, top)


def _dry_rows(ctx: PropertyContext) -> list[tuple[np.ndarray, np.ndarray]]:
    z = rows(ctx.inputs["logits"])
    h = np.asarray(ctx.inputs["history"])
    h = h.reshape(-1, h.shape[-1]) if h.size else np.zeros((z.shape[0], 0), dtype=np.int64)
    return list(zip(z, h, strict=True))


def _dry_rule(ctx: PropertyContext) -> None:
    """Output = logits - the definition's penalty (a direct search, not the Z-algorithm)."""
    y = rows(out(ctx))
    if y.shape[0] == 0:
        ctx.skip("empty batch")
    for (zr, hr), yr in zip(_dry_rows(ctx), y, strict=True):
        pen = dry_definition(hr, zr.size, ctx.params, ctx.inputs.get("breakers"))
        want = zr - pen
        assert np.array_equal(np.isneginf(yr), np.isneginf(want)), "-inf entries must stay -inf, and only those"
        fin = np.isfinite(want)
        assert ctx.close(yr[fin], want[fin], 4.0), f"penalised logits {yr} != {want}"


def _dry_identity(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    assert np.array_equal(out(ctx, multiplier=0.0), z), "multiplier = 0 must be the identity"
    assert np.array_equal(out(ctx, penalty_last_n=0), z), "penalty_last_n = 0 must be the identity"


def _dry_fixed(ctx: PropertyContext) -> None:
    """History a b c a b (tokens 0 1 2 0 1), V = 4, allowed 2, base 2, multiplier 1: the suffix 'a b' recurs at
    positions 0..1 followed by c, so c (2) gets 1 * 2^(2 - 2) = 1; with c as a single-token breaker nothing is
    penalised (the breaker 2 tokens back caps the repeat at 2, and c itself is exempt as a single-token breaker)."""
    if "breakers" not in ctx.inputs:
        ctx.skip("a case without the optional breakers input (curated)")
    z = np.zeros((1, 4))
    hist = np.array([[0, 1, 2, 0, 1]])
    y = out(ctx, logits=z, history=hist, multiplier=1.0, base=2.0, allowed_length=2, penalty_last_n=-1,
            breakers=None)
    assert np.array_equal(y, [[0.0, 0.0, -1.0, 0.0]]), f"'a b c a b': only c penalised by 1: {y}"
    y = out(ctx, logits=z, history=hist, multiplier=1.0, base=2.0, allowed_length=2, penalty_last_n=-1,
            breakers=np.array([[2]]))
    assert np.array_equal(y, z), f"a breaker c: no penalty: {y}"


def _dry_shift(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    a, b = out(ctx, logits=z), out(ctx, logits=z + 4.0)
    fin = np.isfinite(a)
    assert np.array_equal(fin, np.isfinite(b)) and ctx.close(b[fin], a[fin] + 4.0, 2.0), "penalty depends on z"


def _dry_branch(kind: str) -> Any:
    def hit(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
        z = rows(np.asarray(inputs["logits"], dtype=np.float64))
        h = np.asarray(inputs["history"])
        if h.size == 0 or z.shape[0] == 0:
            return False
        br = inputs.get("breakers")
        for zr, hr in zip(z, h.reshape(-1, h.shape[-1]), strict=True):
            pen = dry_definition(hr, zr.size, params, br)
            if kind == "penalised" and np.count_nonzero(pen) >= 1 and np.any(pen[np.isfinite(zr)] > 0):
                return True
            if kind == "growth" and float(params.get("base", 1.75)) > 1 and np.any(
                    pen > float(params["multiplier"]) * (1 + 1e-9)):
                return True
            if kind == "breaker":
                no_br = dry_definition(hr, zr.size, params, None)
                if br is not None and not np.array_equal(no_br, pen):
                    return True
            if kind == "window":
                full = dry_definition(hr, zr.size, {**params, "penalty_last_n": -1}, br)
                if not np.array_equal(full, pen):
                    return True
        return False

    return hit


DRY_HISTORY = InputSpec("history", "class_index", ("...", "T"), "token history per row (oldest first), ids in "
                        "[0, V)", dtype="int")
DRY_BREAKERS = InputSpec("breakers", "class_index", ("NB", "L"), "sequence breakers: one token-id sequence per row, "
                         "right-padded with -1 (None: no breakers)", dtype="int", optional=True, positional=False)

register(MethodSpec(
    id="dry_penalty",
    family="decoding",
    kind="decoding",
    summary="DRY (don't repeat yourself): subtract multiplier * base^(n - allowed_length) from each token that would "
            "extend a repeated suffix of length n >= allowed_length of the history.",
    papers=(),
    provenance=Provenance(
        confidence="peer",
        checked_against=f"{LLAMA_CPP} llama_sampler_dry_apply, llama_sampler_init_dry and "
                        "llama_sampler_init_dry_testing (token-id breakers): off if multiplier == 0, base < 1 or "
                        "penalty_last_n == 0; window = the last penalty_last_n accepted tokens (-1: the context "
                        "size); no-op if the window is <= allowed_length; step 1: the most recent position starting "
                        "a complete breaker sets rep_limit = distance - (breaker length - 1), no-op if rep_limit < "
                        "allowed_length; step 2: reverse Z-algorithm repeat counts capped at rep_limit; step 3: the "
                        "token after each count >= allowed_length keeps its largest count; step 4: exponent = count "
                        "- allowed_length clamped at int(88.7228391 / ln base) when base > 1.000001; single-token "
                        "breakers are never penalised; logit -= multiplier * base^exponent",
        official_code=LLAMA_CPP_CODE,
        notes="Ported in llama.cpp from koboldcpp (PR 982, pi6am); text-generation-webui holds the reference "
              "semantics (not re-read here). The token history is an input (llama.cpp keeps it in a ring buffer "
              "fed by accept()); the window is the last penalty_last_n tokens of it, -1 meaning all of it (as at "
              "e19fb5f, where -1 is the context size; newer builds clamp -1 to 0 = off, errata). Breakers are "
              "token-id sequences (llama.cpp's C API takes strings and tokenises every overlapping form; "
              "llama_sampler_init_dry_testing takes token sequences as here). The repeat counts are computed by a "
              "direct comparison (identical to the capped Z-algorithm, tested against a transcription of it). "
              "Memory: O(T^2 + T V) per row in the accelerated version.",
    ),
    inputs=(LOGITS, DRY_HISTORY, DRY_BREAKERS),
    params=(
        ParamSpec("multiplier", None, Interval(0.0, None), "penalty multiplier (0: off; llama.cpp CLI default 0)",
                  positional=True, required=True),
        ParamSpec("base", 1.75, Interval(1.0, None), "exponential base (llama.cpp default 1.75)"),
        ParamSpec("allowed_length", 2, IntRange(0, None), "repeats up to this length are free (default 2)"),
        ParamSpec("penalty_last_n", -1, IntRange(-1, None), "window of history searched (-1: all, 0: off)"),
    ),
    outputs=(OutputSpec("logits", "logits minus the DRY penalty (-inf stays -inf)", shape=("...", "V"),
                        scale=Scale("max(1, largest finite |z|, multiplier base^(T - allowed_length))",
                                    _dry_scale)),),
    properties=(
        Property("definition", "logits minus the penalty of a direct repeat search", _dry_rule),
        Property("off_switches", "multiplier = 0 and penalty_last_n = 0 are the identity", _dry_identity),
        Property("fixed_history", "'a b c a b' penalises c by multiplier base^0; a breaker c removes it", _dry_fixed),
        Property("shift_equivariance", "the penalty does not depend on the logits", _dry_shift),
    ),
    branches=(
        Branch("penalised", "a finite logit is penalised", _dry_branch("penalised")),
        Branch("exponential growth", "a repeat longer than allowed_length: penalty multiplier base^k, k >= 1",
               _dry_branch("growth")),
        Branch("breaker binds", "the sequence breakers change a row's penalties", _dry_branch("breaker")),
        Branch("window binds", "penalty_last_n changes a row's penalties", _dry_branch("window")),
    ),
    degenerate=(
        "multiplier = 0, penalty_last_n = 0 or a window of <= allowed_length tokens: identity",
        "the most recent breaker leaves rep_limit < allowed_length: identity; single-token breakers are never "
        "penalised themselves",
        "a row of only -inf, NaN logits -> DomainError; history ids outside [0, V) or breaker ids outside [-1, V) "
        "-> DomainError; history of a batch shape != logits.shape[:-1] -> ShapeError",
    ),
))
