"""Specs of the peers' samplers (the ``samplers`` group of ``decoding``): llama.cpp's greedy, top-nσ,
XTC and dynamic-temperature samplers.

Semantics are pinned to llama.cpp ``src/llama-sampling.cpp`` at commit
e19fb5f1a30ce42690ad7093ddbd382ac287c9fd (read with the search tools; renamed ``src/llama-sampler.cpp`` later with the
same sampler semantics). llama.cpp keeps a *candidate array* that earlier samplers shrink; here every row carries the
whole vocabulary and a removed candidate is a ``-inf`` logit, so "candidates" are the finite entries unless a spec
says otherwise. Randomness is an input (uniforms); ties in a sort go to the lowest vocabulary index (llama.cpp's
``std::partial_sort`` leaves their order unspecified). Property helpers are NumPy code written from the definitions,
never the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spec.decoding._filters import LOGITS, NEG_INF, int_logits
from spec.model import Branch, MethodSpec, OutputSpec, Paper, Property, PropertyContext, Provenance
from spec.properties import rows
from spec.registry import register

__all__ = ["LLAMA_CPP", "LLAMA_CPP_CODE"]

LLAMA_CPP = "llama.cpp src/llama-sampling.cpp at e19fb5f1a30ce42690ad7093ddbd382ac287c9fd"
LLAMA_CPP_CODE = "ggml-org/llama.cpp:src/llama-sampling.cpp"
HYPERFITTING_2024 = Paper("The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text Generation",
                          2024, "2412.04318")


def _tokens(ctx: PropertyContext, **overrides: Any) -> np.ndarray:
    (tok, *_) = ctx.call(**overrides)
    return np.asarray(tok)


# --------------------------------------------------------------------------- greedy_decode


def _greedy_first_max(ctx: PropertyContext) -> None:
    z = ctx.inputs["logits"]
    tok = _tokens(ctx)
    assert tok.shape == z.shape[:-1], f"token shape {tok.shape} != {z.shape[:-1]}"
    assert np.issubdtype(tok.dtype, np.integer), f"tokens must be integers, got {tok.dtype}"
    zr, tr = rows(z), tok.reshape(-1)
    for r, t in zip(zr, tr, strict=True):
        first = int(np.flatnonzero(r == np.max(r))[0])
        assert int(t) == first, f"token {int(t)} is not the lowest index of the maximum ({first}) in {r}"


def _greedy_monotone_invariance(ctx: PropertyContext) -> None:
    z = int_logits(ctx)
    if z.size == 0:
        ctx.skip("empty batch")
    base = _tokens(ctx, logits=z)
    for transformed in (z * 2.0 + 3.0, z / 4.0 - 1.0):
        assert np.array_equal(_tokens(ctx, logits=transformed), base), "argmax changed under z -> a z + b, a > 0"


def _greedy_fixed(ctx: PropertyContext) -> None:
    z = np.array([[NEG_INF, 1.0, 1.0], [2.0, NEG_INF, 2.0], [-5.0, -4.0, NEG_INF], [0.0, 0.0, 0.0]])
    assert np.array_equal(_tokens(ctx, logits=z), [1, 0, 1, 0]), "ties must go to the lowest index, never to -inf"


def _tie_at_max(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    return any(int(np.sum(r == np.max(r))) > 1 for r in z)


def _max_after_neg_inf(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    tok = np.asarray(outputs[0]).reshape(-1)
    return any(bool(np.isneginf(r[:int(t)]).any()) for r, t in zip(z, tok, strict=True))


def _max_interior(inputs: Mapping[str, Any], params: Mapping[str, Any], outputs: tuple[Any, ...]) -> bool:
    z = rows(np.asarray(inputs["logits"], dtype=np.float64))
    tok = np.asarray(outputs[0]).reshape(-1)
    return any(0 < int(t) < r.size - 1 for r, t in zip(z, tok, strict=True))


register(MethodSpec(
    id="greedy_decode",
    family="decoding",
    kind="decoding",
    summary="Greedy decoding: the argmax of the logits per row (int64), ties to the lowest index.",
    papers=(HYPERFITTING_2024,),
    provenance=Provenance(
        confidence="standard",
        checked_against=f"{LLAMA_CPP} llama_sampler_greedy_apply (scan with a strict '>', so the first maximum "
                        "wins) and llama_sampler_temp_impl (temp <= 0 keeps the first maximum); torch.argmax "
                        "(first occurrence)",
        official_code=LLAMA_CPP_CODE,
        notes="Ties go to the lowest vocabulary index, as llama.cpp's greedy sampler scans the unsorted candidate "
              "array (token order) with a strict comparison, and as torch/numpy argmax return the first "
              "occurrence; GPU top-k kernels may return another tied index. Hyperfitting decodes its hyperfitted "
              "models greedily (its n-gram blocking constraint is a separate logits processor, not part of this "
              "rule).",
    ),
    inputs=(LOGITS,),
    params=(),
    outputs=(OutputSpec("tokens", "argmax index per row (int64), shape logits.shape[:-1]", discrete=True,
                        shape=("...",)),),
    properties=(
        Property("first_max", "the token is the lowest index holding the row maximum", _greedy_first_max),
        Property("increasing_invariance", "the token is invariant to z -> a z + b, a > 0",
                 _greedy_monotone_invariance),
        Property("fixed_rows", "ties to the lowest index; a -inf entry is never chosen", _greedy_fixed),
    ),
    branches=(
        Branch("tie at the max", "a row holds its maximum at two or more positions", _tie_at_max),
        Branch("-inf before the max", "the chosen token comes after a -inf entry", _max_after_neg_inf),
        Branch("interior max", "the chosen token is neither the first nor the last position", _max_interior),
    ),
    degenerate=(
        "ties: the lowest index",
        "a row of only -inf, NaN or +inf logits -> DomainError; V = 0 -> ShapeError",
    ),
))
