"""``Curriculum.report_and_next`` (one ``POST /v1/runs/{id}/step`` per training step) against
a real ``zpd serve`` on SQLite and on PostgreSQL.

The reference is the two-call loop of the same helper: on a twin run (same arms, strategy
and seed), ``next_batch`` + ``report`` must give exactly the batches, report answers and
final run state that ``next_batch`` once, then ``report_and_next``, give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.trainer_client.conftest import FAST_RETRY, module_server
from tests.trainer_client.run_state import applied, progress
from trainer_client import Batch, Curriculum, CurriculumClient, InvalidRequestError, Report

ARMS = [{"name": "easy", "size": 50}, {"name": "medium", "size": 30}, {"name": "hard", "size": 7}]
STRATEGY = {"name": "sec", "alpha": 0.5, "tau": 0.5}
# the size of the batch drawn at each step: the first by next_batch, the others with the
# report of the step before (a change of size at step 2, kept by the default afterwards)
SIZES = [4, 4, 6, 6, 6]


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


def drawn(batch: Batch) -> tuple[Any, ...]:
    """What a batch handed out (its ids aside)."""
    return (batch.step, batch.probabilities, [(item.arm, item.index) for item in batch])


Signals = list[list[float] | None]


def signals(batch: Batch, step: int, kind: str) -> Signals:
    """Per slot: rewards or advantages that depend on the problem and the step (so that the
    arms' values move), and ``None`` for one slot per step (not trained on)."""
    out: Signals = []
    for n, item in enumerate(batch):
        index = item.index or 0
        if n == step % len(batch):
            out.append(None)
        elif kind == "rewards":
            out.append([1.0, float((n + step) % 2), float(index % 3 == 0), 0.0])
        else:
            a = 0.25 * (1 + (index + step) % 3)
            out.append([a, -a, 0.5 * a, -0.5 * a])
    return out


def split(kind: str, values: Signals) -> tuple[Signals | None, Signals | None]:
    """``(rewards, advantages)``: ``values`` in the place ``kind`` names."""
    return (values, None) if kind == "rewards" else (None, values)


@pytest.mark.parametrize("kind", ["rewards", "advantages"])
def test_report_and_next_equals_next_batch_then_report(live_server: LiveServer, kind: str) -> None:
    with CurriculumClient(live_server.url, retry=FAST_RETRY) as client:
        stepped = Curriculum.create(client, "one-call", ARMS, STRATEGY, seed=7)
        twin = Curriculum.create(client, "two-calls", ARMS, STRATEGY, seed=7)

        batches, twin_batches = [stepped.next_batch(SIZES[0])], [twin.next_batch(SIZES[0])]
        reports: list[Report] = []
        twin_reports: list[Report] = []
        for step in range(1, len(SIZES) + 1):
            batch, twin_batch = batches[-1], twin_batches[-1]
            rewards, advantages = split(kind, signals(batch, step, kind))
            twin_rewards, twin_advantages = split(kind, signals(twin_batch, step, kind))
            twin_reports.append(twin.report(twin_batch, twin_rewards, advantages=twin_advantages))
            if step < len(SIZES):
                size = SIZES[step]
                default = size == len(batch)  # the default: the size of the batch reported
                batches.append(
                    stepped.report_and_next(
                        batch, rewards, advantages=advantages, batch_size=None if default else size
                    )
                )
                twin_batches.append(twin.next_batch(size))
            else:  # the last step draws nothing
                stepped.report(batch, rewards, advantages=advantages)
            assert stepped.last_report is not None
            reports.append(stepped.last_report)
        after, after_twin = stepped.run(), twin.run()
        history = stepped.history()

    assert [drawn(b) for b in batches] == [drawn(b) for b in twin_batches]
    assert [len(b) for b in batches] == SIZES
    assert [applied(r) for r in reports] == [applied(r) for r in twin_reports]
    assert [r.step for r in reports] == list(range(1, len(SIZES) + 1))
    assert progress(after) == progress(after_twin)
    # one report per step, one draw per step, nothing left drawn and untrained
    assert (after.step, after.samples, after.samples_pending) == (len(SIZES), len(SIZES), 0)
    assert sum(arm.times_sampled for arm in after.arms) == sum(SIZES)
    # each report carried its batch's report_id and left out the slot given as None
    assert [p.report_id for p in history.points] == [b.report_id for b in batches]
    for step, (point, batch) in enumerate(zip(history.points, batches, strict=True), start=1):
        trained = Counter(item.arm for n, item in enumerate(batch) if n != step % len(batch))
        assert {arm: c for arm, c in point.counts.items() if c} == dict(trained)


def test_a_repeated_report_and_next_applies_the_report_once(live_server: LiveServer) -> None:
    with CurriculumClient(live_server.url, retry=FAST_RETRY) as client:
        cur = Curriculum.create(client, "repeat", ARMS, STRATEGY, seed=3)
        batch = cur.next_batch(4)
        rewards = signals(batch, 1, "rewards")
        once = cur.report_and_next(batch, rewards, sample_id="s-cur-step-1")
        first_report = cur.last_report
        again = cur.report_and_next(batch, rewards, sample_id="s-cur-step-1")
        assert cur.last_report == first_report
        assert first_report is not None and first_report.report_id == batch.report_id
        assert again.items == once.items and again.sample_id == once.sample_id
        assert (cur.run().step, cur.run().samples) == (1, 2)  # one report, two draws
        # without a fixed sample_id a repeat still applies the report once but draws anew
        cur.report_and_next(batch, rewards)
        assert cur.last_report == first_report
        assert (cur.run().step, cur.run().samples) == (1, 3)


def test_bad_input_raises_and_sends_nothing(live_server: LiveServer) -> None:
    sent: list[str] = []
    with (
        httpx.Client(
            base_url=live_server.url,
            event_hooks={"request": [lambda request: sent.append(request.url.path)]},
        ) as http,
        CurriculumClient(http_client=http, retry=FAST_RETRY) as client,
    ):
        cur = Curriculum.create(client, "bad", ARMS, STRATEGY, seed=5)
        batch = cur.next_batch(3)
        before = cur.run()
        sent.clear()
        good = signals(batch, 1, "rewards")
        with pytest.raises(InvalidRequestError, match="3 slots"):
            cur.report_and_next(batch, good[:2])
        with pytest.raises(InvalidRequestError, match="nothing to report"):
            cur.report_and_next(batch, [None, None, None])
        with pytest.raises(InvalidRequestError, match="exactly one"):
            cur.report_and_next(batch, good, advantages=good)
        with pytest.raises(InvalidRequestError, match="exactly one"):
            cur.report_and_next(batch)
        assert sent == [] and cur.last_report is None
        after = cur.run()
    assert (before.step, before.samples) == (0, 1)
    assert progress(after) == progress(before)
