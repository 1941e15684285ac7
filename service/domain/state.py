"""The fold that turns stored reports into run state, shared by /report and replay.

Applying a report live and replaying the stored reports call the same functions, so a
replay rebuilds exactly the state the service answered with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from service.curricula import ArmFeedback, State, Strategy, arm_feedback, problem_signals


class Counted(Protocol):
    """Anything holding an arm's report counters (an ``Arm`` row or :class:`ArmCounters`)."""

    times_reported: int
    last_reward: float | None
    outcome_sum: float
    outcome_count: int


@dataclass
class ArmCounters:
    """Per-arm counters derived from reports (times_sampled comes from samples)."""

    times_reported: int = 0
    last_reward: float | None = None
    outcome_sum: float = 0.0
    outcome_count: int = 0


def absorb(target: Counted, feedback: ArmFeedback, arm: int) -> None:
    """Add one report's feedback for ``arm`` to ``target``'s counters."""
    if not feedback.present[arm]:
        return
    count = int(feedback.count[arm])
    target.times_reported += count
    target.last_reward = float(feedback.reward[arm])
    if not np.isnan(feedback.outcome[arm]):
        target.outcome_sum += float(feedback.outcome[arm]) * count
        target.outcome_count += count


@dataclass
class Applied:
    """What one report did: the feedback, the new state and the answer's numbers."""

    feedback: ArmFeedback
    state: State
    q: np.ndarray
    probabilities: np.ndarray


def feedback_of(
    strategy: Strategy, positions: Mapping[str, int], results: Sequence[Mapping[str, Any]]
) -> ArmFeedback:
    """Per-arm feedback of one report's ``results`` (arm names already validated)."""
    arm_of_problem = np.fromiter(
        (positions[r["arm"]] for r in results), dtype=np.int64, count=len(results)
    )
    signal, outcome = problem_signals(
        [r.get("rewards") for r in results],
        [r.get("advantages") for r in results],
        strategy.advantage_std,
    )
    return arm_feedback(len(positions), arm_of_problem, signal, outcome)


def apply_report(
    strategy: Strategy,
    state: State,
    step: int,
    positions: Mapping[str, int],
    results: Sequence[Mapping[str, Any]],
) -> Applied:
    """Fold one report into ``state`` at ``step`` (the step it closes)."""
    feedback = feedback_of(strategy, positions, results)
    new_state = strategy.update(state, feedback, step)
    return Applied(
        feedback=feedback,
        state=new_state,
        q=strategy.values(new_state),
        probabilities=strategy.probabilities(new_state, step + 1),
    )


@dataclass
class Replayed:
    """Run state rebuilt from the stored reports and samples."""

    state: State
    step: int
    samples: int
    counters: list[ArmCounters]
    times_sampled: list[int] = field(default_factory=list)


def replay(
    strategy: Strategy,
    initial_state: State,
    positions: Mapping[str, int],
    reports: Sequence[Sequence[Mapping[str, Any]]],
    sample_counts: Sequence[Sequence[int] | np.ndarray],
) -> Replayed:
    """Rebuild run state from ``reports`` (each a results list, in step order) and samples."""
    state = initial_state
    counters = [ArmCounters() for _ in positions]
    for step, results in enumerate(reports):
        applied = apply_report(strategy, state, step, positions, results)
        state = applied.state
        for arm, counter in enumerate(counters):
            absorb(counter, applied.feedback, arm)
    times_sampled = np.zeros(len(positions), dtype=np.int64)
    for counts in sample_counts:
        times_sampled += np.asarray(counts, dtype=np.int64)
    return Replayed(
        state=state,
        step=len(reports),
        samples=len(sample_counts),
        counters=counters,
        times_sampled=times_sampled.tolist(),
    )
