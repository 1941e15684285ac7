"""docs/problems.md's curl example of predictions and budgets works as written, against a
real server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_doc_script

DOC = Path(__file__).resolve().parents[1] / "docs" / "problems.md"


def budget_script() -> str:
    section = DOC.read_text().split("### Rollout budgets", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_budget_curl_example_runs_as_written(sqlite_url: str, tmp_path: Path) -> None:
    result = run_doc_script(budget_script(), sqlite_url, tmp_path)
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(items) == 8
    n = [item["n_rollouts"] for item in items]
    assert sum(n) == 28 and min(n) >= 2 and max(n) <= 8
    # seed 1 draws both reported problems (the doc's example shows them)
    by_problem = {(item["arm"], item["index"]): item for item in items}
    easy = by_problem[("easy", 0)]  # Beta(1 + 3, 1 + 1)
    assert easy["evidence"] == {"alpha": 4.0, "beta": 2.0, "successes": 3.0, "attempts": 4.0}
    assert easy["predicted_pass_rate"] == pytest.approx(2 / 3)
    hard = by_problem[("hard", 2)]  # Beta(1, 7): 6 of 6 failed, the doc says it keeps 2
    assert hard["evidence"]["beta"] == 7.0 and hard["n_rollouts"] == 2
