"""The dashboard's pages, static files and run list over HTTP (no browser)."""

from __future__ import annotations

import random
from pathlib import Path

import httpx

import service.dashboard.routes as routes
from tests.conftest import LiveServer
from tests.service.dashboard.conftest import create_run, difficulty_arms, train_step


def test_pages_are_served_with_a_strict_content_security_policy(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run = create_run(client, "pages <b>& {{version}}", difficulty_arms(2))
        listing = client.get("/dashboard")
        page = client.get(f"/dashboard/runs/{run['run_id']}")
        missing = client.get("/dashboard/runs/does-not-exist")
        slash = client.get("/dashboard/", follow_redirects=False)
    assert listing.status_code == 200 and "text/html" in listing.headers["content-type"]
    assert page.status_code == 200
    assert f'data-run-id="{run["run_id"]}"' in page.text
    # escaped, and a name that looks like a placeholder stays as it is
    assert "pages &lt;b&gt;&amp; {{version}}" in page.text and "<b>&" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "{{" not in page.text.replace("{{version}}", "") and "{{" not in listing.text
    assert missing.status_code == 404 and "does-not-exist" in missing.text
    assert slash.status_code in (302, 307) and slash.headers["location"] == "/dashboard"


def test_static_files_ship_uplot_with_its_licence(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        script = client.get("/dashboard/static/vendor/uplot/uPlot.iife.min.js")
        licence = client.get("/dashboard/static/vendor/uplot/LICENSE")
        escape = client.get("/dashboard/static/../routes.py")
        template = client.get("/dashboard/static/run.html")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "uPlot" in script.text
    assert licence.status_code == 200 and "MIT License" in licence.text
    assert escape.status_code == 404 and template.status_code == 404


def test_every_file_a_page_references_is_shipped() -> None:
    static = Path(routes.STATIC_DIR)
    for page in ("runs.html", "run.html", "missing.html"):
        text = (static / page).read_text()
        for part in text.split("{{root}}/dashboard/static/")[1:]:
            name = part.split('"')[0].split("?")[0]
            assert name in routes.STATIC_FILES, f"{page} references missing {name}"


def test_run_list_carries_each_runs_last_report_time(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        idle = create_run(client, "idle", difficulty_arms(2))
        busy = create_run(client, "busy", difficulty_arms(3))
        for _ in range(3):
            train_step(client, busy["run_id"], random.Random(4))
        summaries = client.get("/dashboard/api/runs").json()["runs"]
        history = client.get(f"/v1/runs/{busy['run_id']}/history").json()
        runs = client.get("/v1/runs").json()["runs"]
    by_id = {s["run_id"]: s for s in summaries}
    assert [s["run_id"] for s in summaries] == [r["run_id"] for r in runs]  # newest first
    assert by_id[idle["run_id"]]["last_report_at"] is None
    last = history["points"][-1]
    assert last["step"] == 3
    assert httpx_time(by_id[busy["run_id"]]["last_report_at"]) == httpx_time(last["created_at"])
    assert by_id[busy["run_id"]]["step"] == 3


def httpx_time(text: str) -> str:
    """ISO times as the API writes them, normalised to one spelling of UTC."""
    return text.replace("+00:00", "Z")
