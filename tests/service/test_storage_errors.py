"""Real driver errors reach the client as named errors in the JSON body, and change nothing.

Both tests make PostgreSQL itself fail a request, with no stand-in for the database:

* a connection killed with ``pg_terminate_backend`` while the request waits for the run's
  row lock: 503 ``unavailable`` with ``Retry-After`` (the database may come back);
* a trigger that raises on ``INSERT INTO reports``: the driver's ``RaiseException``
  (SQLSTATE P0001, the default of PL/pgSQL's ``RAISE EXCEPTION``; psycopg makes it a
  ``ProgrammingError``) is not about reachability, so it is a 500 ``storage_error`` naming the driver's error, not a bare
  ``internal``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from service.api import create_app
from service.settings import Settings

pytestmark = pytest.mark.postgres

ARMS = {"name": "r", "arms": [{"name": "easy", "size": 10}, {"name": "hard", "size": 10}]}


@pytest.fixture
def client(postgres_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=postgres_url))) as test_client:
        yield test_client


@pytest.fixture
def admin(postgres_url: str) -> Iterator[Engine]:
    """A second, independent connection pool to the test's database."""
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def _waiting_backend(admin: Engine, own_pid: int, timeout: float = 10.0) -> int:
    """The pid of the backend blocked on a lock in this database (not ``own_pid``)."""
    deadline = time.monotonic() + timeout
    with admin.connect() as conn:
        while time.monotonic() < deadline:
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> :own"
                ),
                {"own": own_pid},
            ).scalar()
            if pid is not None:
                return int(pid)
            time.sleep(0.05)
    raise AssertionError("no request blocked on the run's row lock")


def test_a_connection_killed_mid_request_is_a_503_and_nothing_applied(
    client: TestClient, admin: Engine
) -> None:
    rid = client.post("/v1/runs", json=ARMS).json()["run_id"]
    assert client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 4}).status_code == 200
    with admin.connect() as holder, ThreadPoolExecutor(1) as pool:
        holder.execute(text("SELECT id FROM runs WHERE id = :rid FOR UPDATE"), {"rid": rid})
        own_pid = int(holder.execute(text("SELECT pg_backend_pid()")).scalar_one())
        pending = pool.submit(
            client.post, f"/v1/runs/{rid}/sample", json={"batch_size": 4, "sample_id": "s2"}
        )
        victim = _waiting_backend(admin, own_pid)
        with admin.connect() as killer:
            assert killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": victim}).scalar()
        response: httpx.Response = pending.result(timeout=30)
        holder.rollback()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "nothing was applied" in error["message"]
    assert int(response.headers["Retry-After"]) >= 1
    # nothing of the killed request was stored, and the service carries on
    assert client.get(f"/v1/runs/{rid}").json()["samples"] == 1
    retried = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 4, "sample_id": "s2"})
    assert retried.status_code == 200
    assert client.get(f"/v1/runs/{rid}").json()["samples"] == 2


def test_a_driver_error_is_a_500_storage_error_and_nothing_applied(
    client: TestClient, admin: Engine
) -> None:
    rid = client.post("/v1/runs", json=ARMS).json()["run_id"]
    batch = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 2}).json()
    body = {
        "report_id": "step-1",
        "sample_id": batch["sample_id"],
        "results": [{**item, "rewards": [1, 0, 1, 1]} for item in batch["items"]],
    }
    with admin.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_reports() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'reports are refused by this test'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON reports "
                "FOR EACH ROW EXECUTE FUNCTION refuse_reports()"
            )
        )
    response = client.post(f"/v1/runs/{rid}/report", json=body)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "storage_error",
            "message": "the database refused the operation; nothing was applied",
            "detail": {
                "error": "ProgrammingError",  # psycopg files class P0 under it
                "driver_error": "RaiseException",
                "sqlstate": "P0001",
            },
        }
    }
    run = client.get(f"/v1/runs/{rid}").json()
    assert run["step"] == 0
    assert [arm["times_reported"] for arm in run["arms"]] == [0, 0]
    assert run["samples_pending"] == 1  # the sample was not marked reported either
    with admin.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse ON reports"))
    applied = client.post(f"/v1/runs/{rid}/report", json=body)
    assert applied.status_code == 200
    assert "Idempotent-Replayed" not in applied.headers  # the first try left no report
    assert client.get(f"/v1/runs/{rid}").json()["step"] == 1
