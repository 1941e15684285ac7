"""Load: a training step's throughput and latency under concurrent clients, beside its floors.

Measures, side by side in one run, each cell for a fixed time:
  * ZPD over HTTP: each client is one trainer with its own run (10 arms) doing steps, batch
    256 ("batched") and 1 ("single"), at 1, 8 and 32 concurrent clients (threads, one
    httpx.Client each), on SQLite (the embedded default, synchronous=FULL), PostgreSQL,
    PostgreSQL behind two ``zpd serve`` replicas (client i talks to replica i % 2), and
    PostgreSQL behind one ``zpd serve --workers 2`` ("postgresql w2": one port, the
    uvicorn parent's two worker processes share its socket and the kernel hands each new
    connection to one of them; skipped with ``--no-workers``), each step in two ways:
      - "zpd step", two calls: ``POST /sample`` (batch) + ``POST /report`` (batch problems x
        8 rewards), two commits;
      - "zpd one-call step": one ``POST /step`` carrying the report of the client's previous
        draw (8 rewards per problem; none on its first call) and the request for the next
        draw, one commit;
  * the durable floor: a bare FastAPI/uvicorn endpoint started by this script (not the
    service) that does one committed INSERT per request on the same database, with the
    service's engine settings; one floor op = one HTTP round trip + one commit;
  * the strategy math in-process (sample + update of one step, no HTTP, no database);
  * Optuna's ask/tell on the same PostgreSQL server (RDBStorage in a database of its own,
    since it keeps its own alembic_version table; RandomSampler, its cheapest path), one
    study per client: the peer reference for single-item calls.

The server processes' CPU time (user + system, read from /proc before and after each cell's
timed part, of each server process and its descendants, so the workers of --workers 2 too;
PostgreSQL's own processes not included) is reported per op beside the wall time, for the
ZPD rows and the floor.

With ``--baseline-ref REF`` every ZPD cell also runs against ``zpd serve`` processes started
from a ``git worktree`` of REF (fresh databases of their own), baseline then current for each
cell, with the ratios current/baseline; the references (floor, math, Optuna) run once, from
this working tree. A baseline without ``POST /v1/runs/{run_id}/step`` (absent from its
/openapi.json) gets no one-call cells: their baseline rows say ``skipped`` instead. The
worktree is removed at the end.

Goals checked at the end, on the same run (for the baseline too when there is one):
  (a) 256-item step p50 / floor p50 at 1 client, SQLite and PostgreSQL: at most 3x (a step
      is two durable round trips, so 2x is the structural minimum);
  (b) single-item steps/s on PostgreSQL / Optuna trials/s, 1 client: at least 10x (aim 20x);
  (c) single-item steps/s on PostgreSQL / floor ops/s, 8 clients: at least 0.4;
  (d) single-item steps/s on PostgreSQL, 2 replicas / 1 replica, 8 clients: at least 1.6x;
  (a1)-(d1): the same four, with the same targets, on the one-call step's cells (one
      durable round trip per step, so 1x the floor is its structural minimum in (a1)).
After them one line of information, no goal: single-item steps/s at 8 clients, "postgresql
w2" / "postgresql" (one process with two workers / one with one), for the one-call and
the two-call step (``workers_scaling`` in the JSON).

Prints a table and writes JSON (default benchmarks/results/bench_load.json).

    python benchmarks/bench_load.py [--quick] [--seconds 4] [--clients 1,8,32] [--json PATH]
                                    [--no-postgres] [--no-workers] [--baseline-ref REF]
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    STEP_ROUTE,
    Code,
    ZpdServer,
    code_sides,
    cpu_seconds,
    free_port,
    machine,
    postgres_database,
    ratio,
    report_body,  # noqa: E402
    serves_route,
    stop,
    wait_ready,
    write_json,
    zpd_server,
)

ARMS = [{"name": f"level-{i}", "size": 5000} for i in range(10)]
TWO_CALL = "zpd step"  # /sample + /report per step
ONE_CALL = "zpd one-call step"  # /step per step
WORKERS_BACKEND = "postgresql w2"  # one `zpd serve --workers 2` on PostgreSQL
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


def summary(
    latencies_ms: list[float], seconds: float, items_per_op: int, cpu_s: float | None = None
) -> dict[str, float | None]:
    """Throughput and latency of one cell; ``cpu_s``: the servers' CPU seconds during it."""
    a = np.asarray(latencies_ms) if latencies_ms else np.asarray([float("nan")])
    ops = len(latencies_ms)
    return {
        "ops": ops,
        "ops_per_s": ops / seconds,
        "items_per_s": ops * items_per_op / seconds,
        "p50_ms": float(np.median(a)),
        "p99_ms": float(np.percentile(a, 99)),
        "server_cpu_s": cpu_s,
        "server_cpu_ms_per_op": None if cpu_s is None or not ops else cpu_s * 1000 / ops,
    }


def run_clients(
    clients: int,
    seconds: float,
    make_op: Callable[[int], Callable[[], None]],
    items: int,
    cpu_pids: Sequence[int] = (),
) -> dict[str, float | None]:
    """``clients`` threads each call their op (after a warm-up call) until time is up; the
    CPU time of the processes ``cpu_pids`` is read around the timed part."""
    try:
        ops = [make_op(i) for i in range(clients)]
        return _run_clients(clients, seconds, ops, items, list(cpu_pids))
    finally:
        while OPEN_CLIENTS:
            OPEN_CLIENTS.pop().close()


def _run_clients(
    clients: int, seconds: float, ops: list[Callable[[], None]], items: int, cpu_pids: list[int]
) -> dict[str, float | None]:
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
    cpu_before = cpu_seconds(cpu_pids)
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    cpu_s = cpu_seconds(cpu_pids) - cpu_before if cpu_pids else None
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}") from errors[0]
    return summary([x for per in latencies for x in per], elapsed, items, cpu_s)


# --- ZPD over HTTP -------------------------------------------------------------------------


def create_run(http: httpx.Client, name: str, seed: int) -> str:
    body = {"name": name, "arms": ARMS, "seed": seed, "strategy": {"name": "sec"}}
    response = http.post("/v1/runs", json=body)
    response.raise_for_status()
    return str(response.json()["run_id"])


def zpd_step_op(url: str, batch: int, seed: int) -> Callable[[], None]:
    """One op = ``POST /sample`` of ``batch`` then ``POST /report`` of that draw."""
    http = http_client(url)
    run_id = create_run(http, f"load-{seed}", seed)
    rng = random.Random(seed)
    sample_body = orjson.dumps({"batch_size": batch})
    counter = iter(range(1 << 62))

    def step() -> None:
        sample = http.post(f"/v1/runs/{run_id}/sample", content=sample_body, headers=JSON_HEADERS)
        sample.raise_for_status()
        report = report_body(sample.json(), rng, f"r{next(counter)}")
        answer = http.post(
            f"/v1/runs/{run_id}/report", content=orjson.dumps(report), headers=JSON_HEADERS
        )
        answer.raise_for_status()

    return step


def zpd_one_call_op(url: str, batch: int, seed: int) -> Callable[[], None]:
    """One op = one ``POST /step``: the report of the previous op's draw (none on the first
    op, which is the warm-up) and the request for the next draw of ``batch``."""
    http = http_client(url)
    run_id = create_run(http, f"load-one-call-{seed}", seed)
    rng = random.Random(seed)
    counter = iter(range(1 << 62))
    last_draw: list[dict[str, Any]] = []  # the previous op's answered sample, not yet reported

    def step() -> None:
        body: dict[str, Any] = {"sample": {"batch_size": batch}}
        if last_draw:
            body["report"] = report_body(last_draw.pop(), rng, f"r{next(counter)}")
        answer = http.post(
            f"/v1/runs/{run_id}/step", content=orjson.dumps(body), headers=JSON_HEADERS
        )
        answer.raise_for_status()
        last_draw.append(answer.json()["sample"])

    return step


STEP_OPS = {TWO_CALL: zpd_step_op, ONE_CALL: zpd_one_call_op}


@contextmanager
def zpd_servers(
    database_url: str, replicas: int, log_level: str, code: Code, workers: int = 1
) -> Iterator[list[ZpdServer]]:
    """``replicas`` ``zpd serve --workers <workers>`` processes of ``code`` on one database,
    started one at a time (the first creates the schema)."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                zpd_server(database_url, code, log_level=log_level, log=SERVER_LOG, workers=workers)
            )
            for _ in range(replicas)
        ]
        print(f"  ({code.side} servers import {servers[0].service_file})", flush=True)
        yield servers


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


@dataclass(frozen=True)
class FloorServer:
    url: str
    pid: int


@contextmanager
def floor_server(database_url: str) -> Iterator[FloorServer]:
    port = free_port()
    command = [sys.executable, __file__, "--floor-server", database_url, "--port", str(port)]
    process = subprocess.Popen(command, stdout=SERVER_LOG, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process, SERVER_LOG)
        yield FloorServer(f"http://127.0.0.1:{port}", process.pid)
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


Key = tuple[str, str, str, int]  # what, backend, mode, clients


def row_key(row: dict[str, Any]) -> Key:
    return (row["what"], row["backend"], row["mode"], row["clients"])


def find_row(rows: list[dict[str, Any]], key: Key, code: str) -> dict[str, Any] | None:
    """The row of cell ``key`` measured on ``code``'s servers (a reference row, whose
    ``code`` is None, serves every side)."""
    for row in rows:
        if row_key(row) == key and row.get("code") in (None, code):
            return row
    return None


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """current / baseline of a cell's throughput, latencies and server CPU per op."""
    fields = ("ops_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_op")
    return {field: ratio(current.get(field), baseline.get(field)) for field in fields}


class Bench:
    def __init__(self, seconds: float, concurrency: tuple[int, ...]) -> None:
        self.seconds = seconds
        self.concurrency = concurrency
        self.rows: list[dict[str, Any]] = []

    def cell(
        self,
        what: str,
        backend: str,
        mode: str,
        clients: int,
        make_op: Callable[[int], Callable[[], None]],
        code: str | None = None,
        cpu_pids: Sequence[int] = (),
    ) -> None:
        """Run one cell; ``code`` is the side of the ZPD servers (None for a reference)."""
        items = MODES.get(mode, 1)
        side = f" [{code}]" if code else ""
        print(
            f"  {what:<17} {backend:<14} {mode:<8} {clients:>2} clients{side} ...",
            end="",
            flush=True,
        )
        result = run_clients(clients, self.seconds, make_op, items, cpu_pids)
        cpu = result["server_cpu_ms_per_op"]
        cpu_text = f"  server CPU {cpu:7.2f} ms/op" if cpu is not None else ""
        print(
            f" {result['ops_per_s']:9.1f} ops/s  p50 {result['p50_ms']:8.2f} ms{cpu_text}",
            flush=True,
        )
        row = {"what": what, "backend": backend, "mode": mode, "clients": clients, "code": code}
        row.update(result)
        if code == "current":
            before = find_row(self.rows, row_key(row), "baseline")
            if before is not None and before["code"] == "baseline" and "skipped" not in before:
                row["vs_baseline"] = compare(row, before)
        self.rows.append(row)

    def skip(self, what: str, backend: str, mode: str, clients: int, code: str, why: str) -> None:
        """Record cell ``what`` as not run on ``code``'s servers, and why: a row whose
        numbers are None, so that the goals on it are None and say why."""
        print(f"  {what:<17} {backend:<14} {mode:<8} {clients:>2} clients [{code}] skipped: {why}")
        row: dict[str, Any] = {
            "what": what,
            "backend": backend,
            "mode": mode,
            "clients": clients,
            "code": code,
            "skipped": why,
        }
        row.update(dict.fromkeys(summary([], 1.0, 1), None))
        self.rows.append(row)


def bench_backend(
    bench: Bench,
    backend: str,
    database_urls: dict[str, str],
    replicas: int,
    log_level: str,
    sides: list[Code],
    workers: int = 1,
) -> dict[str, str]:
    """Every ZPD cell of ``backend`` (the two-call step, then the one-call step), on each
    side's servers in turn (baseline first: ``replicas`` servers of ``workers`` worker
    processes each), each side on its own database ``database_urls[side]``; servers without
    ``/step`` get skipped one-call rows. Returns, per side, the file its servers imported
    ``service`` from."""
    with ExitStack() as stack:
        servers = {
            code.side: stack.enter_context(
                zpd_servers(database_urls[code.side], replicas, log_level, code, workers)
            )
            for code in sides
        }
        has_step = {side: serves_route(group[0].url, STEP_ROUTE) for side, group in servers.items()}
        for mode, batch in MODES.items():
            for clients in bench.concurrency:
                seeds = random.Random(f"{backend}{mode}{clients}").randrange(1 << 30)
                for what, op in STEP_OPS.items():
                    for code in sides:
                        if what == ONE_CALL and not has_step[code.side]:
                            why = f"its servers have no POST {STEP_ROUTE}"
                            bench.skip(what, backend, mode, clients, code.side, why)
                            continue
                        urls = [server.url for server in servers[code.side]]

                        def make(
                            i: int,
                            op: Callable[[str, int, int], Callable[[], None]] = op,
                            batch: int = batch,
                            seeds: int = seeds,
                            urls: list[str] = urls,
                        ) -> Callable[[], None]:
                            return op(urls[i % len(urls)], batch, seeds + i)

                        # each server's process tree is counted (its workers with --workers)
                        pids = [server.pid for server in servers[code.side]]
                        bench.cell(
                            what, backend, mode, clients, make, code=code.side, cpu_pids=pids
                        )
        return {side: group[0].service_file for side, group in servers.items()}


def bench_floor(bench: Bench, backend: str, url: str) -> None:
    with floor_server(url) as floor:
        for clients in bench.concurrency:
            bench.cell(
                "floor",
                backend,
                "single",
                clients,
                lambda _i: floor_op(floor.url),
                cpu_pids=[floor.pid],
            )


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
            lambda i, tag=tag: optuna_op(storage, f"load-{tag}-{i}"),
        )
    storage.engine.dispose()


# --- the goals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """``numerator[field] / denominator[field]`` of two cells, and the bound it must meet."""

    name: str
    label: str
    numerator: Key
    denominator: Key
    field: str
    at_most: float | None = None
    at_least: float | None = None
    aim: float | None = None  # a further target beyond the goal (same direction)

    def target(self) -> str:
        text = f"<= {self.at_most:g}x" if self.at_most is not None else f">= {self.at_least:g}x"
        if self.aim is not None:
            text += f" (aim {self.aim:g}x)"
        return text

    def meets(self, value: float) -> bool:
        if self.at_most is not None:
            return value <= self.at_most
        return self.at_least is not None and value >= self.at_least

    def meets_aim(self, value: float) -> bool:
        if self.aim is None:
            return False
        return value <= self.aim if self.at_most is not None else value >= self.aim


TWO_CALL_GOALS = (
    Goal(
        "a",
        "256-item step p50 / floor p50, sqlite, 1 client",
        (TWO_CALL, "sqlite", "batched", 1),
        ("floor", "sqlite", "single", 1),
        "p50_ms",
        at_most=3,
    ),
    Goal(
        "a",
        "256-item step p50 / floor p50, postgresql, 1 client",
        (TWO_CALL, "postgresql", "batched", 1),
        ("floor", "postgresql", "single", 1),
        "p50_ms",
        at_most=3,
    ),
    Goal(
        "b",
        "single-item steps/s / optuna trials/s, postgresql, 1 client",
        (TWO_CALL, "postgresql", "single", 1),
        ("optuna", "postgresql", "single", 1),
        "ops_per_s",
        at_least=10,
        aim=20,
    ),
    Goal(
        "c",
        "single-item steps/s / floor ops/s, postgresql, 8 clients",
        (TWO_CALL, "postgresql", "single", 8),
        ("floor", "postgresql", "single", 8),
        "ops_per_s",
        at_least=0.4,
    ),
    Goal(
        "d",
        "single-item steps/s, 2 replicas / 1 replica, postgresql, 8 clients",
        (TWO_CALL, "postgresql x2", "single", 8),
        (TWO_CALL, "postgresql", "single", 8),
        "ops_per_s",
        at_least=1.6,
    ),
)


def on_one_call_step(goal: Goal) -> Goal:
    """``goal`` with the one-call step's cells in place of the two-call step's: same target,
    its name suffixed with 1 and its label saying one-call."""

    def swap(key: Key) -> Key:
        return (ONE_CALL, *key[1:]) if key[0] == TWO_CALL else key

    return replace(
        goal,
        name=f"{goal.name}1",
        label=goal.label.replace("step", "one-call step", 1),
        numerator=swap(goal.numerator),
        denominator=swap(goal.denominator),
    )


GOALS = TWO_CALL_GOALS + tuple(on_one_call_step(goal) for goal in TWO_CALL_GOALS)


def goal_values(rows: list[dict[str, Any]], code: str) -> list[float | None]:
    """Each goal's ratio on ``code``'s servers, None where a cell was not measured."""
    values = []
    for goal in GOALS:
        top = find_row(rows, goal.numerator, code)
        bottom = find_row(rows, goal.denominator, code)
        values.append(ratio(top[goal.field], bottom[goal.field]) if top and bottom else None)
    return values


def skipped_cell(rows: list[dict[str, Any]], goal: Goal, code: str) -> str | None:
    """Why a cell of ``goal`` was skipped on ``code``'s servers, None if none was."""
    for key in (goal.numerator, goal.denominator):
        row = find_row(rows, key, code)
        if row is not None and "skipped" in row:
            return str(row["skipped"])
    return None


def goals(rows: list[dict[str, Any]], sides: Sequence[str] = ("current",)) -> list[dict[str, Any]]:
    """The goals block: per goal its value on the current code, the target, whether it is
    met (None: not measured; ``skipped`` says why where a cell was skipped), and the same
    for the baseline when it is among ``sides``."""
    block: list[dict[str, Any]] = [
        {"goal": goal.name, "what": goal.label, "target": goal.target()} for goal in GOALS
    ]
    for side in sides:
        prefix = "" if side == "current" else f"{side}_"
        for entry, goal, value in zip(block, GOALS, goal_values(rows, side), strict=True):
            entry[f"{prefix}value"] = value
            entry[f"{prefix}met"] = None if value is None else goal.meets(value)
            if goal.aim is not None:
                entry[f"{prefix}aim_met"] = None if value is None else goal.meets_aim(value)
            why = skipped_cell(rows, goal, side)
            if why is not None:
                entry[f"{prefix}skipped"] = why
    return block


SCALED_STEPS = {ONE_CALL: "one-call", TWO_CALL: "two-call"}
WORKERS_SCALING_LABEL = (
    f"single-item steps/s, {WORKERS_BACKEND} / postgresql (1 process, 2 workers / 1), 8 clients"
)


def workers_scaling(
    rows: list[dict[str, Any]], sides: Sequence[str] = ("current",)
) -> dict[str, Any]:
    """Information, no goal: per side, for the one-call and the two-call step, the
    single-item steps/s at 8 clients of one ``zpd serve --workers 2`` over those of one
    single-worker ``zpd serve`` (None where either cell was not measured or skipped)."""
    block: dict[str, Any] = {"what": WORKERS_SCALING_LABEL}
    for side in sides:
        block[side] = {}
        for what in SCALED_STEPS:
            top = find_row(rows, (what, WORKERS_BACKEND, "single", 8), side)
            bottom = find_row(rows, (what, "postgresql", "single", 8), side)
            value = ratio(top["ops_per_s"], bottom["ops_per_s"]) if top and bottom else None
            block[side][what] = value
    return block


def print_workers_scaling(block: dict[str, Any]) -> None:
    def values(side: str) -> str:
        texts = []
        for what, short in SCALED_STEPS.items():
            value = block[side][what]
            texts.append(f"{short} " + ("n/a" if value is None else f"{value:.2f}x"))
        return ", ".join(texts)

    line = f"info (no goal): {block['what']}: {values('current')}"
    if "baseline" in block:
        line += f"   [baseline {values('baseline')}]"
    print(line)


def _verdict(value: float | None, met: bool | None, skipped: str | None = None) -> str:
    if value is None:
        return f"n/a (skipped: {skipped})" if skipped else "n/a (not measured)"
    return f"{value:.2f}x  met: {'yes' if met else 'NO'}"


def print_goals(block: list[dict[str, Any]]) -> None:
    with_baseline = any("baseline_value" in entry for entry in block)
    print("\ngoals (current code" + ("; baseline in brackets)" if with_baseline else ")"))
    for entry in block:
        line = f"{'(' + entry['goal'] + ')':<5}{entry['what']:<77} goal {entry['target']:<18}"
        line += _verdict(entry["value"], entry["met"], entry.get("skipped"))
        if "aim_met" in entry and entry["value"] is not None:
            line += f", aim: {'yes' if entry['aim_met'] else 'no'}"
        if "baseline_value" in entry:
            baseline = _verdict(
                entry["baseline_value"], entry["baseline_met"], entry.get("baseline_skipped")
            )
            line += f"   [baseline {baseline}]"
        print(line)


def _num(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else format(value, spec) + unit


def print_table(bench: Bench) -> None:
    print()
    header = f"{'what':<18}{'backend':<15}{'mode':<9}{'clients':>7}{'code':>10}"
    print(header + f"{'ops/s':>10}{'items/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'srv CPU ms/op':>15}")
    for r in bench.rows:
        cell = (
            f"{r['what']:<18}{r['backend']:<15}{r['mode']:<9}{r['clients']:>7}"
            f"{r['code'] or '-':>10}"
        )
        if "skipped" in r:
            print(f"{cell}   skipped: {r['skipped']}")
            continue
        print(
            f"{cell}{r['ops_per_s']:>10.1f}{r['items_per_s']:>11.0f}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{_num(r['server_cpu_ms_per_op'], '.2f'):>15}"
        )
        if "vs_baseline" in r:
            v = r["vs_baseline"]
            print(
                f"{'  current / baseline':<59}{_num(v['ops_per_s'], '.2f', 'x'):>10}{'':>11}"
                f"{_num(v['p50_ms'], '.2f', 'x'):>9}{_num(v['p99_ms'], '.2f', 'x'):>9}"
                f"{_num(v['server_cpu_ms_per_op'], '.2f', 'x'):>15}"
            )


def parse_clients(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        message = f"not a comma-separated list of integers: {text}"
        raise argparse.ArgumentTypeError(message) from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"client counts must be at least 1: {text}")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=None, help="per cell (default 4)")
    parser.add_argument("--quick", action="store_true", help="1 s per cell (~2.5 min)")
    parser.add_argument(
        "--clients",
        type=parse_clients,
        default=CONCURRENCY,
        help="concurrent clients per cell, comma-separated (default 1,8,32; the goals use 1 and 8)",
    )
    parser.add_argument("--json", default="benchmarks/results/bench_load.json")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--no-workers",
        action="store_true",
        help=f'skip the "{WORKERS_BACKEND}" cells (one zpd serve --workers 2 on PostgreSQL)',
    )
    parser.add_argument("--log-level", default="info", help="zpd serve --log-level (default info)")
    parser.add_argument(
        "--baseline-ref",
        metavar="REF",
        help="also run every ZPD cell on servers from a git worktree of REF (before/after)",
    )
    parser.add_argument("--floor-server", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        serve_floor(args.floor_server, args.port)
        return 0
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    bench = Bench(seconds, args.clients)
    started = time.monotonic()

    for mode, batch in MODES.items():
        bench.cell("math", "in-process", mode, 1, lambda _i, b=batch: math_op(b))
    with code_sides(args.baseline_ref) as sides:
        for code in sides:
            print(code.describe())
        code_json = {code.side: code.as_json() for code in sides}
        with tempfile.TemporaryDirectory() as folder:
            sqlite = {
                code.side: f"sqlite:///{Path(folder) / f'load-{code.side}.db'}" for code in sides
            }
            bench_floor(bench, "sqlite", f"sqlite:///{Path(folder) / 'floor.db'}")
            imported = bench_backend(bench, "sqlite", sqlite, 1, args.log_level, sides)
        if not args.no_postgres:
            workers = not args.no_workers
            imported.update(bench_postgres(bench, sides, args.log_level, workers))
        for side, service_file in imported.items():
            code_json[side]["service_file"] = service_file

    print_table(bench)
    block = goals(bench.rows, [code.side for code in sides])
    print_goals(block)
    scaling = workers_scaling(bench.rows, [code.side for code in sides])
    print_workers_scaling(scaling)
    out = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_per_cell": seconds,
        "code": code_json,
        "wall_s": round(time.monotonic() - started, 1),
        "rows": bench.rows,
        "goals": block,
        "workers_scaling": scaling,
    }
    write_json(args.json, out)
    print(f"({out['wall_s']} s)")
    return 0


def bench_postgres(
    bench: Bench, sides: list[Code], log_level: str, workers: bool = True
) -> dict[str, str]:
    """The PostgreSQL cells: floor, Optuna, then ZPD with 1 and 2 replicas and, if
    ``workers``, one server of 2 worker processes; a database each for the floor, Optuna (it
    keeps its own alembic_version table) and every side's service."""
    tag = os.getpid()
    with ExitStack() as stack:
        floor = stack.enter_context(postgres_database(f"zpd_load_floor_{tag}"))
        peer = stack.enter_context(postgres_database(f"zpd_load_optuna_{tag}"))
        service = {
            code.side: stack.enter_context(postgres_database(f"zpd_load_{tag}_{code.side}"))
            for code in sides
        }
        if not (floor and peer and all(service.values())):
            return {}
        urls = {side: str(url) for side, url in service.items()}
        bench_floor(bench, "postgresql", floor)
        bench_optuna(bench, peer)
        bench_backend(bench, "postgresql", urls, 1, log_level, sides)
        imported = bench_backend(bench, "postgresql x2", urls, 2, log_level, sides)
        if workers:
            imported = bench_backend(bench, WORKERS_BACKEND, urls, 1, log_level, sides, workers=2)
        return imported


if __name__ == "__main__":
    sys.exit(main())
