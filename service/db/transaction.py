"""The one transaction helper every storage operation goes through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from service.db.engine import WRITE_OPTION
from service.errors import Conflict, Unavailable, ZPDError


class Database:
    """Owns the engine; hands out sessions wrapped in :meth:`transaction`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error.

        Args:
            write: take the write lock up front (``BEGIN IMMEDIATE`` on SQLite). Needed
                for read-modify-write work; PostgreSQL callers lock rows explicitly.

        Raises:
            Unavailable: the database could not be reached or timed out (nothing applied).
            Conflict: a uniqueness constraint fired (a concurrent duplicate).
            ZPDError: whatever the work raised, after rollback.
        """
        bind = self._write_engine if write else self.engine
        try:
            with Session(bind, expire_on_commit=False, autoflush=False) as session, session.begin():
                yield session
        except ZPDError:
            raise
        except IntegrityError as exc:
            raise Conflict("the request conflicts with stored state", str(exc.orig)) from exc
        except (OperationalError, PoolTimeout) as exc:
            raise Unavailable("the database is unavailable; nothing was applied") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable("the database connection was lost; nothing was applied") from exc
            raise
        except SQLAlchemyError:
            raise

    def dispose(self) -> None:
        self.engine.dispose()
