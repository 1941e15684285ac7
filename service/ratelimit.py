"""Per-key request rate limits: a fixed one-minute window counted in Redis.

With several replicas the counters must be shared, so they live in Redis
(``INCR zpd:rate:<key>:<window>``). Redis is never required: without ``redis_url``, or
while Redis is unreachable, each process counts on its own (the limit then applies per
process: degraded, never failing a request). A Redis that went away is retried after a
second, not on every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from service.errors import ZPDError

log = logging.getLogger("zpd.ratelimit")
WINDOW_SECONDS = 60


class RateLimited(ZPDError):
    """Too many requests for this key in the current window."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"retry_after": retry_after})
        self.retry_after = retry_after


class RateLimiter:
    """Allows ``per_minute`` requests per key per minute (0 turns limiting off)."""

    def __init__(
        self,
        per_minute: int,
        redis_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
            if redis_url
            else None
        )
        self._redis_down_until = 0.0
        self._local: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request of ``key``.

        Raises:
            RateLimited: the key is over its limit in this window (with Retry-After).
        """
        if self.per_minute <= 0:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        count = self._count_in_redis(key, window, now)
        if count is None:
            count = self._count_locally(key, window)
        if count > self.per_minute:
            retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
            raise RateLimited(
                f"more than {self.per_minute} requests per minute for this key "
                "(ZPD_RATE_LIMIT_PER_MINUTE); retry later",
                retry_after,
            )

    def _count_in_redis(self, key: str, window: int, now: float) -> int | None:
        if self._redis is None or now < self._redis_down_until:
            return None
        name = f"zpd:rate:{key}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, 2 * WINDOW_SECONDS)
            count, _ = pipe.execute()
            return int(count)
        except redis.RedisError as exc:
            log.warning("redis unavailable for rate limits, counting in-process: %s", exc)
            self._redis_down_until = now + 1.0
            return None

    def _count_locally(self, key: str, window: int) -> int:
        with self._lock:
            for old in [k for k in self._local if k[1] < window]:
                del self._local[old]
            self._local[(key, window)] = self._local.get((key, window), 0) + 1
            return self._local[(key, window)]

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
