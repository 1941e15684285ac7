"""What the sync and async clients share: request building, answer parsing, retry policy.

Only the loop that sends a request differs between :mod:`trainer_client.client` and
:mod:`trainer_client.async_client`; everything that decides *what* is sent, *whether* to try
again and *how* an answer is read lives here, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from trainer_client.errors import (
    ConnectionFailedError,
    CurriculumError,
    InvalidRequestError,
    RateLimitedError,
    StorageError,
    UnavailableError,
    UnexpectedResponseError,
    error_from_response,
)
from trainer_client.models import (
    ArmSpec,
    AutoArms,
    History,
    ProblemResult,
    Report,
    RewindResult,
    Run,
    RunList,
    Sample,
    SampleBatch,
    StepResult,
    Strategy,
)

logger = logging.getLogger("trainer_client")

ModelT = TypeVar("ModelT", bound=BaseModel)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Default timeouts: 5 s to connect, 30 s to read, write or wait for a pooled connection."""


def _transport_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [httpx.TransportError]
    try:  # Starlette's TestClient is built on httpx's successor, httpx2
        import httpx2  # type: ignore[import-not-found,unused-ignore]

        errors.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()
"""Exceptions meaning "no answer came back" (connection refused, reset, timed out)."""


class SyncHTTPClient(Protocol):
    """What the sync client needs of ``http_client``: ``httpx.Client`` and FastAPI's
    ``TestClient`` both qualify."""

    def request(
        self, method: str, url: str, *, json: Any = ..., headers: Any = ...
    ) -> Any: ...  # an httpx(-compatible) Response


class AsyncHTTPClient(Protocol):
    """What the async client needs of ``http_client``: e.g. ``httpx.AsyncClient``."""

    async def request(
        self, method: str, url: str, *, json: Any = ..., headers: Any = ...
    ) -> Any: ...


ArmLike = str | ArmSpec | Mapping[str, Any]
StrategyLike = str | Strategy | Mapping[str, Any]
ResultLike = ProblemResult | Mapping[str, Any]
AutoArmsLike = AutoArms | Mapping[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long idempotent calls wait before they are tried again.

    Attempt ``k`` (0-based) waits ``min(backoff_max, backoff_initial * multiplier**k)`` seconds
    times a random factor in ``[1 - jitter, 1]``; a ``Retry-After`` header from the service
    is honoured when longer (capped at ``retry_after_max``). ``max_retries=0`` disables retries.
    """

    max_retries: int = 4
    backoff_initial: float = 0.25
    backoff_multiplier: float = 2.0
    backoff_max: float = 8.0
    jitter: float = 0.1
    retry_after_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_initial < 0 or self.backoff_max < 0:
            raise ValueError("backoff times must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        backoff = min(self.backoff_max, self.backoff_initial * self.backoff_multiplier**attempt)
        backoff *= 1.0 - self.jitter * random.random()
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.retry_after_max))
        return backoff


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and every 5xx are worth another try for an idempotent call."""
    return status == 429 or status >= 500


def is_retryable(response: Any) -> bool:
    """Whether an idempotent call's answer is worth another try: a retryable status, except
    a ``storage_error`` (:class:`~trainer_client.errors.StorageError`), which is not
    transient: the database refused the operation itself and would refuse it again."""
    if not is_retryable_status(response.status_code):
        return False
    return not isinstance(error_from_response(response), StorageError)


def is_not_ready(error: CurriculumError) -> bool:
    """Whether a readiness probe's failure may go away by waiting (vs. e.g. a bad API key)."""
    if isinstance(error, UnavailableError | ConnectionFailedError | RateLimitedError):
        return True
    return error.status is not None and error.status >= 500


def retry_hint(error: CurriculumError) -> float | None:
    """The service's ``Retry-After`` (seconds) carried by ``error``, if any."""
    if isinstance(error, RateLimitedError | UnavailableError):
        return error.retry_after
    return None


@dataclass(frozen=True)
class Call(Generic[ModelT]):
    """One API call: what to send, whether it may be retried, how to read the answer."""

    method: str
    path: str
    model: type[ModelT]
    json: dict[str, Any] | None = None
    idempotent: bool = True


def new_id(prefix: str) -> str:
    """A fresh idempotency key such as ``r-3f2a...`` (allowed by the service's id pattern)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def _run_path(run_id: str, suffix: str = "") -> str:
    if not run_id:
        raise InvalidRequestError("run_id must not be empty")
    return f"/v1/runs/{quote(run_id, safe='')}{suffix}"


def arm_payload(arm: ArmLike) -> dict[str, Any]:
    """``"easy"``, ``{"name": "easy", "size": 10}`` or an :class:`ArmSpec` -> wire dict."""
    if isinstance(arm, str):
        arm = ArmSpec(name=arm)
    elif not isinstance(arm, ArmSpec):
        arm = _validated(ArmSpec, arm)
    return arm.model_dump(exclude_none=True)


def strategy_payload(strategy: StrategyLike) -> dict[str, Any]:
    """``"sec"``, ``{"name": "sec", "tau": 0.5}`` or a :class:`Strategy` -> wire dict."""
    if isinstance(strategy, str):
        return {"name": strategy}
    if isinstance(strategy, Strategy):
        return strategy.model_dump()
    return dict(_validated(Strategy, strategy).model_dump())


def result_payload(result: ResultLike) -> dict[str, Any]:
    """A :class:`ProblemResult` or an equivalent mapping -> wire dict (checked here first)."""
    if not isinstance(result, ProblemResult):
        result = _validated(ProblemResult, result)
    return result.model_dump(exclude_none=True)


def _validated(model: type[ModelT], value: Any) -> ModelT:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidRequestError(
            f"invalid {model.__name__}: {exc.errors()[0]['msg']}",
            detail=exc.errors(include_url=False, include_input=False),
        ) from exc


def auto_arms_payload(auto_arms: AutoArmsLike) -> dict[str, Any]:
    """An :class:`AutoArms` or an equivalent mapping -> wire dict (checked here first)."""
    if not isinstance(auto_arms, AutoArms):
        auto_arms = _validated(AutoArms, auto_arms)
    return auto_arms.model_dump(exclude_none=True)


def create_run_call(
    name: str,
    arms: Iterable[ArmLike] | None,
    strategy: StrategyLike | None,
    seed: int | None,
    problems: dict[str, Any] | None = None,
    auto_arms: AutoArmsLike | None = None,
) -> Call[Run]:
    if (arms is None) == (auto_arms is None):
        raise InvalidRequestError("give exactly one of arms or auto_arms")
    body: dict[str, Any] = {"name": name}
    if arms is not None:
        body["arms"] = [arm_payload(arm) for arm in arms]
    if auto_arms is not None:
        body["auto_arms"] = auto_arms_payload(auto_arms)
    if strategy is not None:
        body["strategy"] = strategy_payload(strategy)
    if seed is not None:
        body["seed"] = seed
    if problems is not None:
        body["problems"] = problems
    # Not idempotent: a retried create could make two runs.
    return Call("POST", "/v1/runs", Run, json=body, idempotent=False)


def get_run_call(run_id: str) -> Call[Run]:
    return Call("GET", _run_path(run_id), Run)


def list_runs_call() -> Call[RunList]:
    return Call("GET", "/v1/runs", RunList)


def sample_call(
    run_id: str,
    batch_size: int,
    sample_id: str | None,
    lease_seconds: int | None = None,
    purpose: str = "train",
    *,
    group_size: int | None = None,
    rollout_budget: int | None = None,
    min_rollouts: int | None = None,
    max_rollouts: int | None = None,
) -> Call[Sample]:
    """The ``/sample`` request; each option left at ``None`` is not sent, so the service's
    default applies. The service checks the rollout options (a 4xx is
    :class:`InvalidRequestError`)."""
    if batch_size < 1:
        raise InvalidRequestError(f"batch_size must be >= 1, got {batch_size}")
    body: dict[str, Any] = {"batch_size": batch_size, "sample_id": sample_id or new_id("s")}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    if purpose != "train":
        body["purpose"] = purpose
    options = {
        "group_size": group_size,
        "rollout_budget": rollout_budget,
        "min_rollouts": min_rollouts,
        "max_rollouts": max_rollouts,
    }
    body.update({name: value for name, value in options.items() if value is not None})
    return Call("POST", _run_path(run_id, "/sample"), Sample, json=body)


def sample_many_call(
    run_id: str,
    count: int,
    sample_ids: list[str] | None = None,
    lease_seconds: int | None = None,
    purpose: str = "train",
    *,
    group_size: int | None = None,
) -> Call[SampleBatch]:
    """The ``/samples`` request: ``count`` one-problem samples, with ``sample_ids``
    (generated when omitted, so a retry of the same call is answered from storage)."""
    if sample_ids is None:
        sample_ids = [new_id("s") for _ in range(count)]
    if count < 1 or len(sample_ids) != count:
        raise InvalidRequestError(
            f"count must be >= 1 and match sample_ids, got {count} and {len(sample_ids)}"
        )
    body: dict[str, Any] = {"sample_ids": list(sample_ids)}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    if purpose != "train":
        body["purpose"] = purpose
    if group_size is not None:
        body["group_size"] = group_size
    return Call("POST", _run_path(run_id, "/samples"), SampleBatch, json=body)


def report_call(
    run_id: str, results: Iterable[ResultLike], sample_id: str | None, report_id: str | None
) -> Call[Report]:
    payload = [result_payload(result) for result in results]
    if not payload:
        raise InvalidRequestError("a report needs at least one result")
    body: dict[str, Any] = {"report_id": report_id or new_id("r"), "results": payload}
    if sample_id is not None:
        body["sample_id"] = sample_id
    return Call("POST", _run_path(run_id, "/report"), Report, json=body)


def step_call(
    run_id: str,
    results: Iterable[ResultLike] | None,
    batch_size: int,
    *,
    reported_sample_id: str | None = None,
    report_id: str | None = None,
    sample_id: str | None = None,
    lease_seconds: int | None = None,
    purpose: str = "train",
    group_size: int | None = None,
    rollout_budget: int | None = None,
    min_rollouts: int | None = None,
    max_rollouts: int | None = None,
) -> Call[StepResult]:
    """The ``/step`` request: :func:`report_call`'s body (none when ``results`` is None) and
    :func:`sample_call`'s, each checked and given its generated id as those calls do. The
    ids are fixed here, once, so a retry of the same call replays the stored report and
    answers the stored sample instead of applying or drawing again."""
    body: dict[str, Any] = {}
    if results is not None:
        body["report"] = report_call(run_id, results, reported_sample_id, report_id).json
    body["sample"] = sample_call(
        run_id,
        batch_size,
        sample_id,
        lease_seconds,
        purpose,
        group_size=group_size,
        rollout_budget=rollout_budget,
        min_rollouts=min_rollouts,
        max_rollouts=max_rollouts,
    ).json
    return Call("POST", _run_path(run_id, "/step"), StepResult, json=body)


def history_call(run_id: str) -> Call[History]:
    return Call("GET", _run_path(run_id, "/history"), History)


def rewind_call(run_id: str, step: int, samples: int | None = None) -> Call[RewindResult]:
    # Idempotent: a repeated rewind to the same step finds nothing left to set aside.
    if step < 0 or (samples is not None and samples < 0):
        raise InvalidRequestError(f"step and samples must be >= 0, got {step} and {samples}")
    body: dict[str, Any] = {"step": step}
    if samples is not None:
        body["samples"] = samples
    return Call("POST", _run_path(run_id, "/rewind"), RewindResult, json=body)


def parse_answer(response: httpx.Response, model: type[ModelT]) -> ModelT:
    """The answer as ``model``, or the typed error it stands for."""
    if response.status_code >= 400:
        raise error_from_response(response)
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UnexpectedResponseError(
            f"answer of {response.request.method} {response.request.url.path} is not a "
            f"{model.__name__}",
            detail=exc.errors(include_url=False, include_input=False),
            status=response.status_code,
        ) from exc


def parse_json(response: httpx.Response) -> dict[str, Any]:
    """A JSON-object answer (health probes), or the typed error it stands for."""
    if response.status_code >= 400:
        raise error_from_response(response)
    try:
        body = response.json()
    except ValueError as exc:
        raise UnexpectedResponseError("answer is not JSON", status=response.status_code) from exc
    return body if isinstance(body, dict) else {"value": body}


def transport_error(call_method: str, url: str, exc: Exception) -> CurriculumError:
    """A transport failure (no answer) as a :class:`ConnectionFailedError`."""
    return ConnectionFailedError(
        f"{call_method} {url} failed: {type(exc).__name__}: {exc}", detail=type(exc).__name__
    )


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def log_retry(method: str, path: str, attempt: int, delay: float, why: str) -> None:
    logger.warning("%s %s failed (%s); retry %d in %.2fs", method, path, why, attempt + 1, delay)
