"""Automatic arms: categories formed from the problems' online pass rates (and clusters).

When the data has no category labels, a run can be created with ``auto_arms`` instead of
``arms``. The pool of ``size`` problems is split by the posterior-mean pass rate
``(1 + s) / (2 + s + f)`` of each problem (its discounted solved/failed rollouts, see
:mod:`service.curricula.problems`) at the bucket edges ``buckets``: a problem belongs to
``pass<e0``, ``pass e0-e1``, ..., ``pass>=e_last``, or to ``unseen`` while no rollout of
it was reported. Its bucket is recomputed whenever a report touches it, so the arms are
re-formed as the model improves. With problem embeddings, k-means clusters split the pool
first and every cluster gets its own set of buckets (arm = cluster x pass-rate bucket).

Arm positions: cluster ``c`` owns positions ``c * B .. c * B + B - 1`` with
``B = len(buckets) + 2``; its ``unseen`` arm comes first, then the buckets from easy to
hard (highest pass rate first), the order ``ordered`` and ``threshold`` expect of given
arms. Everything here is pure numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.curricula.base import ArmInfo, StrategyError
from service.curricula.kmeans import kmeans
from service.curricula.permutation import draw_indices

DEFAULT_BUCKETS = (0.2, 0.5, 0.8)
MAX_BUCKETS = 16
MAX_CLUSTERS = 64
MAX_EMBEDDINGS = 100_000
"""Most embedding vectors (problems) a clustered run may have."""
MAX_EMBEDDING_NUMBERS = 2_000_000
"""Most numbers in all embeddings together (vectors x dimensions), about 20 MB of JSON."""
MAX_POOL = 2**40
"""Largest pool without embeddings (draw keys stay exact in 64-bit arithmetic)."""
UNSEEN = "unseen"
_KEY_STREAM = 2**31 - 1  # Feistel stream of the draw keys: no arm has this position


@dataclass(frozen=True)
class AutoArmOptions:
    """A run's automatic arms: pool size, pass-rate bucket edges, number of clusters."""

    size: int
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    clusters: int = 1

    @property
    def per_cluster(self) -> int:
        """Arms of one cluster: ``unseen`` plus one per pass-rate bucket."""
        return len(self.buckets) + 2

    @property
    def arm_count(self) -> int:
        return self.clusters * self.per_cluster

    def unseen_arm(self, cluster: int) -> int:
        return cluster * self.per_cluster

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "buckets": list(self.buckets), "clusters": self.clusters}


def options_from_dict(stored: Mapping[str, Any]) -> AutoArmOptions:
    """The options as stored with a run (see :meth:`AutoArmOptions.to_dict`)."""
    return AutoArmOptions(
        size=int(stored["size"]),
        buckets=tuple(float(b) for b in stored["buckets"]),
        clusters=int(stored["clusters"]),
    )


def parse_auto_arms(
    spec: Mapping[str, Any],
) -> tuple[AutoArmOptions, np.ndarray | None]:
    """Validate an ``auto_arms`` request: the options and the embeddings (if any).

    Raises:
        StrategyError: a missing or inconsistent option, a value out of range.
    """
    buckets = spec.get("buckets")
    edges = DEFAULT_BUCKETS if buckets is None else tuple(float(b) for b in buckets)
    if not 1 <= len(edges) <= MAX_BUCKETS:
        raise StrategyError(f"auto_arms: buckets needs 1 to {MAX_BUCKETS} pass-rate edges")
    if any(not 0.0 < e < 1.0 for e in edges) or any(
        b <= a for a, b in zip(edges, edges[1:], strict=False)
    ):
        raise StrategyError(
            f"auto_arms: buckets must be strictly increasing pass rates in (0, 1), got {list(edges)}"
        )
    clusters, embeddings = spec.get("clusters"), spec.get("embeddings")
    size = spec.get("size")
    if (clusters is None) != (embeddings is None):
        raise StrategyError(
            "auto_arms: 'clusters' and 'embeddings' go together (k clusters of one vector per problem)"
        )
    if embeddings is None:
        if size is None:
            raise StrategyError("auto_arms: give 'size', the number of problems in the pool")
        if not 1 <= int(size) <= MAX_POOL:
            raise StrategyError(f"auto_arms: size must be within [1, {MAX_POOL}]")
        return AutoArmOptions(size=int(size), buckets=edges), None
    vectors = _embedding_matrix(embeddings)
    if size is not None and int(size) != len(vectors):
        raise StrategyError(
            f"auto_arms: size {size} differs from the {len(vectors)} embeddings (one per problem)"
        )
    k = int(clusters)  # type: ignore[arg-type]
    if not 1 <= k <= min(MAX_CLUSTERS, len(vectors)):
        raise StrategyError(
            f"auto_arms: clusters must be within [1, {min(MAX_CLUSTERS, len(vectors))}] "
            f"(at most {MAX_CLUSTERS}, and not more than the problems)"
        )
    return AutoArmOptions(size=len(vectors), buckets=edges, clusters=k), vectors


def _embedding_matrix(embeddings: Any) -> np.ndarray:
    n = len(embeddings)
    if not 1 <= n <= MAX_EMBEDDINGS:
        raise StrategyError(f"auto_arms: embeddings must hold 1 to {MAX_EMBEDDINGS} vectors")
    dims = {len(v) for v in embeddings}
    if len(dims) != 1 or 0 in dims:
        raise StrategyError(
            f"auto_arms: every embedding needs the same, non-zero number of dimensions; "
            f"got lengths {sorted(dims)[:5]}"
        )
    if n * dims.pop() > MAX_EMBEDDING_NUMBERS:
        raise StrategyError(
            f"auto_arms: embeddings may hold at most {MAX_EMBEDDING_NUMBERS} numbers "
            "(vectors x dimensions)"
        )
    matrix = np.asarray(embeddings, dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise StrategyError("auto_arms: embeddings must be finite numbers")
    return matrix


def cluster_problems(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster of every problem: seeded k-means (same seed and vectors, same clusters)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4B4D]))
    # one common scale changes no assignment, and keeps squared distances finite
    scale = float(np.abs(vectors).max())
    return kmeans(vectors / scale if scale > 0 else vectors, k, rng).labels


def _edge(value: float) -> str:
    return f"{value:g}"


def arm_infos(options: AutoArmOptions) -> list[ArmInfo]:
    """The arms in position order, with names and tags.

    Tags: ``auto`` (``"unseen"`` or ``"pass_rate"``), ``cluster``, ``pass_low``/``pass_high``
    (the bucket's range) and ``difficulty`` = 1 - the range's middle (0.5 for ``unseen``,
    the prior mean), so strategies that order arms by difficulty (adarft, threshold) work.
    """
    edges = (0.0, *options.buckets, 1.0)
    infos: list[ArmInfo] = []
    for cluster in range(options.clusters):
        prefix = f"c{cluster} " if options.clusters > 1 else ""
        tags: dict[str, Any] = {"auto": "unseen", "cluster": cluster, "difficulty": 0.5}
        infos.append(ArmInfo(name=prefix + UNSEEN, size=options.size, tags=tags))
        ranges = list(enumerate(zip(edges, edges[1:], strict=False)))
        for b, (low, high) in reversed(ranges):
            if b == 0:
                label = f"pass<{_edge(high)}"
            elif b == len(edges) - 2:
                label = f"pass>={_edge(low)}"
            else:
                label = f"pass {_edge(low)}-{_edge(high)}"
            tags = {
                "auto": "pass_rate",
                "cluster": cluster,
                "pass_low": low,
                "pass_high": high,
                "difficulty": round(1.0 - (low + high) / 2.0, 12),
            }
            infos.append(ArmInfo(name=prefix + label, size=options.size, tags=tags))
    return infos


def posterior_mean(solved: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Mean of the pass-rate posterior Beta(1 + s, 1 + f)."""
    return (1.0 + np.asarray(solved, dtype=np.float64)) / (2.0 + solved + failed)


def member_arms(
    options: AutoArmOptions, clusters: np.ndarray, solved: np.ndarray, failed: np.ndarray
) -> np.ndarray:
    """The arm of each problem with evidence: its cluster's bucket of the posterior mean.

    A mean equal to an edge belongs to the bucket above it. Buckets follow ``unseen`` from
    the highest pass rate down.
    """
    bucket = np.searchsorted(
        np.asarray(options.buckets), posterior_mean(solved, failed), side="right"
    )
    from_top = len(options.buckets) - bucket
    return np.asarray(clusters, dtype=np.int64) * options.per_cluster + 1 + from_top


def draw_keys(seed: int, indices: np.ndarray, size: int) -> np.ndarray:
    """A stable pseudo-random key in ``[0, size)`` per problem, distinct across the pool.

    The position of each problem under a Feistel permutation of the pool (a bijection): a
    bucket's members are drawn in key order, so a draw is an index range scan.
    """
    indices = np.asarray(indices, dtype=np.int64)
    n = len(indices)
    return draw_indices(seed, np.full(n, _KEY_STREAM), np.full(n, size), indices)


def restrict_to_members(probabilities: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The strategy's probabilities restricted to arms that have members, renormalised.

    Empty arms get 0. When the strategy put all its mass on empty arms, the draw is
    uniform over the non-empty ones (there is always one: every problem is in some arm).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    available = np.asarray(members) > 0
    kept = np.where(available, p, 0.0)
    total = kept.sum()
    if total > 0:
        return kept / total
    return available / available.sum()
