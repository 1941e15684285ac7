"""docker-compose.yml is honest: each service's command and environment work as written.

No Docker engine runs here, so the test parses the compose file and runs the commands of
``migrate`` and ``api`` with their environment against the local PostgreSQL, with only
the host names rewritten (compose's ``postgres``/``redis`` become 127.0.0.1) and the
database pointed at a fresh throwaway one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def local_env(service: dict[str, Any], postgres_url: str, redis_url: str) -> dict[str, str]:
    env = {k: str(v) for k, v in service.get("environment", {}).items()}
    assert make_url(env["ZPD_DATABASE_URL"]).host == "postgres"
    env["ZPD_DATABASE_URL"] = postgres_url
    if "ZPD_REDIS_URL" in env:
        assert "//redis:" in env["ZPD_REDIS_URL"]
        env["ZPD_REDIS_URL"] = redis_url
    return env


def command_here(command: list[str]) -> list[str]:
    assert command[0] == "zpd"
    zpd = shutil.which("zpd", path=str(Path(sys.executable).parent))
    assert zpd, "the zpd entry point is installed beside this python"
    return [zpd, *command[1:]]


def test_compose_declares_the_stack() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api"} <= set(services)
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["environment"]["ZPD_AUTO_MIGRATE"] == "false"


@pytest.mark.postgres
def test_migrate_then_api_commands_work_as_written(postgres_url: str) -> None:
    services = compose()["services"]
    redis_url = os.environ.get("ZPD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    migrate = services["migrate"]
    result = subprocess.run(
        command_here(migrate["command"]),
        env={**os.environ, **local_env(migrate, postgres_url, redis_url)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    api = services["api"]
    command = command_here(api["command"])
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    process = subprocess.Popen(
        command,
        env={**os.environ, **local_env(api, postgres_url, redis_url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "api did not become ready"
            time.sleep(0.2)
        assert ready.json()["database"] == "postgresql"
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/runs", json={"name": "compose", "arms": [{"name": "a"}]}
        )
        assert created.status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_worker_command_is_a_valid_worker_configuration() -> None:
    """The GPU worker cannot run here; its command must still parse into a valid config."""
    from gpu_worker.config import config_from_args
    from service.cli import build_parser

    worker = compose()["services"]["worker"]
    assert worker["profiles"] == ["gpu"]
    assert worker["build"]["dockerfile"] == "Dockerfile.worker"
    assert (ROOT / "Dockerfile.worker").exists()
    command = worker["command"]
    assert command[:2] == ["zpd", "train"]
    args = build_parser().parse_args(command[1:])
    config = config_from_args(args)
    assert config.prompts_per_step == 256 and config.rollouts_per_prompt == 8
    assert config.lr == 1e-6 and config.alpha == 0.5 and config.tau == 1.0
    assert config.service_url == "http://api:8000"
