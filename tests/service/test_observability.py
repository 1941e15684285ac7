"""Prometheus /metrics and JSON request logs, against real servers and through the app."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service import observability
from service.api import create_app
from service.settings import Settings
from tests.conftest import LiveServer, free_port

ARMS = [{"name": "easy", "size": 100}, {"name": "hard", "size": 10}]
DURATION = "zpd_http_request_duration_seconds"
SAMPLE_ROUTE = "/v1/runs/{run_id}/sample"
REPORT_ROUTE = "/v1/runs/{run_id}/report"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` as {(name, sorted labels): value}, via prometheus' parser."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(metrics: dict[Any, float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def create_run(http: httpx.Client) -> str:
    body = {"name": "obs", "arms": ARMS, "strategy": {"name": "sec"}, "seed": 1}
    response = http.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["run_id"])


def report_body(report_id: str, problems: int) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "results": [{"arm": "easy", "index": i, "rewards": [1.0, 0.0]} for i in range(problems)],
    }


def test_counters_move_by_exactly_the_requests_made(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        run_id = create_run(http)
        before = scrape(live_server.url)
        for _ in range(3):
            assert http.post(f"/v1/runs/{run_id}/sample", json={"batch_size": 5}).is_success
        for k in range(2):
            assert http.post(f"/v1/runs/{run_id}/report", json=report_body(f"r{k}", 4)).is_success
        replay = http.post(f"/v1/runs/{run_id}/report", json=report_body("r0", 4))
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert http.post("/v1/runs/no-such-run/report", json=report_body("x", 1)).status_code == 404
        assert http.post(f"/v1/runs/{run_id}/sample", json={"batch_size": -1}).status_code == 422
        after = scrape(live_server.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("zpd_samples_total", strategy="sec") == 3
    assert delta("zpd_sampled_problems_total", strategy="sec") == 15
    assert delta("zpd_reports_applied_total", strategy="sec") == 2
    assert delta("zpd_reported_problems_total", strategy="sec") == 8
    assert delta("zpd_report_replays_total", strategy="sec") == 1
    assert delta("zpd_errors_total", code="not_found") == 1
    assert delta("zpd_errors_total", code="invalid_request") == 1
    count = f"{DURATION}_count"
    assert delta(count, method="POST", route=SAMPLE_ROUTE, status="200") == 3
    assert delta(count, method="POST", route=SAMPLE_ROUTE, status="422") == 1
    assert delta(count, method="POST", route=REPORT_ROUTE, status="200") == 3
    assert delta(count, method="POST", route=REPORT_ROUTE, status="404") == 1
    assert (
        delta(f"{DURATION}_bucket", method="POST", route=SAMPLE_ROUTE, status="200", le="+Inf") == 3
    )
    # No label anywhere names a run: the series count does not grow with runs.
    assert not [key for key in after if any(run_id in v or "no-such-run" in v for _, v in key[1])]


def test_request_id_is_echoed_and_logged_as_json(sqlite_url: str, tmp_path: Path) -> None:
    server = LiveServer(sqlite_url, workdir=tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            run_id = create_run(http)
            given = http.post(
                f"/v1/runs/{run_id}/sample",
                json={"batch_size": 2},
                headers={"X-Request-ID": "trainer-7.step-3"},
            )
            generated = http.get(f"/v1/runs/{run_id}")
            refused = http.get("/v1/runs/nope", headers={"X-Request-ID": "no spaces allowed"})
    finally:
        server.stop()
    output = server.output()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    by_id = {line["request_id"]: line for line in lines if line["logger"] == "zpd.access"}

    assert given.headers["X-Request-ID"] == "trainer-7.step-3"
    line = by_id["trainer-7.step-3"]
    assert line["method"] == "POST"
    assert line["route"] == SAMPLE_ROUTE
    assert line["path"] == f"/v1/runs/{run_id}/sample"
    assert line["status"] == 200
    assert 0 < line["duration_ms"] < 10_000

    generated_id = generated.headers["X-Request-ID"]
    assert len(generated_id) == 32 and by_id[generated_id]["status"] == 200

    replaced = refused.headers["X-Request-ID"]
    assert replaced != "no spaces allowed"
    assert by_id[replaced]["status"] == 404 and by_id[replaced]["error_code"] == "not_found"


def test_a_log_pipe_nobody_reads_never_stalls_requests(sqlite_url: str, tmp_path: Path) -> None:
    # LiveServer pipes the server's output and this test never reads it: 500 access lines
    # (~150 kB) overflow the 64 kB pipe. Lines are written by a background thread, so
    # requests keep being answered.
    server = LiveServer(sqlite_url, workdir=tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            statuses = [http.get("/healthz").status_code for _ in range(500)]
    finally:
        server.stop()
    assert statuses == [200] * 500


def test_unhandled_error_is_a_500_with_its_request_id_in_the_log(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(Settings(database_url=sqlite_url))

    def explode() -> None:
        raise RuntimeError("boom")  # stands for a bug in a route

    app.add_api_route("/explode", explode)
    before = REGISTRY.get_sample_value("zpd_errors_total", {"code": "internal"}) or 0.0
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode", headers={"X-Request-ID": "bug-1"})
    assert observability.flush_logs()  # lines are written by a background thread
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "bug-1"
    assert REGISTRY.get_sample_value("zpd_errors_total", {"code": "internal"}) == before + 1
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    ours = [x for x in lines if x["request_id"] == "bug-1"]
    assert {x["logger"] for x in ours} == {"zpd", "zpd.access"}
    crash = next(x for x in ours if x["logger"] == "zpd")
    assert crash["level"] == "error" and "RuntimeError: boom" in crash["exception"]
    access = next(x for x in ours if x["logger"] == "zpd.access")
    assert access["status"] == 500 and access["route"] == "/explode"


def test_route_label_is_the_template_even_before_routing(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, max_body_bytes=1024)
    labels = {"method": "POST", "route": REPORT_ROUTE, "status": "413"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    count = f"{DURATION}_count"
    before = [REGISTRY.get_sample_value(count, x) or 0.0 for x in (labels, unmatched)]
    with TestClient(create_app(settings)) as client:
        # The body limit answers from the declared length, before the router runs.
        too_big = client.post("/v1/runs/abc/report", content=b"{" + b" " * 2000 + b"}")
        assert too_big.status_code == 413
        assert client.get("/no/such/page/abc").status_code == 404
    after = [REGISTRY.get_sample_value(count, x) or 0.0 for x in (labels, unmatched)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]


def test_lease_expiries_hook_counts() -> None:
    before = REGISTRY.get_sample_value("zpd_sample_lease_expiries_total") or 0.0
    observability.record_lease_expiries(3)
    observability.record_lease_expiries(0)
    assert REGISTRY.get_sample_value("zpd_sample_lease_expiries_total") == before + 3


def test_text_log_format_carries_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    observability.configure_logging("text")
    try:
        token = observability.REQUEST_ID.set("rid-9")
        observability.access_log.info("GET /x 200", extra={"fields": {"status": 200}})
        observability.REQUEST_ID.reset(token)
        assert observability.flush_logs()
        err = capsys.readouterr().err
    finally:
        observability.configure_logging("json")
    assert "[rid-9] GET /x 200 status=200" in err
    handlers = logging.getLogger("zpd").handlers
    assert len([h for h in handlers if getattr(h, "zpd_handler", False)]) == 1  # replaced


@pytest.mark.slow
def test_multiprocess_mode_sums_the_workers(sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    port = free_port()
    env = {**os.environ, "ZPD_DATABASE_URL": sqlite_url, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # Fresh connections, so that the kernel spreads them over both workers.
        for _ in range(30):
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        seen = {
            value(scrape(url), f"{DURATION}_count", method="GET", route="/healthz", status="200")
            for _ in range(6)
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert seen == {30.0}
