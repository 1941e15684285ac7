"""Every registered strategy through the real app: create, sample, report, read back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.curricula import strategy_names
from service.settings import Settings

ARMS = [
    {"name": "easy", "size": 40, "tags": {"difficulty": 1}},
    {"name": "medium", "size": 30, "tags": {"difficulty": 2}},
    {"name": "hard", "size": 20, "tags": {"difficulty": 3}},
]
PASS_RATE = {"easy": 0.9, "medium": 0.5, "hard": 0.1}

STRATEGIES: dict[str, dict[str, Any]] = {
    "sec": {"objective": "pass_rate", "sampling": "epsilon_greedy", "epsilon": 0.2},
    "random": {},
    "ordered": {"total_steps": 3},
    "reverse": {"total_steps": 3},
    "ducb": {"gamma": 0.9, "selection": "boltzmann"},
    "thompson": {"gamma": 0.9},
    "exp3": {"gamma": 0.2},
    "learning_progress": {"sampling": "boltzmann"},
    "adarft": {"eta": 0.5, "selection": "interpolate"},
    "threshold": {"window": 8},
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/z.db"))) as test_client:
        yield test_client


@pytest.mark.parametrize("name", strategy_names())
def test_create_sample_report_through_the_app(client: TestClient, name: str) -> None:
    """Every registered strategy (with the options above, or its defaults)."""
    strategy = {"name": name, **STRATEGIES.get(name, {})}
    created = client.post(
        "/v1/runs", json={"name": name, "arms": ARMS, "strategy": strategy, "seed": 7}
    )
    assert created.status_code == 201, created.text
    run = created.json()
    assert {k: v for k, v in run["strategy"].items() if k in strategy} == strategy
    rid = run["run_id"]
    for step in range(3):
        sample = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 16}).json()
        assert sample["step"] == step
        assert sum(sample["probabilities"].values()) == pytest.approx(1.0)
        results = [
            {
                "arm": item["arm"],
                "index": item["index"],
                # deterministic rewards with the arm's pass rate: 8 rollouts, some correct
                "rewards": [1.0 if k < 8 * PASS_RATE[item["arm"]] else 0.0 for k in range(8)],
            }
            for item in sample["items"]
        ]
        report = client.post(
            f"/v1/runs/{rid}/report", json={"sample_id": sample["sample_id"], "results": results}
        )
        assert report.status_code == 200, report.text
        assert report.json()["step"] == step + 1
        assert sum(report.json()["probabilities"].values()) == pytest.approx(1.0)
    after = client.get(f"/v1/runs/{rid}").json()
    assert sum(a["times_reported"] for a in after["arms"]) > 0
    history = client.get(f"/v1/runs/{rid}/history").json()
    assert [point["step"] for point in history["points"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("strategy", "fragment"),
    [
        ({"name": "ducb", "gamma": 0}, "gamma"),
        ({"name": "thompson", "noise_std": -1}, "noise_std"),
        ({"name": "exp3", "temperature": 1}, "unknown option"),
        ({"name": "learning_progress", "alpha_slow": 0.9}, "alpha_slow"),
        ({"name": "threshold", "lower": 0.9}, "below upper"),
        ({"name": "sec", "objective": "accuracy"}, "objective"),
    ],
)
def test_bad_options_answer_422(
    client: TestClient, strategy: dict[str, Any], fragment: str
) -> None:
    answer = client.post("/v1/runs", json={"name": "bad", "arms": ARMS, "strategy": strategy})
    assert answer.status_code == 422
    assert fragment in answer.json()["error"]["message"]


def test_adarft_without_difficulty_tags_answers_422(client: TestClient) -> None:
    arms = [{"name": "a"}, {"name": "b"}]
    answer = client.post(
        "/v1/runs", json={"name": "x", "arms": arms, "strategy": {"name": "adarft"}}
    )
    assert answer.status_code == 422 and "difficulty" in answer.json()["error"]["message"]
