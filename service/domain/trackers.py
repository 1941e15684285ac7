"""How a run tracks individual problems: one :class:`ProblemTracker`, chosen once per run.

A run is in one of three modes, fixed at creation and read from its row:

* :class:`Untracked` (``problem_options`` and ``auto_arms`` NULL): inside an arm, problems
  are drawn uniformly without replacement from the arm's shuffled stream; nothing is kept
  per problem.
* :class:`PerProblem` (``problem_options`` set): problems come from the stream, or are
  chosen by their pass-rate posterior (``frontier`` selection, demonstrations); reports
  update each problem's counts.
* :class:`AutomaticArms` (``auto_arms`` set, ``problem_options`` always with it): an arm
  hands out its current members; a report moves each problem to the arm of its new
  posterior.

:func:`tracker_for` reads the mode from the run's row and returns the tracker; the
domain layer never tests the mode itself. Each tracker answers the four questions on
which the modes differ: which arms may be drawn (:meth:`~ProblemTracker.restrict`), which
arms the uniform draw fills with indices (:meth:`~ProblemTracker.sizes`), which problems
fill the drawn slots (:meth:`~ProblemTracker.pick`) and what a report leaves behind per
problem (:meth:`~ProblemTracker.record`). ``pick`` and ``record`` write rows and run
columns, so they run inside the caller's write transaction, with the run locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from sqlalchemy.orm import Session

from service.curricula import auto_arms as auto_math
from service.curricula.auto_arms import AutoArmOptions, restrict_to_members
from service.curricula.problems import ProblemOptions, parse_problem_options
from service.curricula.sampling import Batch
from service.db.models import Run
from service.domain import auto_arms, problems
from service.errors import InvalidRequest


class ProblemTracker(Protocol):
    """What differs between untracked runs, per-problem tracking and automatic arms."""

    def restrict(self, probabilities: np.ndarray) -> np.ndarray:
        """The strategy's arm probabilities, limited to arms that can hand out a problem."""
        ...

    def sizes(self) -> list[int | None]:
        """Per arm, the size :func:`~service.curricula.draw_batch` draws indices from
        (None: no index from the uniform draw; :meth:`pick` or nobody fills it)."""
        ...

    def pick(
        self, session: Session, batch: Batch, rng: np.random.Generator, demonstrations: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The problem index of each slot of ``batch`` (-1: none), and per arm how far its
        cursor moves.

        Raises:
            InvalidRequest: demonstrations asked of a run without per-problem tracking.
        """
        ...

    def record(
        self, session: Session, positions: Mapping[str, int], results: Sequence[dict[str, Any]]
    ) -> None:
        """Fold a validated report's per-problem rollouts into the run's problem state."""
        ...

    def predict(
        self, session: Session, slot_arms: np.ndarray, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Per slot, the posterior (alpha, beta) of its problem's pass rate and the
        discounted (solved, failed) behind it; None without per-problem state."""
        ...


class Untracked:
    """Arms only: the uniform draw's indices are the answer, and reports keep nothing per
    problem."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def restrict(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities

    def sizes(self) -> list[int | None]:
        return [arm.size for arm in self.run.arms]

    def pick(
        self, session: Session, batch: Batch, rng: np.random.Generator, demonstrations: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        if demonstrations:
            raise InvalidRequest(
                "purpose 'demonstrations' needs per-problem tracking: create the run with "
                '"problems": {"selection": "uniform"} (or "frontier")'
            )
        return batch.indices, batch.counts

    def record(
        self, session: Session, positions: Mapping[str, int], results: Sequence[dict[str, Any]]
    ) -> None:
        return None

    def predict(
        self, session: Session, slot_arms: np.ndarray, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        return None


class PerProblem:
    """Given arms with a pass-rate posterior per problem (:mod:`service.domain.problems`)."""

    def __init__(self, run: Run, options: ProblemOptions) -> None:
        self.run = run
        self.options = options
        self._priors: dict[int, tuple[float, float]] = {}
        self._picked: tuple[np.ndarray, np.ndarray] | None = None

    def prior(self, session: Session, arm: int) -> tuple[float, float]:
        """The arm's prior, fitted once per call (before the cursors move)."""
        if arm not in self._priors:
            self._priors[arm] = problems.arm_prior(session, self.run, arm, self.options)
        return self._priors[arm]

    def restrict(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities

    def sizes(self) -> list[int | None]:
        return [arm.size for arm in self.run.arms]

    def pick(
        self, session: Session, batch: Batch, rng: np.random.Generator, demonstrations: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        # uniform selection keeps the stream's order, as an untracked run would
        if not (demonstrations or self.options.selection == "frontier"):
            return batch.indices, batch.counts
        priors = {int(a): self.prior(session, int(a)) for a in np.unique(batch.arms)}
        evidence = np.zeros((len(batch.arms), 2))
        indices, consumed = problems.pick_problems(
            session, self.run, batch.arms, rng, self.options, demonstrations, priors, evidence
        )
        self._picked = (indices, evidence)  # predict() answers these without a second read
        return indices, consumed

    def record(
        self, session: Session, positions: Mapping[str, int], results: Sequence[dict[str, Any]]
    ) -> None:
        problems.record_outcomes(session, self.run, positions, results, self.options)

    def predict(
        self, session: Session, slot_arms: np.ndarray, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._picked is not None and np.array_equal(self._picked[0], indices):
            solved, failed = self._picked[1][:, 0], self._picked[1][:, 1]
        else:
            solved, failed = problems.evidence_of(
                session, self.run, slot_arms, indices, self.options
            )
        prior_a = np.array([self.prior(session, int(a))[0] for a in slot_arms])
        prior_b = np.array([self.prior(session, int(a))[1] for a in slot_arms])
        return prior_a + solved, prior_b + failed, solved, failed


class AutomaticArms:
    """Arms formed by the service: buckets of pass rate per cluster
    (:mod:`service.domain.auto_arms`); an arm hands out its current members."""

    def __init__(self, run: Run, auto: AutoArmOptions, options: ProblemOptions) -> None:
        self.run = run
        self.auto = auto
        self.options = options

    def restrict(self, probabilities: np.ndarray) -> np.ndarray:
        # an arm without members has nothing to hand out
        return restrict_to_members(
            probabilities, np.array([arm.members or 0 for arm in self.run.arms])
        )

    def sizes(self) -> list[int | None]:
        return [None] * len(self.run.arms)  # members are picked, not drawn by index

    def pick(
        self, session: Session, batch: Batch, rng: np.random.Generator, demonstrations: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        return auto_arms.pick_members(
            session, self.run, self.auto, batch.arms, rng, self.options, demonstrations
        )

    def record(
        self, session: Session, positions: Mapping[str, int], results: Sequence[dict[str, Any]]
    ) -> None:
        auto_arms.record_outcomes(session, self.run, self.auto, results, self.options)

    def predict(
        self, session: Session, slot_arms: np.ndarray, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        # every problem's counts live under arm 0, keyed by its pool index
        pool = np.zeros(len(indices), dtype=np.int64)
        solved, failed = problems.evidence_of(session, self.run, pool, indices, self.options)
        if self.options.prior != "pooled":
            return 1.0 + solved, 1.0 + failed, solved, failed
        # the prior of a slot's problem: pooled over its embedding cluster (its neighbours)
        clusters = np.asarray(slot_arms, dtype=np.int64) // self.auto.per_cluster
        priors = {
            int(c): auto_arms.cluster_prior(session, self.run, self.auto, int(c), self.options)
            for c in np.unique(clusters).tolist()
        }
        prior_a = np.array([priors[int(c)][0] for c in clusters])
        prior_b = np.array([priors[int(c)][1] for c in clusters])
        return prior_a + solved, prior_b + failed, solved, failed


def tracker_for(run: Run) -> ProblemTracker:
    """The tracker of ``run``'s mode (read from its ``auto_arms`` and ``problem_options``)."""
    if run.auto_arms is not None:
        # creation always stores problem options with automatic arms
        options = parse_problem_options(run.problem_options or {})
        return AutomaticArms(run, auto_math.options_from_dict(run.auto_arms), options)
    if run.problem_options:
        return PerProblem(run, parse_problem_options(run.problem_options))
    return Untracked(run)
