"""The high-level helper against the real service (uvicorn)."""

from __future__ import annotations

import math

import pytest

from trainer_client import Curriculum, CurriculumClient, InvalidRequestError, grpo_advantages


def test_next_batch_report_round_trip(client: CurriculumClient) -> None:
    cur = Curriculum.create(
        client, "helper", [{"name": "easy", "size": 3}, {"name": "hard", "size": 3}],
        {"name": "sec", "alpha": 0.5, "tau": 0.5}, seed=11,
    )  # fmt: skip
    batch = cur.next_batch(4)
    assert len(batch) == 4 and batch.step == 0 and batch.sample_id
    # easy: all solved (no signal); hard: one of two rollouts solved.
    rewards = [[1.0, 1.0] if item.arm == "easy" else [1.0, 0.0] for item in batch]
    report = cur.report(batch, rewards)
    assert cur.last_report == report and report.step == 1

    arms = {item.arm for item in batch}
    # mean |A| of [1, 0] with the unbiased std: |0.5| / (sqrt(0.5) + 1e-6).
    r_hard = 0.5 / (math.sqrt(0.5) + 1e-6)
    expected = {arm: 0.0 if arm == "easy" else r_hard for arm in arms}
    assert report.arm_rewards == pytest.approx(expected, rel=1e-12)
    # Reporting the same batch again (e.g. after a crash) is applied once.
    assert cur.report(batch, rewards) == report and cur.run().step == 1

    history = cur.history()
    assert [p.report_id for p in history.points] == [batch.report_id]
    assert sum(history.points[0].counts.values()) == 4


def test_report_advantages_and_skipped_slots(client: CurriculumClient) -> None:
    cur = Curriculum.create(client, "helper-adv", [{"name": "only", "size": 4}], "sec", seed=3)
    batch = cur.next_batch(3)
    advantages = [grpo_advantages([1.0, 0.0, 0.0, 0.0]), None, [0.0, 0.0, 0.0, 0.0]]
    report = cur.report(batch, advantages=advantages)
    # Two reported problems: (0.375 / 0.500001 + 0) / 2.
    assert report.arm_rewards["only"] == pytest.approx(0.375 / (0.5 + 1e-6) / 2, rel=1e-12)
    assert cur.history().points[0].counts == {"only": 2}


def test_report_checks_its_arguments(client: CurriculumClient) -> None:
    cur = Curriculum.create(client, "helper-bad", ["x"], "sec")
    batch = cur.next_batch(2)
    with pytest.raises(InvalidRequestError, match="2 slots"):
        cur.report(batch, [[1.0]])
    with pytest.raises(InvalidRequestError, match="exactly one"):
        cur.report(batch)
    with pytest.raises(InvalidRequestError, match="nothing to report"):
        cur.report(batch, [None, None])
    assert cur.run().step == 0


def test_get_or_create_continues_a_run(client: CurriculumClient) -> None:
    arms = [{"name": "p", "size": 2}, {"name": "q", "size": 2}]
    first = Curriculum.get_or_create(client, "resumable-run", arms, "sec", seed=1)
    first.report(first.next_batch(2), [[1.0, 0.0], [0.0, 0.0]])
    again = Curriculum.get_or_create(client, "resumable-run", arms, "sec", seed=1)
    assert again.run_id == first.run_id and again.run().step == 1
    other = Curriculum.get_or_create(client, "resumable-run", ["p"], "sec")
    assert other.run_id != first.run_id
