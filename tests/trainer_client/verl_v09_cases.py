"""verl 0.9's real classes (get_dataset_class through data.custom_cls, RLHFDataset,
create_rl_sampler, StatefulDataLoader, collate_fn, DataProto, GRPO advantages) driving
``ZPDDataset`` against a real service.

Not collected by the main run (its venv has verl 0.7.1): ``test_verl_v09_adapter.py`` runs
this file with ``.venv-verl09/bin/python -m pytest``, the venv ``make`` builds with verl 0.9.1.
"""

from __future__ import annotations

import os
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torchdata.stateful_dataloader import StatefulDataLoader
from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler
from verl.utils.dataset.rl_dataset import collate_fn

from tests.trainer_client.tiny_lm import tiny_tokenizer
from tests.trainer_client.verl_toy import BATCH, SIGNAL, chat_tokenizer, trained_batch, write_rows
from trainer_client import CurriculumClient
from trainer_client.adapters.verl import ZPDDataset

torch.set_num_threads(1)


def test_the_installed_verl_is_0_9() -> None:
    assert version("verl").startswith("0.9.")


def _config(train: Path, val: Path, zpd_url: str) -> Any:
    return OmegaConf.create(
        {
            "train_files": str(train), "val_files": str(val), "prompt_key": "prompt",
            "max_prompt_length": 32, "filter_overlong_prompts": False, "truncation": "error",
            "shuffle": True, "seed": 0, "train_batch_size": BATCH, "gen_batch_size": None,
            "dataloader_num_workers": 0,
            "custom_cls": {"path": "pkg://trainer_client.adapters.verl", "name": "ZPDDataset"},
            "zpd": {
                "url": zpd_url, "run_name": f"verl09-{os.getpid()}-{uuid.uuid4().hex[:6]}",
                "arm_fields": ["extra_info.task", "extra_info.difficulty"],
                "strategy": {"name": "sec", "alpha": 0.5, "tau": 0.5}, "seed": 1,
            },
        }
    )  # fmt: skip


def _datasets(tmp_path: Path, zpd_url: str) -> tuple[Any, Any, Any]:
    train, val = tmp_path / "train.parquet", tmp_path / "val.parquet"
    write_rows(train, 16)
    write_rows(val, 4)
    config = _config(train, val, zpd_url)
    tokenizer = chat_tokenizer()
    # verl's own factory, as its trainers call it: the class comes from data.custom_cls.
    train_set = create_rl_dataset(config.train_files, config, tokenizer, None)
    val_set = create_rl_dataset(config.val_files, config, tokenizer, None)
    return train_set, val_set, config


def _arm(info: dict[str, Any]) -> str:
    return f"task={info['task']},difficulty={info['difficulty']}"


def test_verl09_dataset_end_to_end(tmp_path: Path, zpd_url: str) -> None:
    train_set, val_set, config = _datasets(tmp_path, zpd_url)
    assert isinstance(train_set, ZPDDataset) and train_set.drawing
    assert isinstance(val_set, ZPDDataset) and not val_set.drawing  # validation stays plain
    loader = StatefulDataLoader(
        train_set, batch_size=BATCH, sampler=create_rl_sampler(config, train_set),
        num_workers=0, drop_last=True, collate_fn=collate_fn,
    )  # fmt: skip
    client = CurriculumClient(zpd_url)
    run_id = train_set.curriculum.run_id
    q = dict.fromkeys(SIGNAL, 0.0)
    for step, batch_dict in enumerate(loader):
        if step == 3:
            break
        assert client.get_run(run_id).samples == step + 1  # lazy: one draw per batch
        batch = trained_batch(batch_dict)
        train_set.on_batch_end(batch=batch)  # as verl's PPO loop calls it
        report = train_set.reports[-1]
        drawn = {_arm(info) for info in batch.non_tensor_batch["extra_info"]}
        assert report.arm_rewards == pytest.approx({a: SIGNAL[a] for a in drawn}, rel=1e-6)
        for arm in drawn:  # TD(0) replayed by hand, alpha 0.5, present arms only
            q[arm] = 0.5 * SIGNAL[arm] + 0.5 * q[arm]
        assert report.q == pytest.approx(q, rel=1e-6, abs=1e-9)
    run = client.get_run(run_id)
    assert run.step == 3 and [a.name for a in run.arms] == list(SIGNAL)
    assert [a.size for a in run.arms] == [4, 4, 4, 4]
    assert run.samples_pending == 1  # the batch drawn for the break step, never trained


def test_rows_are_the_drawn_problems(tmp_path: Path, zpd_url: str) -> None:
    train_set, _, config = _datasets(tmp_path, zpd_url)
    loader = StatefulDataLoader(
        train_set, batch_size=BATCH, sampler=create_rl_sampler(config, train_set),
        collate_fn=collate_fn,
    )  # fmt: skip
    batch_dict = next(iter(loader))
    (drawn,) = train_set._open.values()
    # Row of problem i of an arm = the arm's i-th row in file order (rows alternate a/b and
    # difficulty 1,1,2,2: row r has task "ab"[r % 2], difficulty 1 + (r // 2) % 2).
    expected = []
    for item in drawn.items:
        rows = [
            r
            for r in range(16)
            if _arm({"task": "ab"[r % 2], "difficulty": 1 + (r // 2) % 2}) == item.arm
        ]
        expected.append(rows[item.index])
    assert [info["index"] for info in batch_dict["extra_info"]] == expected
    assert list(batch_dict["zpd_slot"]) == [0, 1, 2, 3]


def test_reordered_and_filtered_batches_report_per_problem(tmp_path: Path, zpd_url: str) -> None:
    train_set, _, config = _datasets(tmp_path, zpd_url)
    loader = iter(
        StatefulDataLoader(train_set, batch_size=BATCH, sampler=create_rl_sampler(config, train_set), collate_fn=collate_fn)
    )  # fmt: skip
    client = CurriculumClient(zpd_url)
    run_id = train_set.curriculum.run_id
    # verl's balance_batch reorders rollouts: every problem is still reported with its index.
    batch = trained_batch(next(loader))
    batch.reorder(torch.tensor(np.random.default_rng(0).permutation(len(batch))))
    train_set.on_batch_end(batch=batch)
    # Filtering drops a prompt's group: its slot is left out, the rest is reported.
    batch = trained_batch(next(loader))
    keep = batch.non_tensor_batch["uid"] != batch.non_tensor_batch["uid"][0]
    train_set.on_batch_end(batch=batch[np.nonzero(keep)[0]])
    history = client.history(run_id)
    assert [p.step for p in history.points] == [1, 2]
    assert sum(history.points[0].counts.values()) == BATCH
    assert sum(history.points[1].counts.values()) == BATCH - 1
    run = client.get_run(run_id)
    assert run.samples_pending == 0  # both samples closed by their reports


def test_worker_processes_are_refused(tmp_path: Path, zpd_url: str) -> None:
    train, val = tmp_path / "train.parquet", tmp_path / "val.parquet"
    write_rows(train, 8)
    config = _config(train, val, zpd_url)
    config.dataloader_num_workers = 2
    with pytest.raises(ValueError, match="dataloader_num_workers=0"):
        create_rl_dataset(config.train_files, config, tiny_tokenizer(), None)


def test_verls_ppo_loop_calls_on_batch_end() -> None:
    """The hook the report rides on, read from the installed verl's PPO loop."""
    import inspect

    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    assert "self.train_dataset.on_batch_end(batch=batch)" in inspect.getsource(RayPPOTrainer.fit)


def _doc_overrides() -> list[str]:
    import re
    import shlex

    from tests.trainer_client.conftest import REPO_ROOT

    text = (REPO_ROOT / "docs" / "integrations" / "verl_v09.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    (command,) = [b for b in blocks if "verl.trainer.main_ppo" in b]
    lines = [line.split("#")[0] if "# " in line else line for line in command.splitlines()]
    tokens = shlex.split(" ".join(line.rstrip("\\ ") for line in lines))
    return [t for t in tokens if "=" in t]


def test_the_doc_command_builds_the_dataset(tmp_path: Path, zpd_url: str) -> None:
    import hydra
    import verl

    overrides = _doc_overrides()
    assert "data.custom_cls.name=ZPDDataset" in overrides and "trainer.use_v1=False" in overrides
    run_name = f"verl09-doc-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    overrides = [
        o.replace("http://127.0.0.1:8000", zpd_url).replace("=countdown-sec", f"={run_name}")
        for o in overrides
    ] + [f"data.train_files={tmp_path / 'train.parquet'}", "data.train_batch_size=4",
         "data.max_prompt_length=32", "data.filter_overlong_prompts=False"]  # fmt: skip
    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with hydra.initialize_config_dir(config_dir=config_dir, version_base=None):
        config = hydra.compose(config_name="ppo_trainer", overrides=overrides)
    assert config.trainer.use_v1 is False
    write_rows(tmp_path / "train.parquet", 16)
    tokenizer = chat_tokenizer()
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    assert isinstance(dataset, ZPDDataset) and dataset.drawing
    rows = [dataset[i] for i in range(8)]
    assert all(row["zpd_sample_id"] for row in rows)
    run = CurriculumClient(zpd_url).get_run(dataset.curriculum.run_id)
    assert run.name == run_name and run.samples == 2 and run.strategy["tau"] == 0.5
    assert [arm.name for arm in run.arms] == list(SIGNAL)
