"""Sample leases: a batch not reported in time is noticed and counted, not silently lost.

Every sample row gets ``lease_expires_at`` = its creation time + ``lease_seconds`` (the
request's, else ``ZPD_SAMPLE_LEASE_SECONDS``). A sample is

* *pending* while unreported and ``now <= lease_expires_at``;
* *expired* once unreported past its lease. Reads count overdue rows as expired without
  writing (:func:`lease_counts`); the next write to the run (sample or report, with the
  run locked) marks them for good (:func:`expire_leases`: ``expired_at`` set and
  ``runs.samples_expired`` incremented), so a sample is counted as expired once, never twice.

The run's ``lease_check_at`` is a time before which no open sample's lease ends: a new
sample lowers it to its own lease's end, a check that ran sets it to the earliest open
lease (reports leave it as it is, so it may be early, never late). Until it passes,
:func:`expire_leases` knows without a statement that nothing is overdue.

A late report of an expired sample is still applied as a training step. ``now`` is always
passed in by the caller (from the app's clock), so tests move time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from service import observability
from service.db.models import Run, Sample, table_of
from service.domain.clock import aware


@dataclass(frozen=True)
class LeaseCounts:
    """Samples of a run not reported yet, within and past their lease."""

    pending: int = 0
    expired: int = 0


def lease_counts(session: Session, run_ids: Sequence[str], now: datetime) -> dict[str, LeaseCounts]:
    """Pending and expired samples per run at ``now``; overdue samples not marked yet count
    as expired."""
    if not run_ids:
        return {}
    overdue = Sample.lease_expires_at < now
    rows = session.execute(
        select(
            Sample.run_id,
            func.count().filter(~overdue | Sample.lease_expires_at.is_(None)),
            func.count().filter(overdue),
        )
        .where(
            Sample.run_id.in_(run_ids),
            Sample.reported_at.is_(None),
            Sample.expired_at.is_(None),
        )
        .group_by(Sample.run_id)
    ).all()
    marked = dict(
        session.execute(select(Run.id, Run.samples_expired).where(Run.id.in_(run_ids))).all()
    )
    counts = {run_id: LeaseCounts(0, marked.get(run_id, 0)) for run_id in run_ids}
    for run_id, pending, late in rows:
        counts[run_id] = LeaseCounts(pending, marked.get(run_id, 0) + late)
    return counts


_SAMPLES = table_of(Sample).c
_EXPIRE = (
    update(table_of(Sample))
    .where(
        _SAMPLES.run_id == bindparam("b_run_id"),
        _SAMPLES.reported_at.is_(None),
        _SAMPLES.expired_at.is_(None),
        _SAMPLES.lease_expires_at < bindparam("b_now"),
    )
    .values(expired_at=bindparam("b_now"))
)


_EARLIEST_OPEN = select(func.min(_SAMPLES.lease_expires_at)).where(
    _SAMPLES.run_id == bindparam("b_run_id"),
    _SAMPLES.reported_at.is_(None),
    _SAMPLES.expired_at.is_(None),
)
# "no open sample": the next check is due when a new sample's lease says so
_NO_OPEN_LEASE = timedelta(days=36500)


def expire_leases(session: Session, run: Run, now: datetime) -> int:
    """Mark the run's samples whose lease ran out unreported before ``now``; returns how
    many. The caller holds the run's lock. Before the run's ``lease_check_at`` nothing
    can be overdue, and no statement runs."""
    if run.lease_check_at is not None and now <= aware(run.lease_check_at):
        return 0
    # Core statements on the session's connection: no ORM bulk-update machinery per call
    connection = session.connection()
    result = connection.execute(_EXPIRE, {"b_run_id": run.id, "b_now": now})
    expired = int(result.rowcount or 0)
    if expired:
        run.samples_expired += expired
        observability.record_lease_expiries(expired)
    earliest = connection.execute(_EARLIEST_OPEN, {"b_run_id": run.id}).scalar()
    run.lease_check_at = aware(earliest) if earliest is not None else now + _NO_OPEN_LEASE
    return expired


def lease_issued(run: Run, lease_expires_at: datetime) -> None:
    """Note a new open sample whose lease ends at ``lease_expires_at`` (the caller holds
    the run's lock): the run's next lease check is due no later than that."""
    if run.lease_check_at is not None and lease_expires_at < aware(run.lease_check_at):
        run.lease_check_at = lease_expires_at
