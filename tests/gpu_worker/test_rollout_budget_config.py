"""The worker's --rollout-budget and --problems-selection flags: validation, the run and
sample they make on a real service, and two `zpd train` steps that spend the budget."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gpu_worker.config import TrainConfig, add_config_arguments, config_from_args
from gpu_worker.train import create_curriculum_run
from gpu_worker.worker import Worker, build_suite
from service.api import create_app
from service.settings import Settings
from tests.conftest import LiveServer, require
from trainer_client import CurriculumClient


def test_budget_off_by_default_sends_nothing() -> None:
    config = TrainConfig()
    assert config.rollout_budget == 0 and config.problems_selection == "none"
    assert config.sample_options() == {} and config.problems_spec() is None
    # a selection alone is fine: per-problem tracking without a budget
    assert TrainConfig(problems_selection="uniform").problems_spec() == {"selection": "uniform"}


def test_flags_parse_into_the_sample_options() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(
        [
            "--problems-selection",
            "frontier",
            "--rollout-budget",
            "40",
            "--min-rollouts",
            "2",
            "--max-rollouts",
            "6",
            "--prompts-per-step",
            "16",
        ]
    )
    config = config_from_args(args)
    assert config.problems_spec() == {"selection": "frontier"}
    assert config.sample_options() == {"rollout_budget": 40, "min_rollouts": 2, "max_rollouts": 6}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rollout_budget": 32}, "--problems-selection uniform or frontier"),
        ({"problems_selection": "everything"}, "problems_selection must be one of"),
        ({"problems_selection": "uniform", "rollout_budget": -1}, "rollout_budget must be >= 0"),
        (
            {"problems_selection": "uniform", "rollout_budget": 64, "dynamic_sampling": True},
            "pick one",
        ),
        (
            {"problems_selection": "uniform", "rollout_budget": 64, "min_rollouts": 1},
            "min_rollouts must be >= 2",
        ),
        (
            {
                "problems_selection": "frontier",
                "rollout_budget": 160,
                "min_rollouts": 9,
                "max_rollouts": 8,
            },
            "min_rollouts (9) must not exceed max_rollouts (8)",
        ),
        # 16 prompts x 2 rollouts = 32 is the least a budget can be
        (
            {"problems_selection": "frontier", "rollout_budget": 31},
            "min_rollouts * prompts_per_step = 32, got 31",
        ),
    ],
)
def test_bad_combinations_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="invalid TrainConfig") as refused:
        TrainConfig(**fields)
    assert message in str(refused.value)


def test_smallest_budget_is_accepted() -> None:
    config = TrainConfig(problems_selection="frontier", rollout_budget=32, prompts_per_step=16)
    assert config.sample_options()["rollout_budget"] == 32


def test_worker_run_takes_the_budget(tmp_path: Path) -> None:
    """create_curriculum_run makes a per-problem run, and the options draw a budgeted sample."""
    config = TrainConfig(
        problems_selection="frontier",
        rollout_budget=20,
        min_rollouts=2,
        max_rollouts=4,
        prompts_per_step=6,
    )
    http = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'zpd.db'}")))
    worker = Worker(
        config=config,
        suite=build_suite(config),
        model=None,
        tokenizer=None,
        engine=None,  # type: ignore[arg-type]  # no rollouts here: only the run and a sample
        client=CurriculumClient(http_client=http),  # type: ignore[arg-type]
        optimizer=None,  # type: ignore[arg-type]
        weights_dir=tmp_path,
        probe=[],
    )
    run = create_curriculum_run(worker)
    assert run.problems is not None and run.problems["selection"] == "frontier"
    sample = worker.client.sample(run.run_id, config.prompts_per_step, **config.sample_options())
    counts = [item.n_rollouts for item in sample.items]
    assert all(n is not None and 2 <= n <= 4 for n in counts), counts
    assert sum(n for n in counts if n is not None) == 20  # reachable: 20 <= 4 * 6


@pytest.mark.slow
def test_worker_steps_spend_the_budget(tmp_path: Path) -> None:
    """Two steps of `zpd train` (no warmup, tiny model, transformers on CPU) against a real
    `zpd serve`: each step reports groups of n_rollouts in [2, 4] that sum to the budget."""
    require("torch")
    require("transformers")
    server = LiveServer(f"sqlite:///{tmp_path / 'zpd.db'}", workdir=tmp_path).start()
    out = tmp_path / "out"
    try:
        subprocess.run(
            [
                str(Path(sys.executable).with_name("zpd")),
                "train",
                "--service-url",
                server.url,
                "--seed",
                "3",
                "--steps",
                "2",
                "--prompts-per-step",
                "4",
                "--max-new-tokens",
                "4",
                "--digits",
                "1,2",
                "--warmup-steps",
                "0",
                "--eval-problems",
                "0",
                "--probe-every",
                "0",
                "--rollout-backend",
                "transformers",
                "--device",
                "cpu",
                "--out-dir",
                str(out),
                "--problems-selection",
                "frontier",
                "--rollout-budget",
                "13",
                "--min-rollouts",
                "2",
                "--max-rollouts",
                "4",
            ],  # fmt: skip
            check=True,
            capture_output=True,
            timeout=600,
        )
    finally:
        server.stop()
    steps = json.loads((out / "metrics.json").read_text())["steps"]
    assert len(steps) == 2
    for record in steps:
        sizes = [len(result["rewards"]) for result in record["results"]]
        assert len(sizes) == 4 and all(2 <= n <= 4 for n in sizes), sizes
        assert sum(sizes) == 13 == record["rollouts"]  # 13 <= 4 x 4: all of it is spent
