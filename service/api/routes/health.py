"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from service import __version__
from service.api.deps import DbDep
from service.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
def readyz(db: DbDep) -> dict[str, str]:
    """The database answers; 503 otherwise."""
    with db.transaction() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ready", "database": db.engine.dialect.name}


__all__ = ["router", "Unavailable"]
