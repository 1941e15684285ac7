"""The app's routes, flattened across FastAPI versions.

FastAPI up to 0.136 copies an included router's routes into ``app.router.routes``; later
versions keep a wrapper per included router (``original_router`` holds its routes). Code
that needs every route (the ``Allow`` header of a 405, the route label of a request
answered before routing) walks them through :func:`all_routes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute


def all_routes(routes: Iterable[Any]) -> Iterator[BaseRoute]:
    """Every leaf route below ``routes`` (e.g. ``app.router.routes``), in order."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from all_routes(inner.routes)
        elif isinstance(route, BaseRoute):
            yield route
