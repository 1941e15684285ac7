"""Several ``zpd serve`` replicas on one PostgreSQL act as one service, even when one dies.

Reporters spread over two replicas end in exactly the state of a sequential replay of
the stored reports; after a replica is killed with SIGKILL mid-load, every report that
was answered 2xx is stored once, and clients that retry their unanswered reports with the
same report_id (on the surviving replica) complete them without doubling anything.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.service import reference
from tests.service.test_concurrency import ARMS, make_results

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def create_run(url: str) -> str:
    body = {
        "name": "replicas",
        "arms": [{"name": a, "size": 7} for a in ARMS],
        "strategy": {"name": "sec", "alpha": 0.3, "tau": 0.4},
        "seed": 5,
    }
    return str(httpx.post(f"{url}/v1/runs", json=body).json()["run_id"])


def final_state(url: str, rid: str) -> tuple[dict[str, Any], list[str]]:
    run = httpx.get(f"{url}/v1/runs/{rid}").json()
    history = httpx.get(f"{url}/v1/runs/{rid}/history", params={"max_points": 10000}).json()
    return run, [p["report_id"] for p in history["points"]]


def test_two_replicas_equal_a_sequential_replay(postgres_url: str) -> None:
    replicas = [LiveServer(postgres_url).start(), LiveServer(postgres_url).start()]
    try:
        rid = create_run(replicas[0].url)
        sent: dict[str, list[dict[str, Any]]] = {}
        failures: list[str] = []

        def reporter(worker: int) -> None:
            rng = random.Random(worker)
            with httpx.Client(base_url=replicas[worker % 2].url, timeout=60) as http:
                for k in range(40):
                    report_id, results = f"w{worker}-{k}", make_results(rng)
                    sent[report_id] = results
                    r = http.post(
                        f"/v1/runs/{rid}/report", json={"report_id": report_id, "results": results}
                    )
                    if r.status_code != 200:
                        failures.append(f"{report_id}: {r.status_code} {r.text}")
                    s = http.post(f"/v1/runs/{rid}/sample", json={"batch_size": 3})
                    if s.status_code != 200:
                        failures.append(f"sample: {s.status_code} {s.text}")

        threads = [threading.Thread(target=reporter, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        run, order = final_state(replicas[1].url, rid)
        assert sorted(order) == sorted(sent) and run["step"] == 320 and run["samples"] == 320
        expected = reference.sequential_q(ARMS, [sent[r] for r in order], alpha=0.3)
        assert {a["name"]: a["q"] for a in run["arms"]} == pytest.approx(expected, abs=1e-12)
    finally:
        for replica in replicas:
            replica.stop()


def test_kill_9_a_replica_under_load_loses_and_doubles_nothing(postgres_url: str) -> None:
    victim, survivor = LiveServer(postgres_url).start(), LiveServer(postgres_url).start()
    try:
        rid = create_run(survivor.url)
        bodies: dict[str, dict[str, Any]] = {}
        answered: dict[str, dict[str, Any]] = {}
        lock = threading.Lock()
        killed = threading.Event()

        def reporter(worker: int) -> None:
            rng = random.Random(100 + worker)
            with httpx.Client(base_url=victim.url, timeout=10) as http:
                for k in range(60):
                    report_id = f"w{worker}-{k}"
                    body = {"report_id": report_id, "results": make_results(rng)}
                    with lock:
                        bodies[report_id] = body
                    try:
                        r = http.post(f"/v1/runs/{rid}/report", json=body)
                    except httpx.HTTPError:
                        return  # the replica died under us: this report is unanswered
                    if r.status_code == 200:
                        with lock:
                            answered[report_id] = r.json()
                    if worker == 0 and k == 15:
                        victim.stop(kill=True)
                        killed.set()

        threads = [threading.Thread(target=reporter, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert killed.is_set() and answered

        # every answered report is stored exactly once, with the answer it was given
        run, order = final_state(survivor.url, rid)
        assert set(answered) <= set(order) and len(order) == len(set(order))
        with httpx.Client(base_url=survivor.url, timeout=30) as http:
            for report_id, answer in answered.items():
                again = http.post(f"/v1/runs/{rid}/report", json=bodies[report_id])
                assert again.json() == answer
            # clients retry everything they sent on the survivor: nothing doubles
            for body in bodies.values():
                assert http.post(f"/v1/runs/{rid}/report", json=body).status_code == 200
        run, order = final_state(survivor.url, rid)
        assert sorted(order) == sorted(bodies) and run["step"] == len(bodies)
        expected = reference.sequential_q(ARMS, [bodies[r]["results"] for r in order], alpha=0.3)
        assert {a["name"]: a["q"] for a in run["arms"]} == pytest.approx(expected, abs=1e-12)
    finally:
        victim.stop()
        survivor.stop()
