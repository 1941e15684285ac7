"""TRL's real GRPOTrainer, on CPU with a tiny from-scratch model, driven by a real service."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from trainer_client import CurriculumClient, grpo_advantages, mean_abs_advantage

require("trl")
torch = require("torch")
torch.set_num_threads(1)

from datasets import Dataset  # noqa: E402
from trl import GRPOConfig  # noqa: E402

from tests.trainer_client.tiny_lm import tiny_model, tiny_tokenizer  # noqa: E402
from trainer_client.adapters.arms import ZPDSettings  # noqa: E402
from trainer_client.adapters.trl import ROW_COLUMN, ZPDGRPOTrainer  # noqa: E402

STEPS, GENERATIONS, PROMPTS_PER_STEP = 4, 4, 2


def _dataset() -> Dataset:
    difficulties = [1, 2, 3] * 4
    prompts = [f"{d}:{'abcd'[i % 4]}?" for i, d in enumerate(difficulties)]
    return Dataset.from_dict({"prompt": prompts, "difficulty": difficulties})


def test_grpo_trainer_trains_on_zpd_prompts(zpd_url: str, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def reward(completions: list[str], difficulty: list[int], **kwargs: Any) -> list[float]:
        # d1: share of distinct characters (varies within a group); d2: 1 if it says "a";
        # d3: never solvable, so it must give no learning signal at all.
        values = [
            len(set(c)) / max(len(c), 1) if d == 1 else float("a" in c) if d == 2 else 0.0
            for c, d in zip(completions, difficulty, strict=True)
        ]
        seen.append({"rows": list(kwargs[ROW_COLUMN]), "difficulty": difficulty, "r": values})
        return values

    tokenizer = tiny_tokenizer()
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, seed=0,
        per_device_train_batch_size=GENERATIONS * PROMPTS_PER_STEP, num_generations=GENERATIONS,
        max_completion_length=6, max_steps=STEPS, learning_rate=1e-2, logging_steps=1,
        save_strategy="no", report_to="none", dataloader_num_workers=0,
    )  # fmt: skip
    zpd = ZPDSettings(
        url=zpd_url, run_name=f"trl-e2e-{os.getpid()}", arm_fields=["difficulty"],
        strategy={"name": "sec", "alpha": 0.5, "tau": 0.5}, seed=4,
    )  # fmt: skip
    trainer = ZPDGRPOTrainer(
        model=tiny_model(len(tokenizer)), reward_funcs=[reward], args=args,
        train_dataset=_dataset(), processing_class=tokenizer, zpd=zpd,
    )  # fmt: skip
    trainer.train()

    # One report per generation batch, each about the prompts the service drew.
    assert len(trainer.zpd_reports) == STEPS == len(seen)
    client = CurriculumClient(zpd_url)
    run = client.get_run(trainer.curriculum.run_id)
    assert [a.name for a in run.arms] == ["difficulty=1", "difficulty=2", "difficulty=3"]
    assert [a.size for a in run.arms] == [4, 4, 4]
    assert run.step == STEPS and run.samples >= STEPS
    history = client.history(run.run_id)
    for point, batch, report in zip(history.points, seen, trainer.zpd_reports, strict=True):
        rows = batch["rows"]
        assert rows == [row for row in rows[::GENERATIONS] for _ in range(GENERATIONS)]
        drawn = Counter(f"difficulty={d}" for d in batch["difficulty"][::GENERATIONS])
        assert point.counts == dict(drawn) and point.report_id == report.report_id
        # The service's arm rewards equal mean |A| of the groups we scored (second computation).
        expected: dict[str, list[float]] = {}
        for start in range(0, len(rows), GENERATIONS):
            # TRL holds rewards as float32, so that is what reaches the service.
            group = [
                float(torch.tensor(v, dtype=torch.float32))
                for v in batch["r"][start : start + GENERATIONS]
            ]
            arm = f"difficulty={batch['difficulty'][start]}"
            expected.setdefault(arm, []).append(mean_abs_advantage(grpo_advantages(group)))
        want = {arm: sum(v) / len(v) for arm, v in expected.items()}
        assert report.arm_rewards == pytest.approx(want, rel=1e-12, abs=1e-15)
    # Values moved where there was signal, and never for the unsolvable arm.
    assert any(abs(arm.q) > 1e-6 for arm in run.arms)
    assert run.arm("difficulty=3").q == pytest.approx(0.0, abs=1e-9)
    # The logged metrics carry the arm values too.
    assert any(key.startswith("zpd/q/") for entry in trainer.state.log_history for key in entry)


def test_steps_per_generation_and_evaluation(zpd_url: str, tmp_path: Path) -> None:
    calls: list[int] = []

    def reward(completions: list[str], **kwargs: Any) -> list[float]:
        calls.append(len(completions))
        return [float("a" in c) + len(c) / 10 for c in completions]

    tokenizer = tiny_tokenizer()
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, seed=1,
        per_device_train_batch_size=GENERATIONS * PROMPTS_PER_STEP, num_generations=GENERATIONS,
        steps_per_generation=2, max_completion_length=6, max_steps=4, learning_rate=1e-2,
        eval_strategy="steps", eval_steps=2, per_device_eval_batch_size=GENERATIONS * 2,
        save_strategy="no", report_to="none",
    )  # fmt: skip
    zpd = ZPDSettings(url=zpd_url, run_name=f"trl-spg-{os.getpid()}", arm_fields=["difficulty"])
    trainer = ZPDGRPOTrainer(
        model=tiny_model(len(tokenizer)), reward_funcs=[reward], args=args,
        train_dataset=_dataset(), eval_dataset=_dataset(), processing_class=tokenizer, zpd=zpd,
    )  # fmt: skip
    trainer.train()

    # 4 optimizer steps, one generation per 2 steps, each of 2 x 2 prompts x 4 rollouts.
    train_calls = [n for n in calls if n == 2 * PROMPTS_PER_STEP * GENERATIONS]
    assert len(train_calls) == 2 and len(calls) > 2  # the other calls were evaluation
    assert len(trainer.zpd_reports) == 2
    history = CurriculumClient(zpd_url).history(trainer.curriculum.run_id)
    assert [sum(p.counts.values()) for p in history.points] == [4, 4]
