"""Golden values for the ``decoding`` truncation filters, from hand computation and closed forms.

Inputs are chosen so the expected kept sets follow from arithmetic done here (equal logits give
exact probabilities 1/V; logits ``log p`` give the probabilities ``p``), never from our own code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference import decoding as R

NEG = -np.inf


def kept(y: np.ndarray) -> np.ndarray:
    return np.asarray(np.isfinite(y))


# --------------------------------------------------------------------------- top-k


@pytest.mark.parametrize(("k", "ties", "m", "expect"), [
    (1, "keep", 1, [False, True, True, False]),      # both tokens tied at the max survive
    (1, "exact", 1, [False, True, False, False]),    # lowest index of the tie
    (2, "keep", 1, [False, True, True, False]),
    (2, "exact", 1, [False, True, True, False]),
    (3, "keep", 1, [False, True, True, True]),
    (1, "exact", 3, [False, True, True, True]),      # k_eff = max(k, min_tokens_to_keep)
    (9, "exact", 1, [True, True, True, True]),       # k >= V: identity
])
def test_top_k(k: int, ties: str, m: int, expect: list[bool]) -> None:
    z = np.array([1.0, 3.0, 3.0, 2.0])
    y = R.top_k_filter(z, k, ties=ties, min_tokens_to_keep=m)
    np.testing.assert_array_equal(kept(y), expect)
    np.testing.assert_array_equal(y[kept(y)], z[kept(y)])


def test_top_k_ties_at_kth() -> None:
    z = np.array([5.0, 1.0, 1.0, 1.0, 0.0])
    assert kept(R.top_k_filter(z, 2)).sum() == 4  # keep: every token tied with the 2nd value
    np.testing.assert_array_equal(kept(R.top_k_filter(z, 2, ties="exact")), [True, True, False, False, False])


# --------------------------------------------------------------------------- top-p


@pytest.mark.parametrize(("p", "n"), [(0.1, 1), (0.25, 1), (0.3, 2), (0.5, 2), (0.51, 3), (0.75, 3),
                                      (0.9, 4), (1.0, 4)])
def test_top_p_uniform_boundaries(p: float, n: int) -> None:
    # four equal logits: probabilities exactly 1/4, cumulative masses 1/4, 1/2, 3/4, 1.
    # HF keeps the crossing token, and no extra token when the mass equals p exactly (#18976).
    y = R.top_p_filter(np.zeros(4), p)
    np.testing.assert_array_equal(kept(y), np.arange(4) < n)


def test_top_p_log_probs() -> None:
    z = np.log(np.array([0.1, 0.5, 0.15, 0.25]))
    np.testing.assert_array_equal(kept(R.top_p_filter(z, 0.6)), [False, True, False, True])   # .5 + .25 crosses .6
    np.testing.assert_array_equal(kept(R.top_p_filter(z, 0.8)), [False, True, True, True])    # .75 + .15
    np.testing.assert_array_equal(kept(R.top_p_filter(z, 0.4)), [False, True, False, False])


def test_top_p_degenerate() -> None:
    z = np.array([0.0, 2.0, 1.0, NEG, 2.0])
    np.testing.assert_array_equal(kept(R.top_p_filter(z, 0.0)), [False, True, False, False, False])
    np.testing.assert_array_equal(kept(R.top_p_filter(z, 0.0, min_tokens_to_keep=2)), [False, True, False, False, True])
    big = np.array([0.0, -2000.0, 5.0])  # p = 1 keeps even a token whose probability underflows
    np.testing.assert_array_equal(R.top_p_filter(big, 1.0), big)


# --------------------------------------------------------------------------- min-p


def test_min_p() -> None:
    z = np.array([0.0, -1.0, -2.0, -3.0])
    np.testing.assert_array_equal(kept(R.min_p_filter(z, math.exp(-1.5))), [True, True, False, False])
    np.testing.assert_array_equal(kept(R.min_p_filter(z, 0.0)), [True] * 4)
    np.testing.assert_array_equal(kept(R.min_p_filter(z, 1.0)), [True, False, False, False])
    np.testing.assert_array_equal(kept(R.min_p_filter(z, 1.0, min_tokens_to_keep=3)), [True, True, True, False])
    # the threshold is inclusive of tokens exactly at min_p * p_max (strict "<" removes)
    half = np.array([0.0, math.log(0.5), math.log(0.25)])
    np.testing.assert_array_equal(kept(R.min_p_filter(half, 0.5)), [True, True, False])
    ties = np.array([1.0, 3.0, 3.0])
    np.testing.assert_array_equal(kept(R.min_p_filter(ties, 1.0)), [False, True, True])


# --------------------------------------------------------------------------- typical


def test_typical_hand_computed() -> None:
    p = np.array([0.7, 0.1, 0.1, 0.1])
    z = np.log(p)
    h = -float(np.sum(p * np.log(p)))
    scores = np.abs(-np.log(p) - h)
    assert scores[0] < scores[1]  # the mode is the most typical token here
    np.testing.assert_array_equal(kept(R.typical_filter(z, 0.5)), [True, False, False, False])
    np.testing.assert_array_equal(kept(R.typical_filter(z, 0.75)), [True, True, True, True])  # ties kept
    np.testing.assert_array_equal(kept(R.typical_filter(z, 0.5, min_tokens_to_keep=2)), [True, True, False, False])


def test_typical_can_drop_the_mode() -> None:
    p = np.array([0.5, 0.125, 0.125, 0.125, 0.125])
    z = np.log(p)
    h = -float(np.sum(p * np.log(p)))  # 1.386 nats: the 0.125 tokens (2.079) are closer than the mode (0.693)
    assert abs(-math.log(0.125) - h) < abs(-math.log(0.5) - h)
    np.testing.assert_array_equal(kept(R.typical_filter(z, 0.3)), [False, True, True, True, True])


def test_typical_uniform_keeps_all() -> None:
    np.testing.assert_array_equal(kept(R.typical_filter(np.full(6, 2.5), 0.2)), [True] * 6)


# --------------------------------------------------------------------------- epsilon / eta


def test_epsilon() -> None:
    z = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    np.testing.assert_array_equal(kept(R.epsilon_filter(z, 0.1)), [True, True, True, False])
    np.testing.assert_array_equal(kept(R.epsilon_filter(z, 0.6)), [True, False, False, False])  # guard: argmax
    np.testing.assert_array_equal(kept(R.epsilon_filter(z, 0.6, min_tokens_to_keep=2)), [True, True, False, False])
    tied = np.array([1.0, 1.0, 0.0])  # the guard keeps ties with the m-th logit (HF's guard is by value)
    np.testing.assert_array_equal(kept(R.epsilon_filter(tied, 0.9)), [True, True, False])


def test_eta() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    z = np.log(p)
    h = -float(np.sum(p * np.log(p)))
    for eps in (0.1, 0.2, 0.4):
        eta = min(eps, math.sqrt(eps) * math.exp(-h))
        np.testing.assert_array_equal(kept(R.eta_filter(z, eps)), (p >= eta) | (p == p.max()), err_msg=f"{eps}")
    # eta <= eps: never keeps less than epsilon_filter
    assert np.all(kept(R.eta_filter(z, 0.2)) >= kept(R.epsilon_filter(z, 0.2)))


# --------------------------------------------------------------------------- top-h


def _toph_by_hand(p: np.ndarray, alpha: float, top_n: int, criterion: str) -> int:
    """Number kept, from the formulas (loop written here, independently of the reference)."""
    top = np.sort(p)[::-1][:top_n]
    q = top / top.sum() if criterion == "hf" else top
    budget = alpha * sum(-x * math.log(x) for x in q)
    total, k = 0.0, 0
    for x in q:
        total += -x * math.log(x)
        if total > budget + 1e-12:
            break
        k += 1
    return max(k, 1)


@pytest.mark.parametrize("criterion", ["hf", "official"])
@pytest.mark.parametrize(("alpha", "k"), [(0.1, 1), (0.45, 3), (0.7, 5), (1.0, 8)])
def test_top_h_uniform(criterion: str, alpha: float, k: int) -> None:
    # uniform over 8: S(m) = (m/8) log 8, tau = alpha log 8 -> floor(8 alpha) tokens
    y = R.top_h_filter(np.zeros((2, 8)), alpha, criterion=criterion)
    np.testing.assert_array_equal(kept(y).sum(axis=-1), [k, k])


def test_top_h_criteria_differ() -> None:
    p = np.array([0.4, 0.2, 0.15, 0.1, 0.08, 0.07])
    z = np.log(p)
    for alpha in (0.3, 0.5, 0.8):
        n_hf = int(kept(R.top_h_filter(z, alpha, top_n=3)).sum())
        n_off = int(kept(R.top_h_filter(z, alpha, top_n=3, criterion="official")).sum())
        assert n_hf == _toph_by_hand(p, alpha, 3, "hf")
        assert n_off == _toph_by_hand(p, alpha, 3, "official")
    # a case where the two criteria keep different sets (renormalised q = [.533, .267, .2]:
    # c = .335, .687 <= .7 * 1.009; un-renormalised: S = .367, .689 > .7 * .973)
    assert int(kept(R.top_h_filter(z, 0.7, top_n=3)).sum()) == 2
    assert int(kept(R.top_h_filter(z, 0.7, top_n=3, criterion="official")).sum()) == 1


def test_top_h_options() -> None:
    z = np.log(np.array([0.6, 0.2, 0.1, 0.05, 0.05]))
    assert kept(R.top_h_filter(z, 1.0, top_n=2)).sum() == 2  # alpha = 1 keeps all top_n candidates
    assert kept(R.top_h_filter(z, 0.01, min_tokens_to_keep=4)).sum() == 4
    assert kept(R.top_h_filter(z, 0.01, top_n=1, min_tokens_to_keep=3)).sum() == 3  # beyond top_n
    # temperature shapes only the criterion; kept values are the unscaled logits
    y = R.top_h_filter(z, 0.5, temperature=0.25)
    np.testing.assert_array_equal(y[kept(y)], z[kept(y)])
    assert kept(y).sum() <= kept(R.top_h_filter(z, 0.5)).sum()




# --------------------------------------------------------------------------- typical: ordering resolution


@pytest.mark.parametrize(("z", "mass"), [([1.000000001, 1.0, 1.0], 0.4),
                                         ([-2.0, 2.0, -3.0, 0.0, 0.0, 2.000000001], 0.23)])
def test_typical_unresolved_pair_is_specified(z: list[float], mass: float) -> None:
    """Logits closer than TYPICAL_ORDER_RESOLUTION are unordered (spec): float32 and float64 keep different
    sets here, and the float32 set is the reference's on the input with the near-equal pair made equal."""
    from accelerated import decoding as A
    from spec.decoding import TYPICAL_ORDER_RESOLUTION

    x = np.array(z)
    f = np.sort(x)
    assert np.min(np.diff(f)[np.diff(f) > 0]) < TYPICAL_ORDER_RESOLUTION
    k64 = kept(R.typical_filter(x, mass))
    k32 = kept(A.typical_filter(x.astype(np.float32), mass))
    assert not np.array_equal(k64, k32)  # the disagreement the spec documents
    merged = np.round(x, 6)  # make the unresolved pair exactly equal: what float32 sees
    assert np.array_equal(k32, kept(R.typical_filter(merged, mass)))
