"""Predictions, pooled priors, re-probes and rollout budgets: the pure math against hand
computations, a numerical integral and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.curricula.predictions import (
    all_agree_probability,
    allocate_rollouts,
    pooled_prior,
    posterior,
)
from service.curricula.problems import ProblemOptions, choose_frontier, parse_problem_options


def test_all_agree_matches_hand_computed_values() -> None:
    # Beta(1, 1): the predictive of k is uniform on 0..n, so P(k = 0) + P(k = n) = 2 / (n + 1)
    for n in (1, 2, 5, 8):
        assert all_agree_probability(np.array([1.0]), np.array([1.0]), n)[0] == pytest.approx(
            2 / (n + 1)
        )
    # Beta(2, 1), n = 2: E[(1-p)^2] = int 2p (1-p)^2 dp = 1/6, E[p^2] = int 2p^3 dp = 1/2
    assert all_agree_probability(np.array([2.0]), np.array([1.0]), 2)[0] == pytest.approx(2 / 3)
    # Beta(4, 2), n = 2: 2/6 * 3/7 + 4/6 * 5/7 = 13/21
    assert all_agree_probability(np.array([4.0]), np.array([2.0]), 2)[0] == pytest.approx(13 / 21)


def test_all_agree_matches_a_numerical_integral() -> None:
    grid = (np.arange(200_000) + 0.5) / 200_000
    for a, b, n in [(0.7, 3.2, 6), (5.5, 5.5, 8), (12.0, 1.5, 3)]:
        density = grid ** (a - 1) * (1 - grid) ** (b - 1)
        density /= density.sum()
        expected = float((density * (grid**n + (1 - grid) ** n)).sum())
        got = all_agree_probability(np.array([a]), np.array([b]), n)[0]
        assert got == pytest.approx(expected, rel=1e-4)


def test_posterior_adds_counts_to_the_prior() -> None:
    alpha, beta = posterior(np.array([3.0, 0.0]), np.array([1.0, 0.0]), 5.5, 2.0)
    assert alpha.tolist() == [8.5, 5.5] and beta.tolist() == [3.0, 2.0]


def test_pooled_prior_by_hand() -> None:
    # rates 0, .25, .5, .75, 1, .5, .5, .5 from 4 rollouts each: mean 1/2, var 0.625 / 8,
    # binomial noise mean(r (1 - r) / 3) = 1.375 / 24, spread 1/48, strength 0.25 * 48 - 1 = 11
    solved = np.array([0, 1, 2, 3, 4, 2, 2, 2], dtype=float)
    a0, b0 = pooled_prior(solved, 4 - solved, max_strength=100)
    assert (a0, b0) == pytest.approx((5.5, 5.5))
    # a clip of the strength at 10 keeps the mean: Beta(5, 5)
    assert pooled_prior(solved, 4 - solved, max_strength=10) == pytest.approx((5.0, 5.0))
    # every rate 1/4 (no spread beyond binomial noise): the strongest prior allowed
    assert pooled_prior(np.ones(8), np.full(8, 3.0), max_strength=20) == pytest.approx((5, 15))
    # fewer than 8 problems with evidence: the flat prior
    assert pooled_prior(np.ones(7), np.ones(7), max_strength=20) == (1.0, 1.0)
    assert pooled_prior(np.zeros(30), np.zeros(30), max_strength=20) == (1.0, 1.0)


def test_reprobes_happen_at_the_stated_rate() -> None:
    rate = 0.2
    options = parse_problem_options({"selection": "frontier", "reprobe": rate})
    # 50 mastered candidates (20 of 20 solved) and 50 open ones, 50 slots: the open ones
    # can fill every slot, so a settled candidate is chosen exactly when it is re-probed
    solved = np.concatenate([np.full(50, 20.0), np.zeros(50)])
    failed = np.zeros(100)
    rng = np.random.default_rng(12)
    calls = 200
    chosen_settled = 0
    for _ in range(calls):
        chosen = choose_frontier(solved, failed, 50, rng, options)
        chosen_settled += int(np.count_nonzero(chosen < 50))
    trials = 50 * calls
    sd = np.sqrt(rate * (1 - rate) / trials)
    assert abs(chosen_settled / trials - rate) < 4 * sd
    # without re-probes no settled candidate is chosen while open ones remain
    plain = ProblemOptions(selection="frontier")
    assert not (choose_frontier(solved, failed, 50, rng, plain) < 50).any()


def test_target_moves_the_pick() -> None:
    # candidate 0 looks easy (18 of 20), candidate 1 even (10 of 20): target 0.9 takes the first
    solved, failed = np.array([18.0, 10.0]), np.array([2.0, 10.0])
    high = ProblemOptions(selection="frontier", target=0.9, mastered=0.99)
    even = ProblemOptions(selection="frontier", mastered=0.99)
    wins_high = sum(
        choose_frontier(solved, failed, 1, np.random.default_rng(s), high)[0] == 0
        for s in range(200)
    )
    wins_even = sum(
        choose_frontier(solved, failed, 1, np.random.default_rng(s), even)[0] == 0
        for s in range(200)
    )
    assert wins_high > 180 and wins_even < 20


def test_frontier_with_prior_and_reprobe_is_reproducible() -> None:
    options = ProblemOptions(selection="frontier", reprobe=0.3)
    solved = np.arange(40, dtype=float) % 7
    failed = np.arange(40, dtype=float) % 5
    picks = [
        choose_frontier(solved, failed, 10, np.random.default_rng(3), options, (5.5, 2.0)).tolist()
        for _ in range(2)
    ]
    assert picks[0] == picks[1]


def brute_force(alpha: np.ndarray, beta: np.ndarray, budget: int, low: int, high: int) -> float:
    best = -1.0
    for n in itertools.product(range(low, high + 1), repeat=len(alpha)):
        if sum(n) <= budget:
            value = float((1 - all_agree_probability(alpha, beta, np.array(n))).sum())
            best = max(best, value)
    return best


@pytest.mark.parametrize(
    ("budget", "low", "high"), [(9, 1, 5), (12, 2, 6), (8, 2, 4), (30, 2, 6), (16, 3, 8)]
)
def test_greedy_budget_is_optimal_on_small_cases(budget: int, low: int, high: int) -> None:
    alpha = np.array([1.0, 9.0, 2.0, 0.6])
    beta = np.array([1.0, 1.0, 7.0, 0.6])
    n = allocate_rollouts(alpha, beta, budget, low, high)
    assert n.sum() <= budget and n.min() >= low and n.max() <= high
    assert n.sum() == min(budget, high * len(alpha))  # every gain is positive
    value = float((1 - all_agree_probability(alpha, beta, n)).sum())
    assert value == pytest.approx(brute_force(alpha, beta, budget, low, high), abs=1e-12)


def test_marginal_gains_decrease_in_n() -> None:
    # the condition under which the greedy allocation is optimal
    rng = np.random.default_rng(0)
    alpha, beta = rng.uniform(0.2, 30, 500), rng.uniform(0.2, 30, 500)
    table = np.stack([all_agree_probability(alpha, beta, n) for n in range(1, 40)], axis=1)
    gains = table[:, :-1] - table[:, 1:]
    assert (gains >= 0).all() and (np.diff(gains, axis=1) <= 1e-15).all()


def test_budget_refuses_what_cannot_be_met() -> None:
    with pytest.raises(ValueError, match="cannot give"):
        allocate_rollouts(np.ones(4), np.ones(4), 7, 2, 4)
    with pytest.raises(ValueError, match="must not exceed"):
        allocate_rollouts(np.ones(4), np.ones(4), 70, 5, 4)


def test_weighted_pooled_prior_equals_repeating_the_weighted_problems() -> None:
    solved = np.array([0.0, 1, 2, 3, 4, 2, 2, 2, 1])
    failed = 4 - solved
    weights = np.array([3.0, 1, 1, 2, 1, 1, 1, 1, 2])
    repeat = weights.astype(int)
    assert pooled_prior(solved, failed, 100, weights=weights) == pytest.approx(
        pooled_prior(np.repeat(solved, repeat), np.repeat(failed, repeat), 100)
    )
    # a weight of 0 drops the problem
    assert pooled_prior(solved, failed, 100, weights=np.r_[np.ones(8), 0.0]) == pytest.approx(
        pooled_prior(solved[:8], failed[:8], 100)
    )
