"""The app factory: ``create_app(settings)`` builds the FastAPI application."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import __version__
from service.api.routes import health, runs
from service.api.routing import all_routes
from service.cache import RunCache
from service.dashboard import router as dashboard_router
from service.db.engine import create_db_engine
from service.db.schema import ensure_schema
from service.db.transaction import Database
from service.domain.clock import SYSTEM_CLOCK, Clock
from service.errors import PayloadTooLarge, Unavailable, ZPDError
from service.events import EventBus, event_bus_for
from service.observability import install_observability
from service.ratelimit import RateLimited, RateLimiter
from service.schemas import limit_openapi, with_body_schemas
from service.settings import Settings, get_settings

log = logging.getLogger("zpd")

_HTTP_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def serve_app() -> FastAPI:
    """The factory ``zpd serve`` gives uvicorn (called in every worker process).

    ``create_app()``, then everything alive at that point (the modules, the app, the
    engine: objects that live as long as the process) is moved out of the cyclic garbage
    collector's view with ``gc.freeze()``. Otherwise every full collection walks them all:
    in ``benchmarks/bench_problems.py`` those pauses were the p99 of a 256-problem report
    (~95 ms, against ~19 ms with the freeze). Objects are still freed by reference counting;
    only cycles among the frozen startup objects would never be collected.
    """
    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def create_app(
    settings: Settings | None = None,
    events: EventBus | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the service for ``settings`` (default: from ``ZPD_*`` environment variables).

    ``clock`` is what "now" means for sample leases, stored timestamps and rate-limit
    windows (default: the wall clock; tests pass a
    :class:`~service.domain.clock.ManualClock` and move it instead of sleeping).

    The database schema is checked here, so a stale schema stops the service before it
    listens (see :func:`service.db.schema.ensure_schema`).

    Raises:
        service.db.schema.SchemaError: the schema is not at this version's revision.
    """
    settings = settings or get_settings()
    engine = create_db_engine(settings)
    ensure_schema(engine, settings.database_url, settings.auto_migrate)
    db = Database(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.events.aclose()
        app.state.rate_limiter.close()
        app.state.run_cache.close()
        db.dispose()

    app = FastAPI(
        title="ZPD",
        version=__version__,
        summary="Curriculum as a service for LLM reinforcement learning (SEC).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.events = events or event_bus_for(settings)
    app.state.clock = clock or SYSTEM_CLOCK
    app.state.rate_limiter = RateLimiter(
        settings.rate_limit_per_minute, settings.redis_url, clock=app.state.clock.time
    )
    app.state.run_cache = RunCache(settings.redis_url, settings.run_cache_seconds)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_observability(app, settings)
    _install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(runs.router)
    app.include_router(dashboard_router)

    def openapi() -> dict[str, Any]:  # the document states this service's ZPD_MAX_* limits
        if app.openapi_schema is None:
            document = with_body_schemas(FastAPI.openapi(app), runs.BODY_MODELS)
            app.openapi_schema = limit_openapi(document, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _error(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail)}}
    return JSONResponse(body, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ZPDError)
    async def _zpd_error(_request: Request, exc: ZPDError) -> JSONResponse:
        response = _error(exc.status_code, exc.code, exc.message, exc.detail)
        if isinstance(exc, Unavailable | RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"loc": [], "msg": "invalid", "type": None}
        if first["type"] == "json_invalid":
            message = "the request body is not valid JSON"
        else:
            where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
            message = f"invalid request: {where}: {first['msg']}"
        return _error(422, "invalid_request", message, problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not even decode the body (e.g. not UTF-8)
            return _error(422, "invalid_request", "the request body is not valid JSON")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = _error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path))
        return response

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal", "internal error (a bug in ZPD; please report it)")


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    # Starlette's Allow names only the first route matching the path; list them all.
    methods: set[str] = set()
    for route in all_routes(app.router.routes):
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


class BodySizeLimit:
    """Answer 413 to a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise PayloadTooLarge(self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"request body over {self.max_bytes} bytes (ZPD_MAX_BODY_BYTES)"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(413, PayloadTooLarge.code, self._message())
        await response(scope, receive, send)
