"""Exact resume through the TRL adapter: TRL's real ``GRPOTrainer`` (tiny model, CPU)
checkpoints at step 4, trains and reports step 5 (with step 6's batch drawn ahead by the
data loader), dies, and is resumed with ``train(resume_from_checkpoint=...)``. The run must
end in the state, history and trained prompts of an uninterrupted trainer."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require
from trainer_client import CurriculumClient

require("trl")
torch = require("torch")
torch.set_num_threads(1)

from datasets import Dataset  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import GRPOConfig  # noqa: E402

from tests.trainer_client.run_state import comparable_run  # noqa: E402
from tests.trainer_client.tiny_lm import tiny_model, tiny_tokenizer  # noqa: E402
from trainer_client.adapters.arms import ZPDSettings  # noqa: E402
from trainer_client.adapters.trl import ROW_COLUMN, ZPD_STATE, ZPDGRPOTrainer  # noqa: E402

STEPS, GENERATIONS, PROMPTS = 8, 4, 2  # 12 rows: 6 generation batches per epoch
CHECKPOINT, CRASH = 4, 5


class Crash(RuntimeError):
    pass


class CrashAfter(TrainerCallback):
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == CRASH:
            raise Crash(f"killed after step {CRASH}")


def _dataset() -> Dataset:
    difficulties = [1, 2, 3] * 4
    prompts = [f"{d}:{'abcd'[i % 4]}?" for i, d in enumerate(difficulties)]
    return Dataset.from_dict({"prompt": prompts, "difficulty": difficulties})


def _trainer(
    zpd_url: str, out: Path, run_name: str, seen: list[list[int]], crash: bool = False
) -> ZPDGRPOTrainer:
    def reward(completions: list[str], difficulty: list[int], **kwargs: Any) -> list[float]:
        seen.append([int(r) for r in kwargs[ROW_COLUMN]])
        return [
            len(set(c)) / max(len(c), 1) if d == 1 else float("a" in c) if d == 2 else 0.0
            for c, d in zip(completions, difficulty, strict=True)
        ]

    tokenizer = tiny_tokenizer()
    args = GRPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, seed=0,
        per_device_train_batch_size=GENERATIONS * PROMPTS, num_generations=GENERATIONS,
        max_completion_length=6, max_steps=STEPS, learning_rate=1e-2, logging_steps=1,
        save_strategy="steps", save_steps=CHECKPOINT, report_to="none",
        dataloader_num_workers=0,
    )  # fmt: skip
    zpd = ZPDSettings(
        url=zpd_url, run_name=run_name, arm_fields=["difficulty"],
        strategy={"name": "sec", "alpha": 0.5, "tau": 0.5}, seed=4,
    )  # fmt: skip
    return ZPDGRPOTrainer(
        model=tiny_model(len(tokenizer)), reward_funcs=[reward], args=args,
        train_dataset=_dataset(), processing_class=tokenizer, zpd=zpd,
        callbacks=[CrashAfter()] if crash else None,
    )  # fmt: skip


def test_trl_resume_matches_an_uninterrupted_run(zpd_url: str, tmp_path: Path) -> None:
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    client = CurriculumClient(zpd_url)
    expected: list[list[int]] = []
    straight = _trainer(zpd_url, tmp_path / "straight", f"trl-straight-{tag}", expected)
    straight.train()

    seen: list[list[int]] = []
    first = _trainer(zpd_url, tmp_path / "resumed", f"trl-resumed-{tag}", seen, crash=True)
    with pytest.raises(Crash):
        first.train()
    run_id = first.curriculum.run_id
    crashed = client.get_run(run_id)
    # step 5 reported after the checkpoint, step 6's batch drawn ahead
    assert (crashed.step, crashed.samples) == (CRASH, CRASH + 1)
    checkpoint = tmp_path / "resumed" / f"checkpoint-{CHECKPOINT}"
    assert (checkpoint / ZPD_STATE).is_file()

    resumed = _trainer(zpd_url, tmp_path / "resumed", f"trl-resumed-{tag}", seen)
    assert resumed.curriculum.run_id == run_id  # same name: the same run
    resumed.train(resume_from_checkpoint=str(checkpoint))

    assert seen[:CHECKPOINT] + seen[CRASH:] == expected
    assert comparable_run(client, run_id) == comparable_run(client, straight.curriculum.run_id)
    (rewind,) = httpx.get(f"{zpd_url}/v1/runs/{run_id}/rewinds").json()["rewinds"]
    # report 5 set aside; sample 5 (step 5's, drawn ahead at the checkpoint) kept, 6 not
    assert (rewind["from_step"], rewind["to_step"], rewind["to_samples"]) == (5, 4, 5)
    assert [r["step"] for r in rewind["reports"]] == [5]
