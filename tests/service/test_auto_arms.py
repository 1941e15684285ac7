"""Automatic arms through the v1 API: forming, re-forming, drawing, bad input (SQLite + PG)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.api import create_app
from service.curricula import strategy_names
from service.settings import Settings

BUCKETS = ["unseen", "pass>=0.8", "pass 0.5-0.8", "pass 0.2-0.5", "pass<0.2"]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, max_arms=12)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def create(client: TestClient, auto: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"name": "auto", "seed": 5, "auto_arms": auto, **extra}
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def members(client: TestClient, rid: str) -> dict[str, int]:
    return {a["name"]: a["members"] for a in client.get(f"/v1/runs/{rid}").json()["arms"]}


def report(client: TestClient, rid: str, arm: str, outcomes: dict[int, list[float]]) -> None:
    results = [{"arm": arm, "index": i, "rewards": r} for i, r in outcomes.items()]
    response = client.post(f"/v1/runs/{rid}/report", json={"results": results})
    assert response.status_code == 200, response.text


def sample(client: TestClient, rid: str, n: int, **extra: Any) -> dict[str, Any]:
    answer = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": n, **extra})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_problems_move_between_buckets_as_their_posterior_changes(client: TestClient) -> None:
    run = create(client, {"size": 20, "buckets": [0.2, 0.5, 0.8]})
    rid = run["run_id"]
    assert [a["name"] for a in run["arms"]] == BUCKETS
    assert run["problems"]["selection"] == "frontier"  # auto arms imply tracking
    assert members(client, rid) == dict(zip(BUCKETS, [20, 0, 0, 0, 0], strict=True))
    # 8 failures: Beta(1, 9), mean 1/10 -> pass<0.2
    report(client, rid, "unseen", {3: [0.0] * 8})
    assert members(client, rid) == dict(zip(BUCKETS, [19, 0, 0, 0, 1], strict=True))
    # then 32 successes: Beta(33, 9), mean 33/42 = 0.786 -> pass 0.5-0.8
    report(client, rid, "pass<0.2", {3: [1.0] * 32})
    assert members(client, rid) == dict(zip(BUCKETS, [19, 0, 1, 0, 0], strict=True))
    # 8 more: Beta(41, 9), mean 41/50 = 0.82 -> pass>=0.8
    report(client, rid, "pass 0.5-0.8", {3: [1.0] * 8})
    assert members(client, rid) == dict(zip(BUCKETS, [19, 1, 0, 0, 0], strict=True))
    # the draw follows the move: problem 3 is the only one ever handed out from pass>=0.8,
    # and the emptied buckets get no slot
    handed: dict[str, set[int]] = {}
    for _ in range(6):
        answer = sample(client, rid, 8)
        assert answer["probabilities"]["pass<0.2"] == 0.0
        for item in answer["items"]:
            handed.setdefault(item["arm"], set()).add(item["index"])
    assert handed["pass>=0.8"] == {3}
    assert 3 not in handed["unseen"]
    assert set(handed) == {"unseen", "pass>=0.8"}


def test_discounted_evidence_re_forms_the_bucket_by_hand(
    client: TestClient, database_url: str
) -> None:
    run = create(client, {"size": 10}, problems={"discount": 0.5})
    rid = run["run_id"]
    report(client, rid, "unseen", {7: [0.0] * 8})  # step 0: s 0, f 8: mean 0.1
    report(client, rid, "unseen", {1: [1.0] * 8})  # step 1: another problem, 9/10
    report(client, rid, "pass<0.2", {7: [1.0] * 8})  # step 2: f 8 x 0.25 = 2, s 8: 9/12
    counts = members(client, rid)
    assert (counts["pass<0.2"], counts["pass 0.5-0.8"], counts["pass>=0.8"]) == (0, 1, 1)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT solved, failed, member_of FROM problem_stats WHERE idx = 7")
        ).one()
    engine.dispose()
    # arms: unseen 0, >=0.8 1, 0.5-0.8 2, 0.2-0.5 3, <0.2 4
    assert (row[0], row[1], row[2]) == (pytest.approx(8.0), pytest.approx(2.0), 2)


def test_unseen_walks_the_pool_without_repeats_and_skips_reported_problems(
    client: TestClient,
) -> None:
    rid = create(client, {"size": 12})["run_id"]
    first = [item["index"] for item in sample(client, rid, 12)["items"]]
    assert sorted(first) == list(range(12))  # one pass over the pool
    # nothing reported: still unseen; the next pass again hands each out once
    second = [item["index"] for item in sample(client, rid, 12)["items"]]
    assert sorted(second) == list(range(12))
    fresh = create(client, {"size": 12}, seed=6)["run_id"]
    report(client, fresh, "unseen", {5: [1.0] * 4, 6: [0.0] * 4})
    unseen = [
        item["index"]
        for _ in range(4)
        for item in sample(client, fresh, 5)["items"]
        if item["arm"] == "unseen"
    ]
    assert unseen and not {5, 6} & set(unseen)


def test_clusters_from_embeddings(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    near = rng.normal(0.0, 0.1, size=(12, 3))
    group = np.array([0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0])  # far apart: 10 units
    vectors = near + 10.0 * group[:, None]
    run = create(client, {"buckets": [0.5], "clusters": 2, "embeddings": vectors.tolist()})
    rid = run["run_id"]
    assert run["auto_arms"] == {"size": 12, "buckets": [0.5], "clusters": 2}
    names = ["c0 unseen", "c0 pass>=0.5", "c0 pass<0.5", "c1 unseen", "c1 pass>=0.5", "c1 pass<0.5"]
    assert [a["name"] for a in run["arms"]] == names
    assert [a["members"] for a in run["arms"]] == [6, 0, 0, 6, 0, 0]
    # cluster 0 holds problem 0 (group 0); cluster 1 the others
    for item in sample(client, rid, 12)["items"]:
        assert group[item["index"]] == (0 if item["arm"] == "c0 unseen" else 1)
    report(client, rid, "c1 unseen", {2: [0.0] * 4})  # problem 2 is in group 1
    assert [a["members"] for a in client.get(f"/v1/runs/{rid}").json()["arms"]] == [
        6, 0, 0, 5, 0, 1,
    ]  # fmt: skip


def test_same_seed_and_calls_give_the_same_samples(client: TestClient) -> None:
    draws = []
    for _ in range(2):
        rid = create(client, {"size": 50}, seed=11)["run_id"]
        seen = []
        for step in range(4):
            answer = sample(client, rid, 8)
            seen.append([(i["arm"], i["index"]) for i in answer["items"]])
            outcomes = {
                i["index"]: [float((i["index"] + step) % 3 == 0)] * 4 for i in answer["items"]
            }
            report(client, rid, answer["items"][0]["arm"], outcomes)
        draws.append(seen)
    assert draws[0] == draws[1]


def test_every_strategy_works_with_auto_arms(client: TestClient) -> None:
    for strategy in sorted(strategy_names()):
        options = {"total_steps": 3} if strategy in {"ordered", "reverse"} else {}
        rid = create(client, {"size": 30}, strategy={"name": strategy, **options})["run_id"]
        for _ in range(3):
            answer = sample(client, rid, 6)
            results = [
                {"arm": i["arm"], "index": i["index"], "rewards": [float(i["index"] % 2)] * 4}
                for i in answer["items"]
            ]
            response = client.post(f"/v1/runs/{rid}/report", json={"results": results})
            assert response.status_code == 200, (strategy, response.text)
        assert sum(members(client, rid).values()) == 30, strategy
        assert len(sample(client, rid, 4, purpose="demonstrations")["items"]) == 4


BAD = [
    ({"name": "x", "auto_arms": {"size": 5}, "arms": [{"name": "a"}]}, "exactly one"),
    ({"name": "x"}, "exactly one"),
    ({"name": "x", "auto_arms": {"size": 5, "buckets": [0.6, 0.3]}}, "strictly increasing"),
    ({"name": "x", "auto_arms": {"size": 5, "clusters": 2}}, "go together"),
    ({"name": "x", "auto_arms": {"clusters": 2, "embeddings": [[1.0, 2.0], [3.0]]}}, "dimensions"),
    (
        {"name": "x", "auto_arms": {"size": 5, "buckets": [0.1, 0.2, 0.3]}, "problems": {"x": 1}},
        "unknown",
    ),
    # 3 clusters x (1 + 2) arms = 9 is fine, 3 x (3 + 2) = 15 is over ZPD_MAX_ARMS 12
    (
        {"name": "x", "auto_arms": {"clusters": 3, "embeddings": [[0.0], [1.0], [2.0]]}},
        "at most 12",
    ),
    ({"name": "x", "auto_arms": {"size": 0}}, "size"),
]


def test_bad_input_is_refused_and_creates_nothing(client: TestClient) -> None:
    for body, message in BAD:
        response = client.post("/v1/runs", json=body)
        assert response.status_code == 422, response.text
        assert message in response.text, response.text
    assert client.get("/v1/runs").json()["runs"] == []


def test_bad_report_leaves_the_arms_unchanged(client: TestClient) -> None:
    rid = create(client, {"size": 10})["run_id"]
    report(client, rid, "unseen", {1: [0.0] * 4})
    before = members(client, rid)
    results = [
        {"arm": "unseen", "index": 2, "rewards": [1.0]},
        {"arm": "unseen", "index": 10, "rewards": [1.0]},
    ]
    response = client.post(f"/v1/runs/{rid}/report", json={"results": results})
    assert response.status_code == 422 and "outside" in response.text
    assert members(client, rid) == before


def test_pooled_prior_comes_from_the_problems_embedding_cluster(client: TestClient) -> None:
    rng = np.random.default_rng(1)
    group = np.repeat([0, 1], 12)
    vectors = rng.normal(0.0, 0.1, size=(24, 3)) + 10.0 * group[:, None]
    run = create(
        client,
        {"buckets": [0.5], "clusters": 2, "embeddings": vectors.tolist()},
        problems={"prior": "pooled", "prior_strength": 100},
    )
    rid = run["run_id"]
    cluster_of = {i["index"]: i["arm"][:2] for i in sample(client, rid, 24)["items"]}
    c0 = sorted(i for i, c in cluster_of.items() if c == "c0")
    assert len(c0) == 12
    # 8 problems of c0 solve 0, 1, 2, 3, 4, 2, 2, 2 of 4: rates with mean 1/2, variance
    # 0.078125, binomial noise mean(r (1 - r) / 3) = 0.0572917, spread 1/48, strength
    # 0.25 * 48 - 1 = 11: Beta(5.5, 5.5) for c0's problems; c1 has no evidence: Beta(1, 1)
    pattern = [0, 1, 2, 3, 4, 2, 2, 2]
    solved = dict(zip(c0[:8], pattern, strict=True))
    report(client, rid, "c0 unseen", {i: [1.0] * s + [0.0] * (4 - s) for i, s in solved.items()})
    items = sample(client, rid, 24, group_size=4)["items"]
    assert {i["arm"][:2] for i in items} == {"c0", "c1"}
    for item in items:
        s = solved.get(item["index"], 0)
        f = 4 - s if item["index"] in solved else 0
        prior = 5.5 if item["arm"].startswith("c0") else 1.0
        assert item["evidence"]["alpha"] == pytest.approx(prior + s)
        assert item["evidence"]["beta"] == pytest.approx(prior + f)
