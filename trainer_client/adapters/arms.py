"""From dataset rows to arms, and the settings every trainer adapter shares.

An arm is a category of problems. :class:`ArmIndex` groups a dataset's rows by the values
of some fields (``["difficulty"]``, or ``["task", "extra_info.difficulty"]`` for SEC-2D's
task x difficulty arms), names each group ``difficulty=3`` or ``task=zebra,difficulty=3``,
and translates between a row's position in the dataset and ``(arm, index)`` as the service
draws it (index ``i`` of an arm is the arm's ``i``-th row in dataset order).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer_client.client import CurriculumClient
from trainer_client.curriculum import Curriculum
from trainer_client.errors import InvalidRequestError


def field_value(row: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``row`` (``"extra_info.difficulty"``).

    Raises:
        InvalidRequestError: a part of the path is missing.
    """
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise InvalidRequestError(f"row has no field {path!r}", detail={"field": path})
        value = value[part]
    return value


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # Numbers sort numerically (difficulty 2 before 10) and before strings; no mixed compares.
    return tuple(
        (0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))
        for v in values
    )


def _arm_name(leaves: Sequence[str], values: Sequence[Any]) -> str:
    return ",".join(f"{leaf}={value}" for leaf, value in zip(leaves, values, strict=True))


@dataclass
class ArmIndex:
    """Rows of a dataset grouped into arms by the values of ``fields``.

    Attributes:
        fields: the dotted field paths that define an arm.
        names: arm names in order (sorted by field values, numbers numerically).
        rows: per arm, the dataset positions of its rows (its problem ``index`` order).
        tags: per arm, ``{field leaf name: value}``.
    """

    fields: tuple[str, ...]
    names: list[str]
    rows: dict[str, list[int]]
    tags: dict[str, dict[str, Any]]
    _where: list[tuple[str, int]] = field(default_factory=list, repr=False)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> ArmIndex:
        """Group ``rows`` (in dataset order) by the values of ``fields``."""
        if not fields:
            raise InvalidRequestError("give at least one arm field")
        fields = tuple(fields)
        leaves = [path.split(".")[-1] for path in fields]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for position, row in enumerate(rows):
            key = tuple(field_value(row, path) for path in fields)
            groups.setdefault(key, []).append(position)
        if not groups:
            raise InvalidRequestError("the dataset has no rows")
        index = cls(fields=fields, names=[], rows={}, tags={})
        for key in sorted(groups, key=_sort_key):
            name = _arm_name(leaves, key)
            if name in index.rows:
                raise InvalidRequestError(f"two groups of rows share the arm name {name!r}")
            index.names.append(name)
            index.rows[name] = groups[key]
            index.tags[name] = dict(zip(leaves, key, strict=True))
        index._where = [("", -1)] * sum(len(r) for r in groups.values())
        for name in index.names:
            for position_in_arm, row_position in enumerate(index.rows[name]):
                index._where[row_position] = (name, position_in_arm)
        return index

    def __len__(self) -> int:
        return len(self._where)

    def name_of(self, row: Mapping[str, Any]) -> str:
        """The arm of ``row`` (a mapping with the arm fields).

        Raises:
            InvalidRequestError: a field is missing, or the values name no arm of the index.
        """
        key = tuple(field_value(row, path) for path in self.fields)
        name = _arm_name([path.split(".")[-1] for path in self.fields], key)
        if name not in self.rows:
            raise InvalidRequestError(f"row maps to unknown arm {name!r}")
        return name

    def arm_specs(self) -> list[dict[str, Any]]:
        """The ``arms`` of ``create_run``: name, size and tags of each arm."""
        return [
            {"name": name, "size": len(self.rows[name]), "tags": self.tags[name]}
            for name in self.names
        ]

    def row(self, arm: str, index: int | None) -> int:
        """The dataset position of problem ``index`` of ``arm``."""
        if arm not in self.rows or index is None or not 0 <= index < len(self.rows[arm]):
            raise InvalidRequestError(
                f"no problem {index!r} in arm {arm!r}", detail={"arm": arm, "index": index}
            )
        return self.rows[arm][index]

    def locate(self, row: int) -> tuple[str, int]:
        """``(arm, index)`` of the row at dataset position ``row``."""
        return self._where[row]


def _env_default(name: str, fallback: str | None) -> Any:
    return field(default_factory=lambda: os.environ.get(name, fallback))


@dataclass
class ZPDSettings:
    """How an adapter reaches its curriculum (the same keys in every trainer's config).

    Attributes:
        url: the service (default: ``$ZPD_URL``, else ``http://127.0.0.1:8000``).
        api_key: sent as a Bearer token (default: ``$ZPD_API_KEY``).
        run_name: the run to continue (same name and arms) or create.
        run_id: an existing run to use as is (its arms must match the dataset's).
        arm_fields: dotted row fields whose values define the arms.
        strategy: e.g. ``{"name": "sec", "alpha": 0.5, "tau": 1.0}``.
        seed: the run's seed when it is created.
        ready_timeout: seconds to wait for the service to be ready.
    """

    url: str = _env_default("ZPD_URL", "http://127.0.0.1:8000")
    api_key: str | None = _env_default("ZPD_API_KEY", None)
    run_name: str = "zpd-curriculum"
    run_id: str | None = None
    arm_fields: Sequence[str] = ("difficulty",)
    strategy: Mapping[str, Any] = field(default_factory=lambda: {"name": "sec"})
    seed: int | None = None
    ready_timeout: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.arm_fields, str):
            self.arm_fields = (self.arm_fields,)
        if not self.arm_fields:
            raise InvalidRequestError("arm_fields must name at least one row field")
        if "name" not in self.strategy:
            raise InvalidRequestError("strategy needs a 'name', e.g. {'name': 'sec'}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ZPDSettings:
        """Settings from a config mapping (unknown keys are refused, to catch typos)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidRequestError(f"unknown ZPD settings {unknown}; known: {sorted(known)}")
        plain = {key: _plain(value) for key, value in values.items() if value is not None}
        return cls(**plain)

    def open(self, arms: ArmIndex) -> Curriculum:
        """Connect, wait for the service, and find or create the run for ``arms``."""
        client = CurriculumClient(self.url, api_key=self.api_key)
        client.wait_until_ready(self.ready_timeout)
        if self.run_id is None:
            return Curriculum.get_or_create(
                client, self.run_name, arms.arm_specs(), dict(self.strategy), self.seed
            )
        run = client.get_run(self.run_id)
        have = [(arm.name, arm.size) for arm in run.arms]
        want = [(spec["name"], spec["size"]) for spec in arms.arm_specs()]
        if have != want:
            raise InvalidRequestError(
                f"run {self.run_id} has arms {have} but the dataset gives {want}",
                detail={"run_arms": have, "dataset_arms": want},
            )
        return Curriculum(client, self.run_id)


def _plain(value: Any) -> Any:
    """OmegaConf containers (verl's config) as plain dicts/lists; anything else as is."""
    if hasattr(value, "items") and not isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value
