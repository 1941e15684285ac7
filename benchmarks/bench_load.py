"""Load: sample+report throughput and latency under concurrent clients, beside its floors.

Measures, side by side in one run, each cell for a fixed time:
  * ZPD over HTTP: each client is one trainer with its own run (10 arms) doing steps of
    ``sample(batch)`` + ``report(batch problems x 8 rewards)``, batch 256 ("batched") and 1
    ("single"), at 1, 8 and 32 concurrent clients (threads, one httpx.Client each), on
    SQLite (the embedded default, synchronous=FULL), PostgreSQL, and PostgreSQL behind two
    ``zpd serve`` replicas (client i talks to replica i % 2);
  * the durable floor: a bare FastAPI/uvicorn endpoint started by this script (not the
    service) that does one committed INSERT per request on the same database, with the
    service's engine settings; one floor op = one HTTP round trip + one commit;
  * the strategy math in-process (sample + update of one step, no HTTP, no database);
  * Optuna's ask/tell on the same PostgreSQL server (RDBStorage in a database of its own,
    since it keeps its own alembic_version table; RandomSampler, its cheapest path), one
    study per client: the peer reference for single-item calls.

Goals checked at the end, at each concurrency: a 256-item step within 3x of the durable floor
(median latency; a step is two durable round trips, so 2x is the structural minimum), and
single-item throughput at least 20x Optuna's.

Prints a table and writes JSON (default benchmarks/results/bench_load.json).

    python benchmarks/bench_load.py [--quick] [--seconds 4] [--json PATH] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import free_port, machine, postgres_database, write_json  # noqa: E402

ARMS = [{"name": f"level-{i}", "size": 5000} for i in range(10)]
CONCURRENCY = (1, 8, 32)
MODES = {"batched": 256, "single": 1}
JSON_HEADERS = {"content-type": "application/json"}
OPEN_CLIENTS: list[httpx.Client] = []  # closed after each cell
# The servers' output (their JSON request logs); its tail is shown when one fails to start.
SERVER_LOG = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the script)


def http_client(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    OPEN_CLIENTS.append(client)
    return client


def summary(latencies_ms: list[float], seconds: float, items_per_op: int) -> dict[str, float]:
    a = np.asarray(latencies_ms) if latencies_ms else np.asarray([float("nan")])
    ops = len(latencies_ms)
    return {
        "ops": ops,
        "ops_per_s": ops / seconds,
        "items_per_s": ops * items_per_op / seconds,
        "p50_ms": float(np.median(a)),
        "p99_ms": float(np.percentile(a, 99)),
    }


def run_clients(
    clients: int, seconds: float, make_op: Callable[[int], Callable[[], None]], items: int
) -> dict[str, float]:
    """``clients`` threads each call their op (after a warm-up call) until time is up."""
    try:
        return _run_clients(clients, seconds, [make_op(i) for i in range(clients)], items)
    finally:
        while OPEN_CLIENTS:
            OPEN_CLIENTS.pop().close()


def _run_clients(
    clients: int, seconds: float, ops: list[Callable[[], None]], items: int
) -> dict[str, float]:
    for op in ops:  # warm-up: connection, first run state, caches
        op()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(i: int) -> None:
        start.wait()
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                ops[i]()
                latencies[i].append((time.perf_counter() - t0) * 1000)
        except BaseException as exc:  # reported after the cell, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}") from errors[0]
    elapsed = time.perf_counter() - began
    return summary([x for per in latencies for x in per], elapsed, items)


# --- ZPD over HTTP -------------------------------------------------------------------------


def zpd_step_op(url: str, batch: int, seed: int) -> Callable[[], None]:
    http = http_client(url)
    body = {"name": f"load-{seed}", "arms": ARMS, "seed": seed, "strategy": {"name": "sec"}}
    response = http.post("/v1/runs", json=body)
    response.raise_for_status()
    run_id = response.json()["run_id"]
    rng = random.Random(seed)
    sample_body = orjson.dumps({"batch_size": batch})
    counter = iter(range(1 << 62))

    def step() -> None:
        sample = http.post(f"/v1/runs/{run_id}/sample", content=sample_body, headers=JSON_HEADERS)
        sample.raise_for_status()
        drawn = sample.json()
        results = [
            {**item, "rewards": [rng.choice((0.0, 0.1, 1.0)) for _ in range(8)]}
            for item in drawn["items"]
        ]
        report = {
            "report_id": f"r{next(counter)}",
            "sample_id": drawn["sample_id"],
            "results": results,
        }
        answer = http.post(
            f"/v1/runs/{run_id}/report", content=orjson.dumps(report), headers=JSON_HEADERS
        )
        answer.raise_for_status()

    return step


@contextmanager
def zpd_servers(database_url: str, replicas: int, log_level: str) -> Iterator[list[str]]:
    env = {**os.environ, "ZPD_DATABASE_URL": database_url}
    processes, urls = [], []
    try:
        for _ in range(replicas):
            port = free_port()
            command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
            command += ["--log-level", log_level]
            processes.append(
                subprocess.Popen(command, env=env, stdout=SERVER_LOG, stderr=subprocess.STDOUT)
            )
            urls.append(f"http://127.0.0.1:{port}")
            wait_ready(
                f"{urls[-1]}/readyz", processes[-1]
            )  # one at a time: the first creates the schema
        yield urls
    finally:
        stop(processes)


# --- the durable floor: one HTTP round trip + one committed INSERT --------------------------


def floor_app(database_url: str) -> Any:
    from fastapi import FastAPI
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert

    from service.db.engine import create_db_engine
    from service.settings import Settings

    engine = create_db_engine(Settings(database_url=database_url))
    table = Table(
        "bench_floor",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("note", String(64)),
    )
    table.metadata.create_all(engine)
    app = FastAPI()

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/floor")
    def floor(body: dict[str, Any]) -> dict[str, int]:
        with engine.begin() as conn:
            row = conn.execute(insert(table).values(note=str(body.get("note", ""))[:64]))
        return {"id": int(row.inserted_primary_key[0])}

    return app


def serve_floor(database_url: str, port: int) -> None:
    import uvicorn

    uvicorn.run(floor_app(database_url), host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def floor_server(database_url: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, __file__, "--floor-server", database_url, "--port", str(port)]
    process = subprocess.Popen(command, stdout=SERVER_LOG, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([process])


def floor_op(url: str) -> Callable[[], None]:
    http = http_client(url)
    body = orjson.dumps({"note": "x"})

    def op() -> None:
        http.post("/floor", content=body, headers=JSON_HEADERS).raise_for_status()

    return op


# --- references: in-process math, Optuna -----------------------------------------------------


def math_op(batch: int) -> Callable[[], None]:
    from service.curricula import (
        ArmInfo,
        arm_feedback,
        build_strategy,
        draw_batch,
        problem_signals,
        sample_rng,
    )

    arms = [ArmInfo(name=a["name"], size=5000, tags={}) for a in ARMS]
    sec = build_strategy("sec", {}, arms)
    state = [sec.initial_state(arms)]
    drawn = [0] * len(arms)
    rewards = np.random.default_rng(0).choice([0.0, 0.1, 1.0], size=(batch, 8)).tolist()
    step = [0]

    def op() -> None:
        k = step[0]
        p = sec.probabilities(state[0], k)
        sizes = [5000] * len(arms)
        drew = draw_batch(p, batch, sample_rng(1, k), seed=1, sizes=sizes, drawn_before=drawn)
        signal, outcome = problem_signals(rewards, [None] * batch, sec.advantage_std)
        feedback = arm_feedback(len(arms), drew.arms, signal, outcome)
        state[0] = sec.update(state[0], feedback, k)
        step[0] += 1

    return op


def optuna_op(storage: Any, name: str) -> Callable[[], None]:
    import optuna

    study = optuna.create_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    choices = [a["name"] for a in ARMS]
    rng = random.Random(0)

    def op() -> None:
        trial = study.ask()
        trial.suggest_categorical("arm", choices)
        study.tell(trial, rng.choice((0.0, 0.1, 1.0)))

    return op


# --- plumbing --------------------------------------------------------------------------------


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            SERVER_LOG.seek(0)
            tail = SERVER_LOG.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the server for {url} exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {timeout}s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


class Bench:
    def __init__(self, seconds: float, concurrency: tuple[int, ...]) -> None:
        self.seconds = seconds
        self.concurrency = concurrency
        self.rows: list[dict[str, Any]] = []

    def cell(self, what: str, backend: str, mode: str, clients: int, **kw: Any) -> None:
        make_op: Callable[[int], Callable[[], None]] = kw["make_op"]
        items = MODES.get(mode, 1)
        print(f"  {what:<9} {backend:<14} {mode:<8} {clients:>2} clients ...", end="", flush=True)
        result = run_clients(clients, self.seconds, make_op, items)
        print(f" {result['ops_per_s']:9.1f} ops/s  p50 {result['p50_ms']:8.2f} ms", flush=True)
        self.rows.append(
            {"what": what, "backend": backend, "mode": mode, "clients": clients, **result}
        )

    def find(self, what: str, backend: str, mode: str, clients: int) -> dict[str, Any] | None:
        for row in self.rows:
            if (row["what"], row["backend"], row["mode"], row["clients"]) == (
                what,
                backend,
                mode,
                clients,
            ):
                return row
        return None


def bench_backend(bench: Bench, backend: str, url: str, replicas: int, log_level: str) -> None:
    with zpd_servers(url, replicas, log_level) as urls:
        for mode, batch in MODES.items():
            for clients in bench.concurrency:
                seeds = random.Random(f"{backend}{mode}{clients}").randrange(1 << 30)

                def make(i: int, batch: int = batch, seeds: int = seeds) -> Callable[[], None]:
                    return zpd_step_op(urls[i % len(urls)], batch, seeds + i)

                bench.cell("zpd step", backend, mode, clients, make_op=make)


def bench_floor(bench: Bench, backend: str, url: str) -> None:
    with floor_server(url) as floor_url:
        for clients in bench.concurrency:
            bench.cell("floor", backend, "single", clients, make_op=lambda _i: floor_op(floor_url))


def bench_optuna(bench: Bench, url: str) -> None:
    try:
        import optuna
    except ImportError:
        print("optuna is not installed (pip install optuna): its reference rows are skipped")
        return

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_size": 40, "max_overflow": 8})
    for clients in bench.concurrency:
        tag = f"{clients}-{time.monotonic_ns()}"
        bench.cell(
            "optuna",
            "postgresql",
            "single",
            clients,
            make_op=lambda i, tag=tag: optuna_op(storage, f"load-{tag}-{i}"),
        )
    storage.engine.dispose()


def verdicts(bench: Bench) -> list[str]:
    lines = []
    for backend in ("sqlite", "postgresql", "postgresql x2"):
        floor_backend = "sqlite" if backend == "sqlite" else "postgresql"
        for clients in bench.concurrency:
            step = bench.find("zpd step", backend, "batched", clients)
            floor = bench.find("floor", floor_backend, "single", clients)
            if step and floor:
                ratio = step["p50_ms"] / floor["p50_ms"]
                ok = "meets" if ratio <= 3 else "MISSES"
                lines.append(
                    f"256-item step / floor, {backend}, {clients} clients: p50 {ratio:.2f}x "
                    f"({ok} <= 3x)"
                )
    for backend in ("postgresql", "postgresql x2"):
        for clients in bench.concurrency:
            single = bench.find("zpd step", backend, "single", clients)
            peer = bench.find("optuna", "postgresql", "single", clients)
            if single and peer:
                ratio = single["ops_per_s"] / peer["ops_per_s"]
                ok = "meets" if ratio >= 20 else "MISSES"
                lines.append(
                    f"single-item steps/s / optuna trials/s, {backend}, {clients} clients: "
                    f"{ratio:.1f}x ({ok} >= 20x)"
                )
    return lines


def print_table(bench: Bench) -> None:
    print()
    header = f"{'what':<10}{'backend':<15}{'mode':<9}{'clients':>7}"
    print(header + f"{'ops/s':>10}{'items/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for r in bench.rows:
        print(
            f"{r['what']:<10}{r['backend']:<15}{r['mode']:<9}{r['clients']:>7}"
            f"{r['ops_per_s']:>10.1f}{r['items_per_s']:>11.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=None, help="per cell (default 4)")
    parser.add_argument("--quick", action="store_true", help="1 s per cell (~1.5 min)")
    parser.add_argument("--json", default="benchmarks/results/bench_load.json")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--log-level", default="info", help="zpd serve --log-level (default info)")
    parser.add_argument("--floor-server", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        serve_floor(args.floor_server, args.port)
        return 0
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    bench = Bench(seconds, CONCURRENCY)
    started = time.monotonic()

    for mode, batch in MODES.items():
        bench.cell("math", "in-process", mode, 1, make_op=lambda _i, b=batch: math_op(b))
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'load.db'}"
        bench_floor(bench, "sqlite", f"sqlite:///{Path(folder) / 'floor.db'}")
        bench_backend(bench, "sqlite", sqlite_url, 1, args.log_level)
    if not args.no_postgres:
        # Three databases on the same server: Optuna keeps its own alembic_version table.
        tag = os.getpid()
        with (
            postgres_database(f"zpd_load_{tag}") as pg,
            postgres_database(f"zpd_load_floor_{tag}") as pg_floor,
            postgres_database(f"zpd_load_optuna_{tag}") as pg_optuna,
        ):
            if pg and pg_floor and pg_optuna:
                bench_floor(bench, "postgresql", pg_floor)
                bench_optuna(bench, pg_optuna)
                bench_backend(bench, "postgresql", pg, 1, args.log_level)
                bench_backend(bench, "postgresql x2", pg, 2, args.log_level)

    print_table(bench)
    goals = verdicts(bench)
    print()
    for line in goals:
        print(line)
    out = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_per_cell": seconds,
        "wall_s": round(time.monotonic() - started, 1),
        "rows": bench.rows,
        "goals": goals,
    }
    write_json(args.json, out)
    print(f"({out['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
