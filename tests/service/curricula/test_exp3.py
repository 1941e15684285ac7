"""EXP3 with batch importance weighting, against values worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.curricula import StrategyError, build_strategy
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run


def test_update_and_probabilities_by_hand() -> None:
    infos = arms(None, None)
    exp3 = build_strategy("exp3", {"gamma": 0.2, "eta": 0.1}, infos)
    state = exp3.initial_state(infos)
    assert exp3.probabilities(state, 0).tolist() == pytest.approx([0.5, 0.5])
    # batch of 4: 3 problems of arm 0 (r 0.5), 1 of arm 1 (r 0.8); p = 0.5 each
    # x0 = 0.5 * 3 / (4 * 0.5) = 0.75 ; x1 = 0.8 * 1 / (4 * 0.5) = 0.4
    state = exp3.update(state, feedback([0.5, 0.8], [True, True], counts=[3, 1]), 0)
    assert state["log_w"] == pytest.approx([0.0, 0.04 - 0.075])
    softmax0 = 1 / (1 + math.exp(-0.035))
    expected = [0.8 * softmax0 + 0.1, 0.8 * (1 - softmax0) + 0.1]
    assert exp3.probabilities(state, 1).tolist() == pytest.approx(expected)


def test_rewards_are_clipped_and_eta_defaults_to_gamma_over_k() -> None:
    infos = arms(None, None, None, None)
    exp3 = build_strategy("exp3", {"gamma": 0.4}, infos)
    assert exp3.options()["eta"] == pytest.approx(0.1)
    # reward 3.0 clipped to 1 ; p = 0.25 ; x = 1 * 2 / (2 * 0.25) = 4 ; log w = 0.1 * 4
    state = exp3.update(exp3.initial_state(infos), feedback([3.0, 0, 0, 0], [True] + [False] * 3,
                                                            counts=[2, 0, 0, 0]), 0)  # fmt: skip
    assert state["log_w"] == pytest.approx([0.0, -0.4, -0.4, -0.4])


def test_exploration_floor() -> None:
    infos = arms(None, None)
    exp3 = build_strategy("exp3", {"gamma": 0.1}, infos)
    p = exp3.probabilities({"log_w": [0.0, -1000.0]}, 0)
    assert p.tolist() == pytest.approx([0.95, 0.05])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": 0}, "gamma"),
        ({"gamma": 5e-324}, r"'gamma' must be in \[1e-06, 1.0\]"),
        ({"gamma": 2}, "gamma"),
        ({"eta": 0}, "eta"),
        ({"eta": 1e308}, r"'eta' must be in \(0.0, 100.0\]"),
        ({"c": 1}, "unknown"),
    ],
)
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("exp3", options, arms(None))


def test_reproducible() -> None:
    infos = arms(50, 20, 30)
    assert seeded_run("exp3", {}, infos, 5) == seeded_run("exp3", {}, infos, 5)
    assert seeded_run("exp3", {}, infos, 5) != seeded_run("exp3", {}, infos, 6)


def test_extreme_options_keep_probabilities_finite() -> None:
    # the largest eta and smallest gamma allowed: x_i <= K / gamma = 2e6, eta x_i <= 2e8
    infos = arms(None, None)
    exp3 = build_strategy("exp3", {"gamma": 1e-6, "eta": 100.0}, infos)
    state = exp3.initial_state(infos)
    for step in range(5):
        state = exp3.update(state, feedback([1.0, 0.0], [True, True], counts=[3, 1]), step)
        p = exp3.probabilities(state, step + 1)
        assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
