"""With API keys, a read-only key opens its own tenant's dashboard and nothing else."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service import auth
from service.api import create_app
from service.settings import Settings


def test_read_only_key_sees_its_tenants_dashboard_only(sqlite_url: str) -> None:
    client = TestClient(create_app(Settings(database_url=sqlite_url)))
    db = client.app.state.db  # type: ignore[attr-defined]
    writer_a, _ = auth.create_key(db, "team-a")
    reader_a, _ = auth.create_key(db, "team-a", kind="read")
    reader_b, _ = auth.create_key(db, "team-b", kind="read")
    run = client.post(
        "/v1/runs",
        json={"name": "mine", "arms": [{"name": "x"}]},
        headers={"Authorization": f"Bearer {writer_a}"},
    ).json()
    page = f"/dashboard/runs/{run['run_id']}"

    denied = client.get(page)
    assert denied.status_code == 401 and "access_token" in denied.json()["error"]["message"]
    assert client.get(page, params={"access_token": reader_a}).status_code == 200
    assert client.get(page, params={"access_token": reader_b}).status_code == 404
    mine = client.get("/dashboard/api/runs", params={"access_token": reader_a}).json()["runs"]
    theirs = client.get("/dashboard/api/runs", params={"access_token": reader_b}).json()["runs"]
    assert [r["run_id"] for r in mine] == [run["run_id"]] and theirs == []
    events = client.get(f"/v1/runs/{run['run_id']}/events", params={"access_token": reader_b})
    assert events.status_code == 404
