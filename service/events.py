"""Live run events (a report applied, a sample drawn) for the dashboard's live view.

:class:`LocalEventBus` fans out inside one process (the embedded default, one uvicorn
worker). :class:`RedisEventBus` carries events between service replicas (or several
``zpd serve --workers``) through Redis pub/sub: every process publishes to Redis and
keeps one pattern subscription that feeds its own local fan-out.

Publishing never blocks a request and never fails it: live updates are best-effort, the
database is the source of truth (a subscriber that missed events catches up from
``GET /v1/runs/{run_id}/history?since_step=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis

from service.settings import Settings

log = logging.getLogger("zpd.events")

Event = dict[str, Any]


class Subscription:
    """The events of one run, received from the moment it was opened until :meth:`close`.

    Use it as an async iterator, or call :meth:`get` (safe to cancel, e.g. under
    ``asyncio.wait_for``, without losing the subscription).
    """

    def __init__(self, bus: LocalEventBus, run_id: str, queue_size: int) -> None:
        self.run_id = run_id
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event] = asyncio.Queue(queue_size)
        self.dropped = 0

    async def get(self) -> Event:
        """The next event (waits for it)."""
        return await self._queue.get()

    def close(self) -> None:
        """Stop receiving events (idempotent)."""
        self._bus._remove(self)

    def _offer(self, event: Event) -> None:
        # A subscriber too slow to keep up loses its oldest event rather than stalling others.
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus(Protocol):
    """Publish/subscribe of JSON events per run."""

    def publish(self, run_id: str, event: Event) -> None:
        """Send ``event`` to the subscribers of ``run_id`` (callable from any thread)."""
        ...

    async def open(self, run_id: str) -> Subscription:
        """Start receiving the events of ``run_id``; registered when this returns."""
        ...

    def subscribe(self, run_id: str) -> AsyncIterator[Event]:
        """Events of ``run_id`` from now on, until the consumer stops iterating."""
        ...

    async def aclose(self) -> None:
        """Release connections and background work."""
        ...


class LocalEventBus:
    """In-process fan-out: one bounded asyncio queue per subscriber."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def publish(self, run_id: str, event: Event) -> None:
        """Hand ``event`` to every subscriber of ``run_id``, on each one's event loop."""
        with self._lock:
            targets = list(self._subscribers.get(run_id, ()))
        for subscription in targets:
            with contextlib.suppress(RuntimeError):  # that subscriber's loop has closed
                subscription._loop.call_soon_threadsafe(subscription._offer, event)

    async def open(self, run_id: str) -> Subscription:
        """A :class:`Subscription` to ``run_id``, registered before this returns."""
        subscription = Subscription(self, run_id, self._queue_size)
        with self._lock:
            self._subscribers[run_id].add(subscription)
        return subscription

    async def subscribe(self, run_id: str) -> AsyncIterator[Event]:
        """Events of ``run_id`` from now on, until the consumer stops iterating."""
        async with await self.open(run_id) as subscription:
            async for event in subscription:
                yield event

    def subscriber_count(self, run_id: str) -> int:
        """How many subscriptions to ``run_id`` are open in this process."""
        with self._lock:
            return len(self._subscribers.get(run_id, ()))

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.run_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[subscription.run_id]

    async def aclose(self) -> None:
        return None


class RedisEventBus:
    """Events shared by every service replica through Redis pub/sub.

    ``publish`` queues the event for a background thread that sends ``PUBLISH
    <prefix><run_id>``, so a request never waits on Redis. Each process holds one
    ``PSUBSCRIBE <prefix>*`` connection (opened with the first subscriber, reconnected
    after failures) and hands what it receives to a :class:`LocalEventBus`.

    Args:
        url: ``redis://host:6379/0``.
        prefix: channel prefix; replicas of one deployment must share it.
        queue_size: events buffered per subscriber before the oldest is dropped.
        ready_timeout: how long :meth:`open` waits for the Redis subscription to be
            active before returning anyway (live updates are best-effort).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "zpd:events:",
        queue_size: int = 256,
        ready_timeout: float = 3.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._ready_timeout = ready_timeout
        self._local = LocalEventBus(queue_size)
        self._outbox: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=10_000)
        self._publisher = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._thread = threading.Thread(target=self._publish_loop, name="zpd-events", daemon=True)
        self._thread.start()
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._last_warning = 0.0

    def publish(self, run_id: str, event: Event) -> None:
        """Queue ``event`` for every replica's subscribers of ``run_id`` (never blocks)."""
        try:
            self._outbox.put_nowait((run_id, json.dumps(event)))
        except queue.Full:
            self._warn("live events dropped: Redis publishing is behind")

    async def open(self, run_id: str) -> Subscription:
        """A subscription to ``run_id``; waits (up to ``ready_timeout``) for Redis to listen."""
        ready = self._ensure_listener()
        subscription = await self._local.open(run_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), self._ready_timeout)
        return subscription

    async def subscribe(self, run_id: str) -> AsyncIterator[Event]:
        """Events of ``run_id`` published by any replica, until the consumer stops."""
        async with await self.open(run_id) as subscription:
            async for event in subscription:
                yield event

    async def aclose(self) -> None:
        """Stop listening, flush queued events (briefly) and close the connections."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        with contextlib.suppress(queue.Full):
            self._outbox.put(None, timeout=1.0)
        await asyncio.to_thread(self._thread.join, 2.0)
        self._publisher.close()

    def _ensure_listener(self) -> asyncio.Event:
        if self._ready is None or self._listener is None or self._listener.done():
            self._ready = asyncio.Event()
            self._listener = asyncio.get_running_loop().create_task(self._listen(self._ready))
        return self._ready

    async def _listen(self, ready: asyncio.Event) -> None:
        client = aioredis.Redis.from_url(self._url)
        try:
            while True:
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.psubscribe(self._prefix + "*")
                        ready.set()
                        async for message in pubsub.listen():
                            self._deliver(message)
                except (redis.RedisError, OSError) as exc:
                    ready.clear()
                    self._warn(f"Redis subscription lost ({exc}); retrying in 1 s")
                    await asyncio.sleep(1.0)
        finally:
            await client.aclose()

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "pmessage":
            return
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        try:
            event = json.loads(message["data"])
        except (TypeError, ValueError):
            return
        self._local.publish(channel[len(self._prefix) :], event)

    def _publish_loop(self) -> None:
        while (item := self._outbox.get()) is not None:
            run_id, payload = item
            try:
                self._publisher.publish(self._prefix + run_id, payload)
            except (redis.RedisError, OSError) as exc:
                self._warn(f"live event not published to Redis: {exc}")

    def _warn(self, message: str) -> None:
        # At most one warning a minute: a Redis outage must not flood the log.
        now = time.monotonic()
        if now - self._last_warning > 60.0:
            self._last_warning = now
            log.warning(message)


def event_bus_for(settings: Settings) -> EventBus:
    """The bus the settings ask for: Redis pub/sub when ``redis_url`` is set, else in-process."""
    if settings.redis_url:
        return RedisEventBus(settings.redis_url)
    return LocalEventBus()
