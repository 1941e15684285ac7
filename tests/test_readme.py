"""The README's curl tour works as written, against a real server."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import run_doc_script

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_script() -> str:
    text = README.read_text()
    section = text.split("## Five-minute tour with curl", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the tour has a serve block and a curl block"
    return blocks[1]


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().splitlines()[:10]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_curl_tour_runs_as_written(sqlite_url: str, tmp_path: Path) -> None:
    result = run_doc_script(tour_script(), sqlite_url, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run: ")
    items = ast.literal_eval(lines[1])
    assert len(items) == 4 and all(i["arm"] in {"easy", "medium", "hard"} for i in items)
    q = ast.literal_eval(lines[2])
    # as the README says: medium's rollouts disagree, easy and hard teach nothing
    assert q["medium"] > 0 and q["easy"] == 0 and q["hard"] == 0
    probabilities = ast.literal_eval(lines[4])
    assert max(probabilities, key=probabilities.get) == "medium"
