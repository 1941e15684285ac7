"""/v1/runs routes: parse, call one domain function, shape the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service import observability
from service.api.deps import (
    CacheDep,
    ClockDep,
    DbDep,
    EventsDep,
    Hot,
    HotDep,
    PrincipalDep,
    SettingsDep,
    WriterDep,
    parse_body,
    writer_in_this_thread,
)
from service.domain import history as history_domain
from service.domain import rewind as rewind_domain
from service.domain import runs as domain
from service.schemas import (
    CreateRunRequest,
    ErrorOut,
    HistoryOut,
    ReportOut,
    ReportRequest,
    RewindList,
    RewindOut,
    RewindRequest,
    RunList,
    RunOut,
    SampleManyRequest,
    SampleOut,
    SampleRequest,
    SamplesOut,
    StepOut,
    StepRequest,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "An API key is required (or it is unknown/revoked)"},
    403: {"model": ErrorOut, "description": "The API key is read-only"},
    429: {"model": ErrorOut, "description": "Over the key's rate limit; see Retry-After"},
    404: {"model": ErrorOut, "description": "Unknown run"},
    409: {"model": ErrorOut, "description": "Conflicts with stored state"},
    422: {"model": ErrorOut, "description": "Invalid request"},
    500: {
        "model": ErrorOut,
        "description": "storage_error: the database refused the operation (nothing was "
        "applied; retrying fails the same way)",
    },
    503: {"model": ErrorOut, "description": "Database unavailable; retry"},
}

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERRORS)


def json_answer(answer: BaseModel, headers: dict[str, str] | None = None) -> Response:
    """``answer`` serialised once by pydantic, for the hot routes.

    Returned as a ``Response``, FastAPI sends it as is: without it, FastAPI would validate
    the answer again against ``response_model`` (256 items of a sample) in a thread-pool hop
    and serialise it after. ``response_model`` still documents the route.
    """
    return Response(answer.model_dump_json(), media_type="application/json", headers=headers)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RunOut)
def create_run(
    body: CreateRunRequest, db: DbDep, settings: SettingsDep, who: WriterDep, clock: ClockDep
) -> RunOut:
    """Create a run: its arms, strategy (``{"name": "sec", "alpha": 0.5, ...}``) and seed."""
    answer = domain.create_run(db, body, settings, who.tenant, clock=clock)
    observability.remember_strategy(answer.run_id, str(answer.strategy["name"]))
    return answer


@router.get("", response_model=RunList)
def list_runs(db: DbDep, who: PrincipalDep, clock: ClockDep) -> RunList:
    """All runs of the caller's tenant, newest first."""
    return domain.list_runs(db, who.tenant, clock=clock)


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: str, db: DbDep, who: PrincipalDep, cache: CacheDep, clock: ClockDep) -> RunOut:
    """One run: per arm its value q, sampling probability and counters."""
    return domain.get_run(db, run_id, who.tenant, cache, clock=clock)


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a body the route parses itself (:func:`parse_body`);
    the app adds ``model``'s schema to the document's components (``BODY_MODELS``)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# the bodies the hot routes parse from their bytes (their schemas join the OpenAPI document)
BODY_MODELS: tuple[type[BaseModel], ...] = (
    SampleRequest,
    SampleManyRequest,
    ReportRequest,
    StepRequest,
)


# The hot routes: the endpoint reads the body's bytes; the function named after the route
# does the rest (the key, the body, the domain call, the answer) in one thread-pool hop.


@router.post(
    "/{run_id}/sample",
    name="sample",
    response_model=SampleOut,
    openapi_extra=json_body(SampleRequest),
)
async def post_sample(run_id: str, hot: HotDep) -> Response:
    """Draw ``batch_size`` problems to train on next."""
    return await run_in_threadpool(sample, run_id, await hot.request.body(), hot)


def sample(run_id: str, raw: bytes, hot: Hot) -> Response:
    """``POST /v1/runs/{run_id}/sample``'s work, in a thread-pool thread."""
    who = writer_in_this_thread(hot.request)
    body = parse_body(SampleRequest, raw)
    answer = domain.sample(
        hot.db, run_id, body, hot.settings, who.tenant, hot.cache, clock=hot.clock
    )
    announce_sample(hot, run_id, answer)
    return json_answer(answer)


@router.post(
    "/{run_id}/samples",
    name="samples",
    response_model=SamplesOut,
    openapi_extra=json_body(SampleManyRequest),
)
async def post_samples(run_id: str, hot: HotDep) -> Response:
    """Draw one problem for each of ``sample_ids`` (for k rollout workers): the samples k
    ``/sample`` calls of ``batch_size`` 1 would give, in one locked transaction."""
    return await run_in_threadpool(samples, run_id, await hot.request.body(), hot)


def samples(run_id: str, raw: bytes, hot: Hot) -> Response:
    """``POST /v1/runs/{run_id}/samples``'s work, in a thread-pool thread."""
    who = writer_in_this_thread(hot.request)
    body = parse_body(SampleManyRequest, raw)
    answers = domain.sample_many(
        hot.db,
        run_id,
        body.one_sample_requests(),
        hot.settings,
        who.tenant,
        hot.cache,
        clock=hot.clock,
    )
    for answer in answers:
        announce_sample(hot, run_id, answer)
    return json_answer(SamplesOut(samples=answers))


@router.post(
    "/{run_id}/report",
    name="report",
    response_model=ReportOut,
    openapi_extra=json_body(ReportRequest),
)
async def post_report(run_id: str, hot: HotDep) -> Response:
    """Apply one training step's rewards (or advantages); idempotent on ``report_id``."""
    return await run_in_threadpool(report, run_id, await hot.request.body(), hot)


def report(run_id: str, raw: bytes, hot: Hot) -> Response:
    """``POST /v1/runs/{run_id}/report``'s work, in a thread-pool thread."""
    who = writer_in_this_thread(hot.request)
    body = parse_body(ReportRequest, raw)
    answer, repeated = domain.report(
        hot.db, run_id, body, hot.settings, who.tenant, hot.cache, clock=hot.clock
    )
    announce_report(hot, run_id, answer, len(body.results), repeated)
    if repeated:
        return json_answer(answer, {"Idempotent-Replayed": "true"})
    return json_answer(answer)


@router.post(
    "/{run_id}/step",
    name="step",
    response_model=StepOut,
    openapi_extra=json_body(StepRequest),
)
async def post_step(run_id: str, hot: HotDep) -> Response:
    """Report the step just trained and draw the next one, in one transaction: the answers
    of ``/report`` then ``/sample``, with one round trip and one commit."""
    return await run_in_threadpool(step, run_id, await hot.request.body(), hot)


def step(run_id: str, raw: bytes, hot: Hot) -> Response:
    """``POST /v1/runs/{run_id}/step``'s work, in a thread-pool thread."""
    who = writer_in_this_thread(hot.request)
    body = parse_body(StepRequest, raw)
    answer = domain.step(hot.db, run_id, body, hot.settings, who.tenant, hot.cache, clock=hot.clock)
    if body.report is not None and answer.report is not None:
        announce_report(
            hot, run_id, answer.report, len(body.report.results), answer.report_replayed
        )
    announce_sample(hot, run_id, answer.sample)
    return json_answer(answer)


def announce_sample(hot: Hot, run_id: str, answer: SampleOut) -> None:
    """Count an answered sample and send the dashboard its event."""
    observability.record_sample(hot.db, run_id, len(answer.items))
    event = {"type": "sample", "sample_id": answer.sample_id, "step": answer.step}
    hot.events.publish(run_id, event)


def announce_report(hot: Hot, run_id: str, answer: ReportOut, results: int, repeated: bool) -> None:
    """Count a report of ``results`` problems; a new one (not a repeat) goes to the
    dashboard's event stream."""
    observability.record_report(hot.db, run_id, results, repeated)
    if not repeated:
        hot.events.publish(run_id, {"type": "report", **answer.model_dump()})


@router.get("/{run_id}/history", response_model=HistoryOut)
def history(
    run_id: str,
    db: DbDep,
    who: PrincipalDep,
    since_step: int = Query(0, ge=0, description="Only steps after this one."),
    max_points: int = Query(
        2000, ge=1, le=history_domain.MAX_POINTS_LIMIT, description="Downsample to at most this."
    ),
) -> HistoryOut:
    """Per step: arm values, probabilities, rewards and counts (downsampled)."""
    return history_domain.history(
        db, run_id, since_step=since_step, max_points=max_points, tenant=who.tenant
    )


@router.post("/{run_id}/rewind", response_model=RewindOut)
def rewind(
    run_id: str,
    body: RewindRequest,
    db: DbDep,
    events: EventsDep,
    who: WriterDep,
    cache: CacheDep,
    clock: ClockDep,
) -> RewindOut:
    """Go back to trainer step ``step`` (exact resume): later reports and samples are set
    aside (listed by ``GET .../rewinds``) and the state is rebuilt by replay."""
    answer = rewind_domain.rewind(
        db, run_id, body.step, who.tenant, cache, clock=clock, samples=body.samples
    )
    if answer.rewind_id is not None:
        events.publish(run_id, {"type": "rewind", **answer.model_dump()})
    return answer


@router.get("/{run_id}/rewinds", response_model=RewindList)
def rewinds(run_id: str, db: DbDep, who: PrincipalDep) -> RewindList:
    """Every rewind of the run with the reports and samples it set aside."""
    return rewind_domain.list_rewinds(db, run_id, who.tenant)
