"""Server-sent events of one run: the wire format and the stream behind the events route."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from service.events import EventBus

KEEPALIVE_SECONDS = 15.0
# A stream ends after this long and the browser's EventSource reconnects by itself, so a
# stream never outlives a deploy by much and a lost subscriber is reaped within minutes.
MAX_STREAM_SECONDS = 600.0
RECONNECT_MS = 2000

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def format_event(name: str, data: dict[str, Any]) -> str:
    """One SSE message: ``event: <name>`` and the JSON ``data`` line, blank-line terminated."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def run_event_stream(
    bus: EventBus,
    run_id: str,
    current_step: Callable[[], Awaitable[int]],
    *,
    keepalive: float = KEEPALIVE_SECONDS,
    max_seconds: float = MAX_STREAM_SECONDS,
) -> AsyncIterator[str]:
    """The SSE text of ``run_id``: a ``hello`` with the run's step, then its events.

    The subscription is opened before the step is read, so a client that loads history up
    to the ``hello`` step and then applies the events misses no report. Each bus event
    ``{"type": "report", ...}`` becomes ``event: report``; a comment line is sent every
    ``keepalive`` seconds so proxies keep the connection and a gone client is noticed.
    """
    subscription = await bus.open(run_id)
    try:
        hello = {"type": "hello", "run_id": run_id, "step": await current_step()}
        yield f"retry: {RECONNECT_MS}\n" + format_event("hello", hello)
        deadline = time.monotonic() + max_seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(subscription.get(), min(keepalive, left))
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield format_event(str(event.get("type", "message")), event)
    finally:
        subscription.close()
