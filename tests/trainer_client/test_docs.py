"""The integration docs run as written: their code is extracted from the Markdown and run."""

from __future__ import annotations

import os
import re
import shlex
import uuid
from pathlib import Path

from tests.conftest import require
from tests.trainer_client.conftest import REPO_ROOT
from trainer_client import CurriculumClient

DOCS = REPO_ROOT / "docs" / "integrations"


def _blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_plain_loop_doc_snippet(zpd_url: str, client: CurriculumClient) -> None:
    (snippet,) = _blocks("plain_loop.md", "python")
    name = f"doc-{uuid.uuid4().hex[:8]}"
    code = snippet.replace("http://127.0.0.1:8000", zpd_url).replace('"countdown-sec"', repr(name))
    exec(compile(code, "plain_loop.md", "exec"), {"__name__": "doc"})
    (run,) = [run for run in client.list_runs() if run.name == name]
    assert run.step == 20 and sum(arm.times_sampled for arm in run.arms) == 20 * 64
    # Level 1 is always solved (no signal), level 2 half the time (the most signal).
    assert run.arm("level-2").q > run.arm("level-1").q == 0.0


def _verl_overrides() -> list[str]:
    (command,) = [b for b in _blocks("verl.md", "bash") if "verl.trainer.main_ppo" in b]
    lines = [line.split("#")[0] if "# " in line else line for line in command.splitlines()]
    tokens = shlex.split(" ".join(line.rstrip("\\ ") for line in lines))
    return [t for t in tokens if "=" in t]


def test_verl_doc_config_builds_the_sampler(tmp_path: Path, zpd_url: str) -> None:
    require("verl.experimental.dataset.sampler")
    hydra = require("hydra")
    import verl
    from verl.trainer.main_ppo import create_rl_sampler

    from tests.trainer_client.test_verl_adapter import _rlhf_dataset
    from tests.trainer_client.verl_toy import write_rows
    from trainer_client.adapters.verl import ZPDCurriculumSampler

    overrides = _verl_overrides()
    assert "data.sampler.class_name=ZPDCurriculumSampler" in overrides
    run_name = f"verl-doc-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    overrides = [
        o.replace("http://127.0.0.1:8000", zpd_url).replace("=countdown-sec", f"={run_name}")
        for o in overrides
    ] + [f"data.train_files={tmp_path / 'train.parquet'}", "data.train_batch_size=4",
         "data.max_prompt_length=32", "data.filter_overlong_prompts=False"]  # fmt: skip
    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with hydra.initialize_config_dir(config_dir=config_dir, version_base=None):
        config = hydra.compose(config_name="ppo_trainer", overrides=overrides)
    write_rows(tmp_path / "train.parquet")
    sampler = create_rl_sampler(config.data, _rlhf_dataset(tmp_path / "train.parquet", config.data))
    assert isinstance(sampler, ZPDCurriculumSampler)
    rows = list(iter(sampler))
    assert len(rows) == 16 and len(set(rows)) > 1
    client = CurriculumClient(zpd_url)
    run = client.get_run(sampler.curriculum.run_id)
    assert run.name == run_name and run.samples == 4 and run.strategy["tau"] == 0.5
    assert [arm.name for arm in run.arms] == [
        "task=a,difficulty=1", "task=a,difficulty=2", "task=b,difficulty=1", "task=b,difficulty=2"
    ]  # fmt: skip
