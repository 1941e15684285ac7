"""Discounted UCB against values worked by hand."""

from __future__ import annotations

import math

import pytest

from service.curricula import StrategyError, build_strategy
from tests.service.curricula.strategy_harness import arms, feedback, seeded_run


def test_discounted_counts_sums_and_index_by_hand() -> None:
    infos = arms(None, None, None)
    ducb = build_strategy("ducb", {"gamma": 0.5, "c": 1.0}, infos)
    state = ducb.initial_state(infos)
    # nothing seen: every index is infinite, the first batch is uniform
    assert ducb.probabilities(state, 0).tolist() == pytest.approx([1 / 3] * 3)
    state = ducb.update(state, feedback([0.4, 0.8, 0.0], [True, True, False]), 0)
    assert state == {"n": [1.0, 1.0, 0.0], "s": [0.4, 0.8, 0.0]}
    # arm 2 is still unseen: all mass on it
    assert ducb.probabilities(state, 1).tolist() == [0.0, 0.0, 1.0]
    state = ducb.update(state, feedback([0.0, 0.0, 0.2], [False, False, True]), 1)
    assert state["n"] == pytest.approx([0.5, 0.5, 1.0])
    assert state["s"] == pytest.approx([0.2, 0.4, 0.2])
    # means 0.4, 0.8, 0.2 ; sum N = 2 ; bonus sqrt(log 2 / N)
    log2 = math.log(2.0)
    expected = [0.4 + math.sqrt(log2 / 0.5), 0.8 + math.sqrt(log2 / 0.5), 0.2 + math.sqrt(log2)]
    assert ducb.index(state).tolist() == pytest.approx(expected)  # type: ignore[attr-defined]
    assert ducb.probabilities(state, 2).tolist() == [0.0, 1.0, 0.0]
    assert ducb.values(state).tolist() == pytest.approx([0.4, 0.8, 0.2])


def test_boltzmann_selection_is_a_softmax_of_the_index() -> None:
    infos = arms(None, None)
    ducb = build_strategy("ducb", {"selection": "boltzmann", "tau": 0.5, "c": 0.0}, infos)
    state = {"n": [1.0, 2.0], "s": [0.5, 0.6]}
    # c = 0: index = mean = 0.5, 0.3 ; softmax(index / 0.5)
    w = [math.exp(1.0), math.exp(0.6)]
    assert ducb.probabilities(state, 0).tolist() == pytest.approx([x / sum(w) for x in w])


def test_old_evidence_fades_so_a_stale_arm_is_tried_again() -> None:
    infos = arms(None, None)
    ducb = build_strategy("ducb", {"gamma": 0.8, "c": 0.5}, infos)
    state = {"n": [1.0, 1.0], "s": [0.9, 0.1]}
    for step in range(40):  # only arm 0 is reported, with a reward that collapsed to 0.05
        state = ducb.update(state, feedback([0.05, 0.0], [True, False]), step)
    # arm 1's count decayed to 0.8^40: its bonus dominates, it is chosen again
    assert state["n"][1] == pytest.approx(0.8**40)
    assert ducb.probabilities(state, 40).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": 0}, "gamma"),
        ({"gamma": 1.1}, "gamma"),
        ({"c": -1}, "'c'"),
        ({"selection": "softmax"}, "selection"),
        ({"tau": 0}, "tau"),
        ({"alpha": 0.5}, "unknown option"),
    ],
)
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("ducb", options, arms(None))


@pytest.mark.parametrize(
    "options", [{}, {"selection": "boltzmann", "objective": "learning_progress"}]
)
def test_reproducible(options: dict[str, object]) -> None:
    infos = arms(50, 20, 30)
    assert seeded_run("ducb", options, infos, 5) == seeded_run("ducb", options, infos, 5)
    assert seeded_run("ducb", options, infos, 5) != seeded_run("ducb", options, infos, 6)
