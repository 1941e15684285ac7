"""Retries, timeouts and typed transport errors.

Lost answers are produced against the real service by a transport that forwards each request
and then drops the first answer (the request *was* applied: the hard case for retries).
Status codes the real service cannot be made to answer on demand (429, 500, 401) come from
``httpx.MockTransport``, a fake network named as such.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.trainer_client.conftest import free_port
from trainer_client import (
    AuthError,
    ConnectionFailedError,
    CurriculumClient,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UnavailableError,
)
from trainer_client._core import is_retryable_status

NO_JITTER = RetryPolicy(max_retries=3, backoff_initial=0.1, backoff_max=0.3, jitter=0.0)


class DropFirstAnswers(httpx.HTTPTransport):
    """Forwards every request to the real server; loses the answers of the first ``n``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.remaining = n
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = super().handle_request(request)
        if self.remaining > 0:
            self.remaining -= 1
            response.read()
            response.close()
            raise httpx.ReadError("answer lost", request=request)
        return response


def _lossy_client(url: str, lost: int) -> tuple[CurriculumClient, DropFirstAnswers, list[float]]:
    transport = DropFirstAnswers(lost)
    sleeps: list[float] = []
    http = httpx.Client(base_url=url, transport=transport, timeout=10)
    return (
        CurriculumClient(http_client=http, retry=NO_JITTER, sleep=sleeps.append),
        transport,
        sleeps,
    )


def test_lost_report_answer_is_retried_and_applied_once(
    client: CurriculumClient, zpd_url: str
) -> None:
    run = client.create_run("retry", [{"name": "a", "size": 3}, "b"], "sec", seed=1)
    lossy, transport, sleeps = _lossy_client(zpd_url, lost=2)
    report = lossy.report(run.run_id, [{"arm": "a", "index": 1, "rewards": [1.0, 0.0]}])
    assert len(transport.sent) == 3
    ids = {request.content for request in transport.sent}
    assert len(ids) == 1  # the very same body, report_id included, three times
    assert sleeps == [0.1, 0.2]  # 0.1 * 2**k, no jitter
    assert report.step == 1 and client.get_run(run.run_id).step == 1


def test_lost_sample_answer_is_retried_with_the_same_sample_id(
    client: CurriculumClient, zpd_url: str
) -> None:
    run = client.create_run("retry-sample", [{"name": "a", "size": 5}], "sec", seed=2)
    lossy, transport, _ = _lossy_client(zpd_url, lost=1)
    sample = lossy.sample(run.run_id, 3)
    assert len(transport.sent) == 2 and transport.sent[0].content == transport.sent[1].content
    assert client.get_run(run.run_id).samples == 1
    assert client.sample(run.run_id, 3, sample_id=sample.sample_id).items == sample.items


def test_create_run_is_not_retried(client: CurriculumClient, zpd_url: str) -> None:
    lossy, transport, sleeps = _lossy_client(zpd_url, lost=1)
    with pytest.raises(ConnectionFailedError):
        lossy.create_run("sent-once", ["a"], "sec")
    assert len(transport.sent) == 1 and sleeps == []
    # It was applied: exactly one run by that name exists, which is why it is not retried.
    assert sum(run.name == "sent-once" for run in client.list_runs()) == 1


def test_connection_refused_after_retries() -> None:
    sleeps: list[float] = []
    dead = CurriculumClient(f"http://127.0.0.1:{free_port()}", retry=NO_JITTER, sleep=sleeps.append)
    with pytest.raises(ConnectionFailedError) as caught:
        dead.get_run("x")
    assert caught.value.status is None and caught.value.code == "connection_failed"
    assert sleeps == [0.1, 0.2, 0.3]  # three retries, capped at backoff_max


def test_wait_until_ready_times_out_on_a_dead_port() -> None:
    dead = CurriculumClient(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="not ready after 0.5s"):
        dead.wait_until_ready(timeout=0.5, interval=0.1)
    # measured 0.50 s (2026-12-02, shared 2-core machine): the bound is 20x that
    assert time.monotonic() - started < 10


def _mock_client(
    answers: list[httpx.Response], **kwargs: object
) -> tuple[CurriculumClient, list[httpx.Request], list[float]]:
    requests: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answers.pop(0)

    http = httpx.Client(base_url="http://zpd.test", transport=httpx.MockTransport(handler))
    client = CurriculumClient(http_client=http, retry=NO_JITTER, sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
    return client, requests, sleeps


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} here", "detail": {"k": 1}}}
    return httpx.Response(status, json=body, headers=headers)


HISTORY = {"run_id": "r", "arms": ["a"], "total_steps": 0, "points": []}


def test_retry_after_is_honoured_for_503_and_429() -> None:
    client, requests, sleeps = _mock_client(
        [
            _error(503, "unavailable", {"Retry-After": "2"}),
            _error(429, "rate_limited", {"Retry-After": "1"}),
            httpx.Response(200, json=HISTORY),
        ]
    )
    assert client.history("r").run_id == "r"
    assert len(requests) == 3 and sleeps == [2.0, 1.0]  # Retry-After beats 0.1 / 0.2


def test_exhausted_retries_raise_the_last_typed_error() -> None:
    client, requests, _ = _mock_client([_error(429, "rate_limited", {"Retry-After": "0"})] * 4)
    with pytest.raises(RateLimitedError) as caught:
        client.get_run("r")
    assert len(requests) == 4 and caught.value.retry_after == 0.0
    assert caught.value.detail == {"k": 1} and caught.value.message == "rate_limited here"


def test_server_error_on_create_is_not_retried() -> None:
    client, requests, sleeps = _mock_client([httpx.Response(500, text="boom")])
    with pytest.raises(ServerError) as caught:
        client.create_run("x", ["a"])
    assert caught.value.status == 500 and len(requests) == 1 and sleeps == []


def test_api_key_header_and_auth_error() -> None:
    client, requests, sleeps = _mock_client([_error(401, "unauthorized")], api_key="k-123")
    with pytest.raises(AuthError) as caught:
        client.list_runs()
    assert requests[0].headers["Authorization"] == "Bearer k-123"
    assert caught.value.status == 401 and sleeps == []  # a bad key is not retried


def test_which_statuses_are_retryable() -> None:
    assert [s for s in (200, 400, 401, 404, 409, 413, 422, 429, 500, 502, 503, 504) if is_retryable_status(s)] == [
        429, 500, 502, 503, 504,
    ]  # fmt: skip


def test_backoff_policy_with_jitter_stays_in_range() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_multiplier=2.0, backoff_max=5.0, jitter=0.5)
    for attempt, full in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (10, 5.0)]:
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays)
    assert policy.delay(0, retry_after=100.0) == 30.0  # capped at retry_after_max
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
