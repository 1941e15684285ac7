from __future__ import annotations

import numpy as np
import pytest

from service.curricula import StrategyError
from service.curricula.problems import (
    ProblemOptions,
    choose_failures,
    choose_frontier,
    decay,
    parse_problem_options,
    rollout_outcomes,
)


def test_options_defaults_and_errors() -> None:
    assert parse_problem_options({}) == ProblemOptions(selection="frontier")
    with pytest.raises(StrategyError, match="hopeless must be below mastered"):
        parse_problem_options({"mastered": 0.3, "hopeless": 0.4})
    with pytest.raises(StrategyError, match="unknown option"):
        parse_problem_options({"temperature": 1})
    with pytest.raises(StrategyError, match="discount"):
        parse_problem_options({"discount": 0})


def test_outcomes_and_decay_by_hand() -> None:
    assert rollout_outcomes(np.array([1.0, 0.1, 0.0, 1.0]), 1.0) == (2.0, 2.0)
    assert rollout_outcomes(np.array([0.5, 0.1]), 0.5) == (1.0, 1.0)
    # counts seen at step 3, weighed at step 5 with discount 0.5: times 0.25
    assert decay(np.array([4.0, 2.0]), np.array([3, 3]), 5, 0.5).tolist() == [1.0, 0.5]
    assert decay(np.array([4.0]), np.array([5]), 5, 0.5).tolist() == [4.0]


def test_frontier_skips_mastered_and_hopeless_while_open_problems_remain() -> None:
    options = ProblemOptions(selection="frontier", min_evidence=4)
    solved = np.array([20.0, 0.0, 5.0, 0.0])  # mastered, hopeless, half, unseen
    failed = np.array([0.0, 20.0, 5.0, 0.0])
    for seed in range(50):
        rng = np.random.default_rng(seed)
        assert set(choose_frontier(solved, failed, 2, rng, options).tolist()) == {2, 3}
        third = choose_frontier(solved, failed, 3, np.random.default_rng(seed), options)
        assert {2, 3} < set(third.tolist())  # only then a settled one


def test_little_evidence_is_not_settled() -> None:
    options = ProblemOptions(selection="frontier", min_evidence=4)
    # 3 of 3 solved: mean 0.8 < 0.9 anyway; 2 rollouts of 2 failed: evidence 2 < 4
    chosen = choose_frontier(np.array([0.0]), np.array([2.0]), 1, np.random.default_rng(0), options)
    assert chosen.tolist() == [0]


def test_failures_are_drawn_with_boosting_weights() -> None:
    solved = np.array([9.0, 0.0, 0.0])
    failed = np.array([0.0, 9.0, 0.0])
    # 1 - E[p] with E[p] = (1 + s) / (2 + s + f): 1/11, 10/11, 1/2
    weights = np.array([1 / 11, 10 / 11, 1 / 2])
    expected = weights / weights.sum()
    rng = np.random.default_rng(3)
    picks = np.array([choose_failures(solved, failed, 1, rng)[0] for _ in range(20000)])
    freq = np.bincount(picks, minlength=3) / picks.size
    assert np.abs(freq - expected).max() < 0.015  # 4 binomial standard errors
    both = choose_failures(solved, failed, 3, np.random.default_rng(0))
    assert sorted(both.tolist()) == [0, 1, 2]  # without replacement


def test_reproducible() -> None:
    solved, failed = np.arange(10.0), np.arange(10.0)[::-1].copy()
    options = ProblemOptions(selection="frontier")

    def draw(seed: int) -> list[int]:
        rng = np.random.default_rng(seed)
        return (
            choose_frontier(solved, failed, 4, rng, options).tolist()
            + choose_failures(solved, failed, 4, rng).tolist()
        )

    assert draw(1) == draw(1)
    assert any(draw(1) != draw(s) for s in range(2, 6))
