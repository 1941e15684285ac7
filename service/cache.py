"""A Redis cache of hot run state (``GET /v1/runs/{run_id}``), shared by replicas.

Invalidation is by generation: every write to a run increments ``zpd:gen:<run_id>`` after
it commits, and entries live under ``zpd:run:<run_id>:<generation>``. A reader that read
the database before a write can only store its answer under the old generation, which no
reader asks for again, so a write acknowledged to a client is never hidden by an older
cached answer. Entries also expire after ``ttl`` seconds, which bounds what a crash
between commit and increment, or a Redis outage during a write, can leave behind (and the
lease counters, which move with time alone).

Redis is optional: without it, or while it is unreachable, every read goes to the
database (retried a second after a failure).
"""

from __future__ import annotations

import logging
import time

import redis

from service.schemas import RunOut

log = logging.getLogger("zpd.cache")


class RunCache:
    """Cache-aside for run state; every method is best-effort and never raises."""

    def __init__(self, redis_url: str | None, ttl: float = 5.0) -> None:
        self.ttl_ms = max(1, int(ttl * 1000))
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
            if redis_url
            else None
        )
        self._down_until = 0.0

    @property
    def enabled(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def generation(self, run_id: str) -> int | None:
        """The run's current generation (None: no cache now)."""
        if not self.enabled:
            return None
        assert self._redis is not None
        try:
            value = self._redis.get(f"zpd:gen:{run_id}")
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        return int(value) if value is not None else 0

    def get(self, run_id: str, generation: int, tenant: str | None) -> RunOut | None:
        """The cached run of this generation, if any and if it belongs to ``tenant``."""
        if not self.enabled:
            return None
        assert self._redis is not None
        try:
            raw = self._redis.get(f"zpd:run:{run_id}:{generation}")
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        if not isinstance(raw, bytes):
            return None
        cached_tenant, _, body = raw.partition(b"\n")
        if tenant is not None and cached_tenant.decode() != tenant:
            return None  # let the database answer (a 404 for another tenant)
        return RunOut.model_validate_json(body)

    def put(self, run_id: str, generation: int, tenant: str, run: RunOut) -> None:
        if not self.enabled:
            return
        assert self._redis is not None
        value = tenant.encode() + b"\n" + run.model_dump_json().encode()
        try:
            self._redis.set(f"zpd:run:{run_id}:{generation}", value, px=self.ttl_ms)
        except redis.RedisError as exc:
            self._failed(exc)

    def invalidate(self, run_id: str) -> None:
        """Called after a write to the run has committed."""
        if self._redis is None:
            return
        try:
            self._redis.incr(f"zpd:gen:{run_id}")
        except redis.RedisError as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        log.warning("redis unavailable for the run cache, reading the database: %s", exc)
        self._down_until = time.monotonic() + 1.0

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
