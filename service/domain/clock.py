"""The service's clock: what "now" is for leases, stored timestamps and rate limits.

``create_app(clock=...)`` puts one :class:`Clock` on ``app.state.clock``; the routes pass
it to the domain functions (``clock=`` keyword, default :data:`SYSTEM_CLOCK`) and its
:meth:`~Clock.time` drives the rate limiter's windows. Production always runs on
:data:`SYSTEM_CLOCK`, the wall clock in UTC. A :class:`ManualClock` moves only when told
to, so a test checks a 1 s lease by advancing it one second instead of sleeping.

Each domain call reads the clock once, so every timestamp one request writes is the same
instant (a sample's ``created_at`` and the leases it expires agree).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def aware(moment: datetime) -> datetime:
    """``moment`` with its UTC zone (SQLite hands back naive datetimes, written in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def time(self) -> float:
        """The current time in seconds since the Unix epoch (the same instant as :meth:`now`)."""
        ...


class SystemClock:
    """The wall clock (what production runs on)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it (for tests and simulations).

    Args:
        start: the first reading; timezone-aware (default: the wall clock's now, so rows it
            stamps sort among rows stamped by the real clock).

    Raises:
        ValueError: ``start`` has no timezone.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start if start is not None else datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start, e.g. datetime.now(UTC)")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()  # the app reads it from its worker threads

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        Raises:
            ValueError: ``seconds`` is negative (time does not run backwards here).
        """
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; got {seconds} seconds")
        with self._lock:
            self._now += timedelta(seconds=seconds)
