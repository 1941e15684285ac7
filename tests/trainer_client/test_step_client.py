"""``step`` (``POST /v1/runs/{id}/step``) through both clients, against a real ``zpd serve``
on SQLite and on PostgreSQL.

The reference is the two-call path: on a twin run (same arms, strategy and seed),
``report`` followed by ``sample`` must give exactly the report answers, samples and final
run state that one ``step`` per training step gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.trainer_client.conftest import FAST_RETRY, module_server
from tests.trainer_client.run_state import applied, progress
from trainer_client import (
    AsyncCurriculumClient,
    CurriculumClient,
    InvalidRequestError,
    Sample,
    StepResult,
)

ARMS = [{"name": "easy", "size": 50}, {"name": "medium", "size": 30}, {"name": "hard", "size": 7}]
BATCH = 4
STEPS = 5
# per run kind: the run's per-problem options and the sample options every draw is sent with
KINDS: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "arms": (None, {"lease_seconds": 600}),
    "frontier": (
        {"selection": "frontier"},
        {"lease_seconds": 600, "rollout_budget": 20, "min_rollouts": 2, "max_rollouts": 8},
    ),
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One real ``zpd serve`` per database for this module's tests (each makes its own
    runs): on a SQLite file, and on a fresh PostgreSQL database dropped afterwards."""
    with module_server(request, tmp_path_factory) as server:
        yield server


def drawn(sample: Sample) -> tuple[Any, ...]:
    """What a sample handed out (its ids aside)."""
    return (
        sample.step,
        sample.probabilities,
        [
            (item.arm, item.index, item.predicted_pass_rate, item.p_all_agree, item.n_rollouts)
            for item in sample.items
        ],
    )


def results_for(sample: Sample, step: int) -> list[dict[str, Any]]:
    """Rewards that depend on the problem and the step, so that the arms' values move."""
    return [
        {
            "arm": item.arm,
            "index": item.index,
            "rewards": [1.0, float((n + step) % 2), float((item.index or 0) % 3 == 0), 0.0],
        }
        for n, item in enumerate(sample.items)
    ]


@pytest.mark.parametrize("kind", list(KINDS))
def test_steps_equal_report_then_sample(live_server: LiveServer, kind: str) -> None:
    problems, options = KINDS[kind]
    with CurriculumClient(live_server.url, retry=FAST_RETRY) as client:
        stepped = client.create_run("step", ARMS, {"name": "sec"}, seed=7, problems=problems)
        twin = client.create_run("twin", ARMS, {"name": "sec"}, seed=7, problems=problems)

        first = client.step(stepped.run_id, None, BATCH, **options)
        assert first.report is None and first.report_replayed is False
        reference = client.sample(twin.run_id, BATCH, **options)
        assert drawn(first.sample) == drawn(reference)
        previous, previous_twin = first.sample, reference
        for step in range(1, STEPS + 1):
            answer = client.step(
                stepped.run_id,
                results_for(previous, step),
                BATCH,
                reported_sample_id=previous.sample_id,
                **options,
            )
            report = client.report(
                twin.run_id, results_for(previous_twin, step), sample_id=previous_twin.sample_id
            )
            sample = client.sample(twin.run_id, BATCH, **options)
            assert answer.report_replayed is False
            assert applied(answer.report) == applied(report)
            assert drawn(answer.sample) == drawn(sample)
            previous, previous_twin = answer.sample, sample
        if kind == "frontier":  # the rollout options reached the service
            assert all(item.n_rollouts is not None for item in previous.items)

        after, after_twin = client.get_run(stepped.run_id), client.get_run(twin.run_id)
    assert progress(after) == progress(after_twin)
    # one report per trained step; one draw per step plus the first; only the last unreported
    assert (after.step, after.samples, after.samples_pending) == (STEPS, STEPS + 1, 1)
    assert sum(arm.times_sampled for arm in after.arms) == (STEPS + 1) * BATCH


def test_a_retried_step_replays_its_report_and_sample(live_server: LiveServer) -> None:
    with CurriculumClient(live_server.url, retry=FAST_RETRY) as client:
        run = client.create_run("retry", ARMS, {"name": "sec"}, seed=3)
        first = client.sample(run.run_id, BATCH)
        results = results_for(first, 1)
        once, again = (
            client.step(
                run.run_id,
                results,
                BATCH,
                reported_sample_id=first.sample_id,
                report_id="r-step-1",
                sample_id="s-step-1",
            )
            for _ in range(2)
        )
        after = client.get_run(run.run_id)
    assert (once.report_replayed, again.report_replayed) == (False, True)
    assert once.report is not None and once.report.report_id == "r-step-1"
    assert again.report == once.report
    assert again.sample == once.sample and once.sample.sample_id == "s-step-1"
    assert (after.step, after.samples) == (1, 2)  # one report, two draws: not three


class LoseFirstAnswer(httpx.BaseTransport):
    """A real HTTP transport that drops the first ``/step`` answer after the service has
    handled the request (a connection lost on the way back), to make the client retry."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.step_requests: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/step"):
            self.step_requests.append(request.read())
            if len(self.step_requests) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("answer lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_lost_answer_is_retried_without_applying_twice(live_server: LiveServer) -> None:
    transport = LoseFirstAnswer()
    with (
        httpx.Client(base_url=live_server.url, transport=transport) as http,
        CurriculumClient(http_client=http, retry=FAST_RETRY) as client,
    ):
        run = client.create_run("lost", ARMS, {"name": "sec"}, seed=5)
        first = client.sample(run.run_id, BATCH)
        answer = client.step(
            run.run_id, results_for(first, 1), BATCH, reported_sample_id=first.sample_id
        )
        after = client.get_run(run.run_id)
    # the retry sent the same body (the same generated ids) and got the stored answers
    assert len(transport.step_requests) == 2
    assert transport.step_requests[0] == transport.step_requests[1]
    assert answer.report_replayed is True
    assert (after.step, after.samples) == (1, 2)


def test_a_refused_step_changes_nothing(live_server: LiveServer) -> None:
    with CurriculumClient(live_server.url, retry=FAST_RETRY) as client:
        run = client.create_run("refused", ARMS, {"name": "sec"}, seed=9)
        first = client.sample(run.run_id, BATCH)
        before = client.get_run(run.run_id)
        unknown_arm = [{"arm": "no-such-arm", "rewards": [1.0, 0.0]}]
        with pytest.raises(InvalidRequestError, match="no-such-arm"):
            client.step(run.run_id, unknown_arm, BATCH, reported_sample_id=first.sample_id)
        # a good report with a draw the service refuses (a budget needs per-problem tracking)
        with pytest.raises(InvalidRequestError):
            client.step(
                run.run_id,
                results_for(first, 1),
                BATCH,
                reported_sample_id=first.sample_id,
                rollout_budget=20,
            )
        after = client.get_run(run.run_id)
    assert (before.step, before.samples, before.samples_pending) == (0, 1, 1)
    assert progress(after) == progress(before)


def test_the_async_step_matches_the_sync_step(live_server: LiveServer) -> None:
    problems, options = KINDS["frontier"]
    with CurriculumClient(live_server.url, retry=FAST_RETRY) as client:
        sync_run = client.create_run("sync", ARMS, {"name": "sec"}, seed=21, problems=problems)
        async_run = client.create_run("async", ARMS, {"name": "sec"}, seed=21, problems=problems)

        def sync_steps() -> list[StepResult]:
            answers = [client.step(sync_run.run_id, None, BATCH, **options)]
            for step in range(1, 4):
                sample = answers[-1].sample
                answers.append(
                    client.step(
                        sync_run.run_id,
                        results_for(sample, step),
                        BATCH,
                        reported_sample_id=sample.sample_id,
                        **options,
                    )
                )
            return answers

        async def async_steps() -> list[StepResult]:
            async with AsyncCurriculumClient(live_server.url, retry=FAST_RETRY) as aclient:
                answers = [await aclient.step(async_run.run_id, None, BATCH, **options)]
                for step in range(1, 4):
                    sample = answers[-1].sample
                    answers.append(
                        await aclient.step(
                            async_run.run_id,
                            results_for(sample, step),
                            BATCH,
                            reported_sample_id=sample.sample_id,
                            **options,
                        )
                    )
                return answers

        by_sync, by_async = sync_steps(), asyncio.run(async_steps())
        after_sync, after_async = client.get_run(sync_run.run_id), client.get_run(async_run.run_id)
    assert [(applied(a.report), drawn(a.sample)) for a in by_async] == [
        (applied(s.report), drawn(s.sample)) for s in by_sync
    ]
    assert not any(a.report_replayed for a in by_async)
    assert progress(after_async) == progress(after_sync)
    assert (after_async.step, after_async.samples) == (3, 4)
