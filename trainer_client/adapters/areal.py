"""AReaL adapter: rollout episodes pull their prompt from ZPD, the trainer loop reports.

AReaL runs ``RolloutWorkflow.arun_episode(engine, data)`` coroutines on its rollout
executor's event loop, starting one whenever it has capacity, and its trainer loop collects
finished trajectories with ``prepare_batch(dataloader, workflow)``. :class:`ZPDWorkflow`
wraps your workflow so that each episode takes a lease from an
:class:`~trainer_client.adapters.async_rl.AsyncPromptSource` instead of using the loader's
item (the loader only paces the executor), runs your workflow on that dataset row, and
returns its trajectory with the lease under ``"zpd_lease"``; :func:`report_trajectories`
reports them from the trainer loop::

    workflow = ZPDWorkflow(RLVRWorkflow(...), source, rows, arms)
    for step in range(steps):
        batch = rollout.prepare_batch(tickets, workflow=workflow)
        reports, _ = report_trajectories(reporter, batch)   # pops each "zpd_lease"
        ...                                       # concat_padded_tensors(batch), train

An episode that raises or returns ``None`` leaves its lease open: the lease expires and a
later episode takes the same prompt (see docs/integrations/async.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from areal.api.workflow_api import RolloutWorkflow

from trainer_client.adapters.arms import ArmIndex
from trainer_client.adapters.async_rl import (
    AsyncPromptSource,
    Lease,
    LeaseLostError,
    LeaseReporter,
)
from trainer_client.errors import InvalidRequestError
from trainer_client.models import Report

LEASE_KEY = "zpd_lease"


class ZPDWorkflow(RolloutWorkflow):
    """A ``RolloutWorkflow`` whose episodes run on prompts leased from ZPD.

    Args:
        workflow: your workflow; it gets the dataset row of the leased problem as ``data``
            and should return one prompt's group (e.g. AReaL's ``RLVRWorkflow`` with
            ``n_samples`` rollouts).
        source: the prompt source, one prompt per lease.
        rows: the dataset rows, in the order ``arms`` was built from.
        arms: the rows grouped into the run's arms.
    """

    def __init__(
        self,
        workflow: RolloutWorkflow,
        source: AsyncPromptSource,
        rows: Sequence[Mapping[str, Any]],
        arms: ArmIndex,
    ) -> None:
        if source.prompts_per_lease != 1:
            raise InvalidRequestError(
                "ZPDWorkflow runs one prompt per episode: prompts_per_lease=1"
            )
        if len(rows) != len(arms):
            raise InvalidRequestError(f"{len(rows)} rows but the arm index has {len(arms)}")
        self.workflow = workflow
        self.source = source
        self.rows = rows
        self.arms = arms

    async def arun_episode(self, engine: Any, data: Any) -> dict[str, Any] | None:
        """Lease a prompt, run the wrapped workflow on its row, attach the lease."""
        lease = await self.source.acquire()
        assert lease is not None  # for mypy: acquire(allow_new=True) always lends
        (item,) = lease.items
        row = dict(self.rows[self.arms.row(item.arm, item.index)])
        trajectory = await self.workflow.arun_episode(engine, row)
        if trajectory is None:
            return None
        return {**trajectory, LEASE_KEY: lease}


def report_trajectories(
    reporter: LeaseReporter, trajectories: Sequence[dict[str, Any]], reward_key: str = "rewards"
) -> tuple[list[Report], list[Lease]]:
    """Report each trajectory's group rewards and remove its lease (in place), so the batch
    is tensors only again.

    A trajectory whose lease expired while it waited in AReaL's queue, and was lent again,
    is not reported (its new holder reports it): choose ``lease_seconds`` above generation
    plus queueing time to keep that rare.

    Args:
        reporter: reports with a blocking client (the trainer loop is not the executor's
            event loop).
        trajectories: what ``prepare_batch`` returned from a :class:`ZPDWorkflow`.
        reward_key: the key of the rollouts' rewards (a tensor or a list of floats).

    Returns:
        The reports sent, and the leases left to their new holders.
    """
    reports, lost = [], []
    for trajectory in trajectories:
        lease: Lease = trajectory.pop(LEASE_KEY)
        rewards = trajectory[reward_key]
        values = rewards.flatten().tolist() if hasattr(rewards, "flatten") else list(rewards)
        try:
            reports.append(reporter.report(lease, [[float(v) for v in values]]))
        except LeaseLostError:
            lost.append(lease)
    return reports, lost
