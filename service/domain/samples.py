"""``POST /v1/runs/{run_id}/sample``: draw the next batch of problems for a run.

One locked transaction (:func:`~service.domain.locking.locked_run`): expire overdue
leases, take the strategy's arm probabilities (restricted by the run's
:class:`~service.domain.trackers.ProblemTracker`), draw an arm per slot with the
generator of (seed, k) for the run's k-th sample, let the tracker fill the slots with
problems, and store the batch with its lease. Retrying a ``sample_id`` answers the stored
batch (see :mod:`service.domain.runs` for the idempotency rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from service.cache import RunCache
from service.curricula import draw_batch, sample_rng
from service.curricula.predictions import all_agree_probability, allocate_rollouts
from service.db.models import Run, Sample, find_by_key, insert_row, new_id
from service.db.transaction import Database
from service.domain.answers import sample_out, strategy_of
from service.domain.checks import check_batch_size
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.domain.leases import expire_leases, lease_issued
from service.domain.locking import locked_run
from service.domain.trackers import ProblemTracker, tracker_for
from service.errors import Conflict, InvalidRequest
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
        InvalidRequest: batch_size above ``max_batch_size``; purpose ``demonstrations`` or
            a ``rollout_budget`` on a run without per-problem tracking; a budget below
            ``min_rollouts * batch_size`` or ``min_rollouts > max_rollouts``.
        Conflict: the sample_id was used before for a batch of another size.
    """
    check_sample(request, settings)
    with locked_run(db, run_id, tenant=tenant) as (session, run):
        answer = sample_locked(session, run, request, settings, clock.now())
    if cache:
        cache.invalidate(run_id)
    return answer


def sample_many(
    db: Database,
    run_id: str,
    requests: Sequence[SampleRequest],
    settings: Settings,
    tenant: str | None = None,
    cache: RunCache | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> list[SampleOut]:
    """Answer ``requests`` as that many consecutive :func:`sample` calls would, in one
    locked transaction (one lock, one commit, one moment ``now`` for every lease).

    For asynchronous trainers: k rollout workers each get their own sample (and
    ``sample_id``) from one call. The k-th request draws with the generator of (seed, k-th
    sample of the run), so the answers equal those of k calls in a row; a ``sample_id``
    already stored answers its stored batch, as in :func:`sample`.

    Raises:
        As :func:`sample`; InvalidRequest also when the requests draw more than
        ``max_batch_size`` problems in all. Nothing is stored unless every request is.
    """
    for request in requests:
        check_budget(request, settings)
    check_batch_size(sum(request.batch_size for request in requests), settings)
    with locked_run(db, run_id, tenant=tenant) as (session, run):
        now = clock.now()
        # leases expire once, at the first new draw (later ones at the same `now` find none)
        first = run.samples
        answers = [
            sample_locked(session, run, request, settings, now, expire=run.samples == first)
            for request in requests
        ]
    if cache:
        cache.invalidate(run_id)
    return answers


def check_sample(request: SampleRequest, settings: Settings) -> None:
    """The checks of a sample request that need no lock (its size and budget).

    Raises:
        InvalidRequest: see :func:`sample`.
    """
    check_batch_size(request.batch_size, settings)
    check_budget(request, settings)


def sample_locked(
    session: Session,
    run: Run,
    request: SampleRequest,
    settings: Settings,
    now: datetime,
    expire: bool = True,
) -> SampleOut:
    """One sample call's work, inside the caller's :func:`locked_run` block; ``expire``:
    mark overdue leases before a new draw (once per transaction is enough)."""
    if request.sample_id is not None:
        stored = find_by_key(session, Sample, run.id, "sample_id", request.sample_id)
        if stored is not None:
            if len(stored.indices) != request.batch_size:
                raise Conflict(
                    f"sample_id {request.sample_id!r} was already used for a batch of "
                    f"{len(stored.indices)}",
                    {"sample_id": request.sample_id},
                )
            return with_predictions(session, run, tracker_for(run), stored, request)
    if expire:
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
    for arm, count, passed in zip(run.arms, batch.counts.tolist(), consumed.tolist(), strict=True):
        arm.times_sampled += count
        arm.cursor += passed
    if demonstrations:
        run.demonstrations += request.batch_size
    lease = request.lease_seconds or settings.sample_lease_seconds
    lease_expires_at = now + timedelta(seconds=lease)
    row = Sample(
        run_id=run.id,
        sample_id=request.sample_id or new_id(),
        seq=run.samples,
        step=run.step,
        probabilities=probabilities.tolist(),
        arm_positions=batch.arms.tolist(),
        indices=indices.tolist(),
        created_at=now,
        lease_expires_at=lease_expires_at,
    )
    run.samples += 1
    run.updated_at = row.created_at
    lease_issued(run, lease_expires_at)
    insert_row(session, row)
    return with_predictions(session, run, tracker, row, request)


def check_budget(request: SampleRequest, settings: Settings) -> None:
    """Reject a rollout budget that cannot be met before anything is drawn.

    Raises:
        InvalidRequest: group_size or max_rollouts above ``settings.max_rollouts``,
            min_rollouts above max_rollouts, or a budget below ``min_rollouts * batch_size``.
    """
    if request.group_size > settings.max_rollouts:
        raise InvalidRequest(
            f"group_size {request.group_size} is above ZPD_MAX_ROLLOUTS ({settings.max_rollouts})"
        )
    if request.rollout_budget is None:
        return
    if request.min_rollouts > request.max_rollouts:
        raise InvalidRequest("min_rollouts must not exceed max_rollouts")
    if request.max_rollouts > settings.max_rollouts:
        raise InvalidRequest(
            f"max_rollouts {request.max_rollouts} is above ZPD_MAX_ROLLOUTS "
            f"({settings.max_rollouts}): reports could not carry that many rewards"
        )
    if request.rollout_budget < request.min_rollouts * request.batch_size:
        raise InvalidRequest(
            f"rollout_budget {request.rollout_budget} cannot give {request.batch_size} items "
            f"{request.min_rollouts} rollouts each"
        )


def with_predictions(
    session: Session, run: Run, tracker: ProblemTracker, row: Sample, request: SampleRequest
) -> SampleOut:
    """The stored sample as the wire's answer, each item with the run's prediction.

    Predictions come from the evidence stored now, so a retried ``sample_id`` answers the
    same problems with predictions (and budgets) as of the retry.

    Raises:
        InvalidRequest: a ``rollout_budget`` on a run without per-problem tracking.
    """
    arms = np.asarray(row.arm_positions, dtype=np.int64)
    indices = np.asarray(row.indices, dtype=np.int64)
    predicted = tracker.predict(session, arms, indices)
    if predicted is None:
        if request.rollout_budget is not None:
            raise InvalidRequest(
                "rollout_budget needs per-problem tracking: create the run with "
                '"problems": {"selection": "frontier"}'
            )
        return sample_out(run, row)
    alpha, beta, solved, failed = predicted
    budgeted = request.rollout_budget is not None
    if request.rollout_budget is not None:
        n = allocate_rollouts(
            alpha, beta, request.rollout_budget, request.min_rollouts, request.max_rollouts
        )
    else:
        n = np.full(len(alpha), request.group_size, dtype=np.int64)
    agree = all_agree_probability(alpha, beta, n).tolist()
    mean = (alpha / (alpha + beta)).tolist()
    names = [arm.name for arm in run.arms]
    items: list[dict[str, Any]] = []
    # plain lists and one validation: 256 model constructions would cost more than the math
    for i, (a, b, s, f, k) in enumerate(
        zip(
            alpha.tolist(), beta.tolist(), solved.tolist(), failed.tolist(), n.tolist(), strict=True
        )
    ):
        item: dict[str, Any] = {"arm": names[arms[i]], "index": None}
        if indices[i] >= 0:
            item["index"] = int(indices[i])
            item["predicted_pass_rate"] = mean[i]
            item["p_all_agree"] = agree[i]
            item["evidence"] = {"alpha": a, "beta": b, "successes": s, "attempts": s + f}
            if budgeted:
                item["n_rollouts"] = k
        items.append(item)
    return SampleOut.model_validate(
        {
            "sample_id": row.sample_id,
            "run_id": run.id,
            "step": row.step,
            "probabilities": dict(zip(names, row.probabilities, strict=True)),
            "items": items,
        }
    )
