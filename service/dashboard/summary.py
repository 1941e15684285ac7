"""What the dashboard's run list shows beyond ``GET /v1/runs``: each run's last report time."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import and_, select

from service.db.models import Report, Run
from service.db.transaction import Database
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.domain.runs import list_runs
from service.schemas import RunOut


class RunSummary(RunOut):
    last_report_at: datetime | None


class RunSummaryList(BaseModel):
    runs: list[RunSummary]


def run_summaries(
    db: Database, tenant: str | None = None, *, clock: Clock = SYSTEM_CLOCK
) -> RunSummaryList:
    """Runs (of ``tenant``), newest first, each with its latest report's time (or ``None``).

    ``clock`` is the app's (``app.state.clock``): it decides which leases count as open.
    """
    runs = list_runs(db, tenant, clock=clock).runs
    with db.transaction() as session:
        # The latest report is the one whose seq equals the run's step: one unique-index
        # lookup per run instead of a scan of every report.
        latest = select(Report.run_id, Report.created_at).join(
            Run, and_(Report.run_id == Run.id, Report.seq == Run.step)
        )
        last = {run_id: _aware(at) for run_id, at in session.execute(latest)}
    return RunSummaryList(
        runs=[RunSummary(**run.model_dump(), last_report_at=last.get(run.run_id)) for run in runs]
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
