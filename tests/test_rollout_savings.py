"""The per-problem simulated learner and the rollout-savings benchmark's arithmetic."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_rollout_savings import (
    GROUP,
    METHODS,
    paired_ratio,
    run_method,
    spearman,
    to_target,
)
from trainer_client.sim_learners import LEARNER_MODELS, ProblemLearner

ROOT = Path(__file__).resolve().parents[1]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_problem_learner_pass_rates_and_training_by_hand() -> None:
    model = LEARNER_MODELS["frontier"]
    learner = ProblemLearner(model, np.random.default_rng(0), per_arm=3, spread=1.0)
    learner.offsets[:] = 0.0
    learner.offsets[0] = [-1.0, 0.0, 1.0]
    # level 1 starts at skill 2.0
    rates = learner.pass_rates(np.array([0, 0, 0]), np.array([0, 1, 2]))
    assert rates.tolist() == pytest.approx([sigmoid(1.0), sigmoid(2.0), sigmoid(3.0)])
    # groups of 2 and 4 rollouts on level 1 (unit 0): c = 1/2 and 1/4, signals 1 and 0.75,
    # the level's share of the batch signal (1 + 0.75) / 2; transfer 0.3 per level away
    before = learner.skill.copy()
    learner.train(np.array([0, 0]), [np.array([1.0, 0.1]), np.array([1.0, 0.0, 0.0, 0.1])])
    signal = (1.0 + 0.75) / 2
    expected = before + 0.15 * signal * 0.3 ** np.arange(len(before)) - 0.004
    assert learner.skill == pytest.approx(expected)
    # nothing trained: only forgetting
    learner.train(np.array([], dtype=np.int64), [])
    assert learner.skill == pytest.approx(expected - 0.004)


def test_problem_learner_gives_each_problem_its_own_group_size() -> None:
    learner = ProblemLearner(LEARNER_MODELS["frontier"], np.random.default_rng(1))
    groups, tokens = learner.rollouts(np.array([0, 1, 2]), np.array([5, 6, 7]), np.array([2, 9, 4]))
    assert [len(g) for g in groups] == [2, 9, 4]
    assert all(set(g.tolist()) <= {0.0, 0.1, 1.0} for g in groups) and (tokens > 0).all()


def test_spearman_by_hand() -> None:
    # one swapped pair of 4: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])) == pytest.approx(0.8)
    # ties take average ranks: x ranks (0.5, 0.5, 2), y ranks (0, 1, 2): Pearson of those
    expected = np.corrcoef([0.5, 0.5, 2.0], [0.0, 1.0, 2.0])[0, 1]
    assert spearman(np.array([0.0, 0.0, 1.0]), np.array([0.1, 0.2, 0.3])) == pytest.approx(expected)
    assert spearman(np.ones(5), np.arange(5.0)) is None


def test_to_target_and_paired_ratio() -> None:
    curve = [(0.0, 0.0, 0.1), (100.0, 9.0, 0.3), (200.0, 20.0, 0.5)]
    assert to_target(curve, 0.3) == (100.0, 9.0)
    assert to_target(curve, 0.6) == (None, None)
    ratio = paired_ratio(np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.random.default_rng(0))
    assert ratio == {"ratio": 0.5, "ci_low": 0.5, "ci_high": 0.5}


def test_dynamic_sampling_counts_the_groups_it_drops() -> None:
    method = next(m for m in METHODS if m.name == "dynamic_sampling")
    run = run_method(method, seed=3, rollout_budget=3000, batch=16, rounds=4)
    generated, trained = run["generated_groups"], run["trained_groups"]
    assert generated > trained  # some groups all agreed and were dropped
    assert run["rollouts"] == GROUP * generated  # and their rollouts were counted
    # only informative groups are trained (at most a batch of them per step)
    assert trained <= round(run["effective_ratio"] * generated) and run["effective_ratio"] < 1


def test_every_method_is_reproducible_from_its_seed() -> None:
    for method in METHODS:
        first = run_method(method, seed=5, rollout_budget=1500, batch=8, rounds=2)
        again = run_method(method, seed=5, rollout_budget=1500, batch=8, rounds=2)
        assert first == again


def test_benchmark_script_writes_the_runs(tmp_path: Path) -> None:
    out = tmp_path / "savings.json"
    subprocess.run(
        [
            sys.executable,
            "benchmarks/bench_rollout_savings.py",
            "--seeds",
            "2",
            "--rollouts",
            "2000",
            "--batch",
            "8",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    runs = json.loads(out.read_text())["runs"]
    assert {r["method"] for r in runs} == {m.name for m in METHODS}
    assert {r["seed"] for r in runs} == {0, 1}
    for run in runs:
        assert {"rollouts_to_target", "tokens_to_target", "effective_ratio", "spearman"} <= set(run)
