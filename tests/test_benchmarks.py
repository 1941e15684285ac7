"""The million-problem benchmarks still run as the docs say (a smoke run, not a timing)."""

from __future__ import annotations

import json
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
