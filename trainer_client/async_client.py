"""The asynchronous client of the ZPD v1 API: the methods of :class:`CurriculumClient`,
awaitable, e.g. ``sample = await client.sample(run_id, batch_size=256)`` inside
``async with AsyncCurriculumClient("http://127.0.0.1:8000") as client:``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from trainer_client import _core
from trainer_client._core import (
    DEFAULT_TIMEOUT,
    ArmLike,
    AsyncHTTPClient,
    AutoArmsLike,
    Call,
    ResultLike,
    RetryPolicy,
    StrategyLike,
)
from trainer_client.errors import CurriculumError, UnavailableError
from trainer_client.models import History, Report, RewindResult, Run, Sample, StepResult

ModelT = TypeVar("ModelT", bound=BaseModel)


class AsyncCurriculumClient:
    """Non-blocking client of a ZPD service; arguments as :class:`CurriculumClient`, with an
    ``httpx.AsyncClient`` for ``http_client`` and an async ``sleep``."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._owned: httpx.AsyncClient | None = None
        self._http: AsyncHTTPClient
        if http_client is None:
            if not base_url:
                raise ValueError("give base_url or http_client")
            self._owned = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
            self._http = self._owned
            self._prefix = ""
        else:
            self._http = http_client
            self._prefix = base_url.rstrip("/") if base_url else ""
        self._headers = _core.auth_headers(api_key)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    async def aclose(self) -> None:
        """Close the HTTP connections if this client created them."""
        if self._owned is not None:
            await self._owned.aclose()

    async def __aenter__(self) -> AsyncCurriculumClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def create_run(
        self,
        name: str,
        arms: Iterable[ArmLike] | None = None,
        strategy: StrategyLike | None = None,
        seed: int | None = None,
        problems: dict[str, Any] | None = None,
        auto_arms: AutoArmsLike | None = None,
    ) -> Run:
        """Create a run (see :meth:`CurriculumClient.create_run`); not retried."""
        return await self._execute(
            _core.create_run_call(name, arms, strategy, seed, problems, auto_arms)
        )

    async def get_run(self, run_id: str) -> Run:
        """The run with its arm states."""
        return await self._execute(_core.get_run_call(run_id))

    async def list_runs(self) -> list[Run]:
        """All runs."""
        return (await self._execute(_core.list_runs_call())).runs

    async def sample(
        self,
        run_id: str,
        batch_size: int,
        sample_id: str | None = None,
        lease_seconds: int | None = None,
        purpose: str = "train",
        *,
        group_size: int | None = None,
        rollout_budget: int | None = None,
        min_rollouts: int | None = None,
        max_rollouts: int | None = None,
    ) -> Sample:
        """Draw ``batch_size`` problems (idempotent through ``sample_id``; see the sync client
        for ``lease_seconds``, ``purpose`` and the rollout options ``group_size``,
        ``rollout_budget``, ``min_rollouts`` and ``max_rollouts``, None = not sent).
        Raises :class:`InvalidRequestError` for rollout options the service refuses."""
        call = _core.sample_call(
            run_id,
            batch_size,
            sample_id,
            lease_seconds,
            purpose,
            group_size=group_size,
            rollout_budget=rollout_budget,
            min_rollouts=min_rollouts,
            max_rollouts=max_rollouts,
        )
        return await self._execute(call)

    async def sample_many(
        self,
        run_id: str,
        count: int,
        sample_ids: list[str] | None = None,
        lease_seconds: int | None = None,
        purpose: str = "train",
        *,
        group_size: int | None = None,
    ) -> list[Sample]:
        """``count`` one-problem samples for ``count`` rollout workers in one call (see the
        sync client's :meth:`~trainer_client.client.CurriculumClient.sample_many`)."""
        call = _core.sample_many_call(
            run_id, count, sample_ids, lease_seconds, purpose, group_size=group_size
        )
        return (await self._execute(call)).samples

    async def report(
        self,
        run_id: str,
        results: Iterable[ResultLike],
        sample_id: str | None = None,
        report_id: str | None = None,
    ) -> Report:
        """Report one training step (idempotent through ``report_id``)."""
        return await self._execute(_core.report_call(run_id, results, sample_id, report_id))

    async def step(
        self,
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
    ) -> StepResult:
        """Report the step just trained and draw the next one in one round trip, for a
        synchronous trainer's report-then-sample (idempotent through ``report_id`` and
        ``sample_id``; see the sync client's
        :meth:`~trainer_client.client.CurriculumClient.step`)."""
        call = _core.step_call(
            run_id,
            results,
            batch_size,
            reported_sample_id=reported_sample_id,
            report_id=report_id,
            sample_id=sample_id,
            lease_seconds=lease_seconds,
            purpose=purpose,
            group_size=group_size,
            rollout_budget=rollout_budget,
            min_rollouts=min_rollouts,
            max_rollouts=max_rollouts,
        )
        return await self._execute(call)

    async def history(self, run_id: str) -> History:
        """Per step: arm values, probabilities, rewards and counts."""
        return await self._execute(_core.history_call(run_id))

    async def rewind(self, run_id: str, step: int, samples: int | None = None) -> RewindResult:
        """Take the run back to trainer ``step`` (its number of reports) to resume from a
        checkpoint exactly: later reports and samples are set aside, the state is rebuilt
        (docs/resume.md). ``samples``: the sample counter to keep (a prefetching trainer's
        draws at its checkpoint); default: the samples drawn before report ``step``.
        Raises :class:`InvalidRequestError` when ``step`` is above the run's step,
        :class:`ConflictError` for a run that cannot be rewound."""
        return await self._execute(_core.rewind_call(run_id, step, samples))

    async def healthz(self) -> dict[str, Any]:
        """The liveness probe's answer."""
        return _core.parse_json(await self._send("GET", "/healthz", None, retry=True))

    async def readyz(self) -> dict[str, Any]:
        """The readiness probe's answer, once; raises :class:`UnavailableError` when not ready."""
        return _core.parse_json(await self._send("GET", "/readyz", None, retry=False))

    async def wait_until_ready(self, timeout: float = 30.0, interval: float = 0.25) -> None:
        """Poll ``/readyz`` until it answers 200 (see :meth:`CurriculumClient.wait_until_ready`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.readyz()
                return
            except CurriculumError as exc:
                if not _core.is_not_ready(exc):
                    raise
                last = exc
            left = deadline - time.monotonic()
            if left <= 0:
                raise UnavailableError(
                    f"service not ready after {timeout:g}s: {last}", detail=str(last)
                ) from last
            await self._sleep(min(interval, left))

    async def _execute(self, call: Call[ModelT]) -> ModelT:
        response = await self._send(call.method, call.path, call.json, call.idempotent)
        return _core.parse_answer(response, call.model)

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None, retry: bool
    ) -> httpx.Response:
        url = self._prefix + path
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, url, json=body, headers=self._headers)
            except _core.TRANSPORT_ERRORS as exc:
                error = _core.transport_error(method, url, exc)
                if not retry or attempt >= self.retry.max_retries:
                    raise error from exc
                why, hint = type(exc).__name__, None
            else:
                retryable = _core.is_retryable(response)
                if not (retry and retryable) or attempt >= self.retry.max_retries:
                    return response
                why = f"HTTP {response.status_code}"
                hint = _core.retry_hint(_core.error_from_response(response))
            delay = self.retry.delay(attempt, hint)
            _core.log_retry(method, path, attempt, delay, why)
            await self._sleep(delay)
            attempt += 1
