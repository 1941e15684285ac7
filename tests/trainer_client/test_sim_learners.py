"""Learner models of the simulated learner, strategy specs of ``zpd simulate``, and any
registered strategy trained through the real app."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer_client import CurriculumClient
from trainer_client.sim_learners import LEARNER_MODELS, LearnerModel
from trainer_client.simulate import parse_strategies, simulate, with_defaults


def test_parse_strategies_with_options() -> None:
    specs = parse_strategies("sec, random,ducb:gamma=0.9,c=0.5,sec:objective=pass_rate")
    assert specs == [
        ("sec", {"name": "sec"}),
        ("random", {"name": "random"}),
        ("ducb:gamma=0.9,c=0.5", {"name": "ducb", "gamma": 0.9, "c": 0.5}),
        ("sec:objective=pass_rate", {"name": "sec", "objective": "pass_rate"}),
    ]
    with pytest.raises(ValueError, match="before any strategy"):
        parse_strategies("gamma=0.9,ducb")
    with pytest.raises(ValueError, match="key=value"):
        parse_strategies("ducb:gamma")
    assert with_defaults({"name": "ordered"}, 50) == {"name": "ordered", "total_steps": 50}
    assert with_defaults({"name": "sec", "tau": 1}, 50) == {"name": "sec", "alpha": 0.5, "tau": 1}


def test_transfer_matrix_by_hand() -> None:
    model = LearnerModel("m", "", tasks=2, levels=2, held_out=1, transfer=0.5, cross_task=0.1)
    # units: (0,0) (0,1) (0,2*) (1,0) (1,1) (1,2*)
    assert model.training_units == [0, 1, 3, 4]
    assert model.held_out_units == [2, 5]
    assert model.hardest_training_units == [1, 4]
    t = model.transfer_matrix()
    assert t[0].tolist() == pytest.approx([1, 0.5, 0.25, 0.1, 0.05, 0.025])
    assert [a["name"] for a in model.arms()] == [
        "task-1-level-1",
        "task-1-level-2",
        "task-2-level-1",
        "task-2-level-2",
    ]
    assert model.arms()[2]["tags"] == {"task": 2, "difficulty": 1}


def test_held_out_level_learns_only_through_transfer() -> None:
    model = LearnerModel("m", "", levels=2, held_out=1, first_skill=0.0, skill_step=-1.0,
                         lr=1.0, transfer=0.5, forget=0.0, rollouts=2)  # fmt: skip
    learner = model.build(np.random.default_rng(0))
    assert learner.skill.tolist() == [0.0, -1.0, -2.0]
    # one problem of level 2 (unit 1), one of two rollouts correct: signal 4 * 0.5 * 0.5 = 1
    learner.train([1], [[1.0, 0.0]])
    assert learner.skill.tolist() == pytest.approx([0.5, 0.0, -1.5])


def test_rollout_batch_follows_the_accuracy() -> None:
    model = LearnerModel("m", "", levels=2, held_out=0, first_skill=0.0, skill_step=-2.0,
                         rollouts=2000)  # fmt: skip
    learner = model.build(np.random.default_rng(3))
    rewards = learner.rollout_batch([0, 1])
    assert rewards.shape == (2, 2000)
    expected = [0.5, 1 / (1 + math.exp(2.0))]
    assert (rewards == 1.0).mean(axis=1).tolist() == pytest.approx(expected, abs=0.04)


def test_named_models_are_consistent() -> None:
    assert {"frontier", "forgetting", "transfer-strong", "transfer-weak", "multitask"} <= set(
        LEARNER_MODELS
    )
    frontier = LEARNER_MODELS["frontier"]
    # the trained part of the frontier model is the zpd simulate learner of LearnerConfig()
    from trainer_client.simulate import LearnerConfig

    assert frontier.config().initial_skill[:6] == LearnerConfig().initial_skill
    assert len(LEARNER_MODELS["multitask"].arms()) == 12


@pytest.mark.parametrize(
    "strategy",
    [{"name": "ducb", "gamma": 0.9}, {"name": "threshold", "window": 16}, {"name": "adarft"}],
)
def test_any_strategy_trains_through_the_app(
    inprocess_client: CurriculumClient, strategy: dict[str, object]
) -> None:
    result = simulate(
        inprocess_client,
        strategy,
        steps=6,
        batch_size=16,
        seed=1,
        model=LEARNER_MODELS["multitask"],
    )
    assert result.learner == "multitask" and len(result.accuracy) == 15
    assert all(sum(p) == pytest.approx(1.0) for p in result.probabilities)
    run = inprocess_client.get_run(result.run_id)
    assert run.strategy["name"] == strategy["name"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--learner", "bogus"], "unknown learner 'bogus'"),
        (["--strategies", "gamma=1,sec"], "before any strategy name"),
    ],
)
def test_zpd_simulate_rejects_bad_arguments_before_any_call(
    arguments: list[str], message: str
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "simulate", "--url", "http://127.0.0.1:9"]
        + arguments,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr
