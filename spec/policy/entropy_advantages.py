"""Specs of the ``entropy_advantages`` group of the ``policy`` family: advantage estimators shaped by entropy —
CANON (regroup each prompt's responses by mean token entropy or length and mix inter- and intra-group baselines)
and its scheduled variants; EMPG (entropy-modulated step advantages).

Group structure as ``group_advantages``: ``group_ids`` are any integer labels (not contiguous, not sorted),
groups of size one are defined, and the accelerated versions have no Python loop over groups. Advantages are
stop-gradient constants.

Selection rule across dtypes. CANON splits each group by the *rank* of a per-response metric (a masked mean of
token entropies, or a length). Exact ties keep the original order (a stable sort, as the code's Python
``sorted``); the metric is computed in float64 on every backend, so exactly equal metrics (identical rows, or
dyadic entropies whose sums are exact) decide identically everywhere, while rounding-level near-ties of
non-dyadic means are unspecified. Conformance draws dyadic entropies (and repeated rows) so ties are exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.model import (
    Branch,
    Choice,
    Difference,
    InputSpec,
    Interval,
    IntRange,
    MethodSpec,
    OutputSpec,
    Paper,
    ParamSpec,
    Property,
    PropertyContext,
    Provenance,
    Scale,
    default_tolerance,
)
from spec.policy._common import DR_GRPO_2025, F64, SEQ, mask_input, valid_mask
from spec.registry import register

__all__: list[str] = []

CANON_2025 = Paper("Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models", 2025,
                   "2509.23962")
CANON_CODE = "biuboomc/CANON"
CANON_COMMIT = "7d6f814fb71f3d6a30e5312f68973c5207bd142c"


# =========================================================================== shared CANON definition


def canon_metric(inputs: Mapping[str, Any], metric: str) -> F64:
    """Per-response metric of the code: masked mean entropy Σ H·m / (Σ m + 1e-8) (verl masked_mean; 0 for an
    empty response), or the length Σ m."""
    m = valid_mask(inputs["mask"]).astype(np.float64)
    if metric == "length":
        return np.asarray(m.sum(axis=-1), dtype=np.float64)
    h = np.asarray(inputs["entropy"], dtype=np.float64)
    return np.asarray((h * m).sum(axis=-1) / (m.sum(axis=-1) + 1e-8), dtype=np.float64)


def np_canon(inputs: Mapping[str, Any], metric: str, inter: float, intra: float, alpha: float, beta: float,
             max_length: float) -> F64:
    """CANON advantages (B, T) from the definition (loops over groups; for the properties)."""
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    g = np.asarray(inputs["group_ids"])
    key = canon_metric(inputs, metric)
    adv = np.zeros(r.shape)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        order = idx[np.argsort(key[idx], kind="stable")]
        mid = idx.size // 2
        low, high = order[:mid], order[mid:]
        mu_l = 0.0 if idx.size == 1 else float(np.mean(r[low]))
        mu_h = 0.0 if idx.size == 1 else float(np.mean(r[high]))
        for i in high:
            a = alpha * r[i] - mu_l + beta if metric == "length" else r[i] - alpha * mu_l + beta
            adv[i] = (inter * a + intra * (r[i] - mu_h)) / max_length
        for i in low:
            a = r[i] - alpha * mu_h - beta if metric == "length" else alpha * r[i] - mu_h - beta
            adv[i] = (inter * a + intra * (r[i] - mu_l)) / max_length
    return np.asarray(adv[:, None] * valid_mask(inputs["mask"]), dtype=np.float64)


def _groups(inputs: Mapping[str, Any]) -> list[npt.NDArray[np.int64]]:
    g = np.asarray(inputs["group_ids"])
    return [np.flatnonzero(g == gid) for gid in np.unique(g)]


def _halves(inputs: Mapping[str, Any], metric: str) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    key = canon_metric(inputs, metric)
    out = []
    for idx in _groups(inputs):
        order = idx[np.argsort(key[idx], kind="stable")]
        out.append((order[: idx.size // 2], order[idx.size // 2:]))
    return out


def _tie_across_split(inputs: Mapping[str, Any], metric: str) -> bool:
    key = canon_metric(inputs, metric)
    return any(lo.size and hi.size and key[lo[-1]] == key[hi[0]] for lo, hi in _halves(inputs, metric))


def canon_scale(inputs: Mapping[str, Any], inter: float, intra: float, alpha: float, beta: float,
                max_length: float) -> float:
    r = np.asarray(inputs["rewards"], dtype=np.float64)
    big = max(1.0, float(np.max(np.abs(r))) if r.size else 0.0)
    return (abs(inter) * (abs(alpha) + 1.0) * big + abs(inter * beta) + abs(intra) * 2.0 * big) / max_length


def canon_inputs() -> tuple[InputSpec, ...]:
    return (
        InputSpec("rewards", "rewards", ("B",), "scalar outcome reward per response (the code's row sum of "
                  "token_level_rewards)"),
        InputSpec("group_ids", "group_ids", ("B",), "integer group (prompt) id per response", dtype="int"),
        InputSpec("entropy", "values", SEQ, "token entropies of each response (old policy), used for the metric"),
        mask_input(),
    )


def canon_branches(metric_of: Any) -> tuple[Branch, ...]:
    def sizes(i: Mapping[str, Any]) -> list[int]:
        return [idx.size for idx in _groups(i)]

    return (
        Branch("group of size one", "a response alone in its group (the code sets both half-means to 0)",
               lambda i, p, o: 1 in sizes(i)),
        Branch("odd group", "a group of odd size >= 3 (the high half gets the extra response)",
               lambda i, p, o: any(n >= 3 and n % 2 == 1 for n in sizes(i))),
        Branch("even group", "a group of even size >= 2", lambda i, p, o: any(n >= 2 and n % 2 == 0 for n in sizes(i))),
        Branch("metric tie across the split", "equal metrics on both sides of the split (original order decides)",
               lambda i, p, o: _tie_across_split(i, metric_of(p))),
        Branch("empty response", "a response with an empty mask (metric 0, advantage row all 0)",
               lambda i, p, o: bool(np.any(~valid_mask(i["mask"]).any(axis=-1)))),
    )


def _half_sums_zero(ctx: PropertyContext, metric: str, **overrides: Any) -> None:
    """With the inter weight 0 each half is centred on its own mean: Σ A = 0 within each half."""
    (a,) = ctx.call(**overrides)
    m = valid_mask(ctx.inputs["mask"])
    per = np.asarray(a, dtype=np.float64)
    rows = np.where(m.any(axis=-1), per.sum(axis=-1) / np.maximum(m.sum(axis=-1), 1), 0.0)  # A_i
    checked = False
    for lo, hi in _halves(ctx.inputs, metric):
        for half in (lo, hi):
            if half.size >= 2 and m[half].any(axis=-1).all():
                checked = True
                tol = ctx.slack(4) * (1.0 + float(np.abs(rows[half]).sum()))
                assert abs(float(rows[half].sum())) <= tol, f"half {half}: Σ A = {rows[half].sum()}, not 0"
    if not checked:
        ctx.skip("no half of size >= 2 with every response non-empty")


def _masked_entropy_irrelevant(ctx: PropertyContext) -> None:
    valid = valid_mask(ctx.inputs["mask"])
    if valid.all():
        ctx.skip("no masked position")
    (a,) = ctx.call()
    (b,) = ctx.call(entropy=np.where(valid, ctx.inputs["entropy"], 2.0))
    assert ctx.close(b, a), "entropies at masked positions changed the advantages"


def _metric_scale_invariance(ctx: PropertyContext) -> None:
    """Only the ranks of the metric matter: doubling every entropy leaves the advantages unchanged."""
    (a,) = ctx.call()
    (b,) = ctx.call(entropy=2.0 * np.asarray(ctx.inputs["entropy"], dtype=np.float64))
    assert ctx.close(b, a), "doubling the entropies (same ranks) changed the advantages"


# =========================================================================== canon_advantage


def _canon_params(p: Mapping[str, Any]) -> tuple[str, float, float, float, float, float]:
    mu = float(p.get("mu", 1.0))
    return (str(p.get("metric", "entropy")), mu, 1.0 - mu, float(p.get("alpha", 1.0)), float(p.get("beta", 0.0)),
            float(p.get("max_length", 8192)))


def _canon_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    expect = np_canon(ctx.inputs, *_canon_params(ctx.params))
    assert ctx.close(a, expect, factor=4), f"CANON advantages {a} != definition {expect}"


def _canon_dr_grpo(ctx: PropertyContext) -> None:
    """μ = 1/2, α = 1, β = 0 and an even group: (r − mean_group)/max_length (Dr. GRPO)."""
    g = np.asarray(ctx.inputs["group_ids"])
    r = np.asarray(ctx.inputs["rewards"], dtype=np.float64)
    even = [idx for idx in _groups(ctx.inputs) if idx.size >= 2 and idx.size % 2 == 0]
    if not even:
        ctx.skip("no even group")
    length = float(ctx.params.get("max_length", 8192))
    (a,) = ctx.call(mu=0.5, alpha=1.0, beta=0.0)
    a = np.asarray(a, dtype=np.float64)
    m = valid_mask(ctx.inputs["mask"])
    for idx in even:
        expect = (r[idx] - r[idx].mean()) / length
        assert ctx.close(a[idx], expect[:, None] * m[idx], factor=4), f"group {g[idx[0]]}: not Dr. GRPO"


def _canon_singletons(ctx: PropertyContext) -> None:
    one = [idx[0] for idx in _groups(ctx.inputs) if idx.size == 1]
    if not one:
        ctx.skip("no group of size one")
    metric, mu, _, alpha, beta, length = _canon_params(ctx.params)
    r = np.asarray(ctx.inputs["rewards"], dtype=np.float64)[one]
    scale = mu * alpha + (1.0 - mu) if metric == "length" else 1.0
    expect = (scale * r + mu * beta) / length
    (a,) = ctx.call()
    m = valid_mask(ctx.inputs["mask"])[one]
    assert ctx.close(np.asarray(a)[one], expect[:, None] * m, factor=4), "singleton: both half-means are 0"


def _canon_intra_zero_sum(ctx: PropertyContext) -> None:
    _half_sums_zero(ctx, str(ctx.params.get("metric", "entropy")), mu=0.0)


register(MethodSpec(
    id="canon_advantage",
    family="policy",
    kind="advantage",
    summary="CANON: per prompt, split the responses by a metric (mean token entropy or length; low half = first "
            "⌊G/2⌋ by stable ascending order) and mix the inter-group baseline (the other half's mean, weight μ, with "
            "α, β) and the intra-group one (own half's mean, weight 1 − μ), divided by max_length; broadcast over "
            "the mask.",
    papers=(CANON_2025, DR_GRPO_2025),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{CANON_CODE} verl/trainer/ppo/core_algos.py compute_dr_entropy_per_token_group_outcome_"
                        "advantage and compute_dr_length_on_mean_group_outcome_advantage, verl/utils/torch_functional"
                        f".py masked_mean (+1e-8), scripts/setups.sh and README (α = 'alpha in Eq. 8', _lambda = "
                        f"'mu in Eq. 5', defaults 1.0, max_response_length 8192), commit {CANON_COMMIT[:12]}, fetched "
                        "with the search tool. The paper text (arXiv 2509.23962) was not readable in the stored "
                        "corpus: the formula is the code's (catalogue: verified-code)",
        official_code=f"{CANON_CODE}:verl/trainer/ppo/core_algos.py:compute_dr_entropy_per_token_group_outcome_advantage",
        notes="Computed under no_grad (stop-gradient). Metric: verl masked_mean Σ H·m/(Σ m + 1e-8) (an empty response "
              "has metric 0) or the length Σ m. Ordering: Python sorted() by the metric (stable: ties keep the "
              "original order); mid = ⌊G/2⌋, low = first mid, high = the rest. Groups of size 1: both half-means 0 (as "
              "the code). The output is A_i·mask (the code's scores.unsqueeze(-1) * response_mask). The code divides "
              "by the constant max_length (Dr. GRPO's normaliser; the script's max_response_length 8192).",
        differences=(
            Difference("length variant", "one estimator with α on the other half's mean",
                       "compute_dr_length_on_mean mirrors the α/β placement (high: λ(α r − μ_L + β), low: λ(r − α μ_H "
                       "− β)); identical at α = 1, β = 0", "code", "metric"),
            Difference("metric of an empty response", "undefined", "verl masked_mean with + 1e-8 gives 0", "code",
                       None),
        ),
    ),
    inputs=canon_inputs(),
    params=(
        ParamSpec("metric", "entropy", Choice(("entropy", "length")), "the regrouping metric: mean token entropy "
                  "(dr_entropy_token_budget) or response length (dr_length_on_mean)"),
        ParamSpec("mu", 1.0, Interval(0.0, 1.0), "μ (Eq. 5; the code's _lambda): weight of the inter-group term, "
                  "1 − μ on the intra-group term"),
        ParamSpec("alpha", 1.0, Interval(0.0, 4.0), "α (Eq. 8): scale on the other half's mean (entropy variant: "
                  "on the high half's μ_L and the low half's r)"),
        ParamSpec("beta", 0.0, Interval(-2.0, 2.0), "β: offset added to the high half's inter term, subtracted "
                  "from the low half's"),
        ParamSpec("max_length", 8192, IntRange(1, None), "the constant divisor (Dr. GRPO; max_response_length)"),
    ),
    outputs=(OutputSpec("advantages", "A_i·mask_it, shape (B, T)", shape=SEQ,
                        scale=Scale("(|μ|(|α| + 1)·R + |μβ| + 2|1 − μ|·R)/max_length, R = max(1, largest |r|): "
                                    "the largest possible |A|",
                                    lambda i, p: canon_scale(i, *_canon_params(p)[1:]))),),
    branches=canon_branches(lambda p: str(p.get("metric", "entropy"))),
    properties=(
        Property("definition", "equals the code's per-group formula", _canon_definition),
        Property("dr_grpo_at_half", "μ = 1/2, α = 1, β = 0 on an even group gives (r − mean)/max_length",
                 _canon_dr_grpo),
        Property("intra_halves_zero_sum", "μ = 0: Σ A = 0 within each half", _canon_intra_zero_sum),
        Property("singletons", "a group of size one gets ((μα + 1 − μ) r + μβ)/L (length) or (r + μβ)/L (entropy)",
                 _canon_singletons),
        Property("metric_rank_invariance", "doubling the entropies (same ranks) changes nothing",
                 _metric_scale_invariance),
        Property("masked_entropy_irrelevant", "entropies at masked positions do not matter",
                 _masked_entropy_irrelevant),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (computed under no_grad)",),
    degenerate=("B = 0 gives an empty (0, T) output", "a group of size 1: both half-means are 0",
                "an empty response: metric 0 (it sorts low when entropies are positive) and an all-zero row"),
))


# =========================================================================== canon_advantage_scheduled

#: The code's constants: cosine_annealing_with_restart(total_epochs=150, warmup_epochs=30, cycles=3), with
#: (max, min) = (0.6, 0) for cosine_restart and (1, 0.4) for cosine_restart_r.
SCHEDULE_TOTAL, SCHEDULE_WARMUP, SCHEDULE_CYCLES = 150, 30, 3


def cosine_restart(step: int, high: float, low: float) -> float:
    """The code's cosine_annealing_with_restart: linear warm-up, then cosine cycles of (total − warmup)//cycles."""
    if step < SCHEDULE_WARMUP:
        return high * (step + 1) / SCHEDULE_WARMUP
    cycle = (SCHEDULE_TOTAL - SCHEDULE_WARMUP) // SCHEDULE_CYCLES
    e = (step - SCHEDULE_WARMUP) % cycle
    return low + 0.5 * (high - low) * (1 + math.cos(math.pi * e / cycle))


def schedule_weights(schedule: str, step: int, rewards: Any) -> tuple[float, float]:
    """(inter, intra) weights as the code: the code's mean_of_all m weights the intra term, 1 − m the inter."""
    if schedule == "annel":
        r = np.asarray(rewards, dtype=np.float64)
        m = 1.0 - (float(np.mean(r)) if r.size else 0.0)
    elif schedule == "cosine_restart":
        m = cosine_restart(step, 0.6, 0.0)
    else:
        m = 1.0 - cosine_restart(step, 1.0, 0.4)
    return 1.0 - m, m


def _sched_params(inputs: Mapping[str, Any], p: Mapping[str, Any]) -> tuple[float, float, float]:
    inter, intra = schedule_weights(str(p.get("schedule", "cosine_restart")), int(p.get("step", 0)),
                                    inputs["rewards"])
    return inter, intra, float(p.get("max_length", 8192))


def _sched_definition(ctx: PropertyContext) -> None:
    inter, intra, length = _sched_params(ctx.inputs, ctx.params)
    (a,) = ctx.call()
    expect = np_canon(ctx.inputs, "entropy", inter, intra, 1.0, 0.0, length)
    assert ctx.close(a, expect, factor=4), f"scheduled CANON {a} != definition {expect}"


def _sched_restart_period(ctx: PropertyContext) -> None:
    """After the warm-up the cosine schedules restart every (150 − 30)/3 = 40 steps."""
    schedule = ctx.params.get("schedule", "cosine_restart")
    if schedule == "annel":
        ctx.skip("the annealed weight does not depend on the step")
    step = max(int(ctx.params.get("step", 0)), SCHEDULE_WARMUP)
    (a,) = ctx.call(step=step)
    (b,) = ctx.call(step=step + 40)
    assert ctx.close(b, a), f"{schedule}: steps {step} and {step + 40} differ"


def _sched_annel_mean(ctx: PropertyContext) -> None:
    """annel: the inter weight is the batch-mean reward, so it moves with a shift of every reward (checked
    through the definition at r + 1/2, a different weight than at r)."""
    if ctx.params.get("schedule", "cosine_restart") != "annel":
        ctx.skip("only the annealed schedule reads the batch mean")
    r = np.asarray(ctx.inputs["rewards"], dtype=np.float64)
    if r.size == 0 or np.any(np.abs(r) > 1e3):
        ctx.skip("empty batch or large rewards")
    shifted = {**ctx.inputs, "rewards": r + 0.5}
    inter, intra, length = _sched_params(shifted, ctx.params)
    (a,) = ctx.call(rewards=r + 0.5)
    expect = np_canon(shifted, "entropy", inter, intra, 1.0, 0.0, length)
    assert ctx.close(a, expect, factor=8), "annel: the weight must follow the batch mean of the rewards"


def _sched_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    inter, intra, length = _sched_params(inputs, params)
    return canon_scale(inputs, inter, intra, 1.0, 0.0, length)


register(MethodSpec(
    id="canon_advantage_scheduled",
    family="policy",
    kind="advantage",
    summary="CANON with scheduled weights (α = 1, β = 0, entropy metric): high half w_inter(r − μ_L) + w_intra(r − "
            "μ_H), low half w_inter(r − μ_H) + w_intra(r − μ_L), over max_length; w_inter = batch-mean reward "
            "(annel), 1 − cos_restart(step; 0.6, 0) (cosine_restart) or cos_restart(step; 1, 0.4) (cosine_restart_r), "
            "w_intra = 1 − w_inter.",
    papers=(CANON_2025, DR_GRPO_2025),
    provenance=Provenance(
        confidence="verified-code",
        checked_against=f"{CANON_CODE} verl/trainer/ppo/core_algos.py compute_dr_entropy_per_token_annel_group_"
                        "outcome_advantage, ..._cosine_with_restart_group_outcome_advantage, ..._cosine_with_restart_r_"
                        "group_outcome_advantage and cosine_annealing_with_restart, verl/trainer/ppo/ray_trainer.py "
                        f"(the estimators' names) and scripts/setups.sh, commit {CANON_COMMIT[:12]}, fetched with the "
                        "search tool; the paper text (arXiv 2509.23962) was not readable in the stored corpus",
        official_code=f"{CANON_CODE}:verl/trainer/ppo/core_algos.py:"
                      "compute_dr_entropy_per_token_cosine_with_restart_group_outcome_advantage",
        notes="The code's mean_of_all m weights the intra term and 1 − m the inter term: annel m = 1 − mean(scores) "
              "over the whole batch (scores = outcome rewards; B = 0 gives no output); cosine_restart m = "
              "cos_restart(step; max 0.6, min 0); cosine_restart_r m = 1 − cos_restart(step; max 1, min 0.4). "
              "cos_restart: step < 30 → max·(step + 1)/30; else min + ½(max − min)(1 + cos(π·((step − 30) mod 40)/40)) "
              "(total 150, warm-up 30, 3 cycles: the cycles continue past step 150). The step is the trainer's global "
              "step (a state the caller owns). Same regrouping, singletons, metric and broadcast as canon_advantage.",
        differences=(
            Difference("schedule constants", "First-Inter-Later-Intra / First-Intra-Later-Inter schedules",
                       "hard-coded in each estimator (total 150, warm-up 30, 3 cycles, (0.6, 0) and (1, 0.4)); not "
                       "exposed here either", "code", "schedule"),
        ),
    ),
    inputs=canon_inputs(),
    params=(
        ParamSpec("schedule", "cosine_restart", Choice(("annel", "cosine_restart", "cosine_restart_r")),
                  "dr_entropy_token_budget_annel / _cosine_restart (Cosin-First-Intra-Later-Inter) / "
                  "_cosine_restart_r (Cosin-First-Inter-Later-Intra)"),
        ParamSpec("step", 0, IntRange(0, None), "the global training step (the schedules' epoch)"),
        ParamSpec("max_length", 8192, IntRange(1, None), "the constant divisor (Dr. GRPO; max_response_length)"),
    ),
    outputs=(OutputSpec("advantages", "A_i·mask_it, shape (B, T)", shape=SEQ,
                        scale=Scale("(|w_inter|·2R + |w_intra|·2R)/max_length, R = max(1, largest |r|)",
                                    _sched_scale)),),
    branches=(
        *canon_branches(lambda p: "entropy"),
        Branch("warm-up", "a cosine schedule at step < 30 (linear warm-up)",
               lambda i, p, o: p.get("schedule") != "annel" and int(p.get("step", 0)) < SCHEDULE_WARMUP),
        Branch("cosine phase", "a cosine schedule at step >= 30 (restarts every 40 steps)",
               lambda i, p, o: p.get("schedule") != "annel" and int(p.get("step", 0)) >= SCHEDULE_WARMUP),
        Branch("annealed by the batch mean", "schedule 'annel' on a non-empty batch",
               lambda i, p, o: p.get("schedule") == "annel" and np.size(i["rewards"]) > 0),
    ),
    properties=(
        Property("definition", "equals the code's scheduled formula", _sched_definition),
        Property("restart_period", "cosine schedules repeat every 40 steps after the warm-up", _sched_restart_period),
        Property("annel_follows_batch_mean", "annel: the weights move with the batch-mean reward", _sched_annel_mean),
        Property("metric_rank_invariance", "doubling the entropies (same ranks) changes nothing",
                 _metric_scale_invariance),
        Property("masked_entropy_irrelevant", "entropies at masked positions do not matter",
                 _masked_entropy_irrelevant),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (computed under no_grad)",),
    degenerate=("B = 0 gives an empty (0, T) output", "a group of size 1: both half-means are 0",
                "annel with rewards outside [0, 1] gives weights outside [0, 1] (as the code)"),
))


# =========================================================================== empg_advantage

EMPG_2025 = Paper("Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM Agents", 2025,
                  "2509.09265")


def np_empg(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> F64:
    """EMPG step advantages from the definition (loops; for the properties)."""
    h = np.asarray(inputs["step_entropy"], dtype=np.float64)
    a = np.asarray(inputs["advantages"], dtype=np.float64)
    traj = np.asarray(inputs["trajectory_ids"])
    if h.size == 0:
        return np.zeros(0)
    k, k_f, zeta = (float(params.get(n, d)) for n, d in (("k", 1.0), ("k_f", 1.0), ("zeta", 0.1)))
    hn = (h - h.min()) / (h.max() - h.min() + 1e-8)
    g = np.exp(-k * hn)
    g = g / (g.mean() + 1e-8)
    f = np.exp(-k_f * hn)
    out = g * a
    for i in range(h.size):
        later = np.flatnonzero(traj[i + 1:] == traj[i])
        if later.size:
            out[i] += zeta * f[i + 1 + later[0]]
    mode = params.get("normalize", "std")
    if mode == "mean":
        out = out - out.mean()
    elif mode == "std":
        out = (out - out.mean()) / (out.std() + 1e-8)
    return np.asarray(out, dtype=np.float64)


def _has_next(inputs: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    traj = np.asarray(inputs["trajectory_ids"])
    return np.array([bool(np.any(traj[i + 1:] == traj[i])) for i in range(traj.size)], dtype=bool)


def _empg_definition(ctx: PropertyContext) -> None:
    (a,) = ctx.call()
    expect = np_empg(ctx.inputs, ctx.params)
    assert ctx.close(a, expect, factor=4), f"EMPG advantages {a} != definition {expect}"


def _empg_vanilla(ctx: PropertyContext) -> None:
    """k = 0, ζ = 0 and no normalisation: g = 1/(1 + 1e-8), the advantages pass through (up to that 1e-8)."""
    (a,) = ctx.call(k=0.0, zeta=0.0, normalize="none")
    expect = np.asarray(ctx.inputs["advantages"], dtype=np.float64) / (1.0 + 1e-8)
    assert ctx.close(a, expect), "k = 0, ζ = 0, normalize='none' must return A"


def _empg_mean_g(ctx: PropertyContext) -> None:
    """The self-calibrating scale has batch mean 1 (up to the 1e-8): with A = 1, ζ = 0, no normalisation, the
    output is g."""
    h = np.asarray(ctx.inputs["step_entropy"], dtype=np.float64)
    if h.size == 0:
        ctx.skip("no steps")
    (g,) = ctx.call(advantages=np.ones(h.shape), zeta=0.0, normalize="none")
    g = np.asarray(g, dtype=np.float64)
    hn = (h - h.min()) / (h.max() - h.min() + 1e-8)
    m = float(np.exp(-float(ctx.params.get("k", 1.0)) * hn).mean())
    expect = m / (m + 1e-8)  # 1 up to the pseudocode's 1e-8 (which matters when every e^{−kH_n} is small)
    assert abs(float(g.mean()) - expect) <= ctx.slack(4) * max(1.0, float(g.max())), f"mean g = {g.mean()}, not 1"
    order = np.argsort(h, kind="stable")
    assert np.all(np.diff(g[order]) <= ctx.slack(4)), "g must not increase with the entropy"


def _empg_standardised(ctx: PropertyContext) -> None:
    if ctx.params.get("normalize", "std") != "std":
        ctx.skip("only the 'std' normalisation standardises")
    raw = np_empg(ctx.inputs, {**ctx.params, "normalize": "none"})
    if raw.size < 2 or raw.std() < 1e-3:
        ctx.skip("fewer than two steps or a tiny spread (the 1e-8 matters)")
    (a,) = ctx.call()
    a = np.asarray(a, dtype=np.float64)
    assert abs(float(a.mean())) <= ctx.slack(8) * (1 + float(np.abs(a).sum())), f"mean {a.mean()} != 0"
    assert abs(float(a.std()) - 1.0) <= 1e-6 + ctx.slack(8) * a.size, f"std {a.std()} != 1"


def _empg_scale(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> float:
    a = np.asarray(inputs["advantages"], dtype=np.float64)
    n = max(int(a.size), 1)
    if params.get("normalize", "std") == "std":
        return max(1.0, math.sqrt(n))
    k = abs(float(params.get("k", 1.0)))
    g_max = min(float(n), math.exp(k))  # g ≤ e^k (its range) and ≤ n (mean 1, positive)
    big = float(np.max(np.abs(a))) if a.size else 0.0
    return max(1.0, 2.0 * (g_max * big + abs(float(params.get("zeta", 0.1)))))


register(MethodSpec(
    id="empg_advantage",
    family="policy",
    kind="advantage",
    summary="EMPG step advantages: H_n = min-max normalised step entropies over the batch, g = e^{−k H_n}/mean(·) "
            "(self-calibrating scale), f = e^{−k_f H_n} (future clarity); A_mod = g·A + ζ·f(next step of the same "
            "trajectory), then batch-normalised (A − mean)/(std + ε).",
    papers=(EMPG_2025,),
    provenance=Provenance(
        confidence="paper",
        checked_against="the project page's pseudocode compute_empg_advantage (https://empgseed-seed.github.io, read "
                        "with the search tool: step entropy = mean token entropy of each assistant segment, Eq. 12 "
                        "min-max with ε = 1e-8, Eq. 10 g = e^{−kH_n}/(mean + 1e-8), Eq. 11 f = e^{−k_f H_n}, defaults "
                        "k = k_f = 1, ζ = 0.1; the page's text was cut before the modulation pass), the copy of that "
                        "pseudocode in WillDreamer/ARLArena verl/trainer/ppo/core_algos.py (second pass: + ζ·f of "
                        "the next segment of the same sample, then Eq. 7 as subtracting the mean of the step "
                        "advantages), the paper's abstract (arXiv 2509.09265) and the catalogue entry (Eq. 7 as "
                        "(A − mean)/(std + ε) "
                        "from the paper text). No official repository was found",
        official_code=None,
        notes="Works on steps: one entry per agent step (assistant segment), in trajectory order; trajectory_ids tell "
              "which steps follow which (the next step of step i is the next later entry with the same id; the last "
              "step of a trajectory gets no bonus). Broadcasting the step value to the step's tokens is the caller's "
              "(the pseudocode writes it to every token of the segment). The std of the final normalisation is not "
              "settled by the sources: the population std (np.std) with ε = 1e-8 is used (the simplest reading), and "
              "'mean' gives the pseudocode's centring. Computed under stop-gradient.",
        differences=(
            Difference("final normalisation (Eq. 7)", "(A_mod − mean)/(std + ε) over the batch (catalogue, from the "
                       "paper text; not verified)",
                       "the pseudocode copy subtracts the mean of the step advantages only", "paper", "normalize"),
            Difference("ARLArena copy", "g scales each step's advantage",
                       "the ARLArena copy multiplies the whole advantage tensor by g of every segment in turn and "
                       "computes H over all tokens (a transcription bug, not followed)", "paper", None),
        ),
    ),
    inputs=(
        InputSpec("step_entropy", "values", ("S",), "H: mean token entropy of the old policy over each step"),
        InputSpec("advantages", "advantages", ("S",), "the trajectory's outcome advantage at each of its steps"),
        InputSpec("trajectory_ids", "group_ids", ("S",), "integer trajectory id of each step (steps in order)",
                  dtype="int"),
    ),
    params=(
        ParamSpec("k", 1.0, Interval(0.0, 10.0), "k: sharpness of the self-calibrating scale g (Eq. 10)"),
        ParamSpec("k_f", 1.0, Interval(0.0, 10.0), "k_f: sharpness of the future-clarity bonus f (Eq. 11)"),
        ParamSpec("zeta", 0.1, Interval(0.0, 10.0), "ζ: weight of the future-clarity bonus"),
        ParamSpec("normalize", "std", Choice(("std", "mean", "none")), "final batch normalisation (Eq. 7): "
                  "'std' (paper), 'mean' (pseudocode: centring only), 'none'"),
    ),
    outputs=(OutputSpec("advantages", "modulated step advantages, shape (S,)", shape=("S",),
                        scale=Scale("'std': max(1, sqrt S) (a standardised value); otherwise max(1, 2(min(S, e^k)·"
                                    "max|A| + ζ))", _empg_scale)),),
    branches=(
        Branch("future bonus", "a step followed by another step of its trajectory (+ ζ·f of that step)",
               lambda i, p, o: bool(_has_next(i).any())),
        Branch("last step", "a trajectory's last step (no bonus)", lambda i, p, o: bool((~_has_next(i)).any())),
        Branch("equal entropies", "max H = min H over several steps (H_n = 0, g = 1/(1 + 1e-8))",
               lambda i, p, o: np.size(i["step_entropy"]) >= 2
               and float(np.ptp(np.asarray(i["step_entropy"], dtype=np.float64))) == 0.0),
        Branch("spread entropies", "steps of different entropy (g and f vary)",
               lambda i, p, o: np.size(i["step_entropy"]) >= 2
               and float(np.ptp(np.asarray(i["step_entropy"], dtype=np.float64))) > 0.0),
    ),
    properties=(
        Property("definition", "equals the pseudocode's formulas with the chosen normalisation", _empg_definition),
        Property("vanilla_limit", "k = 0, ζ = 0, normalize='none' returns A (up to 1/(1 + 1e-8))", _empg_vanilla),
        Property("mean_g_is_one", "g has batch mean 1 (up to the 1e-8) and decreases with the entropy", _empg_mean_g),
        Property("standardised", "normalize='std': mean 0, std 1", _empg_standardised),
    ),
    tolerance=default_tolerance(),
    derivation=None,
    stop_gradients=("the whole output (advantages are constants)",),
    degenerate=("S = 0 gives an empty output", "all step entropies equal: H_n = 0, g = 1/(1 + 1e-8), f = 1",
                "one step (or all A_mod equal) with normalize='std': 0/(0 + 1e-8) = 0"),
))
