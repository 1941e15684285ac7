"""Request dependencies, as ``Annotated`` aliases for the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from service.auth import Principal, authenticate
from service.cache import RunCache
from service.db.transaction import Database
from service.domain.clock import Clock
from service.events import EventBus
from service.settings import Settings

# The getters below only read app.state: `async def` keeps FastAPI from running each of them
# in the thread pool (a thread hop per dependency per request).


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_events(request: Request) -> EventBus:
    return request.app.state.events


async def get_run_cache(request: Request) -> RunCache:
    cache: RunCache = request.app.state.run_cache
    return cache


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


DbDep = Annotated[Database, Depends(get_db)]
CacheDep = Annotated[RunCache, Depends(get_run_cache)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EventsDep = Annotated[EventBus, Depends(get_events)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def bearer_key(request: Request) -> str | None:
    """The API key of ``Authorization: Bearer <key>``; for GET also ``?access_token=`` (an
    EventSource in a browser cannot set headers)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else header
    if request.method == "GET":
        return request.query_params.get("access_token")
    return None


def _authenticate_and_count(request: Request) -> Principal:
    principal = authenticate(request.app.state.db, bearer_key(request))
    client = request.client.host if request.client else "unknown"
    request.app.state.rate_limiter.check(principal.key_id or f"open:{client}")
    return principal


async def get_principal(request: Request) -> Principal:
    """Who is calling (401 without a valid key while keys exist; 429 over the rate limit)."""
    return await run_in_threadpool(_authenticate_and_count, request)


async def get_writer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    principal.require_write()
    return principal


def writer_in_this_thread(request: Request) -> Principal:
    """The writer calling (401, 403 and 429 as :data:`WriterDep`), checked in the caller's
    thread: for the hot routes, which run their work in one thread-pool hop instead of
    one hop for the key and another for the work."""
    principal = _authenticate_and_count(request)
    principal.require_write()
    return principal


Model = TypeVar("Model", bound=BaseModel)


def parse_body(model: type[Model], raw: bytes) -> Model:
    """``raw`` (the request body) validated as ``model`` in one pass from the bytes.

    FastAPI's own body parameter decodes the JSON into Python objects, then validates
    them; for a 256-result report that second walk is most of the parsing. The errors
    are FastAPI's (a ``RequestValidationError`` located under ``body``), so the app's one
    handler answers them exactly as it answers a body parameter's.

    Raises:
        RequestValidationError: not JSON, not an object, or not a valid ``model``.
    """
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(_under_body(exc.errors())) from None


def _under_body(errors: list[Any]) -> list[dict[str, Any]]:
    return [{**error, "loc": ("body", *error["loc"])} for error in errors]


PrincipalDep = Annotated[Principal, Depends(get_principal)]
WriterDep = Annotated[Principal, Depends(get_writer)]


@dataclass(frozen=True)
class Hot:
    """What a hot route's work needs: the request (for its key) and the app's parts."""

    request: Request
    db: Database
    settings: Settings
    events: EventBus
    cache: RunCache
    clock: Clock


async def hot_parts(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    events: EventsDep,
    cache: CacheDep,
    clock: ClockDep,
) -> Hot:
    return Hot(request, db, settings, events, cache, clock)


HotDep = Annotated[Hot, Depends(hot_parts)]
