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

Resume: every checkpoint folder gets ``zpd_state.json`` (the run, its step and sample counter,
the sample-id prefix and the draws trained on). ``train(resume_from_checkpoint=...)`` rewinds
the run to that step, keeping the batch drawn ahead, and the sampler hands out placeholder
rows for the batches Trainer skips, so no draw is made twice and the next one is the
uninterrupted run's (docs/resume.md). Checkpoints must fall on generation boundaries
(``save_steps`` a multiple of ``steps_per_generation * num_iterations``); one process.
"""

from __future__ import annotations

import json
import logging
import math
import os
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

ZPD_STATE = "zpd_state.json"
"""The adapter's state in each Trainer checkpoint folder."""


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
        self.trained = 0  # draws whose batch was reported (taken), counted from the first
        self.pending: dict[tuple[int, ...], tuple[int, Batch]] = {}
        self._resume_at: int | None = None

    def resume_at(self, trained: int) -> None:
        """Continue after ``trained`` draws: the next ``__iter__`` yields placeholder rows for
        the draws of its epoch already trained on (Trainer skips them) without drawing."""
        self._resume_at = self.trained = trained

    def __iter__(self) -> Iterator[int]:
        first = 0
        if self._resume_at is not None:
            trained, self._resume_at = self._resume_at, None
            first, self.draws = trained % self.num_batches, trained
            # placeholders for this epoch's draws trained before the checkpoint: Trainer
            # skips them, and drawing them again would ask the service for nothing
            yield from [0] * (first * self._rows_per_draw())
        for _ in range(first, self.num_batches):
            batch = self.curriculum.next_batch(
                self.prompts_per_batch, sample_id=f"{self.id_prefix}-{self.draws}"
            )
            self.draws += 1
            rows = [self.arms.row(item.arm, item.index) for item in batch]
            self.pending[tuple(rows)] = (self.draws, batch)
            for _ in range(self.repeat_count):
                for row in rows:
                    yield from [row] * self.num_generations

    def __len__(self) -> int:
        return self.num_batches * self.prompts_per_batch * self.num_generations * self.repeat_count

    def _rows_per_draw(self) -> int:
        return self.prompts_per_batch * self.num_generations * self.repeat_count

    def take_batch(self, rows: tuple[int, ...]) -> Batch | None:
        """The drawn batch whose prompts are ``rows`` (forgotten once taken), if any."""
        taken = self.pending.pop(rows, None)
        if taken is None:
            return None
        self.trained = max(self.trained, taken[0])
        return taken[1]


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
        self._zpd_resume: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)

    def train(  # type: ignore[override]  # Trainer's trial and eval keys pass through
        self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any
    ) -> Any:
        """``Trainer.train``; resuming from a checkpoint first rewinds the ZPD run to it."""
        if resume_from_checkpoint:
            folder = resume_from_checkpoint
            if folder is True:
                from transformers.trainer_utils import get_last_checkpoint

                folder = get_last_checkpoint(self.args.output_dir)
            path = os.path.join(str(folder), ZPD_STATE)
            if folder and os.path.isfile(path):
                with open(path) as handle:
                    self._zpd_resume = json.load(handle)
                self._zpd_rewind(self._zpd_resume)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _zpd_rewind(self, state: dict[str, Any]) -> None:
        if state["run_id"] != self.curriculum.run_id:
            raise CurriculumError(
                f"checkpoint is of run {state['run_id']!r}, not {self.curriculum.run_id!r}; "
                "open the same run (run_name or run_id) to resume it"
            )
        if self.accelerator.is_main_process:
            self.curriculum.client.rewind(
                self.curriculum.run_id, state["step"], samples=state["samples"]
            )

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        sampler = self._zpd_sampler
        if sampler is None or not self.accelerator.is_main_process:
            return
        folder = os.path.join(
            self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}"
        )
        run = self.curriculum.client.get_run(self.curriculum.run_id)
        state = {
            "run_id": run.run_id,
            "step": run.step,  # every generation trained on so far is reported
            "samples": run.samples,  # the batch drawn ahead included: it is kept
            "id_prefix": sampler.id_prefix,
            "trained": sampler.trained,
        }
        with open(os.path.join(folder, ZPD_STATE), "w") as handle:
            json.dump(state, handle)

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
        if self._zpd_resume is not None:  # the same ids: the batch drawn ahead answers again
            self._zpd_sampler.id_prefix = self._zpd_resume["id_prefix"]
            self._zpd_sampler.resume_at(int(self._zpd_resume["trained"]))
            self._zpd_resume = None
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
