"""GRPO advantages and mean |A|: hand-worked numbers, and agreement with the service's math."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.curricula import rewards as rewards_module
from trainer_client import InvalidRequestError, grpo_advantages, mean_abs_advantage

EPS = 1e-6


def test_unbiased_std_by_hand() -> None:
    # r = [1, 0, 0, 0]: mean 0.25; squared deviations 0.5625 + 3 * 0.0625 = 0.75;
    # unbiased variance 0.75 / 3 = 0.25, std 0.5.
    advantages = grpo_advantages([1.0, 0.0, 0.0, 0.0])
    assert advantages == pytest.approx(
        [0.75 / (0.5 + EPS), -0.25 / (0.5 + EPS), -0.25 / (0.5 + EPS), -0.25 / (0.5 + EPS)],
        rel=1e-15,
    )
    assert mean_abs_advantage(advantages) == pytest.approx(0.375 / (0.5 + EPS), rel=1e-15)


def test_population_std_by_hand() -> None:
    # Population variance 0.75 / 4 = 0.1875.
    advantages = grpo_advantages([1.0, 0.0, 0.0, 0.0], std="population")
    std = math.sqrt(0.1875)
    assert advantages[0] == pytest.approx(0.75 / (std + EPS), rel=1e-15)
    assert advantages[1] == pytest.approx(-0.25 / (std + EPS), rel=1e-15)


def test_dr_grpo_only_centres() -> None:
    assert grpo_advantages([1.0, 0.1, 0.0, 0.1], std="none") == pytest.approx(
        [0.7, -0.2, -0.3, -0.2], abs=1e-15
    )


@pytest.mark.parametrize("p_correct", [1, 2, 4, 6, 7])
def test_binary_rewards_peak_formula(p_correct: int) -> None:
    # For 0/1 rewards with pass rate p and population std, mean |A| = 2 sqrt(p (1 - p))
    # (up to the 1e-6 in the denominator): the SEC paper's signal, peaking at p = 0.5.
    rewards = [1.0] * p_correct + [0.0] * (8 - p_correct)
    p = p_correct / 8
    value = mean_abs_advantage(grpo_advantages(rewards, std="population"))
    assert value == pytest.approx(2 * math.sqrt(p * (1 - p)), rel=1e-5)


@pytest.mark.parametrize("rewards", [[0.1, 0.1, 0.1], [0.7] * 3, [1.0] * 8, [0.0], [0.3]])
@pytest.mark.parametrize("std", ["unbiased", "population", "none"])
def test_equal_rewards_give_exact_zeros(rewards: list[float], std: str) -> None:
    advantages = grpo_advantages(rewards, std=std)  # type: ignore[arg-type]
    assert advantages == [0.0] * len(rewards)
    assert mean_abs_advantage(advantages) == 0.0


@pytest.mark.parametrize("bad", [[], [float("nan"), 1.0], [float("inf")], [[1.0, 0.0]]])
def test_bad_groups_raise_typed_error(bad: list[float]) -> None:
    with pytest.raises(InvalidRequestError):
        grpo_advantages(bad)
    with pytest.raises(ValueError):  # InvalidRequestError is also a ValueError
        mean_abs_advantage(bad)


def test_unknown_std_mode() -> None:
    with pytest.raises(InvalidRequestError, match="std must be one of"):
        grpo_advantages([1.0, 0.0], std="sample")  # type: ignore[arg-type]


def _random_groups(seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    groups: list[list[float]] = []
    for size in [2, 3, 5, 8, 9, 16, 33]:
        for _ in range(20):
            groups.append(rng.choice([0.0, 0.1, 1.0], size=size).tolist())
            groups.append(rng.normal(size=size).tolist())
    return groups


@pytest.mark.parametrize("std", ["unbiased", "population", "none"])
def test_agrees_exactly_with_service_math(std: str) -> None:
    """One data set through both implementations: the client's helpers and the service's
    own ``service.curricula.rewards`` (what it applies to reported rewards)."""
    groups = _random_groups(seed=7) + [[0.1, 0.1, 0.1], [0.7] * 9, [1.0] * 8, [0.3]]
    assert sum(len(set(g)) == 1 for g in groups) >= 4
    signals, _ = rewards_module.problem_signals(groups, [None] * len(groups), std=std)
    for group, service_signal in zip(groups, signals, strict=True):
        service_adv = rewards_module.grpo_advantages(np.array(group), std).tolist()
        assert grpo_advantages(group, std=std) == service_adv  # type: ignore[arg-type]
        assert mean_abs_advantage(grpo_advantages(group, std=std)) == service_signal  # type: ignore[arg-type]


def test_service_gives_exact_zero_for_equal_rewards() -> None:
    signals, _ = rewards_module.problem_signals([[0.1, 0.1, 0.1]], [None], std="unbiased")
    assert signals[0] == mean_abs_advantage(grpo_advantages([0.1, 0.1, 0.1])) == 0.0
