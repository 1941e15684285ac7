"""The examples run as written, against a real service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import require
from tests.trainer_client.conftest import REPO_ROOT
from trainer_client import CurriculumClient


def test_plain_loop_example(zpd_url: str, client: CurriculumClient) -> None:
    done = subprocess.run(
        [sys.executable, "examples/plain_loop.py", "--url", zpd_url, "--steps", "12",
         "--batch-size", "16", "--seed", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 13 and lines[0].startswith("step   1 ")
    run_id = lines[-1].split()[1].rstrip(":")
    run = client.get_run(run_id)
    assert run.name == "plain-loop" and run.step == 12 and run.samples == 12
    assert sum(arm.times_sampled for arm in run.arms) == 12 * 16
    # Skill starts at 1: level 1 is solved about half the time (strong signal), level 5
    # almost never (sigmoid(3 * (1.3 - 5)) < 1e-4: no signal), so their values must part.
    assert run.arm("level-1").q > 0.1
    assert run.arm("level-5").q < 1e-3
    assert run.arm("level-1").probability > run.arm("level-5").probability


def test_trl_example(zpd_url: str, client: CurriculumClient, tmp_path: Path) -> None:
    require("trl")
    run_name = f"trl-example-{os.getpid()}"
    done = subprocess.run(
        [sys.executable, "examples/trl_grpo.py", "--url", zpd_url, "--max-steps", "3",
         "--run-name", run_name, "--output-dir", str(tmp_path / "out")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 steps reported" in done.stdout
    (run,) = [run for run in client.list_runs() if run.name == run_name]
    assert run.step == 3 and [a.name for a in run.arms] == [f"difficulty={d}" for d in range(1, 5)]
    # 3 steps x 2 prompts drawn per generation batch; accelerate fetches one batch ahead.
    assert sum(a.times_sampled for a in run.arms) in (6, 8)
