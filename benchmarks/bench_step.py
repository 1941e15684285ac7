"""One training step's service overhead, and the strategy math alone.

Measures, side by side in one run:
  * a step of 256 problems x 8 rewards over HTTP against a real ``zpd serve`` (uvicorn, one
    worker) on the embedded default (SQLite, synchronous=FULL), SQLite with
    synchronous=NORMAL, and PostgreSQL when reachable, in two ways on the same server, a
    run of its own each:
      - two calls ("http <setting>"): ``sample`` of 256 + ``report`` of that draw; wall
        time per step and per call, and the server process's CPU time (user + system) per
        call (two per step) and per step;
      - one call ("http <setting> one-call"): one ``POST /step`` carrying the report of the
        previous step's draw and the request for the next 256; wall time per step and the
        server's CPU time per step, which is also its CPU time per call;
  * the pure strategy math in-process: 256 draws + one report's update, 100 arms.

With ``--baseline-ref REF`` every HTTP setting also runs against servers started from a
``git worktree`` of REF (fresh databases of their own), baseline then current for each
setting, with the ratios current/baseline; a baseline without ``POST /v1/runs/{run_id}/step``
(absent from its /openapi.json) gets a ``skipped`` one-call row. The worktree is removed at
the end.

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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    STEP_ROUTE,
    Code,
    code_sides,
    machine,
    percentiles,
    postgres_database,
    process_cpu_seconds,
    ratio,
    report_body,  # noqa: E402
    serves_route,
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
ARMS = [{"name": f"level-{i}", "size": 5000} for i in range(10)]
T = TypeVar("T")


def create_run(http: httpx.Client, name: str) -> str:
    body = {"name": name, "arms": ARMS, "seed": 0, "strategy": {"name": "sec", "tau": 0.5}}
    response = http.post("/v1/runs", json=body)
    response.raise_for_status()
    return str(response.json()["run_id"])


def two_call_step(http: httpx.Client) -> Callable[[int], tuple[float, float]]:
    """Step ``k``: ``/sample`` of 256 then ``/report`` of it; returns both calls' ms."""
    rid = create_run(http, "bench")
    rng = random.Random(0)

    def step(k: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        sample = http.post(f"/v1/runs/{rid}/sample", json={"batch_size": 256})
        t1 = time.perf_counter()
        sample.raise_for_status()
        body = report_body(sample.json(), rng, f"r{k}")
        t2 = time.perf_counter()
        http.post(f"/v1/runs/{rid}/report", json=body).raise_for_status()
        t3 = time.perf_counter()
        return (t1 - t0) * 1000, (t3 - t2) * 1000

    return step


def one_call_step(http: httpx.Client) -> Callable[[int], float]:
    """Step ``k``: one ``/step`` reporting the previous step's draw (none on the first) and
    drawing the next 256; returns its ms. The rewards are drawn before the clock starts,
    as the two-call step draws them between its calls."""
    rid = create_run(http, "bench-one-call")
    rng = random.Random(0)
    last_draw: list[dict[str, Any]] = []

    def step(k: int) -> float:
        body: dict[str, Any] = {"sample": {"batch_size": 256}}
        if last_draw:
            body["report"] = report_body(last_draw.pop(), rng, f"r{k}")
        t0 = time.perf_counter()
        answer = http.post(f"/v1/runs/{rid}/step", json=body)
        t1 = time.perf_counter()
        answer.raise_for_status()
        last_draw.append(answer.json()["sample"])
        return (t1 - t0) * 1000

    return step


def timed_steps(step: Callable[[int], T], steps: int, pid: int) -> tuple[list[T], float]:
    """``steps`` timed steps after ``WARMUP_STEPS``, and the CPU seconds process ``pid``
    used during the timed ones."""
    for k in range(WARMUP_STEPS):
        step(k)
    cpu_before = process_cpu_seconds(pid)
    timed = [step(k) for k in range(WARMUP_STEPS, WARMUP_STEPS + steps)]
    return timed, process_cpu_seconds(pid) - cpu_before


def server_cpu(cpu_s: float, steps: int, calls_per_step: int) -> dict[str, float | int]:
    calls = calls_per_step * steps
    return {
        "seconds": cpu_s,
        "calls": calls,
        "ms_per_call": cpu_s * 1000 / calls,
        "ms_per_step": cpu_s * 1000 / steps,
    }


def bench_http(
    database_url: str, steps: int, synchronous: str | None, code: Code
) -> dict[str, dict[str, Any]]:
    """``steps`` timed steps (after ``WARMUP_STEPS``) against one server running ``code``:
    the two-call step, then the one-call step (``skipped`` if the server lacks ``/step``)."""
    env = {"ZPD_SQLITE_SYNCHRONOUS": synchronous} if synchronous else {}
    with (
        zpd_server(database_url, code, env) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        print(f"    {code.side} server imports {server.service_file}", flush=True)
        where: dict[str, Any] = {"code": code.side, "service_file": server.service_file}
        two_calls, cpu_s = timed_steps(two_call_step(http), steps, server.pid)
        two_call = {
            "step": percentiles([s + r for s, r in two_calls]),
            "sample": percentiles([s for s, _ in two_calls]),
            "report": percentiles([r for _, r in two_calls]),
            "server_cpu": server_cpu(cpu_s, steps, 2),  # one sample + one report per step
            **where,
        }
        if not serves_route(server.url, STEP_ROUTE):
            one_call = {"skipped": f"its server has no POST {STEP_ROUTE}", **where}
            return {"two-call": two_call, "one-call": one_call}
        one_calls, cpu_s = timed_steps(one_call_step(http), steps, server.pid)
        one_call = {
            "step": percentiles(one_calls),
            "server_cpu": server_cpu(cpu_s, steps, 1),  # per call = per step
            **where,
        }
    return {"two-call": two_call, "one-call": one_call}


def _median(row: dict[str, Any], part: str) -> float | None:
    return row[part]["median_ms"] if part in row else None


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """current / baseline of the step's wall-time percentiles, of the sample and report
    calls' (None for the one-call step) and of the server CPU per call."""
    return {
        "step_median": ratio(current["step"]["median_ms"], baseline["step"]["median_ms"]),
        "step_p99": ratio(current["step"]["p99_ms"], baseline["step"]["p99_ms"]),
        "sample_median": ratio(_median(current, "sample"), _median(baseline, "sample")),
        "report_median": ratio(_median(current, "report"), _median(baseline, "report")),
        "server_cpu_per_call": ratio(
            current["server_cpu"]["ms_per_call"], baseline["server_cpu"]["ms_per_call"]
        ),
    }


def bench_setting(
    rows: dict[str, Any], label: str, urls: dict[str, str], steps: int, sync: str | None,
    sides: list[Code],
) -> None:  # fmt: skip
    """Run the HTTP steps on ``urls[side]`` for each side (baseline first), into ``rows``:
    the two-call rows ("http <label>") then the one-call rows ("http <label> one-call"),
    each baseline row just before its current row."""
    results = {}
    for code in sides:
        print(f"HTTP steps on {label}, {code.side} code, {steps} steps each ...", flush=True)
        results[code.side] = bench_http(urls[code.side], steps, sync, code)
    for kind, name in (("two-call", f"http {label}"), ("one-call", f"http {label} one-call")):
        baseline = results.get("baseline", {}).get(kind)
        if baseline is not None:
            rows[f"{name} [baseline]"] = baseline
        current = results["current"][kind]
        if baseline is not None and "skipped" not in baseline and "skipped" not in current:
            current["vs_baseline"] = compare(current, baseline)
        rows[name] = current


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: dict[str, Any]) -> None:
    print()
    print(
        f"{'setting':<48}{'step median':>13}{'step p99':>10}{'sample med':>12}{'report med':>12}"
        f"{'server CPU/call':>17}{'server CPU/step':>17}"
    )
    for label, row in rows.items():
        if "skipped" in row:
            print(f"{label:<48}   skipped: {row['skipped']}")
            continue
        s = row["step"]
        sample = f"{row['sample']['median_ms']:.2f}" if "sample" in row else "-"
        report = f"{row['report']['median_ms']:.2f}" if "report" in row else "-"
        cpu = f"{row['server_cpu']['ms_per_call']:.2f}" if "server_cpu" in row else "-"
        cpu_step = f"{row['server_cpu']['ms_per_step']:.2f}" if "server_cpu" in row else "-"
        print(
            f"{label:<48}{s['median_ms']:>11.2f}ms{s['p99_ms']:>8.2f}ms{sample:>10}ms"
            f"{report:>10}ms{cpu:>15}ms{cpu_step:>15}ms"
        )
        if "vs_baseline" in row:
            r = row["vs_baseline"]
            print(
                f"{'  current / baseline':<48}{fmt_ratio(r['step_median']):>13}"
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
