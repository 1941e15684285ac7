"""TRL adapter: ZPD chooses ``GRPOTrainer``'s prompts and learns from each group's rewards.

    from trainer_client.adapters.arms import ZPDSettings
    from trainer_client.adapters.trl import ZPDGRPOTrainer

    trainer = ZPDGRPOTrainer(
        model=model, reward_funcs=[correct], args=GRPOConfig(...), train_dataset=dataset,
        zpd=ZPDSettings(url="http://127.0.0.1:8000", run_name="countdown-sec",
                        arm_fields=["difficulty"], strategy={"name": "sec", "tau": 0.5}),
    )
    trainer.train()

How it plugs in (two hooks of TRL's ``GRPOTrainer``, nothing else changes):

- ``_get_train_sampler`` returns :class:`ZPDRepeatSampler`: for every generation batch it asks
  the service for ``generation_batch_size / num_generations`` problems and yields each one
  ``num_generations`` times in a row, repeated ``num_iterations * steps_per_generation`` times,
  exactly the layout of TRL's own ``RepeatSampler``. Sample ids are deterministic per draw
  (``<prefix>-<n>``), so every process of a multi-GPU run receives the same draw.
- ``_calculate_rewards`` is wrapped: after TRL scored the completions, the main process
  reports each prompt's rewards (the weighted sum of the reward functions, as TRL uses it;
  completions every function scored ``None`` are left out). Evaluation is never reported.

The service turns the rewards into GRPO advantages itself; give the run's strategy
``advantage_std: "unbiased"`` for TRL's default ``scale_rewards="group"`` and ``"none"``
for ``scale_rewards="none"``. Accelerate's data loader fetches one batch ahead, so the draw
for step t+1 is made while step t trains: SEC's values lag one step behind, as in any
prefetching loader.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler
from trl import GRPOTrainer

from trainer_client.adapters.arms import ArmIndex, ZPDSettings
from trainer_client.curriculum import Batch, Curriculum
from trainer_client.errors import CurriculumError

logger = logging.getLogger("trainer_client.trl")

ROW_COLUMN = "zpd_row"
"""Column added to the training dataset: each row's position, to find its arm and index."""


class ZPDRepeatSampler(Sampler[int]):
    """TRL's ``RepeatSampler`` layout, with the prompts drawn by the ZPD service.

    Args:
        curriculum: the run to draw from.
        arms: maps the service's ``(arm, index)`` to dataset positions.
        prompts_per_batch: distinct prompts per generation batch.
        num_generations: completions per prompt (each index is yielded this many times).
        repeat_count: how many times each generation batch is yielded.
        num_batches: generation batches per pass (``__len__`` follows from it).
        id_prefix: prefix of the deterministic sample ids (shared by all processes).
    """

    def __init__(
        self,
        curriculum: Curriculum,
        arms: ArmIndex,
        prompts_per_batch: int,
        num_generations: int,
        repeat_count: int,
        num_batches: int,
        id_prefix: str,
    ) -> None:
        self.curriculum = curriculum
        self.arms = arms
        self.prompts_per_batch = prompts_per_batch
        self.num_generations = num_generations
        self.repeat_count = repeat_count
        self.num_batches = max(1, num_batches)
        self.id_prefix = id_prefix
        self.draws = 0
        self.pending: dict[tuple[int, ...], Batch] = {}

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.num_batches):
            batch = self.curriculum.next_batch(
                self.prompts_per_batch, sample_id=f"{self.id_prefix}-{self.draws}"
            )
            self.draws += 1
            rows = [self.arms.row(item.arm, item.index) for item in batch]
            self.pending[tuple(rows)] = batch
            for _ in range(self.repeat_count):
                for row in rows:
                    yield from [row] * self.num_generations

    def __len__(self) -> int:
        return self.num_batches * self.prompts_per_batch * self.num_generations * self.repeat_count

    def take_batch(self, rows: tuple[int, ...]) -> Batch | None:
        """The drawn batch whose prompts are ``rows`` (forgotten once taken), if any."""
        return self.pending.pop(rows, None)


class ZPDGRPOTrainer(GRPOTrainer):
    """``trl.GRPOTrainer`` whose training prompts are chosen by a ZPD curriculum.

    Args:
        *args, **kwargs: those of ``GRPOTrainer`` (``train_dataset`` must be a map-style
            ``datasets.Dataset`` with the ``zpd.arm_fields`` columns).
        zpd: where the curriculum is and how rows map to arms.
        curriculum: an already open curriculum instead of ``zpd.open(...)`` (tests, reuse).
        on_report_error: ``"raise"`` (default) stops training when a report fails after the
            client's retries; ``"warn"`` logs it and trains on.
    """

    def __init__(
        self,
        *args: Any,
        zpd: ZPDSettings | None = None,
        curriculum: Curriculum | None = None,
        on_report_error: str = "raise",
        **kwargs: Any,
    ) -> None:
        dataset = kwargs.get("train_dataset")
        if dataset is None and len(args) >= 4:
            raise TypeError("pass train_dataset as a keyword argument to ZPDGRPOTrainer")
        if dataset is None or not hasattr(dataset, "add_column"):
            raise TypeError("ZPDGRPOTrainer needs train_dataset=<datasets.Dataset>")
        if on_report_error not in ("raise", "warn"):
            raise ValueError("on_report_error must be 'raise' or 'warn'")
        self.zpd = zpd or ZPDSettings()
        columns = sorted({path.split(".")[0] for path in self.zpd.arm_fields})
        self.zpd_arms = ArmIndex.from_rows(dataset.select_columns(columns), self.zpd.arm_fields)
        if ROW_COLUMN not in dataset.column_names:
            kwargs["train_dataset"] = dataset.add_column(ROW_COLUMN, list(range(len(dataset))))
        self.curriculum = curriculum or self.zpd.open(self.zpd_arms)
        self.on_report_error = on_report_error
        self.zpd_reports: list[Any] = []
        self._zpd_sampler: ZPDRepeatSampler | None = None
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, dataset: Any = None) -> Sampler[int]:
        dataset = self.train_dataset if dataset is None else dataset
        args: Any = self.args  # a GRPOConfig
        generations = int(self.num_generations or 1)
        prompts = args.generation_batch_size // generations
        self._zpd_sampler = ZPDRepeatSampler(
            self.curriculum,
            self.zpd_arms,
            prompts_per_batch=prompts,
            num_generations=generations,
            repeat_count=self.num_iterations * args.steps_per_generation,
            num_batches=len(dataset) // prompts,
            id_prefix=self._shared_id_prefix(),
        )
        return self._zpd_sampler

    def _shared_id_prefix(self) -> str:
        prefix = [f"trl-{uuid.uuid4().hex[:16]}"]
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            broadcast_object_list(prefix, from_process=0)
        return prefix[0]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # type: ignore[no-untyped-def,unused-ignore]
        rewards_per_func = super()._calculate_rewards(
            inputs, prompts, completions, completion_ids_list
        )
        if self.model is not None and self.model.training:
            try:
                self._report_groups(inputs, rewards_per_func)
            except CurriculumError as exc:
                if self.on_report_error == "raise":
                    raise
                logger.warning("ZPD report failed, training goes on: %s", exc)
        return rewards_per_func

    def _report_groups(self, inputs: list[dict[str, Any]], rewards_per_func: torch.Tensor) -> None:
        rows = [int(example[ROW_COLUMN]) for example in inputs]
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            rows = [int(row) for row in gather_object(rows)]
        if not self.accelerator.is_main_process:
            return
        weights = self.reward_weights.to(rewards_per_func.device)
        totals = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        unscorable = torch.isnan(rewards_per_func).all(dim=1)
        values = [math.nan if bad else float(t) for t, bad in zip(totals, unscorable, strict=True)]
        g = int(self.num_generations or 1)
        prompt_rows = tuple(rows[::g])
        groups = [
            [v for v in values[i : i + g] if not math.isnan(v)] for i in range(0, len(rows), g)
        ]
        per_prompt: list[list[float] | None] = [group or None for group in groups]
        if not any(per_prompt):
            return
        assert self._zpd_sampler is not None  # set by _get_train_sampler before any batch
        batch = self._zpd_sampler.take_batch(prompt_rows)
        if batch is not None:
            report = self.curriculum.report(batch, per_prompt)
        else:  # rows not drawn as one batch (e.g. a custom loader): report them without sample
            results = []
            for row, group in zip(prompt_rows, per_prompt, strict=True):
                if group:
                    arm, index = self.zpd_arms.locate(row)
                    results.append({"arm": arm, "index": index, "rewards": group})
            report = self.curriculum.client.report(self.curriculum.run_id, results)
        self.zpd_reports.append(report)
        for arm, q in report.q.items():
            self._metrics["train"][f"zpd/q/{arm}"].append(q)
