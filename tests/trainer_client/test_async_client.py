"""The async client against the real service over HTTP (uvicorn) and in-process (ASGI)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.trainer_client.conftest import free_port
from trainer_client import (
    AsyncCurriculumClient,
    ConflictError,
    ConnectionFailedError,
    NotFoundError,
    RetryPolicy,
    UnavailableError,
)

FAST = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.02)


async def _exercise(client: AsyncCurriculumClient) -> None:
    await client.wait_until_ready(timeout=10)
    assert (await client.healthz())["status"] == "ok"
    run = await client.create_run("async", [{"name": "a", "size": 2}, "b"], {"name": "sec"}, 9)
    assert (await client.get_run(run.run_id)).seed == 9
    assert run.run_id in {r.run_id for r in await client.list_runs()}
    samples = await asyncio.gather(*(client.sample(run.run_id, 4) for _ in range(3)))
    assert len({s.sample_id for s in samples}) == 3
    report = await client.report(
        run.run_id, [{"arm": "a", "rewards": [1.0, 0.0, 0.0, 0.0]}], report_id="r-async"
    )
    assert report.q["a"] == pytest.approx(0.5 * 0.375 / (0.5 + 1e-6), rel=1e-12)
    assert report.q["b"] == 0.0
    again = await client.report(
        run.run_id, [{"arm": "a", "rewards": [1.0, 0.0, 0.0, 0.0]}], report_id="r-async"
    )
    assert again == report
    with pytest.raises(ConflictError):
        await client.report(run.run_id, [{"arm": "b", "rewards": [1.0]}], report_id="r-async")
    with pytest.raises(NotFoundError):
        await client.history("missing")
    history = await client.history(run.run_id)
    assert history.total_steps >= 1 and [p.step for p in history.points] == [1]


def test_async_client_over_http(zpd_url: str) -> None:
    async def main() -> None:
        async with AsyncCurriculumClient(zpd_url, retry=FAST) as client:
            await _exercise(client)

    asyncio.run(main())


def test_async_client_in_process(tmp_path: Path) -> None:
    from service.api.app import create_app
    from service.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'zpd.db'}"))

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://zpd") as http:
            await _exercise(AsyncCurriculumClient(http_client=http, retry=FAST))

    asyncio.run(main())


def test_async_dead_port() -> None:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> None:
        url = f"http://127.0.0.1:{free_port()}"
        async with AsyncCurriculumClient(url, retry=FAST, sleep=record) as client:
            with pytest.raises(ConnectionFailedError):
                await client.get_run("x")
            assert len(sleeps) == 2
            with pytest.raises(UnavailableError):
                await client.wait_until_ready(timeout=0.3, interval=0.05)

    asyncio.run(main())
