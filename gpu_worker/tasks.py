"""Tasks from reasoning-gym, split into difficulty levels that become the curriculum's arms.

One `Level` is one arm: a reasoning-gym generator with a fixed difficulty config. The item
`{arm, index}` that the service samples maps to exactly one problem, `dataset[index]` of the
level's dataset (reasoning-gym seeds each item with `seed + index`), so any process can
rebuild the same problem. Training indices are `[0, size)`; evaluation problems are drawn from
`[size, size + eval_size)`, never seen in training.

The hardest level of a suite is held out as the out-of-distribution (OOD) split: it is never
an arm, only evaluated.

Rewards follow the SEC paper: 1 for a correct answer, 0.1 for a well-formatted wrong one,
0 otherwise (`RewardScheme`). Correctness is reasoning-gym's `score_answer(answer, entry)`
being 1.0 (its partial credits for near-misses are not used).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import reasoning_gym
from reasoning_gym.dataset import ProceduralDataset

PromptStyle = Literal["compact", "question"]
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class RewardScheme:
    """Reward of one completion: `correct`, `formatted` (parseable but wrong), else `invalid`."""

    correct: float = 1.0
    formatted: float = 0.1
    invalid: float = 0.0

    def __post_init__(self) -> None:
        if not self.invalid <= self.formatted <= self.correct:
            raise ValueError(
                f"need invalid <= formatted <= correct, got {self.invalid}, {self.formatted}, "
                f"{self.correct}; a wrong answer must not pay more than a right one"
            )


@dataclass(frozen=True)
class Level:
    """One difficulty level of one reasoning-gym task: an arm of the curriculum.

    Attributes:
        name: arm name sent to the service, e.g. `chain_sum/d2`.
        task: reasoning-gym dataset name, e.g. `chain_sum`.
        config: keyword arguments of the reasoning-gym config that fix the difficulty.
        difficulty: ordinal difficulty (1 = easiest), sent as a tag.
        size: number of training problems (the arm's `size` on the service).
        answer_pattern: regex a well-formatted answer must fully match.
    """

    name: str
    task: str
    config: dict[str, Any]
    difficulty: int
    size: int = 10_000
    answer_pattern: str = r"\S(?:.*\S)?"


@dataclass(frozen=True)
class Problem:
    """One problem: the prompt text to complete and the reasoning-gym entry that scores it."""

    level: str
    index: int
    prompt: str
    answer: str
    entry: dict[str, Any] = field(repr=False)


def chain_sum_levels(
    digits: Sequence[int] = (1, 2, 3, 4), terms: int = 2, size: int = 10_000
) -> list[Level]:
    """Levels of reasoning-gym `chain_sum` (+/- of `terms` numbers) by digits per number."""
    if not digits or min(digits) < 1:
        raise ValueError(f"digits must be a non-empty list of positive ints, got {digits!r}")
    return [
        Level(
            name=f"chain_sum/d{d}",
            task="chain_sum",
            config={"min_terms": terms, "max_terms": terms, "min_digits": d, "max_digits": d},
            difficulty=rank + 1,
            size=size,
            answer_pattern=r"-?\d+",
        )
        for rank, d in enumerate(sorted(digits))
    ]


class TaskSuite:
    """Training levels (the arms) plus held-out OOD levels, with prompts and rewards.

    Args:
        levels: all levels, easiest first.
        ood_levels: how many of the hardest levels to hold out (default 1).
        seed: reasoning-gym seed shared by all levels.
        eval_size: number of evaluation problems per level, after the training indices.
        prompt_style: `compact` ("12+34=" then the bare answer; for the char-level model) or
            `question` (reasoning-gym's question and an `<answer>...</answer>` instruction).
        rewards: the reward scheme.
    """

    def __init__(
        self,
        levels: Sequence[Level],
        ood_levels: int = 1,
        seed: int = 1234,
        eval_size: int = 1_000,
        prompt_style: PromptStyle = "compact",
        rewards: RewardScheme | None = None,
    ) -> None:
        if not 0 <= ood_levels < len(levels):
            raise ValueError(f"ood_levels={ood_levels} must leave at least one training level")
        names = [lv.name for lv in levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must be unique, got {names}")
        self.levels = {lv.name: lv for lv in levels}
        self.train_levels = [lv.name for lv in levels[: len(levels) - ood_levels]]
        self.ood_levels = [lv.name for lv in levels[len(levels) - ood_levels :]]
        self.eval_size = eval_size
        self.prompt_style = prompt_style
        self.rewards = rewards or RewardScheme()
        self._datasets: dict[str, ProceduralDataset] = {
            lv.name: reasoning_gym.create_dataset(
                lv.task, seed=seed, size=lv.size + eval_size, **lv.config
            )
            for lv in levels
        }

    def arms(self) -> list[dict[str, Any]]:
        """The training levels as the service's arm specs `{name, size, tags}`."""
        return [
            {
                "name": name,
                "size": self.levels[name].size,
                "tags": {
                    "task": self.levels[name].task,
                    "difficulty": self.levels[name].difficulty,
                },
            }
            for name in self.train_levels
        ]

    def problem(self, level: str, index: int) -> Problem:
        """The problem `index` of `level` (deterministic; `index` may be an eval index)."""
        if level not in self.levels:
            raise KeyError(f"unknown level {level!r}; known: {sorted(self.levels)}")
        if not 0 <= index < self.levels[level].size + self.eval_size:
            raise IndexError(f"index {index} out of range for level {level!r}")
        entry = self._datasets[level][index]
        return Problem(level, index, self.format_prompt(entry), entry["answer"], entry)

    def problem_of(self, arm: str, index: int | None) -> Problem:
        """The problem behind an item the service sampled (`{arm, index}`).

        The worker's arms all declare a size, so the service always sends an index.
        """
        if index is None:
            raise RuntimeError(
                f"the service sampled arm {arm!r} without an index; the worker's arms all "
                "declare a size"
            )
        return self.problem(arm, index)

    def eval_problems(self, level: str, count: int) -> list[Problem]:
        """The first `count` held-out evaluation problems of `level` (never trained on)."""
        if count > self.eval_size:
            raise ValueError(f"count {count} > eval_size {self.eval_size}")
        start = self.levels[level].size
        return [self.problem(level, start + i) for i in range(count)]

    def format_prompt(self, entry: dict[str, Any]) -> str:
        """The prompt the model completes for a reasoning-gym entry."""
        if self.prompt_style == "compact":
            expression = entry["metadata"].get("expression")
            if expression is None:
                raise ValueError(
                    f"prompt_style='compact' needs metadata['expression']; task "
                    f"{entry['metadata'].get('source_dataset')!r} has none: use 'question'"
                )
            return expression.replace(" ", "") + "="
        return f"{entry['question']}\nGive only the final answer inside <answer></answer>.\n"

    def format_answer(self, answer: str) -> str:
        """The completion a perfect model would write (used for SFT traces)."""
        return answer if self.prompt_style == "compact" else f"<answer>{answer}</answer>"

    def extract_answer(self, completion: str, finished: bool = True) -> str | None:
        """The answer a completion states, or None when it is not well-formatted.

        In the compact style the whole completion is the answer and must have ended with
        the end-of-sequence token (`finished`); in the question style it is the last
        `<answer>...</answer>` span.
        """
        if self.prompt_style == "compact":
            return completion.strip() if finished else None
        spans = ANSWER_TAG.findall(completion)
        return spans[-1].strip() if spans else None

    def reward(self, problem: Problem, completion: str, finished: bool = True) -> float:
        """Reward of one completion for `problem` under the suite's `RewardScheme`."""
        answer = self.extract_answer(completion, finished)
        pattern = self.levels[problem.level].answer_pattern
        if answer is None or re.fullmatch(pattern, answer) is None:
            return self.rewards.invalid
        dataset = self._datasets[problem.level]
        if dataset.score_answer(answer, problem.entry) >= 1.0:
            return self.rewards.correct
        return self.rewards.formatted


def default_suite(seed: int = 1234, prompt_style: PromptStyle = "compact") -> TaskSuite:
    """The CPU demo suite: chain_sum with 2 terms of 1, 2, 3 digits; 4 digits held out (OOD)."""
    return TaskSuite(
        chain_sum_levels((1, 2, 3, 4)), ood_levels=1, seed=seed, prompt_style=prompt_style
    )
