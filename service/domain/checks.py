"""Input checks the request schemas cannot express: the ``ZPD_MAX_*`` limits and checks
against the run's stored arms.

Each check raises :class:`~service.errors.InvalidRequest` (422) before anything is
written, naming the setting that sets the limit; checks against the run run inside the
caller's transaction, so a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

from service.db.models import Run
from service.errors import InvalidRequest
from service.settings import Settings


def check_arm_count(arms: int, settings: Settings, formed_by: str | None = None) -> None:
    """At most ``ZPD_MAX_ARMS`` arms per run (``formed_by``: what made them, if not the
    request's list)."""
    if arms <= settings.max_arms:
        return
    if formed_by is None:
        message = f"a run may have at most {settings.max_arms} arms (ZPD_MAX_ARMS)"
    else:
        message = (
            f"{formed_by} makes {arms} arms; a run may have at most {settings.max_arms} "
            "(ZPD_MAX_ARMS)"
        )
    raise InvalidRequest(message, {"arms": arms, "limit": settings.max_arms})


def check_batch_size(batch_size: int, settings: Settings) -> None:
    """At most ``ZPD_MAX_BATCH_SIZE`` problems per sample."""
    if batch_size > settings.max_batch_size:
        raise InvalidRequest(
            f"batch_size must be at most {settings.max_batch_size} (ZPD_MAX_BATCH_SIZE)",
            {"batch_size": batch_size, "limit": settings.max_batch_size},
        )


def check_result_count(results: int, settings: Settings) -> None:
    """At most ``ZPD_MAX_RESULTS`` results per report."""
    if results > settings.max_results:
        raise InvalidRequest(
            f"a report may hold at most {settings.max_results} results (ZPD_MAX_RESULTS)",
            {"results": results, "limit": settings.max_results},
        )


def check_results(run: Run, results: list[dict[str, Any]], settings: Settings) -> None:
    """Every result names an arm of ``run``, an index inside it, and at most
    ``ZPD_MAX_ROLLOUTS`` values."""
    by_name = {arm.name: arm for arm in run.arms}
    unknown = sorted({r["arm"] for r in results} - set(by_name))
    if unknown:
        raise InvalidRequest(
            f"unknown arm(s) {unknown}; this run's arms are {list(by_name)}",
            {"unknown_arms": unknown},
        )
    for i, result in enumerate(results):
        size = by_name[result["arm"]].size
        if result.get("index") is not None and size is not None and result["index"] >= size:
            raise InvalidRequest(
                f"results[{i}].index {result['index']} is outside arm {result['arm']!r} "
                f"of size {size}",
                {"result": i},
            )
        values = result.get("rewards") or result.get("advantages") or []
        if len(values) > settings.max_rollouts:
            raise InvalidRequest(
                f"results[{i}] has {len(values)} values; at most {settings.max_rollouts} "
                "rollouts per problem (ZPD_MAX_ROLLOUTS)",
                {"result": i},
            )
