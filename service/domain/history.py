"""Per-step history of a run (what the dashboard draws), downsampled on the server."""

from __future__ import annotations

import math

from sqlalchemy import or_, select

from service.db.models import Report
from service.db.transaction import Database
from service.domain.clock import aware
from service.domain.locking import read_run
from service.schemas import HistoryOut, HistoryPoint

MAX_POINTS_LIMIT = 10_000


def history(
    db: Database,
    run_id: str,
    *,
    since_step: int = 0,
    max_points: int = 2000,
    tenant: str | None = None,
) -> HistoryOut:
    """The run's steps after ``since_step``, at most ``max_points`` of them.

    When more steps exist, every k-th step is kept (k = ceil(steps / max_points)) and
    the last step always, so a 10,000-step run opens as a few hundred points while a
    live chart still ends at the newest report.

    Raises:
        NotFound: unknown run.
    """
    with read_run(db, run_id, tenant=tenant) as (session, run):
        names = [arm.name for arm in run.arms]
        remaining = max(0, run.step - since_step)
        stride = max(1, math.ceil(remaining / max_points)) if remaining else 1
        query = select(Report).where(Report.run_id == run_id, Report.seq > since_step)
        if stride > 1:
            query = query.where(or_(Report.seq % stride == 0, Report.seq == run.step))
        rows = session.scalars(query.order_by(Report.seq)).all()
        points = [
            HistoryPoint(
                step=row.seq,
                report_id=row.report_id,
                created_at=aware(row.created_at),
                q=dict(zip(names, row.q, strict=True)),
                probabilities=dict(zip(names, row.probabilities, strict=True)),
                rewards={n: r for n, r in zip(names, row.rewards, strict=True) if r is not None},
                counts={n: c for n, c in zip(names, row.counts, strict=True) if c},
                outcome_rewards={
                    n: o for n, o in zip(names, row.outcomes, strict=True) if o is not None
                },
            )
            for row in rows
        ]
        return HistoryOut(run_id=run_id, arms=names, total_steps=run.step, points=points)
