"""Fixtures of the trainer_client tests: a real ZPD service, in-process and over HTTP.

``zpd_url`` is a real uvicorn process serving ``service.api.app`` on a free port with its own
SQLite file (one per test session: every test makes its own runs). ``inprocess_client`` is
the same app behind FastAPI's ``TestClient``, with no network at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.conftest import LiveServer, free_port, fresh_postgres_database
from trainer_client import CurriculumClient, RetryPolicy

__all__ = ["REPO_ROOT", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def zpd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real ZPD service (uvicorn, SQLite file) shared by the session."""
    folder = tmp_path_factory.mktemp("zpd-service")
    server = LiveServer(f"sqlite:///{folder / 'zpd.db'}", workdir=REPO_ROOT).start(timeout=60)
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def module_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real ``zpd serve`` on ``request.param``'s database ("sqlite": a file; "postgres": a
    fresh database, dropped afterwards): for a module-scoped fixture shared by a module's
    tests (each makes its own runs), where a server per test would cost a minute."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('zpd-module') / 'zpd.db'}"
        else:
            admin_url = str(request.getfixturevalue("postgres_admin"))
            url = stack.enter_context(fresh_postgres_database(admin_url))
        server = LiveServer(url, workdir=REPO_ROOT).start(timeout=60)
        try:
            yield server
        finally:
            server.stop()


FAST_RETRY = RetryPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.05)


@pytest.fixture
def client(zpd_url: str) -> Iterator[CurriculumClient]:
    """A client of the real service, with short retry waits."""
    with CurriculumClient(zpd_url, retry=FAST_RETRY) as curriculum_client:
        yield curriculum_client


@pytest.fixture
def inprocess_client(tmp_path: Path) -> Iterator[CurriculumClient]:
    """A client of the service app run in-process through FastAPI's TestClient."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'zpd.db'}"))
    with TestClient(app) as http:
        yield CurriculumClient(http_client=http, retry=FAST_RETRY)
