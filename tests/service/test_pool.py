"""The PostgreSQL pool: an idle connection is checked before use, a busy one is not.

A connection the server has dropped (``pg_terminate_backend``, as a restart or an idle
timeout would) while it sat idle in the pool must be replaced before a request uses it;
a connection in steady use is not pinged (one round trip less per request).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from service.db import engine as engine_module
from service.db.engine import create_db_engine
from service.db.transaction import Database
from service.errors import Unavailable
from service.settings import Settings

pytestmark = pytest.mark.postgres


def backend_pid(db: Database) -> int:
    with db.transaction() as session:
        return int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


@contextmanager
def one_dropped_connection(url: str, idle_ping_seconds: float) -> Iterator[tuple[Database, int]]:
    """A one-connection pool (pinging after ``idle_ping_seconds`` idle) whose connection the
    server has just terminated, and that connection's backend pid."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "IDLE_PING_SECONDS", idle_ping_seconds)
        db = Database(create_db_engine(Settings(database_url=url, db_pool_size=1)))
    try:
        pid = backend_pid(db)
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        yield db, pid
    finally:
        db.dispose()


def test_a_dropped_idle_connection_is_replaced_before_use(postgres_url: str) -> None:
    with one_dropped_connection(postgres_url, idle_ping_seconds=0.2) as (db, first):
        time.sleep(0.3)  # idle past the ping threshold
        # no error: the dead connection failed its ping and a new one took its place
        assert backend_pid(db) != first
        with db.single_read() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_a_connection_in_steady_use_is_not_pinged(postgres_url: str) -> None:
    """The other side of the trade: a connection dropped while in steady use is found
    dead by the request that uses it (a 503, nothing applied), and the pool is rebuilt
    for the next one. With a ping per checkout the first request would have succeeded."""
    with one_dropped_connection(postgres_url, idle_ping_seconds=60.0) as (db, first):
        with pytest.raises(Unavailable):
            backend_pid(db)
        assert backend_pid(db) != first
