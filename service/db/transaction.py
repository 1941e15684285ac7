"""The one transaction helper every storage operation goes through.

It commits on success and rolls back on any error, and no SQLAlchemy or driver error
leaves it: each becomes a :class:`~service.errors.ZPDError` that the app's one handler
answers as JSON (``{"error": {"code", "message", "detail"}}``):

=====================================================  ====  ==================
raised inside the transaction (or by its commit)       HTTP  ``error.code``
=====================================================  ====  ==================
a :class:`~service.errors.ZPDError` (the domain's)     its   its own
``IntegrityError`` (a concurrent duplicate)            409   ``conflict``
``OperationalError``, pool timeout, lost connection    503   ``unavailable``
any other driver error (``DBAPIError``)                500   ``storage_error``
any other ``SQLAlchemyError``                          500   ``storage_error``
=====================================================  ====  ==================

A 503 carries ``Retry-After``: the database may come back. A ``storage_error`` is logged
with its traceback; the answer names the driver's error class (and the SQLSTATE when the
driver gives one), never the SQL or its parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from service.db.engine import WRITE_OPTION
from service.db.run_states import RunStates
from service.errors import Conflict, StorageError, Unavailable, ZPDError

log = logging.getLogger("zpd.db")


class Database:
    """Owns the engine; hands out sessions wrapped in :meth:`transaction`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        # the runs this process wrote last (service.domain.locking.locked_run)
        self.run_states = RunStates()

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error.

        Args:
            write: take the write lock up front (``BEGIN IMMEDIATE`` on SQLite). Needed
                for read-modify-write work; PostgreSQL callers lock rows explicitly. Work
                on a run goes through :func:`service.domain.locking.locked_run`, which
                does both.

        Raises:
            Unavailable: the database could not be reached or timed out (nothing applied).
            Conflict: a uniqueness constraint fired (a concurrent duplicate).
            StorageError: any other driver or SQLAlchemy error (nothing applied).
            ZPDError: whatever the work raised, after rollback.
        """
        bind = self._write_engine if write else self.engine
        with (
            _translated(),
            Session(bind, expire_on_commit=False, autoflush=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def single_read(self) -> Iterator[Connection]:
        """A connection for one read statement, outside any transaction (autocommit): no
        ``BEGIN`` and no ``COMMIT`` around it. For a per-request lookup (the API key) whose
        one statement sees committed data either way. Errors as :meth:`transaction`."""
        with _translated(), self._autocommit_engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    """No SQLAlchemy or driver error leaves this block: each becomes a ``ZPDError``."""
    try:
        yield
    except ZPDError:
        raise
    except IntegrityError as exc:
        raise Conflict("the request conflicts with stored state", str(exc.orig)) from exc
    except (OperationalError, PoolTimeout) as exc:
        raise Unavailable("the database is unavailable; nothing was applied") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the database connection was lost; nothing was applied") from exc
        raise _storage_error("the database refused the operation", exc) from exc
    except SQLAlchemyError as exc:
        raise _storage_error("a storage operation failed", exc) from exc


def _storage_error(what: str, exc: SQLAlchemyError) -> StorageError:
    """The 500 for ``exc``, logged here with the traceback (the answer holds less)."""
    log.error("%s (a 500 storage_error)", what, exc_info=exc)
    return StorageError(f"{what}; nothing was applied", _describe(exc))


def _describe(exc: SQLAlchemyError) -> dict[str, str]:
    """What a client may see of a storage error: its class names and SQLSTATE, no SQL."""
    detail = {"error": type(exc).__name__}
    orig = getattr(exc, "orig", None)
    if orig is not None:
        detail["driver_error"] = type(orig).__name__
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if sqlstate:
            detail["sqlstate"] = str(sqlstate)
    return detail
