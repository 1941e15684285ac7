"""Exact resume of the GRPO worker: SIGKILL after a checkpoint, `zpd train --resume-from`.

Two `zpd train` processes with the same seed run against one real `zpd serve`: one runs
straight through; the other saves a checkpoint every few steps and is killed with SIGKILL
once it has reported past a checkpoint, then resumed from its latest checkpoint (which
rewinds the run on the service). Both runs must end in the same state: the run's arm
values, probabilities and counters, every step of its history, and the batches and
rewards of the steps after the checkpoint.

Rollouts use `--rollout-backend transformers` (a transformers copy of the tiny model,
seeded per step): three vLLM engine starts (~20 s each on CPU) would take this test well
past its time budget. The vLLM path is the same loop with another engine behind
`RolloutBackend`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, require

require("torch")
require("transformers")

from trainer_client import CurriculumClient  # noqa: E402

STEPS, EVERY, KILL_AFTER = 30, 5, 12
ZPD = str(Path(sys.executable).with_name("zpd"))


def train_command(url: str, out: Path, name: str, *extra: str) -> list[str]:
    return [
        ZPD, "train", "--service-url", url, "--run-name", name, "--seed", "3",
        "--steps", str(STEPS), "--prompts-per-step", "4", "--rollouts-per-prompt", "4",
        "--max-new-tokens", "8", "--digits", "1,2,3", "--warmup-steps", "40",
        "--eval-problems", "0", "--rollout-backend", "transformers", "--device", "cpu",
        "--lr", "1e-3", "--out-dir", str(out), *extra,
    ]  # fmt: skip


def run_named(client: CurriculumClient, name: str) -> Any:
    runs = [run for run in client.list_runs() if run.name == name]
    return runs[0] if runs else None


def comparable(client: CurriculumClient, run_id: str) -> dict[str, Any]:
    run = client.get_run(run_id).model_dump()
    for key in ("run_id", "name", "created_at", "updated_at"):
        run.pop(key)
    history = client.history(run_id).model_dump()["points"]
    run["history"] = [
        {k: v for k, v in point.items() if k not in ("report_id", "created_at")}
        for point in history
    ]
    return run


def step_records(out: Path) -> dict[int, tuple[Any, Any]]:
    metrics = json.loads((out / "metrics.json").read_text())
    return {r["step"]: (r["results"], r["q"]) for r in metrics["steps"]}


@pytest.mark.slow
def test_killed_worker_resumes_exactly(tmp_path: Path) -> None:
    server = LiveServer(f"sqlite:///{tmp_path / 'zpd.db'}", workdir=tmp_path).start()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        client = CurriculumClient(server.url)
        logs = [open(tmp_path / f"{n}.log", "w") for n in ("straight", "killed", "resumed")]  # noqa: SIM115
        straight = subprocess.Popen(
            train_command(server.url, tmp_path / "straight", "straight"),
            stdout=logs[0], stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        killed_out = tmp_path / "killed"
        killed = subprocess.Popen(
            train_command(server.url, killed_out, "killed", "--checkpoint-every", str(EVERY)),
            stdout=logs[1], stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            run = run_named(client, "killed")
            if run is not None and run.step >= KILL_AFTER:
                killed.send_signal(signal.SIGKILL)
                break
            assert killed.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "the worker did not reach the kill step"
            time.sleep(0.01)
        assert killed.wait(timeout=30) == -signal.SIGKILL
        at_kill = client.get_run(run.run_id)
        assert at_kill.step < STEPS, "killed too late: the worker had finished"
        checkpoints = sorted(
            int(p.name.removeprefix("step-")) for p in (killed_out / "checkpoints").glob("step-*")
        )
        latest = checkpoints[-1]
        assert latest % EVERY == 0 and latest >= 10
        assert at_kill.step > latest, "no report after the checkpoint: nothing to rewind"

        resumed = subprocess.run(
            train_command(
                server.url, killed_out, "killed",
                "--checkpoint-every", str(EVERY),
                "--resume-from", str(killed_out / "checkpoints" / f"step-{latest}"),
            ),
            stdout=logs[2], stderr=subprocess.STDOUT, env=env, timeout=180,
        )  # fmt: skip
        assert resumed.returncode == 0, (tmp_path / "resumed.log").read_text()
        assert straight.wait(timeout=180) == 0, (tmp_path / "straight.log").read_text()
        straight_run = run_named(client, "straight")

        # the service: same arm values, probabilities, counters, sample counter, history
        expected = comparable(client, straight_run.run_id)
        got = comparable(client, run.run_id)
        assert got == expected
        assert got["step"] == STEPS and got["samples"] == STEPS
        # the reports made between the checkpoint and the kill were set aside, not lost
        (rewind,) = httpx.get(f"{server.url}/v1/runs/{run.run_id}/rewinds").json()["rewinds"]
        assert (rewind["from_step"], rewind["to_step"]) == (at_kill.step, latest)
        assert len(rewind["reports"]) == at_kill.step - latest
        # the worker: the same batches, rewards and arm values after the checkpoint
        after = step_records(killed_out)
        assert sorted(after) == list(range(latest, STEPS))
        assert after == {
            k: v for k, v in step_records(tmp_path / "straight").items() if k >= latest
        }
        # the run learned something: a test on all-zero rewards would prove little
        assert any(max(point["rewards"].values(), default=0) > 0 for point in got["history"])
    finally:
        for process in (locals().get("straight"), locals().get("killed")):
            if process is not None and process.poll() is None:
                process.kill()
        server.stop()
