"""``POST /v1/runs/{run_id}/sample``: draw the next batch of problems for a run.

One locked transaction (:func:`~service.domain.locking.locked_run`): expire overdue
leases, take the strategy's arm probabilities (restricted by the run's
:class:`~service.domain.trackers.ProblemTracker`), draw an arm per slot with the
generator of (seed, k) for the run's k-th sample, let the tracker fill the slots with
problems, and store the batch with its lease. Retrying a ``sample_id`` answers the stored
batch (see :mod:`service.domain.runs` for the idempotency rules).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from service.cache import RunCache
from service.curricula import draw_batch, sample_rng
from service.db.models import Sample, new_id
from service.db.transaction import Database
from service.domain.answers import sample_out, strategy_of
from service.domain.checks import check_batch_size
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.domain.leases import expire_leases
from service.domain.locking import locked_run
from service.domain.trackers import tracker_for
from service.errors import Conflict
from service.schemas import SampleOut, SampleRequest
from service.settings import Settings


def sample(
    db: Database,
    run_id: str,
    request: SampleRequest,
    settings: Settings,
    tenant: str | None = None,
    cache: RunCache | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> SampleOut:
    """Draw ``batch_size`` problems: arm per slot from the strategy, index inside the arm.

    The k-th sample call of a run always uses the generator of (seed, k), so the same
    seed and call sequence give the same batches across restarts and replicas. A
    ``sample_id`` already answered is answered again from storage (retry-safe).

    Raises:
        NotFound: unknown run.
        InvalidRequest: batch_size above ``max_batch_size``; purpose ``demonstrations`` on
            a run without per-problem tracking.
        Conflict: the sample_id was used before for a batch of another size.
    """
    check_batch_size(request.batch_size, settings)
    with locked_run(db, run_id, tenant=tenant) as (session, run):
        if request.sample_id is not None:
            stored = session.scalars(
                select(Sample).where(Sample.run_id == run_id, Sample.sample_id == request.sample_id)
            ).one_or_none()
            if stored is not None:
                if len(stored.indices) != request.batch_size:
                    raise Conflict(
                        f"sample_id {request.sample_id!r} was already used for a batch of "
                        f"{len(stored.indices)}",
                        {"sample_id": request.sample_id},
                    )
                return sample_out(run, stored)
        now = clock.now()
        expire_leases(session, run, now)
        strategy = strategy_of(run)
        tracker = tracker_for(run)
        probabilities = tracker.restrict(strategy.probabilities(run.strategy_state, run.step))
        rng = sample_rng(run.seed, run.samples)
        batch = draw_batch(
            probabilities,
            request.batch_size,
            rng,
            seed=run.seed,
            sizes=tracker.sizes(),
            drawn_before=[arm.cursor for arm in run.arms],
        )
        demonstrations = request.purpose == "demonstrations"
        indices, consumed = tracker.pick(session, batch, rng, demonstrations)
        for arm, count, passed in zip(
            run.arms, batch.counts.tolist(), consumed.tolist(), strict=True
        ):
            arm.times_sampled += count
            arm.cursor += passed
        if demonstrations:
            run.demonstrations += request.batch_size
        lease = request.lease_seconds or settings.sample_lease_seconds
        row = Sample(
            run_id=run.id,
            sample_id=request.sample_id or new_id(),
            seq=run.samples,
            step=run.step,
            probabilities=probabilities.tolist(),
            arm_positions=batch.arms.tolist(),
            indices=indices.tolist(),
            created_at=now,
            lease_expires_at=now + timedelta(seconds=lease),
        )
        run.samples += 1
        run.updated_at = row.created_at
        session.add(row)
        answer = sample_out(run, row)
    if cache:
        cache.invalidate(run_id)
    return answer
