"""The synchronous client of the ZPD v1 API.

    from trainer_client import CurriculumClient

    with CurriculumClient("http://127.0.0.1:8000") as client:
        run = client.create_run("countdown", ["easy", "medium", "hard"], {"name": "sec"})
        sample = client.sample(run.run_id, batch_size=256)
        ...
        client.report(run.run_id, [{"arm": "easy", "rewards": [1.0, 0.0]}], sample.sample_id)

Only idempotent calls are retried (GETs; ``sample`` and ``sample_many``, which always carry
sample ids; ``report``, which always carries a ``report_id``; and ``step``, which carries
both); ``create_run`` is sent once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from trainer_client import _core
from trainer_client._core import (
    DEFAULT_TIMEOUT,
    ArmLike,
    AutoArmsLike,
    Call,
    ResultLike,
    RetryPolicy,
    StrategyLike,
    SyncHTTPClient,
)
from trainer_client.errors import CurriculumError, UnavailableError
from trainer_client.models import History, Report, RewindResult, Run, Sample, StepResult

ModelT = TypeVar("ModelT", bound=BaseModel)


class CurriculumClient:
    """Blocking client of a ZPD service.

    Args:
        base_url: the service's root URL, e.g. ``"http://127.0.0.1:8000"``. May be omitted
            when ``http_client`` already has a ``base_url`` (e.g. FastAPI's ``TestClient``).
        api_key: sent as ``Authorization: Bearer <api_key>`` when given.
        http_client: an ``httpx.Client`` to use instead of a new one; it is not closed by
            :meth:`close` (its owner closes it).
        timeout: per-request timeouts of the client this object creates (default: 5 s to
            connect, 30 s otherwise). Ignored when ``http_client`` is given.
        retry: the :class:`RetryPolicy` of idempotent calls.
        sleep: how to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        http_client: SyncHTTPClient | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owned: httpx.Client | None = None
        self._http: SyncHTTPClient
        if http_client is None:
            if not base_url:
                raise ValueError("give base_url or http_client")
            self._owned = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
            self._http = self._owned
            self._prefix = ""
        else:
            self._http = http_client
            self._prefix = base_url.rstrip("/") if base_url else ""
        self._headers = _core.auth_headers(api_key)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    def close(self) -> None:
        """Close the HTTP connections if this client created them."""
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> CurriculumClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the v1 contract ------------------------------------------------------------------

    def create_run(
        self,
        name: str,
        arms: Iterable[ArmLike] | None = None,
        strategy: StrategyLike | None = None,
        seed: int | None = None,
        problems: dict[str, Any] | None = None,
        auto_arms: AutoArmsLike | None = None,
    ) -> Run:
        """Create a run. ``arms``: names, ``{"name", "size"?, "tags"?}`` dicts or ArmSpecs;
        ``strategy``: ``"sec"``, ``{"name": "sec", "alpha": 0.5, "tau": 1.0}``, ... (the
        service's default when omitted); ``problems``: per-problem tracking options, e.g.
        ``{"selection": "frontier"}`` (pick problems near pass rate 0.5); ``auto_arms``
        instead of ``arms``: ``{"size": 100000, "buckets": [0.2, 0.5, 0.8]}`` (optionally
        ``"clusters"`` with ``"embeddings"``), arms formed and re-formed by the service from
        the problems' pass rates (an :class:`~trainer_client.models.AutoArms` works too).
        Not retried: a lost answer could hide a created run.
        """
        return self._execute(_core.create_run_call(name, arms, strategy, seed, problems, auto_arms))

    def get_run(self, run_id: str) -> Run:
        """The run with its arm states. Raises :class:`NotFoundError` if it does not exist."""
        return self._execute(_core.get_run_call(run_id))

    def list_runs(self) -> list[Run]:
        """All runs."""
        return self._execute(_core.list_runs_call()).runs

    def sample(
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
        """Draw ``batch_size`` problems. ``sample_id`` (generated when omitted) makes the call
        idempotent: the same id answers the stored sample again, so it is retried safely.
        ``lease_seconds``: report (with this sample_id) within this time, or the service
        counts the sample as expired (default: the service's ZPD_SAMPLE_LEASE_SECONDS).
        ``purpose="demonstrations"``: problems the model currently fails, to ask a teacher
        for (runs with per-problem tracking).

        Runs with per-problem tracking: ``group_size`` is the rollouts made per problem, for
        which each item's ``p_all_agree`` is computed (service default 8). ``rollout_budget``
        gives each item its ``n_rollouts``, in ``[min_rollouts, max_rollouts]`` (service
        defaults 2 and 16) and summing to at most the budget, spent where groups are least
        likely to all agree (docs/problems.md, "Rollout budgets"). Options left at ``None``
        are not sent.

        Raises :class:`InvalidRequestError` for options the service refuses: a budget on a
        run without per-problem tracking, ``min_rollouts > max_rollouts``, or a budget below
        ``min_rollouts * batch_size``."""
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
        return self._execute(call)

    def sample_many(
        self,
        run_id: str,
        count: int,
        sample_ids: list[str] | None = None,
        lease_seconds: int | None = None,
        purpose: str = "train",
        *,
        group_size: int | None = None,
    ) -> list[Sample]:
        """``count`` samples of one problem each, for ``count`` rollout workers, in one call
        (``POST /v1/runs/{id}/samples``): the same samples as ``count`` calls of
        ``sample(run_id, 1)`` in a row, drawn in one locked transaction. Each sample has its
        own ``sample_id`` (``sample_ids``, generated when omitted), to report on its own;
        the ids make the call idempotent, so it is retried safely. ``lease_seconds``,
        ``purpose`` and ``group_size`` apply to every sample, as in :meth:`sample`."""
        call = _core.sample_many_call(
            run_id, count, sample_ids, lease_seconds, purpose, group_size=group_size
        )
        return self._execute(call).samples

    def report(
        self,
        run_id: str,
        results: Iterable[ResultLike],
        sample_id: str | None = None,
        report_id: str | None = None,
    ) -> Report:
        """Report one training step: per problem ``{"arm", "index"?, "rewards": [...]}`` or
        ``{..., "advantages": [...]}``. ``report_id`` (generated when omitted) makes the call
        idempotent; reusing one with a different body raises :class:`ConflictError`."""
        return self._execute(_core.report_call(run_id, results, sample_id, report_id))

    def step(
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
        """Report the step just trained and draw the next one in one round trip
        (``POST /v1/runs/{id}/step``): for a synchronous trainer, whose loop is report, then
        sample, then train. The answers equal :meth:`report` followed by :meth:`sample`, but
        in one locked transaction and one commit.

        ``results``, ``reported_sample_id`` (the sample the results answer) and ``report_id``
        are :meth:`report`'s ``results``, ``sample_id`` and ``report_id``; ``results=None``
        sends no report (the first step). ``batch_size``, ``sample_id`` and the other
        options are :meth:`sample`'s. Both ids are generated when omitted, once per call, so
        a retried step replays the stored report (``report_replayed`` True, nothing applied
        again) and answers the stored sample.

        Raises :class:`InvalidRequestError` when the service refuses either half (an unknown
        arm, rollout options :meth:`sample` refuses, ...); the run is then unchanged."""
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
        return self._execute(call)

    def history(self, run_id: str) -> History:
        """Per step: arm values, probabilities, rewards and counts."""
        return self._execute(_core.history_call(run_id))

    def rewind(self, run_id: str, step: int, samples: int | None = None) -> RewindResult:
        """Take the run back to trainer ``step`` (its number of reports) to resume from a
        checkpoint exactly: later reports and samples are set aside, the state is rebuilt
        (docs/resume.md). ``samples``: the sample counter to keep (a prefetching trainer's
        draws at its checkpoint); default: the samples drawn before report ``step``.
        Raises :class:`InvalidRequestError` when ``step`` is above the run's step,
        :class:`ConflictError` for a run that cannot be rewound."""
        return self._execute(_core.rewind_call(run_id, step, samples))

    def healthz(self) -> dict[str, Any]:
        """The liveness probe's answer (the process is up)."""
        return _core.parse_json(self._send("GET", "/healthz", None, retry=True))

    def readyz(self) -> dict[str, Any]:
        """The readiness probe's answer, once; raises :class:`UnavailableError` when not ready."""
        return _core.parse_json(self._send("GET", "/readyz", None, retry=False))

    def wait_until_ready(self, timeout: float = 30.0, interval: float = 0.25) -> None:
        """Poll ``/readyz`` until it answers 200.

        Raises:
            UnavailableError: not ready within ``timeout`` seconds (``detail`` holds the
                last error seen).
            CurriculumError: an answer that waiting will not fix (e.g. :class:`AuthError`).
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.readyz()
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
            self._sleep(min(interval, left))

    # -- transport ------------------------------------------------------------------------

    def _execute(self, call: Call[ModelT]) -> ModelT:
        response = self._send(call.method, call.path, call.json, call.idempotent)
        return _core.parse_answer(response, call.model)

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, retry: bool
    ) -> httpx.Response:
        """Send once, or until an answer that is final; the last answer is returned as is."""
        url = self._prefix + path
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, json=body, headers=self._headers)
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
            self._sleep(delay)
            attempt += 1
