"""The simulated learner (pure) and ``zpd simulate`` end to end against a real server."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer_client.simulate import LearnerConfig, SimulatedLearner


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_learning_step_by_hand() -> None:
    config = LearnerConfig(
        levels=3, initial_skill=[0.0, -1.0, -2.0], lr=0.5, transfer=0.5, forget=0.01, rollouts=4
    )
    learner = SimulatedLearner(config, np.random.default_rng(0))
    assert learner.accuracy.tolist() == pytest.approx([0.5, sigmoid(-1), sigmoid(-2)])
    # two problems of level 0: 2 of 4 correct (4 c (1 - c) = 1) and 4 of 4 correct (0)
    learner.train([0, 0], [[1, 1, 0.1, 0], [1, 1, 1, 1]])
    # signal of level 0 = (1 + 0) / 2 problems = 0.5; transfer to level k is 0.5^k
    expected = [0.0 + 0.5 * 0.5 - 0.01, -1.0 + 0.5 * 0.25 - 0.01, -2.0 + 0.5 * 0.125 - 0.01]
    assert learner.skill.tolist() == pytest.approx(expected)


def test_agreeing_groups_teach_nothing_and_skills_decay() -> None:
    learner = SimulatedLearner(LearnerConfig(), np.random.default_rng(1))
    before = learner.skill.copy()
    learner.train([0, 5], [[1.0] * 8, [0.0] * 8])
    assert (learner.skill - before).tolist() == pytest.approx([-LearnerConfig().forget] * 6)


def test_rollout_rewards_follow_the_paper_scheme() -> None:
    learner = SimulatedLearner(LearnerConfig(rollouts=4000), np.random.default_rng(2))
    rewards = np.array(learner.rollout_rewards(1))
    assert set(np.unique(rewards)) <= {0.0, 0.1, 1.0}
    p = learner.accuracy[1]
    # correct with probability p; standard error at n = 4000 is below 0.008
    assert abs((rewards == 1.0).mean() - p) < 0.035
    assert abs((rewards == 0.1).mean() - (1 - p) * 0.9) < 0.035


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="initial_skill"):
        LearnerConfig(levels=2)
    with pytest.raises(ValueError, match="transfer"):
        LearnerConfig(transfer=2.0)


@pytest.mark.slow
def test_zpd_simulate_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "simulate",
            "--steps",
            "40",
            "--seeds",
            "1",
            "--batch-size",
            "32",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Final accuracy per level" in result.stdout
    assert result.stdout.count("/dashboard/runs/") == 2  # a live link per run
    runs = {r["strategy"]: r for r in json.loads(out.read_text())}
    assert set(runs) == {"sec", "random"}
    for run in runs.values():
        for probabilities in run["probabilities"]:
            assert sum(probabilities) == pytest.approx(1.0)
        assert all(0 <= a <= 1 for a in run["accuracy"])
    assert runs["random"]["probabilities"][-1] == pytest.approx([1 / 6] * 6)
    # SEC has learned something: its last distribution is no longer uniform
    assert max(runs["sec"]["probabilities"][-1]) > 0.25


def test_zpd_simulate_rejects_unknown_strategy() -> None:
    """The service's registry decides (any registered strategy runs): an unknown name is
    refused before any training, with the service's list of known strategies."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "simulate",
            "--strategies",
            "sec,oracle",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "oracle" in result.stderr
    assert "known:" in result.stderr and "thompson" in result.stderr
    assert "step" not in result.stdout  # nothing was trained
