"""RL-step benchmark: SIREN and EPO losses with their PPO part, ours vs an eager transcription of the forks.

Run ``python -m benchmarks.rl_step`` (``--size 2048x32768`` by default, float32, CPU unless ``--device``).
For each method this times, in ONE process on the SAME logits ``(B·T, V)`` (``requires_grad``):

* **ours** (accelerated Torch, unchecked mode as in a training loop): token log-probs from
  ``accelerated.categorical.cross_entropy`` (``−CE``, no ``(N, V)`` log-softmax), the entropies from
  the categorical family (SIREN: ``top_p_renormalized_entropy(p=0.8, k=10000)``; EPO:
  ``entropy_from_logits``), then ``siren_entropy_loss`` + ``ppo_clip_loss`` (dual clip 3) or
  ``epo_entropy_smoothing_penalty`` + ``epo_policy_loss``;
* **official** (a plain eager Torch transcription of the fork's code path, written from Linn3a/siren
  commit fa59a8d ``dp_actor.py`` — ``efficient_top_p_sampling`` with its per-row Python scatter loop,
  ``mask_by_quantile`` twice, ``agg_loss`` — and WujiangXu/EPO commit 5b6fa98 ``dp_actor.py`` /
  ``core_algos.py`` — verl ``entropy_from_logits``, ``generate_entropy_penalty``,
  ``compute_policy_loss``; log-probs by verl's ``logprobs_from_logits_naive``, log-softmax + gather);
* the **exp floor** of :mod:`benchmarks.run` (best of ``torch.logsumexp`` and a chunked exp-and-sum).

Reported: median forward time (graph recording on), median forward+backward time, the extra peak
memory of forward+backward (CPU: RSS high-water mark as in :mod:`benchmarks.run`; CUDA: allocator
peak), forward / exp floor, and ours / official for time and memory, plus the agreement of the two
losses and of their logits gradients. Timings on a shared machine are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from accelerated import categorical as AC
from accelerated import policy as AP
from benchmarks.run import _floor_impls, _PeakMemory
from spec.validate import unchecked

__all__ = ["main"]

Thunk = Callable[[], torch.Tensor]


# --------------------------------------------------------------------------- transcriptions of the forks


def _logprobs_naive(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """verl logprobs_from_logits_naive: log_softmax + gather."""
    logp = torch.nn.functional.log_softmax(logits, dim=-1)
    return torch.gather(logp, -1, labels.unsqueeze(-1)).squeeze(-1)


def _efficient_top_p_sampling(logits: torch.Tensor, k: int = 10000, p: float = 0.8) -> torch.Tensor:
    """Linn3a/siren dp_actor.py efficient_top_p_sampling (its top-p entropy; the full entropy is skipped)."""
    probs = torch.softmax(logits, dim=-1)
    _, topk_indices = torch.topk(logits, k=k)
    topk_probs = torch.gather(probs, dim=1, index=topk_indices)
    cumulative_probs = torch.cumsum(topk_probs, dim=-1)
    tensor_p = p * torch.ones([probs.shape[0], k]).to(logits.device)
    cutoff_idx = torch.unsqueeze(torch.max(torch.searchsorted(cumulative_probs, tensor_p), dim=-1).values, dim=1)
    b, kk = topk_indices.shape
    range_tensor = torch.arange(kk).unsqueeze(0).expand(b, kk).to(logits.device)
    mask = range_tensor < cutoff_idx.expand_as(topk_indices)
    filtered_indices = [row[mask_row] for row, mask_row in zip(topk_indices, mask, strict=True)]
    full = torch.zeros_like(logits, dtype=torch.bool)
    for i in range(b):
        full[i].scatter_(0, filtered_indices[i], True)
    pd_masked = probs * full.float()
    pd_masked = pd_masked / (pd_masked.sum(dim=-1, keepdim=True) + 1e-12)
    return -torch.sum(pd_masked * torch.log(pd_masked + 1e-12), dim=-1)


def _mask_by_quantile(x: torch.Tensor, response_mask: torch.Tensor, lower: float) -> tuple[torch.Tensor, torch.Tensor]:
    x_masked = x.masked_fill(~response_mask.to(dtype=torch.bool), float("nan")).float()
    bound = torch.nanquantile(x_masked, lower, dim=-1, keepdim=True)
    keep = x > bound
    return torch.where(keep, x, torch.zeros_like(x)), keep


def _agg_loss(loss_mat: torch.Tensor, loss_mask: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "token-mean":
        return (loss_mat * loss_mask).sum() / loss_mask.sum()
    valid = torch.sum(loss_mask, dim=-1) > 0  # seq-mean-token-mean as the SIREN fork (empty rows count 0)
    seq = torch.zeros_like(valid, dtype=loss_mat.dtype)
    seq[valid] = torch.sum(loss_mat * loss_mask, dim=-1)[valid] / torch.sum(loss_mask, dim=-1)[valid]
    return torch.mean(seq)


def _compute_policy_loss(old: torch.Tensor, lp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                         mode: str) -> torch.Tensor:
    ratio = torch.exp(lp - old)
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 0.8, 1.2)
    clip1 = torch.maximum(pg1, pg2)
    clip2 = torch.min(-adv * 3.0, clip1)
    return _agg_loss(torch.where(adv < 0, clip2, clip1), mask, mode)


def official_siren(x: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    b, t = d["shape"]
    lp = _logprobs_naive(x, d["labels"]).view(b, t)
    m = d["mask"]
    h = _efficient_top_p_sampling(x, min(10000, x.shape[-1]), 0.8).view(b, t)
    h = torch.where(m, h, torch.zeros_like(h))  # the rmpad path's pad_input: padding entropy 0
    h, _ = _mask_by_quantile(h, m, 0.8)
    _, value_mask = _mask_by_quantile(h, m, 0.8)
    entropy_loss = _agg_loss(h, value_mask.float(), "seq-mean-token-mean")
    pg = _compute_policy_loss(d["old"], lp, d["adv"], m.float(), "token-mean")
    return pg + 0.005 * (entropy_loss - d["anchor"]).pow(2).mean()


def official_epo(x: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    b, t = d["shape"]
    lp = _logprobs_naive(x, d["labels"]).view(b, t)
    pd = torch.nn.functional.softmax(x, dim=-1)
    h = (torch.logsumexp(x, dim=-1) - torch.sum(pd * x, dim=-1)).view(b, t)
    avg = torch.tensor(d["hist"][d["steps"].astype(np.int32)], dtype=h.dtype).unsqueeze(-1).expand_as(h)
    within = (h > avg * 0.8) & (h < avg * 1.2)
    pen = torch.where(within, 0, 0.1)
    m = d["mask"].float()
    pg = _compute_policy_loss(d["old"], lp, d["adv"], m, "token-mean")
    entropy_loss = _agg_loss(h, m, "token-mean") - _agg_loss(pen, m, "token-mean") * 1.0
    return pg - entropy_loss * 0.001


# --------------------------------------------------------------------------- ours


def ours_siren(x: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    b, t = d["shape"]
    with unchecked():
        lp = -AC.cross_entropy(x, d["labels"], reduction="none").view(b, t)
        h = AC.top_p_renormalized_entropy(x, 0.8, k=min(10000, x.shape[-1])).view(b, t)
        pg = AP.ppo_clip_loss(lp, d["old"], d["adv"], d["mask"], dual_clip=3.0)
        ent, _ = AP.siren_entropy_loss(h, d["mask"], anchor=d["anchor"], coef=0.005)
    return pg + ent


def ours_epo(x: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    b, t = d["shape"]
    with unchecked():
        lp = -AC.cross_entropy(x, d["labels"], reduction="none").view(b, t)
        h = AC.entropy_from_logits(x).view(b, t)
        pen = AP.epo_entropy_smoothing_penalty(h.detach(), d["mask"], d["hist_t"], d["steps_t"])
        return AP.epo_policy_loss(lp, d["old"], d["adv"], d["mask"], h, penalty=pen)


# --------------------------------------------------------------------------- harness


def _data(n: int, v: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    t = 256 if n % 256 == 0 else n
    b = n // t
    x = (torch.randn(n, v, generator=g) * 2.0).to(device)
    labels = torch.randint(0, v, (n,), generator=g).to(device)
    with torch.no_grad():
        lp = _logprobs_naive(x, labels).view(b, t)
    old = (lp + 0.1 * torch.randn(b, t, generator=g).to(device)).contiguous()
    adv = torch.randn(b, 1, generator=g).expand(b, t).contiguous().to(device)
    lengths = torch.randint(t // 4, t + 1, (b,), generator=g)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).to(device)
    hist = np.array([6.0, 6.5, 7.0])
    steps = np.arange(b) % 3
    d = {"shape": (b, t), "labels": labels, "old": old, "adv": adv, "mask": mask, "anchor": torch.tensor(2.0),
         "hist": hist, "steps": steps, "hist_t": torch.tensor(hist, device=device),
         "steps_t": torch.tensor(steps, device=device)}
    return x, d


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], repeat: int, device: torch.device) -> float:
    times = []
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fwd_bwd(fn: Callable[[torch.Tensor, dict[str, Any]], torch.Tensor], x: torch.Tensor,
             d: dict[str, Any]) -> Thunk:
    def run() -> torch.Tensor:
        xg = x.detach().requires_grad_(True)
        loss = fn(xg, d)
        loss.backward()
        assert xg.grad is not None
        return xg.grad

    return run


def bench(n: int, v: int, device: torch.device, repeat: int) -> dict[str, Any]:
    x, d = _data(n, v, device)
    mem = _PeakMemory(device)
    floors = [im.make(x, d["labels"]) for im in _floor_impls(v, device) if im.label.startswith("exp")]
    exp_floor = min(_time(f, repeat, device) for f in floors)
    rows: dict[str, Any] = {"size": f"{n}x{v}", "device": str(device), "dtype": "float32",
                            "exp_floor_s": exp_floor, "memory_method": mem.method, "methods": {}}
    for name, ours, theirs in (("siren", ours_siren, official_siren), ("epo", ours_epo, official_epo)):
        entry: dict[str, Any] = {}
        grads = {}
        for label, fn in (("ours", ours), ("official", theirs)):
            xg = x.detach().requires_grad_(True)
            fwd = _time(lambda fn=fn, xg=xg: fn(xg, d), repeat, device)  # type: ignore[misc]
            fb = _fwd_bwd(fn, x, d)
            fwd_bwd = _time(fb, repeat, device)
            peak = mem.measure(fb)
            grads[label] = fb()
            with torch.no_grad():
                value = float(fn(x, d))
            entry[label] = {"forward_s": fwd, "forward_backward_s": fwd_bwd,
                            "peak_extra_mib": None if peak is None else peak / 2**20,
                            "forward_over_exp_floor": fwd / exp_floor, "loss": value}
        o, t = entry["ours"], entry["official"]
        entry["ours_over_official_forward_backward"] = o["forward_backward_s"] / t["forward_backward_s"]
        if o["peak_extra_mib"] is not None and t["peak_extra_mib"]:
            entry["ours_over_official_peak_memory"] = o["peak_extra_mib"] / t["peak_extra_mib"]
        entry["loss_abs_diff"] = abs(o["loss"] - t["loss"])
        entry["grad_max_abs_diff"] = float((grads["ours"] - grads["official"]).abs().max())
        rows["methods"][name] = entry
    mem.close()
    return rows


def _print(rows: dict[str, Any]) -> None:
    print(f"RL step {rows['size']} {rows['dtype']} on {rows['device']}; exp floor {rows['exp_floor_s'] * 1e3:.1f} ms")
    print(f"{'method':8} {'impl':9} {'fwd ms':>9} {'fwd/exp':>8} {'fwd+bwd ms':>11} {'peak MiB':>9} {'loss':>12}")
    for name, e in rows["methods"].items():
        for label in ("ours", "official"):
            r = e[label]
            peak = "-" if r["peak_extra_mib"] is None else f"{r['peak_extra_mib']:.0f}"
            print(f"{name:8} {label:9} {r['forward_s'] * 1e3:9.1f} {r['forward_over_exp_floor']:8.2f} "
                  f"{r['forward_backward_s'] * 1e3:11.1f} {peak:>9} {r['loss']:12.6g}")
        mem_ratio = e.get("ours_over_official_peak_memory")
        print(f"{'':8} ours/official: fwd+bwd time {e['ours_over_official_forward_backward']:.2f}, peak memory "
              f"{'-' if mem_ratio is None else f'{mem_ratio:.2f}'}; |Δloss| {e['loss_abs_diff']:.2g}, "
              f"max|Δgrad| {e['grad_max_abs_diff']:.2g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rl_step", description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="2048x32768", help="N x V of the logits (N = B·T)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n, v = (int(s) for s in args.size.lower().split("x"))
    rows = bench(n, v, torch.device(args.device), args.repeat)
    _print(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
