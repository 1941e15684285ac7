"""OpenRLHF 0.11.2's real prompt path (blending_datasets, PromptDataset) and its real
SamplesGenerator, dynamic filtering included, driven by ZPD against a real service.

The vLLM engine is the one stand-in (``fake_vllm_engine.py``): OpenRLHF's engine actor needs
a GPU. Ray is real (a local cluster of one CPU); difficulty 1 always passes, 2 half the time,
3 never.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

from tests.conftest import require

ray = require("ray", "make install-ml")
require("openrlhf.trainer.ppo_utils.samples_generator", "make install-ml (openrlhf --no-deps)")

from openrlhf.datasets.utils import blending_datasets  # noqa: E402

from tests.trainer_client.fake_vllm_engine import FakeVLLMEngine  # noqa: E402
from tests.trainer_client.tiny_lm import tiny_tokenizer  # noqa: E402
from trainer_client import CurriculumClient  # noqa: E402
from trainer_client.adapters.arms import ZPDSettings  # noqa: E402
from trainer_client.adapters.openrlhf import (  # noqa: E402
    ZPDPromptDataset,
    ZPDPromptLoader,
    ZPDSamplesGenerator,
)

N_SAMPLES, ROLLOUT_BATCH = 4, 4


class Strategy:
    """The parts of OpenRLHF's DeepspeedStrategy the prompt path reads (``args`` and two
    helpers); the real one needs deepspeed, which needs CUDA to install."""

    def __init__(self, args: Any) -> None:
        self.args = args

    def is_rank_0(self) -> bool:
        return True

    def print(self, *messages: Any) -> None:
        pass


def _args(filtering: bool) -> Any:
    return NS(
        data=NS(input_key="input", label_key="label", apply_chat_template=False,
                image_key="images", input_template=None),
        rollout=NS(batch_size=ROLLOUT_BATCH, n_samples_per_prompt=N_SAMPLES,
                   vllm_generate_batch_size=None),
        vllm=NS(enable_sleep=False),
        algo=NS(dynamic_filtering_enable=filtering, dynamic_filtering_range=(0.0, 1.0),
                advantage=NS(is_correction_level="off")),
        use_ms=False,
    )  # fmt: skip


def _write_rows(path: Path) -> None:
    with path.open("w") as out:
        for i in range(24):
            difficulty = 1 + i % 3
            row = {"input": f"q{i}?", "label": f"{difficulty}:{i}", "difficulty": difficulty}
            out.write(json.dumps(row) + "\n")


@pytest.fixture(scope="module")
def engines() -> Any:
    """A local Ray cluster and one engine actor, shared by the module's tests."""
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield [ray.remote(num_cpus=0)(FakeVLLMEngine).remote()]
    finally:
        ray.shutdown()


def _generator(
    tmp_path: Path, zpd_url: str, engines: Any, filtering: bool
) -> tuple[Any, ZPDPromptLoader]:
    data_file = tmp_path / "prompts.jsonl"
    _write_rows(data_file)
    strategy = Strategy(_args(filtering))
    rows = blending_datasets(str(data_file), None, strategy)
    ZPDPromptDataset.arm_fields = ("difficulty",)
    dataset = ZPDPromptDataset(rows, tiny_tokenizer(), strategy)
    settings = ZPDSettings(
        url=zpd_url, run_name=f"openrlhf-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        strategy={"name": "sec", "alpha": 0.5, "tau": 0.5}, seed=2,
    )  # fmt: skip
    loader = ZPDPromptLoader(dataset, settings, draw_size=ROLLOUT_BATCH)
    generator = ZPDSamplesGenerator(strategy, loader, None, tiny_tokenizer(), engines)
    return generator, loader


@pytest.mark.slow
def test_dynamic_filtering_replaces_from_zpd_and_reports_every_group(
    tmp_path: Path, zpd_url: str, engines: Any
) -> None:
    generator, loader = _generator(tmp_path, zpd_url, engines, filtering=True)
    client = CurriculumClient(zpd_url)
    run_id = loader.curriculum.run_id
    samples, pass_rate, consumed, exhausted = generator.generate_samples(max_len=64)
    # Only difficulty 2 (2 of 4 pass) is inside the open range (0, 1): OpenRLHF kept pulling
    # replacements from our loader until 4 such prompts were accepted, or the epoch ran out.
    kept = Counter(e.labels[0].split(":")[0] for e in samples)
    assert set(kept) <= {"2"}
    assert len(samples) == N_SAMPLES * min(ROLLOUT_BATCH, 8)
    # OpenRLHF's pass rate divides rollouts kept by prompts consumed (its formula, as is).
    assert pass_rate == pytest.approx(len(samples) / consumed * 100)
    # Every consumed prompt was reported, filtered ones included, each once.
    history = client.history(run_id)
    reported = sum(sum(p.counts.values()) for p in history.points)
    run = client.get_run(run_id)
    assert reported == ROLLOUT_BATCH * run.step
    assert consumed <= run.samples * ROLLOUT_BATCH and reported <= consumed
    assert consumed - reported < ROLLOUT_BATCH  # only the last sample can be part-used
    # Arm rewards: GRPO's mean |advantage| per group, worked by hand (2 of 4 pass: every
    # advantage is +-0.5 / std, unbiased std sqrt(1/3); all-pass/all-fail groups: 0).
    expected = {"difficulty=1": 0.0, "difficulty=2": 0.5 / (1 / 3) ** 0.5, "difficulty=3": 0.0}
    for report in loader.reports:
        for arm, value in report.arm_rewards.items():
            assert value == pytest.approx(expected[arm], rel=1e-3), arm


@pytest.mark.slow
def test_without_filtering_each_step_is_one_sample(
    tmp_path: Path, zpd_url: str, engines: Any
) -> None:
    generator, loader = _generator(tmp_path, zpd_url, engines, filtering=False)
    client = CurriculumClient(zpd_url)
    for step in range(1, 4):
        samples, _, consumed, _ = generator.generate_samples(max_len=64)
        assert consumed == ROLLOUT_BATCH and len(samples) == ROLLOUT_BATCH * N_SAMPLES
        run = client.get_run(loader.curriculum.run_id)
        assert (run.samples, run.step, run.samples_pending) == (step, step, 0)
        # The step's report counted exactly the prompts OpenRLHF generated for, per arm.
        counts = client.history(run.run_id).points[-1].counts
        generated = Counter(f"difficulty={e.labels[0].split(':')[0]}" for e in samples)
        assert {arm: n * N_SAMPLES for arm, n in counts.items() if n} == dict(generated)
    state = loader.state_dict()
    assert state == {"run_id": loader.curriculum.run_id, "served": 3 * ROLLOUT_BATCH}
