"""Reference (NumPy float64) stateful peers' samplers: llama.cpp's mirostat v2 and mirostat (v1).

Semantics pinned to llama.cpp ``src/llama-sampling.cpp`` at commit e19fb5f1a30ce42690ad7093ddbd382ac287c9fd. State is
an input and an output (``mu`` per row, in bits; start at ``2 tau``); randomness is an input (one uniform per row,
consumed by an inverse CDF in vocabulary order, or in the stable descending order with ``order="sorted"`` as
llama.cpp's ``std::discrete_distribution`` over its sorted candidates). Ties go to the lowest index.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64, as_f64
from reference.decoding._common import _log_softmax, _logits, _order
from reference.decoding.samplers import _uniforms
from spec.errors import DomainError, ShapeError
from spec.validate import check_finite, check_params

__all__ = [
    "dry_penalty",
    "mirostat_v1",
    "mirostat_v2",
]

I64 = npt.NDArray[np.int64]
LN2 = math.log(2.0)
NEG_INF = -math.inf


def _mu(fn: str, mu: npt.ArrayLike, z: F64) -> F64:
    m = as_f64(mu)
    if tuple(m.shape) != tuple(z.shape[:-1]):
        raise ShapeError(fn, "mu", f"shape {tuple(z.shape[:-1])} (logits.shape[:-1])", f"shape {tuple(m.shape)}")
    check_finite(fn, "mu", m, np)
    return m


def _draw(logq: F64, u: float, walk: npt.NDArray[np.intp]) -> int:
    """Inverse CDF along ``walk``: the first finite position whose cumulative probability exceeds ``u`` (``u = 0``:
    the first finite one), clamped to the last finite one (exact-arithmetic CDF, as :func:`sample`)."""
    finite = [int(j) for j in walk if np.isfinite(logq[j])]
    acc = 0.0
    for j in finite:
        acc += math.exp(logq[j])
        if acc > u or u == 0:
            return j
    return finite[-1]


# --------------------------------------------------------------------------- mirostat_v2


def mirostat_v2(logits: npt.ArrayLike, uniforms: npt.ArrayLike, mu: npt.ArrayLike, *, tau: float = 5.0,
                eta: float = 0.1, order: str = "vocab") -> tuple[I64, F64]:
    r"""Mirostat v2: surprise-threshold truncation with a feedback-controlled threshold ``mu``.

    From "Mirostat: A Neural Text Decoding Algorithm that Directly Controls Perplexity" (2020,
    arXiv:2007.14966) as implemented by llama.cpp ``llama_sampler_mirostat_v2_apply`` (src/llama-sampling.cpp at
    e19fb5f1a30c). Per row, with ``p = softmax(z)``:

    1. keep ``K = {v : -log2 p_v <= mu}`` (a prefix of the descending order); if ``K`` is empty keep the first
       maximum alone; ``-inf`` entries are never kept;
    2. ``q = softmax`` over ``K``; draw ``x`` by the inverse CDF of ``q`` with the row's uniform, walking the
       vocabulary order (``order="vocab"``, as :func:`sample`) or the stable descending order
       (``order="sorted"``, llama.cpp's ``std::discrete_distribution`` over its sorted candidates);
    3. ``mu' = mu - eta (-log2 q_x - tau)``.

    State in and out: returns ``(tokens, new_mu)``; initialise ``mu = 2 tau`` (llama.cpp's init/reset) and feed
    ``new_mu`` back on the next call. Surprises are compared in log space (``log p_v >= -mu ln 2``).

    Errors: NaN / ``+inf`` logits or a row of only ``-inf``, NaN ``mu``, NaN uniforms or uniforms outside
    ``[0, 1)`` (:class:`DomainError`); ``uniforms`` or ``mu`` not of shape ``logits.shape[:-1]``
    (:class:`ShapeError`); negative, NaN or infinite ``tau`` / ``eta`` (:class:`ParameterError`).
    """
    check_params("mirostat_v2", tau=tau, eta=eta, order=order)
    z = _logits("mirostat_v2", logits)
    u = _uniforms("mirostat_v2", uniforms, z)
    m = _mu("mirostat_v2", mu, z)
    tokens = np.empty(z.shape[:-1], dtype=np.int64)
    new_mu = np.empty(z.shape[:-1], dtype=np.float64)
    for idx in np.ndindex(*z.shape[:-1]):
        r = z[idx]
        logp = _log_softmax(r)
        keep = np.isfinite(r) & (logp >= -float(m[idx]) * LN2)
        if not keep.any():
            keep = np.arange(r.shape[-1]) == int(np.argmax(r))
        logq = _log_softmax(np.where(keep, r, NEG_INF))
        walk = _order(r) if order == "sorted" else np.arange(r.shape[-1])
        x = _draw(logq, float(u[idx]), walk)
        tokens[idx] = x
        new_mu[idx] = float(m[idx]) - eta * (-logq[x] / LN2 - tau)
    return tokens, new_mu


# --------------------------------------------------------------------------- mirostat_v1


def _top_k_count(r: F64, mu: float, m: int, n_vocab: int | None) -> int:
    """k of mirostat v1 for one row (the Zipf fit over the top ``m`` finite logits, in log space)."""
    f = np.sort(r[np.isfinite(r)])[::-1]
    n_f = int(f.size)
    if n_f < 2:
        return 1
    num_ti_bi = 0.0
    sum_ti_sq = 0.0
    for i in range(min(m - 1, n_f - 1)):
        t_i = math.log((i + 2) / (i + 1))
        b_i = float(f[i] - f[i + 1])  # log(p_i / p_{i+1}), exactly, without underflow
        num_ti_bi += t_i * b_i
        sum_ti_sq += t_i * t_i
    s_hat = num_ti_bi / sum_ti_sq
    eps = s_hat - 1.0
    ln_n = math.log(n_vocab if n_vocab is not None else r.shape[-1])
    ratio = 1.0 / ln_n if eps == 0 else eps / -math.expm1(-eps * ln_n)  # eps / (1 - N^-eps), > 0
    num = math.log(ratio) + mu * LN2
    if s_hat == 0:
        return n_f if num > 0 else 1
    log_k = num / s_hat
    if log_k >= math.log(n_f + 1.0):
        return n_f
    return max(1, min(n_f, int(math.exp(log_k)))) if log_k >= 0 else 1


def mirostat_v1(logits: npt.ArrayLike, uniforms: npt.ArrayLike, mu: npt.ArrayLike, *, tau: float = 5.0,
                eta: float = 0.1, m: int = 100, n_vocab: int | None = None, order: str = "vocab") -> tuple[I64, F64]:
    r"""Mirostat (v1): a Zipf fit chooses ``k`` for top-k sampling so that the surprise tracks ``tau``.

    "Mirostat: A Neural Text Decoding Algorithm that Directly Controls Perplexity" (2020, arXiv:2007.14966),
    Algorithm 1, as implemented by llama.cpp ``llama_sampler_mirostat_apply`` (src/llama-sampling.cpp at
    e19fb5f1a30c). Per row, over the finite logits sorted descending (ties lowest index first):

    1. ``ŝ = Σ_i t_i b_i / Σ_i t_i²``, ``t_i = log((i+2)/(i+1))``, ``b_i = log(p_i / p_{i+1}) = z_i - z_{i+1}``,
       ``i < min(m - 1, n - 1)``;
    2. ``ε̂ = ŝ - 1``, ``k = ((ε̂ 2^μ) / (1 - N^{-ε̂}))^{1/ŝ}`` with ``N = n_vocab`` (default ``V``), computed in
       log space (``1 - N^{-ε̂} = -expm1(-ε̂ ln N)``, ``ε̂ = 0`` by its limit ``1 / ln N``); ``k = trunc(k)``
       clipped to ``[1, n]``; ``ŝ = 0`` (a tied window) gives ``n`` if ``log(ratio) + μ ln 2 > 0`` else 1;
    3. ``q = softmax`` over the top ``k`` (exact ``k``, ties to the lowest index), ``x`` by the inverse CDF with the
       row's uniform (``order="vocab"``: vocabulary order as :func:`sample`; ``"sorted"``: llama.cpp's walk);
    4. ``μ' = μ - η (-log2 q_x - τ)``.

    State in and out (``(tokens, new_mu)``, initialise ``mu = 2 tau``). Differences from llama.cpp: its ``k`` is
    computed in float32 and can be non-finite (``int(inf)`` is undefined behaviour, ``k = 1`` on x86) where ours
    is clipped; ``-inf`` entries of its candidate array inside the top ``m`` give ``b = inf`` there, while the fit
    here runs over the finite logits; ``order`` as in :func:`mirostat_v2`.

    Errors: as :func:`mirostat_v2`, plus ``m < 2`` or ``n_vocab < 2`` (:class:`ParameterError`).
    """
    check_params("mirostat_v1", tau=tau, eta=eta, m=m, n_vocab=n_vocab, order=order)
    z = _logits("mirostat_v1", logits)
    u = _uniforms("mirostat_v1", uniforms, z)
    mus = _mu("mirostat_v1", mu, z)
    tokens = np.empty(z.shape[:-1], dtype=np.int64)
    new_mu = np.empty(z.shape[:-1], dtype=np.float64)
    for idx in np.ndindex(*z.shape[:-1]):
        r = z[idx]
        k = _top_k_count(r, float(mus[idx]), m, n_vocab)
        keep = np.zeros(r.shape[-1], dtype=bool)
        keep[_order(r)[:k]] = True
        logq = _log_softmax(np.where(keep, r, NEG_INF))
        walk = _order(r) if order == "sorted" else np.arange(r.shape[-1])
        x = _draw(logq, float(u[idx]), walk)
        tokens[idx] = x
        new_mu[idx] = float(mus[idx]) - eta * (-logq[x] / LN2 - tau)
    return tokens, new_mu


# --------------------------------------------------------------------------- dry_penalty

FLOAT_MAX_LOG = 88.7228391  # llama.cpp's approximate log(FLT_MAX)


def _tokens(fn: str, name: str, x: npt.ArrayLike, low: int, high: int) -> npt.NDArray[np.int64]:
    a = np.asarray(x)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        from spec.errors import DTypeError

        raise DTypeError(fn, name, "an integer dtype", f"dtype {a.dtype}")
    if a.size and np.any((a < low) | (a >= high)):
        raise DomainError(fn, name, f"token ids in [{low}, {high})", "an id out of range")
    return np.asarray(a, dtype=np.int64)


def dry_penalty(logits: npt.ArrayLike, history: npt.ArrayLike, multiplier: float, *,
                breakers: npt.ArrayLike | None = None, base: float = 1.75, allowed_length: int = 2,
                penalty_last_n: int = -1) -> F64:
    r"""DRY, "don't repeat yourself": penalise the tokens that would extend a repeated suffix of the history.

    Peer: llama.cpp ``llama_sampler_dry_apply`` (src/llama-sampling.cpp at e19fb5f1a30c, ported from koboldcpp;
    text-generation-webui holds the reference semantics). Per row, with ``w`` the last ``penalty_last_n`` tokens
    of ``history`` (``-1``: all; ``0``: off) and ``L = len(w)``:

    1. off if ``multiplier == 0`` or ``L <= allowed_length``;
    2. ``rep_limit``: the most recent position ``p`` where a breaker sequence ``(h, t_1..t_s)`` occurs completely
       (``w[p:p+s+1]``) sets ``rep_limit = (L - 1 - p) - s``; none: ``L``; off if ``rep_limit < allowed_length``
       (only the most recent breaker counts);
    3. for ``i < L - 1``, ``n_i`` = the length of the longest common suffix of ``w[:i+1]`` and ``w``, capped at
       ``rep_limit``; the token ``w[i+1]`` that followed keeps its largest ``n_i >= allowed_length``;
    4. each such token ``v`` that is not a single-token breaker gets ``z_v -= multiplier ·
       base^{min(n - allowed_length, E)}`` with ``E = int(88.7228391 / ln base)`` when ``base > 1.000001`` (no cap
       otherwise).

    ``breakers`` is an int array ``(NB, L_b)``, one token-id sequence per row, right-padded with ``-1`` (llama.cpp's
    C API takes strings and tokenises them; ``llama_sampler_init_dry_testing`` takes token sequences, as here).
    The history is an input (llama.cpp keeps it in a ring buffer fed by ``accept``). ``-inf`` stays ``-inf``.

    Errors: NaN / ``+inf`` logits or a row of only ``-inf`` (:class:`DomainError`), history ids outside ``[0, V)``
    or breaker ids outside ``[-1, V)`` (:class:`DomainError`), a history whose batch shape is not
    ``logits.shape[:-1]`` (:class:`ShapeError`), parameters outside their domains (:class:`ParameterError`).
    """
    check_params("dry_penalty", multiplier=multiplier, base=base, allowed_length=allowed_length,
                 penalty_last_n=penalty_last_n)
    z = _logits("dry_penalty", logits)
    v = z.shape[-1]
    h = _tokens("dry_penalty", "history", history, 0, v)
    if h.ndim < 1 or tuple(h.shape[:-1]) != tuple(z.shape[:-1]):
        raise ShapeError("dry_penalty", "history", f"shape {(*z.shape[:-1], 'T')} (logits.shape[:-1] + (T,))",
                         f"shape {tuple(h.shape)}")
    seqs: list[list[int]] = []
    if breakers is not None:
        b = _tokens("dry_penalty", "breakers", breakers, -1, v)
        if b.ndim != 2:
            raise ShapeError("dry_penalty", "breakers", "a 2-d (NB, L) array", f"shape {tuple(b.shape)}")
        seqs = [q for q in ([int(x) for x in row if x >= 0] for row in b) if q]
    single = {q[0] for q in seqs if len(q) == 1}
    max_exp = int(FLOAT_MAX_LOG / math.log(base)) if base > 1.000001 else 0
    out = z.copy()
    if multiplier == 0 or penalty_last_n == 0:
        return out
    for idx in np.ndindex(*z.shape[:-1]):
        full = [int(x) for x in h[idx]]
        w = full if penalty_last_n == -1 else full[max(0, len(full) - penalty_last_n):]
        n = len(w)
        if n <= allowed_length:
            continue
        rep_limit = n
        for p in range(n - 1, -1, -1):  # the most recent complete breaker
            lengths = [len(q) - 1 for q in seqs if p + len(q) <= n and w[p:p + len(q)] == q]
            if lengths:
                rep_limit = (n - 1 - p) - max(lengths)
                break
        if rep_limit < allowed_length:
            continue
        longest: dict[int, int] = {}
        for i in range(n - 1):
            run = 0
            while run <= i and w[i - run] == w[n - 1 - run]:
                run += 1
            count = min(run, rep_limit)
            if count >= allowed_length:
                longest[w[i + 1]] = max(longest.get(w[i + 1], 0), count)
        for tok, count in longest.items():
            if tok in single:
                continue
            e = count - allowed_length
            if max_exp > 0 and e > max_exp:
                e = max_exp
            out[idx][tok] -= multiplier * base**e
    return out
