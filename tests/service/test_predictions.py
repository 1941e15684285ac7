"""Predictions and rollout budgets on /sample, through the API on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from trainer_client.models import Sample


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as test_client:
        yield test_client


def create(client: TestClient, problems: dict[str, Any] | None, size: int = 40) -> str:
    body: dict[str, Any] = {"name": "p", "arms": [{"name": "a", "size": size}], "seed": 7}
    if problems is not None:
        body["problems"] = problems
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["run_id"])


def report(client: TestClient, rid: str, outcomes: dict[int, list[float]]) -> None:
    results = [{"arm": "a", "index": i, "rewards": r} for i, r in outcomes.items()]
    answer = client.post(f"/v1/runs/{rid}/report", json={"results": results})
    assert answer.status_code == 200, answer.text


def sample(client: TestClient, rid: str, **body: Any) -> list[dict[str, Any]]:
    answer = client.post(f"/v1/runs/{rid}/sample", json=body)
    assert answer.status_code == 200, answer.text
    Sample.model_validate(answer.json())  # the client reads what the service writes
    return list(answer.json()["items"])


def test_untracked_items_carry_no_prediction(client: TestClient) -> None:
    rid = create(client, None)
    for item in sample(client, rid, batch_size=4):
        assert set(item) == {"arm", "index"}


def test_items_carry_the_posterior_and_the_all_agree_probability(client: TestClient) -> None:
    rid = create(client, {"selection": "frontier"})
    report(client, rid, {3: [1.0, 1.0, 1.0, 0.0]})
    items = {i["index"]: i for i in sample(client, rid, batch_size=40, group_size=2)}
    # Beta(1 + 3, 1 + 1): mean 2/3; n = 2: 2/6 * 3/7 + 4/6 * 5/7 = 13/21
    seen = items[3]
    assert seen["evidence"] == {"alpha": 4.0, "beta": 2.0, "successes": 3.0, "attempts": 4.0}
    assert seen["predicted_pass_rate"] == pytest.approx(2 / 3)
    assert seen["p_all_agree"] == pytest.approx(13 / 21)
    assert "n_rollouts" not in seen
    # an unseen problem under Beta(1, 1): mean 1/2, all agree with probability 2 / (n + 1)
    unseen = items[4]
    assert unseen["predicted_pass_rate"] == 0.5 and unseen["p_all_agree"] == pytest.approx(2 / 3)


def test_pooled_prior_is_fitted_to_the_arm(client: TestClient) -> None:
    rid = create(client, {"selection": "frontier", "prior": "pooled", "prior_strength": 100})
    first = [i["index"] for i in sample(client, rid, batch_size=40)]
    assert sorted(first) == list(range(40))
    # solved 0, 1, 2, 3, 4, 2, 2, 2 of 4, five times over: the method-of-moments Beta is
    # Beta(5.5, 5.5) (mean 1/2, spread 1/48 after the binomial noise; strength 11)
    pattern = [0, 1, 2, 3, 4, 2, 2, 2]
    solved = {i: pattern[i % 8] for i in range(40)}
    report(client, rid, {i: [1.0] * s + [0.0] * (4 - s) for i, s in solved.items()})
    for item in sample(client, rid, batch_size=10, group_size=4):
        s = solved[item["index"]]
        assert item["evidence"]["alpha"] == pytest.approx(5.5 + s)
        assert item["evidence"]["beta"] == pytest.approx(5.5 + 4 - s)
        assert item["predicted_pass_rate"] == pytest.approx((5.5 + s) / 15)


def test_budgets_sum_within_the_budget_and_respect_the_bounds(client: TestClient) -> None:
    rid = create(client, {"selection": "frontier"})
    report(client, rid, {i: [1.0] * 8 for i in range(10)} | {i: [0.0, 1.0] for i in range(10, 20)})
    for budget, low, high in [(100, 2, 16), (40, 2, 16), (400, 3, 5), (33, 1, 4)]:
        items = sample(
            client,
            rid,
            batch_size=16,
            rollout_budget=budget,
            min_rollouts=low,
            max_rollouts=high,
        )
        n = [item["n_rollouts"] for item in items]
        assert sum(n) == min(budget, 16 * high)
        assert min(n) >= low and max(n) <= high


def test_budgets_favour_uncertain_problems(client: TestClient) -> None:
    rid = create(client, {"selection": "uniform"}, size=4)
    # 0: mastered (40 of 40), 1: even (20 of 40), 2 and 3: unseen
    report(client, rid, {0: [1.0] * 40, 1: [1.0, 0.0] * 20})
    items = sample(client, rid, batch_size=4, rollout_budget=24, min_rollouts=2, max_rollouts=16)
    n = {item["index"]: item["n_rollouts"] for item in items}
    assert n[0] == 2  # a group from Beta(41, 1) agrees whatever n: not worth a rollout more
    assert n[1] < n[2]  # Beta(21, 21) disagrees at small n already; Beta(1, 1) needs more


@pytest.mark.parametrize(
    "body",
    [
        {"batch_size": 8, "rollout_budget": 15, "min_rollouts": 2},
        {"batch_size": 8, "rollout_budget": 100, "min_rollouts": 6, "max_rollouts": 4},
        {"batch_size": 8, "rollout_budget": 100, "max_rollouts": 2000},
        {"batch_size": 8, "group_size": 0},
        {"batch_size": 8, "group_size": 2000},
        {"batch_size": 8, "rollout_budget": 0},
    ],
)
def test_bad_budgets_are_refused_and_change_nothing(
    client: TestClient, body: dict[str, Any]
) -> None:
    rid = create(client, {"selection": "frontier"})
    answer = client.post(f"/v1/runs/{rid}/sample", json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert client.get(f"/v1/runs/{rid}").json()["samples"] == 0


def test_a_budget_needs_per_problem_tracking(client: TestClient) -> None:
    rid = create(client, None)
    answer = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 4, "rollout_budget": 16})
    assert 400 <= answer.status_code < 500
    assert "per-problem tracking" in answer.text
    assert client.get(f"/v1/runs/{rid}").json()["samples"] == 0


def test_reports_take_groups_of_different_sizes(client: TestClient) -> None:
    rid = create(client, {"selection": "uniform"}, size=3)
    # the sizes a budget hands out: 2, 5 and 11 rollouts in one report
    report(client, rid, {0: [1.0, 0.0], 1: [1.0] * 4 + [0.1], 2: [0.0] * 10 + [1.0]})
    items = {i["index"]: i for i in sample(client, rid, batch_size=3)}
    assert items[0]["evidence"] == {"alpha": 2.0, "beta": 2.0, "successes": 1.0, "attempts": 2.0}
    assert items[1]["evidence"] == {"alpha": 5.0, "beta": 2.0, "successes": 4.0, "attempts": 5.0}
    assert items[2]["evidence"] == {"alpha": 2.0, "beta": 11.0, "successes": 1.0, "attempts": 11.0}


def test_batches_and_predictions_replay_from_the_seed(client: TestClient) -> None:
    options = {"selection": "frontier", "prior": "pooled", "reprobe": 0.3, "discount": 0.9}
    answers = []
    for _ in range(2):
        rid = create(client, options, size=30)
        seen = []
        for step in range(4):
            items = sample(client, rid, batch_size=12, rollout_budget=60, max_rollouts=8)
            report(
                client,
                rid,
                {i["index"]: [1.0] * (i["index"] % 4) + [0.0] * step + [0.0] for i in items},
            )
            seen.append(items)
        answers.append(seen)
    assert answers[0] == answers[1]
