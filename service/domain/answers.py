"""Wire shaping: stored rows in, the wire models of :mod:`service.schemas` out.

Nothing here reads or writes storage: a run's arms must already be loaded. An answer
repeated from storage (a retried ``sample_id`` or ``report_id``) is shaped by the same
functions from the stored row, so a retry gets the same body as the first call.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.curricula import ArmInfo, Strategy, build_strategy
from service.db.models import Report, Run, Sample
from service.domain.clock import aware
from service.domain.leases import LeaseCounts
from service.domain.trackers import tracker_for
from service.schemas import ArmState, ReportOut, RunOut, SampleOut


def arm_infos(run: Run) -> list[ArmInfo]:
    """The run's arms as the strategies see them."""
    return [ArmInfo(name=a.name, size=a.size, tags=a.tags) for a in run.arms]


def strategy_of(run: Run) -> Strategy:
    """Rebuild the run's strategy object from its stored name and options."""
    return build_strategy(run.strategy_name, run.strategy_options, arm_infos(run))


def run_out(
    run: Run, strategy: Strategy | None = None, leases: LeaseCounts | None = None
) -> RunOut:
    """Shape a run as the wire's ``RunOut`` (probabilities restricted as its tracker says)."""
    leases = leases or LeaseCounts()
    strategy = strategy or strategy_of(run)
    q = strategy.values(run.strategy_state)
    p = tracker_for(run).restrict(strategy.probabilities(run.strategy_state, run.step))
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
        created_at=aware(run.created_at),
        updated_at=aware(run.updated_at),
        arms=arms,
    )


def sample_out(run: Run, row: Sample) -> SampleOut:
    """Shape a stored sample row as the wire's ``SampleOut``."""
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


def report_out(run_id: str, names: Sequence[str], row: Report) -> ReportOut:
    """Shape a stored report row as the wire's ``ReportOut`` (``names``: the run's arms)."""
    return ReportOut(
        report_id=row.report_id,
        run_id=run_id,
        step=row.seq,
        arm_rewards={n: r for n, r in zip(names, row.rewards, strict=True) if r is not None},
        q=dict(zip(names, row.q, strict=True)),
        probabilities=dict(zip(names, row.probabilities, strict=True)),
    )
