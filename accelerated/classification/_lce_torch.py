"""Torch kernel of :func:`accelerated.classification.linear_cross_entropy`: chunked forward and backward.

The ``(N, V)`` logits are never stored. Rows are processed ``R`` at a time (``R ≤ N / 64`` for large
problems and one chunk about ``32 MiB`` on CPU / ``256 MiB`` on CUDA): the forward computes a chunk's
logits ``z = e_R cᵀ + b`` with one matmul, then its ``logsumexp`` and target logit, and keeps only
``lse`` (one number per row). The backward (a custom ``torch.autograd.Function``) recomputes the
chunk's logits, forms ``G = (softmax(z) − onehot(t)) · g`` in place (times ``1 − tanh²`` with a
softcap) and accumulates ``dE_R = G c``, ``dC += Gᵀ e_R``, ``db += Σ_rows G`` — so besides the inputs'
own gradients at most two ``R × V`` compute buffers are live (``≤ 1/32`` of the float32 logits).

bfloat16/float16 inputs are computed in float32: the classifier is converted once (``V × D`` float32,
the one allocation that grows with ``V·D``), embedding chunks per chunk; gradients are accumulated in
float32 and rounded to the input dtypes once.

``filter_eps`` is CCE's approximate backward: tiles of ``filter_block_rows × filter_block_vocab``
(aligned to absolute row indices, natural vocabulary order) whose every ``|softmax − onehot|`` is
below ``filter_eps`` contribute nothing to ``dE``, ``dC`` or ``db`` (ignored rows count as 0).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F

__all__ = ["lce_rows"]

_CPU_CHUNK_BYTES = 1 << 25
_CUDA_CHUNK_BYTES = 1 << 28
_MIN_CHUNKS = 64
_SMALL_BYTES = 1 << 22


def chunk_rows(n: int, v: int, device: torch.device, multiple: int = 1) -> int:
    """Rows per chunk for ``n`` rows over ``v`` float32 classes (a multiple of ``multiple``)."""
    if n * v * 4 <= _SMALL_BYTES:
        rows = max(1, n)
    else:
        budget = _CUDA_CHUNK_BYTES if device.type == "cuda" else _CPU_CHUNK_BYTES
        rows = max(1, min(budget // max(1, 4 * v), max(1, n // _MIN_CHUNKS)))
    return max(multiple, (rows // multiple) * multiple)


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _logits(ec: torch.Tensor, ct: torch.Tensor, b: torch.Tensor | None, softcap: float | None,
            out: torch.Tensor) -> torch.Tensor:
    torch.mm(ec, ct, out=out)
    if b is not None:
        out.add_(b)
    if softcap is not None:
        out.div_(softcap).tanh_()  # holds tanh(z / s); the caller scales by s
    return out


def _forward(e: torch.Tensor, c: torch.Tensor, b: torch.Tensor | None, tg: torch.Tensor, keep: torch.Tensor,
             softcap: float | None, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row ``(nll, lse)`` (``nll = 0`` at ignored rows) for the rows of ``e`` (already shifted)."""
    acc = _acc(e.dtype)
    n, v = e.shape[0], c.shape[0]
    ct = c.to(acc).t()
    bb = None if b is None else b.to(acc)
    lse = torch.empty(n, dtype=acc, device=e.device)
    zy = torch.empty(n, dtype=acc, device=e.device)
    r = chunk_rows(n, v, e.device, block)
    buf = torch.empty((min(r, n), v), dtype=acc, device=e.device)
    safe = torch.where(keep, tg, torch.zeros_like(tg))
    for r0 in range(0, n, r):
        r1 = min(n, r0 + r)
        z = _logits(e[r0:r1].to(acc), ct, bb, softcap, buf[: r1 - r0])
        if softcap is not None:
            z.mul_(softcap)
        zy[r0:r1] = z.gather(1, safe[r0:r1, None])[:, 0]
        m = z.amax(-1, keepdim=True)
        z.sub_(m).exp_()
        lse[r0:r1] = z.sum(-1).log_().add_(m[:, 0])
    nll = torch.where(keep, lse - zy, torch.zeros_like(lse))
    return nll, lse


def _filter_mask_(gd: torch.Tensor, keep: torch.Tensor, eps: float, br: int, bv: int) -> None:
    """Zero the tiles of ``gd = softmax − onehot`` whose every |entry| (ignored rows: 0) is below ``eps``."""
    k, v = gd.shape
    hi = F.max_pool2d(gd[None, None], (br, bv), ceil_mode=True)[0, 0]
    gd.neg_()
    lo = F.max_pool2d(gd[None, None], (br, bv), ceil_mode=True)[0, 0]
    gd.neg_()
    # ignored rows are zeroed by the caller; a tile of only ignored rows is dropped either way
    big = torch.maximum(hi, lo) >= eps
    rows_kept = F.max_pool1d(keep.to(gd.dtype)[None, None], br, ceil_mode=True)[0, 0] > 0
    tiles = big & rows_kept[:, None]
    mask = tiles.repeat_interleave(br, 0)[:k].repeat_interleave(bv, 1)[:, :v]
    gd.mul_(mask)


class _LceFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, e: torch.Tensor, c: torch.Tensor, b: torch.Tensor | None, tg: torch.Tensor,
                keep: torch.Tensor, softcap: float | None, filter_eps: float | None, br: int, bv: int
                ) -> torch.Tensor:
        block = br if filter_eps is not None else 1
        nll, lse = _forward(e, c, b, tg, keep, softcap, block)
        ctx.save_for_backward(e, c, b, tg, keep, lse)
        ctx.opts = (softcap, filter_eps, br, bv)
        return nll

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        e, c, b, tg, keep, lse = ctx.saved_tensors
        softcap, eps, br, bv = ctx.opts
        need_e, need_c, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        acc = lse.dtype
        n, v = e.shape[0], c.shape[0]
        ca = c.to(acc)
        ct = ca.t()
        bb = None if b is None else b.to(acc)
        de = torch.empty(e.shape, dtype=e.dtype, device=e.device) if need_e else None
        dc = torch.zeros(c.shape, dtype=acc, device=c.device) if need_c else None
        db = torch.zeros(v, dtype=acc, device=c.device) if need_b else None
        safe = torch.where(keep, tg, torch.zeros_like(tg))
        gk = torch.where(keep, g.to(acc), torch.zeros_like(lse))
        r = chunk_rows(n, v, e.device, br if eps is not None else 1)
        buf = torch.empty((min(r, n), v), dtype=acc, device=e.device)
        tbuf = None if softcap is None else torch.empty_like(buf)
        for r0 in range(0, n, r):
            r1 = min(n, r0 + r)
            k = r1 - r0
            ec = e[r0:r1].to(acc)
            if tbuf is None:
                p = _logits(ec, ct, bb, None, buf[:k])
            else:
                t = _logits(ec, ct, bb, softcap, tbuf[:k])  # tanh(z / s)
                p = torch.mul(t, softcap, out=buf[:k])
            p.sub_(lse[r0:r1, None]).exp_()
            p.scatter_add_(1, safe[r0:r1, None], torch.full((k, 1), -1.0, dtype=acc, device=e.device))
            if eps is not None:
                _filter_mask_(p, keep[r0:r1], float(eps), br, bv)
            p.mul_(gk[r0:r1, None])
            if tbuf is not None:
                t.mul_(t).neg_().add_(1.0)  # 1 − tanh²
                p.mul_(t)
            if de is not None:
                if de.dtype == acc:
                    torch.mm(p, ca, out=de[r0:r1])
                else:
                    de[r0:r1] = torch.mm(p, ca)
            if dc is not None:
                dc.addmm_(p.t(), ec)
            if db is not None:
                db.add_(p.sum(0))
        dcc = None if dc is None else (dc if dc.dtype == c.dtype else dc.to(c.dtype))
        dbb = None if db is None or b is None else (db if db.dtype == b.dtype else db.to(b.dtype))
        return de, dcc, dbb, None, None, None, None, None, None


def lce_rows(e: torch.Tensor, c: torch.Tensor, b: torch.Tensor | None, tg: torch.Tensor, keep: torch.Tensor,
             softcap: float | None, filter_eps: float | None, br: int, bv: int) -> torch.Tensor:
    """Per-row losses (0 at ignored rows; float32, float64 for float64 input) of the (shifted) rows of ``e``."""
    needs = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in (e, c, b))
    if needs:
        return cast(torch.Tensor, _LceFn.apply(e, c, b, tg, keep, softcap, filter_eps, br, bv))  # type: ignore[no-untyped-call]
    with torch.no_grad():
        return _forward(e, c, b, tg, keep, softcap, 1)[0]
