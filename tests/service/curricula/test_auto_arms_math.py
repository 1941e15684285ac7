"""Automatic arms, the pure part: names, bucket of a posterior, restricted probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from service.curricula import StrategyError
from service.curricula.auto_arms import (
    AutoArmOptions,
    arm_infos,
    draw_keys,
    member_arms,
    parse_auto_arms,
    restrict_to_members,
)


def test_arm_names_positions_and_tags() -> None:
    plain = arm_infos(AutoArmOptions(size=10, buckets=(0.2, 0.5, 0.8)))
    assert [a.name for a in plain] == [
        "unseen", "pass>=0.8", "pass 0.5-0.8", "pass 0.2-0.5", "pass<0.2",
    ]  # fmt: skip
    assert [a.tags["difficulty"] for a in plain] == pytest.approx([0.5, 0.1, 0.35, 0.65, 0.9])
    assert all(a.size == 10 for a in plain)
    two = arm_infos(AutoArmOptions(size=10, buckets=(0.5,), clusters=2))
    assert [a.name for a in two] == [
        "c0 unseen", "c0 pass>=0.5", "c0 pass<0.5", "c1 unseen", "c1 pass>=0.5", "c1 pass<0.5",
    ]  # fmt: skip
    assert [a.tags["cluster"] for a in two] == [0, 0, 0, 1, 1, 1]


def test_bucket_of_hand_computed_posteriors() -> None:
    options = AutoArmOptions(size=10, buckets=(0.2, 0.5, 0.8), clusters=2)
    solved = np.array([0.0, 0.0, 8.0, 3.0, 1.0, 0.0])
    failed = np.array([8.0, 2.0, 0.0, 3.0, 0.0, 8.0])
    # means 1/10, 1/4, 9/10, 4/8 (an edge: the bucket above), 2/3, 1/10 (cluster 1);
    # arms per cluster: unseen, >=0.8, 0.5-0.8, 0.2-0.5, <0.2
    clusters = np.array([0, 0, 0, 0, 0, 1])
    assert member_arms(options, clusters, solved, failed).tolist() == [4, 3, 1, 2, 2, 9]


def test_probabilities_are_restricted_to_arms_with_members() -> None:
    p = restrict_to_members(np.array([0.5, 0.3, 0.2]), np.array([0, 2, 3]))
    assert p.tolist() == pytest.approx([0.0, 0.6, 0.4])
    # all mass on empty arms: uniform over the arms that have members
    q = restrict_to_members(np.array([1.0, 0.0, 0.0, 0.0]), np.array([0, 5, 0, 1]))
    assert q.tolist() == pytest.approx([0.0, 0.5, 0.0, 0.5])


def test_draw_keys_are_a_permutation_of_the_pool() -> None:
    keys = draw_keys(3, np.arange(1000), 1000)
    assert sorted(keys.tolist()) == list(range(1000))
    assert keys.tolist() != list(range(1000))
    assert draw_keys(3, np.arange(1000), 1000).tolist() == keys.tolist()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "give 'size'"),
        ({"size": 5, "buckets": [0.5, 0.2]}, "strictly increasing"),
        ({"size": 5, "buckets": [0.0, 0.5]}, "in \\(0, 1\\)"),
        ({"size": 5, "buckets": []}, "1 to 16"),
        ({"size": 5, "clusters": 2}, "go together"),
        ({"embeddings": [[1.0], [2.0]]}, "go together"),
        ({"clusters": 2, "embeddings": [[1.0], [2.0, 3.0]]}, "same, non-zero"),
        ({"clusters": 3, "embeddings": [[1.0], [2.0]]}, "clusters must be within \\[1, 2\\]"),
        ({"size": 3, "clusters": 1, "embeddings": [[1.0], [2.0]]}, "differs"),
    ],
)
def test_bad_options_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        parse_auto_arms(spec)


def test_defaults_and_embeddings() -> None:
    options, vectors = parse_auto_arms({"size": 7})
    assert options == AutoArmOptions(size=7, buckets=(0.2, 0.5, 0.8), clusters=1)
    assert vectors is None
    options, vectors = parse_auto_arms({"clusters": 2, "embeddings": [[0, 1], [2, 3], [4, 5]]})
    assert (options.size, options.clusters, options.arm_count) == (3, 2, 10)
    assert vectors is not None and vectors.shape == (3, 2)
