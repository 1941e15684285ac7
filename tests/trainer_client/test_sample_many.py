"""``sample_many`` (``POST /v1/runs/{id}/samples``) against a real ``zpd serve``.

The reference is the service's own single-sample path: k calls of ``sample(run, 1)`` on a
twin run (same arms, strategy and seed) must give exactly the samples that one
``sample_many(run, k)`` gives, before and after a report moves the strategy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.trainer_client.conftest import FAST_RETRY, REPO_ROOT
from trainer_client import AsyncCurriculumClient, CurriculumClient
from trainer_client.errors import InvalidRequestError
from trainer_client.models import Sample

ARMS = [{"name": "easy", "size": 50}, {"name": "medium", "size": 30}, {"name": "hard", "size": 7}]


def drawn(sample: Sample) -> tuple[Any, ...]:
    """What a sample handed out (its id aside)."""
    return (
        sample.step,
        sample.probabilities,
        [(item.arm, item.index, item.predicted_pass_rate) for item in sample.items],
    )


def report_all(client: CurriculumClient, run_id: str, samples: list[Sample]) -> None:
    for n, sample in enumerate(samples):
        item = sample.items[0]
        rewards = [1.0, 0.0, float(n % 2), 1.0]  # a mix, so the arms' values move
        client.report(run_id, [{"arm": item.arm, "index": item.index, "rewards": rewards}])


@pytest.mark.parametrize("problems", [None, {"selection": "frontier"}], ids=["arms", "frontier"])
def test_sample_many_equals_consecutive_samples(
    client: CurriculumClient, problems: dict[str, Any] | None
) -> None:
    many = client.create_run("many", ARMS, {"name": "sec"}, seed=11, problems=problems)
    single = client.create_run("single", ARMS, {"name": "sec"}, seed=11, problems=problems)
    for k in (5, 3):  # a second round after the reports have moved the strategy
        batch = client.sample_many(many.run_id, k, lease_seconds=600)
        one_by_one = [client.sample(single.run_id, 1, lease_seconds=600) for _ in range(k)]
        assert [drawn(s) for s in batch] == [drawn(s) for s in one_by_one]
        assert len({s.sample_id for s in batch}) == k
        assert all(len(s.items) == 1 for s in batch)
        report_all(client, many.run_id, batch)
        report_all(client, single.run_id, one_by_one)
    stored_many, stored_single = client.get_run(many.run_id), client.get_run(single.run_id)
    assert (stored_many.samples, stored_many.step) == (8, 8)
    assert [a.times_sampled for a in stored_many.arms] == [
        a.times_sampled for a in stored_single.arms
    ]
    assert [a.q for a in stored_many.arms] == [a.q for a in stored_single.arms]


def test_sample_many_is_idempotent_per_id(client: CurriculumClient) -> None:
    run = client.create_run("retry", ARMS, {"name": "sec"}, seed=3)
    ids = ["w-0", "w-1", "w-2"]
    first = client.sample_many(run.run_id, 3, sample_ids=ids)
    assert [s.sample_id for s in first] == ids
    again = client.sample_many(run.run_id, 3, sample_ids=ids)
    assert [drawn(s) for s in again] == [drawn(s) for s in first]
    assert client.get_run(run.run_id).samples == 3  # the retry drew nothing new
    # a known id and a new one: the known one answers its stored sample, the new one draws
    mixed = client.sample_many(run.run_id, 2, sample_ids=["w-1", "w-3"])
    assert drawn(mixed[0]) == drawn(first[1])
    assert client.get_run(run.run_id).samples == 4
    # each sample is reported on its own, by its own id
    item = first[0].items[0]
    client.report(run.run_id, [{"arm": item.arm, "rewards": [1.0, 0.0]}], sample_id="w-0")
    assert client.get_run(run.run_id).samples_pending == 3


@pytest.fixture(scope="module")
def small_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real service that draws at most 4 problems per call."""
    folder: Path = tmp_path_factory.mktemp("zpd-small")
    server = LiveServer(
        f"sqlite:///{folder / 'zpd.db'}", env={"ZPD_MAX_BATCH_SIZE": "4"}, workdir=REPO_ROOT
    ).start(timeout=60)
    try:
        yield server.url
    finally:
        server.stop()


def test_sample_many_over_the_limit_is_refused_and_changes_nothing(small_service: str) -> None:
    with CurriculumClient(small_service, retry=FAST_RETRY) as client:
        run = client.create_run("limit", ARMS, {"name": "sec"}, seed=5)
        with pytest.raises(InvalidRequestError):
            client.sample_many(run.run_id, 5)
        with pytest.raises(InvalidRequestError):
            client.sample_many(run.run_id, 2, sample_ids=["bad id with spaces", "ok"])
        assert client.get_run(run.run_id).samples == 0
        assert len(client.sample_many(run.run_id, 4)) == 4
        assert client.get_run(run.run_id).samples == 4


def test_async_sample_many_draws_what_the_sync_call_draws(
    client: CurriculumClient, zpd_url: str
) -> None:
    sync_run = client.create_run("sync", ARMS, {"name": "sec"}, seed=21)
    async_run = client.create_run("async", ARMS, {"name": "sec"}, seed=21)

    async def draw() -> list[Sample]:
        async with AsyncCurriculumClient(zpd_url, retry=FAST_RETRY) as aclient:
            return await aclient.sample_many(async_run.run_id, 4, lease_seconds=600)

    batch = asyncio.run(draw())
    assert [drawn(s) for s in batch] == [
        drawn(s) for s in client.sample_many(sync_run.run_id, 4, lease_seconds=600)
    ]
    assert len({s.sample_id for s in batch}) == 4
