"""Mutants of the peers' samplers: small NumPy implementations, each with one plausible bug.

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

MUTANTS: dict[str, tuple[Mutant, ...]] = {}


def _valid(fn: str, logits: Any, **params: Any) -> F64:
    check_params(fn, **params)
    z = np.asarray(logits)
    check_vocab_axis(fn, "logits", z)
    check_finite(fn, "logits", z, np, allow_neg_inf=True)
    return np.asarray(z, dtype=np.float64)


# --------------------------------------------------------------------------- greedy_decode


def _greedy(*, last_tie: bool = False, zero_fill: bool = False) -> Any:
    def greedy_decode(logits: Any) -> Any:
        z = _valid("greedy_decode", logits)
        if last_tie:  # ties to the highest index (a reversed scan with '>=')
            v = z.shape[-1]
            return (v - 1 - np.argmax(z[..., ::-1], axis=-1)).astype(np.int64)
        if zero_fill:  # masked entries filled with 0 instead of -inf (np.nan_to_num): beats negative logits
            return np.argmax(np.nan_to_num(z, neginf=0.0), axis=-1).astype(np.int64)
        return np.argmax(z, axis=-1).astype(np.int64)

    return greedy_decode


MUTANTS["greedy_decode"] = (
    Mutant("ties_to_last", "ties at the maximum go to the highest index", _greedy(last_tie=True)),
    Mutant("neg_inf_as_zero", "-inf entries read as 0 (nan_to_num): a masked token beats negative logits",
           _greedy(zero_fill=True)),
)


# --------------------------------------------------------------------------- top_n_sigma_sampling


def _sigma(*, ddof: int = 0, zero_fill: bool = False, zero_keeps_max: bool = False) -> Any:
    def top_n_sigma_sampling(logits: Any, n: float, *, zero: str = "identity") -> Any:
        z = _valid("top_n_sigma_sampling", logits, n=n, zero=zero)
        out = np.empty_like(z)
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            if n == 0 and zero == "identity" and not zero_keeps_max:
                out[idx] = r
                continue
            f = np.nan_to_num(r, neginf=0.0) if zero_fill else r[np.isfinite(r)]
            sigma = float(np.std(f, ddof=ddof)) if f.size > ddof else 0.0
            out[idx] = np.where(r >= r.max() - n * sigma, r, NEG)
        return out.astype(np.asarray(logits).dtype)

    return top_n_sigma_sampling


MUTANTS["top_n_sigma_sampling"] = (
    Mutant("sample_std", "sigma with ddof = 1 (torch.std's default) instead of the population std", _sigma(ddof=1)),
    Mutant("neg_inf_as_zero", "-inf entries enter the mean and sigma as 0 (the llama.cpp #13344 class of bug)",
           _sigma(zero_fill=True)),
    Mutant("n_zero_keeps_max", "n = 0 keeps only the max ties although llama.cpp disables the sampler there",
           _sigma(zero_keeps_max=True)),
)


# --------------------------------------------------------------------------- xtc_sampling


def _xtc(*, drop_all: bool = False, ignore_min_keep: bool = False, strict: bool = False,
         ties_low: bool = False) -> Any:
    def xtc_sampling(logits: Any, uniforms: Any, probability: float, threshold: float, *,
                     min_tokens_to_keep: int = 1) -> Any:
        z = _valid("xtc_sampling", logits, probability=probability, threshold=threshold,
                   min_tokens_to_keep=min_tokens_to_keep)
        u = np.asarray(uniforms, dtype=np.float64)
        out = z.copy()
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            fin = np.isfinite(r)
            if probability <= 0 or threshold > 0.5 or fin.sum() < 2 or u[idx] > probability:
                continue
            e = np.exp(r - r.max())
            p = e / e.sum()
            order = np.argsort(-r, kind="stable")
            if ties_low:  # ties in reverse index order: the lowest tied index survives
                order = np.lexsort((-np.arange(r.size), -r))
            above = [int(j) for j in order if fin[j] and (p[j] > threshold if strict else p[j] >= threshold)]
            if len(above) < 2:
                continue
            gone = above if drop_all else above[:-1]
            if not ignore_min_keep and fin.sum() - len(gone) < min_tokens_to_keep:
                continue
            out[idx][gone] = NEG
        return out.astype(np.asarray(logits).dtype)

    return xtc_sampling


MUTANTS["xtc_sampling"] = (
    Mutant("drops_every_top_choice", "removes the least probable top choice too (off by one at pos_last)",
           _xtc(drop_all=True)),
    Mutant("ignores_min_keep", "removes the top choices even when fewer than min_tokens_to_keep remain",
           _xtc(ignore_min_keep=True)),
    Mutant("strict_threshold", "p > threshold instead of p >= threshold", _xtc(strict=True)),
    Mutant("ties_keep_lowest", "among tied last top choices the lowest index survives", _xtc(ties_low=True)),
)


# --------------------------------------------------------------------------- dynamic_temperature


def _dyn(*, vocab_always: bool = False, entropy_bits: bool = False, min_unclamped: bool = False,
         noop_divides: bool = False) -> Any:
    def dynamic_temperature(logits: Any, temperature: float, *, delta: float = 0.0, exponent: float = 1.0,
                            candidates: str = "finite") -> Any:
        z = _valid("dynamic_temperature", logits, temperature=temperature, delta=delta, exponent=exponent,
                   candidates=candidates)
        out = np.empty_like(z)
        for idx in np.ndindex(*z.shape[:-1]):
            r = z[idx]
            t = float(temperature)
            if delta > 0:
                n = r.size if (vocab_always or candidates == "vocab") else int(np.isfinite(r).sum())
                if n <= 1:
                    out[idx] = r / t if noop_divides and t > 0 else r
                    continue
                lo = t - delta if min_unclamped else max(0.0, t - delta)
                s_ = r - r.max()
                logp = s_ - np.log(np.sum(np.exp(s_)))
                p = np.exp(logp)
                h = float(-np.sum(np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0)))
                if entropy_bits:
                    h /= math.log(2.0)
                t = lo + (t + delta - lo) * min(h / math.log(n), 1.0 if not entropy_bits else 2.0) ** exponent
            if t <= 0:
                out[idx] = np.where(np.arange(r.size) == int(np.argmax(r)), r, NEG)
            else:
                out[idx] = r / t
        return out.astype(np.asarray(logits).dtype)

    return dynamic_temperature


MUTANTS["dynamic_temperature"] = (
    Mutant("h_max_counts_vocab", "H_max = log V even with candidates='finite'", _dyn(vocab_always=True)),
    Mutant("entropy_in_bits", "H in bits against H_max in nats", _dyn(entropy_bits=True)),
    Mutant("t_min_unclamped", "T_min = t - delta without the max(0, .) clamp", _dyn(min_unclamped=True)),
    Mutant("single_candidate_divides", "a row with one candidate is divided by t (llama.cpp returns it as is)",
           _dyn(noop_divides=True)),
)
