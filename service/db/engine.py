"""Engine creation: SQLite (embedded default) and PostgreSQL, with their lock disciplines.

Concurrent writers to one run must serialise. On PostgreSQL the domain layer takes a row
lock (``SELECT ... FOR UPDATE``) on the run; on SQLite every write transaction starts
with ``BEGIN IMMEDIATE``, which takes the database's write lock up front, so two
read-modify-write transactions can never interleave. The domain layer asks for both in one
call, :func:`service.domain.locking.locked_run`.

A pooled PostgreSQL connection is checked (``SELECT 1``) before use only when it has sat
idle for :data:`IDLE_PING_SECONDS` or more: a connection in steady use is known to be
alive, and a ping per checkout was a round trip on every request. A server restart under
load may then fail one request per pooled connection with a 503 (``unavailable``), after
which the pool is rebuilt; idle connections are still checked before use.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from service.settings import Settings

WRITE_OPTION = "zpd_write"
# a pooled PostgreSQL connection idle this long is pinged before it is used again
IDLE_PING_SECONDS = 1.0


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
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )
    _install_idle_ping(engine, IDLE_PING_SECONDS)
    return engine


def _install_idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before use if it sat idle ``idle_seconds`` or more; a dead
    one is replaced (SQLAlchemy's pessimistic disconnect handling, for idle connections)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["zpd_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("zpd_idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()  # leave no transaction open (autocommit needs none)
        except Exception as exc:  # any driver error: this connection is not usable
            raise DisconnectionError("a pooled connection did not answer a ping") from exc


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
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # Database.single_read: one statement, no transaction around it
        if options.get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
