"""One training step's service overhead, and the strategy math alone.

Measures, side by side in one run:
  * ``sample`` of 256 + ``report`` of 256 problems x 8 rewards over HTTP against a real
    ``zpd serve`` (uvicorn, one worker) on the embedded default (SQLite, synchronous=FULL),
    SQLite with synchronous=NORMAL, and PostgreSQL when reachable;
  * the pure strategy math in-process: 256 draws + one report's update, 100 arms.

Prints a table and writes JSON (default benchmarks/results/bench_step.json).

    python benchmarks/bench_step.py [--steps 200] [--json PATH] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, percentiles, postgres_database, write_json  # noqa: E402
from service.curricula import (
    ArmInfo,
    arm_feedback,
    build_strategy,
    draw_batch,
    problem_signals,
    sample_rng,
)
from trainer_client.local import local_service  # noqa: E402


def bench_math(iterations: int) -> dict[str, float]:
    arms = [ArmInfo(name=f"arm{i}", size=1000, tags={}) for i in range(100)]
    sec = build_strategy("sec", {"alpha": 0.5, "tau": 0.5}, arms)
    state = sec.initial_state(arms)
    rng = np.random.default_rng(0)
    drawn = [0] * 100
    times = []
    for k in range(iterations):
        rewards = rng.choice([0.0, 0.1, 1.0], size=(256, 8)).tolist()
        started = time.perf_counter()
        p = sec.probabilities(state, k)
        batch = draw_batch(p, 256, sample_rng(1, k), seed=1, sizes=[1000] * 100, drawn_before=drawn)
        signal, outcome = problem_signals(rewards, [None] * 256, sec.advantage_std)
        state = sec.update(state, arm_feedback(100, batch.arms, signal, outcome), k)
        times.append((time.perf_counter() - started) * 1000)
        drawn = [d + int(c) for d, c in zip(drawn, batch.counts, strict=True)]
    return percentiles(times[10:])


def bench_http(database_url: str, steps: int, synchronous: str | None) -> dict[str, Any]:
    env = {"ZPD_SQLITE_SYNCHRONOUS": synchronous} if synchronous else {}
    with local_service(database_url, env) as url, httpx.Client(base_url=url, timeout=30) as http:
        arms = [{"name": f"level-{i}", "size": 5000} for i in range(10)]
        rid = http.post(
            "/v1/runs",
            json={
                "name": "bench",
                "arms": arms,
                "seed": 0,
                "strategy": {"name": "sec", "tau": 0.5},
            },
        ).json()["run_id"]
        rng = random.Random(0)
        sample_ms, report_ms, step_ms = [], [], []
        for k in range(steps + 10):
            t0 = time.perf_counter()
            sample = http.post(f"/v1/runs/{rid}/sample", json={"batch_size": 256})
            t1 = time.perf_counter()
            sample.raise_for_status()
            results = [
                {**item, "rewards": [rng.choice((0.0, 0.1, 1.0)) for _ in range(8)]}
                for item in sample.json()["items"]
            ]
            body = {
                "report_id": f"r{k}",
                "sample_id": sample.json()["sample_id"],
                "results": results,
            }
            t2 = time.perf_counter()
            http.post(f"/v1/runs/{rid}/report", json=body).raise_for_status()
            t3 = time.perf_counter()
            if k >= 10:  # warm-up excluded
                sample_ms.append((t1 - t0) * 1000)
                report_ms.append((t3 - t2) * 1000)
                step_ms.append((t1 - t0 + t3 - t2) * 1000)
        return {
            "step": percentiles(step_ms),
            "sample": percentiles(sample_ms),
            "report": percentiles(report_ms),
        }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--math-iterations", type=int, default=2000)
    parser.add_argument("--json", default="benchmarks/results/bench_step.json")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    rows: dict[str, Any] = {}
    print(
        f"strategy math, 100 arms, 256 draws + 1 update, {args.math_iterations} iterations ...",
        flush=True,
    )
    rows["math (in-process)"] = {"step": bench_math(args.math_iterations)}
    with tempfile.TemporaryDirectory() as folder:
        for label, sync in [("sqlite FULL (default)", "FULL"), ("sqlite NORMAL", "NORMAL")]:
            print(f"HTTP step on {label}, {args.steps} steps ...", flush=True)
            url = f"sqlite:///{Path(folder) / (sync + '.db')}"
            rows[f"http {label}"] = bench_http(url, args.steps, sync)
    if not args.no_postgres:
        with postgres_database(f"zpd_bench_{os.getpid()}") as pg:
            if pg:
                print(f"HTTP step on postgresql, {args.steps} steps ...", flush=True)
                rows["http postgresql"] = bench_http(pg, args.steps, None)

    print()
    print(f"{'setting':<28}{'step median':>13}{'step p99':>10}{'sample med':>12}{'report med':>12}")
    for label, row in rows.items():
        s = row["step"]
        sample = f"{row['sample']['median_ms']:.2f}" if "sample" in row else "-"
        report = f"{row['report']['median_ms']:.2f}" if "report" in row else "-"
        print(
            f"{label:<28}{s['median_ms']:>11.2f}ms{s['p99_ms']:>8.2f}ms{sample:>10}ms{report:>10}ms"
        )
    write_json(args.json, {"machine": machine(), "steps": args.steps, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
