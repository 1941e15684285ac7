"""Metrics and structured logs: Prometheus ``GET /metrics`` and one JSON log line per request.

Every request gets a request id: the incoming ``X-Request-ID`` when it is a sane token
(1-128 characters of ``[A-Za-z0-9._:-]``), else a fresh one. It is echoed back as the
``X-Request-ID`` response header (500s included) and carried by every log line written while
the request runs, the access line and ``log.exception`` of an unhandled error alike.

Metrics (prometheus-client). No label holds a run id, an arm name or a raw path, so the
number of series stays bounded however many runs exist:

    zpd_http_request_duration_seconds{method,route,status}  histogram; route is the template
    zpd_samples_total{strategy}            /sample calls answered (a retried sample_id too)
    zpd_sampled_problems_total{strategy}   problems (items) in those answers
    zpd_reports_applied_total{strategy}    reports applied (idempotent replays excluded)
    zpd_reported_problems_total{strategy}  problems in the applied reports
    zpd_report_replays_total{strategy}     reports answered from storage (report_id seen before)
    zpd_errors_total{code}                 error answers, by the JSON body's error code
    zpd_sample_lease_expiries_total        samples whose lease expired (record_lease_expiries)
    zpd_log_lines_dropped_total            log lines dropped because stderr fell behind

The registry is per process. ``zpd serve --workers N`` or several replicas: scrape each
process, or set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before starting so that
``/metrics`` of any worker answers the sum over the workers (prometheus-client multiprocess
mode; ``process_*`` metrics are then absent).

Metrics, the request middleware and the log writer stay in one module (about 360 lines) on
purpose: the middleware sets the request id (``REQUEST_ID``) that every log line reads, and
both halves count into the metrics above (the writer its dropped lines). Each part is short
and marked by a ``# ---`` heading.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import sys
import threading
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.routing import all_routes
from service.db.models import Run
from service.db.transaction import Database
from service.errors import ZPDError
from service.settings import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("zpd_request_id", default=None)
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ERROR_CODE = re.compile(rb'"code"\s*:\s*"([a-z_]{1,40})"')
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

REQUEST_SECONDS = Histogram(
    "zpd_http_request_duration_seconds",
    "Time from request start to the last response byte, by route template.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SAMPLES = Counter("zpd_samples", "Sample calls answered.", ["strategy"])
SAMPLED_PROBLEMS = Counter("zpd_sampled_problems", "Problems in sample answers.", ["strategy"])
REPORTS_APPLIED = Counter("zpd_reports_applied", "Reports applied to a run.", ["strategy"])
REPORTED_PROBLEMS = Counter("zpd_reported_problems", "Problems in applied reports.", ["strategy"])
REPORT_REPLAYS = Counter(
    "zpd_report_replays", "Reports answered from storage (idempotent repeats).", ["strategy"]
)
ERRORS = Counter("zpd_errors", "Error answers by error code.", ["code"])
LEASE_EXPIRIES = Counter("zpd_sample_lease_expiries", "Samples whose lease expired unreported.")
LOG_LINES_DROPPED = Counter("zpd_log_lines_dropped", "Log lines dropped: stderr fell behind.")


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Attach request ids, the request log and the Prometheus ``/metrics`` endpoint.

    The request middleware wraps the whole stack (outside Starlette's error middleware), so
    500 answers are timed, counted and carry ``X-Request-ID`` too.
    """
    configure_logging(getattr(settings, "log_format", "json"))
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    build_stack = app.build_middleware_stack

    def build_observed_stack() -> ASGIApp:
        return RequestObservability(build_stack(), app)

    app.build_middleware_stack = build_observed_stack  # type: ignore[method-assign]


async def metrics() -> Response:
    """The Prometheus text exposition (format 0.0.4) of this process, or of all workers."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)


# --- domain counters (called by the routes after the domain call returned) -----------------

_strategy_by_run: dict[str, str] = {}
_strategy_lock = threading.Lock()
_STRATEGY_CACHE_SIZE = 10_000


def remember_strategy(run_id: str, strategy: str) -> None:
    """Cache the strategy name of a run (it never changes), oldest entries evicted first."""
    with _strategy_lock:
        _strategy_by_run[run_id] = strategy
        if len(_strategy_by_run) > _STRATEGY_CACHE_SIZE:
            del _strategy_by_run[next(iter(_strategy_by_run))]


def _strategy_of(db: Database, run_id: str) -> str:
    # Looked up once per run and process; a metric never turns a success into an error.
    name = _strategy_by_run.get(run_id)
    if name is None:
        try:
            with db.transaction() as session:
                name = session.scalar(select(Run.strategy_name).where(Run.id == run_id))
        except (ZPDError, SQLAlchemyError):
            return "unknown"
        name = name or "unknown"
        remember_strategy(run_id, name)
    return name


def record_sample(db: Database, run_id: str, problems: int) -> None:
    """Count one answered sample call of ``problems`` items."""
    strategy = _strategy_of(db, run_id)
    SAMPLES.labels(strategy).inc()
    SAMPLED_PROBLEMS.labels(strategy).inc(problems)


def record_report(db: Database, run_id: str, problems: int, repeated: bool) -> None:
    """Count one report: applied (with its ``problems``), or an idempotent repeat."""
    strategy = _strategy_of(db, run_id)
    if repeated:
        REPORT_REPLAYS.labels(strategy).inc()
    else:
        REPORTS_APPLIED.labels(strategy).inc()
        REPORTED_PROBLEMS.labels(strategy).inc(problems)


def record_lease_expiries(n: int) -> None:
    """Count ``n`` samples whose lease expired before their report came."""
    if n > 0:
        LEASE_EXPIRIES.inc(n)


# --- the request middleware -----------------------------------------------------------------

access_log = logging.getLogger("zpd.access")


class RequestObservability:
    """Pure ASGI middleware: request id, duration histogram, error counter, access log line."""

    def __init__(self, app: ASGIApp, root: FastAPI) -> None:
        self.app = app
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.fullmatch(incoming) else uuid.uuid4().hex
        REQUEST_ID.set(request_id)  # each request runs in its own task: no reset needed
        started = time.perf_counter()
        status = 500
        error_head: bytearray | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status, error_head
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
                if status >= 400:
                    error_head = bytearray()
            elif error_head is not None and len(error_head) < 512:
                error_head += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self._finish(scope, status, time.perf_counter() - started, error_head)

    def _finish(
        self, scope: Scope, status: int, seconds: float, error_head: bytearray | None
    ) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = self._route_template(scope)
        REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
        fields: dict[str, Any] = {
            "method": scope["method"],
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        if error_head is not None:
            found = _ERROR_CODE.search(error_head)
            fields["error_code"] = found.group(1).decode() if found else f"http_{status}"
            ERRORS.labels(fields["error_code"]).inc()
        level = logging.ERROR if status >= 500 else logging.INFO
        if access_log.isEnabledFor(level):
            message = f"{scope['method']} {scope['path']} {status}"
            access_log.log(level, message, extra={"fields": fields})

    def _route_template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path", "<unmatched>"))
        # Answered before routing (e.g. 413 on a declared body size): match it here.
        for candidate in all_routes(self.root.router.routes):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                return str(getattr(candidate, "path", "<unmatched>"))
        return "<unmatched>"


# --- logging --------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """A human-readable line with the request id and the fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if k not in {"method", "path"})
        line = (
            f"{stamp}Z {record.levelname} {record.name} "
            f"[{getattr(record, 'request_id', None) or '-'}] {record.getMessage()} {extra}"
        ).rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class _LineWriter:
    """Writes formatted log lines to the current ``sys.stderr`` from its own thread.

    Requests only enqueue: a slow or blocked stderr (a full pipe nobody reads) can never
    stall the event loop. Beyond ``capacity`` queued lines, new lines are dropped and
    counted in ``zpd_log_lines_dropped_total``.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.lines: queue.Queue[str] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._write, name="zpd-log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.flush, 2.0)

    def put(self, line: str) -> None:
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            LOG_LINES_DROPPED.inc()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued line is written (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.lines.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self.lines.unfinished_tasks

    def _write(self) -> None:
        while True:
            line = self.lines.get()
            try:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):  # stderr closed: nothing left to write to
                pass
            finally:
                self.lines.task_done()


class _QueuedLineHandler(logging.Handler):
    """Formats in the caller's thread (request id in context) and hands the line over."""

    def __init__(self, writer: _LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # logging's own contract: a bad record must not break the caller
            self.handleError(record)
            return
        self.writer.put(line)


_writer: _LineWriter | None = None
_writer_lock = threading.Lock()


def flush_logs(timeout: float = 5.0) -> bool:
    """Wait until the log lines queued so far are written to stderr; True when they are."""
    return _writer.flush(timeout) if _writer is not None else True


def configure_logging(log_format: str = "json") -> None:
    """Send the ``zpd`` loggers to stderr as JSON lines (``log_format="text"``: plain lines).

    The level follows uvicorn's (``zpd serve --log-level``); INFO when uvicorn is not running.
    Calling it again replaces the handler instead of adding a second one.
    """
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = _LineWriter()
    logger = logging.getLogger("zpd")
    for old in [h for h in logger.handlers if getattr(h, "zpd_handler", False)]:
        logger.removeHandler(old)
    handler = _QueuedLineHandler(_writer)
    handler.zpd_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    handler.addFilter(_RequestIdFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.getLogger("uvicorn.error").level or logging.INFO)
    logger.propagate = False
