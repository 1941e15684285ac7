"""The dashboard in a real headless Chromium: arms, charts, live reports, no console errors.

Each test saves a full-page screenshot in its pytest tmp dir (``dashboard.png``,
``long.png``); ``pytest --basetemp=DIR`` keeps them somewhere known.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.service.dashboard.conftest import (
    create_run,
    difficulty_arms,
    insert_long_run,
    train_step,
)

CHART_IDS = ["chart-q", "chart-p", "chart-d", "chart-r", "chart-o"]


class Console:
    """Console errors, uncaught exceptions and failed requests of one page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console.{message.type}: {message.text}")

    def _failed(self, request: Any) -> None:
        # A page leaving closes its event stream: that is not a failure.
        if not request.url.endswith("/events"):
            self.problems.append(f"request failed: {request.url} {request.failure}")


RUN_PAGE_READY = "body[data-run-id][data-ready=true]"


def wait_ready(page: Any, console: Console, selector: str = RUN_PAGE_READY) -> None:
    """Wait for ``selector``; on timeout, fail with what the page showed and logged."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=20_000)
    except PlaywrightTimeout:
        shown = page.locator("#error").inner_text() if page.locator("#error").count() else ""
        pytest.fail(f"{page.url}: no {selector}; error box {shown!r}; {console.problems}")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def arm_row(page: Any, arm: str) -> dict[str, str]:
    """The arms-table cells of ``arm``: raw values (data-value) and shown texts."""
    row = page.locator(f'#arms tr[data-arm="{arm}"]')
    cells: dict[str, str] = {}
    for key in ("q", "probability", "last-reward", "mean-outcome"):
        cell = row.locator(f"td.{key}")
        cells[key] = cell.get_attribute("data-value") or ""
        cells[key + " text"] = cell.inner_text().strip()
    cells["sampled"] = row.locator("td.times-sampled").inner_text()
    cells["reported"] = row.locator("td.times-reported").inner_text()
    return cells


def legend_value(page: Any, chart_id: str, label: str) -> str:
    series = page.locator(f"#{chart_id} .u-legend .u-series", has_text=label)
    return str(series.first.locator(".u-value").inner_text())


def assert_table_matches(page: Any, run: dict[str, Any]) -> None:
    for arm in run["arms"]:
        shown = arm_row(page, arm["name"])
        assert float(shown["q"]) == arm["q"]
        assert float(shown["probability"]) == arm["probability"]
        assert shown["q text"] == f"{arm['q']:.4f}"
        assert shown["probability text"] == f"{arm['probability']:.4f}"
        assert shown["sampled"] == f"{arm['times_sampled']:,}"
        assert shown["reported"] == f"{arm['times_reported']:,}"
        if arm["last_reward"] is None:
            assert shown["last-reward"] == "" and shown["last-reward text"] == "\u2013"
        else:
            assert float(shown["last-reward"]) == arm["last_reward"]
        if arm["mean_outcome_reward"] is not None:
            assert float(shown["mean-outcome"]) == arm["mean_outcome_reward"]


def test_run_page_draws_the_run_and_follows_it_live(
    server: LiveServer, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    rng = random.Random(5)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run = create_run(client, "sec on a toy task", difficulty_arms(5))
        for _ in range(30):
            train_step(client, run["run_id"], rng, batch=16)
        before = client.get(f"/v1/runs/{run['run_id']}").json()

        page.goto(f"{server.url}/dashboard/runs/{run['run_id']}")
        wait_ready(page, console)
        page.wait_for_selector("#live.on", timeout=10_000)

        for chart_id in CHART_IDS:
            assert page.locator(f"#{chart_id}").is_visible(), chart_id
            assert page.locator(f"#{chart_id} canvas").count() == 1, chart_id
        assert page.locator("#step").inner_text() == "30"
        assert page.locator("#points").inner_text() == "30 of 30 steps"
        assert page.locator("#arms tbody tr").count() == 5
        assert_table_matches(page, before)
        d1 = next(a for a in before["arms"] if a["name"] == "d1")
        assert legend_value(page, "chart-q", "d1") == f"{d1['q']:.4f}"  # the chart's newest Q
        # Figure 3 of the SEC paper: expected difficulty = sum of p(arm) * difficulty(arm).
        expected = sum(a["probability"] * int(a["name"][1:]) for a in before["arms"])
        assert legend_value(page, "chart-d", "expected") == f"{expected:.3f}"

        # Hovering the first step shows its exact values, on every chart (synced cursors).
        first = client.get(f"/v1/runs/{run['run_id']}/history").json()["points"][0]
        box = page.locator("#chart-q .u-over").bounding_box()
        page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
        assert legend_value(page, "chart-q", "step") == "1"
        assert legend_value(page, "chart-q", "d3") == f"{first['q']['d3']:.4f}"
        assert legend_value(page, "chart-p", "d3") == f"{first['probabilities']['d3']:.4f}"
        page.mouse.move(0, 0)

        # A report made now shows up without a reload.
        page.evaluate("window.__same_document = true")
        answer = train_step(client, run["run_id"], rng, batch=16)
        page.wait_for_selector('body[data-step="31"]', timeout=10_000)
        after = client.get(f"/v1/runs/{run['run_id']}").json()
    assert answer["step"] == 31
    assert page.evaluate("window.__same_document") is True
    assert page.locator("#step").inner_text() == "31"
    assert page.locator("#points").inner_text() == "31 of 31 steps"
    assert_table_matches(page, after)
    assert legend_value(page, "chart-q", "d1") == f"{answer['q']['d1']:.4f}"

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert console.problems == []


def test_run_list_links_to_each_run(server: LiveServer, page: Any) -> None:
    console = Console(page)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        idle = create_run(client, "idle run", difficulty_arms(2))
        busy = create_run(client, "busy run", difficulty_arms(3))
        for _ in range(4):
            train_step(client, busy["run_id"], random.Random(6))
    page.goto(f"{server.url}/dashboard")
    wait_ready(page, console, f'#runs tr[data-run-id="{busy["run_id"]}"]')
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 2
    busy_row = page.locator(f'#runs tr[data-run-id="{busy["run_id"]}"]')
    idle_row = page.locator(f'#runs tr[data-run-id="{idle["run_id"]}"]')
    assert busy_row.locator("td.step").inner_text() == "4"
    assert "s ago" in busy_row.inner_text() and "never" in idle_row.inner_text()
    assert "3: d1, d2, d3" in busy_row.inner_text()
    busy_row.locator("a").click()
    wait_ready(page, console)
    assert page.locator("#run-name").inner_text() == "busy run"
    assert console.problems == []


def test_a_10000_step_20_arm_run_opens_in_about_a_second(
    server: LiveServer, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    arms = [{"name": f"arm{a:02d}", "tags": {"difficulty": a % 5 + 1}} for a in range(20)]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run = create_run(client, "long", arms)
    insert_long_run(server.database_url, run["run_id"], 10_000, 20)
    url = f"{server.url}/dashboard/runs/{run['run_id']}"
    page.goto(f"{server.url}/dashboard")  # the browser's first page is not part of the timing
    wait_ready(page, console, f'#runs tr[data-run-id="{run["run_id"]}"]')

    started = time.perf_counter()
    page.goto(url)
    wait_ready(page, console)
    opened = time.perf_counter() - started

    page.screenshot(path=str(tmp_path / "long.png"), full_page=True)
    print(f"10,000 x 20 run opened in {opened:.2f}s")
    assert page.locator("#points").inner_text() == "500 of 10,000 steps"
    assert page.locator("#chart-q canvas").count() == 1
    assert opened < 3.0, f"the 10,000-step run took {opened:.2f}s to open"
    assert console.problems == []


def test_automatic_arms_show_their_members(server: LiveServer, page: Any) -> None:
    """Auto arms all have the pool's size; the table shows how many problems each holds."""
    console = Console(page)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        created = client.post(
            "/v1/runs",
            json={"name": "auto", "auto_arms": {"size": 500, "buckets": [0.5]}, "seed": 3},
        )
        assert created.status_code == 201, created.text
        rid = created.json()["run_id"]
        sample = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 6}).json()
        # the first three problems solved in all 4 rollouts, the other three failed
        results = [
            {"arm": item["arm"], "index": item["index"], "rewards": [float(n < 3)] * 4}
            for n, item in enumerate(sample["items"])
        ]
        report = {"sample_id": sample["sample_id"], "results": results}
        assert client.post(f"/v1/runs/{rid}/report", json=report).status_code == 200
        run = client.get(f"/v1/runs/{rid}").json()
    # by hand: Beta(1 + 4, 1) has mean 5/6 >= 0.5, Beta(1, 1 + 4) has mean 1/6 < 0.5
    expected = {"unseen": 494, "pass>=0.5": 3, "pass<0.5": 3}
    assert {arm["name"]: arm["members"] for arm in run["arms"]} == expected
    page.goto(f"{server.url}/dashboard/runs/{rid}")
    wait_ready(page, console)
    assert page.locator("#size-header").inner_text() == "Members"
    for name, members in expected.items():
        shown = page.locator(f'#arms tr[data-arm="{name}"] td.size').inner_text()
        assert shown == f"{members:,}", name
    assert console.problems == []
