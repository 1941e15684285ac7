from __future__ import annotations

import math

import numpy as np
import pytest

from service.curricula import StrategyError, arm_feedback, grpo_advantages, problem_signals
from tests.service import reference


def test_grpo_advantage_one_correct_of_four_by_hand() -> None:
    # mean 0.25; unbiased std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5
    adv = grpo_advantages(np.array([1.0, 0.0, 0.0, 0.0]))
    expected = np.array([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-6)
    np.testing.assert_allclose(adv, expected, rtol=0, atol=1e-15)


def test_population_std_and_dr_grpo_by_hand() -> None:
    # population std of [1, 0, 0, 0] = sqrt(0.1875)
    pop = grpo_advantages(np.array([1.0, 0.0, 0.0, 0.0]), "population")
    np.testing.assert_allclose(pop[0], 0.75 / (math.sqrt(0.1875) + 1e-6))
    none = grpo_advantages(np.array([1.0, 0.0, 0.0, 0.0]), "none")
    np.testing.assert_allclose(none, [0.75, -0.25, -0.25, -0.25])


@pytest.mark.parametrize("std", ["unbiased", "population", "none"])
def test_equal_rewards_and_single_rollout_give_zero_not_nan(std: str) -> None:
    assert grpo_advantages(np.array([0.1, 0.1, 0.1]), std).tolist() == [0.0, 0.0, 0.0]
    assert grpo_advantages(np.array([1.0]), std).tolist() == [0.0]


def test_unknown_std_mode_is_refused() -> None:
    with pytest.raises(StrategyError):
        grpo_advantages(np.array([1.0, 0.0]), "sample")


def test_binary_rewards_mean_abs_advantage_is_2_sqrt_p_1_minus_p() -> None:
    # With population std and a large group, mean |A| = 2 sqrt(p (1 - p)) (SEC, section 2.2).
    rewards = np.array([1.0] * 3 + [0.0] * 5)  # p = 3/8
    signal, _ = problem_signals([rewards.tolist()], [None], "population")
    p = 3 / 8
    assert signal[0] == pytest.approx(2 * math.sqrt(p * (1 - p)), rel=1e-5)


def test_problem_signals_match_the_reference_on_mixed_shapes() -> None:
    rng = np.random.default_rng(7)
    rewards: list[list[float] | None] = []
    advs: list[list[float] | None] = []
    for i in range(40):
        if i % 5 == 0:
            rewards.append(None)
            advs.append(rng.normal(size=int(rng.integers(1, 9))).tolist())
        else:
            rewards.append(rng.choice([0.0, 0.1, 1.0], size=int(rng.integers(1, 9))).tolist())
            advs.append(None)
    for std in ("unbiased", "population", "none"):
        signal, outcome = problem_signals(rewards, advs, std)
        for i in range(40):
            result = {"rewards": rewards[i]} if rewards[i] is not None else {"advantages": advs[i]}
            assert signal[i] == pytest.approx(reference.problem_signal(result, std), abs=1e-12)
            if rewards[i] is None:
                assert math.isnan(outcome[i])
            else:
                assert outcome[i] == pytest.approx(sum(rewards[i]) / len(rewards[i]))


def test_arm_feedback_means_per_arm_by_hand() -> None:
    fb = arm_feedback(
        3,
        np.array([0, 0, 2]),
        signal=np.array([0.2, 0.6, 1.0]),
        outcome=np.array([1.0, np.nan, 0.0]),
    )
    assert fb.present.tolist() == [True, False, True]
    assert fb.reward.tolist() == pytest.approx([0.4, 0.0, 1.0])
    assert fb.count.tolist() == [2, 0, 1]
    assert fb.outcome[0] == 1.0 and math.isnan(fb.outcome[1]) and fb.outcome[2] == 0.0
