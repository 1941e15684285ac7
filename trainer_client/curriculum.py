"""A high-level helper that keeps a training loop readable.

    cur = Curriculum.create(client, "countdown", ["easy", "medium", "hard"], {"name": "sec"})
    for step in range(steps):
        batch = cur.next_batch(256)                 # which problems to train on
        rewards = [rollout_rewards(item) for item in batch]   # one list per problem
        ...                                         # the policy update
        cur.report(batch, rewards)                  # the service learns from them

It keeps the bookkeeping: each :class:`Batch` remembers its ``sample_id`` and carries a
``report_id`` fixed when it was drawn, so reporting the same batch twice (a retry after a
crash, say) is applied once by the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from trainer_client._core import ArmLike, StrategyLike, arm_payload, new_id
from trainer_client.client import CurriculumClient
from trainer_client.errors import InvalidRequestError
from trainer_client.models import History, Report, Run, SampleItem


@dataclass(frozen=True)
class Batch:
    """Problems drawn by one ``sample`` call, in slot order.

    Attributes:
        sample_id: the service's id of the sample (sent back with the report).
        step: the run's step when it was drawn.
        probabilities: the arm probabilities the draw used.
        items: one ``SampleItem`` (``arm``, ``index``) per slot.
        report_id: the idempotency key its report will carry.
    """

    sample_id: str
    step: int
    probabilities: dict[str, float]
    items: list[SampleItem]
    report_id: str = field(default_factory=lambda: new_id("r"))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[SampleItem]:
        return iter(self.items)

    @overload
    def __getitem__(self, position: int) -> SampleItem: ...
    @overload
    def __getitem__(self, position: slice) -> list[SampleItem]: ...
    def __getitem__(self, position: int | slice) -> SampleItem | list[SampleItem]:
        return self.items[position]


class Curriculum:
    """One run of the service seen from a training loop.

    Args:
        client: a :class:`CurriculumClient`.
        run_id: the run to draw from and report to.
    """

    def __init__(self, client: CurriculumClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.last_report: Report | None = None

    @classmethod
    def create(
        cls,
        client: CurriculumClient,
        name: str,
        arms: Iterable[ArmLike],
        strategy: StrategyLike | None = None,
        seed: int | None = None,
    ) -> Curriculum:
        """Create a new run and return its helper (see :meth:`CurriculumClient.create_run`)."""
        return cls(client, client.create_run(name, arms, strategy, seed).run_id)

    @classmethod
    def get_or_create(
        cls,
        client: CurriculumClient,
        name: str,
        arms: Sequence[ArmLike],
        strategy: StrategyLike | None = None,
        seed: int | None = None,
    ) -> Curriculum:
        """The newest run called ``name`` whose arms have the names and sizes of ``arms``
        (so a restarted trainer continues its curriculum), or a new run when there is none."""
        wanted = [(spec["name"], spec.get("size")) for spec in map(arm_payload, arms)]
        matching = [
            run
            for run in client.list_runs()
            if run.name == name and [(arm.name, arm.size) for arm in run.arms] == wanted
        ]
        if matching:
            newest = max(matching, key=lambda run: run.created_at)
            return cls(client, newest.run_id)
        return cls.create(client, name, arms, strategy, seed)

    def run(self) -> Run:
        """The run's current state."""
        return self.client.get_run(self.run_id)

    def history(self) -> History:
        """The run's per-step history."""
        return self.client.history(self.run_id)

    def next_batch(self, batch_size: int, sample_id: str | None = None) -> Batch:
        """Draw the next ``batch_size`` problems (``sample_id`` generated when omitted)."""
        sample = self.client.sample(self.run_id, batch_size, sample_id)
        return Batch(sample.sample_id, sample.step, dict(sample.probabilities), sample.items)

    def report(
        self,
        batch: Batch,
        rewards: Sequence[Sequence[float] | None] | None = None,
        *,
        advantages: Sequence[Sequence[float] | None] | None = None,
    ) -> Report:
        """Report the outcome of training on ``batch``.

        Args:
            batch: what :meth:`next_batch` returned.
            rewards: per slot of the batch, its rollouts' rewards (the service turns them
                into GRPO advantages), or ``None`` for a slot that was not trained on.
            advantages: instead of ``rewards``: per slot, the advantages the trainer used.

        Returns:
            The service's answer: arm rewards of this step, new values and probabilities.

        Raises:
            InvalidRequestError: neither or both of rewards/advantages, a length that is not
                the batch's, or every slot ``None``.
        """
        if (rewards is None) == (advantages is None):
            raise InvalidRequestError("give exactly one of rewards or advantages")
        key, values = ("rewards", rewards) if rewards is not None else ("advantages", advantages)
        assert values is not None  # for mypy: checked just above
        if len(values) != len(batch):
            raise InvalidRequestError(
                f"{key} has {len(values)} entries but the batch has {len(batch)} slots"
            )
        results: list[dict[str, Any]] = []
        for item, signal in zip(batch.items, values, strict=True):
            if signal is None:
                continue
            result: dict[str, Any] = {"arm": item.arm, key: [float(v) for v in signal]}
            if item.index is not None:
                result["index"] = item.index
            results.append(result)
        if not results:
            raise InvalidRequestError("every slot of the batch is None: nothing to report")
        self.last_report = self.client.report(
            self.run_id, results, sample_id=batch.sample_id, report_id=batch.report_id
        )
        return self.last_report
