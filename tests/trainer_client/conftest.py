"""Fixtures of the trainer_client tests: a real ZPD service, in-process and over HTTP.

``zpd_url`` is a real uvicorn process serving ``service.api.app`` on a free port with its own
SQLite file (one per test session: every test makes its own runs). ``inprocess_client`` is
the same app behind FastAPI's ``TestClient``, with no network at all.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from trainer_client import CurriculumClient, RetryPolicy

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int) -> list[str]:
    """``zpd serve`` when the CLI exists, else uvicorn on the app factory (the same app)."""
    if importlib.util.find_spec("service.cli") is not None:
        return [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    return [
        sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


class ServiceProcess:
    """A real ZPD service in a subprocess; ``url`` once :meth:`start` returned."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "ZPD_DATABASE_URL": database_url}
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen(
                serve_command(self.port), env=self._env, cwd=REPO_ROOT, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"service exited with {self.process.returncode}:\n"
                    + self._log_path.read_text(errors="replace")
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"service not ready within {timeout}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def zpd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real ZPD service (uvicorn, SQLite file) shared by the session."""
    folder = tmp_path_factory.mktemp("zpd-service")
    server = ServiceProcess(f"sqlite:///{folder / 'zpd.db'}", folder / "service.log").start()
    try:
        yield server.url
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
