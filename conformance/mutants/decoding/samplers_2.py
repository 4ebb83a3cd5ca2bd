"""Mutants of the stateful peers' samplers: small NumPy implementations, each with one plausible bug.

Every mutant validates its input like a careful port would (the spec's parameter domains, NaN / ``+inf`` / all
``-inf`` rows), so only the planted bug can get it caught.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance.mutants import Mutant
from spec.validate import check_finite, check_params, check_vocab_axis

__all__ = ["MUTANTS"]

F64 = npt.NDArray[np.float64]
NEG = -math.inf
LN2 = math.log(2.0)

MUTANTS: dict[str, tuple[Mutant, ...]] = {}


def _valid(fn: str, logits: Any, **params: Any) -> F64:
    check_params(fn, **params)
    z = np.asarray(logits)
    check_vocab_axis(fn, "logits", z)
    check_finite(fn, "logits", z, np, allow_neg_inf=True)
    return np.asarray(z, dtype=np.float64)


def _logsoftmax(r: F64) -> F64:
    s = r - r.max()
    with np.errstate(divide="ignore"):
        return np.asarray(s - np.log(np.sum(np.exp(s))))


def _inverse(logq: F64, u: float, walk: Any) -> int:
    fin = [int(j) for j in walk if np.isfinite(logq[j])]
    acc = 0.0
    for j in fin:
        acc += math.exp(logq[j])
        if acc > u or u == 0:
            return j
    return fin[-1]


# --------------------------------------------------------------------------- mirostat_v2


def _v2(*, nats: bool = False, unnormalised: bool = False, sign: float = 1.0, strict_keep: bool = False) -> Any:
    def mirostat_v2(logits: Any, uniforms: Any, mu: Any, *, tau: float = 5.0, eta: float = 0.1,
                    order: str = "vocab") -> Any:
        z = _valid("mirostat_v2", logits, tau=tau, eta=eta, order=order)
        u = np.asarray(uniforms, dtype=np.float64)
        m = np.asarray(mu, dtype=np.float64)
        tok = np.empty(z.shape[:-1], dtype=np.int64)
        new = np.empty(z.shape[:-1])
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            logp = _logsoftmax(r)
            surprise = -logp if nats else -logp / LN2
            keep = np.isfinite(r) & ((surprise < m[idx]) if strict_keep else (surprise <= m[idx]))
            if not keep.any():
                keep = np.arange(r.size) == int(np.argmax(r))
            logq = _logsoftmax(np.where(keep, r, NEG))
            walk = np.argsort(-r, kind="stable") if order == "sorted" else np.arange(r.size)
            x = _inverse(logq, float(u[idx]), walk)
            s = -(logp[x] if unnormalised else logq[x]) / LN2
            tok[idx] = x
            new[idx] = m[idx] - sign * eta * (s - tau)
        return tok, new.astype(np.asarray(mu).dtype)

    return mirostat_v2


MUTANTS["mirostat_v2"] = (
    Mutant("surprise_in_nats", "truncates at -ln p <= mu (nats) while mu and tau are in bits", _v2(nats=True)),
    Mutant("surprise_before_renorm", "observed surprise from p (before renormalising over the kept set)",
           _v2(unnormalised=True)),
    Mutant("update_sign", "mu <- mu + eta (surprise - tau)", _v2(sign=-1.0)),
)


# --------------------------------------------------------------------------- mirostat_v1


def _v1(*, rounds: bool = False, window_m: bool = False, eps_plus: bool = False, init_mu: bool = False) -> Any:
    def mirostat_v1(logits: Any, uniforms: Any, mu: Any, *, tau: float = 5.0, eta: float = 0.1, m: int = 100,
                    n_vocab: int | None = None, order: str = "vocab") -> Any:
        z = _valid("mirostat_v1", logits, tau=tau, eta=eta, m=m, n_vocab=n_vocab, order=order)
        u = np.asarray(uniforms, dtype=np.float64)
        mus = np.asarray(mu, dtype=np.float64)
        tok = np.empty(z.shape[:-1], dtype=np.int64)
        new = np.empty(z.shape[:-1])
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            mu_r = 2.0 * tau if init_mu else float(mus[idx])  # re-initialises the state every call
            f = np.sort(r[np.isfinite(r)])[::-1]
            k = 1
            if f.size >= 2:
                i = np.arange(min(m if window_m else m - 1, f.size - 1))  # one difference too many
                t = np.log((i + 2.0) / (i + 1.0))
                s_hat = float(np.sum(t * (f[i] - f[i + 1])) / np.sum(t * t))
                eps = s_hat + 1.0 if eps_plus else s_hat - 1.0
                ln_n = math.log(n_vocab if n_vocab is not None else r.size)
                ratio = 1.0 / ln_n if eps == 0 else eps / -math.expm1(-eps * ln_n)
                num = math.log(ratio) + mu_r * LN2
                if s_hat == 0:
                    k = f.size if num > 0 else 1
                else:
                    kf = math.exp(min(num / s_hat, 700.0))
                    k = max(1, min(f.size, round(kf) if rounds else int(kf)))
            keep = np.zeros(r.size, dtype=bool)
            keep[np.argsort(-r, kind="stable")[:k]] = True
            logq = _logsoftmax(np.where(keep, r, NEG))
            walk = np.argsort(-r, kind="stable") if order == "sorted" else np.arange(r.size)
            x = _inverse(logq, float(u[idx]), walk)
            tok[idx] = x
            new[idx] = mu_r - eta * (-logq[x] / LN2 - tau)
        return tok, new.astype(np.asarray(mu).dtype)

    return mirostat_v1


MUTANTS["mirostat_v1"] = (
    Mutant("k_rounded", "k rounded to the nearest integer instead of C++ int() truncation (errata)", _v1(rounds=True)),
    Mutant("window_off_by_one", "the Zipf fit uses m differences instead of m - 1", _v1(window_m=True)),
    Mutant("eps_sign", "eps = s_hat + 1 instead of s_hat - 1", _v1(eps_plus=True)),
    Mutant("state_not_threaded", "mu re-initialised to 2 tau on every call (llama-cpp-python #914)",
           _v1(init_mu=True)),
)


# --------------------------------------------------------------------------- dry_penalty


def _dry(*, first_breaker: bool = False, no_exempt: bool = False, off_by_one: bool = False,
         window_plus: bool = False) -> Any:
    def dry_penalty(logits: Any, history: Any, multiplier: float, *, breakers: Any = None, base: float = 1.75,
                    allowed_length: int = 2, penalty_last_n: int = -1) -> Any:
        z = _valid("dry_penalty", logits, multiplier=multiplier, base=base, allowed_length=allowed_length,
                   penalty_last_n=penalty_last_n)
        h = np.asarray(history)
        seqs = [q for q in ([int(x) for x in r if x >= 0] for r in np.asarray(breakers)) if q] if breakers is not None \
            else []
        out = z.copy()
        if multiplier == 0 or penalty_last_n == 0:
            return out.astype(np.asarray(logits).dtype)
        for idx in np.ndindex(*z.shape[:-1]):
            full = [int(x) for x in h[idx]]
            last = penalty_last_n + 1 if window_plus else penalty_last_n  # one token too many in the window
            w = full if penalty_last_n == -1 else full[max(0, len(full) - last):]
            n = len(w)
            if n <= allowed_length:
                continue
            rep_limit = n
            positions = range(n) if first_breaker else range(n - 1, -1, -1)  # the oldest breaker instead
            for p in positions:
                lengths = [len(q) - 1 for q in seqs if p + len(q) <= n and w[p:p + len(q)] == q]
                if lengths:
                    rep_limit = (n - 1 - p) - max(lengths)
                    break
            if rep_limit < allowed_length:
                continue
            best: dict[int, int] = {}
            for i in range(n - 1):
                run = 0
                while run <= i and w[i - run] == w[n - 1 - run]:
                    run += 1
                c = min(run, rep_limit)
                if c >= allowed_length:
                    best[w[i + 1]] = max(best.get(w[i + 1], 0), c)
            single = set() if no_exempt else {q[0] for q in seqs if len(q) == 1}
            for tok, c in best.items():
                if tok not in single:
                    out[idx][tok] -= multiplier * base ** (c - allowed_length + (1 if off_by_one else 0))
        return out.astype(np.asarray(logits).dtype)

    return dry_penalty


MUTANTS["dry_penalty"] = (
    Mutant("oldest_breaker", "the oldest complete breaker sets rep_limit instead of the most recent (errata)",
           _dry(first_breaker=True)),
    Mutant("breakers_penalised", "single-token breakers are penalised like any token (errata)",
           _dry(no_exempt=True)),
    Mutant("exponent_off_by_one", "base^(n - allowed_length + 1)", _dry(off_by_one=True)),
    Mutant("window_off_by_one", "penalty_last_n + 1 tokens searched", _dry(window_plus=True)),
)
