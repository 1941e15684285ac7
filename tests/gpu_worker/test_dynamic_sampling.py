"""DAPO dynamic sampling in the worker: dropped groups are reported and their rollouts and
tokens counted; a different n per prompt. A real `zpd serve` and the transformers backend
on CPU (tiny model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import LiveServer, require

require("torch")
require("transformers")

ZPD = str(Path(sys.executable).with_name("zpd"))
PROMPTS, GROUP, ROUNDS = 4, 4, 3


@pytest.mark.slow
def test_dynamic_sampling_counts_the_rollouts_it_drops(tmp_path: Path) -> None:
    server = LiveServer(f"sqlite:///{tmp_path / 'zpd.db'}", workdir=tmp_path).start()
    out = tmp_path / "out"
    try:
        subprocess.run(
            [
                ZPD,
                "train",
                "--service-url",
                server.url,
                "--seed",
                "3",
                "--steps",
                "4",
                "--prompts-per-step",
                str(PROMPTS),
                "--rollouts-per-prompt",
                str(GROUP),
                "--max-new-tokens",
                "8",
                "--digits",
                "1,2,3",
                "--warmup-steps",
                "30",
                "--eval-problems",
                "0",
                "--rollout-backend",
                "transformers",
                "--device",
                "cpu",
                "--lr",
                "1e-3",
                "--out-dir",
                str(out),
                "--dynamic-sampling",
                "--max-generation-rounds",
                str(ROUNDS),
            ],  # fmt: skip
            check=True,
            capture_output=True,
            timeout=900,
        )
    finally:
        server.stop()
    steps = json.loads((out / "metrics.json").read_text())["steps"]
    dropped = 0.0
    for record in steps:
        results = record["results"]  # every generated group is reported
        informative = sum(len(set(r["rewards"])) > 1 for r in results)
        kept = min(informative, PROMPTS)
        # rounds of PROMPTS prompts until PROMPTS groups are kept, at most ROUNDS
        rounds = len(results) // PROMPTS
        assert len(results) % PROMPTS == 0 and 1 <= rounds <= ROUNDS
        assert rounds == ROUNDS or kept == PROMPTS
        assert record["rollouts"] == GROUP * len(results)
        assert record["discarded_rollouts"] == GROUP * (len(results) - kept)
        assert record["effective_ratio"] == pytest.approx(informative / len(results))
        assert record["generated_tokens"] >= record["rollouts"]  # at least one token each
        dropped += record["discarded_rollouts"]
    assert dropped > 0  # the tiny model's groups do not all teach


def test_each_prompt_gets_its_own_number_of_rollouts(tiny_model_dir: Path) -> None:
    from gpu_worker.config import TrainConfig
    from gpu_worker.rollout import EngineConfig
    from gpu_worker.rollout_hf import HFRolloutEngine
    from gpu_worker.train import rollout_step

    engine = HFRolloutEngine(tiny_model_dir, EngineConfig(device="cpu", seed=0))
    # a stand-in for the Worker: rollout_step reads only its config, engine and suite
    worker = SimpleNamespace(
        config=TrainConfig(max_new_tokens=4),
        engine=engine,
        suite=SimpleNamespace(reward=lambda problem, text, finished: 0.0),
    )
    prompts = [[5, 6, 7], [8, 9], [5, 6, 7]]
    groups, rewards = rollout_step(worker, prompts, [None] * 3, step=0, sizes=[2, 5, 3])  # type: ignore[arg-type]
    assert [len(g) for g in groups] == [2, 5, 3]
    assert [len(r) for r in rewards] == [2, 5, 3]
