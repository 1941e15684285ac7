"""Thompson sampling on a discounted Gaussian posterior, against closed forms and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.curricula import StrategyError, build_strategy
from service.curricula.thompson import _erf, probability_of_max
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_erf_matches_the_standard_library() -> None:
    x = np.linspace(-6, 6, 241)
    assert np.abs(_erf(x) - np.array([math.erf(v) for v in x])).max() < 2e-7


def test_two_arms_closed_form() -> None:
    # P(X0 > X1) = Phi((m0 - m1) / sqrt(s0^2 + s1^2))
    p = probability_of_max(np.array([0.3, 0.1]), np.array([0.2, 0.5]))
    expected = normal_cdf(0.2 / math.sqrt(0.04 + 0.25))
    assert p.tolist() == pytest.approx([expected, 1 - expected], abs=1e-6)


def test_three_arms_against_monte_carlo() -> None:
    mean, std = np.array([0.5, 0.4, 0.1]), np.array([0.1, 0.3, 0.6])
    draws = np.random.default_rng(0).normal(mean, std, size=(1_000_000, 3))
    counts = np.bincount(draws.argmax(axis=1), minlength=3) / 1_000_000
    # Monte Carlo standard error is below 5e-4
    assert probability_of_max(mean, std).tolist() == pytest.approx(counts.tolist(), abs=2.5e-3)


def test_posterior_and_probabilities_by_hand() -> None:
    infos = arms(None, None)
    options = {"gamma": 0.5, "prior_mean": 0.0, "prior_std": 1.0, "noise_std": 1.0}
    ts = build_strategy("thompson", options, infos)
    state = ts.initial_state(infos)
    assert ts.probabilities(state, 0).tolist() == pytest.approx([0.5, 0.5], abs=1e-9)
    state = ts.update(state, feedback([0.5, 0.0], [True, False]), 0)
    assert state == {"n": [1.0, 0.0], "s": [0.5, 0.0]}
    # arm 0: precision 1 + 1 = 2 -> mean 0.5 / 2 = 0.25, variance 0.5 ; arm 1: N(0, 1)
    mean, std = ts.posterior(state)  # type: ignore[attr-defined]
    assert mean.tolist() == pytest.approx([0.25, 0.0])
    assert std.tolist() == pytest.approx([math.sqrt(0.5), 1.0])
    expected = normal_cdf(0.25 / math.sqrt(1.5))
    assert ts.probabilities(state, 1).tolist() == pytest.approx([expected, 1 - expected], abs=1e-6)
    # a second report of arm 1 only: arm 0's evidence halves
    state = ts.update(state, feedback([0.0, 0.2], [False, True]), 1)
    assert state["n"] == pytest.approx([0.5, 1.0]) and state["s"] == pytest.approx([0.25, 0.2])


def test_pass_rate_objective_feeds_the_posterior() -> None:
    infos = arms(None, None)
    ts = build_strategy("thompson", {"objective": "pass_rate", "gamma": 1.0}, infos)
    state = ts.update(ts.initial_state(infos), feedback([0, 0], [True, True], [0.5, 1.0]), 0)
    # 2 sqrt(0.25) = 1.0 ; 2 sqrt(0) = 0
    assert state["s"] == pytest.approx([1.0, 0.0])


def test_many_arms_are_fast_and_sum_to_one() -> None:
    rng = np.random.default_rng(1)
    p = probability_of_max(rng.random(64), 0.05 + rng.random(64))
    assert p.sum() == pytest.approx(1.0) and (p >= 0).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": 0}, "gamma"),
        ({"prior_std": 0}, "prior_std"),
        ({"noise_std": -1}, "noise_std"),
        ({"prior_std": 5e-324}, r"prior_std.* must be in \[1e-06, 1000000.0\]"),
        ({"noise_std": 1.3e154}, "noise_std"),
        ({"prior_mean": 1e308}, "prior_mean"),
        ({"prior_mean": "high"}, "prior_mean"),
        ({"tau": 1}, "unknown option"),
    ],
)
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("thompson", options, arms(None))


def test_reproducible() -> None:
    infos = arms(50, 20, 30)
    assert seeded_run("thompson", {}, infos, 5) == seeded_run("thompson", {}, infos, 5)
    assert seeded_run("thompson", {}, infos, 5) != seeded_run("thompson", {}, infos, 6)


def test_a_very_narrow_posterior_is_resolved() -> None:
    # sd 1 against sd 0.001: the grid refines so the narrow arm gets 4 points per sd
    p = probability_of_max(np.array([0.3, 0.31]), np.array([1.0, 0.001]))
    expected = normal_cdf(-0.01 / math.sqrt(1 + 1e-6))
    assert p.tolist() == pytest.approx([expected, 1 - expected], abs=1e-6)
