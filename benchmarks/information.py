"""Benchmark ``vendi_score`` on embeddings against vendi-score (``python -m benchmarks.information``).

Default size: ``N = 20,000`` embeddings of ``D = 256`` (cosine kernel). Timed in ONE process on the SAME
input, runs interleaved round-robin (``--repeat``):

* accelerated ``vendi_score`` on Torch (``--device``, ``--dtype``) and on NumPy: the dual form — the D×D
  Gram ``X̂ᵀX̂`` of the row-normalised embeddings and its ``eigvalsh`` (no N×N matrix);
* the peer: vendi-score's ``score_dual`` (its own dual form: ``sklearn.preprocessing.normalize``,
  ``X.T @ X``, ``scipy.linalg.eigvalsh``) when the package is importable, else the same code transcribed
  from vendi-score 0.0.3 (labelled ``transcribed``). vendi-score's ``score_X`` builds the N×N kernel
  (3.2 GB in float64 at N = 20,000, and an O(N³) eigensolve): it is not run, nor is our float64 reference,
  which also builds the N×N definition;
* the **Gram floor** ``X.T @ X`` in the same dtype and device (the dual form's unavoidable work).

Reported: median and min wall time, the ratio to the Gram floor, the speed-up over the peer, the extra peak
memory (CPU: RSS high-water mark, as ``benchmarks.run``; CUDA: allocator statistics) and as a fraction of
the input, and the relative difference from the peer's value. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import torch

from accelerated.information import vendi_score
from benchmarks.run import _PeakMemory

__all__ = ["main"]


def _vendi_score_dual_transcribed(x: Any, q: Any = 1, normalize: bool = True) -> Any:
    """vendi-score 0.0.3 ``score_dual`` (with ``entropy_q``), sklearn's row normalisation written out."""
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", x, x))
        norms[norms == 0.0] = 1.0
        x = x / norms[:, None]
    n = x.shape[0]
    w = scipy.linalg.eigvalsh(x.T @ x / n)
    p_ = w[w > 0]
    if q == 1:
        h = -(p_ * np.log(p_)).sum()
    elif q == "inf":
        h = -np.log(np.max(w))
    else:
        h = np.log((p_**q).sum()) / (1 - q)
    return np.exp(h)


def _peer() -> tuple[Callable[..., Any], str]:
    try:
        from vendi_score import vendi  # type: ignore[import-not-found]

        return vendi.score_dual, "vendi-score score_dual (installed)"
    except Exception:
        return _vendi_score_dual_transcribed, "vendi-score 0.0.3 score_dual (transcribed)"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--q", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((args.n, args.d)) @ np.diag(np.linspace(2.0, 0.05, args.d))
    device = torch.device(args.device)
    tdtype = getattr(torch, args.dtype)
    xt = torch.tensor(x64, dtype=tdtype, device=device)
    xn = x64.astype(args.dtype)
    peer, peer_label = _peer()
    q_peer: Any = "inf" if args.q == float("inf") else (int(args.q) if args.q == int(args.q) else args.q)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    impls: dict[str, Callable[[], Any]] = {
        f"accelerated torch-{device.type} {args.dtype}": lambda: vendi_score(xt, q=args.q),
        f"accelerated numpy {args.dtype}": lambda: vendi_score(xn, q=args.q),
        peer_label + f" ({args.dtype} input)": lambda: peer(xn, q=q_peer),
        f"floor: X.T @ X torch-{device.type} {args.dtype}": lambda: xt.T @ xt,
    }
    values = {name: float(np.asarray(torch.as_tensor(fn()).cpu().double())) for name, fn in impls.items()
              if not name.startswith("floor")}
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(args.repeat):
        for name, fn in impls.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    mem = _PeakMemory(device)
    peaks = {name: mem.measure(fn) for name, fn in impls.items()}
    mem.close()

    floor = statistics.median(times[next(k for k in impls if k.startswith("floor"))])
    peer_key = next(k for k in impls if k.startswith(peer_label))
    peer_t = statistics.median(times[peer_key])
    input_bytes = xn.nbytes
    rows = []
    for name in impls:
        med = statistics.median(times[name])
        rows.append({
            "impl": name, "median_ms": 1e3 * med, "min_ms": 1e3 * min(times[name]),
            "ratio_gram_floor": med / floor, "speedup_vs_peer": peer_t / med,
            "extra_peak_bytes": peaks[name],
            "extra_peak_over_input": None if peaks[name] is None else peaks[name] / input_bytes,
            "value": values.get(name),
            "rel_diff_vs_peer": None if name not in values else abs(values[name] / values[peer_key] - 1.0),
        })
    report = {"n": args.n, "d": args.d, "q": args.q, "dtype": args.dtype, "device": str(device),
              "repeat": args.repeat, "machine": platform.platform(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "memory_method": mem.method, "rows": rows}
    print(f"vendi_score N={args.n} D={args.d} q={args.q} {args.dtype} on {device} ({args.repeat} runs, median)")
    print(f"{'impl':58s} {'median ms':>10s} {'min ms':>9s} {'/floor':>7s} {'vs peer':>8s} {'peak MB':>8s} "
          f"{'rel diff':>9s}")
    for r in rows:
        peak = "-" if r["extra_peak_bytes"] is None else f"{r['extra_peak_bytes'] / 2**20:.1f}"
        diff = "-" if r["rel_diff_vs_peer"] is None else f"{r['rel_diff_vs_peer']:.1e}"
        print(f"{r['impl']:58s} {r['median_ms']:10.2f} {r['min_ms']:9.2f} {r['ratio_gram_floor']:7.2f} "
              f"{r['speedup_vs_peer']:8.2f} {peak:>8s} {diff:>9s}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
