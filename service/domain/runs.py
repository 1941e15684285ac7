"""The domain layer: what each v1 endpoint does, on top of the one transaction helper.

This module holds ``create_run``, ``get_run`` and ``list_runs`` and re-exports ``sample``
(:mod:`service.domain.samples`) and ``report`` (:mod:`service.domain.reports`), so the
routes call all five as ``runs.<endpoint>``. Every function takes the
:class:`~service.db.transaction.Database`, does its work in one transaction and returns a
wire model (shaped by :mod:`service.domain.answers`). ``sample`` and ``report`` run inside :func:`~service.domain.locking.locked_run`, so concurrent
writers to one run serialise and end in the state of a sequential replay; ``get_run``,
``list_runs`` and the history only read (see :mod:`service.domain.locking` for the rules).

Idempotency (retries are safe):

* ``sample`` with a ``sample_id`` already stored for the run answers the stored batch
  again and changes nothing; the same ``sample_id`` with another ``batch_size`` is a
  ``Conflict`` (409). Without a ``sample_id`` every call draws a new batch.
* ``report`` with a ``report_id`` already stored answers the stored answer again (the
  route adds ``Idempotent-Replayed: true``) and applies nothing; the same ``report_id``
  with a different body (sha256 of ``sample_id`` and ``results``) is a ``Conflict``.
  Without a ``report_id`` every call is a new training step.
* The stored id is looked up *after* the run's lock is taken, so two concurrent retries
  of one id cannot both apply: the second waits, then finds the first's row. The unique
  constraints on ``(run_id, sample_id)`` and ``(run_id, report_id)`` back this up.
* A refused request (4xx) raises before the transaction commits: nothing is written.

Which problems fill the slots and what a report keeps per problem depends on the run's
mode, which one :class:`~service.domain.trackers.ProblemTracker` decides; lease
bookkeeping is :mod:`service.domain.leases`, limit checks :mod:`service.domain.checks`.
"Now" comes from the ``clock`` argument (the app's :mod:`~service.domain.clock`), read
once per call.
"""

from __future__ import annotations

import secrets

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from service.auth import DEFAULT_TENANT
from service.cache import RunCache
from service.curricula import ArmInfo, StrategyError, build_strategy
from service.curricula import auto_arms as auto_math
from service.curricula.auto_arms import AutoArmOptions
from service.curricula.problems import parse_problem_options
from service.db.models import Arm, Run, new_id
from service.db.transaction import Database
from service.domain import auto_arms
from service.domain.answers import run_out
from service.domain.checks import check_arm_count
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.domain.leases import lease_counts
from service.domain.locking import read_run

# the write endpoints live in their own modules; callers reach all six through this one
from service.domain.reports import report as report
from service.domain.samples import sample as sample
from service.domain.samples import sample_many as sample_many
from service.domain.steps import step as step
from service.errors import InvalidRequest
from service.schemas import (
    AutoArmsSpec,
    CreateRunRequest,
    RunList,
    RunOut,
)
from service.settings import Settings


def create_run(
    db: Database,
    request: CreateRunRequest,
    settings: Settings,
    tenant: str = DEFAULT_TENANT,
    *,
    clock: Clock = SYSTEM_CLOCK,
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
    check_arm_count(len(names), settings)
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
    now = clock.now()
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
    check_arm_count(auto.arm_count, settings, "auto_arms (clusters x (buckets + 2))")
    clusters = None if vectors is None else auto_math.cluster_problems(vectors, auto.clusters, seed)
    return auto, clusters, auto_math.arm_infos(auto)


def get_run(
    db: Database,
    run_id: str,
    tenant: str | None = None,
    cache: RunCache | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> RunOut:
    """One run with its arm values and probabilities (from ``cache`` when it has it)."""
    generation = cache.generation(run_id) if cache else None
    if cache and generation is not None:
        cached = cache.get(run_id, generation, tenant)
        if cached is not None:
            return cached
    with read_run(db, run_id, tenant=tenant) as (session, run):
        answer = run_out(run, leases=lease_counts(session, [run.id], clock.now())[run.id])
    if cache and generation is not None:
        cache.put(run_id, generation, run.tenant, answer)
    return answer


def list_runs(db: Database, tenant: str | None = None, *, clock: Clock = SYSTEM_CLOCK) -> RunList:
    """All runs (of ``tenant``, if given), newest first."""
    with db.transaction() as session:
        query = select(Run).options(selectinload(Run.arms)).order_by(Run.created_at.desc())
        if tenant is not None:
            query = query.where(Run.tenant == tenant)
        runs = session.scalars(query).all()
        leases = lease_counts(session, [run.id for run in runs], clock.now())
        return RunList(runs=[run_out(run, leases=leases[run.id]) for run in runs])
