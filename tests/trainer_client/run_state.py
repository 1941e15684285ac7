"""What the resume tests compare between a resumed run and an uninterrupted one."""

from __future__ import annotations

from typing import Any

from trainer_client import CurriculumClient, Report, Run


def comparable_run(client: CurriculumClient, run_id: str) -> dict[str, Any]:
    """The run's state and full history, without what differs between two runs by design
    (ids, names, timestamps)."""
    run = client.get_run(run_id).model_dump(exclude={"run_id", "name", "created_at", "updated_at"})
    run["history"] = [
        point.model_dump(exclude={"report_id", "created_at"})
        for point in client.history(run_id).points
    ]
    return run


def applied(report: Report | None) -> tuple[Any, ...] | None:
    """What a report answered (its ids aside)."""
    if report is None:
        return None
    return (report.step, report.arm_rewards, report.q, report.probabilities)


def progress(run: Run) -> tuple[Any, ...]:
    """A run's progress and per-arm counters and values."""
    arms = [
        (arm.name, arm.times_sampled, arm.times_reported, arm.q, arm.probability, arm.last_reward)
        for arm in run.arms
    ]
    return (run.step, run.samples, run.samples_pending, run.samples_expired, arms)
