"""Mutants of the ``categorical`` membership scores: plausible wrong ports, each with one bug.

Each mutant first calls the reference (validation only, so errors match) and then computes its own
buggy value with plain NumPy loops.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.mutants import Mutant
from conformance.mutants.categorical._common import F64
from reference.categorical import membership as R

__all__ = ["MUTANTS"]


def _rows(x: Any) -> np.ndarray[Any, Any]:
    a = np.asarray(x)
    return a.reshape(-1, a.shape[-1]) if a.shape[-1] else a.reshape(-1, 0)


def _min_k(scores: np.ndarray[Any, Any], kept: np.ndarray[Any, Any], ratio: float, *, floor_only: bool = False,
           ceil: bool = False, highest: bool = False) -> F64:
    out = []
    for row, keep in zip(_rows(scores), _rows(kept), strict=True):
        vals = np.sort(row[keep.astype(bool)])
        if highest:
            vals = vals[::-1]
        n = vals.size
        k = math.ceil(n * ratio) if ceil else int(n * ratio)
        if not floor_only:
            k = max(1, k)
        with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            out.append(float(np.mean(vals[:k])) if (n or floor_only) else 0.0)
    return np.asarray(out, dtype=np.float64).reshape(np.shape(scores)[:-1])


# --------------------------------------------------------------------------- token_self_information


def _tsi_parts(logits: Any, target: Any, ignore_index: int) -> tuple[F64, Any, Any]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target)
    m = np.max(z, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        lp = z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    kept = y != ignore_index
    return lp, np.where(kept, y, 0), kept


def tsi_base_ignored(logits: Any, target: Any, *, ignore_index: int = -100, base: float | None = None) -> F64:
    R.token_self_information(logits, target, ignore_index=ignore_index, base=base)
    lp, safe, kept = _tsi_parts(logits, target, ignore_index)
    ly = np.take_along_axis(lp, safe[..., None], -1)[..., 0] if lp.size else np.zeros(safe.shape)
    return np.asarray(np.where(kept, -ly, 0.0))  # bug: `base` accepted but the result stays in nats


def tsi_ignored_scored(logits: Any, target: Any, *, ignore_index: int = -100, base: float | None = None) -> F64:
    R.token_self_information(logits, target, ignore_index=ignore_index, base=base)
    lp, safe, _kept = _tsi_parts(logits, target, ignore_index)
    ly = np.take_along_axis(lp, safe[..., None], -1)[..., 0] if lp.size else np.zeros(safe.shape)
    info = -ly  # bug: ignored positions scored as token 0 instead of 0
    return np.asarray(info if base is None else info / math.log(base))


def tsi_entropy(logits: Any, target: Any, *, ignore_index: int = -100, base: float | None = None) -> F64:
    R.token_self_information(logits, target, ignore_index=ignore_index, base=base)
    lp, _safe, kept = _tsi_parts(logits, target, ignore_index)
    with np.errstate(invalid="ignore"):
        h = -np.sum(np.where(np.isfinite(lp), np.exp(lp) * lp, 0.0), axis=-1)  # bug: the entropy, not −log p_y
    info = np.where(kept, h, 0.0)
    return np.asarray(info if base is None else info / math.log(base))


# --------------------------------------------------------------------------- min_k_prob


def _mk_kept(log_probs: Any, mask: Any) -> np.ndarray[Any, Any]:
    lp = np.asarray(log_probs)
    return np.ones(lp.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)


def mk_empty_slice(log_probs: Any, *, mask: Any = None, ratio: float = 0.2, negate: bool = False) -> F64:
    R.min_k_prob(log_probs, mask=mask, ratio=ratio, negate=negate)
    s = _min_k(np.asarray(log_probs, dtype=np.float64), _mk_kept(log_probs, mask), ratio, floor_only=True)
    return np.asarray(-s if negate else s)  # bug: k = int(ratio·n), the official NaN for short rows


def mk_mask_ignored(log_probs: Any, *, mask: Any = None, ratio: float = 0.2, negate: bool = False) -> F64:
    R.min_k_prob(log_probs, mask=mask, ratio=ratio, negate=negate)
    lp = np.asarray(log_probs, dtype=np.float64)
    s = _min_k(lp, np.ones(lp.shape, dtype=bool), ratio)  # bug: the mask is ignored
    return np.asarray(-s if negate else s)


def mk_ceil(log_probs: Any, *, mask: Any = None, ratio: float = 0.2, negate: bool = False) -> F64:
    R.min_k_prob(log_probs, mask=mask, ratio=ratio, negate=negate)
    s = _min_k(np.asarray(log_probs, dtype=np.float64), _mk_kept(log_probs, mask), ratio, ceil=True)  # bug: ⌈·⌉
    return np.asarray(-s if negate else s)


def mk_highest(log_probs: Any, *, mask: Any = None, ratio: float = 0.2, negate: bool = False) -> F64:
    R.min_k_prob(log_probs, mask=mask, ratio=ratio, negate=negate)
    s = _min_k(np.asarray(log_probs, dtype=np.float64), _mk_kept(log_probs, mask), ratio, highest=True)
    return np.asarray(-s if negate else s)  # bug: the k *highest* log-probs


# --------------------------------------------------------------------------- min_k_plus_plus


def _mkpp_z(logits: Any, target: Any, ignore_index: int, *, power: float = 0.5, centre: bool = True,
            respect_ignore: bool = True) -> tuple[F64, np.ndarray[Any, Any]]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target)
    kept = (y != ignore_index) if respect_ignore else np.ones(y.shape, dtype=bool)
    out = np.zeros(y.size)
    for r, (row, t, k) in enumerate(zip(_rows(z), y.reshape(-1), kept.reshape(-1), strict=True)):
        if not k:
            continue
        t = int(t) if int(t) != ignore_index else 0
        fin = np.isfinite(row)
        d = row[fin] - np.max(row[fin])
        p = np.exp(d) / np.sum(np.exp(d))
        mu = float(np.sum(p * d))
        var = float(np.sum(p * (d - mu) ** 2))
        dy = row[t] - np.max(row[fin])
        if not np.isfinite(dy):
            out[r] = -np.inf
        elif var > 0:
            lp_y = dy - math.log(float(np.sum(np.exp(d))))
            num = (dy - mu) if centre else lp_y
            out[r] = num / var**power
    return out.reshape(y.shape), kept


def mkpp_variance(logits: Any, target: Any, *, ratio: float = 0.2, ignore_index: int = -100,
                  negate: bool = False) -> F64:
    R.min_k_plus_plus(logits, target, ratio=ratio, ignore_index=ignore_index, negate=negate)
    zs, kept = _mkpp_z(logits, target, ignore_index, power=1.0)  # bug: divided by the variance, not σ
    s = _min_k(zs, kept, ratio)
    return np.asarray(-s if negate else s)


def mkpp_uncentred(logits: Any, target: Any, *, ratio: float = 0.2, ignore_index: int = -100,
                   negate: bool = False) -> F64:
    R.min_k_plus_plus(logits, target, ratio=ratio, ignore_index=ignore_index, negate=negate)
    zs, kept = _mkpp_z(logits, target, ignore_index, centre=False)  # bug: log p_y / σ, μ not subtracted
    s = _min_k(zs, kept, ratio)
    return np.asarray(-s if negate else s)


def mkpp_ignore_counted(logits: Any, target: Any, *, ratio: float = 0.2, ignore_index: int = -100,
                        negate: bool = False) -> F64:
    R.min_k_plus_plus(logits, target, ratio=ratio, ignore_index=ignore_index, negate=negate)
    zs, kept = _mkpp_z(logits, target, ignore_index, respect_ignore=False)  # bug: ignored ids scored as id 0
    s = _min_k(zs, kept, ratio)
    return np.asarray(-s if negate else s)


# --------------------------------------------------------------------------- dc_pdd_score


def _dc(log_probs: Any, input_ids: Any, counts: Any, a: float, ignore_index: int, frequency: str, negate: bool, *,
        first_only: bool = True, raw: bool = False, cap: bool = True, use_logp: bool = False) -> F64:
    c = np.asarray(counts, dtype=np.float64)
    f = c if (raw or frequency == "raw_counts") else (c + 1.0) / (np.sum(c) + c.shape[0])
    lp = np.asarray(log_probs, dtype=np.float64)
    out = []
    for row, ids in zip(_rows(lp), _rows(input_ids), strict=True):
        seen: set[int] = set()
        alphas = []
        for x, v in zip(row, ids, strict=True):
            v = int(v)
            if v == ignore_index or (first_only and v in seen):
                continue
            seen.add(v)
            p = x if use_logp else math.exp(x)
            info = math.inf if f[v] == 0 else -math.log(f[v])
            alpha = 0.0 if p == 0 else p * info
            alphas.append(min(alpha, a) if cap else alpha)
        out.append(sum(alphas) / len(alphas) if alphas else 0.0)
    s = np.asarray(out, dtype=np.float64).reshape(lp.shape[:-1])
    return np.asarray(-s if negate else s)


def dc_all_occurrences(log_probs: Any, input_ids: Any, counts: Any, *, a: float = 0.01, ignore_index: int = -100,
                       frequency: str = "smoothed", negate: bool = False) -> F64:
    R.dc_pdd_score(log_probs, input_ids, counts, a=a, ignore_index=ignore_index, frequency=frequency, negate=negate)
    return _dc(log_probs, input_ids, counts, a, ignore_index, frequency, negate, first_only=False)  # bug: no FOS


def dc_raw_index(log_probs: Any, input_ids: Any, counts: Any, *, a: float = 0.01, ignore_index: int = -100,
                 frequency: str = "smoothed", negate: bool = False) -> F64:
    R.dc_pdd_score(log_probs, input_ids, counts, a=a, ignore_index=ignore_index, frequency=frequency, negate=negate)
    return _dc(log_probs, input_ids, counts, a, ignore_index, frequency, negate, raw=True)  # bug: the script's index


def dc_uncapped(log_probs: Any, input_ids: Any, counts: Any, *, a: float = 0.01, ignore_index: int = -100,
                frequency: str = "smoothed", negate: bool = False) -> F64:
    R.dc_pdd_score(log_probs, input_ids, counts, a=a, ignore_index=ignore_index, frequency=frequency, negate=negate)
    return _dc(log_probs, input_ids, counts, a, ignore_index, frequency, negate, cap=False)  # bug: no cap


def dc_log_prob(log_probs: Any, input_ids: Any, counts: Any, *, a: float = 0.01, ignore_index: int = -100,
                frequency: str = "smoothed", negate: bool = False) -> F64:
    R.dc_pdd_score(log_probs, input_ids, counts, a=a, ignore_index=ignore_index, frequency=frequency, negate=negate)
    return _dc(log_probs, input_ids, counts, a, ignore_index, frequency, negate, use_logp=True)  # bug: log p · I


MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "token_self_information": (
        Mutant("base_ignored", "`base` accepted but the result stays in nats", tsi_base_ignored),
        Mutant("ignored_scored", "ignored positions scored as token 0 instead of 0", tsi_ignored_scored),
        Mutant("entropy_not_surprisal", "the row entropy instead of −log p of the target", tsi_entropy),
    ),
    "min_k_prob": (
        Mutant("empty_slice", "k = int(ratio·n) (0 for short rows: NaN), the official code", mk_empty_slice),
        Mutant("mask_ignored", "masked tokens counted", mk_mask_ignored),
        Mutant("ceil_k", "k = ⌈ratio·n⌉ instead of ⌊ratio·n⌋", mk_ceil),
        Mutant("highest_k", "the k highest log-probs instead of the lowest", mk_highest),
    ),
    "min_k_plus_plus": (
        Mutant("divide_by_variance", "(log p − μ)/σ² (the catalogue's suspected quirk)", mkpp_variance),
        Mutant("uncentred", "log p/σ without subtracting μ", mkpp_uncentred),
        Mutant("ignore_counted", "ignore_index positions scored as token 0 and counted", mkpp_ignore_counted),
    ),
    "dc_pdd_score": (
        Mutant("all_occurrences", "every occurrence averaged, not the first of each id", dc_all_occurrences),
        Mutant("raw_count_index", "log(1/cnt) whatever `frequency` says (the script's index)", dc_raw_index),
        Mutant("uncapped", "α not capped at a", dc_uncapped),
        Mutant("log_prob_not_prob", "log p · log(1/f) instead of p · log(1/f)", dc_log_prob),
    ),
}
