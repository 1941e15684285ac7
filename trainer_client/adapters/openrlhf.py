"""OpenRLHF adapter: ZPD chooses the prompts of OpenRLHF's PPO/GRPO loop and hears every group.

OpenRLHF 0.11 offers no dataset or sampler option: ``openrlhf/trainer/ppo_trainer.py`` builds
a ``PromptDataset`` and a one-prompt ``StatefulDataLoader`` in ``prepare_datasets``, and its
``SamplesGenerator`` pulls prompts from that loader, sends each to vLLM for
``n_samples_per_prompt`` rollouts and, with ``--algo.dynamic_filtering_enable``, drops a
prompt whose mean score is outside ``--algo.dynamic_filtering_range lo hi`` and pulls a
replacement. :func:`install` swaps both names of that module for ZPD's:

- :class:`ZPDPromptLoader` stands in for the prompt loader: it yields one-prompt batches
  ``([datasource], [prompt], [label], [image])`` drawn from a ZPD run, one service sample of
  ``--rollout.batch_size`` prompts at a time, so replacements for filtered prompts come from
  the curriculum too.
- :class:`ZPDSamplesGenerator` (OpenRLHF's ``SamplesGenerator``) records every prompt's
  rollout rewards as they come back from vLLM, before dynamic filtering drops any, and
  reports each sample once all its prompts are back. Filtered groups (all solved, all
  failed) are the curriculum's evidence, so they are reported too.

:func:`install` must run in the process that builds OpenRLHF's trainer (a Ray actor): pass it
as Ray's ``worker_process_setup_hook`` (see docs/integrations/openrlhf.md). Settings come
from ``$ZPD_OPENRLHF``, a JSON object of :class:`ZPDSettings` keys.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from openrlhf.datasets import PromptDataset
from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator

from trainer_client.adapters.arms import ArmIndex, ZPDSettings
from trainer_client.curriculum import Batch, Curriculum
from trainer_client.errors import InvalidRequestError
from trainer_client.models import Report

SETTINGS_ENV = "ZPD_OPENRLHF"


class ZPDPromptDataset(PromptDataset):
    """OpenRLHF's ``PromptDataset`` that also keeps each row's arm fields (in row order)."""

    arm_fields: tuple[str, ...] = ()

    def __init__(self, dataset: Any, tokenizer: Any, strategy: Any, input_template: Any = None):
        columns = sorted({path.split(".")[0] for path in self.arm_fields})
        self.arm_rows = [dict(row) for row in dataset.select_columns(columns)] if columns else []
        super().__init__(dataset, tokenizer, strategy, input_template=input_template)


class ZPDPromptLoader:
    """The prompt loader of OpenRLHF's trainer, drawing from a ZPD run.

    Args:
        dataset: a :class:`ZPDPromptDataset` (its ``prompts``, ``labels``, ``datasources``,
            ``images`` and ``arm_rows`` in row order).
        settings: how to reach the run and which fields make the arms.
        draw_size: prompts per service sample (OpenRLHF's ``--rollout.batch_size``).
        curriculum: an open curriculum (tests, reuse) instead of ``settings.open(...)``.
    """

    def __init__(
        self,
        dataset: Any,
        settings: ZPDSettings,
        draw_size: int,
        curriculum: Curriculum | None = None,
    ) -> None:
        if draw_size < 1:
            raise InvalidRequestError("draw_size (--rollout.batch_size) must be >= 1")
        self.dataset = dataset
        self.draw_size = draw_size
        self.arms = ArmIndex.from_rows(dataset.arm_rows, list(settings.arm_fields))
        self.curriculum = curriculum or settings.open(self.arms)
        self._slots: deque[tuple[Batch, int]] = deque()
        self._lent: dict[str, deque[tuple[Batch, int]]] = {}  # prompt text -> slots out
        self._groups: dict[str, list[float]] = {}  # prompt text -> rewards of the group so far
        self._done: dict[str, dict[int, list[float]]] = {}  # sample id -> slot -> rewards
        self._served = 0
        self.reports: list[Report] = []

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[tuple[list[Any], list[str], list[str], list[Any]]]:
        start, self._served = self._served, 0
        for _ in range(start, len(self)):
            if not self._slots:
                batch = self.curriculum.next_batch(self.draw_size)
                self._done[batch.sample_id] = {}
                self._slots.extend((batch, slot) for slot in range(len(batch)))
            batch, slot = self._slots.popleft()
            entry = batch.items[slot]
            row = self.arms.row(entry.arm, entry.index)
            prompt = self.dataset.prompts[row]
            self._lent.setdefault(prompt, deque()).append((batch, slot))
            self._served += 1
            yield (
                [self.dataset.datasources[row]],
                [prompt],
                [self.dataset.labels[row]],
                [self.dataset.images[row]],
            )
        self._served = 0

    def state_dict(self) -> dict[str, Any]:
        """The episode's progress (OpenRLHF checkpoints its loader's state)."""
        return {"run_id": self.curriculum.run_id, "served": self._served}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("run_id") != self.curriculum.run_id:
            raise InvalidRequestError(
                f"checkpoint is of run {state.get('run_id')!r}, not {self.curriculum.run_id!r}"
            )
        self._served = min(int(state.get("served", 0)), len(self))

    def record(self, prompt: str, reward: float, group_size: int) -> None:
        """One rollout's reward; a prompt's ``group_size`` rollouts complete its slot."""
        if prompt not in self._lent:
            return  # not a prompt of ours (evaluation)
        group = self._groups.setdefault(prompt, [])
        group.append(float(reward))
        if len(group) < group_size:
            return
        del self._groups[prompt]
        batch, slot = self._lent[prompt].popleft()
        if not self._lent[prompt]:
            del self._lent[prompt]
        self._done[batch.sample_id][slot] = group
        if len(self._done[batch.sample_id]) == len(batch):
            done = self._done.pop(batch.sample_id)
            rewards = [done[s] for s in range(len(batch))]
            self.reports.append(self.curriculum.report(batch, rewards))


class ZPDSamplesGenerator(SamplesGenerator):
    """OpenRLHF's ``SamplesGenerator`` reporting each prompt group's rewards to ZPD.

    Its ``prompts_dataloader`` must be a :class:`ZPDPromptLoader`.
    """

    _evaluating = False

    def generate_eval_samples(self, **generate_kwargs: Any) -> Any:
        self._evaluating = True
        try:
            return super().generate_eval_samples(**generate_kwargs)
        finally:
            self._evaluating = False

    def _process_response_into_experience(self, response: dict[str, Any], **kwargs: Any) -> Any:
        experience = super()._process_response_into_experience(response, **kwargs)
        loader = self.prompts_dataloader
        if not self._evaluating and isinstance(loader, ZPDPromptLoader):
            reward = response.get("reward")
            if reward is None:
                reward = response.get("scores")
            if reward is None:
                raise InvalidRequestError("a rollout without reward or scores cannot be reported")
            group_size = kwargs.get("n_samples_per_prompt", self.args.rollout.n_samples_per_prompt)
            loader.record(response["prompt"], float(reward), int(group_size))
        return experience


def settings_from_env() -> ZPDSettings:
    """:class:`ZPDSettings` from ``$ZPD_OPENRLHF`` (a JSON object)."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise InvalidRequestError(f"set ${SETTINGS_ENV} to a JSON object of ZPD settings")
    return ZPDSettings.from_mapping(json.loads(raw))


def install(settings: ZPDSettings | None = None) -> None:
    """Make ``openrlhf.trainer.ppo_trainer`` build ZPD's loader and samples generator.

    Args:
        settings: the ZPD settings (default: :func:`settings_from_env`).
    """
    import openrlhf.trainer.ppo_trainer as ppo_trainer

    chosen = settings or settings_from_env()
    original: Callable[..., Any] = getattr(
        ppo_trainer.prepare_datasets, "__wrapped__", ppo_trainer.prepare_datasets
    )

    class _Dataset(ZPDPromptDataset):
        arm_fields = tuple(chosen.arm_fields)

    def prepare_datasets(strategy: Any, tokenizer: Any) -> tuple[Any, Any, Any]:
        loader, eval_loader, max_steps = original(strategy, tokenizer)
        draw_size = int(strategy.args.rollout.batch_size)
        return ZPDPromptLoader(loader.dataset, chosen, draw_size), eval_loader, max_steps

    prepare_datasets.__wrapped__ = original  # type: ignore[attr-defined]
    ppo_trainer.PromptDataset = _Dataset
    ppo_trainer.prepare_datasets = prepare_datasets
    ppo_trainer.SamplesGenerator = ZPDSamplesGenerator
