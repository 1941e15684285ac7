"""Engine creation: SQLite (embedded default) and PostgreSQL, with their lock disciplines.

Concurrent writers to one run must serialise. On PostgreSQL the domain layer takes a row
lock (``SELECT ... FOR UPDATE``) on the run; on SQLite every write transaction starts
with ``BEGIN IMMEDIATE``, which takes the database's write lock up front, so two
read-modify-write transactions can never interleave. The domain layer asks for both in one
call, :func:`service.domain.locking.locked_run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from service.settings import Settings

WRITE_OPTION = "zpd_write"


def _json_dumps(value: Any) -> str:
    # JSON columns hold whole reports (256 x 8 floats); orjson writes them ~10x faster.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _prepare_sqlite_path(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings.database_url`` with the pragmas and pool we rely on."""
    url = settings.database_url
    if settings.is_sqlite:
        _prepare_sqlite_path(url)
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"timeout": 60, "check_same_thread": False},
        )
        _install_sqlite_hooks(engine, settings.sqlite_synchronous)
        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )


def _install_sqlite_hooks(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
