"""The client reaches per-problem tracking: frontier runs and demonstration samples."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from trainer_client import CurriculumClient


def test_per_problem_tracking_through_the_client(sqlite_url: str) -> None:
    http = TestClient(create_app(Settings(database_url=sqlite_url)))
    client = CurriculumClient(http_client=http)  # type: ignore[arg-type]
    run = client.create_run(
        "sft", [{"name": "a", "size": 30}], seed=2, problems={"selection": "uniform"}
    )
    assert run.problems is not None and run.problems["selection"] == "uniform"
    failing = list(range(10))
    client.report(run.run_id, [{"arm": "a", "index": i, "rewards": [0.0] * 8} for i in failing])
    client.report(
        run.run_id, [{"arm": "a", "index": i, "rewards": [1.0] * 8} for i in range(10, 30)]
    )
    batch = client.sample(run.run_id, 10, purpose="demonstrations")
    # weights 1 - E[p]: 9/10 for each failing problem against 1/10 for each solved one
    assert sum(item.index in failing for item in batch.items) >= 6
    assert client.get_run(run.run_id).demonstrations == 10
