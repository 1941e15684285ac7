"""``POST /v1/runs/{run_id}/step``: report step t and draw step t+1 in one transaction.

The reference is the service's own two-call path: on a twin run (same arms, strategy and
seed), ``/report`` then ``/sample`` with the same bodies must give the same answers and
leave the same state. A step refused in either half must leave the run as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.domain.clock import ManualClock
from service.settings import Settings

ARMS = [{"name": "easy", "size": 40}, {"name": "medium", "size": 25}, {"name": "hard", "size": 9}]
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def client(database_url: str, clock: ManualClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, max_batch_size=64), clock=clock)
    with TestClient(app) as test_client:
        yield test_client


def new_run(client: TestClient, problems: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"name": "r", "arms": ARMS, "strategy": {"name": "sec"}, "seed": 5}
    if problems:
        body["problems"] = problems
    created = client.post("/v1/runs", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["run_id"])


def report_body(sample: dict[str, Any], n: int) -> dict[str, Any]:
    """A report of ``sample`` with rewards that differ per step and per item."""
    results = [
        {"arm": item["arm"], "index": item["index"], "rewards": [1.0, float((n + i) % 2), 0.0]}
        for i, item in enumerate(sample["items"])
    ]
    return {"report_id": f"r{n}", "sample_id": sample["sample_id"], "results": results}


def state(client: TestClient, rid: str) -> dict[str, Any]:
    run = client.get(f"/v1/runs/{rid}").json()
    keep = ("step", "samples", "samples_pending", "samples_expired")
    arms = [
        (a["name"], a["q"], a["probability"], a["times_sampled"], a["times_reported"])
        for a in run["arms"]
    ]
    return {**{k: run[k] for k in keep}, "arms": arms}


def same_ids(answer: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {**answer, "run_id": run_id}


@pytest.mark.parametrize("problems", [None, {"selection": "frontier"}], ids=["arms", "frontier"])
def test_steps_equal_report_then_sample(
    client: TestClient, problems: dict[str, Any] | None
) -> None:
    stepped, twin = new_run(client, problems), new_run(client, problems)
    previous: dict[str, Any] | None = None
    for n, batch in enumerate((4, 1, 7, 3, 2)):
        sample = {"batch_size": batch, "sample_id": f"s{n}"}
        body: dict[str, Any] = {"sample": sample}
        if previous is not None:
            body["report"] = report_body(previous, n)
        answer = client.post(f"/v1/runs/{stepped}/step", json=body)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["report_replayed"] is False
        if previous is None:
            assert got["report"] is None
        else:
            reported = client.post(f"/v1/runs/{twin}/report", json=body["report"])
            assert reported.status_code == 200
            assert got["report"] == same_ids(reported.json(), stepped)
        drawn = client.post(f"/v1/runs/{twin}/sample", json=sample)
        assert got["sample"] == same_ids(drawn.json(), stepped)
        assert state(client, stepped) == state(client, twin)
        previous = got["sample"]
    assert state(client, stepped)["step"] == 4
    assert state(client, stepped)["samples"] == 5


def test_a_retried_step_applies_nothing_twice(client: TestClient) -> None:
    rid = new_run(client)
    first = client.post(
        f"/v1/runs/{rid}/step", json={"sample": {"batch_size": 3, "sample_id": "a"}}
    )
    body = {
        "report": report_body(first.json()["sample"], 0),
        "sample": {"batch_size": 2, "sample_id": "b"},
    }
    once = client.post(f"/v1/runs/{rid}/step", json=body)
    before = state(client, rid)
    again = client.post(f"/v1/runs/{rid}/step", json=body)
    assert again.status_code == 200
    assert again.json()["report_replayed"] is True
    assert {**again.json(), "report_replayed": False} == once.json()
    assert state(client, rid) == before
    assert (before["step"], before["samples"]) == (1, 2)


@pytest.mark.parametrize(
    ("report_change", "sample", "status"),
    [
        # the report half refused: an arm the run does not have
        ({"results": [{"arm": "nope", "index": 0, "rewards": [1.0]}]}, {"batch_size": 1}, 422),
        # the sample half refused after a valid report: too large a batch
        ({}, {"batch_size": 65}, 422),
        # ... or demonstrations on a run without per-problem tracking (found under the lock)
        ({}, {"batch_size": 1, "purpose": "demonstrations"}, 422),
        # ... or a sample_id already used for a batch of another size (found under the lock)
        ({}, {"batch_size": 2, "sample_id": "first"}, 409),
    ],
    ids=["bad-report", "batch-too-large", "demonstrations", "sample-id-conflict"],
)
def test_a_refused_step_changes_nothing(
    client: TestClient, report_change: dict[str, Any], sample: dict[str, Any], status: int
) -> None:
    rid = new_run(client)
    first = client.post(
        f"/v1/runs/{rid}/step", json={"sample": {"batch_size": 3, "sample_id": "first"}}
    ).json()
    before = state(client, rid)
    body = {"report": {**report_body(first["sample"], 0), **report_change}, "sample": sample}
    refused = client.post(f"/v1/runs/{rid}/step", json=body)
    assert refused.status_code == status, refused.text
    assert state(client, rid) == before
    # the report was not stored: the same report_id is applied fresh by /report
    fresh = client.post(f"/v1/runs/{rid}/report", json=report_body(first["sample"], 0))
    assert fresh.status_code == 200
    assert fresh.headers.get("Idempotent-Replayed") is None
    assert state(client, rid)["step"] == 1


def test_a_step_marks_overdue_leases_once(client: TestClient, clock: ManualClock) -> None:
    rid = new_run(client)
    crashed = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 2, "lease_seconds": 1})
    assert crashed.status_code == 200
    first = client.post(
        f"/v1/runs/{rid}/step", json={"sample": {"batch_size": 1, "lease_seconds": 60}}
    ).json()
    clock.advance(2.0)
    body = {"report": report_body(first["sample"], 0), "sample": {"batch_size": 1}}
    assert client.post(f"/v1/runs/{rid}/step", json=body).status_code == 200
    # the crashed batch expired; the reported one is done; the new one is pending
    after = state(client, rid)
    assert (after["samples_pending"], after["samples_expired"]) == (1, 1)


def test_step_body_is_validated(client: TestClient) -> None:
    rid = new_run(client)
    for body in ({}, {"report": None}, {"sample": {}}, {"sample": {"batch_size": 1}, "x": 1}):
        answer = client.post(f"/v1/runs/{rid}/step", json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] == "invalid_request"
    assert state(client, rid)["samples"] == 0
    missing = client.post("/v1/runs/nope/step", json={"sample": {"batch_size": 1}})
    assert missing.status_code == 404
