"""Start a ZPD service on this machine: for demos, benchmarks and local experiments."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from trainer_client.client import CurriculumClient


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_service(
    database_url: str,
    env: dict[str, str] | None = None,
    output: IO[Any] | int = subprocess.DEVNULL,
    log_level: str = "warning",
    timeout: float = 60.0,
) -> Iterator[str]:
    """Run ``zpd serve`` (this Python's) on a free port; yield its URL once it is ready.

    Args:
        database_url: the service's ``ZPD_DATABASE_URL``.
        env: more environment variables for the service (e.g. ``ZPD_SQLITE_SYNCHRONOUS``).
        output: where its stdout and stderr go (default: discarded).
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port),
         "--log-level", log_level],
        env={**os.environ, "ZPD_DATABASE_URL": database_url, **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with CurriculumClient(url) as probe:
            probe.wait_until_ready(timeout=timeout)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
