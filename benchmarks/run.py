"""Benchmark the hot methods: reference vs accelerated vs the best peer vs the machine's floors.

For each size ``N×V`` (logits of ``N`` rows over a vocabulary of ``V``) and each method
(``entropy_from_logits``, ``cross_entropy``, ``top_p_filter``) this times, in ONE process on the
SAME input tensor:

* the NumPy float64 reference (:mod:`reference.categorical` / :mod:`reference.decoding`) — on the
  first ``--ref-rows`` rows only (default 256) and scaled linearly to ``N`` rows; the table marks
  such rows with ``*`` and the JSON gives ``rows_timed``;
* the accelerated Torch version (:mod:`accelerated.categorical` / :mod:`accelerated.decoding`;
  imported lazily — when a function is not there yet the :mod:`accelerated.torch_fast` kernel is
  timed instead and labelled ``(fallback)``);
* the peers: ``torch.nn.functional.cross_entropy``; HF transformers ``TopPLogitsWarper``; for the
  entropy the eager Torch formula of verl (``logsumexp − Σ softmax·z``),
  ``torch.distributions.Categorical(logits=…).entropy()`` and ``scipy.stats.entropy`` of
  ``scipy.special.softmax`` (row subset, scaled, like the reference);
* two floors on the same tensor: the **bandwidth floor** ``x.sum(-1)`` (one read of the tensor) and
  the **exp floor**, the best of ``torch.logsumexp(x, -1)`` and a row-chunked ``exp``-and-sum (every
  softmax-based method must exponentiate every element once).

Reported per implementation: median (and min) wall time over ``--repeat`` runs (the runs of all
implementations are interleaved round-robin so that load from other processes spreads evenly), the
ratios to both floors, the speed-up over the reference, the ratio to the best peer, the extra peak
memory and that as a fraction of the ``(N, V)`` input, and the agreement with the reference on the
reference's row subset (max abs difference; for top-p the number of differing kept/removed entries).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated()`` minus the allocation before the call.
On CPU the process's resident-set high-water mark: ``malloc`` is told to serve every block of 64 KiB
or more with its own ``mmap`` (``mallopt(M_MMAP_THRESHOLD)``, which also disables glibc's adaptive
threshold), so freed buffers go back to the OS and reuse cannot hide a peak; then before each call
``"5"`` is written to ``/proc/self/clear_refs`` (resets ``VmHWM`` to the current RSS) and the extra
peak is ``VmHWM`` after the call minus ``VmRSS`` before it. This counts NumPy and Torch alike
(including the call's output). Where ``/proc/self/clear_refs`` is not writable the column is empty.

``--backward`` times forward + backward instead (``entropy_from_logits`` and ``cross_entropy``; a fresh
leaf ``x.detach().requires_grad_()`` per call, the thunk returns ``x.grad``): the extra peak then includes
the ``(N, V)`` gradient, and ``peak_fraction_beyond_gradient`` reports the rest as a fraction of the input.

``--lce-sizes N×D×V`` adds the fused linear cross-entropy benchmark (forward + backward w.r.t. ``e`` and
``c``): :func:`accelerated.classification.linear_cross_entropy` against the materialised peer
``F.cross_entropy(e @ c.T, y)`` on the same inputs; the extra peak memory beyond the inputs' gradients
(``dE``, ``dC``) is reported as a fraction of the float32 ``(N, V)`` logits.

Timings are wall-clock on a shared machine: they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["main"]

#: The other decoding filters and ``sample``, each against its transformers peer (see ``_decoding_impls``).
DECODING_METHODS = ("top_k_filter", "min_p_filter", "typical_filter", "epsilon_filter", "eta_filter", "top_h_filter",
                    "sample")
METHODS = ("entropy_from_logits", "cross_entropy", "top_p_filter", *DECODING_METHODS)
DEFAULT_CPU_SIZES = ("4096x32768",)
DEFAULT_CUDA_SIZES = ("4096x32768", "8192x131072")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64}

Thunk = Callable[[], Any]


# --------------------------------------------------------------------------- memory


class _PeakMemory:
    """Extra peak memory of a call: CUDA allocator statistics, or the CPU RSS high-water mark."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = "unavailable"
        self._libc: Any = None
        if device.type == "cuda":
            self.method = "torch.cuda.max_memory_allocated() - memory_allocated() before the call"
            return
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self._read()
        except OSError:
            return
        try:
            self._libc = ctypes.CDLL("libc.so.6")
            self._libc.mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD = 64 KiB (fixed, not adaptive)
            self._libc.mallopt(-1, 1 << 16)  # M_TRIM_THRESHOLD
        except OSError:
            self._libc = None
        self.method = "VmHWM after - VmRSS before (/proc/self/clear_refs reset; mallopt M_MMAP_THRESHOLD=64KiB)"

    def close(self) -> None:
        """Put glibc's thresholds back to their default values (128 KiB; the adaptive rule stays off)."""
        if self._libc is not None:
            self._libc.mallopt(-3, 128 * 1024)
            self._libc.mallopt(-1, 128 * 1024)
            self._libc = None

    @staticmethod
    def _read() -> dict[str, int]:
        out: dict[str, int] = {}
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, val = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(val.split()[0]) * 1024
        return out

    def measure(self, fn: Thunk) -> float | None:
        """Extra peak bytes of ``fn()`` (its output included), or ``None`` if not measurable."""
        if self.method == "unavailable":
            return None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
            out = fn()
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            del out
            return float(max(0, peak - base))
        if self._libc is not None:
            self._libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        base = self._read()["VmRSS"]
        out = fn()
        peak = self._read()["VmHWM"]
        del out
        return float(max(0, peak - base))


# --------------------------------------------------------------------------- implementations


@dataclass
class Impl:
    method: str
    kind: str  # "reference" | "accelerated" | "peer" | "floor"
    label: str
    make: Callable[[torch.Tensor, torch.Tensor], Thunk]  # (logits, target) -> thunk computing the output
    subset: bool = False  # timed on the reference row subset and scaled to N rows
    note: str = ""
    times: list[float] = field(default_factory=list)
    error: str | None = None


def _lazy(module: str, name: str) -> Callable[..., Any] | None:
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return fn if callable(fn) else None


def _np64(x: torch.Tensor) -> np.ndarray[Any, Any]:
    return np.asarray(x.detach().to(torch.float64).cpu().numpy())


def _np_native(x: torch.Tensor) -> np.ndarray[Any, Any]:
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    return np.asarray(x.detach().to(dt).cpu().numpy())


def _call_top_p(fn: Callable[..., Any], x: Any, top_p: float) -> Any:
    try:
        return fn(x, top_p=top_p)
    except TypeError:
        return fn(x, top_p)


def _entropy_impls() -> list[Impl]:
    m = "entropy_from_logits"
    impls: list[Impl] = []
    ref = _lazy("reference.categorical", m)
    if ref is not None:
        impls.append(Impl(m, "reference", "reference.categorical.entropy_from_logits", _ref_maker(ref), subset=True))
    acc = _lazy("accelerated.categorical", m)
    if acc is not None:
        impls.append(Impl(m, "accelerated", "accelerated.categorical.entropy_from_logits", lambda x, t: lambda: acc(x)))
    else:
        impls.append(
            Impl(m, "accelerated", "accelerated.torch_fast.entropy_rows (fallback)", lambda x, t: lambda: _ent_fb(x))
        )
    impls.append(Impl(m, "peer", "torch eager formula (verl)", lambda x, t: lambda: _verl_entropy(x)))
    impls.append(
        Impl(
            m,
            "peer",
            "torch.distributions.Categorical.entropy",
            lambda x, t: lambda: _categorical_entropy(x),
        )
    )
    try:
        import scipy.special
        import scipy.stats

        def scipy_maker(x: torch.Tensor, t: torch.Tensor) -> Thunk:
            xn = _np_native(x)
            return lambda: scipy.stats.entropy(scipy.special.softmax(xn, axis=-1), axis=-1)

        impls.append(Impl(m, "peer", "scipy.stats.entropy(scipy.special.softmax)", scipy_maker, subset=True))
    except ImportError:
        pass
    return impls


def _ent_fb(x: torch.Tensor) -> torch.Tensor:
    from accelerated.torch_fast import entropy_rows

    return entropy_rows(x)


def _categorical_entropy(x: torch.Tensor) -> Any:
    return torch.distributions.Categorical(logits=x, validate_args=False).entropy()  # type: ignore[no-untyped-call]


def _verl_entropy(x: torch.Tensor) -> torch.Tensor:
    pd = torch.softmax(x, dim=-1)
    return torch.logsumexp(x, dim=-1) - torch.sum(pd * x, dim=-1)


def _ref_maker(fn: Callable[..., Any], *, with_target: bool = False, top_p: float | None = None) -> Any:
    def maker(x: torch.Tensor, t: torch.Tensor) -> Thunk:
        xn = _np64(x)
        if top_p is not None:
            return lambda: _call_top_p(fn, xn, top_p)
        if with_target:
            tn = t.cpu().numpy()
            return lambda: fn(xn, tn)
        return lambda: fn(xn)

    return maker


def _ce_impls() -> list[Impl]:
    m = "cross_entropy"
    impls: list[Impl] = []
    ref = _lazy("reference.categorical", m)
    if ref is not None:
        impls.append(
            Impl(m, "reference", "reference.categorical.cross_entropy", _ref_maker(ref, with_target=True), subset=True)
        )
    acc = _lazy("accelerated.categorical", m)
    if acc is not None:
        impls.append(Impl(m, "accelerated", "accelerated.categorical.cross_entropy", lambda x, t: lambda: acc(x, t)))
    else:
        impls.append(
            Impl(
                m,
                "accelerated",
                "accelerated.torch_fast.logsumexp_rows - gather (fallback)",
                lambda x, t: lambda: _ce_fb(x, t),
            )
        )
    impls.append(
        Impl(
            m, "peer", "torch.nn.functional.cross_entropy", lambda x, t: lambda: torch.nn.functional.cross_entropy(x, t)
        )
    )
    return impls


def _ce_fb(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    from accelerated.torch_fast import logsumexp_rows

    picked = x.gather(-1, t.unsqueeze(-1)).squeeze(-1).to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    return (logsumexp_rows(x) - picked).mean()


def _top_p_impls(top_p: float) -> list[Impl]:
    m = "top_p_filter"
    impls: list[Impl] = []
    ref = _lazy("reference.decoding", m)
    if ref is not None:
        impls.append(Impl(m, "reference", "reference.decoding.top_p_filter", _ref_maker(ref, top_p=top_p), subset=True))
    acc = _lazy("accelerated.decoding", m)
    if acc is not None:
        impls.append(
            Impl(m, "accelerated", "accelerated.decoding.top_p_filter", lambda x, t: lambda: _call_top_p(acc, x, top_p))
        )
    try:
        from transformers import TopPLogitsWarper

        warper = TopPLogitsWarper(top_p=top_p)

        def hf_maker(x: torch.Tensor, t: torch.Tensor) -> Thunk:
            ids = torch.zeros((x.shape[0], 1), dtype=torch.long, device=x.device)
            return lambda: warper(ids, x)

        impls.append(Impl(m, "peer", "transformers TopPLogitsWarper", hf_maker))
    except ImportError:
        pass
    return impls


# --------------------------------------------------------------------------- decoding filters and sample

#: Our parameters, the transformers peer (class name) and its parameters; the same rule on both sides.
_DECODING: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "top_k_filter": ({"k": 50}, "TopKLogitsWarper", {"top_k": 50}),
    "min_p_filter": ({"min_p": 0.1}, "MinPLogitsWarper", {"min_p": 0.1}),
    "typical_filter": ({"mass": 0.9}, "TypicalLogitsWarper", {"mass": 0.9}),
    "epsilon_filter": ({"epsilon": 3e-4}, "EpsilonLogitsWarper", {"epsilon": 3e-4}),
    "eta_filter": ({"epsilon": 3e-4}, "EtaLogitsWarper", {"epsilon": 3e-4}),
    "top_h_filter": ({"alpha": 0.4}, "TopHLogitsWarper", {"top_h": 0.4}),
}
_KEPT_SET_METHODS = frozenset({"top_p_filter", *_DECODING})
_GENERIC = [False]  # --generic: also time the generic array-API path on Torch


def _agree_key(method: str) -> str:
    if method == "sample":
        return "token_mismatches_vs_reference"
    return "kept_mismatches_vs_reference" if method in _KEPT_SET_METHODS else "max_abs_diff_vs_reference"


def _uniforms(t: torch.Tensor, v: int) -> torch.Tensor:
    """One uniform per row, derived from the row's target so that a row subset sees the same values."""
    return (t.to(torch.float64) + 0.5) / v


def _decoding_impls(m: str) -> list[Impl]:
    """Reference (row subset), ours, the transformers peer and, with ``--generic``, our generic path."""
    impls: list[Impl] = []
    ours, peer_name, peer_kw = _DECODING.get(m, ({}, "", {}))
    ref, acc = _lazy("reference.decoding", m), _lazy("accelerated.decoding", m)

    def call(fn: Callable[..., Any], x: Any, t: Any, v: int) -> Thunk:
        if m == "sample":
            u = _uniforms(t, v)
            uu = u.numpy() if isinstance(x, np.ndarray) else u.to(x.dtype if x.dtype == torch.float64 else
                                                                    torch.float32)
            return lambda: fn(x, uu)
        return lambda: fn(x, **ours)

    if ref is not None:
        impls.append(Impl(m, "reference", f"reference.decoding.{m}",
                          lambda x, t: call(ref, _np64(x), t.cpu(), x.shape[-1]), subset=True))
    if acc is not None:
        impls.append(Impl(m, "accelerated", f"accelerated.decoding.{m}", lambda x, t: call(acc, x, t, x.shape[-1])))
        if _GENERIC[0]:
            impls.append(Impl(m, "generic", f"accelerated.decoding.{m} generic path (before _fast)",
                              lambda x, t: _generic(call(acc, x, t, x.shape[-1]))))
    if m == "sample":
        def multinomial(x: torch.Tensor, t: torch.Tensor) -> Thunk:
            return lambda: torch.multinomial(torch.softmax(x, dim=-1), num_samples=1)

        impls.append(Impl(m, "peer", "transformers generate step: softmax + torch.multinomial", multinomial))
        return impls
    try:
        import transformers

        warper = getattr(transformers, peer_name)(**peer_kw)

        def hf_maker(x: torch.Tensor, t: torch.Tensor) -> Thunk:
            ids = torch.zeros((x.shape[0], 1), dtype=torch.long, device=x.device)
            return lambda: warper(ids, x)

        impls.append(Impl(m, "peer", f"transformers {peer_name}", hf_maker))
    except (ImportError, AttributeError):
        pass
    return impls


def _generic(thunk: Thunk) -> Thunk:
    def run() -> Any:
        from accelerated.decoding import _fast

        _fast.ENABLED = False
        try:
            return thunk()
        finally:
            _fast.ENABLED = True

    return run


class _OtherLoad:
    """Fraction of the machine's CPU time used by OTHER processes since construction (``None`` if unknown).

    Chunked kernels issue many short multi-threaded ops; when another process holds a core, each op waits
    for its descheduled thread, so timings taken under load are not meaningful. This records how busy the
    machine was, from ``/proc/stat`` (all busy jiffies) minus this process's own CPU time.
    """

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0 = self._busy()
        self.own0 = self._own()

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as fh:
                f = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        idle = f[3] + (f[4] if len(f) > 4 else 0)
        return (sum(f[:8]) - idle) / tick

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system

    def fraction(self) -> float | None:
        busy = self._busy()
        wall = time.perf_counter() - self.t0
        if busy is None or self.busy0 is None or wall <= 0:
            return None
        other = (busy - self.busy0) - (self._own() - self.own0)
        return max(0.0, other / (wall * (os.cpu_count() or 1)))


def _floor_impls(v: int, device: torch.device) -> list[Impl]:
    budget = (1 << 22) if device.type == "cuda" else (1 << 18)  # elements per chunk
    rows = max(1, budget // max(1, v))

    def chunked_maker(x: torch.Tensor, t: torch.Tensor) -> Thunk:
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        buf = torch.empty((min(rows, x.shape[0]), v), dtype=acc, device=x.device)
        out = torch.empty(x.shape[0], dtype=acc, device=x.device)

        def run() -> torch.Tensor:
            for xc, oc in zip(torch.split(x, rows), torch.split(out, rows), strict=True):
                b = buf if xc.shape[0] == buf.shape[0] else buf[: xc.shape[0]]
                torch.exp(xc, out=b)
                torch.sum(b, -1, out=oc)
            return out

        return run

    return [
        Impl("floor", "floor", "bandwidth: x.sum(-1)", lambda x, t: lambda: x.sum(-1)),
        Impl("floor", "floor", "exp: torch.logsumexp(x, -1)", lambda x, t: lambda: torch.logsumexp(x, -1)),
        Impl("floor", "floor", f"exp: chunked exp-and-sum ({rows} rows)", chunked_maker),
    ]


# --------------------------------------------------------------------------- comparison


def _to_np(out: Any) -> np.ndarray[Any, Any]:
    if isinstance(out, tuple):
        out = out[0]
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu()
        out = out.numpy() if out.dtype == torch.bool else out.to(torch.float64).numpy()
    return np.asarray(out)


def _agreement(method: str, out: Any, ref: Any) -> float | None:
    a, r = _to_np(out), _to_np(ref)
    if a.shape != r.shape:
        return None
    if method == "sample":
        return float(np.count_nonzero(a != r))
    if method in _KEPT_SET_METHODS:
        ka = a if a.dtype == np.bool_ else np.isfinite(a)
        kr = r if r.dtype == np.bool_ else np.isfinite(r)
        return float(np.count_nonzero(ka != kr))
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - r.astype(np.float64))))


# --------------------------------------------------------------------------- running


def _parse_size(s: str) -> tuple[int, int]:
    parts = s.lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"size must look like 4096x32768, got {s!r}")
    n, v = int(parts[0]), int(parts[1])
    if n < 1 or v < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {s!r}")
    return n, v


def _parse_lce_size(s: str) -> tuple[int, int, int]:
    parts = s.lower().replace("×", "x").split("x")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"size must look like 8192x2048x32768 (N x D x V), got {s!r}")
    n, d, v = (int(p) for p in parts)
    if min(n, d, v) < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {s!r}")
    return n, d, v


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or not math.isfinite(a) or not math.isfinite(b):
        return None
    return a / b


def _bench_size(
    n: int,
    v: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    methods: Sequence[str],
    repeat: int,
    ref_rows: int,
    ref_repeat: int,
    top_p: float,
    seed: int,
    mem: _PeakMemory,
    log: Callable[[str], None],
    backward: bool = False,
) -> dict[str, Any]:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = (torch.randn((n, v), generator=gen) * 2.0).to(dtype=dtype, device=device)
    t = torch.randint(0, v, (n,), generator=gen).to(device)
    r = min(n, ref_rows)
    xs, ts = x[:r], t[:r]

    impls = _floor_impls(v, device)
    for m in methods:
        if m == "entropy_from_logits":
            impls += _entropy_impls()
        elif m == "cross_entropy":
            impls += _ce_impls()
        elif m == "top_p_filter":
            impls += _top_p_impls(top_p)
        elif m in DECODING_METHODS:
            impls += _decoding_impls(m)
    if backward:
        impls = _with_backward(impls)

    gc.collect()
    gc.freeze()  # later gc.collect() calls (one per memory measurement) then skip the long-lived heap
    load = _OtherLoad()
    try:
        res = _bench_impls(
            impls,
            x,
            t,
            xs,
            ts,
            n=n,
            v=v,
            r=r,
            device=device,
            dtype=dtype,
            repeat=repeat,
            ref_repeat=ref_repeat,
            methods=methods,
            mem=mem,
            log=log,
        )
    finally:
        gc.unfreeze()
    res["other_processes_cpu_fraction"] = load.fraction()
    res["backward"] = backward
    if backward:
        for row in res["rows"]:
            frac = row.get("peak_fraction_of_input")
            grad = row["impl"] != "floor"
            row["peak_fraction_beyond_gradient"] = None if frac is None or not grad else frac - 1.0
    return res


def _with_backward(impls: list[Impl]) -> list[Impl]:
    """Forward + backward versions of the differentiable Torch implementations (floors kept as they are)."""
    out: list[Impl] = []
    for im in impls:
        if im.kind == "floor":
            out.append(im)
            continue
        if im.kind == "reference" or im.subset or im.method not in ("entropy_from_logits", "cross_entropy"):
            continue  # NumPy implementations have no backward

        def make(x: torch.Tensor, t: torch.Tensor, _inner: Callable[..., Thunk] = im.make) -> Thunk:
            def run() -> torch.Tensor | None:
                leaf = x.detach().requires_grad_(True)
                out = _inner(leaf, t)()
                out = out.sum() if out.ndim else out
                out.backward()
                return leaf.grad

            return run

        out.append(Impl(im.method, im.kind, im.label + " [fwd+bwd]", make, note=im.note))
    return out


def _bench_impls(
    impls: list[Impl],
    x: torch.Tensor,
    t: torch.Tensor,
    xs: torch.Tensor,
    ts: torch.Tensor,
    *,
    n: int,
    v: int,
    r: int,
    device: torch.device,
    dtype: torch.dtype,
    repeat: int,
    ref_repeat: int,
    methods: Sequence[str],
    mem: _PeakMemory,
    log: Callable[[str], None],
) -> dict[str, Any]:
    tensor_bytes = x.numel() * x.element_size()
    thunks: dict[int, Thunk] = {}
    refs_sub: dict[str, Any] = {}
    agree: dict[int, float | None] = {}
    peaks: dict[int, float | None] = {}
    for i, im in enumerate(impls):
        try:
            thunks[i] = im.make(xs, ts) if im.subset else im.make(x, t)
            thunks[i]()  # warm-up (lazy initialisation, first-touch of buffers)
            _sync(device)
            peaks[i] = mem.measure(thunks[i])
            if im.kind == "reference":
                refs_sub[im.method] = thunks[i]() if im.subset else im.make(xs, ts)()
        except Exception as exc:  # a benchmark reports a broken implementation rather than dying
            im.error = f"{type(exc).__name__}: {exc}"
            thunks.pop(i, None)
            log(f"  ! {im.method} / {im.label}: {im.error}")
    for i, im in enumerate(impls):
        if i in thunks and im.kind != "floor" and im.method in refs_sub:
            try:
                out = thunks[i]() if im.subset else im.make(xs, ts)()
                agree[i] = _agreement(im.method, out, refs_sub[im.method])
            except Exception as exc:
                agree[i] = None
                log(f"  ! agreement {im.method} / {im.label}: {type(exc).__name__}: {exc}")

    for k in range(repeat):
        for i, im in enumerate(impls):
            if i not in thunks or (im.subset and k >= ref_repeat):
                continue
            _sync(device)
            t0 = time.perf_counter()
            out = thunks[i]()
            _sync(device)
            im.times.append(time.perf_counter() - t0)
            del out

    scale = n / r
    ms: dict[int, float | None] = {}
    for i, im in enumerate(impls):
        med = _median(im.times)
        ms[i] = None if med is None else med * 1e3 * (scale if im.subset else 1.0)
    floor_ms = {im.label: ms[i] for i, im in enumerate(impls) if im.kind == "floor"}
    bw = next((v_ for k_, v_ in floor_ms.items() if k_.startswith("bandwidth")), None)
    exp_candidates = [v_ for k_, v_ in floor_ms.items() if k_.startswith("exp") and v_ is not None]
    expf = min(exp_candidates) if exp_candidates else None

    rows_out: list[dict[str, Any]] = []
    for m in ["floor", *methods]:
        agree_key = _agree_key(m)
        idx = [i for i, im in enumerate(impls) if im.method == m]
        ref_ms = next((ms[i] for i in idx if impls[i].kind == "reference"), None)
        peer_ms = [ms[i] for i in idx if impls[i].kind == "peer" and ms[i] is not None]
        best_peer = min(peer_ms) if peer_ms else None  # type: ignore[type-var]
        for i in idx:
            im = impls[i]
            peak = peaks.get(i)
            if peak is not None and im.subset:
                peak *= scale
            rows_out.append(
                {
                    "method": im.method,
                    "impl": im.kind,
                    "label": im.label,
                    "median_ms": ms[i],
                    "min_ms": None if not im.times else min(im.times) * 1e3 * (scale if im.subset else 1.0),
                    "runs": len(im.times),
                    "rows_timed": r if im.subset else n,
                    "scaled": im.subset and r < n,
                    "ratio_bandwidth_floor": _ratio(ms[i], bw),
                    "ratio_exp_floor": _ratio(ms[i], expf),
                    "speedup_vs_reference": _ratio(ref_ms, ms[i]),
                    "ratio_vs_best_peer": _ratio(ms[i], best_peer),
                    "peak_extra_mib": None if peak is None else peak / 2**20,
                    "peak_fraction_of_input": None if peak is None else peak / tensor_bytes,
                    agree_key: agree.get(i),
                    "error": im.error,
                }
            )
    return {
        "size": f"{n}x{v}",
        "N": n,
        "V": v,
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(device),
        "input_mib": tensor_bytes / 2**20,
        "reference_rows": r,
        "floors": {"bandwidth_ms": bw, "exp_ms": expf, "all": floor_ms},
        "rows": rows_out,
    }


def _bench_lce(n: int, d: int, v: int, *, dtype: torch.dtype, device: torch.device, repeat: int, seed: int,
               mem: _PeakMemory, log: Callable[[str], None]) -> dict[str, Any]:
    """linear_cross_entropy forward + backward (w.r.t. e and c) against ``F.cross_entropy(e @ c.T, y)``."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    e = (torch.randn((n, d), generator=gen) / math.sqrt(d)).to(dtype=dtype, device=device)
    c = torch.randn((v, d), generator=gen).to(dtype=dtype, device=device)
    y = torch.randint(0, v, (n,), generator=gen).to(device)
    logits_bytes = n * v * 4
    grad_bytes = (e.numel() * e.element_size() + c.numel() * c.element_size())
    acc = _lazy("accelerated.classification", "linear_cross_entropy")

    def step(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Thunk:
        def run() -> tuple[torch.Tensor, Any, Any]:
            ee, cc = e.detach().requires_grad_(True), c.detach().requires_grad_(True)
            loss = fn(ee, cc)
            loss.backward()  # type: ignore[no-untyped-call]
            return loss.detach(), ee.grad, cc.grad

        return run

    impls: list[tuple[str, str, Thunk]] = []
    if acc is not None:
        impls.append(("accelerated", "accelerated.classification.linear_cross_entropy [fwd+bwd]",
                      step(lambda ee, cc: acc(ee, cc, y))))
    impls.append(("peer", "F.cross_entropy(e @ c.T, y) [fwd+bwd]",
                   step(lambda ee, cc: torch.nn.functional.cross_entropy((ee @ cc.T).float(), y))))
    rows: list[dict[str, Any]] = []
    outs: dict[str, Any] = {}
    times: dict[str, list[float]] = {label: [] for _, label, _ in impls}
    peaks: dict[str, float | None] = {}
    errors: dict[str, str | None] = {label: None for _, label, _ in impls}
    load = _OtherLoad()
    for _, label, th in impls:
        try:
            outs[label] = th()
            _sync(device)
            peaks[label] = mem.measure(th)
        except Exception as exc:  # report a broken implementation rather than dying
            errors[label] = f"{type(exc).__name__}: {exc}"
            log(f"  ! linear_cross_entropy / {label}: {errors[label]}")
    for _ in range(repeat):
        for _, label, th in impls:
            if errors[label] is not None:
                continue
            _sync(device)
            t0 = time.perf_counter()
            out = th()
            _sync(device)
            times[label].append(time.perf_counter() - t0)
            del out
    peer_label = impls[-1][1]
    peer_ms = _median(times[peer_label])
    peer_out = outs.get(peer_label)
    for kind, label, _ in impls:
        med = _median(times[label])
        ms = None if med is None else med * 1e3
        peak = peaks.get(label)
        diff = None
        if peer_out is not None and label in outs and label != peer_label:
            diff = max(float((a.double() - b.double()).abs().max()) for a, b in zip(outs[label], peer_out, strict=True))
        rows.append({
            "method": "linear_cross_entropy", "impl": kind, "label": label, "median_ms": ms,
            "runs": len(times[label]),
            "ratio_vs_peer": _ratio(ms, None if peer_ms is None else peer_ms * 1e3),
            "peak_extra_mib": None if peak is None else peak / 2**20,
            "peak_beyond_grads_fraction_of_logits": None if peak is None else (peak - grad_bytes) / logits_bytes,
            "max_abs_diff_vs_peer": diff, "error": errors[label],
        })
    return {"size": f"{n}x{d}x{v}", "N": n, "D": d, "V": v, "dtype": str(dtype).removeprefix("torch."),
            "device": str(device), "logits_mib": logits_bytes / 2**20, "grads_mib": grad_bytes / 2**20,
            "method": "linear_cross_entropy", "rows": rows, "other_processes_cpu_fraction": load.fraction()}


def _lce_table(res: dict[str, Any]) -> str:
    head = (f"== linear_cross_entropy {res['size']} (N×D×V) {res['dtype']} on {res['device']} — float32 logits "
            f"{res['logits_mib']:.0f} MiB, gradients dE+dC {res['grads_mib']:.0f} MiB; other processes used "
            f"{_fmt(_pct(res.get('other_processes_cpu_fraction')), '.0f')}% of the CPUs")
    cols = f"{'impl':<11} {'label':<58} {'median ms':>10} {'vs peer':>8} {'extra MiB':>10} "
    cols += f"{'beyond grads ×logits':>21} {'max |Δ|':>9}"
    lines = [head, cols, "-" * len(cols)]
    for r in res["rows"]:
        if r["error"]:
            lines.append(f"{r['impl']:<11} {r['label'][:58]:<58} ERROR {r['error'][:80]}")
            continue
        lines.append(f"{r['impl']:<11} {r['label'][:58]:<58} {_fmt(r['median_ms'], '10.1f')} "
                     f"{_fmt(r['ratio_vs_peer'], '8.2f')} {_fmt(r['peak_extra_mib'], '10.1f')} "
                     f"{_fmt(r['peak_beyond_grads_fraction_of_logits'], '21.4f')} "
                     f"{_fmt(r['max_abs_diff_vs_peer'], '9.2g')}")
    return "\n".join(lines)


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


def _table(res: dict[str, Any]) -> str:
    head = (
        f"== {res['size']} {res['dtype']} on {res['device']} — input {res['input_mib']:.0f} MiB; "
        f"bandwidth floor {_fmt(res['floors']['bandwidth_ms'], '.2f')} ms, "
        f"exp floor {_fmt(res['floors']['exp_ms'], '.2f')} ms; "
        f"other processes used {_fmt(_pct(res.get('other_processes_cpu_fraction')), '.0f')}% of the CPUs"
    )
    cols = f"{'method':<20} {'impl':<11} {'label':<58} {'median ms':>10} {'×bw':>7} {'×exp':>7} "
    cols += f"{'vs ref':>8} {'vs peer':>8} {'extra MiB':>10} {'×input':>8} {'agree':>9}"
    lines = [head, cols, "-" * len(cols)]
    for row in res["rows"]:
        label = row["label"] + (" *" if row["scaled"] else "")
        agree = row.get(_agree_key(row["method"])) if row["method"] != "floor" else None
        if row["error"]:
            lines.append(f"{row['method']:<20} {row['impl']:<11} {label[:58]:<58} ERROR {row['error'][:80]}")
            continue
        lines.append(
            f"{row['method']:<20} {row['impl']:<11} {label[:58]:<58} {_fmt(row['median_ms'], '10.2f')} "
            f"{_fmt(row['ratio_bandwidth_floor'], '7.2f')} {_fmt(row['ratio_exp_floor'], '7.2f')} "
            f"{_fmt(row['speedup_vs_reference'], '8.1f')} {_fmt(row['ratio_vs_best_peer'], '8.2f')} "
            f"{_fmt(row['peak_extra_mib'], '10.1f')} {_fmt(row['peak_fraction_of_input'], '8.4f')} "
            f"{_fmt(agree, '9.2g')}"
        )
    lines.append(
        f"* timed on the first {res['reference_rows']} rows and scaled ×{res['N'] / res['reference_rows']:.0f} "
        "(time and memory). vs ref = reference ms / this ms; vs peer = this ms / best peer ms; "
        "agree = max |Δ| vs reference on its rows (filters: differing kept entries; sample: differing tokens)."
    )
    return "\n".join(lines)


def _meta(mem_method: str, args: argparse.Namespace) -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "memory_method": mem_method,
        "repeat": args.repeat,
        "reference_repeat": args.ref_repeat,
        "statistic": "median of interleaved runs",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if torch.cuda.is_available():
        meta["cuda_device"] = torch.cuda.get_device_name(0)
    return meta


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="entropy-atlas bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", nargs="+", type=_parse_size, help="N×V sizes, e.g. 4096x32768 (default per device)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per implementation (default 5)")
    p.add_argument("--ref-repeat", type=int, default=2, help="timed runs of the slow row-subset ones (default 2)")
    p.add_argument("--ref-rows", type=int, default=256, help="rows the reference/scipy see (default 256)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cpu, plus cuda if present")
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--generic", action="store_true",
                   help="also time the generic array-API path of the decoding methods on Torch (the code before "
                        "accelerated.decoding._fast; slow: full sorts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backward", action="store_true", help="time forward + backward (entropy, cross-entropy)")
    p.add_argument("--lce-sizes", nargs="+", type=_parse_lce_size, default=[], metavar="NxDxV",
                   help="also benchmark linear_cross_entropy (fwd+bwd) at these N×D×V sizes")
    p.add_argument("--lce-only", action="store_true", help="run only the --lce-sizes benchmark")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON here")
    p.add_argument("--quiet", action="store_true", help="print only the tables")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns a process exit code (0 on success, 2 on a usage error)."""
    args = _parser().parse_args(argv)
    if args.repeat < 1 or args.ref_repeat < 1 or args.ref_rows < 1:
        print("error: --repeat, --ref-repeat and --ref-rows must be >= 1", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    plans: list[tuple[torch.device, list[tuple[int, int]]]] = []
    if args.device in ("auto", "cpu"):
        plans.append((torch.device("cpu"), args.sizes or [_parse_size(s) for s in DEFAULT_CPU_SIZES]))
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        plans.append((torch.device("cuda"), args.sizes or [_parse_size(s) for s in DEFAULT_CUDA_SIZES]))

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    results: list[dict[str, Any]] = []
    mem_methods: dict[str, str] = {}
    _GENERIC[0] = bool(args.generic)
    for device, sizes in plans:
        mem = _PeakMemory(device)
        mem_methods[device.type] = mem.method
        try:
            _run_sizes(device, sizes, mem, args, results, log)
        finally:
            mem.close()
    report = {"meta": _meta("; ".join(f"{k}: {v}" for k, v in mem_methods.items()), args), "results": results}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(_finite(report), fh, indent=2, allow_nan=False, default=_json_default)
    return 0


def _run_sizes(
    device: torch.device,
    sizes: Sequence[tuple[int, int]],
    mem: _PeakMemory,
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    log: Callable[[str], None],
) -> None:
    for n, v in [] if args.lce_only else sizes:
        log(f"benchmarking {n}x{v} {args.dtype} on {device} ...")
        res = _bench_size(
            n,
            v,
            dtype=DTYPES[args.dtype],
            device=device,
            methods=args.methods,
            repeat=args.repeat,
            ref_rows=args.ref_rows,
            ref_repeat=args.ref_repeat,
            top_p=args.top_p,
            seed=args.seed,
            mem=mem,
            log=log,
            backward=args.backward,
        )
        results.append(res)
        print(_table(res), flush=True)
        print(flush=True)
    for n, d, v in args.lce_sizes:
        log(f"benchmarking linear_cross_entropy {n}x{d}x{v} {args.dtype} on {device} ...")
        res = _bench_lce(n, d, v, dtype=DTYPES[args.dtype], device=device, repeat=args.repeat, seed=args.seed,
                         mem=mem, log=log)
        results.append(res)
        print(_lce_table(res), flush=True)
        print(flush=True)


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(o: Any) -> Any:
    """The report with every non-finite float replaced by ``None`` (strict JSON)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


if __name__ == "__main__":
    raise SystemExit(main())
