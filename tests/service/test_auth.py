"""Tenants and API keys: a key sees and changes only its tenant's runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service import auth
from service.api import create_app
from service.settings import Settings
from tests.conftest import free_port, zpd

RUN = {"name": "r", "arms": [{"name": "a", "size": 3}, {"name": "b"}], "seed": 1}
REPORT = {"results": [{"arm": "a", "rewards": [1, 0]}]}


@pytest.fixture
def app_client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_open_until_the_first_key_exists(app_client: TestClient) -> None:
    assert app_client.post("/v1/runs", json=RUN).status_code == 201
    auth.create_key(app_client.app.state.db, "team-a")  # type: ignore[attr-defined]
    response = app_client.get("/v1/runs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "Bearer" in response.json()["error"]["message"]
    assert app_client.get("/v1/runs", headers=bearer("zpd_wrong")).status_code == 401


def test_tenants_are_isolated_and_read_keys_cannot_write(app_client: TestClient) -> None:
    db = app_client.app.state.db  # type: ignore[attr-defined]
    key_a, _ = auth.create_key(db, "team-a")
    key_b, _ = auth.create_key(db, "team-b")
    read_a, _ = auth.create_key(db, "team-a", kind="read")
    run = app_client.post("/v1/runs", json=RUN, headers=bearer(key_a)).json()
    rid = run["run_id"]
    assert (
        app_client.post(f"/v1/runs/{rid}/report", json=REPORT, headers=bearer(key_a)).status_code
        == 200
    )

    # team-b: the run does not exist for them (404, not 403), and their list is empty
    for method, path, body in [
        ("get", f"/v1/runs/{rid}", None),
        ("get", f"/v1/runs/{rid}/history", None),
        ("post", f"/v1/runs/{rid}/sample", {"batch_size": 2}),
        ("post", f"/v1/runs/{rid}/report", REPORT),
    ]:
        response = app_client.request(method, path, json=body, headers=bearer(key_b))
        assert response.status_code == 404, (method, path, response.text)
    assert app_client.get("/v1/runs", headers=bearer(key_b)).json()["runs"] == []

    # team-a's read-only key: reads, never writes
    before = app_client.get(f"/v1/runs/{rid}", headers=bearer(read_a)).json()
    assert before["step"] == 1
    assert [
        r["run_id"] for r in app_client.get("/v1/runs", headers=bearer(read_a)).json()["runs"]
    ] == [rid]
    for path, body in [
        (f"/v1/runs/{rid}/sample", {"batch_size": 2}),
        (f"/v1/runs/{rid}/report", REPORT),
        ("/v1/runs", RUN),
    ]:
        response = app_client.post(path, json=body, headers=bearer(read_a))
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert app_client.get(f"/v1/runs/{rid}", headers=bearer(key_a)).json() == before
    assert len(app_client.get("/v1/runs", headers=bearer(key_a)).json()["runs"]) == 1

    # GET also takes ?access_token= (a browser EventSource cannot send headers)
    assert app_client.get(f"/v1/runs/{rid}", params={"access_token": read_a}).status_code == 200


def test_revoked_key_is_refused_and_keys_are_stored_hashed(
    app_client: TestClient, database_url: str
) -> None:
    db = app_client.app.state.db  # type: ignore[attr-defined]
    key, info = auth.create_key(db, "team-a", name="ci")
    assert app_client.get("/v1/runs", headers=bearer(key)).status_code == 200
    auth.revoke_key(db, info.key_id)
    assert app_client.get("/v1/runs", headers=bearer(key)).status_code == 401
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM api_keys")).scalars().all()
    engine.dispose()
    assert key not in stored and auth.hash_key(key) in stored


def test_keys_cli_create_list_revoke(sqlite_url: str) -> None:
    created = zpd(
        "keys", "create", "--tenant", "lab", "--read-only", "--name", "grafana", url=sqlite_url
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("zpd_")
    key_id = created.stdout.split("key ", 1)[1].split()[0]
    listed = zpd("keys", "list", url=sqlite_url).stdout
    assert key_id in listed and "lab" in listed and "read" in listed and key not in listed
    assert zpd("keys", "revoke", key_id, url=sqlite_url).returncode == 0
    assert "revoked" in zpd("keys", "list", url=sqlite_url).stdout
    missing = zpd("keys", "revoke", "nope", url=sqlite_url)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_serve_refuses_an_open_non_loopback_address(sqlite_url: str, tmp_path: Path) -> None:
    refused = zpd("serve", "--host", "0.0.0.0", "--port", str(free_port()), url=sqlite_url)
    assert refused.returncode == 2 and "--allow-open" in refused.stderr
    assert "zpd keys create" in refused.stderr
