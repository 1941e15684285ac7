"""Per-problem state in storage: pick problems by their pass-rate posterior, record outcomes.

The math is in :mod:`service.curricula.problems`; this module fetches and writes the
``problem_stats`` rows of the candidates and of the reported problems only, so a run with
a million problems costs what its batches touch, not what it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

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


def _stats(
    session: Session, run: Run, arm: int, indices: np.ndarray, step: int, discount: float
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted (solved, failed) of ``indices`` of one arm; zeros for unseen problems."""
    rows = session.execute(
        select(ProblemStat.idx, ProblemStat.solved, ProblemStat.failed, ProblemStat.last_step)
        .where(ProblemStat.run_id == run.id, ProblemStat.arm == arm)
        .where(ProblemStat.idx.in_(indices.tolist()))
    ).all()
    solved = np.zeros(len(indices))
    failed = np.zeros(len(indices))
    if rows:
        where = {int(i): n for n, i in enumerate(indices.tolist())}
        at = np.array([where[int(r[0])] for r in rows])
        last = np.array([r[3] for r in rows])
        solved[at] = decay(np.array([r[1] for r in rows]), last, step, discount)
        failed[at] = decay(np.array([r[2] for r in rows]), last, step, discount)
    return solved, failed


# the last POOL_WINDOW problems of an arm's shuffled stream: a uniform random sample of the
# arm (the stream is a permutation), recent enough to carry evidence, cheap to read
POOL_WINDOW = 256


def arm_prior(session: Session, run: Run, arm: int, options: ProblemOptions) -> tuple[float, float]:
    """The prior of ``arm``'s problems: Beta(1, 1), or with ``prior: "pooled"`` the
    method-of-moments Beta fitted to the last ``POOL_WINDOW`` problems of its stream."""
    size = run.arms[arm].size
    if options.prior != "pooled" or not size:
        return 1.0, 1.0
    cursor = run.arms[arm].cursor
    positions = np.arange(max(0, cursor - POOL_WINDOW), cursor, dtype=np.int64)
    if len(positions) == 0:
        return 1.0, 1.0
    indices = np.unique(
        draw_indices(
            run.seed, np.full(len(positions), arm), np.full(len(positions), size), positions
        )
    )
    solved, failed = _stats(session, run, arm, indices, run.step, options.discount)
    return pooled_prior(solved, failed, options.prior_strength)


def evidence_of(
    session: Session, run: Run, slot_arms: np.ndarray, indices: np.ndarray, options: ProblemOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted (solved, failed) of each slot's problem (zeros for an unseen one)."""
    solved = np.zeros(len(indices))
    failed = np.zeros(len(indices))
    for arm in np.unique(slot_arms).tolist():
        here = (slot_arms == arm) & (indices >= 0)
        if here.any():
            # a small arm may hand one problem out twice in a batch
            unique, back = np.unique(indices[here], return_inverse=True)
            s, f = _stats(session, run, int(arm), unique, run.step, options.discount)
            solved[here], failed[here] = s[back], f[back]
    return solved, failed


def pick_problems(
    session: Session,
    run: Run,
    slot_arms: np.ndarray,
    rng: np.random.Generator,
    options: ProblemOptions,
    demonstrations: bool,
    priors: Mapping[int, tuple[float, float]] | None = None,
    evidence: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Problem index per slot, and how far each arm's stream advanced (``evidence``, if
    given, shape (slots, 2), receives each chosen problem's discounted solved/failed).

    For each sized arm with k slots, the next ``candidates * k`` problems of its shuffled
    stream are the candidates; the chosen k fill its slots (in slot order), the rest come
    round again in the arm's next epoch.
    """
    n = len(run.arms)
    indices = np.full(len(slot_arms), -1, dtype=np.int64)
    consumed = np.bincount(slot_arms, minlength=n)
    for arm in np.flatnonzero(consumed):
        size = run.arms[arm].size
        if size is None:
            continue
        k = int(consumed[arm])
        m = min(size, options.candidates * k) if k <= size else k
        positions = run.arms[arm].cursor + np.arange(max(m, k), dtype=np.int64)
        every = np.full(len(positions), arm)
        candidates = draw_indices(run.seed, every, np.full(len(positions), size), positions)
        # a pool that crosses into the arm's next epoch may hold a problem twice
        first = np.sort(np.unique(candidates, return_index=True)[1])
        if len(first) >= k:
            candidates = candidates[first]
        solved, failed = _stats(session, run, int(arm), candidates, run.step, options.discount)
        if demonstrations:
            chosen = choose_failures(solved, failed, k, rng)
        else:
            prior = (priors or {}).get(int(arm), (1.0, 1.0))
            chosen = choose_frontier(solved, failed, k, rng, options, prior)
        indices[slot_arms == arm] = candidates[chosen]
        if evidence is not None:
            evidence[slot_arms == arm] = np.stack([solved[chosen], failed[chosen]], axis=1)
        consumed[arm] = len(positions)
    return indices, consumed


def record_outcomes(
    session: Session,
    run: Run,
    positions: Mapping[str, int],
    results: Sequence[Mapping[str, Any]],
    options: ProblemOptions,
) -> None:
    """Fold the report's per-problem rollouts into ``problem_stats`` (at the run's step)."""
    fresh: dict[tuple[int, int], list[float]] = {}
    for result in results:
        if result.get("index") is None or result.get("rewards") is None:
            continue
        key = (positions[result["arm"]], int(result["index"]))
        solved, failed = rollout_outcomes(np.asarray(result["rewards"]), options.success_reward)
        total = fresh.setdefault(key, [0.0, 0.0])
        total[0] += solved
        total[1] += failed
    if not fresh:
        return
    by_arm: dict[int, list[int]] = {}
    for arm, idx in fresh:
        by_arm.setdefault(arm, []).append(idx)
    for arm, idxs in by_arm.items():
        # one IN list per arm walks the primary key; a row-value IN would scan the run
        stored = session.execute(
            select(ProblemStat.idx, ProblemStat.solved, ProblemStat.failed, ProblemStat.last_step)
            .where(ProblemStat.run_id == run.id, ProblemStat.arm == arm)
            .where(ProblemStat.idx.in_(idxs))
        ).all()
        for idx, solved, failed, last in stored:
            kept = decay(
                np.array([solved, failed]), np.array([last, last]), run.step, options.discount
            )
            fresh[(arm, idx)][0] += float(kept[0])
            fresh[(arm, idx)][1] += float(kept[1])
    rows = [
        {"run_id": run.id, "arm": a, "idx": i, "solved": s, "failed": f, "last_step": run.step}
        for (a, i), (s, f) in fresh.items()
    ]
    upsert_stats(session, rows, ("solved", "failed", "last_step"))


def upsert_stats(session: Session, rows: list[dict[str, Any]], updated: Sequence[str]) -> None:
    """Insert ``problem_stats`` rows; on an existing (run, arm, idx) set the ``updated`` columns."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(ProblemStat)
    session.connection().execute(
        insert.on_conflict_do_update(
            index_elements=["run_id", "arm", "idx"],
            set_={column: insert.excluded[column] for column in updated},
        ),
        rows,
    )
