"""docs/resume.md's curl example runs as written against a real ``zpd serve``."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from tests.conftest import run_doc_script

DOC = Path(__file__).resolve().parents[2] / "docs" / "resume.md"


def test_resume_curl_example_runs_as_written(sqlite_url: str, tmp_path: Path) -> None:
    (script,) = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    result = run_doc_script(script, sqlite_url, tmp_path)
    assert result.returncode == 0, result.stderr
    rewound, set_aside = result.stdout.splitlines()
    answer = json.loads(rewound)
    # three reports and four samples; back to step 2: one report and two samples set aside
    assert {k: answer[k] for k in answer if k not in ("run_id", "rewind_id")} == {
        "step": 2,
        "samples": 2,
        "from_step": 3,
        "from_samples": 4,
        "reports_set_aside": 1,
        "samples_set_aside": 2,
    }
    assert ast.literal_eval(set_aside) == ["step-3"]
