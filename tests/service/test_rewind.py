"""Rewind for exact resume: a run rewound to step N and continued ends where a run with
the same seed that never went past N ends.

The expected state comes from a second run on the same service that is driven through
the live ``/sample`` and ``/report`` path only (it is never rewound), so the replay inside
the rewind is checked against the code path it must reproduce, not against itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.db.transaction import Database
from service.domain.replay import replay_run
from service.settings import Settings

ARMS = [{"name": n, "size": s} for n, s in (("easy", 7), ("mid", 9), ("hard", 5))]
MODES: dict[str, dict[str, Any]] = {
    "sec": {"strategy": {"name": "sec"}},
    "exp3": {"strategy": {"name": "exp3"}},
    "sec_frontier": {"strategy": {"name": "sec"}, "problems": {"selection": "frontier"}},
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as test_client:
        yield test_client


def create(client: TestClient, mode: str) -> str:
    body = {"name": mode, "seed": 11, "arms": ARMS, **MODES[mode]}
    answer = client.post("/v1/runs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["run_id"])


def rewards(item: dict[str, Any], step: int) -> list[float]:
    """A deterministic learner: easy arms get solved, hard ones less, drifting with steps."""
    base = {"easy": 3, "mid": 2, "hard": 1}[item["arm"]]
    return [float((base + item["index"] + step + k) % 4 == 0) for k in range(4)]


def train(client: TestClient, rid: str, steps: range, ids: str = "") -> list[list[Any]]:
    """Sample, reward and report for ``steps``; the batches drawn, as (arm, index) lists."""
    drawn = []
    for step in steps:
        batch = client.post(
            f"/v1/runs/{rid}/sample", json={"batch_size": 6, "sample_id": f"s{ids}{step}"}
        ).json()
        drawn.append([(i["arm"], i["index"]) for i in batch["items"]])
        results = [
            {"arm": i["arm"], "index": i["index"], "rewards": rewards(i, step)}
            for i in batch["items"]
        ]
        answer = client.post(
            f"/v1/runs/{rid}/report",
            json={
                "report_id": f"r{ids}{step}",
                "sample_id": batch["sample_id"],
                "results": results,
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["step"] == step + 1
        assert "Idempotent-Replayed" not in answer.headers
    return drawn


def state(client: TestClient, rid: str) -> dict[str, Any]:
    run = client.get(f"/v1/runs/{rid}").json()
    for key in ("run_id", "name", "created_at", "updated_at"):
        run.pop(key)
    points = client.get(f"/v1/runs/{rid}/history").json()["points"]
    run["history"] = [
        {k: v for k, v in p.items() if k not in ("created_at", "report_id")} for p in points
    ]
    return run


@pytest.mark.parametrize("mode", sorted(MODES))
def test_rewound_run_continues_like_an_uninterrupted_one(client: TestClient, mode: str) -> None:
    uninterrupted, resumed = create(client, mode), create(client, mode)
    expected = train(client, uninterrupted, range(12))
    before = train(client, resumed, range(9))
    # the crashed trainer had drawn its next batch too
    client.post(f"/v1/runs/{resumed}/sample", json={"batch_size": 6, "sample_id": "s9"})
    answer = client.post(f"/v1/runs/{resumed}/rewind", json={"step": 5})
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"rewind_id": 0, "run_id": ""} == {
        "run_id": "",
        "rewind_id": 0,
        "step": 5,
        "samples": 5,
        "from_step": 9,
        "from_samples": 10,
        "reports_set_aside": 4,
        "samples_set_aside": 5,
    }
    # the same report and sample ids again: new steps, applied anew
    after = train(client, resumed, range(5, 12))
    assert before[:5] + after == expected
    assert state(client, resumed) == state(client, uninterrupted)
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    assert replay_run(db, resumed).matches


def test_rewinds_list_what_was_set_aside(client: TestClient) -> None:
    rid = create(client, "sec")
    train(client, rid, range(4))
    client.post(f"/v1/runs/{rid}/rewind", json={"step": 2})
    listed = client.get(f"/v1/runs/{rid}/rewinds").json()["rewinds"]
    assert len(listed) == 1
    record = listed[0]
    assert (record["from_step"], record["to_step"]) == (4, 2)
    assert (record["from_samples"], record["to_samples"]) == (4, 2)
    assert [(r["step"], r["report_id"]) for r in record["reports"]] == [(3, "r2"), (4, "r3")]
    assert record["sample_ids"] == ["s2", "s3"]
    assert client.get(f"/v1/runs/{rid}/history").json()["total_steps"] == 2


def test_rewind_to_the_current_step_is_a_no_op(client: TestClient) -> None:
    rid = create(client, "sec")
    train(client, rid, range(3))
    before = state(client, rid)
    answer = client.post(f"/v1/runs/{rid}/rewind", json={"step": 3})
    assert answer.status_code == 200
    assert answer.json()["rewind_id"] is None
    assert (answer.json()["step"], answer.json()["samples"]) == (3, 3)
    assert state(client, rid) == before
    assert client.get(f"/v1/runs/{rid}/rewinds").json()["rewinds"] == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"step": 4}, 422, "invalid_request"),
        ({"step": -1}, 422, "invalid_request"),
        ({"step": "1"}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
    ],
)
def test_bad_rewinds_are_refused_and_change_nothing(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    rid = create(client, "sec")
    train(client, rid, range(3))
    before = state(client, rid)
    answer = client.post(f"/v1/runs/{rid}/rewind", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert state(client, rid) == before


def test_rewind_of_an_unknown_run_or_automatic_arms(client: TestClient) -> None:
    assert client.post("/v1/runs/nope/rewind", json={"step": 0}).status_code == 404
    auto = client.post("/v1/runs", json={"name": "a", "seed": 1, "auto_arms": {"size": 10}})
    rid = auto.json()["run_id"]
    batch = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 2}).json()
    answer = client.post(f"/v1/runs/{rid}/rewind", json={"step": 0})
    assert answer.status_code == 409
    assert "automatic arms" in answer.json()["error"]["message"]
    assert client.get(f"/v1/runs/{rid}").json()["samples"] == 1
    assert batch["items"]


def train_ahead(client: TestClient, rid: str, steps: range) -> list[list[Any]]:
    """A prefetching trainer: the batch of step t+1 is drawn before step t is reported."""
    drawn = []

    def draw(step: int) -> dict[str, Any]:
        body = {"batch_size": 5, "sample_id": f"s{step}"}
        return dict(client.post(f"/v1/runs/{rid}/sample", json=body).json())

    ahead = draw(steps.start)
    for step in steps:
        batch, ahead = ahead, draw(step + 1)
        drawn.append([(i["arm"], i["index"]) for i in batch["items"]])
        results = [
            {"arm": i["arm"], "index": i["index"], "rewards": rewards(i, step)}
            for i in batch["items"]
        ]
        body = {"report_id": f"r{step}", "sample_id": batch["sample_id"], "results": results}
        assert client.post(f"/v1/runs/{rid}/report", json=body).status_code == 200
    return drawn


def test_a_prefetching_trainer_rewinds_with_its_sample_count(client: TestClient) -> None:
    uninterrupted, resumed = create(client, "sec_frontier"), create(client, "sec_frontier")
    expected = train_ahead(client, uninterrupted, range(10))
    before = train_ahead(client, resumed, range(7))
    # checkpoint after 4 reports, with the batch of step 5 drawn ahead (5 samples): that
    # one was drawn before report 4 and is kept; asked again by its id, it answers as drawn
    answer = client.post(f"/v1/runs/{resumed}/rewind", json={"step": 4, "samples": 5})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["samples"], answer.json()["samples_set_aside"]) == (5, 3)
    after = train_ahead(client, resumed, range(4, 10))
    assert before[:4] + after == expected
    assert state(client, resumed) == state(client, uninterrupted)


@pytest.mark.parametrize(
    ("samples", "message"), [(99, "has drawn 8"), (2, "report 3 \\(kept\\) answers sample 's2'")]
)
def test_bad_sample_counts_are_refused(client: TestClient, samples: int, message: str) -> None:
    rid = create(client, "sec")
    train_ahead(client, rid, range(7))
    before = state(client, rid)
    answer = client.post(f"/v1/runs/{rid}/rewind", json={"step": 4, "samples": samples})
    assert answer.status_code == 422
    assert re.search(message, answer.json()["error"]["message"])
    assert state(client, rid) == before
