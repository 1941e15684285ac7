"""Live run events (a report applied, a sample drawn) for the dashboard's live view.

:class:`LocalEventBus` fans out inside one process. Publishing never blocks a request
and never fails it: live updates are best-effort, the database is the source of truth.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol


class EventBus(Protocol):
    """Publish/subscribe of JSON events per run."""

    def publish(self, run_id: str, event: dict[str, Any]) -> None:
        """Send ``event`` to the subscribers of ``run_id`` (callable from any thread)."""
        ...

    def subscribe(self, run_id: str) -> AsyncIterator[dict[str, Any]]:
        """Events of ``run_id`` from now on, until the consumer stops iterating."""
        ...

    async def aclose(self) -> None: ...


class LocalEventBus:
    """In-process fan-out: one bounded asyncio queue per subscriber."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]]]
        self._subscribers = defaultdict(set)

    def publish(self, run_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.get(run_id, ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(_offer, queue, event)

    async def subscribe(self, run_id: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[Any] = asyncio.Queue(self._queue_size)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subscribers[run_id].add(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._subscribers[run_id].discard(entry)
                if not self._subscribers[run_id]:
                    del self._subscribers[run_id]

    async def aclose(self) -> None:
        return None


def _offer(queue: asyncio.Queue[Any], event: dict[str, Any]) -> None:
    # A subscriber too slow to keep up loses its oldest event rather than stalling others.
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
