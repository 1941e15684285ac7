"""Optional packages are asked for through ``tests.conftest.require`` only: a test that
needs a missing one skips on a laptop but fails with ``CI=true``, so CI never skips quietly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_test_module_skips_on_a_missing_package_by_itself() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "tests").rglob("*.py"))
        if re.search(r"\bimportorskip\(", path.read_text())
    ]
    assert offenders == [], f"use tests.conftest.require(...) instead of importorskip: {offenders}"


def _run_with(ci: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_needs_a_missing_package.py"
    test.write_text(
        "from tests.conftest import require\n"
        "require('zpd_no_such_package', 'pip install it')\n"
        "def test_never_reached():\n"
        "    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(REPO)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(test)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_require_skips_outside_ci(tmp_path: Path) -> None:
    done = _run_with(None, tmp_path)
    # 5: pytest's "no test ran" (the whole module skipped), never 1 (a failure)
    assert done.returncode in (0, 5), done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "zpd_no_such_package is not installed" in done.stdout


def test_require_fails_in_ci(tmp_path: Path) -> None:
    done = _run_with("true", tmp_path)
    assert done.returncode not in (0, 5), done.stdout + done.stderr
    assert "CI must install every optional package" in done.stdout + done.stderr
