"""HTTP layer: the app factory and thin routes.

``create_app`` is loaded lazily so that modules the app itself imports (the dashboard
routes use :mod:`service.api.deps`) can import this package without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from service.api.app import create_app

        return create_app
    raise AttributeError(f"module 'service.api' has no attribute {name!r}")
