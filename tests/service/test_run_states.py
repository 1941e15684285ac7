"""Run state cached in the process (``service.db.run_states``), checked by generation.

Each process keeps the run and arm rows it wrote last and uses them instead of reading
them again, but only while the stored ``generation`` is the one it cached. Two apps on one
database stand for two replicas: whichever writes, the other must notice and read again,
so alternating writes end exactly where one process doing the same calls ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

from service.api import create_app
from service.domain.clock import ManualClock
from service.settings import Settings

ARMS = [{"name": "a", "size": 30}, {"name": "b", "size": 20}, {"name": "c", "size": 7}]
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def apps(database_url: str, clock: ManualClock) -> Iterator[list[TestClient]]:
    """Two apps (replicas) and a third alone (the reference), one database."""
    clients = [
        TestClient(create_app(Settings(database_url=database_url), clock=clock)) for _ in range(3)
    ]
    for client in clients:
        client.__enter__()
    yield clients
    for client in clients:
        client.__exit__(None, None, None)


def new_run(client: TestClient) -> str:
    body = {"name": "r", "arms": ARMS, "strategy": {"name": "sec"}, "seed": 9}
    return str(client.post("/v1/runs", json=body).json()["run_id"])


def steps(clients: list[TestClient], rid: str, n: int) -> list[dict[str, Any]]:
    """``n`` /step calls on ``rid``, call k through ``clients[k % len(clients)]``."""
    answers: list[dict[str, Any]] = []
    for k in range(n):
        body: dict[str, Any] = {"sample": {"batch_size": 1 + k % 3, "sample_id": f"s{k}"}}
        if answers:
            drawn = answers[-1]["sample"]
            results = [
                {**item, "rewards": [1.0, float((k + i) % 2), 0.0, 1.0]}
                for i, item in enumerate(drawn["items"])
            ]
            body["report"] = {
                "report_id": f"r{k}",
                "sample_id": drawn["sample_id"],
                "results": results,
            }
        answer = clients[k % len(clients)].post(f"/v1/runs/{rid}/step", json=body)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    return answers


def comparable(answers: list[dict[str, Any]]) -> list[Any]:
    return [
        (
            a["report"] and (a["report"]["q"], a["report"]["probabilities"]),
            a["sample"]["probabilities"],
            [(i["arm"], i["index"]) for i in a["sample"]["items"]],
        )
        for a in answers
    ]


def run_state(client: TestClient, rid: str) -> list[Any]:
    run = client.get(f"/v1/runs/{rid}").json()
    return [run["step"], run["samples"]] + [
        (a["q"], a["times_sampled"], a["times_reported"]) for a in run["arms"]
    ]


def test_replicas_taking_turns_equal_one_process(apps: list[TestClient]) -> None:
    first, second, alone = apps
    shared, reference = new_run(first), new_run(alone)
    taking_turns = steps([first, second], shared, 12)
    one_process = steps([alone], reference, 12)
    assert comparable(taking_turns) == comparable(one_process)
    assert run_state(first, shared) == run_state(alone, reference)
    # the same replica twice in a row, after the other wrote: still the stored state
    more = steps([second, second, first], shared, 3)
    assert all(answer["sample"]["run_id"] == shared for answer in more)


def test_a_replica_writing_again_reads_no_run_rows(apps: list[TestClient]) -> None:
    client = apps[0]
    rid = new_run(client)
    app: FastAPI = client.app  # type: ignore[assignment]
    engine = app.state.db.engine
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        steps([client], rid, 1)  # first write through this app: reads the rows
        reads_first = [s for s in statements if s.startswith("select") and "from arms" in s]
        statements.clear()
        steps([client], rid, 1)  # its copy is current: the lock reads the generation only
        reads_next = [s for s in statements if s.startswith("select") and "from arms" in s]
        run_reads = [s for s in statements if s.startswith("select") and "from runs" in s]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert reads_first and not reads_next
    assert len(run_reads) == 1 and run_reads[0].startswith("select runs.generation")


def test_a_generation_changed_behind_the_service_is_noticed(
    apps: list[TestClient], database_url: str
) -> None:
    client = apps[0]
    rid = new_run(client)
    steps([client], rid, 2)
    # an operator edits the run by hand and sets a new generation, as the docs ask
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE runs SET name = 'renamed', seed = 10, generation = 7 WHERE id = :id"),
            {"id": rid},
        )
    engine.dispose()
    # the reference: a twin with the same history whose seed was 10 before its next draw
    twin = new_run(apps[2])
    steps([apps[2]], twin, 2)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE runs SET seed = 10, generation = 8 WHERE id = :id"), {"id": twin})
    engine.dispose()
    # the next draw uses the new seed, as the twin's does
    answer = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 3}).json()
    # drawn by an app that holds no copy of the twin: it reads the stored seed
    reference = apps[1].post(f"/v1/runs/{twin}/sample", json={"batch_size": 3}).json()
    assert [(i["arm"], i["index"]) for i in answer["items"]] == [
        (i["arm"], i["index"]) for i in reference["items"]
    ]


def test_samples_reopened_by_a_rewind_expire_at_the_next_write(
    apps: list[TestClient], clock: ManualClock, database_url: str
) -> None:
    client = apps[0]
    rid = new_run(client)
    s0 = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 1, "lease_seconds": 10}).json()
    results = [{**item, "rewards": [1.0, 0.0]} for item in s0["items"]]
    report = {"sample_id": s0["sample_id"], "results": results}
    assert client.post(f"/v1/runs/{rid}/report", json=report).status_code == 200
    clock.advance(15)
    # a write past s0's lease: nothing is overdue (s0 was reported), the next check is far
    client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 1, "lease_seconds": 3600})
    # going back to step 0 keeping sample 0 reopens s0, whose lease ran out long ago
    rewound = client.post(f"/v1/runs/{rid}/rewind", json={"step": 0, "samples": 1})
    assert rewound.status_code == 200, rewound.text
    clock.advance(1)
    client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 1})
    engine = create_engine(database_url)
    with engine.connect() as conn:
        expired_at = conn.execute(
            text("SELECT expired_at FROM samples WHERE run_id = :r AND sample_id = :s"),
            {"r": rid, "s": s0["sample_id"]},
        ).scalar_one()
        marked = conn.execute(
            text("SELECT samples_expired FROM runs WHERE id = :r"), {"r": rid}
        ).scalar_one()
    engine.dispose()
    assert expired_at is not None
    assert marked == 1
