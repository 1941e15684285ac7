"""Per-problem state through the API: frontier selection, demonstrations, stored outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.api import create_app
from service.settings import Settings


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as test_client:
        yield test_client


def create(client: TestClient, problems: dict[str, Any] | None, seed: int = 4) -> str:
    body: dict[str, Any] = {"name": "p", "arms": [{"name": "a", "size": 40}], "seed": seed}
    if problems is not None:
        body["problems"] = problems
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["run_id"])


def report(client: TestClient, rid: str, outcomes: dict[int, list[float]]) -> None:
    results = [{"arm": "a", "index": i, "rewards": r} for i, r in outcomes.items()]
    assert client.post(f"/v1/runs/{rid}/report", json={"results": results}).status_code == 200


def sample(client: TestClient, rid: str, n: int, purpose: str = "train") -> list[int]:
    answer = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": n, "purpose": purpose})
    assert answer.status_code == 200, answer.text
    return [item["index"] for item in answer.json()["items"]]


MASTERED = range(0, 10)
HOPELESS = range(10, 20)


def settle(client: TestClient, rid: str) -> None:
    for _ in range(2):  # 16 rollouts each: enough evidence (min_evidence 4)
        report(client, rid, {i: [1.0] * 8 for i in MASTERED})
        report(client, rid, {i: [0.0] * 8 for i in HOPELESS})


def test_frontier_selection_skips_settled_problems(client: TestClient) -> None:
    rid = create(client, {"selection": "frontier", "candidates": 4})
    settle(client, rid)
    settled = set(MASTERED) | set(HOPELESS)
    picked: list[int] = []
    for _ in range(6):
        picked += sample(client, rid, 5)
    # 20 open problems remain: every pick of 5 from 20 candidates finds 5 open ones
    assert picked and not settled & set(picked)
    # uniform selection on the same data does hand out settled problems
    uniform = create(client, {"selection": "uniform"})
    settle(client, uniform)
    assert settled & set(sample(client, uniform, 40))


def test_demonstrations_go_where_the_model_fails(client: TestClient) -> None:
    rid = create(client, {"selection": "uniform"})
    settle(client, rid)
    picked: list[int] = []
    for _ in range(10):
        picked += sample(client, rid, 4, purpose="demonstrations")
    failing = sum(i in HOPELESS for i in picked)
    solved = sum(i in MASTERED for i in picked)
    # weights 1 - E[p]: 17/18 for a failing problem against 1/18 for a solved one
    assert failing > 3 * max(solved, 1)
    assert client.get(f"/v1/runs/{rid}").json()["demonstrations"] == 40


def test_demonstrations_need_tracking_and_options_are_checked(client: TestClient) -> None:
    rid = create(client, None)
    response = client.post(
        f"/v1/runs/{rid}/sample", json={"batch_size": 2, "purpose": "demonstrations"}
    )
    assert (
        response.status_code == 422
        and "per-problem tracking" in response.json()["error"]["message"]
    )
    bad = client.post(
        "/v1/runs",
        json={
            "name": "p",
            "arms": [{"name": "a", "size": 4}],
            "problems": {"mastered": 0.2, "hopeless": 0.5},
        },
    )
    assert bad.status_code == 422 and "hopeless" in bad.json()["error"]["message"]
    unsized = client.post("/v1/runs", json={"name": "p", "arms": [{"name": "a"}], "problems": {}})
    assert unsized.status_code == 422 and "size" in unsized.json()["error"]["message"]


def test_frontier_samples_are_reproducible(client: TestClient) -> None:
    runs = [create(client, {"selection": "frontier"}, seed=9) for _ in range(2)]
    draws = []
    for rid in runs:
        settle(client, rid)
        draws.append([sample(client, rid, 6) for _ in range(3)])
    assert draws[0] == draws[1]


def test_outcomes_are_stored_discounted(client: TestClient, database_url: str) -> None:
    rid = create(client, {"selection": "frontier", "discount": 0.5})
    report(client, rid, {7: [1.0, 1.0, 0.1, 0.0]})  # step 0: 2 solved, 2 failed
    report(client, rid, {8: [1.0]})  # step 1
    report(client, rid, {7: [1.0, 0.0, 0.0, 0.0]})  # step 2: 1 solved, 3 failed
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT solved, failed, last_step FROM problem_stats WHERE idx = 7")
        ).one()
    engine.dispose()
    # the step-0 counts weigh 0.5^2 at step 2
    assert (row[0], row[1], row[2]) == (pytest.approx(2 * 0.25 + 1), pytest.approx(2 * 0.25 + 3), 2)
