"""Dataset rows -> arms, and the adapters' shared settings."""

from __future__ import annotations

import pytest

from trainer_client import CurriculumClient, InvalidRequestError
from trainer_client.adapters.arms import ArmIndex, ZPDSettings

ROWS = [
    {"task": "zebra", "extra_info": {"difficulty": 10}},
    {"task": "arc", "extra_info": {"difficulty": 2}},
    {"task": "zebra", "extra_info": {"difficulty": 2}},
    {"task": "arc", "extra_info": {"difficulty": 2}},
    {"task": "zebra", "extra_info": {"difficulty": 10}},
]


def test_one_field_sorts_numbers_numerically() -> None:
    arms = ArmIndex.from_rows(ROWS, ["extra_info.difficulty"])
    assert arms.names == ["difficulty=2", "difficulty=10"]  # not "10" < "2"
    assert arms.rows == {"difficulty=2": [1, 2, 3], "difficulty=10": [0, 4]}
    assert arms.arm_specs()[1] == {"name": "difficulty=10", "size": 2, "tags": {"difficulty": 10}}
    assert arms.row("difficulty=10", 1) == 4 and arms.locate(3) == ("difficulty=2", 2)
    assert len(arms) == 5


def test_two_fields_give_task_by_difficulty_arms() -> None:
    arms = ArmIndex.from_rows(ROWS, ["task", "extra_info.difficulty"])
    assert arms.names == [
        "task=arc,difficulty=2",
        "task=zebra,difficulty=2",
        "task=zebra,difficulty=10",
    ]
    assert arms.tags["task=zebra,difficulty=2"] == {"task": "zebra", "difficulty": 2}
    assert arms.name_of({"task": "arc", "extra_info": {"difficulty": 2}}) == "task=arc,difficulty=2"
    for row in range(len(ROWS)):
        assert arms.row(*arms.locate(row)) == row


def test_bad_rows_and_lookups() -> None:
    with pytest.raises(InvalidRequestError, match="no field 'extra_info.level'"):
        ArmIndex.from_rows(ROWS, ["extra_info.level"])
    with pytest.raises(InvalidRequestError):
        ArmIndex.from_rows([], ["task"])
    arms = ArmIndex.from_rows(ROWS, ["task"])
    with pytest.raises(InvalidRequestError):
        arms.row("task=arc", 2)
    with pytest.raises(InvalidRequestError):
        arms.name_of({"task": "countdown"})


def test_settings_from_mapping() -> None:
    settings = ZPDSettings.from_mapping(
        {"url": "http://x:1", "arm_fields": ["task"], "strategy": {"name": "random"}, "seed": None}
    )
    assert settings.url == "http://x:1" and list(settings.arm_fields) == ["task"]
    assert settings.seed is None and settings.strategy == {"name": "random"}
    assert ZPDSettings(arm_fields="difficulty").arm_fields == ("difficulty",)
    with pytest.raises(InvalidRequestError, match="unknown ZPD settings"):
        ZPDSettings.from_mapping({"ur": "typo"})
    with pytest.raises(InvalidRequestError, match="needs a 'name'"):
        ZPDSettings(strategy={"tau": 1.0})


def test_settings_open_reuses_or_refuses_runs(zpd_url: str, client: CurriculumClient) -> None:
    arms = ArmIndex.from_rows(ROWS, ["task"])
    settings = ZPDSettings(url=zpd_url, run_name="arms-open", arm_fields=["task"], ready_timeout=5)
    first = settings.open(arms)
    assert settings.open(arms).run_id == first.run_id  # same name and arms: continued
    bigger = ArmIndex.from_rows([*ROWS, {"task": "arc"}], ["task"])
    assert settings.open(bigger).run_id != first.run_id  # sizes differ: a new run
    pinned = ZPDSettings(url=zpd_url, run_id=first.run_id, arm_fields=["task"])
    assert pinned.open(arms).run_id == first.run_id
    with pytest.raises(InvalidRequestError, match="has arms"):
        pinned.open(bigger)
