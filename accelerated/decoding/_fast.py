"""Torch kernels of the truncation filters and of ``sample``: threshold search instead of a full sort.

Called by :mod:`accelerated.decoding.truncation` / :mod:`accelerated.decoding.sampling` for Torch
tensors after validation (the generic array-API code stays for NumPy / CuPy). Same rules, ties and
``min_tokens_to_keep`` as the reference; see its docstrings. How they avoid sorting the vocabulary:

* **Per-row thresholds found by bisection on the float bit pattern.** Every kept set here is a top
  set of some per-row key (the logit, or minus the typicality score) plus, at most, a prefix of the
  tokens tied at the cut (lowest index first). A rule "token kept iff ``f(z) >= c``" with ``f`` a
  chain of rounded, monotone float operations (``(z - m) - L``) is turned into "kept iff
  ``z >= t``" *exactly*: ``t`` is the smallest float with ``f(t) >= c``, found by bisecting the
  ordered integer image of the floats (33 steps for float32, 65 for float64) on a ``(rows, 1)``
  tensor. Mass rules (top-p, typical) bisect the same way, each step evaluating the (monotone)
  float sum of the probabilities above the candidate over a row chunk.
* **Row chunks in reused buffers** (as :mod:`accelerated.torch_fast`): passes that need
  ``exp(z - max)`` run on ``C`` rows at a time in preallocated ``(C, V)`` buffers (``out=`` and
  in-place ops), so the bisection steps read cache-resident data and no ``(N, V)`` float temporary
  is allocated. The only full-size allocations are the output and one boolean mask.
* **Ties at the cut** (top-p, top-H, ``ties="exact"``, ``min_tokens_to_keep > 1``): with ``kth``
  the value of the ``n``-th token and ``g`` the number of tokens above it, the first ``n - g`` of
  the tokens equal to ``kth`` (a cumulative count) are kept; the same set as the stable sort.
* Partial selection with ``torch.topk`` where the rule needs the ``k`` largest values only
  (top-k, top-H's candidates, the ``min_tokens_to_keep`` guards): values are exact whatever order
  ``topk`` returns ties in, and ties are resolved by index as above.

Probabilities below the smallest normal float are computed as that float in the bisection passes
(``exp`` of exponents clamped at ``-87`` / ``-708``: denormal arithmetic is 100x slower on x86);
they change the sums by less than ``V * 1e-38`` relative. ``sample`` computes exactly the generic
code's softmax and cumulative sum, chunk by chunk, and searches the row's cumulative sum.
No data-dependent Python branching: every loop has a static trip count (traceable by
``torch.compile(fullgraph=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from spec.errors import DomainError
from spec.validate import check_vocab_axis, checked

__all__ = ["epsilon_eta", "min_p", "sample", "top_h", "top_k", "top_p", "typical", "usable", "validated"]

_CPU_CHUNK_BYTES = 1 << 20
_CUDA_CHUNK_BYTES = 1 << 24
_EXP_FLOOR = {torch.float32: -87.0, torch.float64: -708.0}
_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_KEY_BITS = {torch.float32: 33, torch.float64: 65}  # bisection steps over the ordered integer image


#: Off: every call takes the generic array-API path (the benchmark's "before" column; tests).
ENABLED = True


def usable(logits: object) -> bool:
    """Torch tensors of a floating dtype (the generic path serves every other array)."""
    return ENABLED and isinstance(logits, torch.Tensor) and logits.dtype in _DTYPES


def validated(fn: str, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits as detached compute-dtype ``(rows, V)`` and their row maxima ``(rows, 1)``.

    The checks of :func:`spec.validate.check_finite` (``allow_neg_inf=True``), with the same errors
    in the same order, read from the row maxima instead of three passes over the tensor: ``amax``
    propagates NaN, is ``+inf`` iff the row holds ``+inf`` (and no NaN), and ``-inf`` iff every entry is.
    """
    check_vocab_axis(fn, "logits", logits)
    z = logits.detach()
    z = _rows(z if z.dtype in (torch.float32, torch.float64) else z.to(torch.float32))
    m = z.amax(-1, keepdim=True)
    if checked():
        if bool(torch.isnan(m).any()):
            raise DomainError(fn, "logits", "no NaN values", "NaN")
        if bool((m == math.inf).any()):
            raise DomainError(fn, "logits", "finite values or -inf", "+inf")
        if bool((m == -math.inf).any()):
            raise DomainError(fn, "logits", "at least one finite entry per row", "a row of only -inf")
    return z, m


# --------------------------------------------------------------------------- helpers


def _rows(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-1])


def _chunks(n: int, v: int, dtype: torch.dtype, device: torch.device) -> list[tuple[int, int]]:
    budget = _CUDA_CHUNK_BYTES if device.type == "cuda" else _CPU_CHUNK_BYTES
    item = 8 if dtype == torch.float64 else 4
    step = max(1, budget // max(1, v * item))
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def _to_key(x: torch.Tensor) -> torch.Tensor:
    """Order-preserving int64 image of float32/float64 values (``-0`` and ``+0`` map to 0)."""
    if x.dtype == torch.float64:
        b = x.view(torch.int64)
        return torch.where(b < 0, -(b & 0x7FFFFFFFFFFFFFFF), b)
    b = x.view(torch.int32).to(torch.int64)
    return torch.where(b < 0, -(b & 0x7FFFFFFF), b)


def _from_key(k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mag = torch.abs(k)
    if dtype == torch.float64:
        return torch.where(k < 0, mag + (-(2**63)), mag).view(torch.float64)
    return torch.where(k < 0, mag - 2**31, mag).to(torch.int32).view(torch.float32)


def _smallest(pred: Callable[[torch.Tensor], torch.Tensor], lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Per row the smallest float ``x`` in ``[lo, hi]`` with ``pred(x)`` (monotone: False then True),
    ``hi`` where none is below it; ``lo``/``hi`` are ``(rows, 1)`` floats."""
    dtype = lo.dtype
    a, b = _to_key(lo), _to_key(hi)
    for _ in range(_KEY_BITS[dtype]):
        mid = (a >> 1) + (b >> 1) + (a & b & 1)  # floor((a + b) / 2) without overflow
        ok = pred(_from_key(mid, dtype))
        b = torch.where(ok, mid, b)
        a = torch.where(ok, a, mid + 1)
    return _from_key(b, dtype)


def _full(like: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full((like.shape[0], 1), value, dtype=like.dtype, device=like.device)


def _first(z: torch.Tensor, kth: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Mask of the first ``n`` tokens of the stable descending order of ``z`` (``kth``: the value of
    the ``n``-th, ``n``: int64, both ``(rows, 1)``): every token above ``kth`` and the first
    ``n - #(z > kth)`` tokens equal to it."""
    above = z > kth
    eq = z == kth
    r = n - above.sum(-1, keepdim=True)
    return above | (eq & (torch.cumsum(eq, -1, dtype=torch.int32) <= r))


def _first_rows(z: torch.Tensor, kth: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """:func:`_first` over row chunks (the tie count of a chunk stays in the cache)."""
    chunks = _chunks(z.shape[0], z.shape[-1], z.dtype, z.device)
    if len(chunks) <= 1:
        return _first(z, kth, n)
    kept = torch.empty(z.shape, dtype=torch.bool, device=z.device)
    for a, b in chunks:
        kept[a:b] = _first(z[a:b], kth[a:b], n[a:b])
    return kept


def _first_static(z: torch.Tensor, m: int) -> torch.Tensor:
    """The first ``m`` tokens (``1 <= m <= V``) of the stable descending order of ``z``."""
    kth = torch.topk(z, m, dim=-1, sorted=False).values.amin(-1, keepdim=True)
    return _first_rows(z, kth, torch.full_like(kth, m, dtype=torch.int64))


def _emit(logits: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    neg = torch.tensor(-math.inf, dtype=logits.dtype, device=logits.device)
    return torch.where(kept.reshape(logits.shape), logits, neg)


def _exp_shifted(zb: torch.Tensor, m: torch.Tensor, buf: torch.Tensor, *, floor: bool) -> torch.Tensor:
    """``exp(z - m)`` of a chunk into ``buf`` (exponents clamped at the normal floor when ``floor``)."""
    torch.sub(zb, m, out=buf)
    if floor:
        buf.clamp_(min=_EXP_FLOOR[buf.dtype])
    return buf.exp_()


def _buffers(z: torch.Tensor, chunks: list[tuple[int, int]], count: int) -> list[torch.Tensor]:
    rows = chunks[0][1] - chunks[0][0] if chunks else 0  # the first chunk is the largest
    return [torch.empty((rows, z.shape[-1]), dtype=z.dtype, device=z.device) for _ in range(count)]


def _lse_parts(z: torch.Tensor, m: torch.Tensor, *, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``S = Σ exp(z - m)`` and ``T = Σ exp(z - m)·(z - m)`` per row (``T = 0`` unless ``with_entropy``)."""
    n = z.shape[0]
    chunks = _chunks(n, z.shape[-1], z.dtype, z.device)
    buf, sbuf = _buffers(z, chunks, 2)
    s_tot = torch.empty((n, 1), dtype=z.dtype, device=z.device)
    t_tot = torch.zeros((n, 1), dtype=z.dtype, device=z.device)
    for a, b in chunks:
        zb, mb = z[a:b], m[a:b]
        e, s = buf[: b - a], sbuf[: b - a]
        torch.sub(zb, mb, out=s)
        torch.exp(s, out=e)
        s_tot[a:b] = e.sum(-1, keepdim=True)
        if with_entropy:
            s.clamp_(min=torch.finfo(z.dtype).min)  # -inf: e = 0, so e * s = -0 instead of NaN
            t_tot[a:b] = torch.mul(e, s, out=e).sum(-1, keepdim=True)
    return s_tot, t_tot


# --------------------------------------------------------------------------- top-k


def top_k(logits: torch.Tensor, z: torch.Tensor, m: torch.Tensor, k_eff: int, ties: str) -> torch.Tensor:
    if ties == "keep":
        kth = torch.topk(z, k_eff, dim=-1, sorted=False).values.amin(-1, keepdim=True)
        return _emit(logits, z >= kth)
    return _emit(logits, _first_static(z, k_eff))


# --------------------------------------------------------------------------- min-p


def min_p(logits: torch.Tensor, z: torch.Tensor, m: torch.Tensor, log_t: float, m_keep: int) -> torch.Tensor:
    # kept iff not ((z - m) < log_t): the smallest such float, exactly
    thr = _smallest(lambda x: ~((x - m) < log_t), _full(m, -math.inf), _full(m, math.inf))
    kept = z >= thr
    if m_keep > 1:  # with one, the (first) argmax is kept by the rule itself: log_t <= 0
        kept = kept | _first_static(z, m_keep)
    return _emit(logits, kept)


# --------------------------------------------------------------------------- epsilon / eta


def epsilon_eta(logits: torch.Tensor, z: torch.Tensor, m: torch.Tensor, log_eps: float, m_keep: int, *,
                eta: bool) -> torch.Tensor:
    """``log p < log_t`` removed (``log p = (z - m) - log S``), ``log_t = log ε`` (epsilon) or
    ``min(log ε, ½ log ε - H)`` (eta); guard: ``z >=`` the ``m_keep``-th largest logit."""
    s, t = _lse_parts(z, m, with_entropy=eta)
    lse = torch.log(s)
    if eta:
        h = lse - t / s
        log_t: torch.Tensor | float = torch.clamp(0.5 * log_eps - h, max=log_eps)
    else:
        log_t = log_eps
    thr = _smallest(lambda x: ~(((x - m) - lse) < log_t), _full(m, -math.inf), _full(m, math.inf))
    kth = m if m_keep == 1 else torch.topk(z, m_keep, dim=-1, sorted=False).values.amin(-1, keepdim=True)
    return _emit(logits, z >= torch.minimum(thr, kth))


# --------------------------------------------------------------------------- top-p


def top_p(logits: torch.Tensor, z: torch.Tensor, m_all: torch.Tensor, p: float, m_keep: int) -> torch.Tensor:
    """Keep token ``j`` (stable descending order) iff the mass before it is ``< p``; at least ``m_keep``."""
    n, v = z.shape
    kept = torch.empty((n, v), dtype=torch.bool, device=z.device)
    chunks = _chunks(n, v, z.dtype, z.device)
    ebuf, tbuf = _buffers(z, chunks, 2)
    mbuf = torch.empty(ebuf.shape, dtype=torch.bool, device=z.device)
    for a, b in chunks:
        zb = z[a:b]
        e, tmp, mask = ebuf[: b - a], tbuf[: b - a], mbuf[: b - a]
        m = m_all[a:b]
        _exp_shifted(zb, m, e, floor=True)
        target = p * e.sum(-1, keepdim=True)

        def above(x: torch.Tensor, zb: torch.Tensor = zb, e: torch.Tensor = e, tmp: torch.Tensor = tmp,
                  mask: torch.Tensor = mask) -> torch.Tensor:
            torch.gt(zb, x, out=mask)
            return torch.mul(e, mask, out=tmp).sum(-1, keepdim=True)

        # the value of the last kept token: the smallest x whose mass strictly above is < p·S
        def short(x: torch.Tensor, target: torch.Tensor = target, above: Callable[..., torch.Tensor] = above
                  ) -> torch.Tensor:
            return above(x) < target

        vstar = _smallest(short, _full(m, -math.inf), m)
        g = above(vstar)
        ties = (zb == vstar).sum(-1, keepdim=True)
        ev = torch.exp(torch.clamp(vstar - m, min=_EXP_FLOOR[z.dtype]))
        # the k-th tie (k = 1..ties) is kept iff g + (k - 1)·ev < p·S
        r = torch.clamp(torch.ceil((target - g) / ev), min=1.0)
        r = torch.minimum(r, ties.to(z.dtype)).to(torch.int64)
        nb = r + (zb > vstar).sum(-1, keepdim=True)
        kb = _first(zb, vstar, nb)
        if m_keep > 1:
            kb = kb | _first_static(zb, min(m_keep, v))
        kept[a:b] = kb
    return _emit(logits, kept)


# --------------------------------------------------------------------------- typical


def typical(logits: torch.Tensor, z: torch.Tensor, m: torch.Tensor, mass: float, m_keep: int) -> torch.Tensor:
    """Score ``s = |-log p - H|``; keep ``s <= σ*``, ``σ*`` the smallest score whose tokens of score
    ``<= σ*`` reach ``mass`` (all tokens when round-off leaves the total below it)."""
    n, v = z.shape
    s_tot, t_tot = _lse_parts(z, m, with_entropy=True)
    lse = torch.log(s_tot)
    h = lse - t_tot / s_tot
    kept = torch.empty((n, v), dtype=torch.bool, device=z.device)
    chunks = _chunks(n, v, z.dtype, z.device)
    pbuf, sbuf, tbuf = _buffers(z, chunks, 3)
    mbuf = torch.empty(pbuf.shape, dtype=torch.bool, device=z.device)
    inf = _full(m, math.inf)
    for a, b in chunks:
        zb, mb = z[a:b], m[a:b]
        pr, score, tmp, mask = pbuf[: b - a], sbuf[: b - a], tbuf[: b - a], mbuf[: b - a]
        _exp_shifted(zb, mb, pr, floor=True).div_(s_tot[a:b])  # softmax
        torch.sub(zb, mb, out=score).sub_(lse[a:b])  # log p
        score.neg_().sub_(h[a:b]).abs_()  # |-log p - H|; +inf for -inf logits

        def below(x: torch.Tensor, score: torch.Tensor = score, pr: torch.Tensor = pr, tmp: torch.Tensor = tmp,
                  mask: torch.Tensor = mask) -> torch.Tensor:
            torch.le(score, x, out=mask)
            return torch.mul(pr, mask, out=tmp).sum(-1, keepdim=True)

        def enough(x: torch.Tensor, below: Callable[..., torch.Tensor] = below) -> torch.Tensor:
            return below(x) >= mass

        sigma = _smallest(enough, _full(mb, 0.0), inf[a:b])
        kb = score <= sigma
        if m_keep > 1:  # with one, the lowest score (the first of the order) is kept by the rule
            kb = kb | _first_static(-score, min(m_keep, v))
        kept[a:b] = kb
    return _emit(logits, kept)


# --------------------------------------------------------------------------- top-h


def top_h(logits: torch.Tensor, z: torch.Tensor, m: torch.Tensor, alpha: float, criterion: str, n_top: int,
          temperature: float, m_keep: int, floor: float,
          divide: Callable[[torch.Tensor, float], torch.Tensor]) -> torch.Tensor:
    """The ``n_top`` largest values by ``topk`` (only values matter for the criterion), the kept
    count ``n`` as in the generic code, then the first ``n`` tokens of the stable order."""
    nrow, v = z.shape
    size = max(n_top, min(m_keep, v))
    top = torch.topk(z, size, dim=-1, sorted=True).values
    head = divide(top[:, :n_top] - m, temperature)
    if criterion == "hf":
        q = _softmax(head)
    else:  # full-vocabulary softmax of (z - m) / T (its max is 0), read at the candidates
        total = torch.empty((nrow, 1), dtype=z.dtype, device=z.device)
        chunks = _chunks(nrow, v, z.dtype, z.device)
        (buf,) = _buffers(z, chunks, 1)
        for a, b in chunks:
            e = buf[: b - a]
            e.copy_(divide(z[a:b] - m[a:b], temperature))
            total[a:b] = e.exp_().sum(-1, keepdim=True)
        q = torch.exp(head) / total
    positive = q > floor
    terms = torch.where(positive, -q * torch.log(torch.where(positive, q, torch.ones_like(q))), torch.zeros_like(q))
    cum = torch.cumsum(terms, dim=-1)
    tau = alpha * cum[..., -1:]
    count = ((cum <= tau) & positive).sum(-1, keepdim=True)
    nn = torch.clamp(count, min=max(1, min(m_keep, v)), max=v)
    kth = torch.gather(top, -1, nn - 1)
    return _emit(logits, _first_rows(z, kth, nn))


def _softmax(x: torch.Tensor) -> torch.Tensor:
    e = torch.exp(x - x.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


# --------------------------------------------------------------------------- sample


def sample(z: torch.Tensor, m_all: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``min{j : C_j > u}`` on the row's cumulative softmax (first finite position for ``u = 0``,
    last finite position when round-off leaves ``u >= C_{V-1}``)."""
    n, v = z.shape
    uu = u.reshape(-1, 1).to(z.dtype)
    out = torch.empty((n, 1), dtype=torch.int64, device=z.device)
    chunks = _chunks(n, v, z.dtype, z.device)
    (buf,) = _buffers(z, chunks, 1)
    for a, b in chunks:
        zb, ub, c = z[a:b], uu[a:b], buf[: b - a]
        m = m_all[a:b]
        _exp_shifted(zb, m, c, floor=False)
        c.div_(c.sum(-1, keepdim=True))
        c.cumsum_(-1)
        j = torch.searchsorted(c, ub, right=True)
        finite = (zb > -math.inf).to(torch.uint8)
        first = torch.argmax(finite, dim=-1, keepdim=True)
        last = (v - 1) - torch.argmax(torch.flip(finite, dims=(-1,)), dim=-1, keepdim=True)
        out[a:b] = torch.where(ub == 0, first, torch.where(j >= v, last, j))
    return out.reshape(u.shape)
