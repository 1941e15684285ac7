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

**Cached run state.** Each process keeps the run and arm rows of the runs it wrote last
(:class:`~service.db.run_states.RunStates`, on the
:class:`~service.db.transaction.Database`), under the run's
``generation``: every locked write stores a new random generation with its changes. With a
copy in hand, :func:`locked_run` takes the lock by reading the generation alone, and uses
the copy only if it is the stored one; otherwise (another replica or process wrote, the
copy is missing) it reads the rows as before. The database stays the only truth: a copy
is a shortcut past two reads, never a source of state. A change made behind the service's
back (SQL by hand) must set a new ``generation`` too, or be followed by a restart.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session, class_mapper, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from service.db.models import Arm, Run, table_of
from service.db.run_states import RunState, RunStates
from service.db.transaction import Database
from service.errors import NotFound

T = TypeVar("T")

_RUNS = table_of(Run)
_ARMS = table_of(Arm)


def _with_tenant(statement: Select[Any]) -> tuple[Select[Any], Select[Any]]:
    return statement, statement.where(_RUNS.c.tenant == bindparam("b_tenant"))


_RUN_COLUMNS = tuple(c.key for c in _RUNS.columns)
_ARM_COLUMNS = tuple(c.key for c in _ARMS.columns)
# the arm columns a write may change (id, run_id, position, name, size and tags never do)
_ARM_STATE = (
    "times_sampled",
    "times_reported",
    "last_reward",
    "outcome_sum",
    "outcome_count",
    "cursor",
    "members",
)
_ARM_STATE_AT = tuple(_ARM_COLUMNS.index(name) for name in _ARM_STATE)
_ARM_BIND_AT = tuple((f"b_{name}", _ARM_COLUMNS.index(name)) for name in _ARM_STATE)
_ARM_ID_AT = _ARM_COLUMNS.index("id")
# each run read twice over: any tenant (operators), and one tenant's (the API)
_SELECT_RUN = _with_tenant(select(_RUNS).where(_RUNS.c.id == bindparam("b_id")).with_for_update())
_LOCK_GENERATION = _with_tenant(
    select(_RUNS.c.generation).where(_RUNS.c.id == bindparam("b_id")).with_for_update()
)
_SELECT_ARMS = (
    select(_ARMS).where(_ARMS.c.run_id == bindparam("b_run_id")).order_by(_ARMS.c.position)
)
_UPDATE_ARM = (
    update(_ARMS)
    .where(_ARMS.c.id == bindparam("arm_id"))
    .values({name: bindparam(f"b_{name}") for name in _ARM_STATE})
)


class LockedRun:
    """A run under its lock, as a detached :class:`Run` with its arms.

    The rows come from ``states`` when its copy has the stored generation (one statement
    reads the generation and takes the lock), else from two plain Core statements; either
    way they become ``Run``/``Arm`` objects that no session tracks: the callers change
    their attributes as before, and :meth:`write_back` stores what changed, with a new
    generation, in one ``UPDATE`` of the run and one executemany ``UPDATE`` of the changed
    arms, instead of the ORM's identity map and unit of work (an ``UPDATE`` per arm on
    every flush). :attr:`committed` is then the state to cache once the commit succeeds.
    """

    def __init__(
        self, session: Session, run_id: str, tenant: str | None, states: RunStates | None = None
    ) -> None:
        connection = session.connection()
        state = None
        if states is not None and states.get(run_id) is not None:
            generation = _one_run(connection, _LOCK_GENERATION, run_id, tenant)[0]
            # read again under the lock: a writer that committed before us may have cached
            cached = states.get(run_id)
            if cached is not None and cached.generation == generation:
                state = cached
        if state is None:
            row = _one_run(connection, _SELECT_RUN, run_id, tenant)
            arm_rows = connection.execute(_SELECT_ARMS, {"b_run_id": run_id}).all()
            state = RunState(run=tuple(row), arms=tuple(tuple(r) for r in arm_rows))
        self._before = state
        self.run = _detached(Run, _RUN_COLUMNS, state.run)
        arms = [_detached(Arm, _ARM_COLUMNS, r) for r in state.arms]
        set_committed_value(self.run, "arms", arms)
        self.committed: RunState | None = None

    def write_back(self, session: Session) -> None:
        """Store the run's and its arms' changed columns under a new generation."""
        connection = session.connection()
        run = self.run
        run.generation = secrets.randbits(63)
        run_now = tuple(getattr(run, name) for name in _RUN_COLUMNS)
        changed: dict[str, Any] = {
            name: now
            for name, now, before in zip(_RUN_COLUMNS, run_now, self._before.run, strict=True)
            if not _same(now, before)
        }
        connection.execute(update(_RUNS).where(_RUNS.c.id == run.id).values(changed))
        arms_now = tuple(tuple(getattr(arm, name) for name in _ARM_COLUMNS) for arm in run.arms)
        params = [
            {"arm_id": now[_ARM_ID_AT], **{bind: now[i] for bind, i in _ARM_BIND_AT}}
            for now, before in zip(arms_now, self._before.arms, strict=True)
            if not all(_same(now[i], before[i]) for i in _ARM_STATE_AT)
        ]
        if params:
            connection.execute(_UPDATE_ARM, params)
        self.committed = RunState(run=run_now, arms=arms_now)


def _one_run(
    connection: Any, statements: tuple[Select[Any], Select[Any]], run_id: str, tenant: str | None
) -> Any:
    """The run's row read (locked) by ``statements``: of any tenant, or of ``tenant``.

    Raises:
        NotFound: no such run (for this tenant).
    """
    any_tenant, one_tenant = statements
    if tenant is None:
        row = connection.execute(any_tenant, {"b_id": run_id}).one_or_none()
    else:
        row = connection.execute(one_tenant, {"b_id": run_id, "b_tenant": tenant}).one_or_none()
    if row is None:
        raise NotFound(f"run {run_id!r} does not exist", {"run_id": run_id})
    return row


def _detached(cls: type[T], columns: tuple[str, ...], values: tuple[Any, ...]) -> T:
    """An instance of a mapped class holding ``values``, as the ORM's loader fills one
    (straight into its ``__dict__``, no events), but in no session."""
    instance: T = class_mapper(cls).class_manager.new_instance()
    instance.__dict__.update(zip(columns, values, strict=True))
    return instance


def _same(now: Any, before: Any) -> bool:
    # identity first: JSON columns are replaced, never changed in place
    return now is before or (type(now) is type(before) and now == before)


def _load_run(session: Session, run_id: str, tenant: str | None) -> Run:
    query = select(Run).where(Run.id == run_id).options(selectinload(Run.arms))
    if tenant is not None:
        query = query.where(Run.tenant == tenant)
    run = session.scalars(query).one_or_none()
    if run is None:
        raise NotFound(f"run {run_id!r} does not exist", {"run_id": run_id})
    return run


@contextmanager
def locked_run(
    db: Database, run_id: str, *, tenant: str | None = None
) -> Iterator[tuple[Session, Run]]:
    """A write transaction holding ``run_id``'s lock, and the run with its arms.

    The run is not tracked by the session (see :class:`LockedRun`): change its and its
    arms' attributes; what changed is written when the block ends, before the commit.
    Other rows (samples, reports, ``problem_stats``) go through ``session`` as usual.

    Args:
        tenant: only a run of this tenant is found (None: any tenant, for operators).

    Yields:
        The session (commits when the block ends without an error) and the locked run.

    Raises:
        NotFound: no run has this id (for this tenant); nothing was written.
        Unavailable: the database is unreachable; nothing was written.
    """
    states = db.run_states
    with db.transaction(write=True) as session:
        locked = LockedRun(session, run_id, tenant, states)
        yield session, locked.run
        locked.write_back(session)
    # committed: this state is the stored one under its generation
    if locked.committed is not None:
        states.put(run_id, locked.committed)


@contextmanager
def read_run(
    db: Database, run_id: str, *, tenant: str | None = None
) -> Iterator[tuple[Session, Run]]:
    """A read transaction (no lock) and the run with its arms.

    Raises:
        NotFound: no run has this id (for this tenant).
    """
    with db.transaction() as session:
        yield session, _load_run(session, run_id, tenant)
