"""Sample leases: a batch not reported in time is noticed and counted, not silently lost.

The app runs on a :class:`~service.domain.clock.ManualClock`: time moves when the test
says so, so a lease is checked exactly at its end and just past it, without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.domain.clock import ManualClock
from service.settings import Settings

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def client(database_url: str, clock: ManualClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url), clock=clock)
    with TestClient(app) as test_client:
        yield test_client


def leases(client: TestClient, rid: str) -> tuple[int, int]:
    run = client.get(f"/v1/runs/{rid}").json()
    return run["samples_pending"], run["samples_expired"]


def test_unreported_samples_expire_after_their_lease(
    client: TestClient, clock: ManualClock
) -> None:
    created = client.post("/v1/runs", json={"name": "r", "arms": [{"name": "a", "size": 9}]})
    assert created.json()["created_at"] == "2026-01-01T00:00:00Z"
    rid = created.json()["run_id"]
    reported = client.post(
        f"/v1/runs/{rid}/sample", json={"batch_size": 2, "lease_seconds": 1}
    ).json()
    crashed = client.post(
        f"/v1/runs/{rid}/sample", json={"batch_size": 2, "lease_seconds": 1}
    ).json()
    long = client.post(
        f"/v1/runs/{rid}/sample", json={"batch_size": 2, "lease_seconds": 3600}
    ).json()
    assert leases(client, rid) == (3, 0)
    results = [{**item, "rewards": [1, 0]} for item in reported["items"]]
    client.post(
        f"/v1/runs/{rid}/report", json={"sample_id": reported["sample_id"], "results": results}
    )
    assert leases(client, rid) == (2, 0)
    clock.advance(1.0)
    # at the very end of its lease a batch is still pending
    assert leases(client, rid) == (2, 0)
    clock.advance(0.001)
    # the crashed worker's batch is now counted as expired, the long lease still pending
    assert leases(client, rid) == (1, 1)
    assert crashed["sample_id"] != long["sample_id"]
    # a write marks it for good; counting stays the same (never twice)
    client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 1})
    assert leases(client, rid) == (2, 1)
    assert client.get(f"/v1/runs/{rid}").json()["updated_at"] == "2026-01-01T00:00:01.001000Z"
    listed = client.get("/v1/runs").json()["runs"][0]
    assert (listed["samples_pending"], listed["samples_expired"]) == (2, 1)
    # a late report of the expired batch is still accepted as a training step
    late = [{**item, "rewards": [0, 1]} for item in crashed["items"]]
    answer = client.post(
        f"/v1/runs/{rid}/report", json={"sample_id": crashed["sample_id"], "results": late}
    )
    assert answer.status_code == 200
    assert leases(client, rid) == (2, 1)


def test_lease_seconds_is_validated(client: TestClient) -> None:
    rid = client.post("/v1/runs", json={"name": "r", "arms": [{"name": "a"}]}).json()["run_id"]
    response = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 1, "lease_seconds": 0})
    assert response.status_code == 422 and "lease_seconds" in response.json()["error"]["message"]


def test_many_samples_in_one_call_expire_overdue_leases_once(
    client: TestClient, clock: ManualClock
) -> None:
    rid = client.post("/v1/runs", json={"name": "m", "arms": [{"name": "a", "size": 9}]}).json()[
        "run_id"
    ]
    first = client.post(
        f"/v1/runs/{rid}/samples", json={"sample_ids": ["w0", "w1"], "lease_seconds": 1}
    )
    assert first.status_code == 200, first.text
    assert leases(client, rid) == (2, 0)
    clock.advance(2.0)
    # a retried id (answered from storage) then two new ones: both old leases expire, once
    again = client.post(
        f"/v1/runs/{rid}/samples", json={"sample_ids": ["w0", "w2", "w3"], "lease_seconds": 60}
    )
    assert again.status_code == 200, again.text
    assert leases(client, rid) == (2, 2)
