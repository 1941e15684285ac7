"""The dashboard reads leases with the app's clock, like ``GET /v1/runs`` does.

The app runs on a :class:`~service.domain.clock.ManualClock` set to 2026-01-01, long before
the wall clock: a dashboard that read the wall clock would count every lease as expired at
once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'zpd.db'}")
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


def dashboard_leases(client: TestClient) -> tuple[int, int]:
    (run,) = client.get("/dashboard/api/runs").json()["runs"]
    return run["samples_pending"], run["samples_expired"]


def test_the_dashboard_run_list_counts_leases_with_the_app_clock(
    client: TestClient, clock: ManualClock
) -> None:
    rid = client.post("/v1/runs", json={"name": "r", "arms": [{"name": "a", "size": 9}]}).json()[
        "run_id"
    ]
    client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 1, "lease_seconds": 10})
    assert dashboard_leases(client) == (1, 0)
    clock.advance(10)  # the lease's last instant: still pending
    assert dashboard_leases(client) == (1, 0)
    clock.advance(0.001)
    assert dashboard_leases(client) == (0, 1)
