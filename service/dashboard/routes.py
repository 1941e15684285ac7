"""Dashboard routes: the two pages, their static files, the run list and the event stream."""

from __future__ import annotations

import html
import re
from functools import partial
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from service import __version__
from service.api.deps import ClockDep, DbDep, EventsDep, PrincipalDep
from service.dashboard import sse
from service.dashboard.summary import RunSummaryList, run_summaries
from service.domain import runs as domain
from service.errors import NotFound
from service.schemas import ErrorOut

STATIC_DIR = Path(__file__).parent / "static"
# Served by name from this fixed table, so no request path ever reaches the filesystem.
# The HTML pages are templates, served only through their routes.
STATIC_FILES = {
    p.relative_to(STATIC_DIR).as_posix(): p
    for p in STATIC_DIR.rglob("*")
    if p.is_file() and p.suffix != ".html"
}
# Everything the pages load comes from this service: no CDN, no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
}

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

router = APIRouter()


def _page(name: str, request: Request, status_code: int = 200, **values: str) -> HTMLResponse:
    template = (STATIC_DIR / name).read_text(encoding="utf-8")
    values = {"root": request.scope.get("root_path", ""), "version": __version__, **values}
    # One pass, so a value that itself contains "{{...}}" (a run's name) stays as it is.
    text = _PLACEHOLDER.sub(lambda match: html.escape(values[match.group(1)]), template)
    return HTMLResponse(text, status_code=status_code, headers=PAGE_HEADERS)


@router.get("/dashboard", include_in_schema=False)
def runs_page(request: Request, who: PrincipalDep) -> HTMLResponse:
    """The list of runs (of the caller's tenant)."""
    return _page("runs.html", request)


@router.get("/dashboard/", include_in_schema=False)
def runs_page_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/dashboard")


@router.get("/dashboard/runs/{run_id}", include_in_schema=False)
def run_page(
    run_id: str, request: Request, db: DbDep, who: PrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """One run's charts and arms table (404 page for an unknown run)."""
    try:
        run = domain.get_run(db, run_id, who.tenant, clock=clock)
    except NotFound:
        return _page("missing.html", request, status_code=404, run_id=run_id)
    return _page("run.html", request, run_id=run.run_id, run_name=run.name)


@router.get("/dashboard/static/{path:path}", include_in_schema=False)
def static_file(path: str) -> FileResponse:
    """A file shipped in ``service/dashboard/static`` (the pages' JS, CSS and uPlot)."""
    file = STATIC_FILES.get(path)
    if file is None:
        raise NotFound(f"no dashboard file {path!r}", {"path": path})
    return FileResponse(file, headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/api/runs", response_model=RunSummaryList, tags=["dashboard"])
def dashboard_runs(db: DbDep, who: PrincipalDep, clock: ClockDep) -> RunSummaryList:
    """The caller's runs, newest first, with each run's last report time."""
    return run_summaries(db, who.tenant, clock=clock)


@router.get(
    "/v1/runs/{run_id}/events",
    tags=["runs"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-sent events: `hello` (the run's step now), then `report` "
            "and `sample` events as they happen (a `: keepalive` comment every 15 s).",
        },
        404: {"model": ErrorOut, "description": "Unknown run"},
    },
)
async def run_events(
    run_id: str, db: DbDep, events: EventsDep, who: PrincipalDep, clock: ClockDep
) -> StreamingResponse:
    """Live events of a run, as server-sent events (what the dashboard listens to)."""
    current = partial(domain.get_run, db, run_id, who.tenant, clock=clock)
    await run_in_threadpool(current)  # 404 before streaming

    async def current_step() -> int:
        return (await run_in_threadpool(current)).step

    stream = sse.run_event_stream(events, run_id, current_step)
    return StreamingResponse(stream, media_type="text/event-stream", headers=sse.HEADERS)
