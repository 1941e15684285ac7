"""docker-compose.yml is honest: each service's command and environment work as written.

No Docker engine runs here, so the test parses the compose file and runs the commands of
``migrate`` and ``api`` with their environment against the local PostgreSQL and Redis, with
only the host names rewritten (compose's ``postgres``/``redis`` become 127.0.0.1) and the
database pointed at a fresh throwaway one. The ``lb`` service runs as the real ``nginx``
binary on the repository's ``deploy/nginx.conf`` in front of two real ``zpd serve``
replicas; only the config's upstream server line (compose's ``api`` becomes the two local
ports) and its listen port are rewritten (:func:`nginx_config_here`).

nginx comes from Debian (``apt-get install -y nginx``; ``.ci/run`` installs it, and
``ZPD_TEST_NGINX`` names another binary). Outside CI the load balancer tests skip without
it; with ``CI=true`` they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import IN_CI, free_port
from tests.service.dashboard.test_events import read_events

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
REDIS_URL = os.environ.get("ZPD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NGINX_DEFAULT_BODY_LIMIT = 1024 * 1024  # client_max_body_size when a config sets none


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


def run_migrate(postgres_url: str) -> None:
    migrate = compose()["services"]["migrate"]
    result = subprocess.run(
        command_here(migrate["command"]),
        env={**os.environ, **local_env(migrate, postgres_url, REDIS_URL)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@contextmanager
def api_replica(postgres_url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The compose ``api`` command with its environment on a free loopback port, its output
    (JSON log lines, one per request with its request id) in ``log``; stopped on exit."""
    api = compose()["services"]["api"]
    command = command_here(api["command"])
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **local_env(api, postgres_url, REDIS_URL)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "api did not become ready"
            time.sleep(0.2)
        yield process, port
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request_ids_served(log: Path) -> set[str]:
    """The request ids of the access lines a replica wrote (its ``zpd.access`` JSON lines)."""
    ids = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "zpd.access":
                ids.add(entry["request_id"])
    return ids


def wait_for_ids(logs: list[Path], ids: set[str]) -> list[set[str]]:
    """Each log's served ids, once all of ``ids`` were written (log lines come from a thread)."""
    deadline = time.monotonic() + 10
    while True:
        served = [request_ids_served(log) for log in logs]
        if ids <= set().union(*served) or time.monotonic() > deadline:
            return served
        time.sleep(0.1)


# ------------------------------------------------------------------------------- nginx


def nginx_binary() -> str:
    """The nginx to run: ``ZPD_TEST_NGINX``, else ``nginx`` on PATH or in /usr/sbin.

    Missing, it skips the caller, or fails it under ``CI=true`` (CI must run these tests)."""
    named = os.environ.get("ZPD_TEST_NGINX", "nginx")
    found = shutil.which(named) or shutil.which(named, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        message = f"no nginx binary ({named}): apt-get install -y nginx (or set ZPD_TEST_NGINX)"
        if IN_CI:
            pytest.fail(f"{message}; CI must run the load balancer tests", pytrace=False)
        pytest.skip(message)
    return found


def nginx_config_here(config: str, replica_ports: list[int], listen_port: int) -> str:
    """``deploy/nginx.conf`` as it runs here: the compose service ``api`` becomes the local
    replicas and nginx listens on a free loopback port; every other line stays as written.

    The replicas are loopback addresses, so they need no ``resolve`` (nor the nginx 1.27.3
    that supports it in upstream blocks; Debian 12 ships 1.22)."""
    server = re.compile(r"^(\s*)server api:8000 resolve;$", re.MULTILINE)
    listen = re.compile(r"^(\s*)listen 8000;$", re.MULTILINE)
    assert len(server.findall(config)) == 1 and len(listen.findall(config)) == 1
    config = server.sub(
        lambda m: "\n".join(f"{m.group(1)}server 127.0.0.1:{port};" for port in replica_ports),
        config,
    )
    return listen.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{listen_port};", config)


def nginx_main_config(workdir: Path, site: Path) -> str:
    """What the nginx image's own /etc/nginx/nginx.conf gives: an http {} block including the
    site file; here with the pid, logs and temporary files under ``workdir`` (any user)."""
    temp = {name: workdir / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    # nginx started by root runs its workers as nobody, who could not enter pytest's folders
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
        + f"    include {site};\n"
        "}\n"
    )


@contextmanager
def nginx_lb(workdir: Path, replica_ports: list[int]) -> Iterator[tuple[str, Path]]:
    """The real nginx on the rendered ``deploy/nginx.conf``; yields (its URL, its access log)."""
    binary = nginx_binary()
    workdir.mkdir()
    port = free_port()
    site = workdir / "zpd.conf"
    site.write_text(nginx_config_here(NGINX_CONF.read_text(), replica_ports, port))
    main = workdir / "nginx.conf"
    main.write_text(nginx_main_config(workdir, site))
    access_log = workdir / "access.log"  # the site logs to /dev/stdout, as in the image
    with access_log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(workdir), "-e", "stderr", "-c", str(main)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, access_log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", access_log
    finally:
        stop(process)


class ReplicaThatDropsRequests:
    """A stand-in for a replica that dies while handling a request (no real one can be
    killed at that exact moment): it reads each request's head, records its X-Request-ID
    and closes the connection without answering."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.request_ids: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            with connection:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                found = re.search(rb"(?im)^x-request-id:\s*(\S+)", head)
                if found:
                    self.request_ids.append(found.group(1).decode())

    def close(self) -> None:
        self.listener.close()


# ------------------------------------------------------------------------------- tests


def test_compose_declares_the_stack() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "lb"} <= set(services)
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["environment"]["ZPD_AUTO_MIGRATE"] == "false"


def test_only_the_load_balancer_publishes_a_port() -> None:
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"lb": ["8000:8000"]}
    lb = services["lb"]
    assert lb["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert lb["depends_on"]["api"]["condition"] == "service_healthy"
    assert "healthcheck" in lb
    # the official image, on a stable branch whose free build re-resolves upstream names
    # (`resolve` came in mainline 1.27.3; 1.28 is the first stable branch with it)
    image, tag = lb["image"].split(":")
    assert image == "nginx"
    major, minor = (int(part) for part in tag.split("-")[0].split(".")[:2])
    assert (major, minor) >= (1, 28)
    config = NGINX_CONF.read_text()
    assert re.search(r"^resolver 127\.0\.0\.11 valid=5s\b", config, re.MULTILINE)
    assert re.search(r"^\s*zone zpd_api \d+k;$", config, re.MULTILINE)


@pytest.mark.postgres
def test_migrate_then_api_commands_work_as_written(postgres_url: str, tmp_path: Path) -> None:
    run_migrate(postgres_url)
    with api_replica(postgres_url, tmp_path / "api.log") as (_, port):
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.json()["database"] == "postgresql"
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/runs", json={"name": "compose", "arms": [{"name": "a"}]}
        )
        assert created.status_code == 201


@pytest.mark.postgres
def test_lb_spreads_requests_over_the_replicas(postgres_url: str, tmp_path: Path) -> None:
    nginx_binary()  # skip (or fail in CI) before starting anything
    run_migrate(postgres_url)
    logs = [tmp_path / "api-1.log", tmp_path / "api-2.log"]
    with (
        api_replica(postgres_url, logs[0]) as (_, port1),
        api_replica(postgres_url, logs[1]) as (second, port2),
        nginx_lb(tmp_path / "nginx", [port1, port2]) as (url, _),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["database"] == "postgresql"

        # X-Request-ID passes through both ways; each request lands on exactly one replica
        sent = {f"lb-spread-{i}" for i in range(8)}
        for request_id in sorted(sent):
            answer = client.get("/readyz", headers={"X-Request-ID": request_id})
            assert answer.status_code == 200
            assert answer.headers["x-request-id"] == request_id
        # without one, nginx makes one ($request_id: 32 hex digits) and the replica uses it
        generated = client.get("/healthz").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        served = wait_for_ids(logs, sent | {generated})
        assert served[0] & sent and served[1] & sent, "both replicas answer"
        assert not served[0] & served[1] and sent | {generated} <= served[0] | served[1]

        # a run created, sampled and reported through the lb, with the dashboard's event
        # stream open through it too (Redis carries events to the stream's replica, whichever
        # replica answered the sample and the report)
        arms = [{"name": f"d{d}", "size": 50} for d in range(1, 4)]
        created = client.post("/v1/runs", json={"name": "lb", "arms": arms})
        assert created.status_code == 201
        run_id = created.json()["run_id"]
        with client.stream("GET", f"/v1/runs/{run_id}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            [(name, hello)] = read_events(lines, 1)
            assert (name, hello["step"]) == ("hello", 0)

            sample = client.post(f"/v1/runs/{run_id}/sample", json={"batch_size": 256})
            assert sample.status_code == 200
            results = [
                {"arm": item["arm"], "index": item["index"], "rewards": [1.0, 0.0] * 512}
                for item in sample.json()["items"]
            ]
            body = json.dumps({"sample_id": sample.json()["sample_id"], "results": results})
            assert len(body) > NGINX_DEFAULT_BODY_LIMIT  # a big report: 256 x 1024 rollouts
            report = client.post(
                f"/v1/runs/{run_id}/report",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert report.status_code == 200, report.text
            assert report.json()["step"] == 1
            (n1, sampled), (n2, reported) = read_events(lines, 2)
        assert (n1, sampled["sample_id"]) == ("sample", sample.json()["sample_id"])
        assert (n2, reported["step"]) == ("report", 1)

        # a replica gone: requests, POSTs included (never sent to it), go to the other one
        stop(second)
        for _ in range(4):
            assert client.get("/readyz").status_code == 200
        for i in range(2):
            created = client.post("/v1/runs", json={"name": f"after-{i}", "arms": arms})
            assert created.status_code == 201


@pytest.mark.postgres
def test_lb_retries_only_requests_safe_to_repeat(postgres_url: str, tmp_path: Path) -> None:
    """A replica dropping a request: a GET is retried on another replica, a POST is not."""
    nginx_binary()
    run_migrate(postgres_url)
    log = tmp_path / "api.log"
    dropper = ReplicaThatDropsRequests()
    try:
        with api_replica(postgres_url, log) as (_, port):
            ports = [port, dropper.port]
            # each nginx starts with both servers up; after one failure the dropper is left
            # out for fail_timeout (10 s), so two requests reach it exactly once
            with nginx_lb(tmp_path / "nginx-get", ports) as (url, _):
                gets = {
                    f"lb-get-{i}": httpx.get(
                        f"{url}/readyz", headers={"X-Request-ID": f"lb-get-{i}"}
                    )
                    for i in range(2)
                }
            assert all(answer.status_code == 200 for answer in gets.values())
            [dropped_get] = dropper.request_ids
            assert dropped_get in wait_for_ids([log], {dropped_get})[0]  # retried

            with nginx_lb(tmp_path / "nginx-post", ports) as (url, _):
                posts = {
                    f"lb-post-{i}": httpx.post(
                        f"{url}/v1/runs",
                        json={"name": f"post-{i}", "arms": [{"name": "a"}]},
                        headers={"X-Request-ID": f"lb-post-{i}"},
                    )
                    for i in range(2)
                }
            [dropped_post] = dropper.request_ids[1:]
            [kept_post] = set(posts) - {dropped_post}
            assert posts[dropped_post].status_code == 502  # not replayed on the replica
            assert posts[kept_post].status_code == 201
            served = wait_for_ids([log], {kept_post})[0]
            assert kept_post in served and dropped_post not in served
    finally:
        dropper.close()


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
    assert config.service_url == "http://lb:8000"  # the one entry point, as for any client
    assert worker["depends_on"]["lb"]["condition"] == "service_healthy"
