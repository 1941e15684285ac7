"""Asynchronous RL (AReaL, SkyRL style): many rollout workers pull prompts, one learner reports.

In an asynchronous trainer no step boundary says "draw the next batch now": each rollout
worker asks for one or a few prompts whenever it is free, generates, and hands the rollouts
to a learner that trains and reports. A worker can die between the two. This module keeps
every prompt accounted for in that shape::

    source = AsyncPromptSource(client, run_id, prompts_per_lease=2, lease_seconds=600)

    async def rollout_worker():                 # many of these
        while True:
            lease = await source.acquire()      # one /sample call, or a dead worker's lease
            rollouts = await generate(lease.items)
            await learner_queue.put((lease, rollouts))

    async def learner():                        # one of these
        while True:
            lease, rollouts = await learner_queue.get()
            train_on(rollouts)
            try:
                await source.report(lease, rewards=[r.rewards for r in rollouts])
            except LeaseLostError:
                pass                            # expired while queued: its new holder reports

- A **lease** is one service sample: its ``sample_id``, the ``report_id`` its report will
  carry, its items and a deadline ``lease_seconds`` away (the same ``lease_seconds`` is sent
  to ``/sample``, so the service counts an unreported sample as expired too).
- A lease whose deadline passes unreported is **reclaimed**: its prompts go back to a queue
  and the next :meth:`AsyncPromptSource.acquire` lends them again (same ``sample_id`` and
  ``report_id``) before drawing new ones. The service accepts a late report naming an
  expired ``sample_id``.
- A lease is reported **once**: a report of a lease that was lent again to another worker
  raises :class:`LeaseLostError` and sends nothing (the new holder reports it); a report of a
  reclaimed lease not yet lent again is accepted and the prompts leave the queue. Should a
  second report reach the service anyway, it carries the same ``report_id``: the service
  applies it once (or answers 409 if its body differs).

The bookkeeping (:class:`PromptLedger`) is pure and takes a clock, so it is tested without a
server, and it is thread-safe. The source's ``acquire``/``report`` are asyncio and belong to
the workers' event loop; a learner in another thread (AReaL's trainer loop) reports through
:class:`LeaseReporter`, a blocking client over the same ledger.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from trainer_client._core import new_id
from trainer_client.async_client import AsyncCurriculumClient
from trainer_client.client import CurriculumClient
from trainer_client.errors import ConflictError, InvalidRequestError
from trainer_client.models import Report, SampleItem


class LeaseLostError(ConflictError):
    """The lease expired and was lent to another worker, which will report it."""

    default_code = "lease_lost"


@dataclass(frozen=True)
class Lease:
    """Prompts lent to one rollout worker.

    Attributes:
        sample_id: the service sample the prompts came from (named by the report).
        report_id: the idempotency key of the lease's one report.
        items: the prompts, ``(arm, index)`` each, in the sample's order.
        deadline: when the lease runs out, on the source's clock.
        attempt: 1 when first lent, 2 when lent again after expiring, and so on.
    """

    sample_id: str
    report_id: str
    items: tuple[SampleItem, ...]
    deadline: float
    attempt: int = 1

    def __len__(self) -> int:
        return len(self.items)


class PromptLedger:
    """Which leases are out, which came back, which were reported (no I/O).

    Args:
        lease_seconds: how long a worker may hold a lease before it is reclaimed.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, lease_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if lease_seconds <= 0:
            raise InvalidRequestError("lease_seconds must be > 0")
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.lent: dict[str, Lease] = {}
        self.returned: deque[Lease] = deque()
        self.reported: set[str] = set()
        self.reclaimed = 0
        self._lock = threading.Lock()

    def lend(self, sample_id: str, items: Sequence[SampleItem], report_id: str) -> Lease:
        """Record a fresh sample lent to a worker."""
        with self._lock:
            if sample_id in self.lent or sample_id in self.reported:
                raise InvalidRequestError(f"sample {sample_id!r} is already lent or reported")
            lease = Lease(sample_id, report_id, tuple(items), self.clock() + self.lease_seconds)
            self.lent[sample_id] = lease
            return lease

    def reclaim_expired(self) -> int:
        """Move the leases past their deadline to the returned queue; returns how many."""
        with self._lock:
            now = self.clock()
            expired = [lease for lease in self.lent.values() if lease.deadline <= now]
            for lease in expired:
                del self.lent[lease.sample_id]
                self.returned.append(lease)
            self.reclaimed += len(expired)
            return len(expired)

    def lend_returned(self) -> Lease | None:
        """Lend the oldest returned lease again (a new deadline, the next attempt), if any."""
        with self._lock:
            if not self.returned:
                return None
            old = self.returned.popleft()
            lease = replace(
                old, deadline=self.clock() + self.lease_seconds, attempt=old.attempt + 1
            )
            self.lent[lease.sample_id] = lease
            return lease

    def begin_report(self, lease: Lease) -> None:
        """Claim the right to report ``lease`` (call before sending the report).

        Raises:
            LeaseLostError: the lease was lent again to another worker, or already reported.
        """
        with self._lock:
            current = self.lent.get(lease.sample_id)
            if current is not None and current.attempt == lease.attempt:
                del self.lent[lease.sample_id]
            elif current is None and lease.sample_id in {r.sample_id for r in self.returned}:
                self.returned = deque(r for r in self.returned if r.sample_id != lease.sample_id)
            else:
                why = (
                    "was already reported" if lease.sample_id in self.reported else "was lent again"
                )
                raise LeaseLostError(
                    f"lease of sample {lease.sample_id!r} (attempt {lease.attempt}) {why}",
                    detail={"sample_id": lease.sample_id, "attempt": lease.attempt},
                )
            self.reported.add(lease.sample_id)

    def abort_report(self, lease: Lease) -> None:
        """Undo :meth:`begin_report` after a report that failed to send (it may be retried)."""
        with self._lock:
            self.reported.discard(lease.sample_id)
            self.lent[lease.sample_id] = lease

    @property
    def open(self) -> int:
        """Leases lent or returned, not reported yet."""
        return len(self.lent) + len(self.returned)


class AsyncPromptSource:
    """A pull-based prompt source over one ZPD run, for asynchronous rollout workers.

    Args:
        client: an :class:`AsyncCurriculumClient`.
        run_id: the run to draw from and report to.
        prompts_per_lease: prompts per :meth:`acquire` (one ``/sample`` call each).
        lease_seconds: how long a worker may hold prompts unreported (whole seconds, as the
            service takes them).
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        client: AsyncCurriculumClient,
        run_id: str,
        *,
        prompts_per_lease: int = 1,
        lease_seconds: int = 600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if prompts_per_lease < 1:
            raise InvalidRequestError("prompts_per_lease must be >= 1")
        self.client = client
        self.run_id = run_id
        self.prompts_per_lease = prompts_per_lease
        self.lease_seconds = int(lease_seconds)
        self.ledger = PromptLedger(self.lease_seconds, clock)

    async def acquire(self, *, allow_new: bool = True) -> Lease | None:
        """Prompts for one worker: a reclaimed lease first, else a new sample.

        Args:
            allow_new: ``False`` to only take reclaimed prompts (draining at the end of a run).

        Returns:
            The lease, or ``None`` when ``allow_new`` is false and nothing came back.
        """
        self.ledger.reclaim_expired()
        lease = self.ledger.lend_returned()
        if lease is not None or not allow_new:
            return lease
        sample_id = new_id("s")
        sample = await self.client.sample(
            self.run_id, self.prompts_per_lease, sample_id, lease_seconds=self.lease_seconds
        )
        return self.ledger.lend(sample.sample_id, sample.items, new_id("r"))

    async def report(
        self,
        lease: Lease,
        rewards: Sequence[Sequence[float]] | None = None,
        *,
        advantages: Sequence[Sequence[float]] | None = None,
    ) -> Report:
        """Report the rollouts of ``lease``: per item, its rollouts' rewards (or advantages).

        Raises:
            LeaseLostError: the lease was lent to another worker meanwhile (nothing is sent).
            InvalidRequestError: neither or both of rewards/advantages, or a wrong length.
        """
        results = _results(lease, rewards, advantages)
        self.ledger.begin_report(lease)
        try:
            return await self.client.report(
                self.run_id, results, sample_id=lease.sample_id, report_id=lease.report_id
            )
        except BaseException:
            self.ledger.abort_report(lease)
            raise


class LeaseReporter:
    """Reports leases of an :class:`AsyncPromptSource` from a thread other than its workers'
    event loop (a learner), with a blocking client.

    Args:
        client: a :class:`CurriculumClient` of the same service.
        source: the source whose leases are reported (its ledger is shared).
    """

    def __init__(self, client: CurriculumClient, source: AsyncPromptSource) -> None:
        self.client = client
        self.source = source

    def report(
        self,
        lease: Lease,
        rewards: Sequence[Sequence[float]] | None = None,
        *,
        advantages: Sequence[Sequence[float]] | None = None,
    ) -> Report:
        """As :meth:`AsyncPromptSource.report`, blocking."""
        results = _results(lease, rewards, advantages)
        ledger = self.source.ledger
        ledger.begin_report(lease)
        try:
            return self.client.report(
                self.source.run_id, results, sample_id=lease.sample_id, report_id=lease.report_id
            )
        except BaseException:
            ledger.abort_report(lease)
            raise


def _results(
    lease: Lease,
    rewards: Sequence[Sequence[float]] | None,
    advantages: Sequence[Sequence[float]] | None,
) -> list[dict[str, Any]]:
    if (rewards is None) == (advantages is None):
        raise InvalidRequestError("give exactly one of rewards or advantages")
    key, values = ("rewards", rewards) if rewards is not None else ("advantages", advantages)
    assert values is not None  # for mypy: checked just above
    if len(values) != len(lease):
        raise InvalidRequestError(f"{key} has {len(values)} entries, the lease {len(lease)}")
    results: list[dict[str, Any]] = []
    for item, signal in zip(lease.items, values, strict=True):
        result: dict[str, Any] = {"arm": item.arm, key: [float(v) for v in signal]}
        if item.index is not None:
            result["index"] = item.index
        results.append(result)
    return results
