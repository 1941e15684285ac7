"""The accuracy-threshold level rule, worked by hand."""

from __future__ import annotations

import math

import pytest

from service.curricula import StrategyError, build_strategy
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run

NAN = math.nan


def test_level_rises_and_falls_on_window_accuracy() -> None:
    # difficulty tags 3, 1, 2: the order from easy to hard is arm 1, arm 2, arm 0
    infos = arms(None, None, None, difficulties=[3, 1, 2])
    rule = build_strategy("threshold", {"window": 64}, infos)
    state = rule.initial_state(infos)
    assert rule.probabilities(state, 0).tolist() == [0.0, 1.0, 0.0]
    # 40 problems at 0.8: window not full yet
    state = rule.update(state, feedback([0] * 3, [False, True, False], [NAN, 0.8, NAN],
                                        counts=[0, 40, 0]), 0)  # fmt: skip
    assert state == {"level": 0, "outcome_sum": pytest.approx(32.0), "seen": 40}
    # 40 more at 0.75: 80 seen, accuracy 62 / 80 = 0.775 >= 0.7: up to arm 2
    state = rule.update(state, feedback([0] * 3, [False, True, False], [NAN, 0.75, NAN],
                                        counts=[0, 40, 0]), 1)  # fmt: skip
    assert state == {"level": 1, "outcome_sum": 0.0, "seen": 0}
    assert rule.probabilities(state, 2).tolist() == [0.0, 0.0, 1.0]
    # 64 at 0.2 <= 0.3: back down
    state = rule.update(state, feedback([0] * 3, [False, False, True], [NAN, NAN, 0.2],
                                        counts=[0, 0, 64]), 2)  # fmt: skip
    assert state["level"] == 0
    # 64 at 0.5: in between, the level stays and the window restarts
    state = rule.update(state, feedback([0] * 3, [False, True, False], [NAN, 0.5, NAN],
                                        counts=[0, 64, 0]), 3)  # fmt: skip
    assert state == {"level": 0, "outcome_sum": 0.0, "seen": 0}


def test_given_order_without_tags_caps_and_review() -> None:
    infos = arms(None, None, None)
    rule = build_strategy("threshold", {"window": 1, "review": 0.2}, infos)
    # review needs easier levels: at level 0 all mass stays there
    assert rule.probabilities({"level": 0, "outcome_sum": 0, "seen": 0}, 0).tolist() == [1, 0, 0]
    assert rule.probabilities({"level": 2, "outcome_sum": 0, "seen": 0}, 0).tolist() == (
        pytest.approx([0.1, 0.1, 0.8])
    )
    top = {"level": 2, "outcome_sum": 0.0, "seen": 0}
    state = rule.update(top, feedback([0] * 3, [False, False, True], [NAN, NAN, 1.0]), 0)
    assert state["level"] == 2  # already the hardest
    # outcomes of other levels (review slots) do not count towards the window
    state = rule.update(top, feedback([0] * 3, [True, False, False], [0.0, NAN, NAN]), 0)
    assert state == top


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"upper": 0.3, "lower": 0.5}, "below upper"),
        ({"window": 0}, "window"),
        ({"window": 2.5}, "integer"),
        ({"review": 1.0}, "review"),
        ({"upper": 1.2}, "upper"),
        ({"gamma": 1}, "unknown option"),
    ],
)
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("threshold", options, arms(None, None))


def test_reproducible() -> None:
    infos = arms(50, 20, 30)
    options = {"window": 32, "review": 0.3}
    assert seeded_run("threshold", options, infos, 5) == seeded_run("threshold", options, infos, 5)
    assert seeded_run("threshold", options, infos, 5) != seeded_run("threshold", options, infos, 6)
