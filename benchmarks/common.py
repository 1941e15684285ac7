"""Plumbing shared by the benchmark scripts: ports, percentiles, the machine, the JSON file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """Median, p99 and mean of latencies in milliseconds."""
    a = np.asarray(samples_ms)
    return {
        "median_ms": float(np.median(a)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
        "n": int(a.size),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (folders created) and say so."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {path}")


@contextmanager
def postgres_database(name: str, admin_url: str | None = None) -> Iterator[str | None]:
    """A fresh PostgreSQL database ``name`` for one benchmark, dropped afterwards.

    ``admin_url`` defaults to ``ZPD_TEST_POSTGRES_URL`` (else the local server). Yields its
    URL, or None (after saying why) when the server cannot be reached: a benchmark then goes
    on without PostgreSQL.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = admin_url or os.environ.get("ZPD_TEST_POSTGRES_URL", DEFAULT_PG)
    try:
        admin = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # benchmark only: report and go on without PostgreSQL
        print(f"PostgreSQL unavailable, skipped: {str(exc).splitlines()[0]}")
        yield None
        return
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sample_report_main(
    doc: str,
    bench: Callable[[str, int, int], dict[str, Any]],
    default_json: str,
    title: str,
    problems: int,
) -> int:
    """Command line of the million-problem benchmarks: `bench(url, iterations, seen)` on a
    temporary SQLite file, then on PostgreSQL when reachable; prints a table, writes JSON."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seen", type=int, default=400_000)
    parser.add_argument("--json", default=default_json)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        print("sqlite (synchronous=FULL) ...", flush=True)
        rows["sqlite"] = bench(f"sqlite:///{Path(folder) / 'bench.db'}", args.iterations, args.seen)
    if not args.no_postgres:
        with postgres_database(f"zpd_bench_{os.getpid()}") as pg:
            if pg:
                print("postgresql ...", flush=True)
                rows["postgresql"] = bench(pg, args.iterations, args.seen)
    print(f"\n{title.format(seen=args.seen)}")
    print(
        f"{'database':<12}{'sample(256) median':>20}{'p99':>9}{'report(256x8) median':>22}{'p99':>9}"
    )
    for name, row in rows.items():
        s, r = row["sample"], row["report"]
        print(
            f"{name:<12}{s['median_ms']:>18.2f}ms{s['p99_ms']:>7.2f}ms"
            f"{r['median_ms']:>20.2f}ms{r['p99_ms']:>7.2f}ms"
        )
    payload = {"problems": problems, "seen": args.seen, "iterations": args.iterations}
    write_json(args.json, {**payload, "results": rows})
    return 0


def time_sample_report(
    db: Any,
    run_id: str,
    settings: Any,
    iterations: int,
    rng: np.random.Generator,
    rewards: tuple[float, ...] = (0.0, 0.1, 1.0),
) -> dict[str, dict[str, float]]:
    """Percentiles of `sample(256)` and a 256 x 8 report through the domain layer, after 5
    warm-up steps; rewards drawn from `rewards`.

    First the objects alive now are frozen out of the cyclic GC, as `zpd serve` does at
    start (`service.api.app.serve_app`).
    """
    import gc

    from service.domain import runs as domain
    from service.schemas import ReportRequest, SampleRequest

    gc.collect()
    gc.freeze()
    sample_ms, report_ms = [], []
    for k in range(iterations + 5):
        t0 = time.perf_counter()
        answer = domain.sample(db, run_id, SampleRequest(batch_size=256), settings)
        t1 = time.perf_counter()
        results = [
            {"arm": item.arm, "index": item.index, "rewards": rng.choice(rewards, 8).tolist()}
            for item in answer.items
        ]
        request = ReportRequest.model_validate({"report_id": f"r{k}", "results": results})
        t2 = time.perf_counter()
        domain.report(db, run_id, request, settings)
        t3 = time.perf_counter()
        if k >= 5:
            sample_ms.append((t1 - t0) * 1000)
            report_ms.append((t3 - t2) * 1000)
    return {"sample": percentiles(sample_ms), "report": percentiles(report_ms)}
