"""HTTP layer: the app factory and thin routes."""

from __future__ import annotations

from service.api.app import create_app

__all__ = ["create_app"]
