"""Case strategies and curated cases of the truncation filters.

Every threshold is drawn from the drawn logits (see :mod:`conformance.cases.decoding._draws`): the
values that move the cut of row 0 are computed (cumulative masses for top-p and typical, probability
ratios for min-p, probabilities for epsilon/eta, partial-entropy fractions for Top-H) and the
threshold falls mostly strictly between two of them, sometimes within 1e-4 of one or exactly on one,
now and then anywhere or at an edge of the domain. ``k`` and ``min_tokens_to_keep`` are bounded by V.

Curated ``expected`` outputs are derived by hand in each ``why`` (logits are ``log`` of dyadic
probabilities or small integers, so the masses involved are exact), never by running our code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Curated, Peer
from conformance.cases.decoding._draws import batch_and_vocab, logits_for, min_keep, pick, probs_sorted, row0
from conformance.strategies import Case
from spec.decoding.truncation import TYPICAL_SCORE_RESOLUTION
from spec.model import MethodSpec

__all__ = ["CASES", "CURATED", "PEERS"]

NEG = -math.inf


def _typical_cuts(zr: Any) -> list[float]:
    fin = zr[np.isfinite(zr)]
    if fin.size == 0:
        return []
    e = np.exp(fin - fin.max())
    p = e / e.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(p)
        h = float(-np.sum(np.where(p > 0, p * logp, 0.0)))
    order = np.argsort(np.abs(-logp - h), kind="stable")
    return [float(c) for c in np.cumsum(p[order])[:-1]]


def _toph_cuts(zr: Any, params: dict[str, Any]) -> list[float]:
    fin = np.sort(zr[np.isfinite(zr)])[::-1][: int(params["top_n"])]
    if fin.size < 2:
        return []
    s = (fin - fin.max()) / float(params["temperature"])
    if params["criterion"] == "hf":
        q = np.exp(s) / np.exp(s).sum()
    else:
        all_fin = (zr[np.isfinite(zr)] - fin.max()) / float(params["temperature"])
        q = np.exp(s) / np.exp(all_fin).sum()
    q = q[q > 2.0**-100]
    terms = -q * np.log(q)
    cum = np.cumsum(terms)
    if cum[-1] <= 0:
        return []
    return [float(c / cum[-1]) for c in cum[:-1]]


def _eta_epsilon(t: float, zr: Any) -> float:
    """An epsilon whose eta threshold min(eps, sqrt(eps) e^-H) equals ``t`` when one exists."""
    fin = zr[np.isfinite(zr)]
    e = np.exp(fin - fin.max())
    p = e / e.sum()
    h = float(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)))
    if t <= math.exp(-2 * h):
        return t
    eps = (t * math.exp(h)) ** 2
    return eps if 0 < eps < 1 else t


@st.composite
def _filter_case(draw: st.DrawFn, spec: MethodSpec, dtype: str, small: bool = False) -> Case:
    batch, v = draw(batch_and_vocab(small=small))
    z = draw(logits_for((*batch, v), dtype), label="logits")
    r = row0(z)
    probs = probs_sorted(r)
    m = draw(min_keep(v), label="min_tokens_to_keep")
    params: dict[str, Any] = {"min_tokens_to_keep": m}
    mid = spec.id
    if mid == "top_k_filter":
        kind = draw(st.integers(0, 7))
        params["k"] = draw(st.integers(1, max(1, v - 1))) if kind < 6 else (v if kind == 6 else v + draw(
            st.integers(1, 3)))
        params["ties"] = draw(st.sampled_from(["keep", "exact"]))
    elif mid == "top_p_filter":
        cuts = [float(c) for c in np.cumsum(probs)[:-1]]
        params["p"] = draw(pick(cuts, 0.0, 1.0, [0.0, 1.0]), label="p")
    elif mid == "min_p_filter":
        ratios = [float(x) for x in probs[1:] / probs[0]] if probs.size else []
        params["min_p"] = draw(pick(ratios, 0.0, 1.0, [0.0, 1.0], log_scale=True), label="min_p")
    elif mid == "typical_filter":
        params["mass"] = draw(pick(_typical_cuts(r), 0.0, 1.0, [0.5, 0.9]), label="mass")
    elif mid == "epsilon_filter":
        params["epsilon"] = draw(pick([float(x) for x in probs], 1e-6, 1.0, [0.5, 0.01], log_scale=True),
                                 label="epsilon")
    elif mid == "eta_filter":
        t = draw(pick([float(x) for x in probs], 1e-6, 1.0, [0.5, 0.01], log_scale=True), label="target")
        params["epsilon"] = _eta_epsilon(t, r) if r.size else t
    elif mid == "top_h_filter":
        kind = draw(st.integers(0, 3))
        params["top_n"] = 100 if kind < 2 else draw(st.integers(1, v + (2 if kind == 3 else 0)))
        params["criterion"] = draw(st.sampled_from(["hf", "official"]))
        params["temperature"] = draw(st.sampled_from([1.0, 0.5, 2.0, 1.0, 0.75]))
        params["alpha"] = draw(pick(_toph_cuts(r, params), 0.0, 1.0, [1.0]), label="alpha")
        if not 0 < params["alpha"] <= 1:
            params["alpha"] = 0.5
    else:
        raise KeyError(mid)
    return Case({"logits": z}, params, {"...": batch, "V": v})


def _typical_resolved(case: Case) -> bool:
    """No two distinct typicality scores of a row closer than the spec's resolution (unordered pairs)."""
    z = np.asarray(case.inputs["logits"], dtype=np.float64)
    for r in z.reshape(-1, z.shape[-1]):
        f = r[np.isfinite(r)]
        e = np.exp(f - f.max())
        p = e / e.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = np.log(p)
            h = float(-np.sum(np.where(p > 0, p * logp, 0.0)))
        s = np.sort(np.abs(-logp - h))
        gaps = np.diff(s)
        if np.any((gaps > 0) & (gaps < TYPICAL_SCORE_RESOLUTION * (1.0 + h + float(np.max(np.abs(logp)))))):
            return False
    return True


def _typical_case(spec: MethodSpec, dtype: str, small: bool = False) -> st.SearchStrategy[Case]:
    return _filter_case(spec, dtype, small).filter(_typical_resolved)


CASES: dict[str, Callable[..., Any]] = {
    m: _filter_case for m in ("top_k_filter", "top_p_filter", "min_p_filter", "typical_filter", "epsilon_filter",
                              "eta_filter", "top_h_filter")
}
CASES["typical_filter"] = _typical_case


def _lg(*ps: float) -> list[float]:
    return [math.log(p) if p > 0 else NEG for p in ps]


def _kept_logits(z: list[float], keep: list[bool]) -> list[float]:
    return [x if k else NEG for x, k in zip(z, keep, strict=True)]


_P4 = _lg(0.5, 0.25, 0.125, 0.125)  # sorted masses 1/2, 3/4, 7/8, 1: exact in binary
_Q = _lg(0.125, 0.5, 0.125, 0.25)  # the same masses, shuffled
_TIE = [2.0, 1.0, 1.0, 0.0]

CURATED: dict[str, tuple[Curated, ...]] = {
    "top_k_filter": (
        Curated("k=2 ties keep", "logits [2, 1, 1, 0], k = 2: the 2nd largest is 1 and both 1s tie, so ties='keep' "
                "keeps three", {"logits": _TIE}, {"k": 2}, {"logits": _kept_logits(_TIE, [True, True, True, False])}),
        Curated("k=2 ties exact", "same row, ties='exact': exactly two, the tie broken to the lowest index (1)",
                {"logits": _TIE}, {"k": 2, "ties": "exact"},
                {"logits": _kept_logits(_TIE, [True, True, False, False])}),
        Curated("min_tokens_to_keep binds", "k = 1 but min_tokens_to_keep = 3: k_eff = max(1, 3) = 3 most probable "
                "of [0.5, 3, 2, 1]", {"logits": [0.5, 3.0, 2.0, 1.0]}, {"k": 1, "min_tokens_to_keep": 3},
                {"logits": [NEG, 3.0, 2.0, 1.0]}),
        Curated("-inf inside", "[-inf, 1, 0, 2], k = 2: the two largest finite are 2 and 1",
                {"logits": [NEG, 1.0, 0.0, 2.0]}, {"k": 2}, {"logits": [NEG, 1.0, NEG, 2.0]}),
    ),
    "top_p_filter": (
        Curated("crossing token kept", "masses [1/8, 1/2, 1/8, 1/4] sorted 1/2, 1/4, 1/8, 1/8; p = 0.6: mass before "
                "the 1/4 token is 1/2 < 0.6, so it is kept (crossing); before the next 3/4 >= 0.6", {"logits": _Q},
                {"p": 0.6}, {"logits": _kept_logits(_Q, [False, True, False, True])}),
        Curated("p equals a cumulative mass", "four equal logits: masses exactly 1/4 each; p = 1/2 = mass of the "
                "first two, so the third (1/2 before it, not < 1/2) is removed (transformers #18976)",
                {"logits": [0.0] * 4}, {"p": 0.5}, {"logits": [0.0, 0.0, NEG, NEG]}),
        Curated("four-way tie", "four equal logits, p = 0.6: before the 3rd token 1/2 < 0.6 (kept), before the 4th "
                "3/4 (removed); ties go to the lowest index", {"logits": [0.0] * 4}, {"p": 0.6},
                {"logits": [0.0, 0.0, 0.0, NEG]}),
        Curated("tie at the cut", "masses 1/2, 1/8, 1/8, 1/4 sorted: 1/2, 1/4, then two tied 1/8; p = 0.8: before the "
                "first 1/8 is 3/4 < 0.8 (kept), before the second 7/8 (removed): the lowest index wins the tie",
                {"logits": _Q}, {"p": 0.8}, {"logits": _kept_logits(_Q, [True, True, False, True])}),
        Curated("min_tokens_to_keep binds", "p = 0.3 keeps only the 1/2 token, min_tokens_to_keep = 3 forces the top "
                "three (1/2, 1/4 and the lowest-index 1/8)", {"logits": _Q}, {"p": 0.3, "min_tokens_to_keep": 3},
                {"logits": _kept_logits(_Q, [True, True, False, True])}),
        Curated("-inf entry", "masses 1/2, 1/4, 1/4 and a -inf; p = 0.7: before the second 1/4 is 3/4 >= 0.7",
                {"logits": [*_lg(0.25, 0.5), NEG, math.log(0.25)]}, {"p": 0.7},
                {"logits": [math.log(0.25), math.log(0.5), NEG, NEG]}),
    ),
    "min_p_filter": (
        Curated("threshold mid", "logits [0, -1, -2, -3]: p/p_max = e^0, e^-1, e^-2, e^-3; min_p = e^-1.5 keeps two",
                {"logits": [0.0, -1.0, -2.0, -3.0]}, {"min_p": math.exp(-1.5)}, {"logits": [0.0, -1.0, NEG, NEG]}),
        Curated("at the threshold kept", "p = 1/2, 1/4, 1/4 of the max... ratios 1, 1/2, 1/4; min_p = 1/2: the 1/2 "
                "token is not < 1/2, kept", {"logits": _lg(0.5, 0.25, 0.125, 0.125)}, {"min_p": 0.5},
                {"logits": [math.log(0.5), math.log(0.25), NEG, NEG]}),
        Curated("-inf entry", "[0, -inf, -1, -3], min_p = e^-2: ratios 1, 0, e^-1, e^-3; e^-3 < e^-2 goes",
                {"logits": [0.0, NEG, -1.0, -3.0]}, {"min_p": math.exp(-2.0)}, {"logits": [0.0, NEG, -1.0, NEG]}),
        Curated("min_tokens_to_keep binds", "min_p = 1 keeps only the max; min_tokens_to_keep = 3 forces three",
                {"logits": [0.0, -1.0, -2.0, -3.0]}, {"min_p": 1.0, "min_tokens_to_keep": 3},
                {"logits": [0.0, -1.0, -2.0, NEG]}),
    ),
    "typical_filter": (
        Curated("mode removed", "p = [0.4, 0.15 x 4]: H = 0.367 + 1.138 = 1.505; scores |0.916 - 1.505| = 0.589 (mode) "
                "and |1.897 - 1.505| = 0.392: the 0.15 tokens are more typical; cum 0.15, 0.30, 0.45, 0.60 so "
                "#(cum < 0.5) = 3 and the four tied 0.15 tokens are kept, the mode removed",
                {"logits": _lg(0.4, 0.15, 0.15, 0.15, 0.15)}, {"mass": 0.5},
                {"logits": [NEG, *_lg(0.15, 0.15, 0.15, 0.15)]}),
        Curated("one token", "p = [0.7, 0.1, 0.1, 0.1]: H = 0.94; scores |0.357 - 0.94| = 0.58 and |2.30 - 0.94| = "
                "1.36: the mode is most typical, mass 0.5 < 0.7 keeps it alone",
                {"logits": _lg(0.7, 0.1, 0.1, 0.1)}, {"mass": 0.5}, {"logits": [math.log(0.7), NEG, NEG, NEG]}),
        Curated("near-tie resolved", "z = [0, 2^-10, -4, -4]: p = 0.49077, 0.49125, 0.00899 x 2, H = 0.78321; "
                "scores 0.07143, 0.07241, 3.929 (resolved: 1e-3 apart); mass 0.3 < 0.49077 keeps token 0 alone",
                {"logits": [0.0, 2.0**-10, -4.0, -4.0]}, {"mass": 0.3}, {"logits": [0.0, NEG, NEG, NEG]}),
        Curated("ties kept together", "same row, mass 0.75: cum after the mode 0.7 < 0.75, the next (score-tied) "
                "0.1 tokens are all kept with it", {"logits": _lg(0.7, 0.1, 0.1, 0.1)}, {"mass": 0.75},
                {"logits": _lg(0.7, 0.1, 0.1, 0.1)}),
    ),
    "epsilon_filter": (
        Curated("cut mid", "p = 1/2, 1/4, 1/8, 1/8; eps = 0.2 removes the two 1/8", {"logits": _P4}, {"epsilon": 0.2},
                {"logits": [math.log(0.5), math.log(0.25), NEG, NEG]}),
        Curated("at the threshold kept", "four equal logits: log p = -log 4 exactly = log(1/4); eps = 1/4: not "
                "< 1/4, all kept (a '<=' comparison would keep only the guarded argmax)", {"logits": [0.0] * 4},
                {"epsilon": 0.25}, {"logits": [0.0] * 4}),
        Curated("at the threshold below the top", "logits [ln 2, 0, 0]: p = 1/2, 1/4, 1/4 and log p of the 1/4s is "
                "-2 ln 2 = log(1/4) to the last bit; eps = 1/4: not < 1/4, all kept (a '<=' comparison drops both, "
                "and no tie with the top hides it behind the guard)", {"logits": [math.log(2.0), 0.0, 0.0]},
                {"epsilon": 0.25}, {"logits": [math.log(2.0), 0.0, 0.0]}),
        Curated("guard binds", "eps = 0.9 removes everything but the guard keeps the top min_tokens_to_keep = 2",
                {"logits": _P4}, {"epsilon": 0.9, "min_tokens_to_keep": 2},
                {"logits": [math.log(0.5), math.log(0.25), NEG, NEG]}),
    ),
    "eta_filter": (
        Curated("entropy term binds", "p = 1/2, 1/4, 1/8, 1/8: H = 1.75 ln 2 = 1.213; eps = 0.14: sqrt(0.14) "
                "e^-1.213 = 0.111 < 0.14, so eta = 0.111 < 1/8 keeps all (epsilon alone would drop the 1/8s)",
                {"logits": _P4}, {"epsilon": 0.14}, {"logits": _P4}),
        Curated("cut mid", "p = 1/2, 1/4, 1/8, 1/8: H = 1.75 ln 2 = 1.213; eps = 0.5: sqrt(.5) e^-1.213 = 0.210; "
                "the 1/8 tokens (< 0.210) go, 1/4 stays", {"logits": _P4}, {"epsilon": 0.5},
                {"logits": [math.log(0.5), math.log(0.25), NEG, NEG]}),
        Curated("guard binds", "same row and eps = 0.5 (eta = 0.210 keeps two) with min_tokens_to_keep = 3: the guard "
                "keeps every logit >= the 3rd largest, log(1/8), so both tied 1/8 tokens stay", {"logits": _P4},
                {"epsilon": 0.5, "min_tokens_to_keep": 3}, {"logits": _P4}),
    ),
    "top_h_filter": (
        Curated("uniform 8, alpha 0.45", "uniform over 8: partial entropies m/8 ln 8, budget 0.45 ln 8: floor(3.6) = 3 "
                "kept (lowest indices)", {"logits": [0.0] * 8}, {"alpha": 0.45},
                {"logits": [0.0, 0.0, 0.0, *([NEG] * 5)]}),
        Curated("uniform 8, official", "same with criterion='official' (no renormalisation needed: all 8 are "
                "candidates): 3 kept", {"logits": [0.0] * 8}, {"alpha": 0.45, "criterion": "official"},
                {"logits": [0.0, 0.0, 0.0, *([NEG] * 5)]}),
        Curated("top_n binds", "8 equal logits, top_n = 4: q = 1/4 each, partial entropies m/4 ln 4 <= 0.5 ln 4 "
                "for m <= 2: the two lowest indices", {"logits": [0.0] * 8}, {"alpha": 0.5, "top_n": 4},
                {"logits": [0.0, 0.0, *([NEG] * 6)]}),
        Curated("min_tokens_to_keep binds", "alpha = 0.1 keeps floor(0.8) -> 1 (at least one); min_tokens_to_keep = 4 "
                "forces four", {"logits": [0.0] * 8}, {"alpha": 0.1, "min_tokens_to_keep": 4},
                {"logits": [0.0] * 4 + [NEG] * 4}),
    ),
}


# --------------------------------------------------------------------------- peers (entropy-atlas audit)


def hf_warper(name: str, drop: tuple[str, ...] = ()) -> Callable[[], Callable[..., Any]]:
    """A loader of transformers' ``<name>`` as a filter with our signature: the first positional parameter
    is the warper's first constructor argument, keywords pass through except ``drop`` (our parameters the
    warper does not have, pinned to the value it implies); rows are flattened to (N, V)."""

    def load() -> Callable[..., Any]:
        import torch
        from transformers.generation import logits_process

        cls = getattr(logits_process, name)

        def hf_filter(logits: Any, *args: Any, **kwargs: Any) -> Any:
            warper = cls(*args, **{k: v for k, v in kwargs.items() if k not in drop})
            scores = logits.reshape(-1, logits.shape[-1])
            ids = torch.zeros((scores.shape[0], 1), dtype=torch.long)
            return warper(ids, scores).reshape(logits.shape)

        hf_filter.__name__ = name
        return hf_filter

    return load


def _hf_peer(name: str, drop: tuple[str, ...] = (), **kw: Any) -> Peer:
    return Peer(f"transformers {name}", "transformers", hf_warper(name, drop), backend="torch-cpu",
                dtypes=("float64", "float32"), **kw)


_TIES = ("HF sorts with torch.sort/topk, whose order among tied logits is unspecified; the rule is defined on "
         "values, so any choice among equal logits at the cut is correct")

_EMPTY = ("raises RuntimeError on a batch of 0 rows (torch.distributions.Categorical's argument validation reshapes "
          "the empty tensor; after torch.compile has switched validation off process-wide it returns the empty "
          "output); an empty batch is a legal input with an empty output")

PEERS = {
    "top_p_filter": (_hf_peer("TopPLogitsWarper",
                              accept=("top_p_filter:tie_order", "top_p_filter:hf_drops_underflow"),
                              expect="conventions", reading=_TIES + "; at p = 1 HF also drops tokens whose "
                              "probability underflows to 0 (p = 1 should keep every token of nonzero probability)"),),
    "top_k_filter": (_hf_peer("TopKLogitsWarper", drop=("ties",), params={"ties": "keep"}),),
    "min_p_filter": (_hf_peer("MinPLogitsWarper", accept=("min_p_filter:tie_order",
                                                          "min_p_filter:threshold_underflow"),
                              expect="conventions", reading=_TIES + "; in float32 a min_p · p_max below 2^-149 "
                              "underflows to 0 and keeps tokens whose probability underflows too"),),
    "typical_filter": (_hf_peer("TypicalLogitsWarper"),),
    "epsilon_filter": (_hf_peer("EpsilonLogitsWarper"),),
    "eta_filter": (_hf_peer("EtaLogitsWarper", expect="differs", reading=_EMPTY),),
    "top_h_filter": (_hf_peer("TopHLogitsWarper", drop=("criterion", "top_n", "temperature", "min_tokens_to_keep"),
                              params={"criterion": "hf", "top_n": 100, "temperature": 1.0, "min_tokens_to_keep": 1},
                              accept=("top_h_filter:tie_order",), expect="differs", reading=_EMPTY),),
}
