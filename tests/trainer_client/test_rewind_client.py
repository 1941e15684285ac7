"""``rewind`` through the sync and async clients against a real ``zpd serve``."""

from __future__ import annotations

import asyncio

import pytest

from trainer_client import (
    AsyncCurriculumClient,
    ConflictError,
    CurriculumClient,
    InvalidRequestError,
    NotFoundError,
)
from trainer_client.models import RewindResult


def _steps(client: CurriculumClient, run_id: str, steps: range) -> list[list[tuple[str, int]]]:
    drawn = []
    for step in steps:
        batch = client.sample(run_id, 3, sample_id=f"s{step}")
        drawn.append([(item.arm, item.index or 0) for item in batch.items])
        results = [
            {"arm": item.arm, "index": item.index, "rewards": [float(step % 2), 1.0]}
            for item in batch.items
        ]
        client.report(run_id, results, sample_id=batch.sample_id, report_id=f"r{step}")
    return drawn


def test_sync_rewind_resumes_like_an_uninterrupted_run(client: CurriculumClient) -> None:
    arms = [{"name": "a", "size": 10}, {"name": "b", "size": 10}]
    straight = client.create_run("straight", arms, "sec", seed=4)
    resumed = client.create_run("resumed", arms, "sec", seed=4)
    expected = _steps(client, straight.run_id, range(6))
    first = _steps(client, resumed.run_id, range(4))
    answer = client.rewind(resumed.run_id, 2)
    assert isinstance(answer, RewindResult)
    assert (answer.step, answer.samples, answer.reports_set_aside) == (2, 2, 2)
    assert client.rewind(resumed.run_id, 2).rewind_id is None  # again: nothing left
    assert first[:2] + _steps(client, resumed.run_id, range(2, 6)) == expected
    a, b = client.get_run(straight.run_id), client.get_run(resumed.run_id)
    assert [(x.q, x.times_sampled) for x in a.arms] == [(x.q, x.times_sampled) for x in b.arms]


def test_sync_rewind_errors_are_typed(client: CurriculumClient) -> None:
    run = client.create_run("errors", ["a"], "sec", seed=1)
    with pytest.raises(InvalidRequestError, match="step 3"):
        client.rewind(run.run_id, 3)
    with pytest.raises(InvalidRequestError):
        client.rewind(run.run_id, -1)
    with pytest.raises(InvalidRequestError, match="has drawn 0"):
        client.rewind(run.run_id, 0, samples=1)
    with pytest.raises(NotFoundError):
        client.rewind("no-such-run", 0)
    auto = client.create_run("auto", None, "sec", seed=1, auto_arms={"size": 6})
    client.sample(auto.run_id, 2)
    with pytest.raises(ConflictError, match="automatic arms"):
        client.rewind(auto.run_id, 0)


def test_async_rewind(zpd_url: str, client: CurriculumClient) -> None:
    run = client.create_run("async-rewind", [{"name": "a", "size": 5}], "sec", seed=2)
    _steps(client, run.run_id, range(3))

    async def go() -> RewindResult:
        async with AsyncCurriculumClient(zpd_url) as aclient:
            with pytest.raises(InvalidRequestError):
                await aclient.rewind(run.run_id, 9)
            return await aclient.rewind(run.run_id, 1)

    answer = asyncio.run(go())
    assert (answer.from_step, answer.step, answer.samples_set_aside) == (3, 1, 2)
    assert client.get_run(run.run_id).step == 1
