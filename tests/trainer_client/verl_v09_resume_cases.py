"""Exact resume through the verl 0.9 adapter (``ZPDDataset``), in ``.venv-verl09``: verl's
``StatefulDataLoader`` checkpoint at step 3 carries the dataset's state; the trainer reports
two more steps, draws one more batch and dies; a restarted dataset loads the checkpoint and
the run ends like one that never crashed. Run by ``test_verl_v09_resume.py``."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from torchdata.stateful_dataloader import StatefulDataLoader
from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler
from verl.utils.dataset.rl_dataset import collate_fn

from tests.trainer_client.run_state import comparable_run
from tests.trainer_client.verl_toy import BATCH, chat_tokenizer, endless, trained_batch
from tests.trainer_client.verl_v09_cases import _datasets
from trainer_client import CurriculumClient

STEPS, CHECKPOINT = 7, 3  # 4 batches per epoch: the resumed run crosses an epoch


def _loader(dataset: Any, config: Any) -> StatefulDataLoader:
    return StatefulDataLoader(
        dataset, batch_size=BATCH, sampler=create_rl_sampler(config, dataset), num_workers=0,
        drop_last=True, collate_fn=collate_fn,
    )  # fmt: skip


def _train(dataset: Any, batches: Iterator[dict[str, Any]], steps: int) -> list[list[int]]:
    drawn = []
    for _ in range(steps):
        batch_dict = next(batches)
        drawn.append([int(info["index"]) for info in batch_dict["extra_info"]])
        dataset.on_batch_end(batch=trained_batch(batch_dict))
    return drawn


def test_verl09_resume_matches_an_uninterrupted_run(tmp_path: Path, zpd_url: str) -> None:
    (tmp_path / "straight").mkdir()
    (tmp_path / "resumed").mkdir()
    straight, _, straight_config = _datasets(tmp_path / "straight", zpd_url)
    expected = _train(straight, endless(_loader(straight, straight_config)), STEPS)

    first, _, config = _datasets(tmp_path / "resumed", zpd_url)
    loader = _loader(first, config)
    batches = endless(loader)
    before = _train(first, batches, CHECKPOINT)
    checkpoint = copy.deepcopy(loader.state_dict())  # what verl saves in data.pt
    _train(first, batches, 2)  # reported after the checkpoint, then a crash ...
    next(batches)  # ... with the next batch drawn
    client = CurriculumClient(zpd_url)
    run_id = first.curriculum.run_id
    assert (client.get_run(run_id).step, client.get_run(run_id).samples) == (5, 6)

    tokenizer = chat_tokenizer()
    restarted = create_rl_dataset(config.train_files, config, tokenizer, None)
    assert restarted.curriculum.run_id == run_id  # same name: the same run
    loader = _loader(restarted, config)
    loader.load_state_dict(checkpoint)
    after = _train(restarted, endless(loader), STEPS - CHECKPOINT)

    assert before + after == expected
    assert comparable_run(client, run_id) == comparable_run(client, straight.curriculum.run_id)
    (rewind,) = httpx.get(f"{zpd_url}/v1/runs/{run_id}/rewinds").json()["rewinds"]
    assert (rewind["from_step"], rewind["to_step"], len(rewind["sample_ids"])) == (5, 3, 3)
