"""Bad input gets a clear 4xx error body and changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings

ARMS = [{"name": "easy", "size": 10}, {"name": "hard", "size": 5}]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        max_batch_size=512,
        max_rollouts=16,
        max_results=100,
        max_arms=4,
        max_body_bytes=64 * 1024,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def run_id(client: TestClient) -> str:
    run = client.post("/v1/runs", json={"name": "r", "arms": ARMS, "seed": 1}).json()
    client.post(f"/v1/runs/{run['run_id']}/sample", json={"batch_size": 4})
    client.post(
        f"/v1/runs/{run['run_id']}/report", json={"results": [{"arm": "easy", "rewards": [1, 0]}]}
    )
    return str(run["run_id"])


def snapshot(client: TestClient, run_id: str) -> tuple[Any, Any]:
    return client.get(f"/v1/runs/{run_id}").json(), client.get(f"/v1/runs/{run_id}/history").json()


def assert_error(response: Any, status: int, code: str, mentions: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions.lower() in error["message"].lower(), error["message"]


REPORTS: list[tuple[str, Any, str]] = [
    ("unknown arm", {"results": [{"arm": "nope", "rewards": [1, 0]}]}, "unknown arm"),
    ("nan reward", b'{"results": [{"arm": "easy", "rewards": [NaN, 1]}]}', "finite"),
    ("inf reward", b'{"results": [{"arm": "easy", "rewards": [Infinity]}]}', "finite"),
    ("inf advantage", b'{"results": [{"arm": "easy", "advantages": [-Infinity]}]}', "finite"),
    ("empty rewards", {"results": [{"arm": "easy", "rewards": []}]}, "at least 1 item"),
    ("no results", {"results": []}, "results"),
    (
        "both signals",
        {"results": [{"arm": "easy", "rewards": [1], "advantages": [1]}]},
        "exactly one",
    ),
    ("neither signal", {"results": [{"arm": "easy"}]}, "exactly one"),
    ("index outside arm", {"results": [{"arm": "hard", "index": 5, "rewards": [1, 0]}]}, "outside"),
    ("negative index", {"results": [{"arm": "hard", "index": -1, "rewards": [1, 0]}]}, "index"),
    ("string reward", {"results": [{"arm": "easy", "rewards": ["a"]}]}, "rewards"),
    ("too many rollouts", {"results": [{"arm": "easy", "rewards": [0] * 17}]}, "at most 16"),
    ("too many results", {"results": [{"arm": "easy", "rewards": [0]}] * 101}, "at most 100"),
    (
        "unknown sample",
        {"sample_id": "x", "results": [{"arm": "easy", "rewards": [1]}]},
        "sample_id",
    ),
    ("extra field", {"results": [{"arm": "easy", "rewards": [1]}], "reward": 1}, "extra"),
    ("malformed json", b'{"results": [', "not valid JSON"),
    ("not an object", b"[1, 2]", "body"),
    ("not utf-8", b'{"results": "\xff\xfe"}', "not valid JSON"),
]


@pytest.mark.parametrize(("case", "body", "mentions"), REPORTS, ids=[c[0] for c in REPORTS])
def test_bad_report_is_422_and_changes_nothing(
    client: TestClient, run_id: str, case: str, body: Any, mentions: str
) -> None:
    before = snapshot(client, run_id)
    if isinstance(body, bytes):
        response = client.post(
            f"/v1/runs/{run_id}/report", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = client.post(f"/v1/runs/{run_id}/report", json=body)
    assert_error(response, 422, "invalid_request", mentions)
    assert snapshot(client, run_id) == before


@pytest.mark.parametrize(
    ("batch_size", "mentions"),
    [(0, "batch_size"), (-3, "batch_size"), (513, "at most 512"), ("x", "batch_size")],
)
def test_bad_batch_size_is_422_and_changes_nothing(
    client: TestClient, run_id: str, batch_size: Any, mentions: str
) -> None:
    before = snapshot(client, run_id)
    response = client.post(f"/v1/runs/{run_id}/sample", json={"batch_size": batch_size})
    assert_error(response, 422, "invalid_request", mentions)
    assert snapshot(client, run_id) == before


def test_unknown_run_is_404_everywhere(client: TestClient) -> None:
    for method, path, body in [
        ("get", "/v1/runs/missing", None),
        ("get", "/v1/runs/missing/history", None),
        ("post", "/v1/runs/missing/sample", {"batch_size": 1}),
        ("post", "/v1/runs/missing/report", {"results": [{"arm": "a", "rewards": [1]}]}),
    ]:
        response = client.request(method, path, json=body)
        assert_error(response, 404, "not_found", "missing")


CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("no arms", {"arms": []}, "arms"),
    ("duplicate arms", {"arms": [{"name": "a"}, {"name": "a"}]}, "unique"),
    ("too many arms", {"arms": [{"name": str(i)} for i in range(5)]}, "at most 4"),
    ("zero size", {"arms": [{"name": "a", "size": 0}]}, "size"),
    ("huge tag integer", {"arms": [{"name": "a", "tags": {"d": -(2**64)}}]}, "tags"),
    ("huge tags", {"arms": [{"name": "a", "tags": {"d": "x" * 5000}}]}, "4096 bytes"),
    ("alpha zero", {"strategy": {"name": "sec", "alpha": 0}}, "alpha"),
    ("alpha above one", {"strategy": {"name": "sec", "alpha": 1.01}}, "alpha"),
    ("tau zero", {"strategy": {"name": "sec", "tau": 0}}, "tau"),
    ("tau tiny", {"strategy": {"name": "sec", "tau": 1e-320}}, "'tau' must be >= 0.001"),
    ("tau tiny ducb", {"strategy": {"name": "ducb", "tau": 1e-4}}, "'tau' must be >= 0.001"),
    ("unknown strategy", {"strategy": {"name": "magic"}}, "unknown strategy"),
    ("unknown option", {"strategy": {"name": "sec", "temperature": 1}}, "unknown option"),
    ("ordered without total_steps", {"strategy": {"name": "ordered"}}, "total_steps"),
    ("negative seed", {"seed": -1}, "seed"),
    ("empty name", {"name": ""}, "name"),
]


@pytest.mark.parametrize(("case", "override", "mentions"), CREATES, ids=[c[0] for c in CREATES])
def test_bad_run_is_422_and_creates_nothing(
    client: TestClient, case: str, override: dict[str, Any], mentions: str
) -> None:
    body = {"name": "r", "arms": ARMS, **override}
    response = client.post("/v1/runs", json=body)
    assert_error(response, 422, "invalid_request", mentions)
    assert client.get("/v1/runs").json()["runs"] == []


def test_oversized_body_is_413(client: TestClient, run_id: str) -> None:
    before = snapshot(client, run_id)
    big = {"results": [{"arm": "easy", "rewards": [0.5] * 16}] * 2000}
    response = client.post(f"/v1/runs/{run_id}/report", json=big)
    assert_error(response, 413, "payload_too_large", "ZPD_MAX_BODY_BYTES")
    assert snapshot(client, run_id) == before


def test_wrong_method_is_405_with_error_body(client: TestClient) -> None:
    response = client.delete("/v1/runs")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, POST"
