"""The v1 contract through the app (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.service import reference

ARMS = [
    {"name": "easy", "size": 100, "tags": {"difficulty": 1}},
    {"name": "medium", "size": 50, "tags": {"difficulty": 2}},
    {"name": "hard", "size": 10, "tags": {"difficulty": 3}},
]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, max_batch_size=1024, sqlite_synchronous="NORMAL")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "run",
        "arms": ARMS,
        "strategy": {"name": "sec", "alpha": 0.5, "tau": 0.5},
        "seed": 3,
    }
    body.update(overrides)
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_get_list_run(client: TestClient) -> None:
    run = create(client)
    assert run["strategy"] == {
        "name": "sec",
        "alpha": 0.5,
        "tau": 0.5,
        "unsampled": "hold",
        "objective": "abs_advantage",
        "sampling": "boltzmann",
        "epsilon": 0.1,
        "epsilon_arms": "non_argmax",
        "advantage_std": "unbiased",
    }
    assert [a["name"] for a in run["arms"]] == ["easy", "medium", "hard"]
    assert all(a["q"] == 0.0 and a["probability"] == pytest.approx(1 / 3) for a in run["arms"])
    assert client.get(f"/v1/runs/{run['run_id']}").json() == run
    listed = client.get("/v1/runs").json()["runs"]
    assert [r["run_id"] for r in listed] == [run["run_id"]]


def test_seed_is_drawn_when_omitted(client: TestClient) -> None:
    body = {"name": "r", "arms": ARMS}
    seeds = {client.post("/v1/runs", json=body).json()["seed"] for _ in range(3)}
    assert len(seeds) == 3


def test_sample_items_belong_to_arms_and_counts_add_up(client: TestClient) -> None:
    run = create(client)
    answer = client.post(f"/v1/runs/{run['run_id']}/sample", json={"batch_size": 256}).json()
    assert answer["step"] == 0 and len(answer["items"]) == 256
    assert answer["probabilities"] == pytest.approx({"easy": 1 / 3, "medium": 1 / 3, "hard": 1 / 3})
    sizes = {a["name"]: a["size"] for a in ARMS}
    for item in answer["items"]:
        assert 0 <= item["index"] < sizes[item["arm"]]
    # "hard" has 10 problems: its indices repeat only after a whole epoch
    hard = [i["index"] for i in answer["items"] if i["arm"] == "hard"]
    assert sorted(hard[:10]) == list(range(10))
    after = client.get(f"/v1/runs/{run['run_id']}").json()
    counted = {a["name"]: a["times_sampled"] for a in after["arms"]}
    for name in counted:
        assert counted[name] == sum(1 for i in answer["items"] if i["arm"] == name)
    assert after["samples"] == 1


def test_report_applies_sec_math_like_the_reference(client: TestClient) -> None:
    run = create(client)
    rid = run["run_id"]
    steps = [
        [
            {"arm": "easy", "index": 0, "rewards": [1, 1, 1, 0]},
            {"arm": "easy", "index": 1, "rewards": [1, 0.1, 0, 1]},
            {"arm": "hard", "index": 2, "rewards": [0, 0, 0, 0]},
        ],
        [{"arm": "medium", "index": 5, "advantages": [0.5, -0.5, 1.5, -1.5]}],
        [{"arm": "hard", "rewards": [1, 0, 0, 0, 0, 0, 0, 0]}],
    ]
    q = {a["name"]: 0.0 for a in ARMS}
    for number, results in enumerate(steps, start=1):
        answer = client.post(f"/v1/runs/{rid}/report", json={"results": results}).json()
        expected_r = reference.arm_rewards(results)
        q = reference.td_step(q, expected_r, alpha=0.5)
        assert answer["step"] == number
        assert answer["arm_rewards"] == pytest.approx(expected_r, abs=1e-12)
        assert answer["q"] == pytest.approx(q, abs=1e-12)
        assert answer["probabilities"] == pytest.approx(reference.softmax(q, 0.5), abs=1e-12)
    state = client.get(f"/v1/runs/{rid}").json()
    by_name = {a["name"]: a for a in state["arms"]}
    assert by_name["easy"]["times_reported"] == 2 and by_name["hard"]["times_reported"] == 2
    assert by_name["easy"]["mean_outcome_reward"] == pytest.approx((0.75 + 2.1 / 4) / 2)
    assert by_name["medium"]["mean_outcome_reward"] is None  # advantages only
    assert by_name["hard"]["last_reward"] == pytest.approx(reference.arm_rewards(steps[2])["hard"])
    assert state["step"] == 3


def test_decay_option_moves_absent_arms(client: TestClient) -> None:
    run = create(client, strategy={"name": "sec", "alpha": 0.5, "unsampled": "decay"})
    rid = run["run_id"]
    client.post(f"/v1/runs/{rid}/report", json={"results": [{"arm": "easy", "rewards": [1, 0]}]})
    answer = client.post(
        f"/v1/runs/{rid}/report", json={"results": [{"arm": "hard", "rewards": [1, 0]}]}
    ).json()
    r = reference.arm_rewards([{"arm": "easy", "rewards": [1, 0]}])["easy"]
    assert answer["q"]["easy"] == pytest.approx(0.25 * r)  # decayed once with r = 0


def test_report_is_idempotent_on_report_id(client: TestClient) -> None:
    run = create(client)
    rid = run["run_id"]
    body = {"report_id": "step-1", "results": [{"arm": "easy", "index": 3, "rewards": [1, 0]}]}
    first = client.post(f"/v1/runs/{rid}/report", json=body)
    second = client.post(f"/v1/runs/{rid}/report", json=body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    state = client.get(f"/v1/runs/{rid}").json()
    assert state["step"] == 1 and state["arms"][0]["times_reported"] == 1
    changed = {**body, "results": [{"arm": "easy", "index": 3, "rewards": [0, 0]}]}
    conflict = client.post(f"/v1/runs/{rid}/report", json=changed)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert client.get(f"/v1/runs/{rid}").json() == state


def test_sample_is_idempotent_on_sample_id(client: TestClient) -> None:
    rid = create(client)["run_id"]
    first = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 8, "sample_id": "s-1"}).json()
    again = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 8, "sample_id": "s-1"}).json()
    assert first == again
    assert client.get(f"/v1/runs/{rid}").json()["samples"] == 1
    other = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 9, "sample_id": "s-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_report_may_reference_its_sample(client: TestClient) -> None:
    rid = create(client)["run_id"]
    sample = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 2}).json()
    results = [{**item, "rewards": [1, 0]} for item in sample["items"]]
    ok = client.post(
        f"/v1/runs/{rid}/report", json={"sample_id": sample["sample_id"], "results": results}
    )
    assert ok.status_code == 200


def test_history_lists_each_step(client: TestClient) -> None:
    rid = create(client)["run_id"]
    answers = [
        client.post(
            f"/v1/runs/{rid}/report", json={"results": [{"arm": "easy", "rewards": [1, 0, k % 2]}]}
        ).json()
        for k in range(5)
    ]
    history = client.get(f"/v1/runs/{rid}/history").json()
    assert history["arms"] == ["easy", "medium", "hard"] and history["total_steps"] == 5
    assert [p["step"] for p in history["points"]] == [1, 2, 3, 4, 5]
    for point, answer in zip(history["points"], answers, strict=True):
        assert point["q"] == answer["q"] and point["probabilities"] == answer["probabilities"]
        assert point["rewards"] == answer["arm_rewards"] and point["counts"] == {"easy": 1}
    since = client.get(f"/v1/runs/{rid}/history", params={"since_step": 3}).json()
    assert [p["step"] for p in since["points"]] == [4, 5]
    thin = client.get(f"/v1/runs/{rid}/history", params={"max_points": 2}).json()
    # stride ceil(5 / 2) = 3: step 3, and the last step 5
    assert [p["step"] for p in thin["points"]] == [3, 5]


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in [
        "/v1/runs",
        "/v1/runs/{run_id}",
        "/v1/runs/{run_id}/sample",
        "/v1/runs/{run_id}/report",
        "/v1/runs/{run_id}/history",
    ]:
        assert path in paths
        for operation in paths[path].values():  # the error answers each route may give
            assert {"404", "409", "422", "500", "503"} <= set(operation["responses"])
            assert "storage_error" in operation["responses"]["500"]["description"]
