"""Automatic arms in storage: form them at creation, draw their members, move problems.

The math is in :mod:`service.curricula.auto_arms`. Every problem with a row in
``problem_stats`` (``arm`` 0, ``idx`` = pool index) records the arm it belongs to now
(``member_of``) and a stable random ``draw_key``; an arm's member count lives on its
``arms`` row. Drawing k members of an arm is an index range scan from the arm's cursor
over ``(run_id, member_of, draw_key)``, wrapping around at the end, so the cost is that
of the batch, not of the pool.

Without embeddings, problems get a row only when first handed out or reported: the
``unseen`` arm first walks the pool's shuffled stream (draw number j of arm ``unseen``,
see :mod:`service.curricula.permutation`), skipping problems that already have a row,
and gives each problem it hands out a row (still ``unseen``, no evidence). Once that
stream is through the pool, ``unseen`` is a range scan like the others. An arm's
``cursor`` below the pool size is a stream position; from the pool size on, the next
draw key is ``cursor - size``. With embeddings every problem gets its row at creation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.curricula.auto_arms import AutoArmOptions, draw_keys, member_arms
from service.curricula.permutation import draw_indices
from service.curricula.predictions import pooled_prior
from service.curricula.problems import (
    ProblemOptions,
    choose_failures,
    choose_frontier,
    decay,
    rollout_outcomes,
)
from service.db.models import ProblemStat, Run
from service.domain.problems import upsert_stats

_POOL_ARM = 0  # problem_stats.arm of every problem of an auto-arms run
_MAX_IN = 16_384  # largest IN list per query (SQLite allows 32,766 variables)


def initial_members(options: AutoArmOptions, clusters: np.ndarray | None) -> list[int]:
    """Members of each arm before any report: every problem is ``unseen``."""
    members = np.zeros(options.arm_count, dtype=np.int64)
    if clusters is None:
        members[options.unseen_arm(0)] = options.size
    else:
        sizes = np.bincount(clusters, minlength=options.clusters)
        members[[options.unseen_arm(c) for c in range(options.clusters)]] = sizes
    return members.tolist()


def initial_cursor(options: AutoArmOptions, position: int, clustered: bool) -> int:
    """Only the ``unseen`` arm of a run without embeddings starts by walking the stream."""
    return 0 if position == options.unseen_arm(0) and not clustered else options.size


def store_clusters(
    session: Session, run_id: str, seed: int, options: AutoArmOptions, clusters: np.ndarray
) -> None:
    """A row per problem of a clustered run, each in its cluster's ``unseen`` arm."""
    indices = np.arange(options.size, dtype=np.int64)
    keys = draw_keys(seed, indices, options.size)
    arms = clusters.astype(np.int64) * options.per_cluster
    for start in range(0, options.size, 50_000):
        part = slice(start, start + 50_000)
        session.connection().execute(
            insert(ProblemStat),
            [
                {
                    "run_id": run_id,
                    "arm": _POOL_ARM,
                    "idx": i,
                    "solved": 0.0,
                    "failed": 0.0,
                    "last_step": 0,
                    "member_of": a,
                    "draw_key": k,
                }
                for i, a, k in zip(
                    indices[part].tolist(), arms[part].tolist(), keys[part].tolist(), strict=True
                )
            ],
        )


def pick_members(
    session: Session,
    run: Run,
    auto: AutoArmOptions,
    slot_arms: np.ndarray,
    rng: np.random.Generator,
    options: ProblemOptions,
    demonstrations: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Pool index per slot, and how far each arm's cursor moved.

    An arm with k slots reads its next k members (``candidates * k`` under ``frontier``
    selection or for demonstrations, which then choose k as for given arms); an arm with
    fewer members than slots hands some out twice.
    """
    indices = np.full(len(slot_arms), -1, dtype=np.int64)
    counts = np.bincount(slot_arms, minlength=len(run.arms))
    moved = np.zeros(len(run.arms), dtype=np.int64)
    for arm in np.flatnonzero(counts).tolist():
        k = int(counts[arm])
        unseen = arm % auto.per_cluster == 0
        choosy = demonstrations or options.selection == "frontier"
        want = options.candidates * k if choosy and not unseen else k
        start = run.arms[arm].cursor
        walked, cursor = _walk_stream(session, run, auto, arm, start, want)
        fresh, stats = walked, np.zeros((len(walked), 3))
        if len(fresh) < want:
            rows, key = _scan(session, run.id, arm, cursor - auto.size, want - len(fresh))
            cursor = auto.size + key
            table = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(-1, 5)
            stats = np.vstack([stats, table[:, 1:4]])
            fresh = np.concatenate([fresh, table[:, 0].astype(np.int64)])
        if len(walked):  # after the scan, which must not meet them in this same draw
            _give_rows(session, run, auto, arm, walked)
        if len(fresh) == 0:
            raise RuntimeError(f"auto arm {arm} counts members but none was found")
        if len(fresh) <= k or not choosy or unseen:
            chosen = np.resize(fresh, k)
        else:
            solved = decay(stats[:, 0], stats[:, 2], run.step, options.discount)
            failed = decay(stats[:, 1], stats[:, 2], run.step, options.discount)
            pick = (
                choose_failures(solved, failed, k, rng)
                if demonstrations
                else choose_frontier(solved, failed, k, rng, options)
            )
            chosen = fresh[pick]
        indices[slot_arms == arm] = chosen
        moved[arm] = cursor - start
    return indices, moved


def _walk_stream(
    session: Session, run: Run, auto: AutoArmOptions, arm: int, position: int, want: int
) -> tuple[np.ndarray, int]:
    """Up to ``want`` problems without a row, from the pool's stream (rows: :func:`_give_rows`)."""
    taken: list[int] = []
    chunk = max(2 * want, 64)
    while len(taken) < want and position < auto.size:
        positions = np.arange(position, min(auto.size, position + chunk), dtype=np.int64)
        every = np.full(len(positions), arm)
        candidates = draw_indices(run.seed, every, np.full(len(positions), auto.size), positions)
        have = set(
            session.connection().scalars(
                select(ProblemStat.idx).where(
                    ProblemStat.run_id == run.id,
                    ProblemStat.arm == _POOL_ARM,
                    ProblemStat.idx.in_(candidates.tolist()),
                )
            )
        )
        free = np.flatnonzero([c not in have for c in candidates.tolist()])
        use = free[: want - len(taken)]
        taken += candidates[use].tolist()
        done = len(taken) == want
        position = int(positions[use[-1]] + 1) if done else int(positions[-1] + 1)
        chunk = min(2 * chunk, _MAX_IN)
    return np.asarray(taken, dtype=np.int64), position


def _give_rows(
    session: Session, run: Run, auto: AutoArmOptions, arm: int, walked: np.ndarray
) -> None:
    """Rows (no evidence, still in ``arm``) for problems the stream handed out."""
    keys = draw_keys(run.seed, walked, auto.size)
    session.connection().execute(
        insert(ProblemStat),
        [
            {
                "run_id": run.id,
                "arm": _POOL_ARM,
                "idx": i,
                "solved": 0.0,
                "failed": 0.0,
                "last_step": run.step,
                "member_of": arm,
                "draw_key": k,
            }
            for i, k in zip(walked.tolist(), keys.tolist(), strict=True)
        ],
    )


def _scan(
    session: Session, run_id: str, arm: int, key: int, want: int
) -> tuple[Sequence[Any], int]:
    """The next ``want`` members of ``arm`` in draw-key order from ``key``, wrapping once."""
    columns = select(
        ProblemStat.idx,
        ProblemStat.solved,
        ProblemStat.failed,
        ProblemStat.last_step,
        ProblemStat.draw_key,
    ).where(ProblemStat.run_id == run_id, ProblemStat.member_of == arm)
    rows = list(
        session.connection()
        .execute(
            columns.where(ProblemStat.draw_key >= key).order_by(ProblemStat.draw_key).limit(want)
        )
        .all()
    )
    if len(rows) < want:
        rows += (
            session.connection()
            .execute(
                columns.where(ProblemStat.draw_key < key)
                .order_by(ProblemStat.draw_key)
                .limit(want - len(rows))
            )
            .all()
        )
    return rows, (int(rows[-1][4] or 0) + 1 if rows else key)


def record_outcomes(
    session: Session,
    run: Run,
    auto: AutoArmOptions,
    results: Sequence[dict[str, Any]],
    options: ProblemOptions,
) -> None:
    """Fold the report's rollouts into the problems' posteriors and move them between arms.

    A problem's arm is its cluster's bucket of its new posterior mean (at the run's step);
    the member counts of the arms it left and joined change by one.
    """
    fresh: dict[int, list[float]] = {}
    for result in results:
        if result.get("index") is None or result.get("rewards") is None:
            continue
        solved, failed = rollout_outcomes(np.asarray(result["rewards"]), options.success_reward)
        total = fresh.setdefault(int(result["index"]), [0.0, 0.0])
        total[0] += solved
        total[1] += failed
    if not fresh:
        return
    idxs = list(fresh)
    stored = [
        row
        for start in range(0, len(idxs), _MAX_IN)
        for row in session.connection()
        .execute(
            select(
                ProblemStat.idx,
                ProblemStat.solved,
                ProblemStat.failed,
                ProblemStat.last_step,
                ProblemStat.member_of,
            ).where(
                ProblemStat.run_id == run.id,
                ProblemStat.arm == _POOL_ARM,
                ProblemStat.idx.in_(idxs[start : start + _MAX_IN]),
            )
        )
        .all()
    ]
    before = {i: auto.unseen_arm(0) for i in idxs}  # no row yet: unseen, cluster 0
    if stored:
        table = np.array([tuple(row[1:4]) for row in stored], dtype=np.float64)
        kept_solved = decay(table[:, 0], table[:, 2], run.step, options.discount).tolist()
        kept_failed = decay(table[:, 1], table[:, 2], run.step, options.discount).tolist()
        for row, s, f in zip(stored, kept_solved, kept_failed, strict=True):
            fresh[row[0]][0] += s
            fresh[row[0]][1] += f
            before[row[0]] = int(row[4] or 0)
    old = np.array([before[i] for i in idxs], dtype=np.int64)
    counts = np.array([fresh[i] for i in idxs])
    new = member_arms(auto, old // auto.per_cluster, counts[:, 0], counts[:, 1])
    delta = np.bincount(new, minlength=auto.arm_count) - np.bincount(old, minlength=auto.arm_count)
    for arm in np.flatnonzero(delta).tolist():
        run.arms[arm].members = int(run.arms[arm].members or 0) + int(delta[arm])
    keys = draw_keys(run.seed, np.asarray(idxs, dtype=np.int64), auto.size)
    rows = [
        {
            "run_id": run.id,
            "arm": _POOL_ARM,
            "idx": i,
            "solved": float(c[0]),
            "failed": float(c[1]),
            "last_step": run.step,
            "member_of": int(m),
            "draw_key": int(k),
        }
        for i, c, m, k in zip(idxs, counts, new.tolist(), keys.tolist(), strict=True)
    ]
    upsert_stats(session, rows, ("solved", "failed", "last_step", "member_of"))


# problems read per pass-rate bucket of a cluster to fit its pooled prior
POOL_PER_BUCKET = 64


def cluster_prior(
    session: Session, run: Run, auto: AutoArmOptions, cluster: int, options: ProblemOptions
) -> tuple[float, float]:
    """The pooled prior of a cluster's problems (``prior: "pooled"``): the method-of-moments
    Beta of the pass rates of the problems near them in embedding space, the cluster's
    problems with evidence.

    Those sit in the cluster's pass-rate buckets; up to ``POOL_PER_BUCKET`` are read from
    each bucket (the first by draw key, a random order fixed per problem: a uniform sample
    of the bucket), and
    each counts for the share of its bucket's members it stands for. A run without
    embeddings has one cluster: the prior is pooled over every problem with evidence.
    """
    first = auto.unseen_arm(cluster) + 1
    solved: list[float] = []
    failed: list[float] = []
    weights: list[float] = []
    for arm in range(first, first + len(auto.buckets) + 1):
        members = run.arms[arm].members or 0
        if not members:
            continue
        rows = session.execute(
            select(ProblemStat.solved, ProblemStat.failed, ProblemStat.last_step)
            .where(
                ProblemStat.run_id == run.id,
                ProblemStat.member_of == arm,
            )
            .order_by(ProblemStat.draw_key)
            .limit(POOL_PER_BUCKET)
        ).all()
        if not rows:
            continue
        last = np.array([r[2] for r in rows])
        solved.extend(decay(np.array([r[0] for r in rows]), last, run.step, options.discount))
        failed.extend(decay(np.array([r[1] for r in rows]), last, run.step, options.discount))
        weights.extend([members / len(rows)] * len(rows))
    return pooled_prior(
        np.array(solved), np.array(failed), options.prior_strength, weights=np.array(weights)
    )
