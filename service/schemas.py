"""Wire schemas of the v1 API (pydantic models).

These are the request and response bodies of ``/v1``: ``run_id``, ``arms``, ``q``,
``probabilities``, ``sample_id``, ``step``, ``items`` (``arm``, ``index``), ``report_id``,
``results`` (``arm``, ``index``, ``rewards`` or ``advantages``).

The OpenAPI document states every rule the server enforces that JSON Schema can express:
bounds on the models' fields, each strategy's options with their bounds (read from the
strategies themselves, :func:`service.curricula.base.strategy_option_schemas`), the
"exactly one of" choices as ``oneOf``, and the ``ZPD_MAX_*`` limits of the running
service (:func:`limit_openapi`). Rules between fields that JSON Schema cannot express
(unique arm names, increasing buckets, ...) are stated in the descriptions; the schema
fuzz test (``tests/service/test_fuzz_api.py``) holds the server to both.

It runs past 350 lines on purpose: it is the whole wire contract, one model per body, and
a reader checking what a client may send should find every field, bound and description in
one file. It holds declarations and their validators only (no storage, no strategy math).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict, models_json_schema

from service.curricula.base import option_schema, strategy_option_schemas
from service.curricula.problems import parse_problem_options

if TYPE_CHECKING:
    from service.settings import Settings


def _integral(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; strict pydantic would not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_integral)]


MAX_SAFE_INTEGER = 2**53 - 1
MAX_TAGS_BYTES = 4096  # the largest integer every JSON client reads exactly
Name = Annotated[str, Field(min_length=1, max_length=200)]
# Bounds go before the validator: put on ``Integer`` from outside, they reach the JSON
# Schema as the unknown keywords ``ge``/``le`` once the type sits in a union with None.
Count = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER), BeforeValidator(_integral)]
Index = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), BeforeValidator(_integral)]
PoolSize = Annotated[int, Field(ge=1, le=2**40), BeforeValidator(_integral)]
Clusters = Annotated[int, Field(ge=1, le=64), BeforeValidator(_integral)]
Rollouts = Annotated[int, Field(ge=1, le=4096), BeforeValidator(_integral)]
LeaseSeconds = Annotated[int, Field(ge=1, le=7 * 24 * 3600), BeforeValidator(_integral)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Body(BaseModel):
    # strict: JSON false is not a seed of 0, "3" is not a batch size of 3
    model_config = ConfigDict(extra="forbid", strict=True)


class ArmSpec(_Body):
    """One problem category of a run."""

    name: Name = Field(description="Unique among the run's arms.")
    size: Count | None = Field(
        default=None,
        description="Number of problems in the category. Needed on every arm for per-problem "
        "tracking; strategy 'random' needs it on every arm or on none.",
    )
    tags: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form labels, e.g. task and difficulty (JSON encoding to at most "
        "4096 bytes, integers within 64 bits). Strategy 'adarft' needs a numeric "
        "'difficulty' tag on every arm.",
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


def _strategy_schema(schema: dict[str, Any]) -> None:
    # One branch per registered strategy: its name and the options it reads, with their
    # bounds, so that a schema-valid body names a real strategy with real options.
    branches = []
    for name, options in strategy_option_schemas().items():
        branch = copy.deepcopy(options)
        branch["properties"] = {"name": {"const": name}, **branch["properties"]}
        if name != "sec":  # the default name may be left out
            branch["required"] = ["name", *branch.get("required", [])]
        branches.append(branch)
    schema["properties"]["name"]["enum"] = list(strategy_option_schemas())
    schema["oneOf"] = branches


class StrategySpec(BaseModel):
    """``{"name": "sec", "alpha": 0.5, "tau": 1.0, ...}``: a strategy name and its options.

    Rules between options: learning_progress needs ``alpha_slow < alpha_fast``; threshold
    needs ``lower < upper``; adarft's ``initial_target`` lies within the arms' difficulties.
    See docs/strategies.md for each option's meaning.
    """

    model_config = ConfigDict(extra="allow", json_schema_extra=_strategy_schema)

    name: Name = "sec"

    def options(self) -> dict[str, Any]:
        """The options beside ``name``."""
        return dict(self.model_extra or {})


PassRate = Annotated[float, Field(gt=0.0, lt=1.0)]
_AUTO_ARMS_CHOICE: JsonDict = {
    # size alone, or clusters with embeddings (size then optional)
    "oneOf": [
        {
            "required": ["size"],
            "properties": {
                "size": {"type": "integer"},
                "clusters": {"type": "null"},
                "embeddings": {"type": "null"},
            },
        },
        {
            "required": ["clusters", "embeddings"],
            "properties": {"clusters": {"type": "integer"}, "embeddings": {"type": "array"}},
        },
    ]
}


class AutoArmsSpec(_Body):
    """Arms formed by the service: pass-rate buckets of the problems (x embedding clusters).

    Give ``size``, or ``clusters`` with ``embeddings``. The arms formed, (buckets + 1) x
    clusters, count against ZPD_MAX_ARMS.
    """

    model_config = ConfigDict(json_schema_extra=_AUTO_ARMS_CHOICE)

    size: PoolSize | None = Field(
        default=None,
        description="Problems in the pool (indices 0 .. size-1). Required without embeddings; "
        "with them, it must equal the number of vectors if given.",
    )
    buckets: list[PassRate] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Strictly increasing pass-rate edges in (0, 1); default [0.2, 0.5, 0.8].",
    )
    clusters: Clusters | None = Field(
        default=None,
        description="k-means clusters of the embeddings (given with them, and at most the "
        "number of vectors).",
    )
    embeddings: list[Annotated[list[FiniteFloat], Field(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description="One vector per problem, all of the same length (at most 100,000 vectors "
        "and 2,000,000 numbers in all). Given with clusters.",
    )


_ARMS_CHOICE: JsonDict = {
    # arms without per-problem tracking, arms with it (then every arm has a size), or
    # auto_arms (which implies it)
    "oneOf": [
        {
            "required": ["arms"],
            "properties": {
                "arms": {"type": "array"},
                "auto_arms": {"type": "null"},
                "problems": {"type": "null"},
            },
        },
        {
            "required": ["arms", "problems"],
            "properties": {
                "arms": {
                    "type": "array",
                    "items": {"required": ["size"], "properties": {"size": {"type": "integer"}}},
                },
                "auto_arms": {"type": "null"},
                "problems": {"type": "object"},
            },
        },
        {
            "required": ["auto_arms"],
            "properties": {"auto_arms": {"type": "object"}, "arms": {"type": "null"}},
        },
    ]
}
ProblemOptions = Annotated[
    dict[str, Any], WithJsonSchema(option_schema(lambda: parse_problem_options({})))
]


class CreateRunRequest(_Body):
    """A new run: its arms (or ``auto_arms``), strategy, seed and per-problem tracking."""

    model_config = ConfigDict(json_schema_extra=_ARMS_CHOICE)

    name: Name
    arms: list[ArmSpec] | None = Field(
        default=None,
        min_length=1,
        description="The problem categories, with unique names (or give auto_arms). "
        "At most ZPD_MAX_ARMS.",
    )
    auto_arms: AutoArmsSpec | None = Field(
        default=None,
        description="Instead of arms: arms formed from online pass-rate buckets (and clusters "
        "of problem embeddings), re-formed as reports come in. Implies per-problem tracking.",
    )
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    seed: Index | None = Field(default=None, description="Random seed; drawn when omitted.")
    problems: ProblemOptions | None = Field(
        default=None,
        description="Per-problem tracking: {'selection': 'frontier' | 'uniform', "
        "'success_reward', 'discount', 'mastered', 'hopeless' (below 'mastered'), "
        "'min_evidence', 'candidates'}. Needs a size on every arm. Omitted: arms only.",
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
    batch_size: Integer = Field(
        ge=1, description="Number of problems to draw (at most ZPD_MAX_BATCH_SIZE)."
    )
    sample_id: Id | None = Field(
        default=None,
        description="Optional idempotency key: the same id answers the stored sample again.",
    )
    purpose: Literal["train", "demonstrations"] = Field(
        default="train",
        description="'demonstrations': problems the model currently fails, weighted as in "
        "boosting, to ask a teacher for (needs a run with per-problem tracking).",
    )
    lease_seconds: LeaseSeconds | None = Field(
        default=None,
        description="Report (naming this sample_id) within this time, or the sample counts "
        "as expired. Default: ZPD_SAMPLE_LEASE_SECONDS.",
    )
    group_size: Rollouts = Field(
        default=8,
        description="Rollouts the trainer makes per problem; p_all_agree of each item is "
        "computed for this n (runs with per-problem tracking). Ignored with rollout_budget.",
    )
    rollout_budget: Count | None = Field(
        default=None,
        description="Opt-in: give each item its n_rollouts, summing to at most this, each in "
        "[min_rollouts, max_rollouts], chosen to maximise the expected number of groups whose "
        "rollouts do not all agree (greedy marginal gain; needs per-problem tracking, and "
        "min_rollouts * batch_size <= rollout_budget).",
    )
    min_rollouts: Rollouts = Field(
        default=2, description="With rollout_budget: the fewest rollouts an item gets."
    )
    max_rollouts: Rollouts = Field(
        default=16,
        description="With rollout_budget: the most rollouts an item gets (>= min_rollouts).",
    )


class SampleManyRequest(_Body):
    """Many one-problem samples in one call, each as a /sample call with its own id."""

    sample_ids: list[Id] = Field(
        min_length=1,
        description="One idempotency key per sample to draw (at most ZPD_MAX_BATCH_SIZE): "
        "the answer holds one sample of one problem per id, in this order, equal to what "
        "that many /sample calls with batch_size 1 would draw; an id already stored answers "
        "its stored sample again.",
    )
    purpose: Literal["train", "demonstrations"] = Field(
        default="train", description="As /sample's purpose, for every sample."
    )
    lease_seconds: LeaseSeconds | None = Field(
        default=None,
        description="Report each sample (naming its sample_id) within this time, or it "
        "counts as expired. Default: ZPD_SAMPLE_LEASE_SECONDS.",
    )
    group_size: Rollouts = Field(
        default=8, description="As /sample's group_size: rollouts per problem."
    )

    def one_sample_requests(self) -> list[SampleRequest]:
        """The /sample requests this call answers, in order."""
        return [
            SampleRequest(
                batch_size=1,
                sample_id=sample_id,
                purpose=self.purpose,
                lease_seconds=self.lease_seconds,
                group_size=self.group_size,
            )
            for sample_id in self.sample_ids
        ]


def _absent(value: Any) -> bool:
    return value is None


class Evidence(BaseModel):
    """What a prediction rests on: the Beta posterior and the discounted rollouts."""

    alpha: float = Field(description="Posterior Beta alpha: prior alpha + successes.")
    beta: float = Field(description="Posterior Beta beta: prior beta + failures.")
    successes: float = Field(description="Discounted solved rollouts of the problem.")
    attempts: float = Field(description="Discounted rollouts of the problem.")


class SampleItem(BaseModel):
    arm: str
    index: int | None
    predicted_pass_rate: float | None = Field(
        default=None,
        exclude_if=_absent,
        description="Posterior mean pass rate alpha / (alpha + beta) (per-problem tracking).",
    )
    p_all_agree: float | None = Field(
        default=None,
        exclude_if=_absent,
        description="Probability that all n rollouts agree (all solved or all failed) under "
        "the Beta-Binomial predictive, n being n_rollouts or else group_size.",
    )
    n_rollouts: int | None = Field(
        default=None, exclude_if=_absent, description="Rollouts for this item (rollout_budget)."
    )
    evidence: Evidence | None = Field(
        default=None, exclude_if=_absent, description="The posterior behind the prediction."
    )


class SampleOut(BaseModel):
    sample_id: str
    run_id: str
    step: int
    probabilities: dict[str, float]
    items: list[SampleItem]


class SamplesOut(BaseModel):
    samples: list[SampleOut] = Field(description="One sample per requested sample_id, in order.")


_ONE_SIGNAL: JsonDict = {
    "oneOf": [
        {
            "required": ["rewards"],
            "properties": {"rewards": {"type": "array"}, "advantages": {"type": "null"}},
        },
        {
            "required": ["advantages"],
            "properties": {"advantages": {"type": "array"}, "rewards": {"type": "null"}},
        },
    ]
}


class ProblemResult(_Body):
    """One problem's outcome: its rollout rewards, or advantages computed by the trainer
    (exactly one of the two)."""

    model_config = ConfigDict(json_schema_extra=_ONE_SIGNAL)

    arm: Name = Field(description="One of the run's arms.")
    index: Index | None = Field(
        default=None, description="The problem's index, below its arm's size."
    )
    rewards: list[FiniteFloat] | None = Field(
        default=None,
        min_length=1,
        description="One reward per rollout (at most ZPD_MAX_ROLLOUTS); or give advantages.",
    )
    advantages: list[FiniteFloat] | None = Field(
        default=None,
        min_length=1,
        description="One advantage per rollout (at most ZPD_MAX_ROLLOUTS); or give rewards.",
    )

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
    sample_id: Id | None = Field(
        default=None, description="The sample this report answers (one the run handed out)."
    )
    results: list[ProblemResult] = Field(
        min_length=1, description="At most ZPD_MAX_RESULTS results."
    )


class ReportOut(BaseModel):
    report_id: str
    run_id: str
    step: int
    arm_rewards: dict[str, float] = Field(description="r_t(c) of the arms present in the report.")
    q: dict[str, float]
    probabilities: dict[str, float]


class StepRequest(_Body):
    """Report training step t and draw step t+1 in one call (one lock, one commit)."""

    report: ReportRequest | None = Field(
        default=None,
        description="The /report body of the step just trained (omit on the first step); "
        "applied before the draw, with /report's idempotency on report_id.",
    )
    sample: SampleRequest = Field(
        description="The /sample body of the next step, drawn after the report is applied."
    )


class StepOut(BaseModel):
    report: ReportOut | None = Field(
        description="/report's answer for the report (null when the request had none)."
    )
    report_replayed: bool = Field(
        default=False,
        description="True: the report_id was stored before; its stored answer is given and "
        "nothing of the report was applied again (/report's Idempotent-Replayed).",
    )
    sample: SampleOut = Field(description="/sample's answer for the next step.")


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


class RewindRequest(_Body):
    step: Index = Field(
        description="The trainer step to go back to: the number of reports to keep "
        "(0 <= step <= the run's step)."
    )
    samples: Index | None = Field(
        default=None,
        description="The sample counter to go back to: samples number `samples` and later are "
        "set aside. Default: the samples drawn before the step-th report was applied. A "
        "trainer that draws ahead (prefetching) passes the samples it had drawn at its "
        "checkpoint, and asks for the drawn-ahead ones again by their sample_id.",
    )


class RewindOut(BaseModel):
    run_id: str
    rewind_id: int | None = Field(description="None when nothing was set aside (a no-op).")
    step: int = Field(description="The run's step now (the step asked for).")
    samples: int = Field(description="The run's sample counter now: the next draw's number.")
    from_step: int
    from_samples: int
    reports_set_aside: int
    samples_set_aside: int


class SetAsideReport(BaseModel):
    step: int
    report_id: str
    sample_id: str | None
    results: list[dict[str, Any]]
    q: list[float]
    created_at: str


class RewindRecord(BaseModel):
    rewind_id: int
    from_step: int
    to_step: int
    from_samples: int
    to_samples: int
    created_at: datetime
    reports: list[SetAsideReport]
    sample_ids: list[str]


class RewindList(BaseModel):
    run_id: str
    rewinds: list[RewindRecord]


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


def with_body_schemas(schema: dict[str, Any], models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """``schema`` (the app's OpenAPI document) with the JSON Schemas of ``models`` (and the
    models they hold) among its components: the bodies that routes parse themselves and
    document with a ``$ref`` (``openapi_extra``), as FastAPI would for a body parameter."""
    _, top = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in top.get("$defs", {}).items():
        components.setdefault(name, definition)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    return schema


def limit_openapi(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``schema`` (the app's OpenAPI document) with the ``ZPD_MAX_*`` limits of ``settings``
    written in as ``maximum`` / ``maxItems``, so the document describes this service."""
    models = schema.get("components", {}).get("schemas", {})

    def limit(model: str, field: str, key: str, value: int) -> None:
        if model not in models:
            return
        prop = models[model]["properties"][field]
        for variant in prop.get("anyOf", [prop]):
            if variant.get("type") in ("integer", "array"):
                variant[key] = value

    limit("SampleRequest", "batch_size", "maximum", settings.max_batch_size)
    limit("SampleManyRequest", "sample_ids", "maxItems", settings.max_batch_size)
    limit("SampleManyRequest", "group_size", "maximum", settings.max_rollouts)
    limit("ReportRequest", "results", "maxItems", settings.max_results)
    limit("ProblemResult", "rewards", "maxItems", settings.max_rollouts)
    limit("ProblemResult", "advantages", "maxItems", settings.max_rollouts)
    for field in ("group_size", "min_rollouts", "max_rollouts"):
        limit("SampleRequest", field, "maximum", settings.max_rollouts)
    limit("CreateRunRequest", "arms", "maxItems", settings.max_arms)
    return schema
