"""The sync client against the real service: in-process (TestClient) and over HTTP (uvicorn)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from trainer_client import (
    ConflictError,
    CurriculumClient,
    CurriculumError,
    InvalidRequestError,
    NotFoundError,
    Strategy,
)

R_A = 0.375 / (0.5 + 1e-6)  # mean |A| of [1, 0, 0, 0] with the unbiased std (worked by hand)


@pytest.fixture(params=["inprocess", "uvicorn"])
def any_client(request: pytest.FixtureRequest) -> Iterator[CurriculumClient]:
    fixture = "inprocess_client" if request.param == "inprocess" else "client"
    yield request.getfixturevalue(fixture)


def _make_run(client: CurriculumClient, **strategy: float) -> str:
    run = client.create_run(
        "client-test",
        [{"name": "a", "size": 4, "tags": {"difficulty": 1}}, {"name": "b", "size": 2}],
        Strategy(name="sec", alpha=0.5, tau=1.0, **strategy),
        seed=123,
    )
    return run.run_id


def test_create_get_list(any_client: CurriculumClient) -> None:
    run = any_client.create_run("created", ["x", {"name": "y", "size": 3}], "sec", seed=5)
    assert run.seed == 5 and run.step == 0 and run.samples == 0
    assert [arm.name for arm in run.arms] == ["x", "y"]
    assert run.arm("y").size == 3 and run.arm("x").size is None
    assert run.arms[0].probability == pytest.approx(0.5)
    assert run.strategy["name"] == "sec"
    fetched = any_client.get_run(run.run_id)
    assert fetched.run_id == run.run_id and fetched.created_at == run.created_at
    assert run.run_id in {listed.run_id for listed in any_client.list_runs()}


def test_sample_report_history_numbers(any_client: CurriculumClient) -> None:
    run_id = _make_run(any_client)
    sample = any_client.sample(run_id, batch_size=6)
    assert len(sample.items) == 6 and sample.step == 0
    assert sample.probabilities == pytest.approx({"a": 0.5, "b": 0.5})
    for item in sample.items:
        assert item.index is not None and 0 <= item.index < {"a": 4, "b": 2}[item.arm]

    report = any_client.report(
        run_id,
        [
            {"arm": "a", "index": 0, "rewards": [1.0, 0.0, 0.0, 0.0]},
            {"arm": "b", "index": 1, "rewards": [1.0, 1.0, 1.0, 1.0]},
        ],
        sample_id=sample.sample_id,
    )
    # TD(0) from Q0 = 0 with alpha 0.5; Boltzmann with tau 1 over {a, b}.
    q_a = 0.5 * R_A
    p_a = math.exp(q_a) / (math.exp(q_a) + 1.0)
    assert report.step == 1
    assert report.arm_rewards == pytest.approx({"a": R_A, "b": 0.0}, rel=1e-12)
    assert report.q == pytest.approx({"a": q_a, "b": 0.0}, rel=1e-12)
    assert report.probabilities == pytest.approx({"a": p_a, "b": 1 - p_a}, rel=1e-12)

    run = any_client.get_run(run_id)
    assert run.step == 1 and run.samples == 1
    assert run.arm("a").q == pytest.approx(q_a) and run.arm("a").times_reported == 1
    assert run.arm("b").mean_outcome_reward == pytest.approx(1.0)

    history = any_client.history(run_id)
    assert history.arms == ["a", "b"] and len(history.points) == 1
    point = history.points[0]
    assert point.report_id == report.report_id
    assert point.q["a"] == pytest.approx(q_a) and point.counts == {"a": 1, "b": 1}


def test_sample_and_report_are_idempotent(any_client: CurriculumClient) -> None:
    run_id = _make_run(any_client)
    first = any_client.sample(run_id, 5, sample_id="s-fixed")
    again = any_client.sample(run_id, 5, sample_id="s-fixed")
    assert again.items == first.items and any_client.get_run(run_id).samples == 1

    results = [{"arm": "a", "rewards": [1.0, 0.0]}]
    report = any_client.report(run_id, results, report_id="r-fixed")
    replay = any_client.report(run_id, results, report_id="r-fixed")
    assert replay == report and any_client.get_run(run_id).step == 1
    with pytest.raises(ConflictError) as caught:
        any_client.report(run_id, [{"arm": "a", "rewards": [0.0, 1.0, 1.0]}], report_id="r-fixed")
    assert caught.value.status == 409 and caught.value.code == "conflict"


def test_generated_ids_differ_per_call(any_client: CurriculumClient) -> None:
    run_id = _make_run(any_client)
    s1, s2 = any_client.sample(run_id, 2), any_client.sample(run_id, 2)
    assert s1.sample_id != s2.sample_id
    r1 = any_client.report(run_id, [{"arm": "a", "advantages": [0.5, -0.5]}])
    r2 = any_client.report(run_id, [{"arm": "a", "advantages": [0.5, -0.5]}])
    assert r1.report_id != r2.report_id and r2.step == 2


def test_typed_errors_from_the_service(any_client: CurriculumClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        any_client.get_run("no-such-run")
    assert missing.value.status == 404 and missing.value.message
    run_id = _make_run(any_client)
    with pytest.raises(InvalidRequestError) as bad_arm:
        any_client.report(run_id, [{"arm": "zzz", "rewards": [1.0]}])
    assert bad_arm.value.status == 422 and bad_arm.value.code == "invalid_request"
    with pytest.raises(InvalidRequestError) as bad_index:
        any_client.report(run_id, [{"arm": "b", "index": 2, "rewards": [1.0, 0.0]}])
    assert bad_index.value.status == 422
    with pytest.raises(InvalidRequestError):
        any_client.sample(run_id, batch_size=10**9)  # above the service's max_batch_size
    with pytest.raises(NotFoundError):
        any_client.sample("no-such-run", 1)


def test_client_side_checks_send_nothing(any_client: CurriculumClient) -> None:
    with pytest.raises(InvalidRequestError) as both:
        any_client.report("any", [{"arm": "a", "rewards": [1.0], "advantages": [1.0]}])
    assert both.value.status is None  # caught before any request
    with pytest.raises(InvalidRequestError):
        any_client.sample("any", batch_size=0)
    with pytest.raises(InvalidRequestError):
        any_client.report("any", [])
    with pytest.raises(CurriculumError):
        any_client.create_run("bad", [{"name": ""}])


def test_health_probes(any_client: CurriculumClient) -> None:
    assert any_client.healthz()["status"] == "ok"
    any_client.wait_until_ready(timeout=5)
