"""The client's own pydantic models of the v1 wire contract.

They follow the service's schemas field by field but are defined here, so that a trainer
needs nothing but this package. Answers ignore unknown fields, so a newer service that adds
fields does not break an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmSpec(_Request):
    """One problem category of a run: its name, how many problems it holds, free labels."""

    name: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=1)
    tags: dict[str, Any] = Field(default_factory=dict)


class AutoArms(_Request):
    """Arms the service forms itself: pass-rate buckets of the problems, re-formed online.

    ``size``: problems in the pool (indices ``0 .. size-1``); ``buckets``: increasing
    pass-rate edges in (0, 1) (service default ``[0.2, 0.5, 0.8]``); ``clusters`` with
    ``embeddings`` (one vector per problem): arms per k-means cluster x bucket.
    """

    size: int | None = Field(default=None, ge=1)
    buckets: list[float] | None = None
    clusters: int | None = Field(default=None, ge=1)
    embeddings: list[list[float]] | None = None


class Strategy(BaseModel):
    """A strategy name and its options, e.g. ``Strategy(name="sec", alpha=0.5, tau=1.0)``."""

    model_config = ConfigDict(extra="allow")

    name: str = "sec"

    def __init__(self, name: str = "sec", **options: Any) -> None:
        super().__init__(name=name, **options)


class ProblemResult(_Request):
    """One problem's outcome: rollout ``rewards`` or trainer-computed ``advantages``."""

    arm: str = Field(min_length=1)
    index: int | None = Field(default=None, ge=0)
    rewards: list[float] | None = None
    advantages: list[float] | None = None

    @model_validator(mode="after")
    def _one_signal(self) -> ProblemResult:
        if (self.rewards is None) == (self.advantages is None):
            raise ValueError("give exactly one of 'rewards' or 'advantages'")
        values = self.rewards if self.rewards is not None else self.advantages
        if not values:
            raise ValueError("'rewards'/'advantages' must not be empty")
        return self


class ArmState(_Answer):
    """An arm of a run as the service sees it now."""

    name: str
    size: int | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    q: float
    probability: float
    times_sampled: int
    times_reported: int
    last_reward: float | None = None
    mean_outcome_reward: float | None = None
    members: int | None = None
    """Automatic arms: problems in the arm now (None for given arms)."""


class Run(_Answer):
    """A curriculum run: its strategy, seed, progress and arm states."""

    run_id: str
    name: str
    strategy: dict[str, Any]
    seed: int
    step: int
    samples: int
    problems: dict[str, Any] | None = None
    demonstrations: int = 0
    auto_arms: dict[str, Any] | None = None
    samples_pending: int = 0
    samples_expired: int = 0
    created_at: datetime
    updated_at: datetime
    arms: list[ArmState]

    def arm(self, name: str) -> ArmState:
        """The state of the arm called ``name`` (``KeyError`` if there is none)."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)


class RunList(_Answer):
    runs: list[Run]


class SampleItem(_Answer):
    """One slot of a sample: the arm drawn and, if the arm has a size, a problem index in it."""

    arm: str
    index: int | None = None
    #: runs with per-problem tracking: the posterior mean pass rate of the problem
    predicted_pass_rate: float | None = None
    #: probability that all n rollouts agree (Beta-Binomial predictive), n = n_rollouts or
    #: the request's group_size
    p_all_agree: float | None = None
    #: rollouts for this item, when the sample asked for a rollout_budget
    n_rollouts: int | None = None
    #: the posterior behind the prediction: alpha, beta, successes, attempts
    evidence: dict[str, float] | None = None


class Sample(_Answer):
    """The answer of ``sample``: which problems to train on next."""

    sample_id: str
    run_id: str
    step: int
    probabilities: dict[str, float]
    items: list[SampleItem]


class SampleBatch(_Answer):
    """The answer of ``sample_many``: one one-problem sample per requested id, in order."""

    samples: list[Sample]


class Report(_Answer):
    """The answer of ``report``: the arms' rewards of this step and their new values."""

    report_id: str
    run_id: str
    step: int
    arm_rewards: dict[str, float]
    q: dict[str, float]
    probabilities: dict[str, float]


class StepResult(_Answer):
    """The answer of ``step``: the report's answer, then the next sample.

    ``report`` is None when the step carried no results (a first step);
    ``report_replayed`` is True when the ``report_id`` was known, so its stored answer came
    back and nothing of the report was applied again.
    """

    report: Report | None = None
    report_replayed: bool = False
    sample: Sample


class HistoryPoint(_Answer):
    step: int
    report_id: str
    created_at: datetime
    q: dict[str, float]
    probabilities: dict[str, float]
    rewards: dict[str, float]
    counts: dict[str, int]
    outcome_rewards: dict[str, float] = Field(default_factory=dict)


class RewindResult(_Answer):
    """What ``rewind`` did: the run's step and sample counter now, and what was set aside.

    ``rewind_id`` is None when nothing was set aside (the run already stood at ``step``).
    """

    run_id: str
    rewind_id: int | None = None
    step: int
    samples: int
    from_step: int
    from_samples: int
    reports_set_aside: int
    samples_set_aside: int


class History(_Answer):
    """Per training step: arm values, probabilities, rewards and counts."""

    run_id: str
    arms: list[str]
    total_steps: int
    points: list[HistoryPoint]
