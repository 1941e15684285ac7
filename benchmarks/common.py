"""Plumbing shared by the benchmark scripts: ports, percentiles, the machine, the JSON file,
``zpd serve`` processes started from a chosen copy of the code, their CPU time, whether they
have a route, and the baseline copy (a ``git worktree`` of another commit) for before/after runs."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]


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


# --- CPU time of a server process and its descendants -----------------------------------------


def _stat_fields(line: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` line from field 3 (state) on.

    The second field, the command name in parentheses, may itself hold spaces and
    parentheses, so the fields are counted from the last ``)``.
    """
    return line[line.rindex(")") + 1 :].split()


def parse_proc_stat(line: str) -> tuple[int, int]:
    """``(utime, stime)`` in clock ticks from a ``/proc/<pid>/stat`` line: fields 14 and 15
    (proc(5))."""
    fields = _stat_fields(line)
    return int(fields[11]), int(fields[12])


def parse_proc_stat_reaped(line: str) -> tuple[int, int]:
    """``(cutime, cstime)`` in clock ticks from a ``/proc/<pid>/stat`` line: fields 16 and 17,
    the CPU time of the process's children that exited and were waited for (their own
    ``cutime``/``cstime`` included)."""
    fields = _stat_fields(line)
    return int(fields[13]), int(fields[14])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        utime, stime = parse_proc_stat(stat.read())
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _read_stat(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read()
    except (FileNotFoundError, ProcessLookupError):  # it exited and was reaped meanwhile
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now (zombies included), parents before children.

    Found by reading the parent pid (field 4) of every ``/proc/<n>/stat``:
    ``/proc/<pid>/task/<tid>/children`` would be shorter but needs a kernel built with
    ``CONFIG_PROC_CHILDREN``, which not every machine has.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        line = _read_stat(int(entry))
        if line is not None:
            children.setdefault(int(_stat_fields(line)[1]), []).append(int(entry))
    tree = [pid]
    for parent in tree:  # grows while it is walked: breadth first
        tree.extend(children.get(parent, []))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by the process ``pid`` and its descendants: of
    every process of :func:`process_tree` its own time plus that of its children that
    already exited (``cutime`` + ``cstime``).

    A ``zpd serve --workers N`` is a uvicorn parent and N worker processes (and whatever
    else they spawn); a difference of two readings is the CPU the whole tree used in
    between. A child that exits keeps its times while it is a zombie, and when its parent
    (in the tree) waits for it they move into the parent's ``cutime``/``cstime``, so a
    worker that exits mid-cell (uvicorn restarts dead workers) is still counted. Not
    counted: a descendant whose parent exits first (it is reparented out of the tree, its
    time from then on is lost), and, for a process reaped during the few milliseconds of
    one reading, its time may be missed or counted twice by that reading.

    Raises:
        FileNotFoundError: the process ``pid`` itself does not exist.
    """
    total = 0
    for member in process_tree(pid):
        line = _read_stat(member)
        if line is None:
            if member == pid:
                raise FileNotFoundError(f"no process {pid}")
            continue
        total += sum(parse_proc_stat(line)) + sum(parse_proc_stat_reaped(line))
    return total / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """Total user + system CPU seconds of the processes ``pids`` and their descendants
    (:func:`tree_cpu_seconds` of each)."""
    return sum(tree_cpu_seconds(pid) for pid in pids)


def wait_settled(pid: int, timeout: float = 60, idle: float = 0.05, every: float = 0.5) -> bool:
    """Wait until the process tree of ``pid`` uses at most ``idle`` CPU seconds in
    ``every`` seconds (e.g. every worker of a ``zpd serve --workers N`` has finished
    importing and starting); False if it did not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    before = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(every)
        now = tree_cpu_seconds(pid)
        if now - before <= idle:
            return True
        before = now
    return False


def ratio(current: float | None, baseline: float | None) -> float | None:
    """``current / baseline``, or None when either is missing, not a number or the baseline 0."""
    if current is None or baseline is None or baseline == 0:
        return None
    value = current / baseline
    return None if value != value else value  # NaN from a cell without ops


# --- what a server offers -----------------------------------------------------------------------

STEP_ROUTE = "/v1/runs/{run_id}/step"  # the one-call step (report t + draw t+1)


def serves_route(url: str, path: str, method: str = "post") -> bool:
    """Whether the ZPD server at ``url`` has the route ``method path``, read from its
    ``/openapi.json``: a baseline server of an older commit may lack a newer route."""
    answer = httpx.get(f"{url}/openapi.json", timeout=30)
    answer.raise_for_status()
    return method.lower() in answer.json().get("paths", {}).get(path, {})


# --- which code a server runs: this working tree, or a baseline commit --------------------------


@dataclass(frozen=True)
class Code:
    """One copy of the code servers are started from.

    ``side`` is "current" (this working tree, uncommitted changes included) or "baseline"
    (a ``git worktree`` of ``ref``); ``dirty`` says whether ``service/`` or ``migrations/``
    had uncommitted changes, i.e. whether the code measured differs from ``commit``.
    """

    side: str
    root: Path
    ref: str
    commit: str
    dirty: bool

    def describe(self) -> str:
        extra = " + uncommitted changes" if self.dirty else ""
        return f"{self.side}: {self.ref} = {self.commit[:10]}{extra} ({self.root})"

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "commit": self.commit, "dirty": self.dirty, "root": str(self.root)}


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def current_code() -> Code:
    """This working tree, as it is now."""
    changed = _git("status", "--porcelain", "--", "service", "migrations")
    return Code("current", ROOT, "working tree", _git("rev-parse", "HEAD"), bool(changed))


@contextmanager
def code_sides(baseline_ref: str | None) -> Iterator[list[Code]]:
    """``[baseline, current]`` with a baseline ref, else ``[current]``.

    The baseline is a detached ``git worktree`` of ``baseline_ref`` in a temporary folder,
    removed on the way out, on an error, Ctrl-C or SIGTERM too.
    """
    current = current_code()
    if not baseline_ref:
        yield [current]
        return
    commit = _git("rev-parse", "--verify", f"{baseline_ref}^{{commit}}")
    folder = Path(tempfile.mkdtemp(prefix="zpd-baseline-"))
    tree = folder / "tree"
    # SIGTERM would otherwise end the process without running the cleanup below.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _git("worktree", "add", "--detach", str(tree), commit)
        yield [Code("baseline", tree, baseline_ref, commit, False), current]
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# --- zpd serve from a chosen copy of the code --------------------------------------------------

# Runs in the server process: checks that `service` and `migrations` come from the chosen
# copy (not from the editable install of another one), writes where `service` came from to a
# file, then runs `python -m service.cli serve ...`.
_LAUNCHER = """
import pathlib, runpy, sys
root, report = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
import migrations, service
for module in (service, migrations):
    where = pathlib.Path(module.__file__).resolve()
    if not where.is_relative_to(root):
        sys.exit(f"zpd bench: {module.__name__} imported from {where}, not from {root}")
pathlib.Path(report).write_text(str(pathlib.Path(service.__file__).resolve()))
sys.argv = ["zpd", *sys.argv[3:]]
runpy.run_module("service.cli", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class ZpdServer:
    """A running ``zpd serve``: its URL, process id and the file its ``service`` came from."""

    url: str
    pid: int
    service_file: str


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: IO[bytes] | None = None, timeout: float = 60
) -> None:
    """Poll ``url`` until it answers 200; raise (with the tail of ``log``) if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = ""
            if log is not None:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the server for {url} exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {timeout}s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate ``processes`` and wait for them (kill after 30 s)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def zpd_server(
    database_url: str,
    code: Code,
    env: dict[str, str] | None = None,
    log_level: str = "warning",
    log: IO[bytes] | None = None,
    workers: int = 1,
) -> Iterator[ZpdServer]:
    """``zpd serve`` (this Python) on a free port, importing the service from ``code.root``
    (its cwd and first ``PYTHONPATH`` entry); yields it once ready.

    ``workers`` > 1 passes ``--workers``: one uvicorn parent (``pid``) whose worker processes
    share its port; it is yielded once every worker has started (its process tree has them
    all and has gone idle), so that no worker's start-up is counted in a cell's CPU time
    (read with :func:`cpu_seconds`, which counts the workers). Its output goes to ``log``
    (default: discarded), whose tail is shown if it fails to start.
    """
    port = free_port()
    pythonpath = os.pathsep.join(filter(None, [str(code.root), os.environ.get("PYTHONPATH")]))
    environment = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "ZPD_DATABASE_URL": database_url,
        **(env or {}),
    }
    with tempfile.NamedTemporaryFile(prefix="zpd-service-file-") as report:
        command = [sys.executable, "-c", _LAUNCHER, str(code.root), report.name, "serve"]
        command += ["--port", str(port), "--log-level", log_level]
        if workers > 1:
            command += ["--workers", str(workers)]
        process = subprocess.Popen(
            command,
            cwd=code.root,
            env=environment,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/readyz", process, log)
            if workers > 1:
                _wait_workers(process, workers)
            service_file = Path(report.name).read_text()
            yield ZpdServer(url, process.pid, service_file)
        finally:
            stop([process])


def _wait_workers(process: subprocess.Popen[bytes], workers: int, timeout: float = 60) -> None:
    """Wait until the ``zpd serve --workers`` parent ``process`` has ``workers`` descendants
    and they have gone idle (their start-up done); raise if not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while len(process_tree(process.pid)) < 1 + workers:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"zpd serve --workers {workers} did not start its workers")
        time.sleep(0.1)
    if not wait_settled(process.pid, timeout=max(deadline - time.monotonic(), 1)):
        raise RuntimeError(f"zpd serve --workers {workers} did not settle within {timeout}s")


def report_body(drawn: dict[str, Any], rng: random.Random, report_id: str) -> dict[str, Any]:
    """The /report body of the answered sample ``drawn``: 8 rewards in {0, 0.1, 1} a problem."""
    results = [
        {**item, "rewards": [rng.choice((0.0, 0.1, 1.0)) for _ in range(8)]}
        for item in drawn["items"]
    ]
    return {"report_id": report_id, "sample_id": drawn["sample_id"], "results": results}
