"""AdaRFT's target difficulty, worked by hand."""

from __future__ import annotations

import math

import pytest

from service.curricula import ArmInfo, StrategyError, build_strategy
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run

LEVELS = arms(*[None] * 5, difficulties=[1, 2, 3, 4, 5])


def test_target_moves_by_tanh_of_the_reward_gap() -> None:
    ada = build_strategy("adarft", {"eta": 1.0, "alpha": 2.0, "beta": 0.5}, LEVELS)
    state = ada.initial_state(LEVELS)
    assert state == {"target": 1.0}
    assert ada.probabilities(state, 0).tolist() == [1.0, 0, 0, 0, 0]
    # batch reward 0.9 (4 problems of arm 0): T = 1 + tanh(2 * 0.4)
    nan = math.nan
    state = ada.update(state, feedback([0] * 5, [True] + [False] * 4, [0.9] + [nan] * 4,
                                       counts=[4, 0, 0, 0, 0]), 0)  # fmt: skip
    t1 = 1 + math.tanh(0.8)
    assert state["target"] == pytest.approx(t1)  # 1.664
    assert ada.probabilities(state, 1).tolist() == [0, 1.0, 0, 0, 0]  # nearest: difficulty 2
    # batch of 2 at 0.5 and 2 at 0.2: mean 0.35 ; T += tanh(2 * -0.15)
    state = ada.update(state, feedback([0] * 5, [True, True, False, False, False],
                                       [0.5, 0.2, nan, nan, nan], counts=[2, 2, 0, 0, 0]), 1)  # fmt: skip
    assert state["target"] == pytest.approx(t1 + math.tanh(-0.3))  # 1.373
    assert ada.probabilities(state, 2).tolist() == [1.0, 0, 0, 0, 0]
    target = t1 + math.tanh(-0.3)
    assert ada.values(state).tolist() == pytest.approx([-abs(d - target) for d in range(1, 6)])


def test_target_is_clipped_and_unchanged_without_outcomes() -> None:
    ada = build_strategy("adarft", {"eta": 3.0, "initial_target": 4.5}, LEVELS)
    state = ada.update({"target": 4.5}, feedback([0] * 5, [True] * 5, [1.0] * 5), 0)
    assert state["target"] == 5.0
    state = ada.update(state, feedback([0.3] * 5, [True] * 5), 1)  # advantages only
    assert state["target"] == 5.0


def test_interpolate_between_bracketing_difficulties() -> None:
    ada = build_strategy("adarft", {"selection": "interpolate"}, LEVELS)
    assert ada.probabilities({"target": 2.25}, 0).tolist() == pytest.approx([0, 0.75, 0.25, 0, 0])
    assert ada.probabilities({"target": 3.0}, 0).tolist() == pytest.approx([0, 0, 1.0, 0, 0])


def test_default_eta_is_a_tenth_of_the_range_and_ties_split() -> None:
    infos = arms(None, None, None, difficulties=[0, 10, 10])
    ada = build_strategy("adarft", {}, infos)
    assert ada.options()["eta"] == pytest.approx(1.0)
    assert ada.probabilities({"target": 9.0}, 0).tolist() == pytest.approx([0, 0.5, 0.5])


def test_needs_numeric_difficulty_tags() -> None:
    with pytest.raises(StrategyError, match="a1.*difficulty"):
        build_strategy("adarft", {}, [LEVELS[0], ArmInfo("a1", None, {})])
    with pytest.raises(StrategyError, match="difficulty"):
        build_strategy("adarft", {}, arms(None, difficulties=["hard"]))  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eta": 0}, "eta"),
        ({"beta": 1.5}, "beta"),
        ({"initial_target": 9}, "initial_target"),
        ({"selection": "random"}, "selection"),
        ({"tau": 1}, "unknown option"),
    ],
)
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("adarft", options, LEVELS)


def test_reproducible() -> None:
    infos = arms(50, 20, 30, difficulties=[1, 2, 3])
    options = {"selection": "interpolate", "eta": 0.5}
    assert seeded_run("adarft", options, infos, 5) == seeded_run("adarft", options, infos, 5)
    assert seeded_run("adarft", options, infos, 5) != seeded_run("adarft", options, infos, 6)
