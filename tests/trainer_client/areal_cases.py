"""AReaL 1.0.4's real rollout executor (``WorkflowExecutor.prepare_batch``, its dispatcher,
staleness manager and event-loop thread) running ``ZPDWorkflow`` against a real service,
with episodes that die.

Not collected by the main run (AReaL is not in its venv): ``test_areal_adapter.py`` runs this
file with ``.venv-areal/bin/python -m pytest``, the venv ``make`` builds with AReaL 1.0.4.
Two stand-ins: the inference engine (the executor asks it only for the policy version; the
real one is a remote SGLang/vLLM server) and the wrapped workflow (rewards fixed by the
problem; the real ones generate with that engine).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from importlib.metadata import version
from typing import Any

import pytest
import torch
from areal.api.cli_args import InferenceEngineConfig
from areal.api.workflow_api import RolloutWorkflow
from areal.infra.workflow_executor import WorkflowExecutor
from torchdata.stateful_dataloader import StatefulDataLoader

from trainer_client import AsyncCurriculumClient, CurriculumClient
from trainer_client.adapters.areal import LEASE_KEY, ZPDWorkflow, report_trajectories
from trainer_client.adapters.arms import ArmIndex
from trainer_client.adapters.async_rl import AsyncPromptSource, LeaseReporter

ROWS = [{"row": r, "difficulty": 1 + r % 3} for r in range(30)]
PASSES = {1: 4, 2: 2, 3: 1}  # of 4 rollouts
BATCH, STEPS, MAX_STEPS, LEASE_SECONDS = 4, 8, 60, 2
DYING = {2, 3, 5}  # the 2nd, 3rd and 5th episodes started die (in the first steps)


def test_the_installed_areal_is_1_0_4() -> None:
    assert version("areal") == "1.0.4"


class VersionOnlyEngine:
    """Stands in for AReaL's inference engine: the executor's staleness manager reads the
    policy version; the trainer loop bumps it after each step, as AReaL's does."""

    def __init__(self) -> None:
        self.version = 0

    def get_version(self) -> int:
        return self.version


class ToyWorkflow(RolloutWorkflow):
    """Your workflow, stood in: one prompt's 4 rollout rewards, fixed by the difficulty."""

    def __init__(self) -> None:
        self.started = 0

    async def arun_episode(self, engine: Any, data: dict[str, Any]) -> dict[str, Any]:
        self.started += 1
        number = self.started  # episodes run concurrently: read it before awaiting
        await asyncio.sleep(0.02)
        if number in DYING:
            raise RuntimeError("rollout worker died")
        passes = PASSES[data["difficulty"]]
        return {"rewards": torch.tensor([1.0 if k < passes else 0.0 for k in range(4)])}


def test_areal_executor_with_dying_episodes(zpd_url: str) -> None:
    arms = ArmIndex.from_rows(ROWS, ["difficulty"])
    with CurriculumClient(zpd_url) as client:
        run_id = client.create_run("areal", arms.arm_specs(), {"name": "sec"}, seed=4).run_id
        engine = VersionOnlyEngine()
        config = InferenceEngineConfig(
            backend="sglang", consumer_batch_size=BATCH, max_concurrent_rollouts=8,
            max_head_offpolicyness=2,
        )  # fmt: skip
        executor = WorkflowExecutor(config, engine)
        executor.initialize(train_data_parallel_size=1)
        # The source lives on the executor's event loop: its client is made there, lazily.
        source = AsyncPromptSource(
            AsyncCurriculumClient(zpd_url), run_id, lease_seconds=LEASE_SECONDS
        )
        toy = ToyWorkflow()
        workflow = ZPDWorkflow(toy, source, ROWS, arms)
        reporter = LeaseReporter(client, source)
        tickets = StatefulDataLoader(list(range(10_000)), batch_size=BATCH, collate_fn=list)
        reported: list[tuple[str, int]] = []
        handed_over: list[Any] = []  # leases that expired in the queue and went to another
        try:
            # STEPS steps, then on until the dead episodes' prompts came back and were
            # reported (they wait behind trajectories already finished), at most MAX_STEPS.
            for step in range(MAX_STEPS):
                if step >= STEPS and sum(a >= 2 for _, a in reported) >= len(DYING):
                    break
                batch = executor.prepare_batch(tickets, workflow=workflow)
                assert len(batch) == BATCH
                leases = [trajectory[LEASE_KEY] for trajectory in batch]
                reports, lost = report_trajectories(reporter, batch)
                assert all(LEASE_KEY not in trajectory for trajectory in batch)
                assert len(reports) + len(lost) == BATCH
                reported += [(le.sample_id, le.attempt) for le in leases if le not in lost]
                handed_over += lost
                engine.version += 1
                time.sleep(0.1)  # training
        finally:
            executor.destroy()
        run = client.get_run(run_id)
        history = client.history(run_id)
    ids = [sample_id for sample_id, _ in reported]
    assert len(set(ids)) == len(ids)  # none reported twice
    # The dying episodes' prompts came back (a later attempt) and were reported.
    assert sum(1 for _, attempt in reported if attempt >= 2) >= len(DYING)
    assert source.ledger.reclaimed >= len(DYING)
    # A lease handed over was reported by its new holder, or is still open.
    open_ids = set(source.ledger.lent) | {lease.sample_id for lease in source.ledger.returned}
    assert all(lease.sample_id in set(ids) | open_ids for lease in handed_over)
    # Nothing lost: every sample the service lent was reported or is still open here.
    assert run.samples == len(ids) + source.ledger.open
    assert run.step == len(ids)
    counts: Counter[str] = Counter()
    for point in history.points:
        counts.update(point.counts)
    assert sum(counts.values()) == len(ids)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    torch.set_num_threads(1)
