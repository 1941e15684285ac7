"""Learning progress (fast minus slow moving averages of success), worked by hand."""

from __future__ import annotations

import math

import pytest

from service.curricula import StrategyError, build_strategy
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run


def test_moving_averages_by_hand() -> None:
    infos = arms(None, None, None)
    lp = build_strategy("learning_progress", {"alpha_fast": 0.5, "alpha_slow": 0.1}, infos)
    state = lp.initial_state(infos)
    assert lp.probabilities(state, 0).tolist() == pytest.approx([1 / 3] * 3)
    # first outcomes start both averages: no progress yet ; arm 2 unseen
    state = lp.update(state, feedback([0] * 3, [True, True, False], [0.2, 0.9, math.nan]), 0)
    assert state == {"fast": [0.2, 0.9, None], "slow": [0.2, 0.9, None]}
    # arm 0 succeeds at 0.6: fast 0.2 + 0.5 * 0.4 = 0.4, slow 0.2 + 0.1 * 0.4 = 0.24
    # arm 1 at 1.3 is clipped to 1: fast 0.95, slow 0.91
    state = lp.update(state, feedback([0] * 3, [True, True, False], [0.6, 1.3, math.nan]), 1)
    assert state["fast"][:2] == pytest.approx([0.4, 0.95])
    assert state["slow"][:2] == pytest.approx([0.24, 0.91])
    assert lp.values(state).tolist() == pytest.approx([0.16, 0.04, 0.0])
    # epsilon-greedy (default epsilon 0.2): 0.8 on arm 0, 0.2 / 2 on each other arm
    assert lp.probabilities(state, 2).tolist() == pytest.approx([0.8, 0.1, 0.1])


def test_forgetting_counts_as_progress() -> None:
    infos = arms(None)
    lp = build_strategy("learning_progress", {"alpha_fast": 0.5, "alpha_slow": 0.1}, infos)
    state = {"fast": [0.8], "slow": [0.8]}
    state = lp.update(state, feedback([0], [True], [0.4]), 0)
    # fast 0.6, slow 0.76: |gap| = 0.16
    assert lp.values(state).tolist() == pytest.approx([0.16])


def test_boltzmann_and_normalized_rules() -> None:
    infos = arms(None, None)
    state = {"fast": [0.5, 0.3], "slow": [0.4, 0.3]}
    boltz = build_strategy("learning_progress", {"sampling": "boltzmann", "tau": 0.05}, infos)
    w = [math.exp(0.1 / 0.05), 1.0]
    assert boltz.probabilities(state, 0).tolist() == pytest.approx([x / sum(w) for x in w])
    norm = build_strategy("learning_progress", {"sampling": "normalized"}, infos)
    # progress 0.1 and 0, floored at 0.01: 0.1 / 0.11 and 0.01 / 0.11
    assert norm.probabilities(state, 0).tolist() == pytest.approx([0.1 / 0.11, 0.01 / 0.11])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha_fast": 0.1, "alpha_slow": 0.2}, "below alpha_fast"),
        ({"alpha_slow": 0.2}, "below alpha_fast"),
        ({"alpha_fast": 0}, "alpha_fast"),
        ({"sampling": "ucb"}, "sampling"),
        ({"epsilon": 2}, "epsilon"),
        ({"tau": 1e-320}, ">= 0.001"),
        ({"window": 3}, "unknown option"),
    ],
)
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("learning_progress", options, arms(None))


def test_reproducible() -> None:
    infos = arms(50, 20, 30)
    run = seeded_run
    assert run("learning_progress", {}, infos, 5) == run("learning_progress", {}, infos, 5)
    assert run("learning_progress", {}, infos, 5) != run("learning_progress", {}, infos, 6)
