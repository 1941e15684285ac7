"""The worker loop end to end: a real `zpd serve`, a real vLLM engine, real torch updates.

These check mechanics, not accuracy: no NaN, rewards in range, the weight sync verified by
the log-prob probe after every step, reports accepted and visible in the run's history.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VLLM_INSTALL, require

require("vllm", VLLM_INSTALL)

from gpu_worker.cli import register_compare, register_demo, register_train  # noqa: E402
from gpu_worker.config import TrainConfig, config_from_args  # noqa: E402
from gpu_worker.train import train  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402
from trainer_client import CurriculumClient  # noqa: E402


def test_config_rejects_bad_combinations() -> None:
    with pytest.raises(ValueError, match="rollouts_per_prompt must be >= 2"):
        TrainConfig(rollouts_per_prompt=1)
    with pytest.raises(ValueError, match="strategy must be a strategy name"):
        TrainConfig(strategy="Greedy!")
    with pytest.raises(ValueError, match="chat_template needs --model"):
        TrainConfig(chat_template=True)
    with pytest.raises(ValueError, match="pass --model"):
        TrainConfig(warmup_task="knights_knaves")
    with pytest.raises(ValueError, match="digits must be"):
        TrainConfig(digits="1,two")
    assert TrainConfig(strategy="ordered", steps=7).strategy_spec() == {
        "name": "ordered",
        "total_steps": 7,
    }


def test_cli_flags_map_to_the_config() -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    for register in (register_train, register_compare, register_demo):
        register(subparsers)
    args = parser.parse_args(["train", "--steps", "5", "--tau", "0.2", "--digits", "1,2,3"])
    config = config_from_args(args)
    assert (config.steps, config.tau, config.digits) == (5, 0.2, "1,2,3")
    args = parser.parse_args(["compare", "--seeds", "4,5", "--strategies", "sec,random"])
    assert (args.seeds, args.strategies, config_from_args(args).steps) == ("4,5", "sec,random", 100)
    assert parser.parse_args(["demo-worker", "--steps", "7"]).steps == 7
    chat = parser.parse_args(["train", "--model", "/m", "--chat-template", "--warmup-steps", "0"])
    assert config_from_args(chat).chat_template is True
    assert config_from_args(parser.parse_args(["train"])).chat_template is False
    invalid = parser.parse_args(["train", "--rollouts-per-prompt", "1"])
    assert invalid.func(invalid) == 2  # refused before anything heavy starts


@pytest.mark.slow
def test_grpo_steps_against_a_live_service(server: LiveServer, engine: Any, tmp_path: Path) -> None:
    config = TrainConfig(
        service_url=server.url,
        run_name="e2e",
        steps=3,
        prompts_per_step=8,
        rollouts_per_prompt=4,
        max_new_tokens=6,
        warmup_steps=60,
        warmup_target=0.0,
        eval_problems=4,
        eval_every=2,
        eval_samples=2,
        out_dir=str(tmp_path / "run"),
        probe_every=1,
        lr=1e-3,
        tau=0.3,
    )
    client = CurriculumClient(server.url, timeout=10.0)
    metrics = train(config, client=client, engine=engine, log=lambda line: None)

    steps = metrics["steps"]
    assert [s["service_step"] for s in steps] == [1, 2, 3]
    allowed = {config.reward_correct, config.reward_formatted, config.reward_invalid}
    for record in steps:
        assert len(record["results"]) == config.prompts_per_step
        for result in record["results"]:
            assert len(result["rewards"]) == config.rollouts_per_prompt
            assert set(result["rewards"]) <= allowed
        assert record["probe_gap"] < 1e-3  # engine and trainer agree after every sync
        assert all(math.isfinite(record[k]) for k in ("loss", "grad_norm", "reward_mean"))
        assert sum(record["probabilities"].values()) == pytest.approx(1.0)
    # After 60 SFT steps some groups mix formatted and unformatted answers: the update has signal.
    assert sum(s["trained_sequences"] for s in steps) > 0

    history = client.history(metrics["run_id"])
    assert len(history.points) == 3
    last = history.points[-1]
    assert last.q == steps[-1]["q"]
    assert any(q != 0.0 for q in last.q.values())  # arm values moved
    assert set(metrics["evaluation"]) == {
        "chain_sum/d1",
        "chain_sum/d2",
        "chain_sum/d3",
        "chain_sum/d4",
    }
    assert [point["step"] for point in metrics["curve"]] == [0, 2, 3]
    for point in metrics["curve"]:
        for level in metrics["evaluation"]:
            assert 0.0 <= point[level]["pass_at_1"] <= point[level]["success_in_k"] <= 1.0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["run_id"] == metrics["run_id"]


@pytest.mark.slow
def test_a_probe_gap_above_tolerance_stops_the_run(
    server: LiveServer, engine: Any, tmp_path: Path
) -> None:
    from gpu_worker.rollout import WeightSyncError

    # Real engine and trainer agree to ~1e-6, so a 1e-12 tolerance must trip the check.
    config = TrainConfig(
        service_url=server.url,
        steps=2,
        prompts_per_step=2,
        rollouts_per_prompt=2,
        warmup_steps=0,
        eval_problems=0,
        out_dir=str(tmp_path / "run"),
        probe_tolerance=1e-12,
    )
    with pytest.raises(WeightSyncError, match="differ by"):
        train(config, client=CurriculumClient(server.url), engine=engine, log=lambda line: None)
