"""The client raises :class:`StorageError` for the service's 500 ``storage_error`` and does
not retry it, even for an idempotent report.

The service is real (``create_app`` on a real PostgreSQL); the storage error is real too: a
trigger that makes PostgreSQL refuse every insert into ``reports``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.api import create_app
from service.settings import Settings
from trainer_client import (
    AsyncCurriculumClient,
    CurriculumClient,
    RetryPolicy,
    ServerError,
    StorageError,
)

pytestmark = pytest.mark.postgres

REFUSE_REPORTS = [
    "CREATE FUNCTION refuse_reports() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'reports are refused by this test'; END $$",
    "CREATE TRIGGER refuse BEFORE INSERT ON reports FOR EACH ROW EXECUTE FUNCTION refuse_reports()",
]


def refuse_reports(postgres_url: str) -> None:
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        for statement in REFUSE_REPORTS:
            conn.execute(text(statement))
    admin.dispose()


@pytest.fixture
def http(postgres_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=postgres_url))) as test_client:
        yield test_client


def test_storage_error_is_named_and_not_retried(http: TestClient, postgres_url: str) -> None:
    sent: list[httpx.Request] = []
    http.event_hooks["request"].append(sent.append)
    sleeps: list[float] = []
    client = CurriculumClient(
        http_client=http, retry=RetryPolicy(max_retries=4), sleep=sleeps.append
    )
    run = client.create_run("r", [{"name": "a", "size": 4}])
    batch = client.sample(run.run_id, 2)
    refuse_reports(postgres_url)
    sent.clear()
    results = [{"arm": item.arm, "index": item.index, "rewards": [1, 0]} for item in batch.items]
    with pytest.raises(StorageError) as caught:
        client.report(run.run_id, results, sample_id=batch.sample_id, report_id="step-1")
    error = caught.value
    assert isinstance(error, ServerError)  # still a 5xx for code that catches those
    assert (error.status, error.code) == (500, "storage_error")
    assert error.detail == {
        "error": "ProgrammingError",
        "driver_error": "RaiseException",
        "sqlstate": "P0001",
    }
    assert len(sent) == 1 and sleeps == []  # sent once: a storage error is not transient
    assert client.get_run(run.run_id).step == 0  # and nothing was applied


def test_the_async_client_does_not_retry_it_either(postgres_url: str) -> None:
    app = create_app(Settings(database_url=postgres_url))
    sent: list[httpx.Request] = []
    sleeps: list[float] = []

    async def record_request(request: httpx.Request) -> None:
        sent.append(request)

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> StorageError:
        transport = httpx.ASGITransport(app=app)
        hooks = {"request": [record_request]}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://zpd", event_hooks=hooks
        ) as http:
            client = AsyncCurriculumClient(
                http_client=http, retry=RetryPolicy(max_retries=4), sleep=record_sleep
            )
            run = await client.create_run("r", [{"name": "a", "size": 4}])
            refuse_reports(postgres_url)
            sent.clear()
            with pytest.raises(StorageError) as caught:
                await client.report(run.run_id, [{"arm": "a", "index": 0, "rewards": [1, 0]}])
            return caught.value

    error = asyncio.run(main())
    assert (error.status, error.code) == (500, "storage_error")
    assert len(sent) == 1 and sleeps == []
