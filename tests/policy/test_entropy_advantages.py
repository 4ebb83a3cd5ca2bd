"""``entropy_advantages`` group (CANON, EMPG): hand-derived values and parity with transcriptions of the official
code.

Transcriptions (torch, written here from the code read with the search tool):

- CANON: biuboomc/CANON commit 7d6f814fb71f3d6a30e5312f68973c5207bd142c, ``verl/trainer/ppo/core_algos.py``
  ``compute_dr_entropy_per_token_group_outcome_advantage``, ``compute_dr_length_on_mean_group_outcome_advantage``,
  the ``..._annel`` / ``..._cosine_with_restart(_r)`` variants and ``cosine_annealing_with_restart``, with
  ``verl/utils/torch_functional.py::masked_mean`` (+1e-8).
- EMPG (no official repository): the project page's pseudocode ``compute_empg_advantage``
  (https://empgseed-seed.github.io, read with the search tool) for g, f and the defaults, and its copy in
  WillDreamer/ARLArena ``verl/trainer/ppo/core_algos.py`` for the modulation pass and the final centring.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
import torch

import spec.validate
from accelerated import policy as A
from reference import policy as R
from spec.errors import DomainError, DTypeError, ParameterError, ShapeError

# --------------------------------------------------------------------------- transcription of the CANON fork


def fork_cosine_annealing_with_restart(epoch: int, total_epochs: int, max_lr: float = 1e-3, min_lr: float = 1e-5,
                                       warmup_epochs: int = 5, cycles: int = 3) -> float:
    if epoch < warmup_epochs:
        return max_lr * (epoch + 1) / warmup_epochs
    epoch -= warmup_epochs
    total_epochs -= warmup_epochs
    cycle_length = total_epochs // cycles
    cycle_epoch = epoch % cycle_length
    return float(min_lr + 0.5 * (max_lr - min_lr) * (1 + np.cos(np.pi * cycle_epoch / cycle_length)))


def fork_masked_mean(values: torch.Tensor, mask: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    return (values * mask).sum(axis=axis) / (mask.sum(axis=axis) + 1e-8)


def _fork_regroup(scores: torch.Tensor, key: torch.Tensor, index: Any) -> tuple[Any, Any, Any]:
    """The shared part of the CANON estimators: stable sort per prompt, halves, half means (singletons: 0)."""
    id2score: dict[Any, list[Any]] = defaultdict(list)
    id2length: dict[Any, list[Any]] = defaultdict(list)
    l_id2ls: dict[Any, bool] = {}
    id2l_id: dict[Any, list[int]] = defaultdict(list)
    id2score_long: dict[Any, list[Any]] = {}
    id2score_short: dict[Any, list[Any]] = {}
    id2mean_long: dict[Any, torch.Tensor] = {}
    id2mean_short: dict[Any, torch.Tensor] = {}
    bsz = scores.shape[0]
    for i in range(bsz):
        id2length[index[i]].append(key[i])
        id2score[index[i]].append(scores[i])
        id2l_id[index[i]].append(i)
    for idx in id2length:
        paired = sorted(zip(id2length[idx], id2score[idx], id2l_id[idx], strict=True), key=lambda x: x[0])
        id2score_sort = [score for (_, score, _) in paired]
        id2score_id = [i for (_, _, i) in paired]
        mid = len(paired) // 2
        for i, item in enumerate(id2score_id):
            l_id2ls[item] = i >= mid
        id2score_short[idx] = id2score_sort[:mid]
        id2score_long[idx] = id2score_sort[mid:]
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2mean_long[idx] = torch.tensor(0.0)
            id2mean_short[idx] = torch.tensor(0.0)
        else:
            id2mean_long[idx] = torch.mean(torch.tensor(id2score_long[idx]))
            id2mean_short[idx] = torch.mean(torch.tensor(id2score_short[idx]))
    return l_id2ls, id2mean_short, id2mean_long


def fork_canon_entropy(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, entropy: torch.Tensor,
                       index: Any, alpha: float, beta: float, _lambda: float, max_length: int) -> torch.Tensor:
    scores = token_level_rewards.sum(dim=-1)
    ent = fork_masked_mean(entropy, response_mask, axis=-1)
    with torch.no_grad():
        l_id2ls, short, long = _fork_regroup(scores, ent, index)
        for i in range(scores.shape[0]):
            if l_id2ls[i]:
                scores[i] = ((_lambda * (scores[i] - alpha * short[index[i]] + beta)
                              + (1 - _lambda) * (scores[i] - long[index[i]])) / max_length)
            else:
                scores[i] = ((_lambda * (alpha * scores[i] - long[index[i]] - beta)
                              + (1 - _lambda) * (scores[i] - short[index[i]])) / max_length)
        return scores.unsqueeze(-1) * response_mask


def fork_canon_length(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any, alpha: float,
                      beta: float, _lambda: float, max_length: int) -> torch.Tensor:
    response_length = response_mask.sum(-1).float()
    scores = token_level_rewards.sum(dim=-1)
    with torch.no_grad():
        l_id2ls, short, long = _fork_regroup(scores, response_length, index)
        for i in range(scores.shape[0]):
            if l_id2ls[i]:
                scores[i] = ((_lambda * (alpha * scores[i] - short[index[i]] + beta)
                              + (1 - _lambda) * (scores[i] - long[index[i]])) / max_length)
            else:
                scores[i] = ((_lambda * (scores[i] - alpha * long[index[i]] - beta)
                              + (1 - _lambda) * (scores[i] - short[index[i]])) / max_length)
        return scores.unsqueeze(-1) * response_mask


def _canon_batch(seed: int, groups: int = 6, per: int = 8, t: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    b = groups * per - 3  # some groups lose members: odd sizes
    g = rng.permutation(np.repeat(np.arange(groups) * 5 + 11, per))[:b]
    g[0] = 999  # a singleton
    m = np.arange(t)[None, :] < rng.integers(1, t + 1, size=b)[:, None]
    return {"r": rng.choice([0.0, 1.0], size=b) * 1.0 + rng.normal(size=b) * 0.1, "g": g, "m": m,
            "h": rng.random((b, t)) * 2.0}


def _token_rewards(r: Any, m: Any) -> torch.Tensor:
    """Outcome reward on the last valid token (row sum = r)."""
    tl = np.zeros(m.shape)
    last = np.maximum(m.sum(axis=-1) - 1, 0)
    tl[np.arange(m.shape[0]), last] = r
    return torch.tensor(tl)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kw", [{}, {"mu": 0.5}, {"mu": 0.3, "alpha": 1.5, "beta": 0.2}, {"mu": 0.0}])
def test_canon_entropy_matches_fork(seed: int, kw: dict[str, float]) -> None:
    c = _canon_batch(seed)
    mu, alpha, beta = kw.get("mu", 1.0), kw.get("alpha", 1.0), kw.get("beta", 0.0)
    theirs = fork_canon_entropy(_token_rewards(c["r"], c["m"]), torch.tensor(c["m"]).double(), torch.tensor(c["h"]),
                                c["g"].tolist(), alpha, beta, mu, 64)
    ref = R.canon_advantage(c["r"], c["g"], c["h"], c["m"], max_length=64, **kw)
    acc = A.canon_advantage(torch.tensor(c["r"]), torch.tensor(c["g"]), torch.tensor(c["h"]), torch.tensor(c["m"]),
                            max_length=64, **kw)
    np.testing.assert_allclose(ref, theirs.numpy(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(acc, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kw", [{}, {"mu": 0.6, "alpha": 2.0, "beta": -0.3}])
def test_canon_length_matches_fork(kw: dict[str, float]) -> None:
    c = _canon_batch(7)
    mu, alpha, beta = kw.get("mu", 1.0), kw.get("alpha", 1.0), kw.get("beta", 0.0)
    theirs = fork_canon_length(_token_rewards(c["r"], c["m"]), torch.tensor(c["m"]).double(), c["g"].tolist(),
                               alpha, beta, mu, 16)
    ref = R.canon_advantage(c["r"], c["g"], c["h"], c["m"], metric="length", max_length=16, **kw)
    acc = A.canon_advantage(torch.tensor(c["r"]), torch.tensor(c["g"]), torch.tensor(c["h"]), torch.tensor(c["m"]),
                            metric="length", max_length=16, **kw)
    np.testing.assert_allclose(ref, theirs.numpy(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(acc, theirs, rtol=1e-12, atol=1e-15)
    # lengths tie a lot: the stable order decides, as Python's sorted in the fork
    assert len(np.unique(c["m"].sum(axis=-1))) < c["m"].shape[0]


def test_canon_hand_computed_and_dr_grpo() -> None:
    r = np.array([1.0, 0.0, 1.0, 1.0, 0.5])
    g = np.array([5, 5, 5, 5, -2])
    h = np.array([[1.0], [0.5], [2.0], [0.5], [3.0]])
    m = np.ones((5, 1), dtype=bool)
    # sorted by entropy (stable): 1, 3 | 0, 2 → μ_L = 1/2, μ_H = 1
    np.testing.assert_allclose(R.canon_advantage(r, g, h, m, max_length=1)[:, 0], [0.5, -1.0, 0.5, 0.0, 0.5])
    np.testing.assert_allclose(R.canon_advantage(r, g, h, m, mu=0.0, max_length=1)[:, 0], [0.0, -0.5, 0.0, 0.5, 0.5])
    # μ = 1/2 on the even group: Dr. GRPO (r − mean)/L
    half = R.canon_advantage(r, g, h, m, mu=0.5, max_length=4)[:4, 0]
    np.testing.assert_allclose(half, (r[:4] - r[:4].mean()) / 4, rtol=1e-15)


def test_canon_at_scale_loop_free() -> None:
    """16 384 responses in 1 024 shuffled groups of 16 (the paper's G); loop-freeness itself is proven by the
    fullgraph compile below (a loop over a data-dependent number of groups cannot be captured)."""
    rng = np.random.default_rng(4)
    n, t = 16_384, 8
    g = rng.permutation(np.repeat(rng.choice(10**9, size=n // 16, replace=False), 16))
    r = rng.choice([0.0, 1.0], size=n)
    h = rng.integers(0, 16, size=(n, t)) / 4.0
    m = rng.random((n, t)) < 0.9
    acc = A.canon_advantage(torch.tensor(r), torch.tensor(g), torch.tensor(h), torch.tensor(m), mu=0.7, max_length=8)
    ref = R.canon_advantage(r, g, h, m, mu=0.7, max_length=8)
    np.testing.assert_allclose(acc.numpy(), ref, rtol=1e-12, atol=1e-14)


def test_canon_compiles_fullgraph() -> None:
    c = _canon_batch(2)
    args = (torch.tensor(c["r"], dtype=torch.float32), torch.tensor(c["g"]), torch.tensor(c["h"], dtype=torch.float32),
            torch.tensor(c["m"]))
    eager = A.canon_advantage(*args, mu=0.4)
    torch._dynamo.reset()
    compiled = torch.compile(A.canon_advantage, fullgraph=True, backend="eager")
    with spec.validate.unchecked():
        torch.testing.assert_close(compiled(*args, mu=0.4), eager)
    assert eager.dtype == torch.float32


@pytest.mark.parametrize("mod", [R, A])
def test_canon_bad_input(mod: Any) -> None:
    r, g, h, m = np.zeros(3), np.array([0, 0, 1]), np.zeros((3, 2)), np.ones((3, 2), dtype=bool)
    with pytest.raises(ShapeError):
        mod.canon_advantage(r, g[:2], h, m)
    with pytest.raises(ShapeError):
        mod.canon_advantage(r, g, h[:2], m[:2])
    with pytest.raises(DTypeError):
        mod.canon_advantage(r, g.astype(np.float64), h, m)
    with pytest.raises(DomainError):
        mod.canon_advantage(np.array([0.0, np.nan, 1.0]), g, h, m)
    with pytest.raises(ParameterError):
        mod.canon_advantage(r, g, h, m, metric="perplexity")
    with pytest.raises(ParameterError):
        mod.canon_advantage(r, g, h, m, max_length=0)


# --------------------------------------------------------------------------- canon_advantage_scheduled


def fork_canon_scheduled(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, entropy: torch.Tensor,
                         index: Any, schedule: str, step: int, max_length: int) -> torch.Tensor:
    """The three scheduled estimators of the fork (they differ only in mean_of_all)."""
    scores = token_level_rewards.sum(dim=-1)
    ent = fork_masked_mean(entropy, response_mask, axis=-1)
    if schedule == "annel":
        mean_of_all: Any = 1 - torch.mean(scores)
    elif schedule == "cosine_restart":
        mean_of_all = fork_cosine_annealing_with_restart(step, total_epochs=150, max_lr=0.6, min_lr=0,
                                                         warmup_epochs=30)
    else:
        mean_of_all = 1 - fork_cosine_annealing_with_restart(step, total_epochs=150, max_lr=1, min_lr=0.4,
                                                             warmup_epochs=30)
    with torch.no_grad():
        l_id2ls, short, long = _fork_regroup(scores, ent, index)
        for i in range(scores.shape[0]):
            if l_id2ls[i]:
                scores[i] = (((1 - mean_of_all) * (scores[i] - short[index[i]])
                              + mean_of_all * (scores[i] - long[index[i]])) / max_length)
            else:
                scores[i] = (((1 - mean_of_all) * (scores[i] - long[index[i]])
                              + mean_of_all * (scores[i] - short[index[i]])) / max_length)
        return scores.unsqueeze(-1) * response_mask


@pytest.mark.parametrize("schedule", ["annel", "cosine_restart", "cosine_restart_r"])
@pytest.mark.parametrize("step", [0, 17, 29, 30, 55, 70, 149, 151, 333])
def test_canon_scheduled_matches_fork(schedule: str, step: int) -> None:
    c = _canon_batch(step)
    theirs = fork_canon_scheduled(_token_rewards(c["r"], c["m"]), torch.tensor(c["m"]).double(), torch.tensor(c["h"]),
                                  c["g"].tolist(), schedule, step, 32)
    kw = {"schedule": schedule, "step": step, "max_length": 32}
    ref = R.canon_advantage_scheduled(c["r"], c["g"], c["h"], c["m"], **kw)
    acc = A.canon_advantage_scheduled(torch.tensor(c["r"]), torch.tensor(c["g"]), torch.tensor(c["h"]),
                                      torch.tensor(c["m"]), **kw)
    np.testing.assert_allclose(ref, theirs.numpy(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(acc, theirs, rtol=1e-12, atol=1e-15)


def test_canon_scheduled_is_canon_with_mu() -> None:
    c = _canon_batch(3)
    w = 1.0 - fork_cosine_annealing_with_restart(50, 150, 0.6, 0.0, 30)  # the inter weight at step 50: 0.7
    assert w == pytest.approx(0.7)
    a = R.canon_advantage_scheduled(c["r"], c["g"], c["h"], c["m"], step=50, max_length=8)
    b = R.canon_advantage(c["r"], c["g"], c["h"], c["m"], mu=w, max_length=8)
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-16)


def test_canon_scheduled_compiles_annel_without_sync() -> None:
    c = _canon_batch(5)
    args = (torch.tensor(c["r"], dtype=torch.float32), torch.tensor(c["g"]), torch.tensor(c["h"], dtype=torch.float32),
            torch.tensor(c["m"]))
    for schedule in ("annel", "cosine_restart_r"):
        eager = A.canon_advantage_scheduled(*args, schedule=schedule, step=77)
        torch._dynamo.reset()
        compiled = torch.compile(A.canon_advantage_scheduled, fullgraph=True, backend="eager")
        with spec.validate.unchecked():
            torch.testing.assert_close(compiled(*args, schedule=schedule, step=77), eager)


@pytest.mark.parametrize("mod", [R, A])
def test_canon_scheduled_bad_input(mod: Any) -> None:
    r, g, h, m = np.zeros(3), np.array([0, 0, 1]), np.zeros((3, 2)), np.ones((3, 2), dtype=bool)
    with pytest.raises(ParameterError):
        mod.canon_advantage_scheduled(r, g, h, m, step=-1)
    with pytest.raises(ParameterError):
        mod.canon_advantage_scheduled(r, g, h, m, schedule="linear")
    with pytest.raises(DTypeError):
        mod.canon_advantage_scheduled(r, g.astype(np.float32), h, m)
    with pytest.raises(DomainError):
        mod.canon_advantage_scheduled(r, g, h, m.astype(np.float64) * 2)


# --------------------------------------------------------------------------- empg_advantage


def pseudocode_empg(token_adv: torch.Tensor, old_entropy: torch.Tensor, segments: list[tuple[int, int, int]],
                    k: float = 1.0, k_f: float = 1.0, zeta: float = 0.1) -> tuple[torch.Tensor, list[float]]:
    """compute_empg_advantage on a batch whose assistant segments are given as (sample, start, end), in order.

    First pass, Eq. 12, 10, 11 as the project page; second pass as the ARLArena copy with the per-segment indexing
    the page's comments describe (``advantages[idx][start:end] *= g_H[i]``); Eq. 7 as the copy (centring)."""
    all_step_entropies = []
    segments_to_modify = []
    for i, start, end in segments:
        all_step_entropies.append(old_entropy[i][start:end].mean().item())
        segments_to_modify.append({"sample_idx": i, "start": start, "end": end})
    h = np.array(all_step_entropies)
    min_h, max_h = np.min(h), np.max(h)
    h_norm = (h - min_h) / (max_h - min_h + 1e-8)
    g_unnormalized = np.exp(-k * h_norm)
    g_h = torch.tensor(g_unnormalized / (np.mean(g_unnormalized) + 1e-8), dtype=torch.float32)
    f_h = torch.tensor(np.exp(-k_f * h_norm), dtype=torch.float32)
    adv = token_adv.clone()
    step_advantages = []
    for i, segment in enumerate(segments_to_modify):
        idx, start, end = segment["sample_idx"], segment["start"], segment["end"]
        adv[idx][start:end] *= g_h[i]
        next_seg = segments_to_modify[i + 1] if i + 1 < len(segments_to_modify) else None
        if next_seg and next_seg["sample_idx"] == idx:
            adv[idx][start:end] += zeta * f_h[i + 1]
        step_advantages.append(adv[idx][start])
    final_adv_mean = torch.mean(torch.stack(step_advantages))
    adv -= final_adv_mean
    return adv, [float(adv[i][start]) for i, start, _ in segments]


def test_empg_matches_pseudocode() -> None:
    rng = np.random.default_rng(0)
    b, t = 4, 40
    ent = torch.tensor(rng.random((b, t)) * 3.0, dtype=torch.float32)
    outcome = np.array([1.0, -1.0, 0.5, -0.5])
    token_adv = torch.tensor(np.repeat(outcome[:, None], t, axis=1), dtype=torch.float32)
    segments = [(0, 2, 9), (0, 12, 20), (0, 25, 31), (1, 3, 17), (2, 1, 5), (2, 8, 30), (3, 0, 40)]
    _, theirs = pseudocode_empg(token_adv, ent, segments, k=1.3, k_f=0.7, zeta=0.2)
    step_h = np.array([float(ent[i][s:e].mean()) for i, s, e in segments])
    step_a = np.array([outcome[i] for i, _, _ in segments])
    traj = np.array([i for i, _, _ in segments])
    kw = {"k": 1.3, "k_f": 0.7, "zeta": 0.2, "normalize": "mean"}
    ref = R.empg_advantage(step_h, step_a, traj, **kw)
    acc = A.empg_advantage(torch.tensor(step_h), torch.tensor(step_a), torch.tensor(traj), **kw)
    np.testing.assert_allclose(ref, theirs, rtol=1e-6, atol=1e-6)  # the pseudocode holds g, f in float32
    np.testing.assert_allclose(acc.numpy(), ref, rtol=1e-13, atol=1e-15)


def test_empg_hand_computed() -> None:
    eps = 1e-8
    # equal entropies: H_n = 0, g = 1/(1 + 1e-8), f = 1; step 0 → + ζ (its trajectory 7 continues at step 2)
    out = R.empg_advantage(np.array([2.0, 2.0, 2.0]), np.array([1.0, -1.0, 1.0]), np.array([7, 4, 7]), zeta=0.5,
                           normalize="none")
    np.testing.assert_allclose(out, [1 / (1 + eps) + 0.5, -1 / (1 + eps), 1 / (1 + eps)], rtol=1e-15)
    # k = 0, ζ = 0: the vanilla advantage (up to the 1e-8)
    a = np.array([0.3, -2.0, 1.0])
    np.testing.assert_allclose(R.empg_advantage(np.array([0.1, 3.0, 1.0]), a, np.array([0, 0, 1]), k=0.0, zeta=0.0,
                                                normalize="none"), a / (1 + eps), rtol=1e-15)
    # standardised: mean 0, population std 1
    z = R.empg_advantage(np.array([0.1, 3.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0, 0.0]), np.array([0, 0, 1, 2]))
    assert abs(z.mean()) < 1e-12 and z.std() == pytest.approx(1.0, rel=1e-7)


def test_empg_interleaved_trajectories() -> None:
    """The next step is the next later entry of the same trajectory, wherever it sits in the batch."""
    h = np.array([0.5, 2.0, 1.0, 3.0, 0.0])
    a = np.array([1.0, -1.0, 1.0, -1.0, 2.0])
    traj = np.array([1, 2, 1, 2, 9])
    order = np.array([0, 2, 1, 3, 4])  # grouped by trajectory, order inside each kept
    mixed = R.empg_advantage(h, a, traj, normalize="none")
    grouped = R.empg_advantage(h[order], a[order], traj[order], normalize="none")
    np.testing.assert_allclose(mixed[order], grouped, rtol=1e-15)
    acc = A.empg_advantage(torch.tensor(h), torch.tensor(a), torch.tensor(traj), normalize="none")
    np.testing.assert_allclose(acc.numpy(), mixed, rtol=1e-15)


def test_empg_compiles_fullgraph() -> None:
    rng = np.random.default_rng(1)
    args = (torch.tensor(rng.random(30), dtype=torch.float32), torch.tensor(rng.normal(size=30), dtype=torch.float32),
            torch.tensor(rng.integers(0, 6, size=30)))
    eager = A.empg_advantage(*args)
    torch._dynamo.reset()
    compiled = torch.compile(A.empg_advantage, fullgraph=True, backend="eager")
    with spec.validate.unchecked():
        torch.testing.assert_close(compiled(*args), eager)
    assert eager.dtype == torch.float32


@pytest.mark.parametrize("mod", [R, A])
def test_empg_bad_input(mod: Any) -> None:
    h, a, t = np.zeros(3), np.zeros(3), np.array([0, 0, 1])
    with pytest.raises(ShapeError):
        mod.empg_advantage(h, a[:2], t)
    with pytest.raises(ShapeError):
        mod.empg_advantage(np.zeros((3, 1)), np.zeros((3, 1)), t[:, None])
    with pytest.raises(DTypeError):
        mod.empg_advantage(h, a, t.astype(np.float64))
    with pytest.raises(DomainError):
        mod.empg_advantage(np.array([0.0, np.inf, 1.0]), a, t)
    with pytest.raises(ParameterError):
        mod.empg_advantage(h, a, t, normalize="minmax")
    with pytest.raises(ParameterError):
        mod.empg_advantage(h, a, t, k=-1.0)
