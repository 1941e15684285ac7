"""verl 0.9 adapter: a training dataset whose prompts are drawn by the ZPD service.

verl 0.8 removed the curriculum-sampler hook; its data loader's sampler is always a Random or
Sequential one (``verl/trainer/ppo/utils.py::create_rl_sampler``). What verl 0.9 still loads
from the config is the dataset class, ``data.custom_cls.{path,name}``
(``verl/utils/dataset/rl_dataset.py::get_dataset_class``), and its PPO loop hands every
trained batch to the dataset's ``on_batch_end(batch)``. :class:`ZPDDataset` uses both::

    python -m verl.trainer.main_ppo ... \\
        trainer.use_v1=False \\
        data.dataloader_num_workers=0 \\
        data.custom_cls.path=pkg://trainer_client.adapters.verl \\
        data.custom_cls.name=ZPDDataset \\
        +data.zpd.url=http://127.0.0.1:8000 \\
        +data.zpd.run_name=countdown-sec \\
        '+data.zpd.arm_fields=[extra_info.task,extra_info.difficulty]' \\
        '+data.zpd.strategy={name:sec,alpha:0.5,tau:0.5}'

- Choosing: the data loader asks for row ``i``; the dataset ignores ``i`` and returns the next
  prompt of the current service sample, drawing a new sample of ``data.gen_batch_size`` (else
  ``data.train_batch_size``) prompts when the last one is used up. With
  ``dataloader_num_workers=0`` (required) the draw for step t+1 is made after step t was
  reported. Each row carries ``zpd_sample_id`` and ``zpd_slot``, which verl keeps in the
  batch's ``non_tensor_batch`` through rollout, reward and advantage.
- Reporting: ``on_batch_end(batch)`` groups the rollouts by ``(zpd_sample_id, zpd_slot)``
  and reports, per prompt, each rollout's mean ``|advantage|`` over its response tokens
  (``advantages`` x ``response_mask``), with the problem's index. Reordered batches
  (``trainer.balance_batch``) and prompts dropped by filtering are reported exactly: a dropped
  prompt is a ``None`` slot of its sample.
- ``on_batch_end`` is called by verl's PPO loop ``verl/trainer/ppo/ray_trainer.py``, which
  verl 0.9 runs with ``trainer.use_v1=False``. The V1 trainer (the default) draws through the
  same dataset, but does not call ``on_batch_end``: there, call :meth:`ZPDDataset.on_batch_end`
  from your own hook with the trained ``DataProto``.
- The validation dataset is built from the same class; a dataset not built from
  ``data.train_files`` is a plain ``RLHFDataset`` and never talks to the service.
- Resume: the dataset's state (``state_dict``, which verl's ``StatefulDataLoader`` saves in
  its checkpoint) is the run and its step after the last report; loading it rewinds the run
  to that step, so reports made after the checkpoint are set aside (docs/resume.md).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from verl import DataProto
from verl.utils.dataset.rl_dataset import RLHFDataset

from trainer_client.adapters.arms import ArmIndex, ZPDSettings, _plain
from trainer_client.curriculum import Batch, Curriculum
from trainer_client.errors import InvalidRequestError
from trainer_client.models import Report


def _file_list(files: Any) -> list[str]:
    if files is None:
        return []
    if isinstance(files, str):
        return [files]
    return [str(f) for f in files]


class ZPDDataset(RLHFDataset):
    """verl's ``RLHFDataset`` whose training prompts are chosen by a ZPD run.

    Args:
        data_files, tokenizer, config, processor, max_samples: as ``RLHFDataset``; the
            ``data.zpd`` mapping of ``config`` holds the :class:`ZPDSettings` keys (``url``,
            ``run_name``, ``arm_fields``, ``strategy``, ``seed``, ``run_id``, ``api_key``).
        curriculum: an already open curriculum (tests, reuse) instead of ``zpd.open(...)``.

    Raises:
        InvalidRequestError: ``data.dataloader_num_workers`` is not 0, or bad ``data.zpd``.
    """

    def __init__(
        self,
        data_files: str | list[str],
        tokenizer: Any,
        config: Any,
        processor: Any = None,
        max_samples: int = -1,
        curriculum: Curriculum | None = None,
    ) -> None:
        super().__init__(data_files, tokenizer, config, processor, max_samples)
        self.drawing = _file_list(data_files) == _file_list(config.get("train_files"))
        self.reports: list[Report] = []
        self._slots: deque[tuple[Batch, int]] = deque()
        self._open: dict[str, Batch] = {}
        self._step: int | None = None  # the run's step after this dataset's last report
        if not self.drawing:
            return
        if int(config.get("dataloader_num_workers", 0) or 0) != 0:
            raise InvalidRequestError(
                "set data.dataloader_num_workers=0: worker processes would draw from the "
                "service before the previous step is reported"
            )
        self.settings = ZPDSettings.from_mapping(_plain(config.get("zpd") or {}))
        fields = list(self.settings.arm_fields)
        columns = sorted({path.split(".")[0] for path in fields})
        self.arms = ArmIndex.from_rows(self.dataframe.select_columns(columns), fields)
        self.curriculum = curriculum or self.settings.open(self.arms)

    @property
    def draw_size(self) -> int:
        """Prompts per service sample: verl's data-loader batch (read at each draw, since
        verl's V1 trainer sets ``gen_batch_size`` after building the dataset)."""
        size = int(self.config.get("gen_batch_size") or self.config.get("train_batch_size") or 0)
        if size < 1:
            raise InvalidRequestError("data.train_batch_size must be >= 1")
        return size

    def __getitem__(self, item: int) -> dict[str, Any]:
        if not self.drawing:
            row: dict[str, Any] = super().__getitem__(item)
            return row
        if not self._slots:
            batch = self.curriculum.next_batch(self.draw_size)
            self._open[batch.sample_id] = batch
            self._slots.extend((batch, slot) for slot in range(len(batch)))
        batch, slot = self._slots.popleft()
        entry = batch.items[slot]
        row = super().__getitem__(self.arms.row(entry.arm, entry.index))
        row["zpd_sample_id"] = batch.sample_id
        row["zpd_slot"] = slot
        return row

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint state (torchdata's ``Stateful``): the run and its step after the last
        report (empty for a dataset that does not draw)."""
        if not self.drawing:
            return {}
        return {"run_id": self.curriculum.run_id, "step": self._step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Rewind the run to the checkpoint's step; draws are lazy (one data-loader batch
        after the previous report), so the default cut of the rewind is exact.

        Raises:
            InvalidRequestError: the checkpoint is of another run.
        """
        if not self.drawing or state.get("step") is None:
            return
        if state.get("run_id") != self.curriculum.run_id:
            raise InvalidRequestError(
                f"checkpoint is of run {state.get('run_id')!r}, not {self.curriculum.run_id!r}; "
                "set data.zpd.run_id to continue that run"
            )
        self._slots.clear()
        self._open.clear()
        self._step = int(state["step"])
        self.curriculum.client.rewind(self.curriculum.run_id, self._step)

    def on_batch_end(self, batch: DataProto) -> None:
        """Report the trained batch: one report per service sample it holds.

        Args:
            batch: the step's ``DataProto`` with ``advantages`` and ``response_mask`` tensors
                and ``zpd_sample_id``/``zpd_slot`` in ``non_tensor_batch``.
        """
        if not self.drawing:
            return
        signal = _rollout_signal(batch)
        per_slot: dict[str, dict[int, list[float]]] = {}
        sample_ids = batch.non_tensor_batch["zpd_sample_id"]
        slots = batch.non_tensor_batch["zpd_slot"]
        for position, (sample_id, slot) in enumerate(zip(sample_ids, slots, strict=True)):
            per_slot.setdefault(str(sample_id), {}).setdefault(int(slot), []).append(
                float(signal[position])
            )
        for sample_id, by_slot in per_slot.items():
            drawn = self._open.pop(sample_id, None)
            if drawn is None:
                raise InvalidRequestError(
                    f"sample {sample_id!r} is not open: reported already, or drawn elsewhere"
                )
            advantages = [by_slot.get(slot) for slot in range(len(drawn))]
            self.reports.append(self.curriculum.report(drawn, advantages=advantages))
            self._step = self.reports[-1].step


def _rollout_signal(batch: DataProto) -> Any:
    """Per rollout: mean ``|advantage|`` over its response tokens."""
    advantages = batch.batch["advantages"].detach().float()
    mask = batch.batch["response_mask"].detach().float()
    tokens = mask.sum(dim=-1).clamp(min=1.0)
    signal: torch.Tensor = (advantages.abs() * mask).sum(dim=-1) / tokens
    return signal.cpu().double().numpy()
