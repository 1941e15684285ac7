"""Wire schemas of the v1 API (pydantic models).

These are the request and response bodies of ``/v1``. Field names follow the wire
contract in DESIGN.md: ``run_id``, ``arms``, ``q``, ``probabilities``, ``sample_id``,
``step``, ``items`` (``arm``, ``index``), ``report_id``, ``results`` (``arm``, ``index``,
``rewards`` or ``advantages``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator


def _integral(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; strict pydantic would not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_integral)]
MAX_SAFE_INTEGER = 2**53 - 1
MAX_TAGS_BYTES = 4096  # the largest integer every JSON client reads exactly
Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Body(BaseModel):
    # strict: JSON false is not a seed of 0, "3" is not a batch size of 3
    model_config = ConfigDict(extra="forbid", strict=True)


class ArmSpec(_Body):
    """One problem category of a run."""

    name: Name
    size: Integer | None = Field(
        default=None, ge=1, le=MAX_SAFE_INTEGER, description="Number of problems in the category."
    )
    tags: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form labels, e.g. task and difficulty (JSON, at most 4 KiB).",
    )

    @field_validator("tags")
    @classmethod
    def _storable_tags(cls, tags: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = orjson.dumps(tags)
        except TypeError as exc:  # e.g. an integer beyond 64 bits
            raise ValueError(f"tags must be storable JSON: {exc}") from None
        if len(encoded) > MAX_TAGS_BYTES:
            raise ValueError(f"tags must encode to at most {MAX_TAGS_BYTES} bytes of JSON")
        return tags


class StrategySpec(BaseModel):
    """``{"name": "sec", "alpha": 0.5, "tau": 1.0, ...}``: a strategy name and its options."""

    model_config = ConfigDict(extra="allow")

    name: Name = "sec"

    def options(self) -> dict[str, Any]:
        """The options beside ``name``."""
        return dict(self.model_extra or {})


class AutoArmsSpec(_Body):
    """Arms formed by the service: pass-rate buckets of the problems (x embedding clusters)."""

    size: Integer | None = Field(
        default=None,
        ge=1,
        le=2**40,
        description="Problems in the pool (indices 0 .. size-1); may be omitted with embeddings.",
    )
    buckets: list[FiniteFloat] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Increasing pass-rate edges in (0, 1); default [0.2, 0.5, 0.8].",
    )
    clusters: Integer | None = Field(
        default=None, ge=1, le=64, description="k-means clusters of the embeddings (needs them)."
    )
    embeddings: list[list[FiniteFloat]] | None = Field(
        default=None,
        max_length=100_000,
        description="One vector per problem (at most 100,000 vectors and 2,000,000 numbers).",
    )


class CreateRunRequest(_Body):
    name: Name
    arms: list[ArmSpec] | None = Field(
        default=None, min_length=1, description="The problem categories (or give auto_arms)."
    )
    auto_arms: AutoArmsSpec | None = Field(
        default=None,
        description="Instead of arms: arms formed from online pass-rate buckets (and clusters "
        "of problem embeddings), re-formed as reports come in. Implies per-problem tracking.",
    )
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    seed: Integer | None = Field(
        default=None, ge=0, le=MAX_SAFE_INTEGER, description="Random seed; drawn when omitted."
    )
    problems: dict[str, Any] | None = Field(
        default=None,
        description="Per-problem tracking: {'selection': 'frontier' | 'uniform', "
        "'success_reward', 'discount', 'mastered', 'hopeless', 'min_evidence', 'candidates'}. "
        "Omitted: arms only.",
    )

    @model_validator(mode="after")
    def _arms_or_auto(self) -> CreateRunRequest:
        if (self.arms is None) == (self.auto_arms is None):
            raise ValueError("give exactly one of 'arms' or 'auto_arms'")
        return self


class ArmState(BaseModel):
    name: str
    size: int | None
    tags: dict[str, Any]
    q: float
    probability: float
    times_sampled: int
    times_reported: int
    last_reward: float | None
    mean_outcome_reward: float | None
    members: int | None = Field(
        default=None, description="Automatic arms: problems in the arm now (None otherwise)."
    )


class RunOut(BaseModel):
    run_id: str
    name: str
    strategy: dict[str, Any]
    seed: int
    step: int = Field(description="Reports applied so far (training steps).")
    samples: int = Field(description="Sample calls answered so far.")
    problems: dict[str, Any] | None = Field(
        default=None, description="Per-problem tracking options (None: arms only)."
    )
    demonstrations: int = Field(
        default=0, description="Problems handed out with purpose 'demonstrations'."
    )
    auto_arms: dict[str, Any] | None = Field(
        default=None, description="Automatic arms: size, buckets, clusters (None: given arms)."
    )
    samples_pending: int = Field(
        default=0, description="Samples not reported yet whose lease is still running."
    )
    samples_expired: int = Field(
        default=0,
        description="Samples whose lease ran out before a report named their sample_id.",
    )
    created_at: datetime
    updated_at: datetime
    arms: list[ArmState]


class RunList(BaseModel):
    runs: list[RunOut]


class SampleRequest(_Body):
    batch_size: Integer = Field(ge=1, description="Number of problems to draw.")
    sample_id: Id | None = Field(
        default=None,
        description="Optional idempotency key: the same id answers the stored sample again.",
    )
    purpose: Literal["train", "demonstrations"] = Field(
        default="train",
        description="'demonstrations': problems the model currently fails, weighted as in "
        "boosting, to ask a teacher for (needs per-problem tracking).",
    )
    lease_seconds: Integer | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 3600,
        description="Report (naming this sample_id) within this time, or the sample counts "
        "as expired. Default: ZPD_SAMPLE_LEASE_SECONDS.",
    )


class SampleItem(BaseModel):
    arm: str
    index: int | None


class SampleOut(BaseModel):
    sample_id: str
    run_id: str
    step: int
    probabilities: dict[str, float]
    items: list[SampleItem]


class ProblemResult(_Body):
    """One problem's outcome: its rollout rewards, or advantages computed by the trainer."""

    arm: Name
    index: Integer | None = Field(default=None, ge=0, le=MAX_SAFE_INTEGER)
    rewards: list[FiniteFloat] | None = Field(default=None, min_length=1)
    advantages: list[FiniteFloat] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_signal(self) -> ProblemResult:
        if (self.rewards is None) == (self.advantages is None):
            raise ValueError("give exactly one of 'rewards' or 'advantages'")
        values = self.rewards if self.rewards is not None else self.advantages
        if not values:
            raise ValueError("'rewards'/'advantages' must not be empty")
        return self


class ReportRequest(_Body):
    report_id: Id | None = Field(
        default=None,
        description="Idempotency key: the same id twice is applied once. Generated if omitted.",
    )
    sample_id: Id | None = None
    results: list[ProblemResult] = Field(min_length=1)


class ReportOut(BaseModel):
    report_id: str
    run_id: str
    step: int
    arm_rewards: dict[str, float] = Field(description="r_t(c) of the arms present in the report.")
    q: dict[str, float]
    probabilities: dict[str, float]


class HistoryPoint(BaseModel):
    step: int
    report_id: str
    created_at: datetime
    q: dict[str, float]
    probabilities: dict[str, float]
    rewards: dict[str, float]
    counts: dict[str, int]
    outcome_rewards: dict[str, float]


class HistoryOut(BaseModel):
    run_id: str
    arms: list[str]
    total_steps: int
    points: list[HistoryPoint]


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody
