"""verl's real classes (RLHFDataset, create_rl_sampler, DataProto, GRPO advantages) driving
the ZPD sampler against a real service. verl 0.7.1 is the newest release with the
curriculum-sampler hook; the test skips where verl is not installed."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

torch = require("torch")
require("verl.experimental.dataset.sampler")
torch.set_num_threads(1)

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from verl.experimental.dataset.sampler import AbstractCurriculumSampler  # noqa: E402
from verl.trainer.main_ppo import create_rl_sampler  # noqa: E402
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn  # noqa: E402

from tests.trainer_client.verl_toy import (  # noqa: E402
    BATCH,
    SIGNAL,
    chat_tokenizer,
    trained_batch,
    write_rows,
)
from trainer_client import CurriculumClient  # noqa: E402
from trainer_client.adapters.verl import ZPDCurriculumSampler  # noqa: E402


def _data_config(parquet: Path, zpd_url: str) -> Any:
    return OmegaConf.create(
        {
            "train_files": str(parquet), "prompt_key": "prompt", "max_prompt_length": 32,
            "filter_overlong_prompts": False, "truncation": "error", "shuffle": False,
            "train_batch_size": BATCH, "dataloader_num_workers": 0,
            "sampler": {
                "class_path": "pkg://trainer_client.adapters.verl",
                "class_name": "ZPDCurriculumSampler",
                "zpd": {
                    "url": zpd_url, "run_name": f"verl-e2e-{os.getpid()}-{uuid.uuid4().hex[:6]}",
                    "arm_fields": ["extra_info.task", "extra_info.difficulty"],
                    "strategy": {"name": "sec", "alpha": 0.5, "tau": 0.5}, "seed": 1,
                },
            },
        }
    )  # fmt: skip


def _rlhf_dataset(parquet: Path, config: Any) -> RLHFDataset:
    return RLHFDataset(data_files=[str(parquet)], tokenizer=chat_tokenizer(), config=config)


def _dataset(tmp_path: Path, zpd_url: str) -> tuple[RLHFDataset, Any]:
    parquet = tmp_path / "train.parquet"
    write_rows(parquet)
    config = _data_config(parquet, zpd_url)
    return _rlhf_dataset(parquet, config), config


def test_verl_sampler_end_to_end(tmp_path: Path, zpd_url: str) -> None:
    dataset, config = _dataset(tmp_path, zpd_url)
    sampler = create_rl_sampler(config, dataset)  # verl's own factory reads data.sampler.*
    assert isinstance(sampler, ZPDCurriculumSampler)
    assert isinstance(sampler, AbstractCurriculumSampler)
    assert len(sampler) == 16
    loader = StatefulDataLoader(
        dataset, batch_size=BATCH, sampler=sampler, num_workers=0, drop_last=True,
        collate_fn=collate_fn,
    )  # fmt: skip
    client = CurriculumClient(zpd_url)
    run_id = sampler.curriculum.run_id
    q = dict.fromkeys(SIGNAL, 0.0)
    for step, batch_dict in enumerate(loader):
        if step == 3:
            break
        # Lazy draws: the service saw exactly one sample per batch handed out so far.
        assert client.get_run(run_id).samples == step + 1
        batch = trained_batch(batch_dict)
        sampler.update(batch)
        report = sampler.reports[-1]
        drawn = {
            f"task={info['task']},difficulty={info['difficulty']}"
            for info in batch.non_tensor_batch["extra_info"]
        }
        assert report.arm_rewards == pytest.approx({a: SIGNAL[a] for a in drawn}, rel=1e-6)
        for arm in drawn:  # TD(0) replayed by hand, alpha 0.5, present arms only
            q[arm] = 0.5 * SIGNAL[arm] + 0.5 * q[arm]
        assert report.q == pytest.approx(q, rel=1e-6, abs=1e-9)
    run = client.get_run(run_id)
    assert run.step == 3 and [a.name for a in run.arms] == list(SIGNAL)
    assert [a.size for a in run.arms] == [4, 4, 4, 4]
    assert [a.tags for a in run.arms][2] == {"task": "b", "difficulty": 1}
    assert sum(a.times_reported for a in run.arms) > 0


def test_update_after_reorder_and_filtering(tmp_path: Path, zpd_url: str) -> None:
    dataset, config = _dataset(tmp_path, zpd_url)
    sampler = create_rl_sampler(config, dataset)
    loader = iter(
        StatefulDataLoader(dataset, batch_size=BATCH, sampler=sampler, collate_fn=collate_fn)
    )
    client = CurriculumClient(zpd_url)
    # verl's balance_batch reorders rollouts: the sample is still reported, as one step.
    batch = trained_batch(next(loader))
    batch.reorder(torch.tensor(np.random.default_rng(0).permutation(len(batch))))
    sampler.update(batch)
    # Dynamic sampling drops prompts: what is left is still reported by arm.
    batch = trained_batch(next(loader))
    keep = batch.non_tensor_batch["uid"] != batch.non_tensor_batch["uid"][0]
    sampler.update(batch[np.nonzero(keep)[0]])
    history = client.history(sampler.curriculum.run_id)
    assert [p.step for p in history.points] == [1, 2]
    assert sum(history.points[0].counts.values()) == BATCH
    assert sum(history.points[1].counts.values()) == BATCH - 1


def test_resume_from_a_dataloader_checkpoint(tmp_path: Path, zpd_url: str) -> None:
    dataset, config = _dataset(tmp_path, zpd_url)
    sampler = create_rl_sampler(config, dataset)
    loader = StatefulDataLoader(dataset, batch_size=BATCH, sampler=sampler, collate_fn=collate_fn)
    it = iter(loader)
    for _ in range(2):
        sampler.update(trained_batch(next(it)))
    checkpoint = loader.state_dict()
    client = CurriculumClient(zpd_url)
    run_id = sampler.curriculum.run_id
    assert client.get_run(run_id).samples == 2

    # A restarted trainer: same config, so the same run is continued (same name and arms).
    restarted = create_rl_sampler(config, dataset)
    assert restarted.curriculum.run_id == run_id
    loader = StatefulDataLoader(dataset, batch_size=BATCH, sampler=restarted, collate_fn=collate_fn)
    loader.load_state_dict(checkpoint)
    remaining = list(loader)
    assert len(remaining) == 16 // BATCH - 2
    assert client.get_run(run_id).samples == 4  # the two skipped batches were not re-drawn
    assert len(list(loader)) == 16 // BATCH  # the next epoch is whole again
