"""The live dashboard: pages under ``/dashboard`` and the run event stream.

``router`` carries the HTML pages, their static files (uPlot is vendored under
``static/vendor/uplot`` with its licence), ``GET /dashboard/api/runs`` (the run list with
each run's last report time) and ``GET /v1/runs/{run_id}/events`` (server-sent events).
"""

from __future__ import annotations

from service.dashboard.routes import router

__all__ = ["router"]
