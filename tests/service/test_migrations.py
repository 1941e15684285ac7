"""Migrations are code, checked: head matches the models; a stale schema is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from service.api import create_app
from service.db.schema import SchemaError, alembic_config, head_revision
from service.settings import Settings


def test_upgrade_head_leaves_nothing_for_autogenerate(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    command.check(config)  # raises if the models and the migrated schema differ


def test_downgrade_upgrade_round_trip(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert {"runs", "arms", "samples", "reports"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_empty_database_is_created_on_first_start(sqlite_url: str) -> None:
    create_app(Settings(database_url=sqlite_url))
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT version_num FROM alembic_version")
        ).scalar() == head_revision(sqlite_url)
    engine.dispose()


def test_stale_schema_is_refused_with_the_fix(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    engine.dispose()
    with pytest.raises(SchemaError, match="zpd migrate"):
        create_app(Settings(database_url=database_url))


def test_empty_database_without_auto_migrate_is_refused(sqlite_url: str) -> None:
    with pytest.raises(SchemaError, match="empty.*zpd migrate"):
        create_app(Settings(database_url=sqlite_url, auto_migrate=False))


def test_zpd_serve_refuses_a_stale_schema_and_zpd_migrate_fixes_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    env = {"ZPD_DATABASE_URL": url, "ZPD_AUTO_MIGRATE": "false", "PATH": ""}
    serve = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 2
    assert "zpd migrate" in serve.stderr
    migrate = subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    create_app(Settings(database_url=url, auto_migrate=False))  # no longer refused


def test_a_database_at_0001_is_refused_then_upgraded_with_its_runs(database_url: str) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Settings(database_url=database_url)))
    rid = client.post("/v1/runs", json={"name": "old", "arms": [{"name": "a"}]}).json()["run_id"]
    command.downgrade(alembic_config(database_url), "0001")  # as written by version 0.1
    with pytest.raises(SchemaError, match="at revision 0001.*zpd migrate"):
        create_app(Settings(database_url=database_url))
    command.upgrade(alembic_config(database_url), "head")
    upgraded = TestClient(create_app(Settings(database_url=database_url)))
    assert upgraded.get(f"/v1/runs/{rid}").json()["name"] == "old"  # now in tenant "default"
