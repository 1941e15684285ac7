"""Automatic arms at scale: a 1,000,000-problem auto-arms run, sample(256) and a 256-problem report.

The run has automatic arms (buckets 0.2/0.5/0.8 plus ``unseen``) and frontier selection
(candidates 4); before timing, ``--seen`` problems (default 400,000, a random subset)
get stored outcome counts and their bucket, as after a long run. Then each iteration
draws ``sample(256)`` and reports the 256 problems x 8 rewards through the domain layer
(the service's own code path, without HTTP), on SQLite and on PostgreSQL when reachable.
Prints a table, writes JSON (default benchmarks/results/bench_auto_arms.json).
Goal: each call under 20 ms.

    python benchmarks/bench_auto_arms.py [--iterations 100] [--seen 400000] [--no-postgres]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, update

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import sample_report_main, time_sample_report
from service.api.app import create_app
from service.curricula.auto_arms import AutoArmOptions, draw_keys, member_arms
from service.db.models import Arm, ProblemStat
from service.domain import runs as domain
from service.schemas import CreateRunRequest
from service.settings import Settings

POOL = 1_000_000
BUCKETS = (0.2, 0.5, 0.8)


def bench(database_url: str, iterations: int, seen: int) -> dict[str, Any]:
    settings = Settings(database_url=database_url, rate_limit_per_minute=0)
    db = create_app(settings).state.db
    request = {
        "name": "million-auto",
        "seed": 1,
        "auto_arms": {"size": POOL, "buckets": list(BUCKETS)},
        "problems": {"selection": "frontier", "candidates": 4, "discount": 0.999},
    }
    run = domain.create_run(db, CreateRunRequest.model_validate(request), settings)
    rng = np.random.default_rng(0)
    print(f"  storing outcomes of {seen} problems ...", flush=True)
    members = _store_seen(db, run.run_id, seen, rng)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:  # what autovacuum would do soon after a bulk load
            conn.exec_driver_sql("ANALYZE problem_stats")
            conn.commit()
    print(f"  members per arm: {members}", flush=True)
    timings = time_sample_report(db, run.run_id, settings, iterations, rng, rewards=(0.0, 1.0))
    final = [a.members for a in domain.get_run(db, run.run_id).arms]
    db.dispose()
    return {
        **timings,
        "members_before": members,
        "members_after": final,
    }


def _store_seen(db: Any, run_id: str, seen: int, rng: np.random.Generator) -> list[int]:
    """Rows for ``seen`` random problems with 8 rollouts each, in their bucket's arm."""
    options = AutoArmOptions(size=POOL, buckets=BUCKETS)
    indices = np.sort(rng.choice(POOL, size=seen, replace=False))
    solved = rng.integers(0, 9, seen).astype(np.float64)
    arms = member_arms(options, np.zeros(seen, dtype=np.int64), solved, 8.0 - solved)
    keys = draw_keys(1, indices, POOL)
    with db.transaction(write=True) as session:
        for start in range(0, seen, 50_000):
            part = slice(start, start + 50_000)
            session.execute(
                insert(ProblemStat),
                [
                    {
                        "run_id": run_id,
                        "arm": 0,
                        "idx": i,
                        "solved": s,
                        "failed": 8.0 - s,
                        "last_step": 0,
                        "member_of": a,
                        "draw_key": k,
                    }
                    for i, s, a, k in zip(
                        indices[part].tolist(),
                        solved[part].tolist(),
                        arms[part].tolist(),
                        keys[part].tolist(),
                        strict=True,
                    )
                ],
            )
        counts = np.bincount(arms, minlength=options.arm_count)
        counts[0] = POOL - seen
        for position, count in enumerate(counts.tolist()):
            session.execute(
                update(Arm)
                .where(Arm.run_id == run_id, Arm.position == position)
                .values(members=count)
            )
    return [int(c) for c in counts]


def main() -> int:
    return sample_report_main(
        __doc__ or "",
        bench,
        "benchmarks/results/bench_auto_arms.json",
        "1,000,000-problem auto-arms run, {seen} with stored outcomes, frontier",
        POOL,
    )


if __name__ == "__main__":
    sys.exit(main())
