"""The ``zpd`` command line: replay rebuilds exactly the stored state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.api import create_app
from service.settings import Settings
from tests.conftest import zpd


def as_json(value: object) -> dict[str, list[float]]:
    # SQLite hands JSON columns back as text, PostgreSQL as decoded objects.
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[return-value]


def seeded_run(url: str) -> str:
    client = TestClient(create_app(Settings(database_url=url)))
    rid = client.post(
        "/v1/runs", json={"name": "r", "arms": [{"name": "a", "size": 4}, {"name": "b"}], "seed": 2}
    ).json()["run_id"]
    for k in range(5):
        sample = client.post(f"/v1/runs/{rid}/sample", json={"batch_size": 3}).json()
        results = [{**i, "rewards": [1.0, float(k % 2), 0.0]} for i in sample["items"]]
        client.post(f"/v1/runs/{rid}/report", json={"results": results}).raise_for_status()
    return str(rid)


def test_replay_matches_then_detects_and_repairs_tampering(database_url: str) -> None:
    rid = seeded_run(database_url)
    ok = zpd("replay", rid, url=database_url)
    assert ok.returncode == 0, ok.stderr
    assert "replayed 5 reports and 5 samples" in ok.stdout and "matches" in ok.stdout

    engine = create_engine(database_url)
    with engine.begin() as conn:
        state = as_json(conn.execute(text("SELECT strategy_state FROM runs")).scalar_one())
        good_q = state["q"]
        conn.execute(
            text("UPDATE runs SET strategy_state = :s"), {"s": json.dumps({"q": [9.0, 9.0]})}
        )
        conn.execute(text("UPDATE arms SET times_reported = times_reported + 1"))
    bad = zpd("replay", rid, url=database_url)
    assert bad.returncode == 1 and "q: stored [9.0, 9.0]" in bad.stdout
    assert "times_reported" in bad.stdout
    fixed = zpd("replay", rid, "--write", url=database_url)
    assert fixed.returncode == 0 and "rewritten" in fixed.stdout
    with engine.connect() as conn:
        assert (
            as_json(conn.execute(text("SELECT strategy_state FROM runs")).scalar_one())["q"]
            == good_q
        )
    engine.dispose()
    assert zpd("replay", rid, url=database_url).returncode == 0


def test_replay_of_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'z.db'}"
    create_app(Settings(database_url=url))
    result = zpd("replay", "nope", url=url)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_serve_factory_freezes_the_startup_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`zpd serve` hands uvicorn `serve_app`: the app, with the objects alive at start frozen
    out of the cyclic GC (its full collections were the p99 of a large report)."""
    import gc

    from service.api.app import serve_app

    monkeypatch.setenv("ZPD_DATABASE_URL", f"sqlite:///{tmp_path / 'zpd.db'}")
    monkeypatch.setenv("ZPD_AUTO_MIGRATE", "true")
    assert gc.get_freeze_count() == 0
    try:
        app = serve_app()
        assert gc.get_freeze_count() > 10_000  # the modules, the app and the engine at least
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()  # give this test process its collector back


HEAVY = ("torch", "vllm", "transformers")


def test_zpd_serve_never_imports_the_worker_or_torch(tmp_path: Path) -> None:
    """The whole serve path in a fresh process: `zpd serve` parses its flags, uvicorn builds
    the app and answers; then no worker module and none of torch/vLLM/transformers is loaded."""
    import subprocess
    import sys

    from tests.conftest import free_port

    port = free_port()
    code = f"""
import os, sys, threading, time, urllib.request
from service.cli import main
threading.Thread(target=main, args=(["serve", "--port", "{port}"],), daemon=True).start()
for _ in range(600):
    try:
        with urllib.request.urlopen("http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            if answer.status == 200:
                break
    except OSError:
        time.sleep(0.1)
else:
    print("never ready", flush=True)
    os._exit(1)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r} + ("gpu_worker",))
print("loaded:", loaded, flush=True)
os._exit(0)
"""
    env = {"ZPD_DATABASE_URL": f"sqlite:///{tmp_path / 'zpd.db'}", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "loaded: []" in out.stdout, out.stdout


def test_a_worker_command_loads_only_its_light_module(tmp_path: Path) -> None:
    """`zpd train --help` builds the worker's flags from gpu_worker.config without torch."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from service.cli import build_parser\n"
        "args = build_parser(['train']).parse_args(['train', '--steps', '3'])\n"
        "assert args.steps == 3 and args.func.__module__ == 'gpu_worker.cli'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        f" {HEAVY!r} or m == 'trainer_client.simulate'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # not even the other entry point's module (simulate)
