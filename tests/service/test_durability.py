"""Reproducible across restarts; an answered 2xx survives kill -9."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

ARMS = [{"name": "x", "size": 30}, {"name": "y", "size": 9}, {"name": "z"}]


def create(url: str) -> str:
    body = {"name": "repro", "arms": ARMS, "strategy": {"name": "sec", "tau": 0.3}, "seed": 1234}
    return str(httpx.post(f"{url}/v1/runs", json=body).json()["run_id"])


def step(url: str, rid: str, k: int) -> dict[str, Any]:
    sample = httpx.post(f"{url}/v1/runs/{rid}/sample", json={"batch_size": 16}).json()
    results = [
        {**item, "rewards": [float((k + n + i) % 3 == 0) for i in range(4)]}
        for n, item in enumerate(sample["items"])
    ]
    httpx.post(f"{url}/v1/runs/{rid}/report", json={"results": results}).raise_for_status()
    return {"probabilities": sample["probabilities"], "items": sample["items"]}


@pytest.mark.slow
def test_same_seed_same_calls_same_samples_across_a_restart(tmp_path: Path) -> None:
    straight = LiveServer(f"sqlite:///{tmp_path / 'a.db'}").start()
    try:
        rid = create(straight.url)
        expected = [step(straight.url, rid, k) for k in range(6)]
    finally:
        straight.stop()

    restarted_db = f"sqlite:///{tmp_path / 'b.db'}"
    first = LiveServer(restarted_db).start()
    try:
        rid = create(first.url)
        observed = [step(first.url, rid, k) for k in range(3)]
    finally:
        first.stop()
    second = LiveServer(restarted_db).start()
    try:
        observed += [step(second.url, rid, k) for k in range(3, 6)]
    finally:
        second.stop()
    assert observed == expected
    assert len({str(s["items"]) for s in expected}) == 6  # the batches do differ step to step


@pytest.mark.slow
def test_answered_report_survives_kill_9(database_url: str, tmp_path: Path) -> None:
    server = LiveServer(database_url, workdir=tmp_path).start()
    rid = create(server.url)
    body = {"report_id": "r-1", "results": [{"arm": "x", "index": 2, "rewards": [1, 0, 0, 1]}]}
    answer = httpx.post(f"{server.url}/v1/runs/{rid}/report", json=body)
    assert answer.status_code == 200
    server.stop(kill=True)

    again = LiveServer(database_url, workdir=tmp_path).start()
    try:
        state = httpx.get(f"{again.url}/v1/runs/{rid}").json()
        assert state["step"] == 1
        retry = httpx.post(f"{again.url}/v1/runs/{rid}/report", json=body)
        assert retry.json() == answer.json()
        assert httpx.get(f"{again.url}/v1/runs/{rid}").json()["step"] == 1
    finally:
        again.stop()
