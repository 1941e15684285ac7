"""Seeded k-means against examples worked by hand and a brute-force optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.curricula.kmeans import kmeans, kmeans_plus_plus


def test_one_dimensional_example_by_hand() -> None:
    # {0, 1} and {10, 11, 12}: whatever the seeding, Lloyd ends at means 0.5 and 11
    # (worked for the worst seeding, centres 10 and 12: 11 ties to 10, the means 5.5 and 12
    # then split 0, 1 | 10, 11, 12).
    points = np.array([[0.0], [1.0], [10.0], [11.0], [12.0]])
    for seed in range(20):
        result = kmeans(points, 2, np.random.default_rng(seed))
        assert result.labels.tolist() == [0, 0, 1, 1, 1]
        assert result.centers[:, 0].tolist() == pytest.approx([0.5, 11.0])


def _best_two_partition_inertia(points: np.ndarray) -> float:
    best = np.inf
    for mask in itertools.product([False, True], repeat=len(points) - 1):
        group = np.array([False, *mask])  # point 0 always in the first group
        if group.all() or not group.any():
            continue
        inertia = sum(
            float(((part - part.mean(axis=0)) ** 2).sum())
            for part in (points[group], points[~group])
        )
        best = min(best, inertia)
    return best


def test_two_clusters_reach_the_brute_force_optimum() -> None:
    points = np.array(
        [[0, 0], [1, 0], [0, 1], [1, 1], [8, 8], [9, 8], [8, 9], [10, 10]], dtype=float
    )
    best = _best_two_partition_inertia(points)  # enumerated over all splits
    for seed in range(10):
        result = kmeans(points, 2, np.random.default_rng(seed))
        inertia = sum(
            float(((points[result.labels == c] - result.centers[c]) ** 2).sum()) for c in range(2)
        )
        assert inertia == pytest.approx(best)
    # by hand: the unit square 4 x 0.5; the other four about (8.75, 8.75): 2 x 2.75
    assert best == pytest.approx(2.0 + 5.5)


def test_kmeans_plus_plus_draws_by_squared_distance() -> None:
    # points 0, 1, 3; after a first centre at 0 the squared distances are 0, 1, 9:
    # the second centre is 3 with probability 9/10
    points = np.array([[0.0], [1.0], [3.0]])
    firsts, thirds = 0, 0
    for seed in range(3000):
        chosen = kmeans_plus_plus(points, 2, np.random.default_rng(seed)).tolist()
        if chosen[0] == 0:
            firsts += 1
            thirds += chosen[1] == 2
    assert abs(firsts / 3000 - 1 / 3) < 4 * np.sqrt((1 / 3) * (2 / 3) / 3000)
    assert abs(thirds / firsts - 0.9) < 4 * np.sqrt(0.9 * 0.1 / firsts)


def test_every_cluster_is_non_empty_and_numbered_by_first_member() -> None:
    points = np.array([[5.0, 5.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [9.0, 9.0]])
    for seed in range(10):
        labels = kmeans(points, 3, np.random.default_rng(seed)).labels
        assert sorted(set(labels.tolist())) == [0, 1, 2]
        assert labels[0] == 0  # the cluster holding point 0 is cluster 0
        first_seen = [labels.tolist().index(c) for c in range(3)]
        assert first_seen == sorted(first_seen)


def test_same_seed_same_clusters() -> None:
    points = np.random.default_rng(1).normal(size=(200, 4))
    a = kmeans(points, 5, np.random.default_rng(7))
    b = kmeans(points, 5, np.random.default_rng(7))
    assert a.labels.tolist() == b.labels.tolist()
    with pytest.raises(ValueError, match="k must be"):
        kmeans(points, 0, np.random.default_rng(0))


def test_identical_points_still_fill_every_cluster() -> None:
    result = kmeans(np.zeros((3, 2)), 3, np.random.default_rng(0))
    assert sorted(result.labels.tolist()) == [0, 1, 2]
    assert np.isfinite(result.centers).all()
