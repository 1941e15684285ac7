"""The app's injectable clock: rate-limit windows follow it, and a ManualClock only moves
when told to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.domain.clock import SYSTEM_CLOCK, ManualClock
from service.settings import Settings

# 2026-01-01T00:00:00Z is 1,767,225,600 s after the epoch, a whole number of minutes
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'zpd.db'}", rate_limit_per_minute=2)
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


def test_rate_limit_windows_follow_the_app_clock(client: TestClient, clock: ManualClock) -> None:
    clock.advance(30)  # half-way through a one-minute window
    assert [client.get("/v1/runs").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/v1/runs")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "30"  # 60 s window - 30 s gone
    clock.advance(29)
    assert client.get("/v1/runs").headers["Retry-After"] == "1"
    clock.advance(1)  # the next window: the key may call again
    assert client.get("/v1/runs").status_code == 200


def test_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == START and clock.now().utcoffset() == timedelta(0)
    assert clock.time() == 1_767_225_600.0
    assert clock.now() == START  # reading does not move it
    clock.advance(0.25)
    assert clock.time() == 1_767_225_600.25
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone"):
        ManualClock(datetime(2026, 1, 1))


def test_the_production_clock_is_the_wall_clock(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'zpd.db'}"))
    assert app.state.clock is SYSTEM_CLOCK
    before = datetime.now(UTC)
    reading = SYSTEM_CLOCK.now()
    assert before <= reading <= datetime.now(UTC) and reading.tzinfo is not None
    assert abs(SYSTEM_CLOCK.time() - reading.timestamp()) < 60
