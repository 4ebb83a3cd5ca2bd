"""Torch-only fast paths for the hot row reductions over a large vocabulary.

These kernels do no validation: the generic functions in :mod:`accelerated.categorical` validate
parameters before calling them and check their (small) outputs afterwards. Every kernel reduces
over the last axis of an any-rank tensor, accepts float64/float32/bfloat16/float16 input, returns
float64 for float64 input and float32 otherwise, and keeps extra memory bounded.

How they are fast (eager Torch, so the same code runs on CPU and CUDA tensors):

* **Row chunks in reused buffers.** The ``(N, V)`` input is processed ``C`` rows at a time; every
  elementwise step writes into one or two preallocated ``(C, V)`` compute-dtype buffers with
  ``out=`` / in-place ops, so the input is read from memory once (by the row max) and every later
  pass over the chunk hits the cache. ``C`` is chosen so that one buffer is about 1 MiB on CPU (it
  stays in a core's L2) and about 16 MiB on CUDA, and never more than ``N / 32`` rows for large ``N``,
  so the extra peak memory is at most ``2·C·V`` compute-dtype elements (≤ 1/8 of the input for
  ``N ≥ 32·C``; e.g. 2 MiB for a 512 MiB ``4096 × 32768`` float32 input on CPU). No ``(N, V)``
  temporary is ever allocated. bfloat16/float16 chunks are converted to float32 inside the first
  op of the chunk (``torch.sub`` with a float32 ``out=``), so accumulation is float32.
* **Max-shifted, clamped exponent.** With ``m`` the row max and ``T`` the temperature,
  ``y = max((z − m) / T, y_min)`` and ``e = exp(y)``; ``s = Σ e``; then
  ``logsumexp(z / T) = m / T + log s`` and ``H = log s − Σ e·y / s`` (the max-shifted form of
  ``lse − Σ softmax·z``, which does not cancel two large numbers for peaked rows with large logits).
  ``y_min = −87`` for float32 (``−708`` for float64) is the most negative exponent whose ``exp`` is
  still a *normal* number: clamping there (a) turns ``−inf`` logits into a finite exponent whose
  weight ``e`` is below ``2e-38`` (so ``e·y`` is never ``0·(−inf) = NaN`` and their contribution,
  at most ``V·87·e^{−87}`` relative to ``s ≥ 1``, is far below float32 resolution), and (b) keeps
  ``exp`` and the products out of denormal numbers, which on x86 CPUs make these passes 100–200×
  slower (measured: ``exp`` of a chunk whose exponents lie in ``[−100, −88]`` took 4.3 ms instead
  of 21 µs). The result equals ``logsumexp`` / the entropy with ``p = 0`` for ``−inf`` entries
  (``0·log 0 = 0``) to within ~1e-33 relative.
* **Rows whose entries are all ``−inf``** (and empty rows, ``V = 0``) have no distribution:
  ``logsumexp_rows`` returns ``−inf`` (as ``torch.logsumexp``) and ``entropy_rows`` returns NaN;
  callers validate such rows away. NaN or ``+inf`` logits give NaN (nothing is masked).
* **Autograd.** When ``z`` requires grad (and grad mode is on) the forward runs the same chunked core
  inside a custom ``torch.autograd.Function`` that saves only ``z`` (no copy) and three per-row
  statistics (row max ``m``, ``log s``, and ``H`` for the entropy); its backward recomputes the
  log-softmax ``l = (z − m)/T − log s`` chunk by chunk and writes each chunk's gradient straight into
  ``dz`` (``g·softmax/T`` for ``logsumexp``, ``−g·p(log p + H)/T`` for the entropy), so besides ``dz``
  itself only two ``(C, V)`` compute buffers are live. bfloat16/float16 inputs are computed in float32
  and the gradient is rounded to the input dtype once. ``−inf`` logits get ``p = exp(−inf) = 0`` and
  an exactly zero gradient (``log p`` is clamped before ``p·log p``, so never ``0·∞``). The
  cross-entropy backward (:func:`ce_rows_grad`) works the same way. Inside ``torch.compile`` the plain
  eager formula is differentiated instead (see ``CHUNKED_UNDER_COMPILE``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import torch

__all__ = ["ce_rows_grad", "chunked_autograd", "dot_rows", "entropy_rows", "logsumexp_rows", "logsumexp_stats"]

# One compute buffer holds about this many bytes (1 MiB fits a CPU core's L2 with room for the input chunk).
_CPU_CHUNK_BYTES = 1 << 20
_CUDA_CHUNK_BYTES = 1 << 24
# For large inputs a chunk never exceeds N / _MIN_CHUNKS rows (bounds the buffers to ≤ 1/8 of the input).
_MIN_CHUNKS = 32
# Most negative exponent whose exp is a normal number (see the module docstring).
_EXP_FLOOR = {torch.float32: -87.0, torch.float64: -708.0}


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _chunk_rows(n: int, v: int, acc: torch.dtype, device: torch.device) -> int:
    """Rows per chunk for an ``(n, v)`` problem computed in ``acc``."""
    budget = _CUDA_CHUNK_BYTES if device.type == "cuda" else _CPU_CHUNK_BYTES
    itemsize = torch.empty((), dtype=acc).element_size()
    rows = max(1, budget // max(1, v * itemsize))
    if n >= _MIN_CHUNKS * rows:
        return rows
    if n * v * itemsize <= budget:  # small problem: one chunk (absolute memory is tiny)
        return max(1, n)
    return max(1, min(rows, n // _MIN_CHUNKS))


def _needs_grad(*ts: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in ts)


def _as_rows(z: torch.Tensor) -> torch.Tensor | None:
    """A ``(N, V)`` view of ``z`` without copying, or ``None`` when the strides do not allow one."""
    v = z.shape[-1]
    n = 1
    for s in z.shape[:-1]:
        n *= s
    try:
        return z.view(n, v)
    except RuntimeError:
        return None


# --------------------------------------------------------------------------- chunked cores (2-D)

# A core reduces a 2-D ``x`` into 1-D compute-dtype outputs: ``outs[0]`` is the result; with three
# outputs it also writes the row statistics the chunked backward recomputes from, ``outs[1] = m``
# (row max) and ``outs[2] = log s`` (``s = Σ exp(max((x − m)/T, y_min))``).
_Outs = Sequence[torch.Tensor]


def _lse_core(x: torch.Tensor, outs: _Outs, temperature: float) -> None:
    """``outs[0][i] = logsumexp(x[i] / temperature)`` for a 2-D ``x`` (plus ``m``, ``log s`` if asked)."""
    out = outs[0]
    n, v = x.shape
    acc = out.dtype
    if n == 0 or v == 0:
        for o in outs:
            o.fill_(float("-inf"))  # logsumexp of an empty row (as torch.logsumexp)
        return
    c = _chunk_rows(n, v, acc, x.device)
    floor = _EXP_FLOOR[acc]
    y = torch.empty((min(c, n), v), dtype=acc, device=x.device)
    m = outs[1].view(n, 1) if len(outs) > 1 else torch.empty((n, 1), dtype=acc, device=x.device)
    same = x.dtype == acc
    for xc, mc, oc in zip(torch.split(x, c), torch.split(m, c), torch.split(out, c), strict=True):
        yc = y if xc.shape[0] == y.shape[0] else y[: xc.shape[0]]
        if same:
            torch.amax(xc, -1, keepdim=True, out=mc)
        else:
            mc.copy_(torch.amax(xc, -1, keepdim=True))
        torch.sub(xc, mc, out=yc)
        if temperature != 1.0:
            yc.div_(temperature)
        yc.clamp_min_(floor)
        yc.exp_()
        torch.sum(yc, -1, out=oc)
    out.log_()
    if len(outs) > 2:
        outs[2].copy_(out)
    ms = m.squeeze(-1)
    if temperature != 1.0:
        ms = ms / temperature
    out.add_(ms)
    # all -inf rows: the shifted values are NaN; logsumexp of nothing is -inf
    out.masked_fill_(ms == float("-inf"), float("-inf"))


def _entropy_core(x: torch.Tensor, outs: _Outs, temperature: float) -> None:
    """``outs[0][i] = H(softmax(x[i] / temperature))`` for a 2-D ``x`` (plus ``m``, ``log s`` if asked)."""
    out = outs[0]
    n, v = x.shape
    acc = out.dtype
    if n == 0 or v == 0:
        for o in outs:
            o.fill_(float("nan"))  # an empty row is no distribution (like a row of only -inf)
        return
    c = _chunk_rows(n, v, acc, x.device)
    floor = _EXP_FLOOR[acc]
    rows = min(c, n)
    y = torch.empty((rows, v), dtype=acc, device=x.device)
    e = torch.empty((rows, v), dtype=acc, device=x.device)
    m = outs[1].view(n, 1) if len(outs) > 1 else torch.empty((n, 1), dtype=acc, device=x.device)
    d = torch.empty((n,), dtype=acc, device=x.device)
    same = x.dtype == acc
    for xc, mc, sc, dc in zip(
        torch.split(x, c), torch.split(m, c), torch.split(out, c), torch.split(d, c), strict=True
    ):
        k = xc.shape[0]
        yc, ec = (y, e) if k == rows else (y[:k], e[:k])
        if same:
            torch.amax(xc, -1, keepdim=True, out=mc)
        else:
            mc.copy_(torch.amax(xc, -1, keepdim=True))
        torch.sub(xc, mc, out=yc)
        if temperature != 1.0:
            yc.div_(temperature)
        yc.clamp_min_(floor)
        torch.exp(yc, out=ec)
        torch.sum(ec, -1, out=sc)
        torch.sum(yc.mul_(ec), -1, out=dc)
    # H = log s − Σ e·y / s   (out holds s)
    d.div_(out)
    out.log_()
    if len(outs) > 2:
        outs[2].copy_(out)
    out.sub_(d)


# --------------------------------------------------------------------------- plain formulas (compiled autograd)


def _lse_plain(z: torch.Tensor, temperature: float) -> torch.Tensor:
    x = z.to(_acc(z.dtype))
    if temperature != 1.0:
        x = x / temperature
    return torch.logsumexp(x, dim=-1)


def _entropy_plain(z: torch.Tensor, temperature: float) -> torch.Tensor:
    x = z.to(_acc(z.dtype))
    if temperature != 1.0:
        x = x / temperature
    logp = x - torch.logsumexp(x, dim=-1, keepdim=True)
    p = torch.exp(logp)
    # -inf logits: p = 0 and logp = -inf; the double `where` keeps both the value and the gradient finite
    safe = torch.where(p > 0, logp, torch.zeros_like(logp))
    return -(p * safe).sum(-1)


# --------------------------------------------------------------------------- public kernels


_Core = Callable[[torch.Tensor, _Outs, float], None]


def _run_rows(z: torch.Tensor, core: _Core, temperature: float, n_outs: int = 1) -> tuple[torch.Tensor, ...]:
    acc = _acc(z.dtype)
    outs = tuple(torch.empty(z.shape[:-1], dtype=acc, device=z.device) for _ in range(n_outs))
    _apply(z, outs, core, temperature)
    return outs


def _apply(z: torch.Tensor, outs: _Outs, core: _Core, temperature: float) -> None:
    x = _as_rows(z)
    if x is not None:
        core(x, [o.view(-1) for o in outs], temperature)
        return
    # rows are not jointly viewable (e.g. logits[:, :-1, :]): recurse over the leading axis, no copy
    for i in range(z.shape[0]):
        _apply(z[i], [o[i] for o in outs], core, temperature)


def _row_blocks(z: torch.Tensor, g: torch.Tensor, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """2-D row views ``(z_rows, g_rows, first_row)`` covering ``z`` (any strides) and the contiguous ``g``."""
    x = _as_rows(z)
    if x is not None:
        yield x, g.view(x.shape), start
        return
    per = 1
    for s in z.shape[1:-1]:
        per *= s
    for i in range(z.shape[0]):
        yield from _row_blocks(z[i], g[i], start + i * per)


#: Use the chunked autograd Functions inside ``torch.compile`` too. They trace with ``fullgraph=True``
#: (checked with the ``eager`` backend), but Dynamo unrolls the chunk loop (``N / C`` copies of the
#: chunk's ops, e.g. 256 at 2048 × 32768 float32 on CPU) and Inductor fuses the plain formula well, so
#: by default a compiled graph differentiates the plain formula instead.
CHUNKED_UNDER_COMPILE = False


def chunked_autograd() -> bool:
    """Whether the chunked custom backward is used (eager mode; compiled graphs see ``CHUNKED_UNDER_COMPILE``)."""
    return CHUNKED_UNDER_COMPILE or not torch.compiler.is_compiling()


_GradChunk = Callable[[torch.Tensor, torch.Tensor, int, int], None]


def _chunked_grad(z: torch.Tensor, m: torch.Tensor, logs: torch.Tensor, temperature: float,
                  finish: _GradChunk) -> torch.Tensor:
    """``dz`` built chunk by chunk: ``l = (z − m)/T − log s`` (the log-softmax, ``−inf`` kept) goes into a
    compute buffer and ``finish(l, out_chunk, row0, row1)`` turns it into the gradient rows, written into
    ``out_chunk`` (the compute buffer itself or a slice of ``dz``). Memory: ``dz`` plus two ``(C, V)`` buffers."""
    acc = m.dtype
    dz = torch.empty(z.shape, dtype=z.dtype, device=z.device)
    mf, lf = m.reshape(-1, 1), logs.reshape(-1, 1)
    v = z.shape[-1]
    for x, g, r0 in _row_blocks(z, dz):
        n = x.shape[0]
        if n == 0 or v == 0:
            continue
        c = _chunk_rows(n, v, acc, z.device)
        same = z.dtype == acc
        buf = None if same else torch.empty((min(c, n), v), dtype=acc, device=z.device)
        for k in range(0, n, c):
            xc, gc = x[k:k + c], g[k:k + c]
            lc = gc if buf is None else buf[: xc.shape[0]]
            a, b = r0 + k, r0 + k + xc.shape[0]
            torch.sub(xc, mf[a:b], out=lc)
            if temperature != 1.0:
                lc.div_(temperature)
            lc.sub_(lf[a:b])
            finish(lc, gc, a, b)
            if buf is not None:
                gc.copy_(lc)
    return dz


class _LseFn(torch.autograd.Function):
    """``logsumexp(z / T)`` rows; backward ``dz = g · softmax(z / T) / T`` recomputed per chunk."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, temperature: float) -> torch.Tensor:
        out, m, logs = _run_rows(z, _lse_core, temperature, 3)
        ctx.save_for_backward(z, m, logs)
        ctx.temperature = temperature
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        z, m, logs = ctx.saved_tensors
        t = ctx.temperature
        gf = (g / t).reshape(-1, 1).to(m.dtype)

        def finish(lc: torch.Tensor, out: torch.Tensor, a: int, b: int) -> None:
            lc.exp_().mul_(gf[a:b])

        return _chunked_grad(z, m, logs, t, finish), None


class _EntropyFn(torch.autograd.Function):
    """Entropy rows of ``softmax(z / T)``; backward ``dz = −g · p (log p + H) / T`` recomputed per chunk."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, temperature: float) -> torch.Tensor:
        h, m, logs = _run_rows(z, _entropy_core, temperature, 3)
        ctx.save_for_backward(z, m, logs, h)
        ctx.temperature = temperature
        return h

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        z, m, logs, h = ctx.saved_tensors
        t = ctx.temperature
        acc = m.dtype
        gf = (-g / t).reshape(-1, 1).to(acc)
        hf = h.reshape(-1, 1)
        floor = _EXP_FLOOR[acc]
        n = h.numel()
        c = _chunk_rows(n, z.shape[-1], acc, z.device) if n else 1
        pbuf = torch.empty((min(c, n), z.shape[-1]), dtype=acc, device=z.device)

        def finish(lc: torch.Tensor, out: torch.Tensor, a: int, b: int) -> None:
            p = pbuf[: lc.shape[0]]
            torch.exp(lc, out=p)  # exactly 0 at -inf logits
            lc.clamp_min_(floor)  # ... where log p = -inf: 0·finite = 0, never 0·inf
            lc.add_(hf[a:b]).mul_(p).mul_(gf[a:b])

        return _chunked_grad(z, m, logs, t, finish), None


def logsumexp_rows(z: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``logsumexp(z / temperature)`` over the last axis (``−inf`` entries allowed)."""
    if _needs_grad(z):
        if chunked_autograd():
            return cast(torch.Tensor, _LseFn.apply(z, float(temperature)))  # type: ignore[no-untyped-call]
        return _lse_plain(z, temperature)
    with torch.no_grad():
        return _run_rows(z, _lse_core, float(temperature))[0]


def logsumexp_stats(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(logsumexp(z), m, log s)`` over the last axis, without autograd (the statistics of :func:`ce_rows_grad`)."""
    with torch.no_grad():
        lse, m, logs = _run_rows(z, _lse_core, 1.0, 3)
    return lse, m, logs


def entropy_rows(z: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Shannon entropy (nats) of ``softmax(z / temperature)`` over the last axis: ``lse − Σ softmax·z``.

    ``−inf`` logits have ``p = 0`` and contribute 0 (``0·log 0 = 0``).
    """
    if _needs_grad(z):
        if chunked_autograd():
            return cast(torch.Tensor, _EntropyFn.apply(z, float(temperature)))  # type: ignore[no-untyped-call]
        return _entropy_plain(z, temperature)
    with torch.no_grad():
        return _run_rows(z, _entropy_core, float(temperature))[0]


class _CeGradFn(torch.autograd.Function):
    """Attaches the cross-entropy gradient to precomputed per-row losses (see :func:`ce_rows_grad`)."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, loss: torch.Tensor, m: torch.Tensor, logs: torch.Tensor,
                target: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None,
                w: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(z, m, logs, target, a, b, c, w)
        return loss.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, m, logs, target, a, b, c, w = ctx.saved_tensors
        acc = m.dtype
        gf = g.reshape(-1).to(acc)
        ga = (gf * a.reshape(-1)).reshape(-1, 1)
        gb = (gf * b.reshape(-1)).neg_().reshape(-1, 1)
        gc_ = None if c is None else (gf * c.reshape(-1)).reshape(-1, 1)
        tf = target.reshape(-1, 1)

        def finish(lc: torch.Tensor, out: torch.Tensor, r0: int, r1: int) -> None:
            lc.exp_().mul_(ga[r0:r1])
            lc.scatter_add_(1, tf[r0:r1], gb[r0:r1])
            if gc_ is None:
                return
            if w is None:
                lc.sub_(gc_[r0:r1])
            else:
                lc.addcmul_(gc_[r0:r1], w, value=-1.0)

        return _chunked_grad(z, m, logs, 1.0, finish), None, None, None, None, None, None, None, None


def ce_rows_grad(z: torch.Tensor, loss: torch.Tensor, m: torch.Tensor, logs: torch.Tensor, target: torch.Tensor,
                 a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None, w: torch.Tensor | None) -> torch.Tensor:
    """``loss`` (computed without autograd) with the cross-entropy gradient attached, chunked.

    For per-row coefficients ``a, b, c`` (shape ``z.shape[:-1]``, no gradient), class weights ``w`` (or
    ``None`` for all ones) and in-range ``target`` indices the gradient of row ``i`` is
    ``g_i (a_i softmax(z_i) − b_i e_{y_i} − c_i w)``; with ``loss_i = (1−ε) w_y (lse − z_y) +
    (ε/C)(Σw·lse − Σ_v w_v z_v)`` on valid rows: ``b = (1−ε) w_y``, ``c = ε/C``, ``a = b + c Σw``.
    ``m, logs`` are :func:`logsumexp_stats`' statistics of ``z``. The backward keeps no ``(N, V)`` tensor
    besides ``dz`` itself.
    """
    return cast(torch.Tensor, _CeGradFn.apply(z, loss, m, logs, target, a, b, c, w))  # type: ignore[no-untyped-call]


def _dot_core(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    n, v = a.shape
    acc = out.dtype
    if n == 0:
        return
    c = _chunk_rows(n, v, acc, a.device)
    rows = min(c, n)
    buf = torch.empty((rows, v), dtype=acc, device=a.device)
    a_same = a.dtype == acc
    for ac, bc, oc in zip(torch.split(a, c), torch.split(b, c), torch.split(out, c), strict=True):
        k = ac.shape[0]
        bb = buf if k == rows else buf[:k]
        if a_same:
            torch.mul(ac, bc, out=bb)  # bc is promoted to acc by the op (float32/float64 multiply)
        else:
            bb.copy_(ac)
            bb.mul_(bc)
        torch.sum(bb, -1, out=oc)


def dot_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_v a_v b_v`` over the last axis, accumulated in float32 (float64 if either input is float64)."""
    dt = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    if _needs_grad(a, b) or a.shape != b.shape:
        return (a.to(dt) * b.to(dt)).sum(-1)
    with torch.no_grad():
        if a.dtype != dt and b.dtype == dt:
            a, b = b, a  # the operand already in the compute dtype drives the multiply
        out = torch.empty(a.shape[:-1], dtype=dt, device=a.device)
        a2, b2 = _as_rows(a), _as_rows(b)
        if a2 is None or b2 is None:
            return (a.to(dt) * b.to(dt)).sum(-1)
        _dot_core(a2, b2, out.view(-1))
        return out
