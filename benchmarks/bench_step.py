"""One training step's service overhead, and the strategy math alone.

Measures, side by side in one run:
  * ``sample`` of 256 + ``report`` of 256 problems x 8 rewards over HTTP against a real
    ``zpd serve`` (uvicorn, one worker) on the embedded default (SQLite, synchronous=FULL),
    SQLite with synchronous=NORMAL, and PostgreSQL when reachable: wall time per step and
    per call, and the server process's CPU time (user + system) per call;
  * the pure strategy math in-process: 256 draws + one report's update, 100 arms.

With ``--baseline-ref REF`` every HTTP setting also runs against servers started from a
``git worktree`` of REF (fresh databases of their own), baseline then current for each
setting, with the ratios current/baseline; the worktree is removed at the end.

Prints a table and writes JSON (default benchmarks/results/bench_step.json).

    python benchmarks/bench_step.py [--steps 200] [--json PATH] [--no-postgres]
                                    [--baseline-ref REF]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    Code,
    code_sides,
    machine,
    percentiles,
    postgres_database,
    process_cpu_seconds,
    ratio,
    write_json,
    zpd_server,
)
from service.curricula import (
    ArmInfo,
    arm_feedback,
    build_strategy,
    draw_batch,
    problem_signals,
    sample_rng,
)


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


WARMUP_STEPS = 10


def bench_http(
    database_url: str, steps: int, synchronous: str | None, code: Code
) -> dict[str, Any]:
    """``steps`` timed steps (after ``WARMUP_STEPS``) against a server running ``code``."""
    env = {"ZPD_SQLITE_SYNCHRONOUS": synchronous} if synchronous else {}
    with (
        zpd_server(database_url, code, env) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        print(f"    {code.side} server imports {server.service_file}", flush=True)
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

        def step(k: int) -> tuple[float, float]:
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
            return (t1 - t0) * 1000, (t3 - t2) * 1000

        for k in range(WARMUP_STEPS):
            step(k)
        cpu_before = process_cpu_seconds(server.pid)
        timed = [step(k) for k in range(WARMUP_STEPS, WARMUP_STEPS + steps)]
        cpu_s = process_cpu_seconds(server.pid) - cpu_before
    sample_ms = [s for s, _ in timed]
    report_ms = [r for _, r in timed]
    calls = 2 * steps  # one sample + one report per step
    return {
        "step": percentiles([s + r for s, r in timed]),
        "sample": percentiles(sample_ms),
        "report": percentiles(report_ms),
        "server_cpu": {
            "seconds": cpu_s,
            "calls": calls,
            "ms_per_call": cpu_s * 1000 / calls,
            "ms_per_step": cpu_s * 1000 / steps,
        },
        "code": code.side,
        "service_file": server.service_file,
    }


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """current / baseline of the step's wall-time percentiles and the server CPU per call."""
    return {
        "step_median": ratio(current["step"]["median_ms"], baseline["step"]["median_ms"]),
        "step_p99": ratio(current["step"]["p99_ms"], baseline["step"]["p99_ms"]),
        "sample_median": ratio(current["sample"]["median_ms"], baseline["sample"]["median_ms"]),
        "report_median": ratio(current["report"]["median_ms"], baseline["report"]["median_ms"]),
        "server_cpu_per_call": ratio(
            current["server_cpu"]["ms_per_call"], baseline["server_cpu"]["ms_per_call"]
        ),
    }


def bench_setting(
    rows: dict[str, Any], label: str, urls: dict[str, str], steps: int, sync: str | None,
    sides: list[Code],
) -> None:  # fmt: skip
    """Run the HTTP step on ``urls[side]`` for each side (baseline first), into ``rows``."""
    for code in sides:
        print(f"HTTP step on {label}, {code.side} code, {steps} steps ...", flush=True)
        result = bench_http(urls[code.side], steps, sync, code)
        if code.side == "baseline":
            rows[f"http {label} [baseline]"] = result
        else:
            if "baseline" in urls and f"http {label} [baseline]" in rows:
                result["vs_baseline"] = compare(result, rows[f"http {label} [baseline]"])
            rows[f"http {label}"] = result


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: dict[str, Any]) -> None:
    print()
    print(
        f"{'setting':<40}{'step median':>13}{'step p99':>10}{'sample med':>12}{'report med':>12}"
        f"{'server CPU/call':>17}"
    )
    for label, row in rows.items():
        s = row["step"]
        sample = f"{row['sample']['median_ms']:.2f}" if "sample" in row else "-"
        report = f"{row['report']['median_ms']:.2f}" if "report" in row else "-"
        cpu = f"{row['server_cpu']['ms_per_call']:.2f}" if "server_cpu" in row else "-"
        print(
            f"{label:<40}{s['median_ms']:>11.2f}ms{s['p99_ms']:>8.2f}ms{sample:>10}ms"
            f"{report:>10}ms{cpu:>15}ms"
        )
        if "vs_baseline" in row:
            r = row["vs_baseline"]
            print(
                f"{'  current / baseline':<40}{fmt_ratio(r['step_median']):>13}"
                f"{fmt_ratio(r['step_p99']):>10}{fmt_ratio(r['sample_median']):>12}"
                f"{fmt_ratio(r['report_median']):>12}{fmt_ratio(r['server_cpu_per_call']):>17}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--math-iterations", type=int, default=2000)
    parser.add_argument("--json", default="benchmarks/results/bench_step.json")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--baseline-ref",
        metavar="REF",
        help="also run every HTTP setting on servers from a git worktree of REF (before/after)",
    )
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")

    rows: dict[str, Any] = {}
    print(
        f"strategy math, 100 arms, 256 draws + 1 update, {args.math_iterations} iterations ...",
        flush=True,
    )
    rows["math (in-process)"] = {"step": bench_math(args.math_iterations)}
    with code_sides(args.baseline_ref) as sides, tempfile.TemporaryDirectory() as folder:
        for code in sides:
            print(code.describe())
        for label, sync in [("sqlite FULL (default)", "FULL"), ("sqlite NORMAL", "NORMAL")]:
            urls = {c.side: f"sqlite:///{Path(folder) / f'{c.side}-{sync}.db'}" for c in sides}
            bench_setting(rows, label, urls, args.steps, sync, sides)
        if not args.no_postgres:
            with ExitStack() as stack:
                pg = {
                    c.side: stack.enter_context(
                        postgres_database(f"zpd_bench_{os.getpid()}_{c.side}")
                    )
                    for c in sides
                }
                if all(pg.values()):
                    urls = {side: str(url) for side, url in pg.items()}
                    bench_setting(rows, "postgresql", urls, args.steps, None, sides)
        code_json = {c.side: c.as_json() for c in sides}

    print_table(rows)
    write_json(
        args.json,
        {"machine": machine(), "steps": args.steps, "code": code_json, "results": rows},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
