"""Exact resume through the verl 0.7 sampler: a trainer restored from a data-loader
checkpoint at step N (after it had reported past N and crashed) ends like one that never
crashed. verl's real ``StatefulDataLoader`` checkpoint carries the sampler's state."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import require

require("torch")
require("verl.experimental.dataset.sampler")

from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from verl.trainer.main_ppo import create_rl_sampler  # noqa: E402
from verl.utils.dataset.rl_dataset import collate_fn  # noqa: E402

from tests.trainer_client.run_state import comparable_run  # noqa: E402
from tests.trainer_client.test_verl_adapter import _data_config, _rlhf_dataset  # noqa: E402
from tests.trainer_client.verl_toy import BATCH, endless, trained_batch, write_rows  # noqa: E402
from trainer_client import CurriculumClient  # noqa: E402

STEPS, CHECKPOINT = 7, 3  # 4 batches per epoch: the resumed run crosses an epoch


def _train(sampler: Any, batches: Iterator[dict[str, Any]], steps: int) -> list[list[int]]:
    """``steps`` verl steps: draw, train (advantages by hand), report; the rows drawn."""
    drawn = []
    for _ in range(steps):
        batch_dict = next(batches)
        drawn.append([int(info["index"]) for info in batch_dict["extra_info"]])
        sampler.update(trained_batch(batch_dict))
    return drawn


def test_verl_sampler_resume_matches_an_uninterrupted_run(tmp_path: Path, zpd_url: str) -> None:
    parquet = tmp_path / "train.parquet"
    write_rows(parquet)
    tag = uuid.uuid4().hex[:6]
    configs = {}
    for name in ("straight", "resumed"):
        configs[name] = _data_config(parquet, zpd_url)
        configs[name].sampler.zpd.run_name = f"verl-{name}-{tag}"
    dataset = _rlhf_dataset(parquet, configs["straight"])

    def loader_of(sampler: Any) -> StatefulDataLoader:
        return StatefulDataLoader(
            dataset, batch_size=BATCH, sampler=sampler, num_workers=0, collate_fn=collate_fn
        )

    straight = create_rl_sampler(configs["straight"], dataset)
    expected = _train(straight, endless(loader_of(straight)), STEPS)

    first = create_rl_sampler(configs["resumed"], dataset)
    loader = loader_of(first)
    batches = endless(loader)
    before = _train(first, batches, CHECKPOINT)
    checkpoint = copy.deepcopy(loader.state_dict())  # what verl saves in data.pt
    _train(first, batches, 2)  # reported after the checkpoint, then a crash ...
    next(batches)  # ... with the next batch drawn
    client = CurriculumClient(zpd_url)
    run_id = first.curriculum.run_id
    assert (client.get_run(run_id).step, client.get_run(run_id).samples) == (5, 6)

    restarted = create_rl_sampler(configs["resumed"], dataset)  # same name: the same run
    assert restarted.curriculum.run_id == run_id
    loader = loader_of(restarted)
    loader.load_state_dict(checkpoint)  # applied to the sampler when iteration starts
    after = _train(restarted, endless(loader), STEPS - CHECKPOINT)

    assert before + after == expected
    assert comparable_run(client, run_id) == comparable_run(client, straight.curriculum.run_id)
    assert restarted.state_dict()["step"] == STEPS
    (rewind,) = httpx.get(f"{zpd_url}/v1/runs/{run_id}/rewinds").json()["rewinds"]
    assert (rewind["from_step"], rewind["to_step"], len(rewind["sample_ids"])) == (5, 3, 3)
