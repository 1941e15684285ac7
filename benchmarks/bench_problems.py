"""Per-problem state at scale: a run of 1,000,000 problems, sample(256) and a 256-problem report.

The run has 4 arms of 250,000 problems with frontier selection (candidates 4); before
timing, ``--seen`` problems (default 400,000) get stored outcome counts, as after a long
run. Then each iteration draws ``sample(256)`` and reports 256 problems x 8 rewards
through the domain layer (the service's own code path, without HTTP), on SQLite (the
embedded default) and on PostgreSQL when reachable. Prints a table, writes JSON
(default benchmarks/results/bench_problems.json). Goal: each call under 20 ms.

    python benchmarks/bench_problems.py [--iterations 100] [--seen 400000] [--no-postgres]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import sample_report_main, time_sample_report
from service.api.app import create_app
from service.db.models import ProblemStat
from service.domain import runs as domain
from service.schemas import CreateRunRequest
from service.settings import Settings

ARMS, PER_ARM = 4, 250_000


def bench(database_url: str, iterations: int, seen: int) -> dict[str, Any]:
    settings = Settings(database_url=database_url, rate_limit_per_minute=0)
    db = create_app(settings).state.db
    run = domain.create_run(
        db,
        CreateRunRequest.model_validate(
            {
                "name": "million",
                "seed": 1,
                "arms": [{"name": f"level-{k}", "size": PER_ARM} for k in range(ARMS)],
                "problems": {"selection": "frontier", "candidates": 4, "discount": 0.999},
            }
        ),
        settings,
    )
    rng = np.random.default_rng(0)
    print(f"  storing outcomes of {seen} problems ...", flush=True)
    with db.transaction(write=True) as session:
        for start in range(0, seen, 50_000):
            n = min(50_000, seen - start)
            session.execute(insert(ProblemStat), _rows(run.run_id, start, n, rng))
    if db.engine.dialect.name == "postgresql":
        # what autovacuum would do soon after a bulk load: give the planner row counts
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE problem_stats")
            conn.commit()
    timings = time_sample_report(db, run.run_id, settings, iterations, rng)
    db.dispose()
    return timings


def _rows(run_id: str, start: int, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    # distinct (arm, idx) pairs: problem number p -> arm p % ARMS, idx p // ARMS
    numbers = np.arange(start, start + n)
    solved = rng.integers(0, 9, n)
    return [
        {
            "run_id": run_id,
            "arm": int(p % ARMS),
            "idx": int(p // ARMS),
            "solved": float(s),
            "failed": float(8 - s),
            "last_step": 0,
        }
        for p, s in zip(numbers, solved, strict=True)
    ]


def main() -> int:
    return sample_report_main(
        __doc__ or "",
        bench,
        "benchmarks/results/bench_problems.json",
        f"1,000,000 problems ({ARMS} arms), {{seen}} with stored outcomes, frontier selection",
        ARMS * PER_ARM,
    )


if __name__ == "__main__":
    sys.exit(main())
