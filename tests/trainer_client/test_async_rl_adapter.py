"""The asynchronous-trainer pattern: the pure ledger with a hand clock, then 32 concurrent
rollout workers (asyncio) against a real ``zpd serve``, some dying with their lease."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from trainer_client import AsyncCurriculumClient, CurriculumClient
from trainer_client.adapters.async_rl import AsyncPromptSource, Lease, LeaseLostError, PromptLedger
from trainer_client.models import SampleItem

ITEMS = [SampleItem(arm="easy", index=0), SampleItem(arm="hard", index=3)]


class HandClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ledger_reclaims_relends_and_fences_the_late_worker() -> None:
    clock = HandClock()
    ledger = PromptLedger(lease_seconds=10, clock=clock)
    first = ledger.lend("s-1", ITEMS, "r-1")
    assert first.deadline == 110.0 and ledger.open == 1
    clock.now = 109.9
    assert ledger.reclaim_expired() == 0
    clock.now = 110.0
    assert ledger.reclaim_expired() == 1 and ledger.lend_returned() is not None
    second = ledger.lent["s-1"]
    assert (second.attempt, second.deadline, second.report_id) == (2, 120.0, "r-1")
    assert second.items == first.items
    with pytest.raises(LeaseLostError):  # the first worker woke up: its lease is someone else's
        ledger.begin_report(first)
    ledger.begin_report(second)
    assert ledger.open == 0 and ledger.reported == {"s-1"}
    with pytest.raises(LeaseLostError):  # and nobody reports it twice
        ledger.begin_report(second)


def test_ledger_accepts_a_late_report_before_the_prompts_are_lent_again() -> None:
    clock = HandClock()
    ledger = PromptLedger(lease_seconds=5, clock=clock)
    lease = ledger.lend("s-1", ITEMS, "r-1")
    clock.now = 106.0
    ledger.reclaim_expired()
    ledger.begin_report(lease)  # still in the returned queue: taken out of it
    assert ledger.lend_returned() is None and ledger.open == 0


def test_ledger_abort_report_lets_the_holder_retry() -> None:
    ledger = PromptLedger(lease_seconds=5, clock=HandClock())
    lease = ledger.lend("s-1", ITEMS, "r-1")
    ledger.begin_report(lease)
    ledger.abort_report(lease)
    ledger.begin_report(lease)
    assert ledger.reported == {"s-1"}


WORKERS, DYING, LEASES_PER_WORKER, PROMPTS_PER_LEASE, LEASE_SECONDS = 32, 8, 4, 2, 2
ARMS = [{"name": f"d{d}", "size": 40} for d in range(4)]


def _rewards(item: SampleItem) -> list[float]:
    """Four rollouts whose pass count depends on the problem only (reproducible)."""
    passes = (int(item.arm[1:]) + (item.index or 0)) % 5
    return [1.0 if k < passes else 0.0 for k in range(4)]


async def _load_test(zpd_url: str) -> dict[str, object]:
    with CurriculumClient(zpd_url) as sync_client:
        run_id = sync_client.create_run("async-load", ARMS, {"name": "sec"}, seed=3).run_id
    async with AsyncCurriculumClient(zpd_url) as client:
        source = AsyncPromptSource(
            client, run_id, prompts_per_lease=PROMPTS_PER_LEASE, lease_seconds=LEASE_SECONDS
        )
        queue: asyncio.Queue[tuple[Lease, list[list[float]]] | None] = asyncio.Queue()
        drawn: list[Lease] = []  # every lease as first lent (one per service sample)
        reported: list[tuple[str, int]] = []  # (sample_id, attempt) per report the learner sent
        lost: list[str] = []
        handed_over: list[str] = []
        rng = random.Random(0)

        async def worker(number: int) -> None:
            for turn in range(LEASES_PER_WORKER):
                lease = await source.acquire()
                assert lease is not None
                if lease.attempt == 1:
                    drawn.append(lease)
                if number < DYING and turn == 1:
                    if number == 0:  # a zombie: wakes up after its lease went to someone else
                        await asyncio.sleep(LEASE_SECONDS * 3)
                        try:
                            await source.report(lease, [_rewards(i) for i in lease.items])
                        except LeaseLostError:
                            lost.append(lease.sample_id)
                    return  # died: never reports
                await asyncio.sleep(rng.uniform(0.0, 0.05))  # generating
                await queue.put((lease, [_rewards(item) for item in lease.items]))
            # Before leaving, take over what dead workers left behind.
            while source.ledger.open:
                lease = await source.acquire(allow_new=False)
                if lease is None:
                    await asyncio.sleep(0.1)
                    continue
                await queue.put((lease, [_rewards(item) for item in lease.items]))

        async def learner() -> None:
            while (entry := await queue.get()) is not None:
                lease, rewards = entry
                try:
                    await source.report(lease, rewards)
                except LeaseLostError:  # expired while queued (a loaded machine): re-lent
                    handed_over.append(lease.sample_id)
                    continue
                reported.append((lease.sample_id, lease.attempt))

        learning = asyncio.create_task(learner())
        await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(WORKERS))), 45)
        await queue.put(None)
        await learning
        run = await client.get_run(run_id)
        history = await client.history(run_id)
    return {
        "drawn": drawn, "reported": reported, "lost": lost, "run": run, "history": history,
        "reclaimed": source.ledger.reclaimed, "handed_over": handed_over,
    }  # fmt: skip


@pytest.mark.slow
def test_32_workers_lose_and_double_nothing(zpd_url: str) -> None:
    out = asyncio.run(_load_test(zpd_url))
    drawn: list[Lease] = out["drawn"]  # type: ignore[assignment]
    reported: list[tuple[str, int]] = out["reported"]  # type: ignore[assignment]
    # Workers take 4 leases each (the dying 2: the second is never reported by them); a turn
    # takes a dead worker's lease instead of a new sample when one came back.
    turns = (WORKERS - DYING) * LEASES_PER_WORKER + DYING * 2
    expected_leases = len(drawn)
    assert turns - DYING <= expected_leases <= turns
    sample_ids = [lease.sample_id for lease in drawn]
    reported_ids = [sample_id for sample_id, _ in reported]
    assert Counter(reported_ids) == Counter(sample_ids)  # each sample reported exactly once
    # The dead leases were taken over; on a loaded machine a live lease can expire while it
    # waits for the learner, and is taken over too (its first report is then refused).
    assert out["reclaimed"] >= DYING  # type: ignore[operator]
    assert sum(1 for _, attempt in reported if attempt >= 2) >= DYING
    if not out["handed_over"]:  # the usual case: only the dead workers' leases came back
        assert out["reclaimed"] == DYING
        assert sum(1 for _, attempt in reported if attempt >= 2) == DYING
    assert len(out["lost"]) == 1  # the zombie's report was refused and never sent
    run = out["run"]
    assert run.samples == expected_leases  # type: ignore[attr-defined]
    assert run.step == expected_leases  # type: ignore[attr-defined]
    assert run.samples_pending == 0  # type: ignore[attr-defined]
    # Every prompt drawn was reported exactly once: the service counted each one.
    counts: Counter[str] = Counter()
    for point in out["history"].points:  # type: ignore[attr-defined]
        counts.update(point.counts)
    drawn_per_arm = Counter(item.arm for lease in drawn for item in lease.items)
    assert counts == drawn_per_arm
    assert sum(counts.values()) == expected_leases * PROMPTS_PER_LEASE
