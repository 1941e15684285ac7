"""The domain layer: what each v1 endpoint does, on top of the one transaction helper.

Every function takes the :class:`~service.db.transaction.Database`, does its work in one
transaction and returns a wire model. Write paths lock the run first (row lock on
PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite) so concurrent writers to one
run serialise and end in the state of a sequential replay.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import orjson
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, selectinload

from service import observability
from service.auth import DEFAULT_TENANT
from service.cache import RunCache
from service.curricula import (
    ArmInfo,
    Strategy,
    StrategyError,
    build_strategy,
    draw_batch,
    sample_rng,
)
from service.curricula import auto_arms as auto_math
from service.curricula.auto_arms import AutoArmOptions, restrict_to_members
from service.curricula.problems import ProblemOptions, parse_problem_options
from service.curricula.sampling import Batch
from service.db.models import Arm, Report, Run, Sample, utcnow
from service.db.transaction import Database
from service.domain import auto_arms, problems
from service.domain.state import absorb, apply_report
from service.errors import Conflict, InvalidRequest, NotFound
from service.schemas import (
    ArmState,
    AutoArmsSpec,
    CreateRunRequest,
    ReportOut,
    ReportRequest,
    RunList,
    RunOut,
    SampleOut,
    SampleRequest,
)
from service.settings import Settings


def new_id() -> str:
    """A fresh opaque identifier (32 hex digits)."""
    return uuid.uuid4().hex


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def arm_infos(run: Run) -> list[ArmInfo]:
    return [ArmInfo(name=a.name, size=a.size, tags=a.tags) for a in run.arms]


def strategy_of(run: Run) -> Strategy:
    """Rebuild the run's strategy object from its stored name and options."""
    return build_strategy(run.strategy_name, run.strategy_options, arm_infos(run))


def load_run(
    session: Session, run_id: str, *, tenant: str | None = None, lock: bool = False
) -> Run:
    """The run with its arms; ``lock`` takes the run's row lock (PostgreSQL).

    Args:
        tenant: only a run of this tenant is found (None: any tenant, for operators).

    Raises:
        NotFound: no run has this id (for this tenant).
    """
    query = select(Run).where(Run.id == run_id).options(selectinload(Run.arms))
    if tenant is not None:
        query = query.where(Run.tenant == tenant)
    if lock:
        query = query.with_for_update(of=Run)
    run = session.scalars(query).one_or_none()
    if run is None:
        raise NotFound(f"run {run_id!r} does not exist", {"run_id": run_id})
    return run


@dataclass(frozen=True)
class LeaseCounts:
    """Samples of a run not reported yet, within and past their lease."""

    pending: int = 0
    expired: int = 0


def lease_counts(session: Session, run_ids: Sequence[str]) -> dict[str, LeaseCounts]:
    """Pending and expired samples per run; overdue samples not marked yet count as expired."""
    if not run_ids:
        return {}
    now = utcnow()
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


def expire_leases(session: Session, run: Run) -> int:
    """Mark the run's samples whose lease ran out unreported; returns how many (locked run)."""
    now = utcnow()
    result = session.execute(
        update(Sample)
        .where(
            Sample.run_id == run.id,
            Sample.reported_at.is_(None),
            Sample.expired_at.is_(None),
            Sample.lease_expires_at < now,
        )
        .values(expired_at=now)
        .execution_options(synchronize_session=False)
    )
    expired = int(cast(CursorResult[Any], result).rowcount or 0)
    if expired:
        run.samples_expired += expired
        observability.record_lease_expiries(expired)
    return expired


def run_out(
    run: Run, strategy: Strategy | None = None, leases: LeaseCounts | None = None
) -> RunOut:
    """Shape a run as the wire's ``RunOut``."""
    leases = leases or LeaseCounts()
    strategy = strategy or strategy_of(run)
    q = strategy.values(run.strategy_state)
    p = sampling_probabilities(run, strategy)
    arms = [
        ArmState(
            name=arm.name,
            size=arm.size,
            tags=arm.tags,
            q=float(q[i]),
            probability=float(p[i]),
            times_sampled=arm.times_sampled,
            times_reported=arm.times_reported,
            last_reward=arm.last_reward,
            mean_outcome_reward=(
                arm.outcome_sum / arm.outcome_count if arm.outcome_count else None
            ),
            members=arm.members,
        )
        for i, arm in enumerate(run.arms)
    ]
    return RunOut(
        run_id=run.id,
        name=run.name,
        strategy={"name": run.strategy_name, **run.strategy_options},
        seed=run.seed,
        step=run.step,
        samples=run.samples,
        problems=run.problem_options,
        demonstrations=run.demonstrations,
        auto_arms=run.auto_arms,
        samples_pending=leases.pending,
        samples_expired=leases.expired,
        created_at=_aware(run.created_at),
        updated_at=_aware(run.updated_at),
        arms=arms,
    )


def create_run(
    db: Database, request: CreateRunRequest, settings: Settings, tenant: str = DEFAULT_TENANT
) -> RunOut:
    """Create a run; its strategy options are validated and stored with defaults filled in.

    Raises:
        InvalidRequest: duplicate arm names, too many arms, an unknown strategy or option,
            inconsistent ``auto_arms``.
    """
    seed = request.seed if request.seed is not None else secrets.randbits(53)
    auto: AutoArmOptions | None = None
    clusters: np.ndarray | None = None
    if request.auto_arms is not None:
        auto, clusters, infos = _form_auto_arms(request.auto_arms, seed, settings)
    else:
        infos = [ArmInfo(name=a.name, size=a.size, tags=a.tags) for a in request.arms or []]
    names = [arm.name for arm in infos]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidRequest("arm names must be unique", {"duplicates": duplicates})
    if len(names) > settings.max_arms:
        raise InvalidRequest(
            f"a run may have at most {settings.max_arms} arms (ZPD_MAX_ARMS)",
            {"arms": len(names), "limit": settings.max_arms},
        )
    try:
        strategy = build_strategy(request.strategy.name, request.strategy.options(), infos)
    except StrategyError as exc:
        raise InvalidRequest(str(exc), {"strategy": request.strategy.model_dump()}) from exc
    try:
        tracked = request.problems if auto is None else request.problems or {}
        options = None if tracked is None else parse_problem_options(tracked)
    except StrategyError as exc:
        raise InvalidRequest(str(exc), {"problems": request.problems}) from exc
    if options is not None and any(a.size is None for a in infos):
        raise InvalidRequest("per-problem tracking needs a size on every arm")
    now = utcnow()
    run = Run(
        id=new_id(),
        tenant=tenant,
        name=request.name,
        strategy_name=strategy.name,
        strategy_options=strategy.options(),
        strategy_state=strategy.initial_state(infos),
        problem_options=None if options is None else options.to_dict(),
        auto_arms=None if auto is None else auto.to_dict(),
        seed=seed,
        step=0,
        samples=0,
        demonstrations=0,
        created_at=now,
        updated_at=now,
        arms=[
            Arm(
                position=i,
                name=a.name,
                size=a.size,
                tags=a.tags,
                times_sampled=0,
                times_reported=0,
                outcome_sum=0.0,
                outcome_count=0,
                cursor=0,
            )
            for i, a in enumerate(infos)
        ],
    )
    if auto is not None:
        members = auto_arms.initial_members(auto, clusters)
        for i, arm in enumerate(run.arms):
            arm.members = members[i]
            arm.cursor = auto_arms.initial_cursor(auto, i, clusters is not None)
    with db.transaction(write=True) as session:
        session.add(run)
        if auto is not None and clusters is not None:
            session.flush()  # the run row first: problem rows refer to it
            auto_arms.store_clusters(session, run.id, seed, auto, clusters)
    return run_out(run, strategy)


def _form_auto_arms(
    request: AutoArmsSpec, seed: int, settings: Settings
) -> tuple[AutoArmOptions, np.ndarray | None, list[ArmInfo]]:
    """The options, each problem's cluster (with embeddings) and the arms of ``auto_arms``."""
    spec = request.model_dump(exclude_none=True)
    try:
        auto, vectors = auto_math.parse_auto_arms(spec)
    except StrategyError as exc:
        spec.pop("embeddings", None)
        raise InvalidRequest(str(exc), {"auto_arms": spec}) from exc
    if auto.arm_count > settings.max_arms:
        raise InvalidRequest(
            f"auto_arms makes {auto.arm_count} arms (clusters x (buckets + 2)); a run may have "
            f"at most {settings.max_arms} (ZPD_MAX_ARMS)",
            {"arms": auto.arm_count, "limit": settings.max_arms},
        )
    clusters = None if vectors is None else auto_math.cluster_problems(vectors, auto.clusters, seed)
    return auto, clusters, auto_math.arm_infos(auto)


def get_run(
    db: Database, run_id: str, tenant: str | None = None, cache: RunCache | None = None
) -> RunOut:
    """One run with its arm values and probabilities (from ``cache`` when it has it)."""
    generation = cache.generation(run_id) if cache else None
    if cache and generation is not None:
        cached = cache.get(run_id, generation, tenant)
        if cached is not None:
            return cached
    with db.transaction() as session:
        run = load_run(session, run_id, tenant=tenant)
        answer = run_out(run, leases=lease_counts(session, [run.id])[run.id])
    if cache and generation is not None:
        cache.put(run_id, generation, run.tenant, answer)
    return answer


def list_runs(db: Database, tenant: str | None = None) -> RunList:
    """All runs (of ``tenant``, if given), newest first."""
    with db.transaction() as session:
        query = select(Run).options(selectinload(Run.arms)).order_by(Run.created_at.desc())
        if tenant is not None:
            query = query.where(Run.tenant == tenant)
        runs = session.scalars(query).all()
        leases = lease_counts(session, [run.id for run in runs])
        return RunList(runs=[run_out(run, leases=leases[run.id]) for run in runs])


def _sample_out(run: Run, row: Sample) -> SampleOut:
    names = [arm.name for arm in run.arms]
    # one validation of plain data (in pydantic's core) beats 256 model constructions
    return SampleOut.model_validate(
        {
            "sample_id": row.sample_id,
            "run_id": run.id,
            "step": row.step,
            "probabilities": dict(zip(names, row.probabilities, strict=True)),
            "items": [
                {"arm": names[a], "index": None if i < 0 else i}
                for a, i in zip(row.arm_positions, row.indices, strict=True)
            ],
        }
    )


def sample(
    db: Database,
    run_id: str,
    request: SampleRequest,
    settings: Settings,
    tenant: str | None = None,
    cache: RunCache | None = None,
) -> SampleOut:
    """Draw ``batch_size`` problems: arm per slot from the strategy, index inside the arm.

    The k-th sample call of a run always uses the generator of (seed, k), so the same
    seed and call sequence give the same batches across restarts and replicas. A
    ``sample_id`` already answered is answered again from storage (retry-safe).

    Raises:
        NotFound: unknown run.
        InvalidRequest: batch_size above ``max_batch_size``.
    """
    if request.batch_size > settings.max_batch_size:
        raise InvalidRequest(
            f"batch_size must be at most {settings.max_batch_size} (ZPD_MAX_BATCH_SIZE)",
            {"batch_size": request.batch_size, "limit": settings.max_batch_size},
        )
    with db.transaction(write=True) as session:
        run = load_run(session, run_id, tenant=tenant, lock=True)
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
                return _sample_out(run, stored)
        expire_leases(session, run)
        strategy = strategy_of(run)
        probabilities = sampling_probabilities(run, strategy)
        rng = sample_rng(run.seed, run.samples)
        batch = draw_batch(
            probabilities,
            request.batch_size,
            rng,
            seed=run.seed,
            # automatic arms pick their members themselves
            sizes=[None if run.auto_arms else arm.size for arm in run.arms],
            drawn_before=[arm.cursor for arm in run.arms],
        )
        indices, consumed = _pick_problems(session, run, request, batch, rng)
        for arm, count, passed in zip(
            run.arms, batch.counts.tolist(), consumed.tolist(), strict=True
        ):
            arm.times_sampled += count
            arm.cursor += passed
        if request.purpose == "demonstrations":
            run.demonstrations += request.batch_size
        now = utcnow()
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
        answer = _sample_out(run, row)
    if cache:
        cache.invalidate(run_id)
    return answer


def _pick_problems(
    session: Session, run: Run, request: SampleRequest, batch: Batch, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices per slot and stream advance per arm: uniform, or by per-problem posterior."""
    options = problem_options_of(run)
    demonstrations = request.purpose == "demonstrations"
    if demonstrations and options is None:
        raise InvalidRequest(
            "purpose 'demonstrations' needs per-problem tracking: create the run with "
            '"problems": {"selection": "uniform"} (or "frontier")'
        )
    if run.auto_arms is not None and options is not None:
        auto = auto_math.options_from_dict(run.auto_arms)
        return auto_arms.pick_members(session, run, auto, batch.arms, rng, options, demonstrations)
    if options is None or not (demonstrations or options.selection == "frontier"):
        return batch.indices, batch.counts
    return problems.pick_problems(session, run, batch.arms, rng, options, demonstrations)


def sampling_probabilities(run: Run, strategy: Strategy) -> np.ndarray:
    """The strategy's probabilities; with automatic arms, restricted to non-empty arms."""
    p = strategy.probabilities(run.strategy_state, run.step)
    if run.auto_arms is None:
        return p
    return restrict_to_members(p, np.array([arm.members or 0 for arm in run.arms]))


def problem_options_of(run: Run) -> ProblemOptions | None:
    return parse_problem_options(run.problem_options) if run.problem_options else None


def _body_hash(sample_id: str | None, results: list[dict[str, Any]]) -> str:
    body = {"sample_id": sample_id, "results": results}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _report_out(run_id: str, names: Sequence[str], row: Report) -> ReportOut:
    return ReportOut(
        report_id=row.report_id,
        run_id=run_id,
        step=row.seq,
        arm_rewards={n: r for n, r in zip(names, row.rewards, strict=True) if r is not None},
        q=dict(zip(names, row.q, strict=True)),
        probabilities=dict(zip(names, row.probabilities, strict=True)),
    )


def _validate_results(run: Run, results: list[dict[str, Any]], settings: Settings) -> None:
    by_name = {arm.name: arm for arm in run.arms}
    unknown = sorted({r["arm"] for r in results} - set(by_name))
    if unknown:
        raise InvalidRequest(
            f"unknown arm(s) {unknown}; this run's arms are {list(by_name)}",
            {"unknown_arms": unknown},
        )
    for i, result in enumerate(results):
        size = by_name[result["arm"]].size
        if result.get("index") is not None and size is not None and result["index"] >= size:
            raise InvalidRequest(
                f"results[{i}].index {result['index']} is outside arm {result['arm']!r} "
                f"of size {size}",
                {"result": i},
            )
        values = result.get("rewards") or result.get("advantages") or []
        if len(values) > settings.max_rollouts:
            raise InvalidRequest(
                f"results[{i}] has {len(values)} values; at most {settings.max_rollouts} "
                "rollouts per problem (ZPD_MAX_ROLLOUTS)",
                {"result": i},
            )


def report(
    db: Database,
    run_id: str,
    request: ReportRequest,
    settings: Settings,
    tenant: str | None = None,
    cache: RunCache | None = None,
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
    if len(request.results) > settings.max_results:
        raise InvalidRequest(
            f"a report may hold at most {settings.max_results} results (ZPD_MAX_RESULTS)",
            {"results": len(request.results), "limit": settings.max_results},
        )
    report_id = request.report_id or new_id()
    # one dump in pydantic's core, not one per result
    results = request.model_dump(exclude_none=True, include={"results"})["results"]
    body_hash = _body_hash(request.sample_id, results)
    with db.transaction(write=True) as session:
        run = load_run(session, run_id, tenant=tenant, lock=True)
        names = [arm.name for arm in run.arms]
        stored = session.scalars(
            select(Report).where(Report.run_id == run_id, Report.report_id == report_id)
        ).one_or_none()
        if stored is not None:
            _check_same_body(stored, body_hash)
            return _report_out(run_id, names, stored), True
        _validate_results(run, results, settings)
        if request.sample_id is not None:
            _mark_sample_reported(session, run_id, request.sample_id)
        expire_leases(session, run)
        strategy = strategy_of(run)
        positions = {name: i for i, name in enumerate(names)}
        applied = apply_report(strategy, run.strategy_state, run.step, positions, results)
        for i in np.flatnonzero(applied.feedback.present):
            absorb(run.arms[int(i)], applied.feedback, int(i))
        options = problem_options_of(run)
        if options is not None and run.auto_arms is not None:
            auto = auto_math.options_from_dict(run.auto_arms)
            auto_arms.record_outcomes(session, run, auto, results, options)
        elif options is not None:
            problems.record_outcomes(session, run, positions, results, options)
        now = utcnow()
        row = Report(
            run_id=run_id,
            report_id=report_id,
            sample_id=request.sample_id,
            seq=run.step + 1,
            body_hash=body_hash,
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
        session.add(row)
        run.strategy_state = applied.state
        run.step += 1
        run.updated_at = now
        answer = _report_out(run_id, names, row)
    if cache:
        cache.invalidate(run_id)
    return answer, False


def _check_same_body(stored: Report, body_hash: str) -> None:
    if stored.body_hash != body_hash:
        raise Conflict(
            f"report_id {stored.report_id!r} was already used with a different body",
            {"report_id": stored.report_id, "step": stored.seq},
        )


def _mark_sample_reported(session: Session, run_id: str, sample_id: str) -> None:
    row = session.scalars(
        select(Sample).where(Sample.run_id == run_id, Sample.sample_id == sample_id)
    ).one_or_none()
    if row is None:
        raise InvalidRequest(
            f"sample_id {sample_id!r} was not issued by this run", {"sample_id": sample_id}
        )
    if row.reported_at is None:
        row.reported_at = utcnow()
