"""``POST /v1/runs/{run_id}/report``: apply one training step's outcome to a run.

One locked transaction (:func:`~service.domain.locking.locked_run`): answer a known
``report_id`` from storage, else check the results against the run, mark the sample
reported, expire overdue leases, fold the report into the strategy state and the arm
counters (:func:`~service.domain.state.apply_report`, the same fold a replay uses), let
the run's :class:`~service.domain.trackers.ProblemTracker` record per-problem outcomes,
and append the report row. Reports are append-only; the run and arm rows are derived
state that :mod:`service.domain.replay` can rebuild from them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import bindparam, func, update
from sqlalchemy.orm import Session

from service.cache import RunCache
from service.db.models import Report, Run, Sample, find_by_key, insert_row, new_id, table_of
from service.db.transaction import Database
from service.domain.answers import report_out, strategy_of
from service.domain.checks import check_result_count, check_results
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.domain.leases import expire_leases
from service.domain.locking import locked_run
from service.domain.state import absorb, apply_report
from service.domain.trackers import tracker_for
from service.errors import Conflict, InvalidRequest
from service.schemas import ReportOut, ReportRequest
from service.settings import Settings


def _body_hash(sample_id: str | None, results: list[dict[str, Any]]) -> str:
    body = {"sample_id": sample_id, "results": results}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class PreparedReport:
    """A report request checked and hashed before the run's lock is taken."""

    report_id: str
    # False: the id was generated here, so no stored report can have it (no lookup)
    given_id: bool
    sample_id: str | None
    results: list[dict[str, Any]]
    body_hash: str


def prepare_report(request: ReportRequest, settings: Settings) -> PreparedReport:
    """The work of a report that needs no lock: the result count, the results as plain
    dicts, the body hash.

    Raises:
        InvalidRequest: too many results.
    """
    check_result_count(len(request.results), settings)
    # one dump in pydantic's core, not one per result
    results = request.model_dump(exclude_none=True, include={"results"})["results"]
    return PreparedReport(
        report_id=request.report_id or new_id(),
        given_id=request.report_id is not None,
        sample_id=request.sample_id,
        results=results,
        body_hash=_body_hash(request.sample_id, results),
    )


def report(
    db: Database,
    run_id: str,
    request: ReportRequest,
    settings: Settings,
    tenant: str | None = None,
    cache: RunCache | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[ReportOut, bool]:
    """Apply one training step's outcome; returns the answer and whether it was a repeat.

    The report is stored (append-only) and folded into the run's state in one
    transaction. A ``report_id`` seen before is not applied again: the stored answer is
    returned (``True`` as second element).

    Raises:
        NotFound: unknown run.
        InvalidRequest: unknown arm, index outside its arm, unknown sample_id, too many results.
        Conflict: the report_id was used before with a different body.
    """
    prepared = prepare_report(request, settings)
    with locked_run(db, run_id, tenant=tenant) as (session, run):
        answer = report_locked(session, run, prepared, settings, clock.now())
    if cache:
        cache.invalidate(run_id)
    return answer


def report_locked(
    session: Session, run: Run, prepared: PreparedReport, settings: Settings, now: datetime
) -> tuple[ReportOut, bool]:
    """One report's work inside the caller's :func:`locked_run` block: the stored answer
    of a known ``report_id`` (``True``: a repeat, nothing applied), else the report
    applied at ``now`` (leases overdue at ``now`` are marked first)."""
    run_id = run.id
    names = [arm.name for arm in run.arms]
    if prepared.given_id:
        stored = find_by_key(session, Report, run_id, "report_id", prepared.report_id)
        if stored is not None:
            _check_same_body(stored, prepared.body_hash)
            return report_out(run_id, names, stored), True
    results = prepared.results
    check_results(run, results, settings)
    if prepared.sample_id is not None:
        _mark_sample_reported(session, run_id, prepared.sample_id, now)
    expire_leases(session, run, now)
    strategy = strategy_of(run)
    positions = {name: i for i, name in enumerate(names)}
    applied = apply_report(strategy, run.strategy_state, run.step, positions, results)
    for i in np.flatnonzero(applied.feedback.present):
        absorb(run.arms[int(i)], applied.feedback, int(i))
    tracker_for(run).record(session, positions, results)
    row = Report(
        run_id=run_id,
        report_id=prepared.report_id,
        sample_id=prepared.sample_id,
        seq=run.step + 1,
        body_hash=prepared.body_hash,
        results=results,
        rewards=[
            r if present else None
            for r, present in zip(
                applied.feedback.reward.tolist(),
                applied.feedback.present.tolist(),
                strict=True,
            )
        ],
        counts=applied.feedback.count.tolist(),
        outcomes=[None if math.isnan(o) else o for o in applied.feedback.outcome.tolist()],
        q=applied.q.tolist(),
        probabilities=applied.probabilities.tolist(),
        created_at=now,
    )
    insert_row(session, row)
    run.strategy_state = applied.state
    run.step += 1
    run.updated_at = now
    return report_out(run_id, names, row), False


def _check_same_body(stored: Report, body_hash: str) -> None:
    if stored.body_hash != body_hash:
        raise Conflict(
            f"report_id {stored.report_id!r} was already used with a different body",
            {"report_id": stored.report_id, "step": stored.seq},
        )


def _mark_sample_reported(session: Session, run_id: str, sample_id: str, now: datetime) -> None:
    result = session.connection().execute(
        _MARK_REPORTED, {"b_run_id": run_id, "b_sample_id": sample_id, "b_now": now}
    )
    if not result.rowcount:
        raise InvalidRequest(
            f"sample_id {sample_id!r} was not issued by this run", {"sample_id": sample_id}
        )


_SAMPLES = table_of(Sample).c
# one statement: a sample reported before keeps its first reported_at
_MARK_REPORTED = (
    update(table_of(Sample))
    .where(_SAMPLES.run_id == bindparam("b_run_id"), _SAMPLES.sample_id == bindparam("b_sample_id"))
    .values(
        reported_at=func.coalesce(
            _SAMPLES.reported_at, bindparam("b_now", type_=_SAMPLES.reported_at.type)
        )
    )
)
