"""``POST /v1/runs/{run_id}/rewind``: take a run back to a trainer step, for exact resume.

A trainer that crashes after its checkpoint at step N and resumes from it would otherwise
report steps N+1.. twice. Rewinding to N makes the run what it was after its N-th report:

* **The step** of a run is the number of reports applied to it (``runs.step``; report
  ``seq`` k closed step k). A sample drawn while the run stood at step s has ``step`` s.
* **Set aside:** the reports with ``seq > N`` and the samples drawn at ``step >= N`` (those
  drawn after the N-th report: the resumed trainer draws them again). They move, as stored,
  into one ``rewinds`` row; nothing is deleted. ``GET /v1/runs/{run_id}/rewinds`` lists them.
  A trainer that draws ahead (a prefetching data loader draws batch N+1 before reporting
  step N) passes ``samples`` = M, the samples it had drawn at its checkpoint: samples
  number M and later are set aside instead (a kept report may not answer one of them), and
  the resumed trainer asks for its drawn-ahead batches again by their ``sample_id``, which
  answers them as they were drawn (with the state they were drawn from).
* **Rebuilt by replay:** from the run's initial state, the kept reports and samples are
  applied again in the order they happened (report k, then the samples drawn at step k),
  with the same fold as ``/report`` (:func:`~service.domain.state.apply_report`) and the
  same draw as ``/sample`` (the generator of (seed, sample number)). That restores the
  strategy state, the arm counters and cursors, the per-problem stats and the sample
  counter, so the next sample is the ``runs.samples``-th draw with the state of step N:
  the batch an uninterrupted run draws after N reports (for a trainer that samples once
  per step, after reporting the previous one). Each replayed draw and report is checked
  against the stored one; a difference is a :class:`~service.errors.StorageError`.
* **Ids:** a set-aside ``report_id`` or ``sample_id`` is free again. Sent after the rewind
  it is a new request: the report is applied as a new training step.
* **No-op:** rewinding to the run's step with no sample drawn since changes nothing
  (``rewind_id`` null). Samples drawn at step N are set aside even when N is the run's step.
* **Leases:** set-aside samples are no longer pending; a kept sample whose report was set
  aside is unreported (pending or expired by its lease) again.

Not supported (``Conflict``, nothing changes): runs with automatic arms, and runs that
handed out demonstrations (the stored samples do not say which draws were demonstrations).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.cache import RunCache
from service.curricula import Strategy, draw_batch, sample_rng
from service.db.models import ProblemStat, Report, Rewind, Run, Sample
from service.db.transaction import Database
from service.domain.answers import arm_infos, strategy_of
from service.domain.clock import SYSTEM_CLOCK, Clock, aware
from service.domain.locking import locked_run, read_run
from service.domain.state import absorb, apply_report
from service.domain.trackers import ProblemTracker, tracker_for
from service.errors import Conflict, InvalidRequest, StorageError
from service.schemas import RewindList, RewindOut, RewindRecord, SetAsideReport


def rewind(
    db: Database,
    run_id: str,
    step: int,
    tenant: str | None = None,
    cache: RunCache | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    samples: int | None = None,
) -> RewindOut:
    """Set aside the reports after ``step`` and the samples drawn from ``step`` on (or from
    sample number ``samples`` on), and rebuild the run's state by replaying what is kept.

    Raises:
        NotFound: unknown run.
        InvalidRequest: ``step`` above the run's step (or negative); ``samples`` above the
            run's sample counter, or below a sample that a kept report answers.
        Conflict: the run has automatic arms or handed out demonstrations.
        StorageError: the replay did not reproduce a stored draw or report.
    """
    with locked_run(db, run_id, tenant=tenant) as (session, run):
        if step < 0 or step > run.step:
            raise InvalidRequest(
                f"cannot rewind to step {step}: the run is at step {run.step}",
                {"step": step, "run_step": run.step},
            )
        reports = session.scalars(
            select(Report).where(Report.run_id == run_id, Report.seq > step).order_by(Report.seq)
        ).all()
        cut = Sample.step >= step if samples is None else Sample.seq >= samples
        if samples is not None and samples > run.samples:
            raise InvalidRequest(
                f"cannot rewind to sample {samples}: the run has drawn {run.samples}",
                {"samples": samples, "run_samples": run.samples},
            )
        set_aside = session.scalars(
            select(Sample).where(Sample.run_id == run_id, cut).order_by(Sample.seq)
        ).all()
        _check_kept_reports_keep_their_samples(session, run_id, step, set_aside)
        from_step, from_samples = run.step, run.samples
        if not reports and not set_aside:
            return RewindOut(
                run_id=run_id,
                rewind_id=None,
                step=run.step,
                samples=run.samples,
                from_step=from_step,
                from_samples=from_samples,
                reports_set_aside=0,
                samples_set_aside=0,
            )
        _check_replayable(run)
        now = clock.now()
        record = Rewind(
            run_id=run_id,
            from_step=from_step,
            to_step=step,
            from_samples=from_samples,
            to_samples=from_samples - len(set_aside),
            reports=[_report_json(row) for row in reports],
            samples=[_sample_json(row) for row in set_aside],
            created_at=now,
        )
        session.add(record)
        freed = {row.sample_id for row in reports if row.sample_id is not None}
        for row in [*reports, *set_aside]:
            session.delete(row)
        session.flush()
        _rebuild(session, run, freed)
        run.updated_at = now
        session.flush()
        answer = RewindOut(
            run_id=run_id,
            rewind_id=record.id,
            step=run.step,
            samples=run.samples,
            from_step=from_step,
            from_samples=from_samples,
            reports_set_aside=len(reports),
            samples_set_aside=len(set_aside),
        )
    if cache:
        cache.invalidate(run_id)
    return answer


def list_rewinds(db: Database, run_id: str, tenant: str | None = None) -> RewindList:
    """Every rewind of the run, oldest first, with the reports it set aside.

    Raises:
        NotFound: unknown run.
    """
    with read_run(db, run_id, tenant=tenant) as (session, _run):
        rows = session.scalars(
            select(Rewind).where(Rewind.run_id == run_id).order_by(Rewind.id)
        ).all()
        return RewindList(
            run_id=run_id,
            rewinds=[
                RewindRecord(
                    rewind_id=row.id,
                    from_step=row.from_step,
                    to_step=row.to_step,
                    from_samples=row.from_samples,
                    to_samples=row.to_samples,
                    created_at=aware(row.created_at),
                    reports=[SetAsideReport.model_validate(r) for r in row.reports],
                    sample_ids=[s["sample_id"] for s in row.samples],
                )
                for row in rows
            ],
        )


def _check_kept_reports_keep_their_samples(
    session: Session, run_id: str, step: int, set_aside: Sequence[Sample]
) -> None:
    ids = [row.sample_id for row in set_aside]
    if not ids:
        return
    answered = session.execute(
        select(Report.seq, Report.sample_id).where(
            Report.run_id == run_id, Report.seq <= step, Report.sample_id.in_(ids)
        )
    ).first()
    if answered is not None:
        raise InvalidRequest(
            f"report {answered[0]} (kept) answers sample {answered[1]!r}, which would be set "
            "aside: pass a larger samples",
            {"step": answered[0], "sample_id": answered[1]},
        )


def _check_replayable(run: Run) -> None:
    if run.auto_arms is not None:
        raise Conflict("rewind is not supported for runs with automatic arms", {"run_id": run.id})
    if run.demonstrations:
        raise Conflict(
            "rewind cannot replay a run that handed out demonstrations",
            {"run_id": run.id, "demonstrations": run.demonstrations},
        )


def _rebuild(session: Session, run: Run, freed: set[str]) -> None:
    """Replay the kept reports and samples from the run's initial state, in the order
    they happened: report k (closing step k), then the samples drawn at step k."""
    strategy = strategy_of(run)
    kept_reports = session.scalars(
        select(Report).where(Report.run_id == run.id).order_by(Report.seq)
    ).all()
    kept_samples = session.scalars(
        select(Sample).where(Sample.run_id == run.id).order_by(Sample.seq)
    ).all()
    run.strategy_state = strategy.initial_state(arm_infos(run))
    run.step = run.samples = 0
    for arm in run.arms:
        arm.times_sampled = arm.times_reported = arm.outcome_count = arm.cursor = 0
        arm.last_reward, arm.outcome_sum = None, 0.0
    session.execute(delete(ProblemStat).where(ProblemStat.run_id == run.id))
    tracker = tracker_for(run)
    positions = {arm.name: i for i, arm in enumerate(run.arms)}
    events: list[tuple[tuple[int, int, int], Report | Sample]] = [
        ((row.seq, 0, 0), row) for row in kept_reports
    ]
    events += [((row.step, 1, row.seq), row) for row in kept_samples]
    for _, row in sorted(events, key=lambda event: event[0]):
        if isinstance(row, Report):
            _replay_report(session, run, strategy, tracker, positions, row)
        else:
            _replay_sample(session, run, tracker, row)
    expired = 0
    for row in kept_samples:
        if row.sample_id in freed:
            row.reported_at = None
        expired += row.expired_at is not None
    run.samples_expired = expired
    # freed samples are open again, with leases that may end before the next check
    run.lease_check_at = None


def _replay_report(
    session: Session,
    run: Run,
    strategy: Strategy,
    tracker: ProblemTracker,
    positions: dict[str, int],
    row: Report,
) -> None:
    applied = apply_report(strategy, run.strategy_state, run.step, positions, row.results)
    if run.step + 1 != row.seq or applied.q.tolist() != list(row.q):
        raise StorageError(
            f"replaying report {row.seq} did not reproduce its stored values",
            {"run_id": run.id, "step": row.seq},
        )
    for i in np.flatnonzero(applied.feedback.present):
        absorb(run.arms[int(i)], applied.feedback, int(i))
    tracker.record(session, positions, row.results)
    run.strategy_state = applied.state
    run.step += 1


def _replay_sample(session: Session, run: Run, tracker: ProblemTracker, row: Sample) -> None:
    rng = sample_rng(run.seed, run.samples)
    batch = draw_batch(
        np.asarray(row.probabilities, dtype=float),
        len(row.arm_positions),
        rng,
        seed=run.seed,
        sizes=tracker.sizes(),
        drawn_before=[arm.cursor for arm in run.arms],
    )
    indices, consumed = tracker.pick(session, batch, rng, False)
    if (
        row.seq != run.samples
        or batch.arms.tolist() != list(row.arm_positions)
        or indices.tolist() != list(row.indices)
    ):
        raise StorageError(
            f"replaying sample {row.seq} did not reproduce its stored batch",
            {"run_id": run.id, "sample": row.seq},
        )
    for arm, count, passed in zip(run.arms, batch.counts.tolist(), consumed.tolist(), strict=True):
        arm.times_sampled += count
        arm.cursor += passed
    run.samples += 1


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else aware(moment).isoformat()


def _report_json(row: Report) -> dict[str, Any]:
    return {
        "step": row.seq,
        "report_id": row.report_id,
        "sample_id": row.sample_id,
        "body_hash": row.body_hash,
        "results": row.results,
        "rewards": row.rewards,
        "counts": row.counts,
        "outcomes": row.outcomes,
        "q": row.q,
        "probabilities": row.probabilities,
        "created_at": _when(row.created_at),
    }


def _sample_json(row: Sample) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "sample_id": row.sample_id,
        "step": row.step,
        "probabilities": row.probabilities,
        "arm_positions": row.arm_positions,
        "indices": row.indices,
        "created_at": _when(row.created_at),
        "lease_expires_at": _when(row.lease_expires_at),
        "reported_at": _when(row.reported_at),
        "expired_at": _when(row.expired_at),
    }
