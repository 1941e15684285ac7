"""``POST /v1/runs/{run_id}/step``: report step t and draw step t+1 in one call.

A synchronous trainer's loop is report, then sample, then train: two round trips and two
commits per step. ``/step`` does both under one lock and one commit
(:func:`~service.domain.locking.locked_run`), in that order, so its answers equal those of
``/report`` followed by ``/sample`` at the same moment: the same draws for the same seed
and calls, the same idempotency (a known ``report_id`` is answered from storage and not
applied again; a known ``sample_id`` answers its stored batch). A refused request (either
half) writes nothing.
"""

from __future__ import annotations

from service.cache import RunCache
from service.db.transaction import Database
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.domain.locking import locked_run
from service.domain.reports import prepare_report, report_locked
from service.domain.samples import check_sample, sample_locked
from service.schemas import StepOut, StepRequest
from service.settings import Settings


def step(
    db: Database,
    run_id: str,
    request: StepRequest,
    settings: Settings,
    tenant: str | None = None,
    cache: RunCache | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> StepOut:
    """Apply ``request.report`` (if any), then draw ``request.sample``, in one transaction.

    Raises:
        As :func:`~service.domain.reports.report` and :func:`~service.domain.samples.sample`;
        whichever half fails, nothing is stored.
    """
    prepared = prepare_report(request.report, settings) if request.report else None
    check_sample(request.sample, settings)
    with locked_run(db, run_id, tenant=tenant) as (session, run):
        now = clock.now()
        reported, repeated = None, False
        if prepared is not None:
            reported, repeated = report_locked(session, run, prepared, settings, now)
        # a report applied now has already marked the leases overdue at `now`
        expire = prepared is None or repeated
        sampled = sample_locked(session, run, request.sample, settings, now, expire=expire)
    if cache:
        cache.invalidate(run_id)
    return StepOut(report=reported, report_replayed=repeated, sample=sampled)
