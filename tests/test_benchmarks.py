"""The million-problem benchmarks still run as the docs say (a smoke run, not a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["bench_problems.py", "bench_auto_arms.py"])
def test_million_problem_benchmark_runs_as_a_script(script: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--seen", "2000", "--iterations", "6"]
        + ["--no-postgres", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sample(256) median" in done.stdout
    result = json.loads(out.read_text())
    assert (result["problems"], result["seen"], result["iterations"]) == (1_000_000, 2000, 6)
    for call in ("sample", "report"):
        timing = result["results"]["sqlite"][call]
        assert timing["n"] == 6 and 0 < timing["median_ms"] <= timing["p99_ms"]


# --- the load and step benchmarks: CPU time, goals, before/after ------------------------------


def test_proc_stat_fields_are_counted_from_the_last_parenthesis() -> None:
    from benchmarks.common import parse_proc_stat, parse_proc_stat_reaped

    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...: a command name with spaces and parentheses in it.
    line = "4242 (zpd (serve) 2) S 1 4242 4242 0 -1 4194560 900 0 3 0 250 40 7 9 20 0 5 0"
    assert parse_proc_stat(line) == (250, 40)
    assert parse_proc_stat_reaped(line) == (7, 9)  # cutime, cstime: waited-for children


def test_process_cpu_seconds_agrees_with_the_process_clock() -> None:
    import os
    import time

    from benchmarks.common import process_cpu_seconds

    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn CPU so there is something to count
        pass
    # /proc counts in clock ticks (10 ms at 100 Hz); time.process_time is the same process's
    # user + system time from another source (clock_gettime).
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert abs(process_cpu_seconds(os.getpid()) - time.process_time()) <= 3 * tick


# A child that burns 0.3 s of CPU (by its own clock), says so, then waits for EOF on stdin.
_BURN = """
import sys, time
deadline = time.process_time() + 0.3
while time.process_time() < deadline:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""
# Starts the burner, prints its pid once it has burnt; on a line from stdin lets it exit and
# waits for it (its CPU time moves into this process's cutime/cstime), says so, and waits.
_PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {_BURN!r}], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
sys.stdin.readline()
child.stdin.close()
child.wait()
print("reaped", flush=True)
sys.stdin.readline()
"""


def test_tree_cpu_counts_a_child_alive_and_after_it_exited() -> None:
    from benchmarks.common import process_cpu_seconds, process_tree, tree_cpu_seconds

    root = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert root.stdin is not None and root.stdout is not None
    try:
        child_text, word = root.stdout.readline().split()
        child = int(child_text)
        assert word == "burnt"
        assert process_tree(root.pid) == [root.pid, child]
        # both idle now (blocked on a pipe): their own readings do not move
        child_cpu = process_cpu_seconds(child)
        root_cpu = process_cpu_seconds(root.pid)
        assert child_cpu >= 0.25  # 0.3 s by its own clock; /proc counts 10 ms ticks
        assert tree_cpu_seconds(root.pid) >= root_cpu + child_cpu

        root.stdin.write("\n")
        root.stdin.flush()
        assert root.stdout.readline() == "reaped\n"
        assert process_tree(root.pid) == [root.pid]
        # the exited child is still counted, through its parent's cutime + cstime
        assert tree_cpu_seconds(root.pid) >= root_cpu + child_cpu
    finally:
        root.kill()
        root.wait()
    with pytest.raises(FileNotFoundError):
        tree_cpu_seconds(root.pid)


def _row(what: str, backend: str, mode: str, clients: int, code: str | None, **kw: float) -> dict:
    return {"what": what, "backend": backend, "mode": mode, "clients": clients, "code": code, **kw}


def test_goals_from_a_hand_made_run() -> None:
    from benchmarks.bench_load import Bench, goals

    one = "zpd one-call step"
    skipped = Bench(1.0, (1,))  # a baseline without /step: its one-call cell is skipped
    skipped.skip(one, "sqlite", "batched", 1, "baseline", "no /step")
    rows = [
        _row("floor", "sqlite", "single", 1, None, p50_ms=12.0, ops_per_s=80.0),
        _row("floor", "postgresql", "single", 1, None, p50_ms=10.0, ops_per_s=100.0),
        _row("floor", "postgresql", "single", 8, None, p50_ms=20.0, ops_per_s=400.0),
        _row("optuna", "postgresql", "single", 1, None, p50_ms=50.0, ops_per_s=20.0),
        # baseline before current, as the benchmark interleaves them
        _row("zpd step", "sqlite", "batched", 1, "baseline", p50_ms=60.0, ops_per_s=16.0),
        _row("zpd step", "sqlite", "batched", 1, "current", p50_ms=30.0, ops_per_s=33.0),
        _row("zpd step", "sqlite", "batched", 8, "current", p50_ms=999.0, ops_per_s=1.0),
        _row("zpd step", "postgresql", "batched", 1, "current", p50_ms=40.0, ops_per_s=25.0),
        _row("zpd step", "postgresql", "single", 1, "baseline", p50_ms=4.0, ops_per_s=250.0),
        _row("zpd step", "postgresql", "single", 1, "current", p50_ms=3.0, ops_per_s=300.0),
        _row("zpd step", "postgresql", "single", 8, "current", p50_ms=40.0, ops_per_s=200.0),
        _row("zpd step", "postgresql x2", "single", 8, "current", p50_ms=26.0, ops_per_s=300.0),
        *skipped.rows,
        _row(one, "sqlite", "batched", 1, "current", p50_ms=18.0, ops_per_s=55.0),
        _row(one, "postgresql", "batched", 1, "current", p50_ms=33.0, ops_per_s=30.0),
        _row(one, "postgresql", "single", 1, "current", p50_ms=2.0, ops_per_s=500.0),
        _row(one, "postgresql", "single", 8, "current", p50_ms=50.0, ops_per_s=150.0),
        _row(one, "postgresql x2", "single", 8, "current", p50_ms=30.0, ops_per_s=270.0),
    ]
    block = goals(rows, ["baseline", "current"])
    assert [g["goal"] for g in block] == ["a", "a", "b", "c", "d", "a1", "a1", "b1", "c1", "d1"]
    assert all("one-call" in g["what"] for g in block[5:])
    assert [g["target"] for g in block[5:]] == [g["target"] for g in block[:5]]
    # (a) 30/12 and 40/10 against <= 3; (b) 300/20 against >= 10, aim 20; (c) 200/400
    # against >= 0.4; (d) 300/200 against >= 1.6. The same on the one-call rows: (a1) 18/12
    # and 33/10, (b1) 500/20, (c1) 150/400, (d1) 270/150.
    assert [g["value"] for g in block] == pytest.approx(
        [2.5, 4.0, 15.0, 0.5, 1.5, 1.5, 3.3, 25.0, 0.375, 1.8]
    )
    met = [True, False, True, True, False, True, False, True, False, True]
    assert [g["met"] for g in block] == met
    assert (block[2]["aim_met"], block[7]["aim_met"]) == (False, True)
    # the baseline: (a) sqlite 60/12, (b) 250/20; the rest was not measured on it, and its
    # one-call cell was skipped
    assert block[0]["baseline_value"] == pytest.approx(5.0)
    assert block[2]["baseline_value"] == pytest.approx(12.5)
    assert [g["baseline_met"] for g in block] == [False, None, True] + [None] * 7
    assert [block[i]["baseline_value"] for i in (1, 3, 4, 5, 6, 7, 8, 9)] == [None] * 8
    assert block[5]["baseline_skipped"] == "no /step"
    assert [i for i, g in enumerate(block) if "baseline_skipped" in g] == [5]
    assert not any("skipped" in g for g in block)  # nothing skipped on the current side


def test_goals_without_baseline_or_postgresql() -> None:
    from benchmarks.bench_load import goals

    rows = [
        _row("floor", "sqlite", "single", 1, None, p50_ms=4.0, ops_per_s=200.0),
        _row("zpd step", "sqlite", "batched", 1, "current", p50_ms=11.0, ops_per_s=80.0),
    ]
    block = goals(rows)
    assert block[0]["value"] == pytest.approx(2.75) and block[0]["met"] is True
    assert [g["value"] for g in block[1:]] == [None] * 9
    assert [g["met"] for g in block[1:]] == [None] * 9
    assert not any(key.startswith("baseline") for g in block for key in g)


def test_workers_scaling_from_a_hand_made_run() -> None:
    from benchmarks.bench_load import Bench, workers_scaling

    one = "zpd one-call step"
    skipped = Bench(1.0, (8,))  # a baseline without /step: its one-call cell is skipped
    skipped.skip(one, "postgresql w2", "single", 8, "baseline", "no /step")
    rows = [
        _row("zpd step", "postgresql", "single", 8, "baseline", ops_per_s=50.0),
        _row("zpd step", "postgresql", "single", 8, "current", ops_per_s=80.0),
        _row("zpd step", "postgresql", "single", 1, "current", ops_per_s=999.0),
        _row("zpd step", "postgresql x2", "single", 8, "current", ops_per_s=999.0),
        _row("zpd step", "postgresql w2", "single", 8, "baseline", ops_per_s=60.0),
        _row("zpd step", "postgresql w2", "single", 8, "current", ops_per_s=120.0),
        _row("zpd step", "postgresql w2", "batched", 8, "current", ops_per_s=999.0),
        _row(one, "postgresql", "single", 8, "current", ops_per_s=100.0),
        _row(one, "postgresql w2", "single", 8, "current", ops_per_s=130.0),
        *skipped.rows,
    ]
    block = workers_scaling(rows, ["baseline", "current"])
    assert "postgresql w2 / postgresql" in block["what"] and "8 clients" in block["what"]
    # current: two-call 120/80, one-call 130/100; baseline: two-call 60/50, one-call skipped
    assert block["current"] == {"zpd step": pytest.approx(1.5), one: pytest.approx(1.3)}
    assert block["baseline"] == {"zpd step": pytest.approx(1.2), one: None}
    # no 8-client cells (e.g. --clients 1): nothing to say
    assert workers_scaling(rows[2:3]) == {
        "what": block["what"],
        "current": {"zpd step": None, one: None},
    }


def test_ratios_current_over_baseline() -> None:
    from benchmarks.bench_load import compare

    current = {"ops_per_s": 30.0, "p50_ms": 10.0, "p99_ms": 40.0, "server_cpu_ms_per_op": None}
    baseline = {"ops_per_s": 20.0, "p50_ms": 20.0, "p99_ms": 0.0, "server_cpu_ms_per_op": 4.0}
    assert compare(current, baseline) == {
        "ops_per_s": pytest.approx(1.5),
        "p50_ms": pytest.approx(0.5),
        "p99_ms": None,  # baseline 0: no ratio
        "server_cpu_ms_per_op": None,  # not measured on the current side
    }


def _git_head() -> bool:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True)
    return done.returncode == 0


def _worktrees() -> str:
    done = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout


def _commit_without_step_route() -> str | None:
    """The commit before the one that added ``POST /v1/runs/{run_id}/step``, if this
    checkout's history holds it."""
    added = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--diff-filter=A", "--", "service/domain/steps.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not added:
        return None
    parent = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{added}^"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return parent.stdout.strip() if parent.returncode == 0 else None


@pytest.mark.skipif(not _git_head(), reason="needs a git checkout for --baseline-ref")
def test_bench_step_against_a_baseline_worktree(tmp_path: Path) -> None:
    out = tmp_path / "step.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_step.py", "--steps", "3", "--math-iterations", "20"]
        + ["--no-postgres", "--baseline-ref", "HEAD", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "server CPU/call" in done.stdout and "current / baseline" in done.stdout
    result = json.loads(out.read_text())
    baseline_root = result["code"]["baseline"]["root"]
    assert baseline_root not in _worktrees() and not Path(baseline_root).exists()
    labels = list(result["results"])
    assert labels.index("http sqlite NORMAL [baseline]") + 1 == labels.index("http sqlite NORMAL")
    before, after = (
        result["results"]["http sqlite NORMAL [baseline]"],
        result["results"]["http sqlite NORMAL"],
    )
    assert before["service_file"].startswith(baseline_root + "/")
    assert after["service_file"] == str(ROOT / "service" / "__init__.py")
    for row in (before, after):
        assert row["server_cpu"]["calls"] == 6 and row["server_cpu"]["seconds"] >= 0
    assert after["vs_baseline"]["step_median"] == pytest.approx(
        after["step"]["median_ms"] / before["step"]["median_ms"]
    )
    # the one-call rows (HEAD has /step): after the two-call ones, baseline first; one call
    # per step, so the server CPU per call is the CPU per step
    assert labels.index("http sqlite NORMAL") + 1 == labels.index(
        "http sqlite NORMAL one-call [baseline]"
    )
    assert labels.index("http sqlite NORMAL one-call [baseline]") + 1 == labels.index(
        "http sqlite NORMAL one-call"
    )
    one_before, one_after = (
        result["results"]["http sqlite NORMAL one-call [baseline]"],
        result["results"]["http sqlite NORMAL one-call"],
    )
    assert one_before["service_file"].startswith(baseline_root + "/")
    for row in (one_before, one_after):
        assert "skipped" not in row and "sample" not in row and "report" not in row
        assert row["step"]["n"] == 3 and 0 < row["step"]["median_ms"] <= row["step"]["p99_ms"]
        cpu = row["server_cpu"]
        assert cpu["calls"] == 3 and cpu["seconds"] >= 0
        assert cpu["ms_per_call"] == cpu["ms_per_step"] == pytest.approx(cpu["seconds"] * 1000 / 3)
    assert one_after["vs_baseline"]["step_median"] == pytest.approx(
        one_after["step"]["median_ms"] / one_before["step"]["median_ms"]
    )
    assert one_after["vs_baseline"]["sample_median"] is None


@pytest.mark.skipif(not _git_head(), reason="needs a git checkout for --baseline-ref")
def test_bench_load_against_a_baseline_worktree(tmp_path: Path) -> None:
    # a baseline from before /step: its two-call cells run, its one-call cells are skipped
    ref = _commit_without_step_route()
    if ref is None:
        pytest.skip("the history before POST /v1/runs/{run_id}/step is not in this checkout")
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_load.py", "--seconds", "0.2", "--clients", "1"]
        + ["--no-postgres", "--baseline-ref", ref, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "goals (current code; baseline in brackets)" in done.stdout
    result = json.loads(out.read_text())
    baseline = result["code"]["baseline"]
    assert baseline["root"] not in _worktrees() and not Path(baseline["root"]).exists()
    assert baseline["service_file"].startswith(baseline["root"] + "/")
    assert result["code"]["current"]["service_file"] == str(ROOT / "service" / "__init__.py")
    zpd = [r for r in result["rows"] if r["what"] == "zpd step"]
    assert [(r["mode"], r["code"]) for r in zpd] == [
        ("batched", "baseline"),
        ("batched", "current"),
        ("single", "baseline"),
        ("single", "current"),
    ]
    for row in zpd:
        assert row["server_cpu_ms_per_op"] == pytest.approx(row["server_cpu_s"] * 1000 / row["ops"])
    assert zpd[1]["vs_baseline"]["ops_per_s"] == pytest.approx(
        zpd[1]["ops_per_s"] / zpd[0]["ops_per_s"]
    )
    sqlite_goal = result["goals"][0]
    floor = next(r for r in result["rows"] if r["what"] == "floor")
    assert sqlite_goal["value"] == pytest.approx(zpd[1]["p50_ms"] / floor["p50_ms"])
    assert sqlite_goal["baseline_value"] == pytest.approx(zpd[0]["p50_ms"] / floor["p50_ms"])

    # the one-call step: measured on the current servers, skipped (not failed) on the baseline
    one = [r for r in result["rows"] if r["what"] == "zpd one-call step"]
    assert [(r["mode"], r["code"]) for r in one] == [
        ("batched", "baseline"),
        ("batched", "current"),
        ("single", "baseline"),
        ("single", "current"),
    ]
    for row in one[0::2]:
        assert "POST /v1/runs/{run_id}/step" in row["skipped"]
        assert row["ops"] is None and row["p50_ms"] is None
    for row in one[1::2]:
        assert "skipped" not in row and "vs_baseline" not in row
        assert row["ops"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["server_cpu_ms_per_op"] == pytest.approx(row["server_cpu_s"] * 1000 / row["ops"])
    assert done.stdout.count("skipped: its servers have no POST /v1/runs/{run_id}/step") >= 2
    one_call_goal = next(g for g in result["goals"] if g["goal"] == "a1" and "sqlite" in g["what"])
    assert "one-call" in one_call_goal["what"] and one_call_goal["target"] == "<= 3x"
    assert one_call_goal["value"] == pytest.approx(one[1]["p50_ms"] / floor["p50_ms"])
    assert one_call_goal["baseline_value"] is None and one_call_goal["baseline_met"] is None
    assert "POST /v1/runs/{run_id}/step" in one_call_goal["baseline_skipped"]


@pytest.mark.postgres
def test_bench_load_measures_one_server_with_two_workers(
    postgres_admin: str, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_load.py", "--seconds", "0.2", "--clients", "1"]
        + ["--log-level", "warning", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "ZPD_TEST_POSTGRES_URL": postgres_admin},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = {
        (r["what"], r["backend"], r["mode"]): r for r in result["rows"] if r["code"] == "current"
    }
    cells = [
        (what, mode) for mode in ("batched", "single") for what in ("zpd step", "zpd one-call step")
    ]
    for what, mode in cells:
        row = rows[(what, "postgresql w2", mode)]
        assert row["clients"] == 1 and "skipped" not in row
        assert row["ops"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["server_cpu_s"] > 0

    # The same ops cost about the same CPU in a worker process as in a single-process
    # server; the uvicorn parent alone (which only pings its workers) would show almost none.
    def cpu_per_op(backend: str) -> float:
        chosen = [rows[(what, backend, mode)] for what, mode in cells]
        return sum(r["server_cpu_s"] for r in chosen) / sum(r["ops"] for r in chosen)

    assert cpu_per_op("postgresql w2") >= 0.25 * cpu_per_op("postgresql")
    # the information line: no 8-client cells in this run
    assert "info (no goal): single-item steps/s, postgresql w2 / postgresql" in done.stdout
    assert result["workers_scaling"]["current"] == {"zpd step": None, "zpd one-call step": None}
