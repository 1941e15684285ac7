"""Reading and locking a run: the locking rules of the domain layer.

The rules:

1. **Every change to a run happens inside** :func:`locked_run`. It opens a write
   transaction and loads the run under its lock in one call: on SQLite the transaction
   starts with ``BEGIN IMMEDIATE`` (the database's write lock, taken up front); on
   PostgreSQL the run's row is read with ``SELECT ... FOR UPDATE``. The lock is held
   until the ``with`` block ends, which commits (or rolls back on any error). One call
   does both, so the SQLite flag and the PostgreSQL lock can never disagree.
2. This covers every row that belongs to a run: the run and its arms, its samples,
   reports and ``problem_stats``. Concurrent writers to one run therefore serialise, and
   the run ends in the state of a sequential replay of the writes in commit order.
   Writers to different runs do not wait for each other on PostgreSQL; on SQLite every
   writer waits for the one database write lock.
3. **Reads use** :func:`read_run`: a plain transaction without a lock, which sees the
   state of committed writes only (never half a report).
4. Creating a run needs no lock (nobody else knows its id yet); it still uses a write
   transaction. Nothing else may take a run's lock: a second lock order could deadlock.

A run of another tenant is not found (404), exactly like a run that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from service.db.models import Run
from service.db.transaction import Database
from service.errors import NotFound


def _load_run(session: Session, run_id: str, tenant: str | None, lock: bool) -> Run:
    query = select(Run).where(Run.id == run_id).options(selectinload(Run.arms))
    if tenant is not None:
        query = query.where(Run.tenant == tenant)
    if lock:
        query = query.with_for_update(of=Run)
    run = session.scalars(query).one_or_none()
    if run is None:
        raise NotFound(f"run {run_id!r} does not exist", {"run_id": run_id})
    return run


@contextmanager
def locked_run(
    db: Database, run_id: str, *, tenant: str | None = None
) -> Iterator[tuple[Session, Run]]:
    """A write transaction holding ``run_id``'s lock, and the run with its arms.

    Args:
        tenant: only a run of this tenant is found (None: any tenant, for operators).

    Yields:
        The session (commits when the block ends without an error) and the locked run.

    Raises:
        NotFound: no run has this id (for this tenant); nothing was written.
        Unavailable: the database is unreachable; nothing was written.
    """
    with db.transaction(write=True) as session:
        yield session, _load_run(session, run_id, tenant, lock=True)


@contextmanager
def read_run(
    db: Database, run_id: str, *, tenant: str | None = None
) -> Iterator[tuple[Session, Run]]:
    """A read transaction (no lock) and the run with its arms.

    Raises:
        NotFound: no run has this id (for this tenant).
    """
    with db.transaction() as session:
        yield session, _load_run(session, run_id, tenant, lock=False)
