"""Fixtures of the dashboard tests: a live server with seeded runs, Chromium, Redis.

The browser tests drive Debian's ``chromium`` through Playwright's Python package (no
browser download: ``executable_path``). Outside CI they skip when either is missing; with
``CI=true`` they fail and say what to install, so CI can never silently skip them.
"""

from __future__ import annotations

import os
import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from service.db.models import Report, Run
from tests.conftest import IN_CI, LiveServer

CHROMIUM = os.environ.get("ZPD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REDIS_URL = os.environ.get("ZPD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _missing(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{message} (CI must run the browser tests)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's) driven by Playwright, shared by one module's tests.

    Module scope, not session: Playwright's sync API keeps an event loop current while it
    runs, and later tests calling ``asyncio.run`` must not find it.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: .venv/bin/pip install playwright")
    executable = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if executable is None:
        _missing(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or ZPD_TEST_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A real ``zpd serve`` on a SQLite file."""
    live = LiveServer(sqlite_url, workdir=tmp_path).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis server (skips outside CI when it is down, fails in CI)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI must run the Redis tests)")
        pytest.skip(message)
    return REDIS_URL


# ------------------------------------------------------------------ seeding through the API


def difficulty_arms(count: int) -> list[dict[str, Any]]:
    """Arms ``d1`` .. ``d<count>`` with a numeric ``difficulty`` tag (1 = easiest)."""
    return [
        {"name": f"d{d}", "size": 50, "tags": {"task": "toy", "difficulty": d}}
        for d in range(1, count + 1)
    ]


def create_run(client: httpx.Client, name: str, arms: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"name": name, "arms": arms, "strategy": {"name": "sec", "alpha": 0.5, "tau": 0.5}}
    response = client.post("/v1/runs", json=body, params={})
    response.raise_for_status()
    return dict(response.json())


def train_step(
    client: httpx.Client, run_id: str, rng: random.Random, batch: int = 8
) -> dict[str, Any]:
    """One sample + report: pass rate falls with the arm's difficulty (8 rollouts each)."""
    sample = client.post(f"/v1/runs/{run_id}/sample", json={"batch_size": batch})
    sample.raise_for_status()
    results = []
    for item in sample.json()["items"]:
        pass_rate = 1.0 - int(item["arm"][1:]) / 6
        rewards = [1.0 if rng.random() < pass_rate else 0.0 for _ in range(8)]
        results.append({"arm": item["arm"], "index": item["index"], "rewards": rewards})
    body = {"sample_id": sample.json()["sample_id"], "results": results}
    report = client.post(f"/v1/runs/{run_id}/report", json=body)
    report.raise_for_status()
    return dict(report.json())


# ------------------------------------------------------------------ a long run, in bulk


def synthetic_q(step: int, arm: int) -> float:
    """The value stored for ``arm`` at ``step`` in :func:`insert_long_run` (checked by tests)."""
    return round((step * 7 + arm * 13) % 1000 / 1000, 6)


def insert_long_run(database_url: str, run_id: str, steps: int, arms: int) -> None:
    """Append ``steps`` synthetic reports to an existing run, straight into its tables.

    Going through /report would take about a minute for 10,000 steps here; the history
    endpoint reads only these rows and the run's step, so they are written directly. Each
    value is a formula of (step, arm), so a test can check any point it gets back.
    """
    start = datetime(2026, 1, 1, tzinfo=UTC)
    probability = round(1 / arms, 6)
    rows = [
        {
            "run_id": run_id,
            "report_id": f"r{step}",
            "sample_id": None,
            "seq": step,
            "body_hash": "0" * 64,
            "results": [],
            "rewards": [synthetic_q(step, a) if (step + a) % 3 == 0 else None for a in range(arms)],
            "counts": [1 if (step + a) % 3 == 0 else 0 for a in range(arms)],
            "outcomes": [0.5 if (step + a) % 3 == 0 else None for a in range(arms)],
            "q": [synthetic_q(step, a) for a in range(arms)],
            "probabilities": [probability] * arms,
            "created_at": start + timedelta(seconds=step),
        }
        for step in range(1, steps + 1)
    ]
    engine = create_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(Report.__table__.insert(), rows)
            session.execute(update(Run).where(Run.id == run_id).values(step=steps))
    finally:
        engine.dispose()


def unique_prefix() -> str:
    return f"zpd-test-{uuid.uuid4().hex[:8]}:"
