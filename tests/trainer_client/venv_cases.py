"""Running a cases file in another venv of this repository (``.venv-verl09``, ``.venv-areal``:
one framework version each, over ``.venv``'s packages), from the main pytest run."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import IN_CI
from tests.trainer_client.conftest import REPO_ROOT


def run_cases_in(venv: str, cases: str, timeout: float = 600) -> None:
    """Run ``tests/trainer_client/<cases>`` with ``<venv>/bin/python -m pytest``; fail with its
    output unless every case passed (no skips). Without the venv: skip, or fail in CI."""
    python = REPO_ROOT / venv / "bin" / "python"
    if not python.exists():
        message = f"{python} is missing: run `make install-ml`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [str(python), "-m", "pytest", f"tests/trainer_client/{cases}", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
