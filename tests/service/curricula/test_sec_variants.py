"""SEC's objectives and sampling rules (options of ``sec``), against values worked by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from service.curricula import StrategyError, build_strategy
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run


def test_defaults_are_the_paper() -> None:
    sec = build_strategy("sec", {}, arms(None, None))
    assert sec.options() == {
        "alpha": 0.5,
        "tau": 1.0,
        "unsampled": "hold",
        "objective": "abs_advantage",
        "sampling": "boltzmann",
        "epsilon": 0.1,
        "epsilon_arms": "non_argmax",
        "advantage_std": "unbiased",
    }
    # the default state is unchanged: no outcome memory
    assert sec.initial_state(arms(None, None)) == {"q": [0.0, 0.0]}


def test_pass_rate_objective_by_hand() -> None:
    sec = build_strategy("sec", {"objective": "pass_rate", "alpha": 0.5}, arms(*[None] * 4))
    fb = feedback(
        rewards=[9.0, 9.0, 9.0, 9.0],  # ignored by this objective
        present=[True, True, True, True],
        outcomes=[0.5, 0.9, 1.2, math.nan],
    )
    state = sec.update({"q": [0.0, 0.0, 0.4, 0.4]}, fb, 0)
    # r = 2 sqrt(p (1 - p)): p=0.5 -> 1.0 ; p=0.9 -> 0.6 ; p=1.2 clipped to 1 -> 0
    # the arm without an outcome holds its value
    assert state["q"] == pytest.approx([0.5, 0.3, 0.2, 0.4])


def test_learning_progress_objective_is_the_signed_change_from_zero() -> None:
    # SEC's released code: r = mean outcome now - mean outcome at the previous report,
    # the memory starting at 0, so the first report earns the outcome itself
    infos = arms(None, None)
    sec = build_strategy("sec", {"objective": "learning_progress", "alpha": 0.5}, infos)
    state = sec.initial_state(infos)
    assert state == {"q": [0.0, 0.0], "last_outcome": [None, None]}
    # r = 0.2 - 0 and 0.5 - 0: Q = 0.5 * 0.2 = 0.1 and 0.5 * 0.5 = 0.25
    state = sec.update(state, feedback([1, 1], [True, True], [0.2, 0.5]), 0)
    assert state["q"] == pytest.approx([0.1, 0.25])
    assert state["last_outcome"] == pytest.approx([0.2, 0.5])
    # arm 0 moves from 0.2 to 0.6: r = 0.4, Q = 0.5 * 0.4 + 0.5 * 0.1 = 0.25 ;
    # arm 1 absent holds Q and keeps its memory
    state = sec.update(state, feedback([1, 0], [True, False], [0.6, math.nan]), 1)
    assert state["q"] == pytest.approx([0.25, 0.25])
    assert state["last_outcome"] == pytest.approx([0.6, 0.5])
    # arm 1 falls from 0.5 to 0.3: r = -0.2 (signed), Q = 0.5 * -0.2 + 0.5 * 0.25 = 0.025
    state = sec.update(state, feedback([0, 1], [False, True], [math.nan, 0.3]), 2)
    assert state["q"] == pytest.approx([0.25, 0.025])
    json.dumps(state)  # stored in a row


def test_abs_learning_progress_objective_by_hand() -> None:
    infos = arms(None, None)
    sec = build_strategy("sec", {"objective": "abs_learning_progress", "alpha": 0.5}, infos)
    state = sec.initial_state(infos)
    assert state == {"q": [0.0, 0.0], "last_outcome": [None, None]}
    # first report of each arm only records its outcome
    state = sec.update(state, feedback([1, 1], [True, True], [0.2, 0.5]), 0)
    assert state["q"] == [0.0, 0.0]
    assert state["last_outcome"] == pytest.approx([0.2, 0.5])
    # arm 0 moves from 0.2 to 0.6: r = 0.4, Q = 0.5 * 0.4 ; arm 1 absent keeps its memory
    state = sec.update(state, feedback([1, 0], [True, False], [0.6, math.nan]), 1)
    assert state["q"] == pytest.approx([0.2, 0.0])
    assert state["last_outcome"] == pytest.approx([0.6, 0.5])
    # arm 1 moves from 0.5 to 0.3: r = |-0.2| = 0.2
    state = sec.update(state, feedback([0, 1], [False, True], [math.nan, 0.3]), 2)
    assert state["q"] == pytest.approx([0.2, 0.1])


def test_learning_progress_with_decay_updates_absent_arms_with_zero() -> None:
    infos = arms(None, None)
    options = {"objective": "learning_progress", "alpha": 0.5, "unsampled": "decay"}
    sec = build_strategy("sec", options, infos)
    state = {"q": [0.4, 0.4], "last_outcome": [0.1, None]}
    state = sec.update(state, feedback([0, 0], [True, False], [0.3, math.nan]), 0)
    # arm 0: r = 0.3 - 0.1 = 0.2, 0.5 * 0.2 + 0.5 * 0.4 = 0.3 ; arm 1: 0.5 * 0 + 0.5 * 0.4
    assert state["q"] == pytest.approx([0.3, 0.2])


def test_normalized_sampling_floors_q_at_one_hundredth() -> None:
    sec = build_strategy("sec", {"sampling": "normalized"}, arms(None, None, None))
    # weights max(Q, 0.01) = 0.3, 0.01, 0.1 over a total of 0.41
    assert sec.probabilities({"q": [0.3, -0.1, 0.1]}, 0).tolist() == pytest.approx(
        [0.3 / 0.41, 0.01 / 0.41, 0.1 / 0.41]
    )
    assert sec.probabilities({"q": [0.0, -1.0, 0.0]}, 0).tolist() == pytest.approx([1 / 3] * 3)


def test_normalized_sampling_still_draws_an_arm_that_fell_to_zero_under_hold() -> None:
    infos = arms(None, None)
    sec = build_strategy("sec", {"sampling": "normalized", "alpha": 1.0}, infos)
    # arm 1 earns r = 0 once: alpha = 1 puts its Q at exactly 0; under "hold" nothing
    # moves it again unless it is drawn, so the floor is what keeps it alive
    state = sec.update(sec.initial_state(infos), feedback([0.5, 0.0], [True, True]), 0)
    assert state["q"] == [0.5, 0.0]
    assert sec.probabilities(state, 1).tolist() == pytest.approx([0.5 / 0.51, 0.01 / 0.51])


def test_epsilon_greedy_spends_epsilon_on_the_other_arms() -> None:
    sec = build_strategy("sec", {"sampling": "epsilon_greedy", "epsilon": 0.2}, arms(*[None] * 4))
    # SEC's released code: 0.8 on the argmax, 0.2 / 3 on each of the three other arms
    p = sec.probabilities({"q": [0.1, 0.5, 0.3, 0.0]}, 0)
    assert p.tolist() == pytest.approx([0.2 / 3, 0.8, 0.2 / 3, 0.2 / 3])
    # ties on the argmax split 0.8 ; 0.2 split over the two other arms
    p = sec.probabilities({"q": [0.1, 0.5, 0.5, 0.0]}, 0)
    assert p.tolist() == pytest.approx([0.1, 0.4, 0.4, 0.1])
    # every arm tied: no arm is "other", all share evenly
    assert sec.probabilities({"q": [0.0] * 4}, 0).tolist() == pytest.approx([0.25] * 4)
    greedy = build_strategy("sec", {"sampling": "epsilon_greedy", "epsilon": 0}, arms(None, None))
    assert greedy.probabilities({"q": [0.2, 0.1]}, 0).tolist() == [1.0, 0.0]


def test_epsilon_greedy_over_all_arms() -> None:
    options = {"sampling": "epsilon_greedy", "epsilon": 0.2, "epsilon_arms": "all"}
    sec = build_strategy("sec", options, arms(*[None] * 4))
    # textbook rule: 0.8 on the argmax (ties split) and 0.2 / 4 = 0.05 on every arm
    p = sec.probabilities({"q": [0.1, 0.5, 0.5, 0.0]}, 0)
    assert p.tolist() == pytest.approx([0.05, 0.45, 0.45, 0.05])


def test_tiny_tau_is_refused_with_its_bound() -> None:
    with pytest.raises(StrategyError, match=r"'tau' must be >= 0.001, got 1e-320"):
        build_strategy("sec", {"tau": 1e-320}, arms(None, None))
    sec = build_strategy("sec", {"tau": 0.001}, arms(None, None, None))
    # Q / tau = 1e5 apart: exp(-1e5) underflows to 0, and no NaN appears
    p = sec.probabilities({"q": [100.0, 0.0, 100.0]}, 0)
    assert p.tolist() == [0.5, 0.0, 0.5]


def test_boltzmann_survives_huge_values() -> None:
    sec = build_strategy("sec", {"tau": 0.01}, arms(None, None))
    # 1e308 / 0.01 overflows to inf if divided before the max is taken off
    p = sec.probabilities({"q": [1e308, 1e307]}, 0)
    assert p.tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"objective": "accuracy"}, "objective"),
        ({"sampling": "greedy"}, "sampling"),
        ({"epsilon": 1.5}, "epsilon"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"epsilon_arms": "others"}, "epsilon_arms"),
        ({"tau": 0}, "tau"),
        ({"tau": 0.0009}, "tau"),
    ],
)
def test_rejects_bad_variant_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("sec", options, arms(None))


@pytest.mark.parametrize(
    "options",
    [
        {"objective": "learning_progress", "sampling": "epsilon_greedy"},
        {"objective": "abs_learning_progress", "sampling": "boltzmann"},
        {"objective": "pass_rate", "sampling": "normalized"},
    ],
)
def test_variants_are_reproducible(options: dict[str, object]) -> None:
    infos = arms(50, 20, 30)
    assert seeded_run("sec", options, infos, 11) == seeded_run("sec", options, infos, 11)
    assert seeded_run("sec", options, infos, 11) != seeded_run("sec", options, infos, 12)


def test_pass_rate_prefers_the_frontier_arm() -> None:
    infos = arms(None, None, None)
    sec = build_strategy("sec", {"objective": "pass_rate", "tau": 0.2}, infos)
    state = sec.initial_state(infos)
    for step in range(5):
        state = sec.update(state, feedback([0] * 3, [True] * 3, [0.98, 0.5, 0.02]), step)
    assert int(np.argmax(sec.probabilities(state, 5))) == 1
