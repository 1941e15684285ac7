"""verl 0.6-0.7 adapter: a curriculum sampler whose prompts are drawn by the ZPD service.

verl (0.6 and 0.7; the hook was removed in 0.8) builds the training sampler from
``data.sampler.class_path`` / ``data.sampler.class_name`` and, after every training step,
hands the step's batch to the sampler's ``update``. :class:`ZPDCurriculumSampler` implements
that interface (``verl.experimental.dataset.sampler.AbstractCurriculumSampler``)::

    python -m verl.trainer.main_ppo ... \\
        data.dataloader_num_workers=0 \\
        data.sampler.class_path=pkg://trainer_client.adapters.verl \\
        data.sampler.class_name=ZPDCurriculumSampler \\
        +data.sampler.zpd.url=http://127.0.0.1:8000 \\
        +data.sampler.zpd.run_name=countdown-sec \\
        '+data.sampler.zpd.arm_fields=[extra_info.difficulty]' \\
        '+data.sampler.zpd.strategy={name:sec,alpha:0.5,tau:0.5}'

- Arms: dataset rows grouped by the ``arm_fields`` values (several fields give SEC-2D's
  task x difficulty arms); see :class:`trainer_client.adapters.arms.ArmIndex`.
- ``__iter__`` draws one service sample per data-loader batch (``data.gen_batch_size``, else
  ``data.train_batch_size``), lazily: with ``dataloader_num_workers=0`` the draw for step t+1
  is made after ``update`` reported step t.
- ``update(batch)`` reports, per prompt (rollouts grouped by ``uid``), each rollout's mean
  ``|advantage|`` over its response tokens (``advantages`` x ``response_mask``): the service's
  arm reward is then the SEC signal, whatever advantage estimator verl used. Problem indices
  are reported when the batch still holds the drawn prompts in the drawn order; verl's
  ``trainer.balance_batch`` (on by default) reorders rollouts, and then only arms and the
  sample id are reported (set ``trainer.balance_batch=False`` to keep per-problem indices).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sized
from typing import Any

import numpy as np
import torch
from verl import DataProto
from verl.experimental.dataset.sampler import AbstractCurriculumSampler

from trainer_client.adapters.arms import ArmIndex, ZPDSettings
from trainer_client.curriculum import Batch, Curriculum
from trainer_client.errors import InvalidRequestError


def _config_get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    if isinstance(config, Mapping) or hasattr(config, "get"):
        value = config.get(key, default)
        return default if value is None else value
    return getattr(config, key, default)


def _dataset_rows(data_source: Sized, fields: list[str]) -> Any:
    """The rows' arm fields without tokenizing them (verl's ``RLHFDataset.dataframe``)."""
    frame = getattr(data_source, "dataframe", None)
    columns = sorted({path.split(".")[0] for path in fields})
    if frame is not None and hasattr(frame, "select_columns") and len(frame) == len(data_source):
        return frame.select_columns(columns)
    getitem = getattr(data_source, "__getitem__", None)
    if getitem is None:
        raise InvalidRequestError("the dataset must support len() and [i]")
    return (getitem(i) for i in range(len(data_source)))


class ZPDCurriculumSampler(AbstractCurriculumSampler):
    """verl curriculum sampler backed by a ZPD run.

    Args:
        data_source: verl's training dataset (``RLHFDataset`` or any sized, indexable one).
        data_config: verl's ``data`` config; ``data.sampler.zpd`` holds the
            :class:`ZPDSettings` keys (``url``, ``run_name``, ``arm_fields``, ``strategy``,
            ``seed``, ``run_id``, ``api_key``).
        curriculum: an already open curriculum (tests, reuse) instead of ``zpd.open(...)``.
    """

    def __init__(
        self, data_source: Sized, data_config: Any, curriculum: Curriculum | None = None
    ) -> None:
        sampler_config = _config_get(data_config, "sampler")
        self.settings = ZPDSettings.from_mapping(_config_get(sampler_config, "zpd", {}) or {})
        self.batch_size = int(
            _config_get(data_config, "gen_batch_size")
            or _config_get(data_config, "train_batch_size", 0)
        )
        if self.batch_size < 1:
            raise InvalidRequestError("data.train_batch_size must be >= 1")
        fields = list(self.settings.arm_fields)
        self.arms = ArmIndex.from_rows(_dataset_rows(data_source, fields), fields)
        self.num_batches = len(self.arms) // self.batch_size
        if self.num_batches < 1:
            raise InvalidRequestError(
                f"the dataset has {len(self.arms)} rows, fewer than one batch ({self.batch_size})"
            )
        self.curriculum = curriculum or self.settings.open(self.arms)
        self.reports: list[Any] = []
        self._last_drawn: Batch | None = None
        self._drawn_this_epoch = 0
        self._resume_after = 0
        self._step: int | None = None  # the run's step after this sampler's last report

    def __iter__(self) -> Iterator[int]:
        self._drawn_this_epoch, self._resume_after = self._resume_after, 0
        while self._drawn_this_epoch < self.num_batches:
            batch = self.curriculum.next_batch(self.batch_size)
            self._last_drawn = batch
            self._drawn_this_epoch += 1
            yield from (self.arms.row(item.arm, item.index) for item in batch)

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint state (torchdata's ``Stateful``): the run, the epoch's progress and
        the run's step after the last report.

        Being stateful spares a resumed ``StatefulDataLoader`` from replaying the epoch's
        draws, which would ask the service for samples nobody trains on.
        """
        return {
            "run_id": self.curriculum.run_id,
            "drawn_this_epoch": self._drawn_this_epoch,
            "step": self._step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the epoch where the checkpoint left it, and rewind the run to the
        checkpoint's step: reports made after it (before a crash) are set aside, so the
        resumed trainer continues exactly as an uninterrupted one (docs/resume.md)."""
        if state.get("run_id") != self.curriculum.run_id:
            raise InvalidRequestError(
                f"checkpoint is of run {state.get('run_id')!r}, not {self.curriculum.run_id!r}; "
                "set data.sampler.zpd.run_id to continue that run"
            )
        self._resume_after = min(int(state.get("drawn_this_epoch", 0)), self.num_batches)
        if state.get("step") is not None:  # draws are lazy: the default cut is exact
            self._step = int(state["step"])
            self.curriculum.client.rewind(self.curriculum.run_id, self._step)

    def update(self, batch: DataProto) -> None:
        """Report the step's per-prompt signal to the service.

        Args:
            batch: the trained step's ``DataProto``, with ``advantages`` and
                ``response_mask`` tensors and ``uid`` plus the arm fields in
                ``non_tensor_batch``.
        """
        per_rollout = self._rollout_signal(batch)
        uids = batch.non_tensor_batch["uid"]
        order: list[Any] = []
        groups: dict[Any, list[int]] = {}
        for position, uid in enumerate(uids):
            if uid not in groups:
                order.append(uid)
            groups.setdefault(uid, []).append(position)
        arms = [self._arm_of(batch, groups[uid][0]) for uid in order]
        signals = [[float(per_rollout[i]) for i in groups[uid]] for uid in order]
        drawn, self._last_drawn = self._last_drawn, None
        drawn_arms = [item.arm for item in drawn] if drawn is not None else []
        if drawn is not None and drawn_arms == arms:
            # The step trained exactly the drawn prompts in the drawn order: report each
            # with its problem index.
            report = self.curriculum.report(drawn, advantages=signals)
        else:
            results = [
                {"arm": arm, "advantages": signal}
                for arm, signal in zip(arms, signals, strict=True)
            ]
            if drawn is not None and sorted(drawn_arms) == sorted(arms):
                # Same prompts, reordered (verl's balance_batch): the sample is known but
                # which problem of an arm is which is not, so indices are left out.
                report = self.curriculum.client.report(
                    self.curriculum.run_id, results, drawn.sample_id, drawn.report_id
                )
            else:  # prompts filtered or added (e.g. dynamic sampling): arms only
                report = self.curriculum.client.report(self.curriculum.run_id, results)
        self.reports.append(report)
        self._step = report.step

    @staticmethod
    def _rollout_signal(batch: DataProto) -> np.ndarray:
        advantages = batch.batch["advantages"].detach().float()
        mask = batch.batch["response_mask"].detach().float()
        tokens = mask.sum(dim=-1).clamp(min=1.0)
        signal: torch.Tensor = (advantages.abs() * mask).sum(dim=-1) / tokens
        return signal.cpu().double().numpy()

    def _arm_of(self, batch: DataProto, position: int) -> str:
        tops = {path.split(".")[0] for path in self.arms.fields}
        return self.arms.name_of({top: batch.non_tensor_batch[top][position] for top in tops})
