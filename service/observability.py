"""Metrics and structured logs (placeholder until built)."""

from __future__ import annotations

from fastapi import FastAPI

from service.settings import Settings


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Attach request ids, JSON access logs and the Prometheus ``/metrics`` endpoint."""
    return None
