"""A high-level helper that keeps a training loop readable.

    cur = Curriculum.create(client, "countdown", ["easy", "medium", "hard"], {"name": "sec"})
    for step in range(steps):
        batch = cur.next_batch(256)                 # which problems to train on
        rewards = [rollout_rewards(item) for item in batch]   # one list per problem
        ...                                         # the policy update
        cur.report(batch, rewards)                  # the service learns from them

It keeps the bookkeeping: each :class:`Batch` remembers its ``sample_id`` and carries a
``report_id`` fixed when it was drawn, so reporting the same batch twice (a retry after a
crash, say) is applied once by the service. :meth:`Curriculum.report_and_next` reports a
batch and draws the next in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from trainer_client._core import ArmLike, StrategyLike, arm_payload, new_id
from trainer_client.client import CurriculumClient
from trainer_client.errors import InvalidRequestError, UnexpectedResponseError
from trainer_client.models import History, Report, Run, Sample, SampleItem


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
        return _batch_of(self.client.sample(self.run_id, batch_size, sample_id))

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
        results = _results_of(batch, rewards, advantages)
        self.last_report = self.client.report(
            self.run_id, results, sample_id=batch.sample_id, report_id=batch.report_id
        )
        return self.last_report

    def report_and_next(
        self,
        batch: Batch,
        rewards: Sequence[Sequence[float] | None] | None = None,
        *,
        advantages: Sequence[Sequence[float] | None] | None = None,
        batch_size: int | None = None,
        sample_id: str | None = None,
    ) -> Batch:
        """Report the outcome of training on ``batch`` and draw the next batch in one round
        trip (:meth:`CurriculumClient.step`), with the same report and draw as :meth:`report`
        followed by :meth:`next_batch`.

        For a synchronous loop: use it at every step but the last, and :meth:`report` at the
        last step, so that no batch is drawn that nobody trains on (it would later count as
        an expired lease). ``last_report`` is set as :meth:`report` sets it. The report
        carries ``batch.report_id``, so calling again with the same batch (a retry) applies
        it once; it draws again unless ``sample_id`` is given and the same.

        Args:
            batch: what :meth:`next_batch` or this method returned.
            rewards: as in :meth:`report`.
            advantages: as in :meth:`report`.
            batch_size: the size of the next batch (default: the size of ``batch``).
            sample_id: the next sample's id (generated when omitted).

        Returns:
            The next batch.

        Raises:
            InvalidRequestError: the arguments :meth:`report` refuses (then nothing is
                sent), or a report or draw the service refuses (then the run is unchanged).
        """
        results = _results_of(batch, rewards, advantages)
        answer = self.client.step(
            self.run_id,
            results,
            len(batch) if batch_size is None else batch_size,
            reported_sample_id=batch.sample_id,
            report_id=batch.report_id,
            sample_id=sample_id,
        )
        if answer.report is None:  # a step that carried results is answered with its report
            raise UnexpectedResponseError("the step's answer has no report")
        self.last_report = answer.report
        return _batch_of(answer.sample)


def _batch_of(sample: Sample) -> Batch:
    return Batch(sample.sample_id, sample.step, dict(sample.probabilities), sample.items)


def _results_of(
    batch: Batch,
    rewards: Sequence[Sequence[float] | None] | None,
    advantages: Sequence[Sequence[float] | None] | None,
) -> list[dict[str, Any]]:
    """The report's results for ``batch`` (slots given as ``None`` left out), checked as
    :meth:`Curriculum.report` documents."""
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
    return results
