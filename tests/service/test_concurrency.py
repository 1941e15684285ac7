"""No lost update: parallel reporters against a real server end in a sequential replay's state."""

from __future__ import annotations

import random
import threading
from typing import Any

import httpx
import pytest

from service.db.engine import create_db_engine
from service.db.transaction import Database
from service.domain.replay import replay_run
from service.settings import Settings
from tests.conftest import LiveServer
from tests.service import reference

ARMS = ["a", "b", "c", "d"]
REPORTERS, REPORTS_EACH, SAMPLERS, SAMPLES_EACH = 8, 50, 2, 25


def make_results(rng: random.Random) -> list[dict[str, Any]]:
    results = []
    for _ in range(rng.randint(1, 6)):
        arm = rng.choice(ARMS)
        if rng.random() < 0.8:
            results.append({"arm": arm, "rewards": [rng.choice([0.0, 0.1, 1.0]) for _ in range(8)]})
        else:
            results.append({"arm": arm, "advantages": [rng.uniform(-2, 2) for _ in range(4)]})
    return results


@pytest.mark.slow
def test_parallel_reports_equal_a_sequential_replay(live_server: LiveServer) -> None:
    url = live_server.url
    run = httpx.post(
        f"{url}/v1/runs",
        json={
            "name": "race",
            "arms": [{"name": a, "size": 7} for a in ARMS],
            "strategy": {"name": "sec", "alpha": 0.3, "tau": 0.4},
            "seed": 5,
        },
    ).json()
    rid = run["run_id"]
    sent: dict[str, list[dict[str, Any]]] = {}
    sampled: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def reporter(worker: int) -> None:
        rng = random.Random(worker)
        with httpx.Client(base_url=url, timeout=60) as http:
            for k in range(REPORTS_EACH):
                report_id = f"w{worker}-{k}"
                results = make_results(rng)
                response = http.post(
                    f"/v1/runs/{rid}/report", json={"report_id": report_id, "results": results}
                )
                with lock:
                    if response.status_code != 200:
                        failures.append(f"{report_id}: {response.status_code} {response.text}")
                    sent[report_id] = results

    def sampler(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(SAMPLES_EACH):
                response = http.post(f"/v1/runs/{rid}/sample", json={"batch_size": 5})
                with lock:
                    if response.status_code != 200:
                        failures.append(f"sample: {response.status_code} {response.text}")
                    sampled.append(len(response.json()["items"]))

    threads = [threading.Thread(target=reporter, args=(w,)) for w in range(REPORTERS)]
    threads += [threading.Thread(target=sampler, args=(w,)) for w in range(SAMPLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    final = httpx.get(f"{url}/v1/runs/{rid}").json()
    history = httpx.get(f"{url}/v1/runs/{rid}/history", params={"max_points": 10000}).json()
    order = [point["report_id"] for point in history["points"]]
    assert sorted(order) == sorted(sent) and len(order) == REPORTERS * REPORTS_EACH
    assert final["step"] == REPORTERS * REPORTS_EACH

    expected_q = reference.sequential_q(ARMS, [sent[r] for r in order], alpha=0.3)
    assert {a["name"]: a["q"] for a in final["arms"]} == pytest.approx(expected_q, abs=1e-12)
    expected_reported = {a: 0 for a in ARMS}
    for results in sent.values():
        for result in results:
            expected_reported[result["arm"]] += 1
    assert {a["name"]: a["times_reported"] for a in final["arms"]} == expected_reported
    assert final["samples"] == SAMPLERS * SAMPLES_EACH
    assert sum(a["times_sampled"] for a in final["arms"]) == sum(sampled)

    engine = create_db_engine(Settings(database_url=live_server.database_url))
    try:
        assert replay_run(Database(engine), rid).differences == []
    finally:
        engine.dispose()
