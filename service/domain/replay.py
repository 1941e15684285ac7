"""Rebuild a run's state from its stored reports and samples, and compare or repair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from service.db.models import Report, Sample
from service.db.transaction import Database
from service.domain.answers import arm_infos, strategy_of
from service.domain.locking import locked_run, read_run
from service.domain.state import Replayed, replay


@dataclass
class ReplayResult:
    """Outcome of a replay: the rebuilt state and each difference from the stored one."""

    run_id: str
    reports: int
    samples: int
    differences: list[str]
    rebuilt: Replayed

    @property
    def matches(self) -> bool:
        return not self.differences


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return bool(
        np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=1e-12)
    )


def replay_run(db: Database, run_id: str, *, write: bool = False) -> ReplayResult:
    """Replay every stored report (in step order) and every sample of ``run_id``.

    Args:
        write: store the rebuilt state over the derived columns (repair).

    Raises:
        NotFound: unknown run.
    """
    opened = locked_run(db, run_id) if write else read_run(db, run_id)
    with opened as (session, run):
        strategy = strategy_of(run)
        reports = session.scalars(
            select(Report.results).where(Report.run_id == run_id).order_by(Report.seq)
        ).all()
        sample_rows = session.scalars(
            select(Sample.arm_positions).where(Sample.run_id == run_id).order_by(Sample.seq)
        ).all()
        n = len(run.arms)
        counts = [np.bincount(np.asarray(p, dtype=np.int64), minlength=n) for p in sample_rows]
        positions = {arm.name: i for i, arm in enumerate(run.arms)}
        rebuilt = replay(
            strategy, strategy.initial_state(arm_infos(run)), positions, reports, counts
        )
        differences = _differences(run, strategy, rebuilt)
        if write and differences:
            run.strategy_state = rebuilt.state
            run.step, run.samples = rebuilt.step, rebuilt.samples
            for arm, counter, sampled in zip(
                run.arms, rebuilt.counters, rebuilt.times_sampled, strict=True
            ):
                arm.times_reported = counter.times_reported
                arm.last_reward = counter.last_reward
                arm.outcome_sum = counter.outcome_sum
                arm.outcome_count = counter.outcome_count
                arm.times_sampled = sampled
        return ReplayResult(run_id, len(reports), len(sample_rows), differences, rebuilt)


def _differences(run: Any, strategy: Any, rebuilt: Replayed) -> list[str]:
    found: list[str] = []
    if run.step != rebuilt.step:
        found.append(f"step: stored {run.step}, replayed {rebuilt.step}")
    if run.samples != rebuilt.samples:
        found.append(f"samples: stored {run.samples}, replayed {rebuilt.samples}")
    stored_q = strategy.values(run.strategy_state)
    replayed_q = strategy.values(rebuilt.state)
    if not _close(stored_q, replayed_q):
        found.append(f"q: stored {stored_q.tolist()}, replayed {replayed_q.tolist()}")
    for arm, counter, sampled in zip(
        run.arms, rebuilt.counters, rebuilt.times_sampled, strict=True
    ):
        pairs = {
            "times_sampled": (arm.times_sampled, sampled),
            "times_reported": (arm.times_reported, counter.times_reported),
            "last_reward": (arm.last_reward, counter.last_reward),
            "outcome_sum": (arm.outcome_sum, counter.outcome_sum),
            "outcome_count": (arm.outcome_count, counter.outcome_count),
        }
        for field, (stored, replayed) in pairs.items():
            if not _close(stored, replayed):
                found.append(f"arm {arm.name!r} {field}: stored {stored}, replayed {replayed}")
    return found
