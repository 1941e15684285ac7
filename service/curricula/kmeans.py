"""Seeded k-means (k-means++ initialisation, then Lloyd's iterations), pure numpy.

Used to form automatic arms from problem embeddings (:mod:`service.curricula.auto_arms`).
k-means++ (Arthur and Vassilvitskii 2007): the first centre is a uniformly drawn point,
each further centre a point drawn with probability proportional to its squared distance
to the nearest centre chosen so far. Lloyd's iterations then alternate "each point to its
nearest centre" (ties to the lower centre number) and "each centre to the mean of its
points" until no assignment changes. A centre left without points moves to the point
farthest from its own centre, so every cluster ends non-empty. Clusters are finally
renumbered by their smallest point index, so cluster 0 is the one holding point 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clustering:
    """``labels[i]``: cluster of point i; ``centers[c]``: mean of cluster c; ``iterations`` run."""

    labels: np.ndarray
    centers: np.ndarray
    iterations: int


def squared_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``(n, k)`` squared Euclidean distances, never negative."""
    d = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centers.T
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    return np.maximum(d, 0.0)


def kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the k points chosen as initial centres (k-means++ seeding)."""
    n = len(points)
    chosen = [int(rng.integers(n))]
    nearest = squared_distances(points, points[chosen])[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        if total > 0:
            pick = int(rng.choice(n, p=nearest / total))
        else:  # every point sits on a centre already: any unchosen point will do
            free = np.setdiff1d(np.arange(n), chosen)
            pick = int(free[rng.integers(len(free))])
        chosen.append(pick)
        nearest = np.minimum(nearest, squared_distances(points, points[[pick]])[:, 0])
    return np.asarray(chosen, dtype=np.int64)


def kmeans(
    points: np.ndarray, k: int, rng: np.random.Generator, max_iterations: int = 100
) -> Clustering:
    """Cluster ``points`` (shape ``(n, d)``, n >= k >= 1) into k non-empty clusters.

    Raises:
        ValueError: k outside ``[1, n]``.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if not 1 <= k <= n:
        raise ValueError(f"k must be within [1, {n}], got {k}")
    centers = points[kmeans_plus_plus(points, k, rng)].copy()
    labels = np.full(n, -1, dtype=np.int64)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007  (reported below)
        distances = squared_distances(points, centers)
        new_labels = np.argmin(distances, axis=1)
        _fill_empty_clusters(new_labels, distances, k)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, points)
        centers = sums / counts[:, None]
    return _renumbered(labels, centers, k, iterations)


def _fill_empty_clusters(labels: np.ndarray, distances: np.ndarray, k: int) -> None:
    """Give each empty cluster the point farthest from its centre, among clusters of two or
    more points (there is one while a cluster is empty, since n >= k)."""
    counts = np.bincount(labels, minlength=k)
    own = distances[np.arange(len(labels)), labels]
    for empty in np.flatnonzero(counts == 0).tolist():
        movable = np.where(counts[labels] > 1, own, -np.inf)
        far = int(np.argmax(movable))
        counts[labels[far]] -= 1
        labels[far] = empty
        counts[empty] = 1


def _renumbered(labels: np.ndarray, centers: np.ndarray, k: int, iterations: int) -> Clustering:
    first = np.full(k, len(labels))
    np.minimum.at(first, labels, np.arange(len(labels)))
    order = np.argsort(first, kind="stable")  # old cluster numbers, by smallest member
    new_number = np.empty(k, dtype=np.int64)
    new_number[order] = np.arange(k)
    return Clustering(labels=new_number[labels], centers=centers[order], iterations=iterations)
