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

from spec.decoding._filters import LOGITS, NEG_INF, log_softmax_row
from spec.decoding.samplers import LLAMA_CPP, LLAMA_CPP_CODE, UNIFORMS
from spec.model import (
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
)
from spec.properties import rows
from spec.registry import register

__all__ = ["inverse_cdf", "mirostat_v2_kept"]

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
